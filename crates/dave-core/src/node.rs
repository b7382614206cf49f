//! The protocol core: a pure, clock-free, allocation-free state machine.
//!
//! Time comes in through [`Node::handle_tick`], datagrams through
//! [`Node::handle_packet`], application requests through [`Node::put`] and
//! [`Node::get`]. Datagrams leave through a fixed outbox drained with
//! [`Node::peek_transmit`] and [`Node::pop_transmit`]; results leave as
//! [`Event`]s. Everything is allocated in [`Node::new`].

use crate::config::{Config, ConfigError, EVENT_SLOTS, GET_RESEND_PULLS};
use crate::filter::{self, PacketFilter, Verdict};
use crate::index::KeyedHash;
use crate::note::{Note, Notes};
use crate::peers::{canonical, scope_allows, Peer, Peers, NEVER};
use crate::pow;
pub use crate::reason::{Reason, REASONS};
use crate::store::{Insert, Store};
use crate::wire::{
    self, Get, Hex, Msg, Op, Packet, Pd, PeerList, PerOp, Put, KEY_MAX, NPEER, PACKET_MAX,
};
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use std::collections::VecDeque;
use std::net::SocketAddr;

/// Most epochs one `handle_tick` catches up; older ones are skipped and counted.
pub const MAX_CATCHUP_EPOCHS: u64 = 1 << 14;
/// Most addresses a node knows as its own.
pub const MAX_SELF_ADDRS: usize = 16;
/// Most peers one application request goes to.
pub const MAX_FANOUT: usize = 8;
/// Novel dats remembered between two [`Node::drain_novel`] calls.
pub const NOVEL_LOG: usize = 4096;

/// The time as a driver tells it: a logical epoch count and the wall clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Now {
    /// Epochs since the driver started.
    pub epoch: u64,
    /// Milliseconds since the Unix epoch.
    pub unix_ms: u64,
}

/// Counters. Cheap to copy; drivers diff two copies to get rates.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Stats {
    /// Datagrams handled.
    pub packets_in: u64,
    /// Bytes handled.
    pub bytes_in: u64,
    /// Datagrams queued for sending.
    pub packets_out: u64,
    /// Bytes queued for sending.
    pub bytes_out: u64,
    /// Accepted datagrams by op.
    pub in_by_op: PerOp,
    /// Queued datagrams by op.
    pub out_by_op: PerOp,
    /// Drops by [`Reason`] (index order of [`Reason::all`]).
    pub drops: [u64; REASONS],
    /// PUTs for dats already held.
    pub puts_known: u64,
    /// Novel PUTs (new names and replacements).
    pub puts_novel: u64,
    /// GETs answered.
    pub gets_answered: u64,
    /// Packets whose filter insert evicted another key (the filter is saturated).
    pub filter_saturated: u64,
    /// Sends dropped because the outbox was full.
    pub outbox_full: u64,
    /// Peers added.
    pub peers_added: u64,
    /// Peers dropped for silence.
    pub peers_dropped: u64,
    /// Peers not added because the table was full.
    pub peers_full: u64,
    /// Peer descriptors refused (self, scope, or already known).
    pub pds_refused: u64,
    /// Dats removed by pruning.
    pub dats_pruned: u64,
    /// Epochs skipped because the driver fell too far behind.
    pub epochs_skipped: u64,
    /// Application events lost because nobody drained them.
    pub events_lost: u64,
}

impl Stats {
    /// The count for one reason.
    pub fn drop_count(&self, r: Reason) -> u64 {
        self.drops[r.index()]
    }

    /// All drops together.
    pub fn drops_total(&self) -> u64 {
        self.drops.iter().sum()
    }
}

/// What an application GET asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Query {
    /// The dat with this work hash.
    Work([u8; 32]),
    /// The current dat of a name.
    Name {
        /// Owner.
        pubkey: [u8; 32],
        /// Key bytes (first `key_len` are meaningful).
        key: [u8; KEY_MAX],
        /// Key length.
        key_len: u8,
    },
}

impl Query {
    /// A query by name; `None` if the key is longer than 32 bytes.
    pub fn name(pubkey: [u8; 32], key: &[u8]) -> Option<Query> {
        if key.len() > KEY_MAX {
            return None;
        }
        let mut k = [0u8; KEY_MAX];
        k[..key.len()].copy_from_slice(key);
        Some(Query::Name {
            pubkey,
            key: k,
            key_len: key.len() as u8,
        })
    }
}

/// Options of an application GET.
#[derive(Clone, Copy, Debug)]
pub struct GetOpts {
    /// Give up after this many epochs.
    pub timeout_epochs: u64,
    /// Do not answer from the local store; only a dat arriving from the
    /// network satisfies the request (to confirm that others hold it).
    pub network_only: bool,
    /// Prefer peers other than these (used to ask someone new).
    pub avoid: [Option<SocketAddr>; MAX_FANOUT],
}

impl GetOpts {
    /// Plain options with a timeout.
    pub fn timeout(epochs: u64) -> GetOpts {
        GetOpts {
            timeout_epochs: epochs,
            network_only: false,
            avoid: [None; MAX_FANOUT],
        }
    }
}

/// Identifies an application GET.
pub type GetId = u64;

