//! The peer table (docs/protocol.md sections 5.3 and 5.4).

use crate::draw::{Dense, Fenwick};
use crate::index::{Index, KeyedHash};
use std::net::{IpAddr, SocketAddr};

/// Sentinel for "never".
pub const NEVER: u64 = u64::MAX;

/// One known peer.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// Canonical address.
    pub addr: SocketAddr,
    /// Sum of the mass of the novel dats it sent us, and of the credit for
    /// answering our pulls and GETs, halved every TRUST_HALF epochs. Change
    /// it only through [`Peers::add_trust`] and [`Peers::clear_trust`], which
    /// keep the draws in step.
    pub trust: f64,
    /// Epoch it entered the table.
    pub added: u64,
    /// Epoch we last received a valid packet from it ([`NEVER`] if never).
    pub seen: u64,
    /// Epoch we last sent it a GETPEER ([`NEVER`] if never).
    pub pinged: u64,
    /// A GETPEER was sent and no PEER accepted since: the next PEER is welcome.
    pub awaiting_peer: bool,
    /// Given by the operator: pinged at start, never dropped, sent dats at once.
    pub edge: bool,
    /// The driver batch in which we last seeded it a dat.
    pub seeded_batch: u64,
    /// The latest cookie it issued us, quoted in every message we send it
    /// (docs/protocol.md 5.3).
    pub token: Option<crate::wire::Cookie>,
    /// The epoch we got that token.
    pub token_at: u64,
}

impl Peer {
    /// Not sent a GETPEER within the last `ping` epochs.
    pub fn rested(&self, now: u64, ping: u64) -> bool {
        self.pinged == NEVER || now.saturating_sub(self.pinged) >= ping
    }

    /// Epochs since we last heard from it (`u64::MAX` if never).
    pub fn silence(&self, now: u64) -> u64 {
        if self.seen == NEVER {
            u64::MAX
        } else {
            now.saturating_sub(self.seen)
        }
    }
}

/// Slots per bucket.
pub const BUCKET_SLOTS: usize = 16;
/// Most entries of one address group (GROUP_MAX): the slots of its bucket
/// a group may use.
pub const GROUP_MAX: usize = 4;
/// A group holds at most one entry per GROUP_SHARE entries of the
/// buckets (at least one): four groups hold at most 4% of a table of 100
/// entries or more, however young (docs/protocol.md 5.4).
pub const GROUP_SHARE: usize = 100;
/// Shares of the budget for replies to unproven addresses: each address
/// group draws on one, by a keyed hash (docs/protocol.md 5.3).
pub const REPLY_SHARES: usize = 64;
/// Entries of a bucket that newcomers cannot displace: its most trusted
/// live ones (trust above zero).
pub const PROTECTED: usize = 4;
const FREE: u32 = u32::MAX;
const EDGE: u32 = u32::MAX - 1;

/// The peer table (docs/protocol.md 5.4): MAX_PEERS / 16 buckets of 16
/// slots. An address group maps to one bucket and to GROUP_MAX of its
/// slots by a keyed hash with a node-local secret, so a group holds at
/// most GROUP_MAX entries, and at most one per [`GROUP_SHARE`] entries of
/// the table (at least one); a validated newcomer competes for one of them,
/// chosen by its address's hash, taken if empty, and otherwise won from an occupant that is not protected and is
/// silent or loses on rank under the bucket's seed (redrawn now and then).
/// Edges sit beside the buckets and are never displaced. Entries are kept
/// dense (`get(i)` for `i < len()`) for scans and draws.
pub struct Peers {
    list: Vec<Peer>,
    /// The slot of each entry (`EDGE` for an edge).
    pos: Vec<u32>,
    /// The entry in each slot (`FREE` if none).
    slots: Box<[u32]>,
    index: Index,
    hash: KeyedHash,
    place: KeyedHash,
    seeds: Box<[u64]>,
    bucket_slots: usize,
    max: usize,
    /// Entries in the buckets (edges aside).
    bucketed: usize,
    /// Peers eligible for gossip (docs/protocol.md 5.5), for uniform draws.
    /// The node adds a peer when it becomes eligible; one found no longer
    /// eligible when drawn leaves the list then.
    elig: Dense,
    /// Trust of the eligible peers (zero for the others), for draws in
    /// proportion to trust.
    fen: Fenwick,
}

/// Tries of a rejection draw before it gives up.
pub const DRAW_TRIES: usize = 16;
/// Lists this short are drawn from by one pass over them.
const SCAN_MAX: usize = 16;

