//! The protocol core: a pure, clock-free, allocation-free state machine.
//!
//! Time comes in through [`Node::handle_tick`], datagrams through
//! [`Node::handle_packet`], application requests through [`Node::put`] and
//! [`Node::get`]. Datagrams leave through a fixed outbox drained with
//! [`Node::peek_transmit`] and [`Node::pop_transmit`]; results leave as
//! [`Event`]s. Everything is allocated in [`Node::new`].

use crate::candidates::Candidates;
use crate::config::{
    Config, ConfigError, CANDIDATES, EVENT_SLOTS, GET_RESEND_PULLS, REPLY_RECENT, REPLY_REPEATS,
    REPLY_REPEAT_EPOCHS, REPLY_SHARE_BURST, REPLY_SHARE_SPLIT,
};
use crate::cookie::Secrets;
use crate::filter::{self, PacketFilter, Verdict};
use crate::index::KeyedHash;
use crate::note::{Note, Notes};
use crate::peers::{canonical, scope_allows, Admit, Contest, Peer, Peers, NEVER, REPLY_SHARES};
use crate::pow;
pub use crate::reason::{Reason, REASONS};
use crate::store::{Insert, Store};
use crate::wire::{
    self, Cookie, Get, Hex, Msg, Op, Packet, Pd, PeerList, PerOp, Put, DATAGRAM_MAX, KEY_MAX,
    NPEER, PACKET_MAX,
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

mod app;
mod outbox;
mod recv;
mod stats;
mod tick;

use app::Pending;
pub use app::{Event, GetError, GetId, GetOpts, PutError, Query};
use outbox::Outbox;
pub use recv::check_put;
pub use stats::Stats;

/// A fresh dat waiting to be pushed.
#[derive(Clone, Copy)]
struct Fresh {
    work: [u8; 32],
    /// The peer it came from (split horizon), if any.
    from: Option<SocketAddr>,
    /// Pushes left.
    left: u32,
}

/// Pulls remembered, for PULL_CREDIT: a pull is answered within a few
/// link latencies, and the node pulls once per PULL epochs.
const PULLS: usize = 8;

/// A pull sent: to whom, for which name (a hash of pubkey and key).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Pull {
    to: Option<SocketAddr>,
    name: u64,
}

impl Pull {
    const NONE: Pull = Pull { to: None, name: 0 };
}

/// A dat's name as 64 bits, to match a pull with its answer.
fn name_hash(pubkey: &[u8; 32], key: &[u8]) -> u64 {
    use std::hash::Hasher;
    let mut h = fnv::FnvHasher::default();
    h.write(pubkey);
    h.write(key);
    h.finish()
}

/// An address recently asked for a cookie without having proved it
/// receives (docs/protocol.md 5.3).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Recent {
    /// The high half of the address's keyed hash.
    pub(crate) tag: u32,
    /// Cookies sent it since `since`.
    pub(crate) answered: u16,
    /// Asks refused since `since`.
    pub(crate) refused: u16,
    /// The epoch its window began.
    pub(crate) since: u64,
    /// The first epoch it is considered again after a refusal.
    pub(crate) next: u64,
}