/// Results of application requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A GET found its dat; read it with [`Node::dat_by_work`].
    Got {
        /// Which request.
        id: GetId,
        /// Work hash of the dat found.
        work: [u8; 32],
        /// Who sent it (`None` when answered from the local store).
        from: Option<SocketAddr>,
    },
    /// A GET ran out of time.
    TimedOut {
        /// Which request.
        id: GetId,
    },
}

/// Why an application PUT was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutError {
    /// The dat fails a check; the reason says which.
    Invalid(Reason),
}

impl std::fmt::Display for PutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PutError::Invalid(r) => write!(f, "dat refused: {}", r.name()),
        }
    }
}

impl std::error::Error for PutError {}

/// Why an application GET could not start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetError {
    /// `Config::max_gets` requests are already in flight.
    Busy,
}

#[derive(Clone, Copy)]
struct Pending {
    id: GetId,
    query: Query,
    deadline: u64,
    next_send: u64,
    avoid: [Option<SocketAddr>; MAX_FANOUT],
    /// Ask only this peer (see [`Node::get_to`]).
    to: Option<SocketAddr>,
}

/// Checks a PUT (docs/protocol.md section 3): sizes, time within `now_ms` +
/// MAX_SKEW, work, difficulty, and, when `sig` is set, the signature. Free of
/// node state so that callers may run it on other threads (a backup loader
/// verifies signatures in parallel, then restores with `sig` unset).
pub fn check_put(m: &Put<'_>, now_ms: u64, cfg: &Config, sig: bool) -> Result<u8, Reason> {
    if m.msg().encoded_len() > PACKET_MAX {
        return Err(Reason::Oversize);
    }
    if m.time_ms() > now_ms.saturating_add(cfg.max_skew_ms) {
        return Err(Reason::Future);
    }
    let load = pow::load(m.key, m.val, m.time);
    let w = pow::work(m.salt, &load);
    if &w != m.work {
        return Err(Reason::WorkMismatch);
    }
    let d = pow::difficulty(&w);
    if d < cfg.min_work {
        return Err(Reason::LowWork);
    }
    if sig && !pow::verify(m.pubkey, m.work, m.sig) {
        return Err(Reason::BadSig);
    }
    Ok(d)
}

/// A fixed ring of outgoing datagrams.
struct Outbox {
    bufs: Box<[u8]>,
    lens: Box<[u16]>,
    addrs: Box<[SocketAddr]>,
    head: usize,
    len: usize,
}

impl Outbox {
    fn new(slots: usize) -> Outbox {
        Outbox {
            bufs: vec![0u8; slots * PACKET_MAX].into_boxed_slice(),
            lens: vec![0u16; slots].into_boxed_slice(),
            addrs: vec![SocketAddr::from(([0, 0, 0, 0], 0)); slots].into_boxed_slice(),
            head: 0,
            len: 0,
        }
    }

    fn slots(&self) -> usize {
        self.lens.len()
    }

    /// The next free slot's buffer, or None when full.
    fn next_free(&mut self) -> Option<(usize, &mut [u8])> {
        if self.len == self.slots() {
            return None;
        }
        let i = (self.head + self.len) % self.slots();
        Some((i, &mut self.bufs[i * PACKET_MAX..(i + 1) * PACKET_MAX]))
    }

    fn commit(&mut self, i: usize, addr: SocketAddr, n: usize) {
        self.lens[i] = n as u16;
        self.addrs[i] = addr;
        self.len += 1;
    }

    fn peek(&self) -> Option<(SocketAddr, &[u8])> {
        if self.len == 0 {
            return None;
        }
        let i = self.head;
        Some((
            self.addrs[i],
            &self.bufs[i * PACKET_MAX..i * PACKET_MAX + self.lens[i] as usize],
        ))
    }

    fn pop(&mut self) {
        if self.len > 0 {
            self.head = (self.head + 1) % self.slots();
            self.len -= 1;
        }
    }
}

/// A Dave node.
pub struct Node {
    cfg: Config,
    rng: Xoshiro256PlusPlus,
    store: Store,
    peers: Peers,
    filter: PacketFilter,
    ring: Vec<[u8; 32]>,
    ring_head: usize,
    ring_cursor: usize,
    outbox: Outbox,
    events: VecDeque<Event>,
    notes: Notes,
    gets: Vec<Pending>,
    next_get_id: GetId,
    me: Vec<SocketAddr>,
    last_sent: Vec<SocketAddr>,
    novel_log: Vec<[u8; 32]>,
    novel_overflow: bool,
    epoch: u64,
    batch: u64,
    now_ms: u64,
    started: bool,
    ping_cursor: usize,
    seed_flip: bool,
    verify_tokens: u64,
    stats: Stats,
}

impl Node {
    /// A node with this configuration; allocates everything it will use.
    ///
    /// # Panics
    ///
    /// If the configuration is invalid ([`Config::validate`]); a shell that
    /// builds one from user input calls [`Node::try_new`] instead.
    pub fn new(cfg: Config) -> Node {
        match Node::try_new(cfg) {
            Ok(n) => n,
            Err(e) => panic!("invalid node configuration: {e}"),
        }
    }