/// What became of a newcomer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// It took an empty slot (or is an edge): entry `i`.
    Added(usize),
    /// It won its slot from `old`, now gone: entry `i`.
    Replaced {
        /// The newcomer's entry.
        i: usize,
        /// The address it displaced.
        old: SocketAddr,
    },
    /// Its slot is held by an occupant it does not displace.
    Refused,
}

/// The liveness rules a contest for a slot uses, in epochs.
#[derive(Clone, Copy, Debug)]
pub struct Contest {
    /// Now.
    pub now: u64,
    /// Silent this long, an occupant loses its slot to any newcomer (PING).
    pub silent: u64,
    /// Heard from within this, an entry is live (2 × PING).
    pub live: u64,
}

/// Canonical form of an address: v4-mapped IPv6 becomes IPv4.
pub fn canonical(a: SocketAddr) -> SocketAddr {
    SocketAddr::new(a.ip().to_canonical(), a.port())
}

/// How far an address reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// This host only.
    Loopback,
    /// A private, link-local or unique-local network.
    Private,
    /// The internet.
    Global,
}

/// The scope of an address.
pub fn scope(ip: IpAddr) -> Scope {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            if v4.is_loopback() {
                Scope::Loopback
            } else if v4.is_private()
                || v4.is_link_local()
                || v4.octets()[0] == 100 && v4.octets()[1] & 0xc0 == 64
            {
                // RFC 1918, 169.254/16, and carrier-grade NAT 100.64/10.
                Scope::Private
            } else {
                Scope::Global
            }
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            if v6.is_loopback() {
                Scope::Loopback
            } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfe80 {
                // Unique local fc00::/7 and link-local fe80::/10.
                Scope::Private
            } else {
                Scope::Global
            }
        }
    }
}

/// The scope rule of docs/protocol.md 5.6: a sender may not widen an address's
/// reach (a loopback address only from a loopback sender, a private one only
/// from a private or loopback sender).
pub fn scope_allows(sender: IpAddr, advertised: IpAddr) -> bool {
    scope(advertised) >= scope(sender)
}

impl Peers {
    /// A table of `max` peers in buckets (rounded down to whole buckets of
    /// 16, or one bucket of `max` when smaller), plus room for `edges`
    /// edges. `hash` keys the address index, `place` the placement.
    pub fn new(max: usize, edges: usize, hash: KeyedHash, place: KeyedHash) -> Peers {
        let bucket_slots = BUCKET_SLOTS.min(max.max(1));
        let buckets = (max / bucket_slots).max(1);
        let slots = buckets * bucket_slots;
        let total = slots + edges;
        Peers {
            list: Vec::with_capacity(total),
            pos: Vec::with_capacity(total),
            slots: vec![FREE; slots].into_boxed_slice(),
            index: Index::with_capacity(total),
            hash,
            place,
            seeds: (0..buckets as u64).collect(),
            bucket_slots,
            max: total,
            bucketed: 0,
            elig: Dense::new(total),
            fen: Fenwick::new(total),
        }
    }

    fn addr_hash(hash: &KeyedHash, a: &SocketAddr) -> u64 {
        let ip = match a.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        hash.hash(&[&ip, &a.port().to_le_bytes()])
    }

    /// Buckets.
    pub fn buckets(&self) -> usize {
        self.seeds.len()
    }

    /// The bucket of `a`'s group and its slot there: one of the GROUP_MAX
    /// slots of the bucket that the group may use, by the address's hash.
    pub fn place_of(&self, a: SocketAddr) -> (usize, usize) {
        let (b, first, _) = self.group_place(a);
        (b, self.slot_of(first, a))
    }

    /// `a`'s slot in its bucket: one of the GROUP_MAX from `first`.
    fn slot_of(&self, first: usize, a: SocketAddr) -> usize {
        let within = Self::addr_hash(&self.place, &a) % GROUP_MAX.min(self.bucket_slots) as u64;
        ((first as u64 + within) % self.bucket_slots as u64) as usize
    }

    /// `a`'s group, its bucket, and the first of the slots there it may use.
    fn group_place(&self, a: SocketAddr) -> (usize, usize, [u8; 19]) {
        let g = crate::group::group(a);
        let b = (self.place.hash(&[b"bucket", &g]) % self.seeds.len() as u64) as usize;
        let first = (self.place.hash(&[b"slots", &g]) % self.bucket_slots as u64) as usize;
        (b, first, g)
    }