/// A Dave node.
pub struct Node {
    cfg: Config,
    rng: Xoshiro256PlusPlus,
    store: Store,
    peers: Peers,
    filter: PacketFilter,
    /// Fresh dats with pushes left, newest at the back (docs/protocol.md 5.5).
    ring: VecDeque<Fresh>,
    /// Our latest pulls, so that an answer earns its sender PULL_CREDIT.
    pulls: [Pull; PULLS],
    pull_cursor: usize,
    clocks: tick::Clocks,
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
    /// The next bucket whose rank seed is redrawn.
    reseed_cursor: usize,
    /// Replies the node may still send to unvalidated addresses (refilled
    /// one per `Config::unvalidated_reply_epochs`, up to
    /// `Config::unvalidated_replies`).
    reply_tokens: u64,
    /// Each share's theoretical arrival time (GCRA): a group's replies to
    /// unproven addresses take at most a [`REPLY_SHARE_SPLIT`]-th of the
    /// budget's rate, with a burst of [`REPLY_SHARE_BURST`].
    reply_shares: [u64; REPLY_SHARES],
    /// Addresses that recently asked for a cookie without having proved
    /// they receive, by a keyed hash of the address (a newer one takes an
    /// older one's entry).
    reply_recent: Vec<Recent>,
    secrets: Secrets,
    candidates: Candidates,
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
        let place = KeyedHash::new(rng.next_u64(), rng.next_u64());
        let mut peers = Peers::new(
            cfg.max_peers,
            cfg.edges.len(),
            KeyedHash::new(k0, k1),
            place,
        );
        for b in 0..peers.buckets() {
            peers.reseed(b, rng.next_u64());
        }
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        // Edges are candidates until their PEER answer validates them.
        let mut candidates = Candidates::new(CANDIDATES.max(cfg.edges.len()));
        for e in &cfg.edges {
            candidates.add(canonical(*e), true, 0);
        }
        Node {
            reply_tokens: cfg.unvalidated_replies,
            reply_shares: [0; REPLY_SHARES],
            reply_recent: vec![Recent::default(); REPLY_RECENT],
            reseed_cursor: 0,
            secrets: Secrets::new(secret),
            candidates,
            rng,
            store: Store::new(cfg.dat_cap, cfg.dat_slack, KeyedHash::new(k2, k3)),
            peers,
            filter: PacketFilter::new(cfg.filter_cap),
            ring: VecDeque::with_capacity(cfg.ring),
            pulls: [Pull::NONE; PULLS],
            pull_cursor: 0,
            clocks: tick::Clocks::new(&cfg),
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

    /// Candidates: addresses asked for a handshake that have not answered
    /// yet (docs/protocol.md 5.3).
    pub fn candidates(&self) -> usize {
        self.candidates.len()
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
        // Not in check_bounds, which the simulator runs after every event:
        // up to 64 lookups each time were a quarter of a 2,000-node run.
        for c in self.candidates.iter() {
            if self.peers.find(c.addr).is_some() {
                return Err(format!("{} is both a candidate and a peer", c.addr));
            }
        }
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

    /// Queues `m` for `to`, quoting our token for `to` if we hold one.
    fn enqueue(&mut self, to: SocketAddr, m: &Msg<'_>) {
        let token = self.token_for(to);
        match &token {
            Some(t) => self.enqueue_raw(to, &Msg { token: t, ..*m }),
            None => self.enqueue_raw(to, m),
        }
    }

    /// The token we quote to `to`: the latest cookie it issued us.
    fn token_for(&self, to: SocketAddr) -> Option<Cookie> {
        self.peers.find(to).and_then(|i| self.peers.get(i).token)
    }

    /// Queues `m` for `to` as it is.
    fn enqueue_raw(&mut self, to: SocketAddr, m: &Msg<'_>) {
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
        let token = self.token_for(to);
        self.enqueue_dat_with(to, token, slot);
    }

    /// Queues stored dat `slot` for peer `pi` of the table (its token is
    /// at hand: no lookup).
    fn enqueue_dat_to(&mut self, pi: usize, slot: u32) {
        let p = self.peers.get(pi);
        let (to, token) = (p.addr, p.token);
        self.enqueue_dat_with(to, token, slot);
    }

    fn enqueue_dat_with(&mut self, to: SocketAddr, token: Option<Cookie>, slot: u32) {
        let Some((i, buf)) = self.outbox.next_free() else {
            self.stats.outbox_full += 1;
            return;
        };
        let rec = self.store.record(slot);
        let mut n = rec.len();
        buf[..n].copy_from_slice(rec);
        // The stored record is a complete message; the token is one more
        // field at its end (the outbox slot has room for it).
        if let Some(t) = &token {
            n += wire::write_token(&mut buf[n..], t).unwrap_or(0);
        }
        self.outbox.commit(i, to, n);
        self.stats.packets_out += 1;
        self.stats.bytes_out += n as u64;
        self.stats.out_by_op[Op::Put] += 1;
    }
}