    /// A node with this configuration, once [`Config::validate`] accepts it.
    pub fn try_new(cfg: Config) -> Result<Node, ConfigError> {
        cfg.validate()?;
        Ok(Node::build(cfg))
    }

    fn build(cfg: Config) -> Node {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(cfg.seed);
        let (k0, k1, k2, k3) = (
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
            rng.next_u64(),
        );
        let mut peers = Peers::new(cfg.max_peers.max(cfg.edges.len()), KeyedHash::new(k0, k1));
        for e in &cfg.edges {
            let e = canonical(*e);
            if peers.find(e).is_none() {
                peers.add(e, 0, true);
            }
        }
        Node {
            rng,
            store: Store::new(cfg.dat_cap, cfg.dat_slack, KeyedHash::new(k2, k3)),
            peers,
            filter: PacketFilter::new(cfg.filter_cap),
            ring: Vec::with_capacity(cfg.ring),
            ring_head: 0,
            ring_cursor: 0,
            outbox: Outbox::new(cfg.outbox_slots),
            events: VecDeque::with_capacity(EVENT_SLOTS),
            notes: Notes::new(cfg.notes),
            gets: Vec::with_capacity(cfg.max_gets),
            next_get_id: 1,
            me: Vec::with_capacity(MAX_SELF_ADDRS),
            last_sent: Vec::with_capacity(MAX_FANOUT),
            novel_log: Vec::with_capacity(if cfg.track_novel { NOVEL_LOG } else { 0 }),
            novel_overflow: false,
            epoch: 0,
            batch: 0,
            now_ms: 0,
            started: false,
            ping_cursor: 0,
            seed_flip: false,
            verify_tokens: cfg.untrusted_verify_burst,
            stats: Stats::default(),
            cfg,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The store (read-only).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The peer table (read-only).
    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The wall clock as last told, in ms.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Addresses the node knows as its own; never added as peers.
    pub fn self_addrs(&self) -> &[SocketAddr] {
        &self.me
    }

    /// Records an address as the node's own (at most [`MAX_SELF_ADDRS`]); a
    /// peer entry with that address is removed.
    pub fn add_self_addr(&mut self, a: SocketAddr) {
        let a = canonical(a);
        if !self.me.contains(&a) && self.me.len() < MAX_SELF_ADDRS {
            self.me.push(a);
        }
        if let Some(i) = self.peers.find(a) {
            self.peers.remove(i);
        }
    }

    fn is_self(&self, a: SocketAddr) -> bool {
        self.me.contains(&a)
    }

    /// Peers the last application PUT was sent to.
    pub fn last_sent(&self) -> &[SocketAddr] {
        &self.last_sent
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next note for the log, oldest first (see [`Note`]).
    pub fn poll_note(&mut self) -> Option<Note> {
        self.notes.pop()
    }

    /// Notes lost because nobody drained them (the queue holds
    /// [`crate::note::NOTE_SLOTS`]).
    pub fn notes_lost(&self) -> u64 {
        self.notes.lost()
    }

    /// The next datagram to send, without removing it.
    pub fn peek_transmit(&self) -> Option<(SocketAddr, &[u8])> {
        self.outbox.peek()
    }

    /// Removes the datagram returned by [`Node::peek_transmit`].
    pub fn pop_transmit(&mut self) {
        self.outbox.pop()
    }

    /// Datagrams waiting in the outbox.
    pub fn transmit_len(&self) -> usize {
        self.outbox.len
    }

    /// The held dat with this work hash.
    pub fn dat_by_work(&self, work: &[u8; 32]) -> Option<Put<'_>> {
        self.store.find_work(work).and_then(|i| self.store.put(i))
    }

    /// The held dat of this name.
    pub fn dat_by_name(&self, pubkey: &[u8; 32], key: &[u8]) -> Option<Put<'_>> {
        self.store
            .find_name(pubkey, key)
            .and_then(|i| self.store.put(i))
    }

    /// Checks every bound in O(1) plus the self-address rule; cheap enough
    /// to run after every event in a simulation.
    pub fn check_bounds(&self) -> Result<(), String> {
        if self.peers.len() > self.peers.max() {
            return Err(format!(
                "{} peers above bound {}",
                self.peers.len(),
                self.peers.max()
            ));
        }
        if self.store.len() > self.store.max_dats() {
            return Err(format!(
                "{} dats above bound {}",
                self.store.len(),
                self.store.max_dats()
            ));
        }
        if self.ring.len() > self.cfg.ring {
            return Err("ring above bound".into());
        }
        if self.gets.len() > self.cfg.max_gets
            || self.events.len() > EVENT_SLOTS
            || self.notes.len() > crate::note::NOTE_SLOTS
        {
            return Err("request tables above bound".into());
        }
        for a in &self.me {
            if self.peers.find(*a).is_some() {
                return Err(format!("the node lists itself ({a})"));
            }
        }
        Ok(())
    }

    /// Checks every bound and invariant, re-verifying every stored dat
    /// (proof of work and signature); for tests and the simulator.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.check_bounds()?;
        self.store.check()?;
        self.peers.check(&self.me)?;
        for i in 0..self.store.len() as u32 {
            let m = self
                .store
                .put(i)
                .ok_or_else(|| format!("stored dat {i} does not decode"))?;
            if check_put(&m, self.now_ms, &self.cfg, true).is_err() {
                return Err(format!("stored dat {} fails its checks", Hex(m.work)));
            }
        }
        Ok(())
    }