    /// Entries of `a`'s address group (edges aside): one look at each of
    /// the GROUP_MAX slots the group may use, so no scan.
    pub fn group_entries(&self, a: SocketAddr) -> usize {
        let (b, first, g) = self.group_place(a);
        self.count_group(b, first, &g)
    }

    fn count_group(&self, b: usize, first: usize, g: &[u8; 19]) -> usize {
        (0..GROUP_MAX.min(self.bucket_slots))
            .map(|k| self.slots[b * self.bucket_slots + (first + k) % self.bucket_slots])
            .filter(|&j| j != FREE && crate::group::group(self.list[j as usize].addr) == *g)
            .count()
    }

    /// Most entries a group holding `held` of them may have while the
    /// buckets hold `bucketed` (docs/protocol.md 5.4): one per
    /// [`GROUP_SHARE`] entries, at least one, at most [`GROUP_MAX`]; and
    /// GROUP_MAX while the buckets hold that group alone, so a network of
    /// one group (a LAN) is not held to one peer.
    pub fn group_cap(held: usize, bucketed: usize) -> usize {
        if held == bucketed {
            GROUP_MAX
        } else {
            (bucketed / GROUP_SHARE).clamp(1, GROUP_MAX)
        }
    }

    /// Which of [`REPLY_SHARES`] shares of the reply budget `a`'s group
    /// draws on (docs/protocol.md 5.3): a keyed hash of the group, so
    /// nobody can choose addresses that land on another's share.
    pub fn share_of(&self, a: SocketAddr) -> usize {
        let g = crate::group::group(a);
        (self.place.hash(&[b"reply", &g]) % REPLY_SHARES as u64) as usize
    }

    /// A keyed hash of the address `a` under the placement key, for
    /// per-address records the node keeps in fixed arrays.
    pub fn addr_key(&self, a: SocketAddr) -> u64 {
        Self::addr_hash(&self.place, &a)
    }

    /// `a`'s rank in bucket `b` under its current seed (lower wins).
    fn rank(&self, b: usize, a: &SocketAddr) -> u64 {
        let ip = match a.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        self.place
            .hash(&[&self.seeds[b].to_le_bytes(), &ip, &a.port().to_le_bytes()])
    }

    /// Draws bucket `b`'s rank seed anew.
    pub fn reseed(&mut self, b: usize, seed: u64) {
        if let Some(s) = self.seeds.get_mut(b) {
            *s = seed;
        }
    }

    /// Peers held.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when no peer is known.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The bound (bucket slots and edges).
    pub fn max(&self) -> usize {
        self.max
    }

    /// All peers.
    pub fn iter(&self) -> impl Iterator<Item = &Peer> {
        self.list.iter()
    }

    /// Peer `i`.
    pub fn get(&self, i: usize) -> &Peer {
        &self.list[i]
    }

    /// Peer `i`, mutably.
    pub fn get_mut(&mut self, i: usize) -> &mut Peer {
        &mut self.list[i]
    }

    /// Index of the peer with this (canonical) address.
    pub fn find(&self, a: SocketAddr) -> Option<usize> {
        let h = Self::addr_hash(&self.hash, &a);
        self.index
            .find(h, |i| self.list[i as usize].addr == a)
            .map(|i| i as usize)
    }

    /// Admits a validated address (docs/protocol.md 5.4). An edge is
    /// always admitted while there is room for edges; an address already
    /// held is refused.
    pub fn add(&mut self, a: SocketAddr, edge: bool, c: Contest) -> Admit {
        // An address holds one entry at most.
        if self.find(a).is_some() {
            return Admit::Refused;
        }
        if edge {
            if self.list.len() >= self.max {
                return Admit::Refused;
            }
            return Admit::Added(self.push(a, c.now, true, EDGE));
        }
        let (b, first, g) = self.group_place(a);
        let p = b * self.bucket_slots + self.slot_of(first, a);
        let j = self.slots[p];
        // A newcomer that would not displace one of its own group must
        // find its group below its share of the table.
        let held = self.count_group(b, first, &g);
        let own = j != FREE && crate::group::group(self.list[j as usize].addr) == g;
        if !own && held >= Self::group_cap(held, self.bucketed) {
            return Admit::Refused;
        }
        if j == FREE {
            return Admit::Added(self.push(a, c.now, false, p as u32));
        }
        let o = self.list[j as usize];
        if self.protected(b, j as usize, c) {
            return Admit::Refused;
        }
        if o.silence(c.now) >= c.silent || self.rank(b, &a) < self.rank(b, &o.addr) {
            self.remove(j as usize);
            let i = self.push(a, c.now, false, p as u32);
            return Admit::Replaced { i, old: o.addr };
        }
        Admit::Refused
    }

