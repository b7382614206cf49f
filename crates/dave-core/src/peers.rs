//! The peer table (docs/protocol.md sections 5.3 and 5.4).

use crate::index::{Index, KeyedHash};
use std::net::{IpAddr, SocketAddr};

/// Sentinel for "never".
pub const NEVER: u64 = u64::MAX;

/// One known peer.
#[derive(Clone, Copy, Debug)]
pub struct Peer {
    /// Canonical address.
    pub addr: SocketAddr,
    /// Sum of the mass of the novel dats it sent us.
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
    /// Epochs since we last heard from it (`u64::MAX` if never).
    pub fn silence(&self, now: u64) -> u64 {
        if self.seen == NEVER {
            u64::MAX
        } else {
            now.saturating_sub(self.seen)
        }
    }
}

/// Bounded peer table with an address index.
pub struct Peers {
    list: Vec<Peer>,
    index: Index,
    hash: KeyedHash,
    max: usize,
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

/// The scope rule of docs/protocol.md 5.4: a sender may not widen an address's
/// reach (a loopback address only from a loopback sender, a private one only
/// from a private or loopback sender).
pub fn scope_allows(sender: IpAddr, advertised: IpAddr) -> bool {
    scope(advertised) >= scope(sender)
}

impl Peers {
    /// A table of at most `max` peers.
    pub fn new(max: usize, hash: KeyedHash) -> Peers {
        Peers {
            list: Vec::with_capacity(max),
            index: Index::with_capacity(max),
            hash,
            max,
        }
    }

    fn addr_hash(hash: &KeyedHash, a: &SocketAddr) -> u64 {
        let ip = match a.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
            IpAddr::V6(v6) => v6.octets(),
        };
        hash.hash(&[&ip, &a.port().to_le_bytes()])
    }

    /// Peers held.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when no peer is known.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The bound.
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

    /// Adds a peer; `None` when the table is full.
    pub fn add(&mut self, a: SocketAddr, now: u64, edge: bool) -> Option<usize> {
        if self.list.len() >= self.max {
            return None;
        }
        let i = self.list.len();
        self.list.push(Peer {
            addr: a,
            trust: 0.0,
            added: now,
            seen: NEVER,
            pinged: NEVER,
            awaiting_peer: false,
            edge,
            seeded_batch: NEVER,
            token: None,
            token_at: 0,
        });
        let h = Self::addr_hash(&self.hash, &a);
        self.index.insert(h, i as u32);
        Some(i)
    }

    /// Removes peer `i` (the last peer takes its index).
    pub fn remove(&mut self, i: usize) {
        let last = self.list.len() - 1;
        let Peers {
            list, index, hash, ..
        } = self;
        let h = Self::addr_hash(hash, &list[i].addr);
        index.remove(h, i as u32, |j| {
            Self::addr_hash(hash, &list[j as usize].addr)
        });
        if i != last {
            let hl = Self::addr_hash(hash, &list[last].addr);
            index.replace(hl, last as u32, i as u32);
        }
        list.swap_remove(i);
    }

    /// Trust-weighted selection among the peers for which `ok` holds
    /// (docs/protocol.md 5.3): draw a threshold in [0, max trust) and pick
    /// uniformly among peers above it; with chance 1/`probe`, or when no
    /// candidate has trust, pick uniformly among all candidates. `r1`, `r2`,
    /// `r3` are uniformly random.
    pub fn select(
        &self,
        probe: u32,
        r1: u64,
        r2: u64,
        r3: u64,
        mut ok: impl FnMut(&Peer) -> bool,
    ) -> Option<usize> {
        let mut max_trust = 0.0f64;
        let mut any = false;
        for p in &self.list {
            if ok(p) {
                any = true;
                max_trust = max_trust.max(p.trust);
            }
        }
        if !any {
            return None;
        }
        let uniform = max_trust <= 0.0 || probe <= 1 || r1 % probe as u64 == 0;
        let threshold = if uniform { -1.0 } else { unit(r2) * max_trust };
        // Reservoir sampling over the qualifying peers, one pass.
        let mut chosen = None;
        let mut seen = 0u64;
        let mut r = r3;
        for (i, p) in self.list.iter().enumerate() {
            if p.trust > threshold && ok(p) {
                seen += 1;
                if seen == 1 || r % seen == 0 {
                    chosen = Some(i);
                }
                r = splitmix(r);
            }
        }
        chosen
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
            if me.contains(&p.addr) {
                return Err(format!("the node lists itself ({})", p.addr));
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

    #[test]
    fn add_find_remove_keeps_index() {
        let mut p = Peers::new(8, KeyedHash::new(1, 2));
        for i in 0..8 {
            assert_eq!(p.add(addr(i), 0, false), Some(i as usize));
        }
        assert_eq!(p.add(addr(99), 0, false), None, "bounded");
        p.remove(2);
        p.remove(0);
        assert!(p.find(addr(2)).is_none() && p.find(addr(0)).is_none());
        for i in [1, 3, 4, 5, 6, 7] {
            let j = p.find(addr(i)).unwrap();
            assert_eq!(p.get(j).addr, addr(i));
        }
        p.check(&[]).unwrap();
    }

    #[test]
    fn selection_follows_trust() {
        let mut p = Peers::new(8, KeyedHash::new(1, 2));
        for i in 0..4 {
            p.add(addr(i), 0, false);
        }
        p.get_mut(3).trust = 100.0;
        p.get_mut(2).trust = 1.0;
        let mut counts = [0u32; 4];
        let mut r = 7u64;
        for _ in 0..10_000 {
            let (a, b, c) = (splitmix(r), splitmix(r ^ 1), splitmix(r ^ 2));
            r = splitmix(r ^ 3);
            counts[p.select(1000, a, b, c, |_| true).unwrap()] += 1;
        }
        // Peer 3 wins every draw above threshold 1, about 99% of them.
        assert!(counts[3] > 9_700, "{counts:?}");
        // Untrusted peers are still probed now and then.
        assert!(counts[0] + counts[1] > 0, "{counts:?}");
        assert_eq!(p.select(1000, 1, 2, 3, |_| false), None);
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