    fn rand(&mut self) -> u64 {
        self.rng.next_u64()
    }

    fn drop_packet(&mut self, r: Reason, src: SocketAddr) {
        self.stats.drops[r.index()] += 1;
        self.notes.event(|| Note::Dropped {
            reason: r,
            src,
            bytes: 0,
        });
    }

    fn enqueue(&mut self, to: SocketAddr, m: &Msg<'_>) {
        let Some((i, buf)) = self.outbox.next_free() else {
            self.stats.outbox_full += 1;
            return;
        };
        match wire::encode_into(m, buf) {
            Ok(n) => {
                self.outbox.commit(i, to, n);
                self.stats.packets_out += 1;
                self.stats.bytes_out += n as u64;
                self.stats.out_by_op[m.op] += 1;
            }
            Err(e) => self.notes.event(|| Note::EncodeFailed(e)),
        }
    }

    fn enqueue_dat(&mut self, to: SocketAddr, slot: u32) {
        let Some((i, buf)) = self.outbox.next_free() else {
            self.stats.outbox_full += 1;
            return;
        };
        let rec = self.store.record(slot);
        let n = rec.len();
        buf[..n].copy_from_slice(rec);
        self.outbox.commit(i, to, n);
        self.stats.packets_out += 1;
        self.stats.bytes_out += n as u64;
        self.stats.out_by_op[Op::Put] += 1;
    }

    // ---- time ----

    /// Advances to `now.epoch`, running every task that fell due (at most
    /// [`MAX_CATCHUP_EPOCHS`]; older epochs are skipped and counted).
    ///
    /// One call is one batch: a peer is seeded at most one dat per batch,
    /// because a receiver reads a burst in one go and its packet filter
    /// would pass only one of them anyway (docs/protocol.md 5.5).
    pub fn handle_tick(&mut self, now: Now) {
        self.now_ms = now.unix_ms;
        self.batch += 1;
        if !self.started {
            self.started = true;
            self.epoch = now.epoch;
            self.ping_edges();
        }
        if now.epoch <= self.epoch {
            return;
        }
        let gap = now.epoch - self.epoch;
        if gap > MAX_CATCHUP_EPOCHS {
            let skip = gap - MAX_CATCHUP_EPOCHS;
            self.stats.epochs_skipped += skip;
            self.epoch += skip;
        }
        while self.epoch < now.epoch {
            self.epoch += 1;
            self.tick_one();
        }
    }

    fn ping_edges(&mut self) {
        for i in 0..self.peers.len() {
            if self.peers.get(i).edge {
                self.ping(i);
            }
        }
    }

    fn tick_one(&mut self) {
        let e = self.epoch;
        self.filter.reset();
        if e % self.cfg.untrusted_verify_epochs == 0
            && self.verify_tokens < self.cfg.untrusted_verify_burst
        {
            self.verify_tokens += 1;
        }
        if e % self.cfg.seed_epochs == 0 {
            self.seed();
        }
        if e % self.cfg.pull_epochs == 0 {
            self.pull();
        }
        self.sweep_peers();
        if e % self.cfg.prune_epochs == 0 {
            self.prune();
        }
        if !self.gets.is_empty() {
            self.tick_gets();
        }
    }

    /// Peers that may be sent seeded, pushed or pulled dats: in the table
    /// for DELAY epochs (or an edge), and heard from within 2·PING.
    pub fn gossip_ok(p: &Peer, now: u64, cfg: &Config) -> bool {
        (p.edge || now.saturating_sub(p.added) >= cfg.delay_epochs)
            && p.silence(now) < 2 * cfg.ping_epochs
    }

    fn select(&mut self, ok: impl FnMut(&Peer) -> bool) -> Option<usize> {
        let (a, b, c) = (self.rand(), self.rand(), self.rand());
        self.peers.select(self.cfg.probe, a, b, c, ok)
    }

    /// A peer for gossip; with `seed`, one not yet seeded in this batch.
    fn select_gossip(&mut self, seed: bool) -> Option<usize> {
        let now = self.epoch;
        let batch = if seed { self.batch } else { NEVER - 1 };
        let cfg = &self.cfg;
        let (a, b, c) = (
            self.rng.next_u64(),
            self.rng.next_u64(),
            self.rng.next_u64(),
        );
        self.peers.select(cfg.probe, a, b, c, |p| {
            p.seeded_batch != batch && Self::gossip_ok(p, now, cfg)
        })
    }

    fn seed(&mut self) {
        if self.store.is_empty() {
            return;
        }
        let Some(pi) = self.select_gossip(true) else {
            return;
        };
        self.peers.get_mut(pi).seeded_batch = self.batch;
        let to = self.peers.get(pi).addr;
        self.seed_flip = !self.seed_flip;
        let slot = if self.seed_flip || self.ring.is_empty() {
            let r = self.rand();
            self.store.random(r)
        } else {
            self.ring_cursor = (self.ring_cursor + 1) % self.ring.len();
            let w = self.ring[self.ring_cursor];
            self.store.find_work(&w)
        };
        if let Some(s) = slot {
            self.enqueue_dat(to, s);
        }
    }