    /// Entry `j` of bucket `b` is live, has earned trust, and is among the
    /// PROTECTED most trusted live entries of its bucket.
    fn protected(&self, b: usize, j: usize, c: Contest) -> bool {
        let o = &self.list[j];
        if o.trust <= 0.0 || o.silence(c.now) >= c.live {
            return false;
        }
        let base = b * self.bucket_slots;
        let above = self.slots[base..base + self.bucket_slots]
            .iter()
            .filter(|&&k| k != FREE && k as usize != j)
            .map(|&k| &self.list[k as usize])
            .filter(|p| p.silence(c.now) < c.live && p.trust > o.trust)
            .count();
        above < PROTECTED
    }

    fn push(&mut self, a: SocketAddr, now: u64, edge: bool, pos: u32) -> usize {
        if pos != EDGE {
            self.bucketed += 1;
        }
        let i = self.list.len();
        self.list.push(Peer {
            addr: a,
            trust: 0.0,
            added: now,
            // Admitted only once validated: heard from now.
            seen: now,
            pinged: NEVER,
            awaiting_peer: false,
            edge,
            seeded_batch: NEVER,
            token: None,
            token_at: 0,
        });
        self.pos.push(pos);
        if pos != EDGE {
            self.slots[pos as usize] = i as u32;
        }
        let h = Self::addr_hash(&self.hash, &a);
        self.index.insert(h, i as u32);
        i
    }

    /// Removes peer `i` (the last peer takes its index).
    pub fn remove(&mut self, i: usize) {
        let last = self.list.len() - 1;
        self.elig.remove(i);
        self.fen.set(i, 0.0);
        if i != last {
            let w = self.fen.get(last);
            self.fen.set(last, 0.0);
            self.fen.set(i, w);
            self.elig.relabel(last, i);
        }
        let Peers {
            list,
            index,
            hash,
            pos,
            slots,
            bucketed,
            ..
        } = self;
        let h = Self::addr_hash(hash, &list[i].addr);
        index.remove(h, i as u32, |j| {
            Self::addr_hash(hash, &list[j as usize].addr)
        });
        if pos[i] != EDGE {
            slots[pos[i] as usize] = FREE;
            *bucketed -= 1;
        }
        if i != last {
            let hl = Self::addr_hash(hash, &list[last].addr);
            index.replace(hl, last as u32, i as u32);
            if pos[last] != EDGE {
                slots[pos[last] as usize] = i as u32;
            }
        }
        list.swap_remove(i);
        pos.swap_remove(i);
    }

    /// Marks peer `i` eligible for gossip or not (docs/protocol.md 5.5).
    pub fn set_eligible(&mut self, i: usize, on: bool) {
        if on {
            self.elig.insert(i);
            self.fen.set(i, self.list[i].trust);
        } else {
            self.elig.remove(i);
            self.fen.set(i, 0.0);
        }
    }

    /// Whether peer `i` is in the list of eligible peers.
    pub fn is_eligible(&self, i: usize) -> bool {
        self.elig.contains(i)
    }

    /// Peers in the list of eligible peers.
    pub fn eligible(&self) -> usize {
        self.elig.len()
    }

    /// Adds `x` to peer `i`'s trust.
    pub fn add_trust(&mut self, i: usize, x: f64) {
        let p = &mut self.list[i];
        p.trust += x;
        if self.elig.contains(i) {
            self.fen.set(i, p.trust);
        }
    }

    /// Takes all of peer `i`'s trust.
    pub fn clear_trust(&mut self, i: usize) {
        self.list[i].trust = 0.0;
        self.fen.set(i, 0.0);
    }

    /// Halves every peer's trust (every TRUST_HALF epochs): O(n), which
    /// also clears the draws' rounding drift.
    pub fn halve_trust(&mut self) {
        for p in self.list.iter_mut() {
            p.trust *= 0.5;
        }
        self.fen.scale(0.5);
    }

    /// Total trust of the eligible peers.
    pub fn eligible_trust(&self) -> f64 {
        self.fen.total()
    }

    /// A peer drawn uniformly among the eligible ones for which `want`
    /// holds, without a scan (docs/protocol.md 5.5). A drawn peer for which
    /// `still` (eligibility now) fails leaves the list. Gives up after
    /// [`DRAW_TRIES`] draws; a list of at most 16 is drawn from in one pass,
    /// so a small table never misses.
    pub fn draw_uniform(
        &mut self,
        mut rand: impl FnMut() -> u64,
        still: impl Fn(&Peer) -> bool,
        want: impl Fn(&Peer) -> bool,
    ) -> Option<usize> {
        if self.elig.len() <= SCAN_MAX {
            // Reservoir sampling over the short list; leavers go first.
            let mut k = 0;
            while k < self.elig.len() {
                let i = self.elig.nth(k);
                if still(&self.list[i]) {
                    k += 1;
                } else {
                    self.set_eligible(i, false);
                }
            }
            let mut chosen = None;
            let mut seen = 0u64;
            for k in 0..self.elig.len() {
                let i = self.elig.nth(k);
                if want(&self.list[i]) {
                    seen += 1;
                    if rand() % seen == 0 {
                        chosen = Some(i);
                    }
                }
            }
            return chosen;
        }
        for _ in 0..DRAW_TRIES {
            let n = self.elig.len();
            if n == 0 {
                return None;
            }
            let i = self.elig.nth((rand() % n as u64) as usize);
            let p = &self.list[i];
            if !still(p) {
                self.set_eligible(i, false);
            } else if want(p) {
                return Some(i);
            }
        }
        None
    }

    /// A peer drawn among the eligible ones for which `want` holds, in
    /// proportion to trust (docs/protocol.md 5.5); with chance 1/`probe`,
    /// or when no eligible peer has trust, uniformly. O(log n) a try.
    pub fn draw_trust(
        &mut self,
        probe: u32,
        mut rand: impl FnMut() -> u64,
        still: impl Fn(&Peer) -> bool,
        want: impl Fn(&Peer) -> bool,
    ) -> Option<usize> {
        let uniform = probe <= 1 || rand() % probe as u64 == 0;
        if !uniform {
            for _ in 0..DRAW_TRIES {
                let total = self.fen.total();
                if total <= 0.0 || self.list.is_empty() {
                    break;
                }
                let i = self.fen.find(unit(rand()) * total);
                if i >= self.list.len() || self.fen.get(i) <= 0.0 {
                    // Only rounding lands on a weight of zero: the trust
                    // left is dust (or the running total drifted); draw
                    // uniformly.
                    break;
                }
                let p = &self.list[i];
                if !still(p) {
                    self.set_eligible(i, false);
                } else if want(p) {
                    return Some(i);
                }
            }
        }
        self.draw_uniform(rand, still, want)
    }

    /// Up to `out.len()` distinct peers for which `ok` holds, drawn
    /// uniformly from the whole table without a scan (GETPEER answers and
    /// application requests): a table of at most 16 in one pass, a larger
    /// one by [`DRAW_TRIES`] draws per peer wanted. Returns how many.
    pub fn sample(
        &self,
        mut rand: impl FnMut() -> u64,
        ok: impl Fn(&Peer) -> bool,
        out: &mut [usize],
    ) -> usize {
        let n = self.list.len();
        let mut got = 0;
        if n <= SCAN_MAX {
            let mut seen = 0u64;
            for (i, p) in self.list.iter().enumerate() {
                if !ok(p) {
                    continue;
                }
                seen += 1;
                if got < out.len() {
                    out[got] = i;
                    got += 1;
                } else {
                    let r = rand() % seen;
                    if (r as usize) < out.len() {
                        out[r as usize] = i;
                    }
                }
            }
            return got;
        }
        let mut tries = DRAW_TRIES * out.len();
        while got < out.len() && tries > 0 {
            tries -= 1;
            let i = (rand() % n as u64) as usize;
            if ok(&self.list[i]) && !out[..got].contains(&i) {
                out[got] = i;
                got += 1;
            }
        }
        got
    }