    fn pull(&mut self) {
        let r = self.rand();
        let Some(slot) = self.store.random(r) else {
            return;
        };
        let Some(pi) = self.select_gossip(false) else {
            return;
        };
        let to = self.peers.get(pi).addr;
        let Some(n) = self.store.name(slot) else {
            return;
        };
        let (pubkey, mut key) = (*n.pubkey, [0u8; KEY_MAX]);
        let klen = n.key.len();
        key[..klen].copy_from_slice(n.key);
        let m = Msg {
            op: Op::Get,
            key: &key[..klen],
            pubkey: &pubkey,
            ..Msg::default()
        };
        self.enqueue(to, &m);
    }

    fn ping(&mut self, i: usize) {
        let now = self.epoch;
        let p = self.peers.get_mut(i);
        p.pinged = now;
        p.awaiting_peer = true;
        let to = p.addr;
        self.notes.event(|| Note::Pinged(to));
        self.enqueue(to, &Msg::op(Op::Getpeer));
    }

    /// Visits a share of the table each epoch, so every peer is checked
    /// about once per PING epochs and pings are spread out, not bursty.
    fn sweep_peers(&mut self) {
        let n = self.peers.len();
        if n == 0 {
            return;
        }
        let ping = self.cfg.ping_epochs;
        let mut visits = (n as u64).div_ceil(ping) as usize;
        let now = self.epoch;
        while visits > 0 && !self.peers.is_empty() {
            visits -= 1;
            if self.ping_cursor >= self.peers.len() {
                self.ping_cursor = 0;
            }
            let i = self.ping_cursor;
            let p = *self.peers.get(i);
            let heard = if p.seen == NEVER { p.added } else { p.seen };
            let silence = now.saturating_sub(heard);
            if !p.edge && silence >= self.cfg.drop_epochs {
                let addr = p.addr;
                self.notes.event(|| Note::PeerDropped { addr, silence });
                self.peers.remove(i);
                self.stats.peers_dropped += 1;
                continue; // the last peer moved into slot i
            }
            let due = p.seen == NEVER || silence >= ping;
            let rested = p.pinged == NEVER || now.saturating_sub(p.pinged) >= ping;
            if due && rested {
                self.ping(i);
            }
            self.ping_cursor += 1;
        }
    }

    /// Prunes the store to DAT_CAP now (as every PRUNE epochs).
    pub fn prune_now(&mut self) {
        self.prune();
    }

    fn prune(&mut self) {
        let r = self.store.prune(self.now_ms);
        if r.before > r.kept {
            self.stats.dats_pruned += (r.before - r.kept) as u64;
        }
        self.notes.push(Note::Pruned {
            kept: r.kept,
            before: r.before,
            cap: self.store.cap(),
            peers: self.peers.len(),
        });
    }

    fn tick_gets(&mut self) {
        let now = self.epoch;
        let mut i = 0;
        while i < self.gets.len() {
            let g = self.gets[i];
            if now >= g.deadline {
                self.gets.swap_remove(i);
                self.push_event(Event::TimedOut { id: g.id });
                continue;
            }
            if now >= g.next_send {
                self.gets[i].next_send = now + GET_RESEND_PULLS * self.cfg.pull_epochs;
                self.send_get(&g);
            }
            i += 1;
        }
    }

    fn push_event(&mut self, e: Event) {
        if self.events.len() == EVENT_SLOTS {
            self.events.pop_front();
            self.stats.events_lost += 1;
        }
        self.events.push_back(e);
    }

    // ---- application ----

    /// Peers an application request may go to now: those that answered
    /// recently; before any has, the edges.
    fn app_targets(&mut self, avoid: &[Option<SocketAddr>]) -> [Option<SocketAddr>; MAX_FANOUT] {
        let fanout = self.cfg.fanout.clamp(1, MAX_FANOUT);
        let now = self.epoch;
        let alive = 2 * self.cfg.ping_epochs;
        let mut out = [None; MAX_FANOUT];
        // First choice: live peers not avoided; then live avoided ones; then edges.
        for pass in 0..3 {
            for k in 0..fanout {
                if out[k].is_some() {
                    continue;
                }
                let chosen = out;
                let pick = self.select(|p| {
                    let fresh = !chosen.contains(&Some(p.addr));
                    let live = p.silence(now) < alive;
                    let avoided = avoid.contains(&Some(p.addr));
                    fresh
                        && match pass {
                            0 => live && !avoided,
                            1 => live,
                            _ => p.edge,
                        }
                });
                out[k] = pick.map(|i| self.peers.get(i).addr);
            }
        }
        out
    }

    /// Checks a PUT exactly as a received one is checked (everything but
    /// whether it is novel); returns its difficulty.
    pub fn check_put(&self, m: &Msg<'_>) -> Result<u8, Reason> {
        check_put(&Put::from_msg(m)?, self.now_ms, &self.cfg, true)
    }

    /// Stores a dat made by this node's application as novel and sends it to
    /// FANOUT peers at once. Returns its work hash; [`Node::last_sent`] says
    /// where it went.
    pub fn put(&mut self, m: &Msg<'_>) -> Result<[u8; 32], PutError> {
        let work = self.put_store(m)?;
        let targets = self.app_targets(&[]);
        self.put_send(work, targets.iter().flatten().copied());
        Ok(work)
    }

    /// Like [`Node::put`], but sends to the peers the caller chose (at most
    /// MAX_FANOUT; none stores without sending). A dat already held is
    /// simply sent again, so a caller can spread many dats over its peers
    /// at its own pace and re-send one that was lost.
    pub fn put_to(&mut self, m: &Msg<'_>, to: &[SocketAddr]) -> Result<[u8; 32], PutError> {
        let work = match <&[u8; 32]>::try_from(m.work) {
            Ok(w) if self.store.find_work(w).is_some() => *w,
            _ => self.put_store(m)?,
        };
        self.put_send(work, to.iter().take(MAX_FANOUT).map(|a| canonical(*a)));
        Ok(work)
    }

    fn put_store(&mut self, m: &Msg<'_>) -> Result<[u8; 32], PutError> {
        let m = Put::from_msg(m).map_err(|e| PutError::Invalid(e.into()))?;
        let d = check_put(&m, self.now_ms, &self.cfg, true).map_err(PutError::Invalid)?;
        let work = *m.work;
        let now_ms = self.now_ms;
        match self.store.insert(&m, d, now_ms) {
            Insert::Stale => return Err(PutError::Invalid(Reason::Stale)),
            _ => self.novel(work),
        }
        Ok(work)
    }

    fn put_send(&mut self, work: [u8; 32], to: impl Iterator<Item = SocketAddr>) {
        self.last_sent.clear();
        let Some(slot) = self.store.find_work(&work) else {
            return;
        };
        for to in to {
            self.last_sent.push(to);
            self.enqueue_dat(to, slot);
        }
        let peers = self.last_sent.len();
        self.notes.event(|| Note::Put { work, peers });
    }

    /// Loads a dat from storage (a backup file, or a restarted simulated
    /// node): checked exactly like a received PUT, stored without being
    /// sent anywhere, and not counted as novel. Stale dats are refused.
    pub fn restore(&mut self, m: &Msg<'_>) -> Result<[u8; 32], PutError> {
        self.restore_checked(m, true)
    }

    /// Like [`Node::restore`], for a dat whose signature the caller has
    /// already verified strictly (with [`check_put`]); everything else is
    /// checked again.
    pub fn restore_preverified(&mut self, m: &Msg<'_>) -> Result<[u8; 32], PutError> {
        self.restore_checked(m, false)
    }

    fn restore_checked(&mut self, m: &Msg<'_>, sig: bool) -> Result<[u8; 32], PutError> {
        let m = Put::from_msg(m).map_err(|e| PutError::Invalid(e.into()))?;
        if self.store.find_work(m.work).is_some() {
            return Ok(*m.work);
        }
        let d = check_put(&m, self.now_ms, &self.cfg, sig).map_err(PutError::Invalid)?;
        let work = *m.work;
        let now_ms = self.now_ms;
        match self.store.insert(&m, d, now_ms) {
            Insert::Stale => Err(PutError::Invalid(Reason::Stale)),
            _ => Ok(work),
        }
    }

    /// Hands every novel dat since the last call to `f` (as its canonical
    /// PUT encoding), oldest first. Only with `Config::track_novel`; a dat
    /// pruned or replaced before the call is skipped (its successor is
    /// handed over in its turn).
    pub fn drain_novel(&mut self, mut f: impl FnMut(&[u8])) {
        for i in 0..self.novel_log.len() {
            if let Some(slot) = self.store.find_work(&self.novel_log[i]) {
                f(self.store.record(slot));
            }
        }
        self.novel_log.clear();
    }

    /// True (once) when more novel dats arrived between two drains than the
    /// log holds: the caller must save the whole store instead.
    pub fn take_novel_overflow(&mut self) -> bool {
        std::mem::take(&mut self.novel_overflow)
    }

    /// Adds a peer to be pinged (a peer remembered from an earlier run);
    /// false if it is known, is this node, or the table is full.
    pub fn add_peer(&mut self, a: SocketAddr) -> bool {
        let a = canonical(a);
        if self.is_self(a) || self.peers.find(a).is_some() {
            return false;
        }
        self.peers.add(a, self.epoch, false).is_some()
    }

    /// Sends a GETPEER to every known peer now, as the node does for a
    /// silent one every PING epochs. A client that spreads a transfer over
    /// many peers calls it to meet them sooner: a busy edge is never
    /// silent, so it would otherwise be asked only once.
    pub fn ask_peers(&mut self) {
        for i in 0..self.peers.len() {
            self.ping(i);
        }
    }

    /// Starts an application GET. Answered from the store at once when
    /// possible (unless `network_only`), otherwise sent to FANOUT peers now
    /// and again every few PULL periods until found or timed out.
    pub fn get(&mut self, query: Query, opts: GetOpts) -> Result<GetId, GetError> {
        self.get_from(query, opts, None)
    }

    /// Like [`Node::get`], but asks only `to` (now, and again every few PULL
    /// periods until the timeout). A caller that keeps many GETs open
    /// spreads them over its peers itself, and asks another peer after a
    /// timeout.
    pub fn get_to(
        &mut self,
        query: Query,
        opts: GetOpts,
        to: SocketAddr,
    ) -> Result<GetId, GetError> {
        self.get_from(query, opts, Some(canonical(to)))
    }