    /// Checks the table's invariants (for tests and the simulator).
    pub fn check(&self, me: &[SocketAddr]) -> Result<(), String> {
        if self.list.len() > self.max {
            return Err(format!(
                "{} peers above bound {}",
                self.list.len(),
                self.max
            ));
        }
        for (i, p) in self.list.iter().enumerate() {
            if self.find(p.addr) != Some(i) {
                return Err(format!("peer {} not indexed", p.addr));
            }
            match self.pos[i] {
                EDGE if !p.edge => return Err(format!("{} sits with the edges", p.addr)),
                EDGE => {}
                pos => {
                    let (b, s) = self.place_of(p.addr);
                    if pos as usize != b * self.bucket_slots + s
                        || self.slots[pos as usize] != i as u32
                    {
                        return Err(format!("peer {} is not in its slot", p.addr));
                    }
                }
            }
            if me.contains(&p.addr) {
                return Err(format!("the node lists itself ({})", p.addr));
            }
            let w = if self.elig.contains(i) {
                p.trust.max(0.0)
            } else {
                0.0
            };
            if self.fen.get(i) != w {
                return Err(format!(
                    "peer {}: drawn with trust {} not {w}",
                    p.addr,
                    self.fen.get(i)
                ));
            }
        }
        let bucketed = self.pos.iter().filter(|&&p| p != EDGE).count();
        if bucketed != self.bucketed {
            return Err(format!(
                "{bucketed} entries in buckets, counted {}",
                self.bucketed
            ));
        }
        for i in self.list.len()..self.max {
            if self.elig.contains(i) || self.fen.get(i) != 0.0 {
                return Err(format!("no peer {i}, yet it could be drawn"));
            }
        }
        self.elig.check()?;
        let sum: f64 = (0..self.list.len()).map(|i| self.fen.get(i)).sum();
        for total in [self.fen.total(), self.fen.tree_total()] {
            if (total - sum).abs() > 1e-9 * sum.max(1.0) {
                return Err(format!("trust sums to {sum} but draws see {total}"));
            }
        }
        Ok(())
    }
}