    fn get_from(
        &mut self,
        query: Query,
        opts: GetOpts,
        to: Option<SocketAddr>,
    ) -> Result<GetId, GetError> {
        let id = self.next_get_id;
        if !opts.network_only {
            if let Some(slot) = self.lookup(&query) {
                self.next_get_id += 1;
                let work = self.store.meta(slot).work;
                self.push_event(Event::Got {
                    id,
                    work,
                    from: None,
                });
                return Ok(id);
            }
        }
        if self.gets.len() >= self.cfg.max_gets {
            return Err(GetError::Busy);
        }
        self.next_get_id += 1;
        let p = Pending {
            id,
            query,
            deadline: self.epoch.saturating_add(opts.timeout_epochs),
            next_send: self.epoch + GET_RESEND_PULLS * self.cfg.pull_epochs,
            avoid: opts.avoid,
            to,
        };
        self.gets.push(p);
        self.send_get(&p);
        Ok(id)
    }

    /// Abandons an application GET.
    pub fn cancel(&mut self, id: GetId) {
        self.gets.retain(|g| g.id != id);
    }

    fn lookup(&self, q: &Query) -> Option<u32> {
        match q {
            Query::Work(w) => self.store.find_work(w),
            Query::Name {
                pubkey,
                key,
                key_len,
            } => self.store.find_name(pubkey, &key[..*key_len as usize]),
        }
    }

    fn send_get(&mut self, g: &Pending) {
        let targets = match g.to {
            Some(to) => {
                let mut t = [None; MAX_FANOUT];
                t[0] = Some(to);
                t
            }
            None => self.app_targets(&g.avoid),
        };
        let (work, pubkey, key): (&[u8], &[u8], &[u8]) = match &g.query {
            Query::Work(w) => (w, &[], &[]),
            Query::Name {
                pubkey,
                key,
                key_len,
            } => (&[], pubkey, &key[..*key_len as usize]),
        };
        let m = Msg {
            op: Op::Get,
            work,
            pubkey,
            key,
            ..Msg::default()
        };
        for to in targets.into_iter().flatten() {
            self.enqueue(to, &m);
        }
    }

    /// True when the PUT `m` would answer a pending application GET.
    fn answers_pending(&self, m: &Put<'_>) -> bool {
        self.gets.iter().any(|g| match &g.query {
            Query::Work(w) => m.work == w,
            Query::Name {
                pubkey,
                key,
                key_len,
            } => m.pubkey == pubkey && m.key == &key[..*key_len as usize],
        })
    }

    /// Completes pending GETs that the dat in `slot` (just received from
    /// `from`) answers.
    fn answer_gets(&mut self, slot: u32, from: SocketAddr) {
        let work = self.store.meta(slot).work;
        let mut i = 0;
        while i < self.gets.len() {
            let g = self.gets[i];
            let hit = match &g.query {
                Query::Work(w) => *w == work,
                Query::Name { .. } => self.lookup(&g.query) == Some(slot),
            };
            if hit {
                self.gets.swap_remove(i);
                self.push_event(Event::Got {
                    id: g.id,
                    work,
                    from: Some(from),
                });
            } else {
                i += 1;
            }
        }
    }

    fn novel(&mut self, work: [u8; 32]) {
        self.stats.puts_novel += 1;
        if self.cfg.track_novel {
            if self.novel_log.len() < NOVEL_LOG {
                self.novel_log.push(work);
            } else {
                self.novel_overflow = true;
            }
        }
        let cap = self.cfg.ring;
        if self.ring.len() < cap {
            self.ring.push(work);
        } else {
            self.ring[self.ring_head] = work;
        }
        self.ring_head = (self.ring_head + 1) % cap;
    }

    // ---- receiving ----

    /// Handles one datagram from `src`.
    pub fn handle_packet(&mut self, src: SocketAddr, bytes: &[u8]) {
        let src = canonical(src);
        self.stats.packets_in += 1;
        self.stats.bytes_in += bytes.len() as u64;
        let m = match wire::decode(bytes) {
            Ok(m) => m,
            Err(e) => {
                self.stats.drops[Reason::Decode(e).index()] += 1;
                self.notes.event(|| Note::Dropped {
                    reason: Reason::Decode(e),
                    src,
                    bytes: bytes.len(),
                });
                return;
            }
        };
        let op = m.op();
        match self.filter.check(filter::filter_key(src, op)) {
            Verdict::Pass => {}
            // A PUT that answers one of our own GETs was asked for: it
            // passes (at most once per GET, since the answer completes it),
            // so a peer's gossip cannot crowd out its answers.
            Verdict::Seen if matches!(m, Packet::Put(p) if self.answers_pending(&p)) => {}
            Verdict::Seen => {
                self.stats.drops[Reason::Filter.index()] += 1;
                self.notes.event(|| Note::Dropped {
                    reason: Reason::Filter,
                    src,
                    bytes: bytes.len(),
                });
                return;
            }
            // The key was placed but another was evicted: count, and go on.
            Verdict::Full => self.stats.filter_saturated += 1,
        }
        if self.is_self(src) {
            return self.drop_packet(Reason::FromSelf, src);
        }
        self.stats.in_by_op[op] += 1;
        match m {
            Packet::Getpeer => self.on_getpeer(src),
            Packet::Peer(l) => self.on_peer(src, &l),
            Packet::Put(p) => self.on_put(src, &p),
            Packet::Get(g) => self.on_get(src, g),
        }
    }

    /// Marks `src` seen, adding it to the table if there is room.
    fn saw(&mut self, src: SocketAddr) -> Option<usize> {
        let now = self.epoch;
        let i = match self.peers.find(src) {
            Some(i) => i,
            None => match self.peers.add(src, now, false) {
                Some(i) => {
                    self.stats.peers_added += 1;
                    self.notes.event(|| Note::PeerAdded(src));
                    i
                }
                None => {
                    self.stats.peers_full += 1;
                    return None;
                }
            },
        };
        self.peers.get_mut(i).seen = now;
        Some(i)
    }

    fn on_getpeer(&mut self, src: SocketAddr) {
        self.saw(src);
        let now = self.epoch;
        let open = self.cfg.open_epochs;
        let mut m = Msg::op(Op::Peer);
        // Reservoir-sample up to NPEER peers seen within OPEN epochs.
        let mut seen = 0u64;
        for i in 0..self.peers.len() {
            let p = *self.peers.get(i);
            if p.addr == src || p.silence(now) > open {
                continue;
            }
            seen += 1;
            if (m.npds as usize) < NPEER {
                m.pds[m.npds as usize] = Pd::from_addr(p.addr);
                m.npds += 1;
            } else {
                let r = self.rand() % seen;
                if (r as usize) < NPEER {
                    m.pds[r as usize] = Pd::from_addr(p.addr);
                }
            }
        }
        self.enqueue(src, &m);
    }

    fn on_peer(&mut self, src: SocketAddr, m: &PeerList) {
        let Some(i) = self.peers.find(src) else {
            return self.drop_packet(Reason::Unsolicited, src);
        };
        if !self.peers.get(i).awaiting_peer {
            return self.drop_packet(Reason::Unsolicited, src);
        }
        let now = self.epoch;
        {
            let p = self.peers.get_mut(i);
            p.awaiting_peer = false;
            p.seen = now;
        }
        for pd in m.as_slice() {
            let a = pd.addr();
            if self.is_self(a) || !scope_allows(src.ip(), a.ip()) || self.peers.find(a).is_some() {
                self.stats.pds_refused += 1;
                continue;
            }
            if self.peers.add(a, now, false).is_some() {
                self.stats.peers_added += 1;
                self.notes
                    .event(|| Note::PeerLearned { addr: a, from: src });
            } else {
                self.stats.peers_full += 1;
            }
        }
    }

    fn on_get(&mut self, src: SocketAddr, m: Get<'_>) {
        self.saw(src);
        let slot = match m {
            Get::Work(w) => self.store.find_work(w),
            Get::Name { pubkey, key } => self.store.find_name(pubkey, key),
        };
        match slot {
            Some(s) => {
                self.stats.gets_answered += 1;
                self.enqueue_dat(src, s);
            }
            None => self.drop_packet(Reason::GetMiss, src),
        }
    }

    fn on_put(&mut self, src: SocketAddr, m: &Put<'_>) {
        let work = m.work;
        if let Some(slot) = self.store.find_work(work) {
            self.stats.puts_known += 1;
            self.saw(src);
            if !self.gets.is_empty() {
                self.answer_gets(slot, src);
            }
            return;
        }
        // Everything cheap first; the signature (about 33 µs) last.
        let d = match check_put(m, self.now_ms, &self.cfg, false) {
            Ok(d) => d,
            Err(r) => return self.drop_packet(r, src),
        };
        // Sources that earned trust (sent valid novel dats) are checked as
        // they come; all others share a budget of checks, so a flood of
        // forged signatures costs a bounded share of a core.
        let sender = self.peers.find(src);
        let trusted = sender.is_some_and(|i| self.peers.get(i).trust > 0.0);
        if !trusted {
            if self.verify_tokens == 0 {
                return self.drop_packet(Reason::VerifyBudget, src);
            }
            self.verify_tokens -= 1;
        }
        if !pow::verify(m.pubkey, work, m.sig) {
            // An honest peer only relays dats it verified: one that sends a
            // bad signature loses its trust (and with it the fast lane).
            if let Some(i) = sender {
                self.peers.get_mut(i).trust = 0.0;
            }
            return self.drop_packet(Reason::BadSig, src);
        }
        let now_ms = self.now_ms;
        let ins = self.store.insert(m, d, now_ms);
        let peer = self.saw(src);
        if !ins.is_novel() {
            return self.drop_packet(Reason::Stale, src);
        }
        self.novel(*work);
        if let Some(i) = peer {
            self.peers.get_mut(i).trust += pow::mass_f64(d, m.time_ms(), now_ms);
        }
        let val_len = m.val.len();
        self.notes.event(|| Note::Novel {
            work: *work,
            difficulty: d,
            val_len,
            from: src,
        });
        if !self.gets.is_empty() {
            if let Some(slot) = self.store.find_work(work) {
                self.answer_gets(slot, src);
            }
        }
    }
}