/// A float in [0, 1) from 53 random bits.
pub fn unit(r: u64) -> f64 {
    (r >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// One splitmix64 step: derives a fresh random word from one.
pub fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: u16) -> SocketAddr {
        SocketAddr::new("192.0.2.1".parse().unwrap(), 1000 + i)
    }

    const C: Contest = Contest {
        now: 10,
        silent: 719,
        live: 1438,
    };

    fn table(max: usize) -> Peers {
        Peers::new(max, 4, KeyedHash::new(1, 2), KeyedHash::new(3, 4))
    }

    fn added(r: Admit) -> Option<usize> {
        match r {
            Admit::Added(i) | Admit::Replaced { i, .. } => Some(i),
            Admit::Refused => None,
        }
    }

    #[test]
    fn add_find_remove_keeps_index() {
        let mut p = table(64);
        let mut held = Vec::new();
        for i in 0..200u16 {
            // 50 groups: a group holds one entry of a table under 100.
            let a = SocketAddr::from(([198, (i % 50) as u8, (i / 50) as u8, 1], 1000 + i));
            if added(p.add(a, false, C)).is_some() {
                held.push(a);
            }
            p.check(&[]).unwrap();
        }
        assert!(p.len() <= 64 && p.len() > 20, "{} held", p.len());
        held.retain(|a| p.find(*a).is_some());
        assert_eq!(held.len(), p.len());
        while p.len() > 3 {
            p.remove(1);
            p.check(&[]).unwrap();
        }
        for e in 0..4u16 {
            let a = SocketAddr::from(([192, 0, 2, 1], 9000 + e));
            assert!(
                matches!(p.add(a, true, C), Admit::Added(_)),
                "edges have room"
            );
        }
        p.check(&[]).unwrap();
    }

    #[test]
    fn an_address_holds_one_entry() {
        // Found by the `table` fuzz target: an edge added under an address
        // the table already held made a second entry.
        let mut p = table(16);
        let a = SocketAddr::from(([203, 3, 255, 64], 1618));
        assert!(added(p.add(a, false, C)).is_some());
        assert_eq!(p.add(a, true, C), Admit::Refused);
        assert_eq!(p.add(a, false, C), Admit::Refused);
        assert_eq!(p.len(), 1);
        p.check(&[]).unwrap();
    }

    #[test]
    fn one_group_holds_one_bucket_at_most() {
        let mut p = table(1024);
        // A thousand addresses of one /16, all validated, all live.
        for i in 0..1000u16 {
            let a = SocketAddr::from(([203, 0, (i >> 8) as u8, i as u8], 1618));
            p.add(a, false, C);
        }
        assert!(p.len() <= GROUP_MAX, "{} entries from one group", p.len());
        // A thousand ports of one loopback address are a thousand groups.
        let mut q = table(1024);
        for i in 0..1000u16 {
            q.add(SocketAddr::from(([127, 0, 0, 1], 20_000 + i)), false, C);
        }
        assert!(q.len() > 400, "{} loopback entries", q.len());
    }

    #[test]
    fn a_group_holds_its_share_of_a_young_table() {
        let mut p = table(1024);
        // Entries of distinct /16s (190.x to 197.x), one each.
        let mut others =
            (0..2048u16).map(|i| SocketAddr::from(([190 + (i >> 8) as u8, i as u8, 0, 1], 1618)));
        let crowd = |k: u16| SocketAddr::from(([203, 0, (k >> 8) as u8, k as u8], 1618));
        let mut fill = |p: &mut Peers, n: usize| {
            while p.len() < n {
                p.add(others.next().unwrap(), false, C);
            }
        };
        fill(&mut p, 50);
        for k in 0..200u16 {
            p.add(crowd(k), false, C);
        }
        assert_eq!(p.group_entries(crowd(0)), 1, "a table of 51: one entry");
        fill(&mut p, 201);
        for k in 200..400u16 {
            p.add(crowd(k), false, C);
        }
        assert_eq!(p.group_entries(crowd(0)), 2, "a table of 200: two");
        fill(&mut p, 420);
        for k in 400..1000u16 {
            p.add(crowd(k), false, C);
        }
        assert_eq!(p.group_entries(crowd(0)), GROUP_MAX, "a table of 400: all");
        p.check(&[]).unwrap();
        // A table of one group alone holds GROUP_MAX of it.
        let mut q = table(1024);
        for k in 0..200u16 {
            q.add(crowd(k), false, C);
        }
        assert_eq!(q.len(), GROUP_MAX);
        // Another group arrives: the first keeps what it holds.
        q.add(SocketAddr::from(([198, 7, 0, 1], 1618)), false, C);
        assert_eq!(q.group_entries(crowd(0)), GROUP_MAX);
        q.check(&[]).unwrap();
    }

    #[test]
    fn a_slot_goes_to_the_better_rank_whoever_came_first() {
        // Find two addresses of different groups that compete for one slot.
        let p0 = table(16);
        let a = SocketAddr::from(([198, 51, 100, 1], 1618));
        let b = (1..5000u16)
            .map(|i| SocketAddr::from(([203, (i >> 8) as u8, i as u8, 1], 1618)))
            .find(|b| p0.place_of(*b) == p0.place_of(a))
            .unwrap();
        let mut winners = Vec::new();
        for order in [[a, b], [b, a]] {
            let mut p = table(16);
            for x in order {
                p.add(x, false, C);
            }
            assert_eq!(p.len(), 1);
            winners.push(p.get(0).addr);
        }
        assert_eq!(winners[0], winners[1], "arrival order decided the slot");
        // A new seed may give the slot to the other; a silent occupant
        // loses it to anyone.
        let mut p = table(16);
        p.add(winners[0], false, C);
        let loser = if winners[0] == a { b } else { a };
        let later = Contest { now: 10 + 719, ..C };
        assert!(matches!(p.add(loser, false, later), Admit::Replaced { .. }));
    }

    #[test]
    fn a_trusted_live_peer_is_never_displaced() {
        let mut p = table(16);
        let a = SocketAddr::from(([198, 51, 100, 1], 1618));
        let i = added(p.add(a, false, C)).unwrap();
        p.add_trust(i, 5.0);
        p.get_mut(i).seen = 10;
        for k in 0..5000u16 {
            let b = SocketAddr::from(([203, (k >> 8) as u8, k as u8, 1], 1618));
            if p.place_of(b) == p.place_of(a) {
                for seed in 0..8 {
                    p.reseed(0, seed);
                    p.add(b, false, Contest { now: 20, ..C });
                }
            }
        }
        assert_eq!(p.find(a), Some(0), "a protected peer lost its slot");
    }

    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut r = seed;
        move || {
            r = splitmix(r);
            r
        }
    }

    fn eligible_table(n: u16) -> Peers {
        let mut p = table(64);
        for i in 0..n {
            p.add(addr(i), true, C);
            p.set_eligible(i as usize, true);
        }
        p
    }

    #[test]
    fn trust_draws_follow_trust_and_probe_the_rest() {
        let mut p = eligible_table(40);
        p.add_trust(3, 100.0);
        p.add_trust(2, 1.0);
        p.check(&[]).unwrap();
        let mut counts = [0u32; 40];
        let mut r = rng(7);
        for _ in 0..20_000 {
            counts[p.draw_trust(1000, &mut r, |_| true, |_| true).unwrap()] += 1;
        }
        // In proportion to trust: peer 3 about 100 draws in 101.
        assert!(counts[3] > 19_500, "{counts:?}");
        assert!(counts[2] > 100 && counts[2] < 320, "{counts:?}");
        // Untrusted peers are still probed now and then (1 in 1,000).
        let rest: u32 = counts.iter().sum::<u32>() - counts[3] - counts[2];
        assert!(rest > 0 && rest < 60, "{rest}");
        // No trust at all: uniform.
        p.clear_trust(3);
        p.clear_trust(2);
        let mut counts = [0u32; 40];
        for _ in 0..40_000 {
            counts[p.draw_trust(1000, &mut r, |_| true, |_| true).unwrap()] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800 && c < 1200), "{counts:?}");
        assert_eq!(p.draw_trust(1000, &mut r, |_| true, |_| false), None);
    }

    #[test]
    fn trust_halves_and_is_drawn_only_while_eligible() {
        let mut p = eligible_table(20);
        p.add_trust(5, 8.0);
        p.halve_trust();
        assert_eq!(p.get(5).trust, 4.0);
        assert_eq!(p.eligible_trust(), 4.0);
        p.set_eligible(5, false);
        assert_eq!(p.eligible_trust(), 0.0, "an ineligible peer is not drawn");
        p.add_trust(5, 1.0);
        assert_eq!(p.eligible_trust(), 0.0);
        p.set_eligible(5, true);
        assert_eq!(p.eligible_trust(), 5.0, "its trust counts again");
        // Removing peers moves the last into the hole: the draws follow.
        p.remove(5);
        p.check(&[]).unwrap();
        assert_eq!(p.eligible_trust(), 0.0);
        p.add_trust(0, 2.0);
        p.remove(3);
        p.remove(0);
        p.check(&[]).unwrap();
        assert_eq!(p.eligible_trust(), 0.0);
    }

    #[test]
    fn uniform_draws_skip_what_is_not_wanted_and_drop_leavers() {
        for n in [3u16, 16, 17, 50] {
            let mut p = eligible_table(n);
            let mut r = rng(n as u64);
            let excluded = p.get(0).addr;
            let mut counts = vec![0u32; n as usize];
            for _ in 0..((n as u32 - 1) * 400) {
                let i = p
                    .draw_uniform(&mut r, |_| true, |q| q.addr != excluded)
                    .unwrap();
                counts[i] += 1;
            }
            // Split horizon: the excluded peer is never drawn; the others
            // about equally (400 each on average).
            assert_eq!(counts[0], 0);
            assert!(
                counts[1..].iter().all(|&c| c > 250 && c < 600),
                "{n}: {counts:?}"
            );
            // Peers no longer eligible leave the list as they are met.
            let odd = |q: &Peer| q.addr.port() % 2 == 0;
            for _ in 0..200 {
                if let Some(i) = p.draw_uniform(&mut r, odd, |_| true) {
                    assert!(odd(p.get(i)));
                }
            }
            assert!(
                p.eligible() <= (n as usize).div_ceil(2) + 2,
                "{n}: {}",
                p.eligible()
            );
            p.check(&[]).unwrap();
        }
    }

    #[test]
    fn samples_are_distinct_and_qualify() {
        for n in [1u16, 2, 10, 40] {
            let p = eligible_table(n);
            let mut r = rng(3);
            let mut out = [0usize; 2];
            for _ in 0..100 {
                let got = p.sample(&mut r, |q| q.addr.port() != addr(0).port(), &mut out);
                assert_eq!(got, (n as usize - 1).min(2));
                if got == 2 {
                    assert_ne!(out[0], out[1]);
                }
                assert!(out[..got].iter().all(|&i| i != 0));
            }
        }
    }

    #[test]
    fn scope_never_widens() {
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let pr: IpAddr = "10.1.2.3".parse().unwrap();
        let gl: IpAddr = "192.0.2.1".parse().unwrap();
        let v6lo: IpAddr = "::1".parse().unwrap();
        let ula: IpAddr = "fd00::1".parse().unwrap();
        assert!(scope_allows(lo, lo) && scope_allows(lo, pr) && scope_allows(lo, gl));
        assert!(!scope_allows(pr, lo) && scope_allows(pr, pr) && scope_allows(pr, gl));
        assert!(!scope_allows(gl, lo) && !scope_allows(gl, pr) && scope_allows(gl, gl));
        assert!(!scope_allows(gl, v6lo) && !scope_allows(gl, ula));
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().unwrap();
        assert_eq!(scope(mapped), Scope::Loopback);
    }
}
