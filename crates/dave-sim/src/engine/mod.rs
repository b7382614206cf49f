//! The network engine: [`Sim`], its members, the wheel of datagrams in
//! flight, and the epoch step with its three phases (scheduled events;
//! each node's tick and deliveries; routing). Phase 2 is here; the other
//! jobs of the engine are its submodules.

mod check;
mod dats;
mod hostile;
mod observe;
mod route;
mod schedule;
mod sybil;

pub use dats::Tracked;
pub(crate) use observe::{all_hold, all_honest_hold};
pub use sybil::SybilStats;

use crate::addr::{clustered_addr, ip_of, node_addr, v6_addr};
use crate::config::SimConfig;
use crate::config::SybilAddrs;
use crate::error::SimError;
use crate::event_log::{log_event, push_rec, rec, Log};
use dats::{Signer, WRITERS};
use dave_core::splitmix;
use dave_core::wire::{self, Msg, Op};
use dave_core::{Config, Dat, Event, Node, Now};
use ed25519_dalek::SigningKey;
use hostile::Attack;
use rand_xoshiro::rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use schedule::Action;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;

/// The wall clock at epoch 0, in ms since the Unix epoch (21 November 2025).
const T0_MS: u64 = 1_763_700_000_000;

/// "Never" for epoch fields.
pub const NEVER: u64 = u64::MAX;

/// Outbox slots per simulated node: the simulator drains the outbox after
/// every event, so a handful would do; 64 keeps memory low at 5000 nodes.
const SIM_OUTBOX_SLOTS: usize = 64;

#[derive(Clone, Copy)]
struct Hdr {
    to: u32,
    from: SocketAddr,
    from_id: u32,
    off: u32,
    len: u16,
}

/// Datagrams that arrive in one epoch.
#[derive(Default)]
struct Bucket {
    hdrs: Vec<Hdr>,
    bytes: Vec<u8>,
}

/// What one chunk of nodes produced in phase 2.
#[derive(Default)]
struct Out {
    sends: Vec<(u32, SocketAddr, u32, u16)>,
    bytes: Vec<u8>,
    log: Vec<u8>,
    events: Vec<(u32, Event)>,
    arrivals: Vec<(u32, u32, u32)>,
    ticks: u64,
    delivered: u64,
    to_down: u64,
    novel_pkts: u64,
    novel_bytes: u64,
    error: Option<(u32, String)>,
}

impl Out {
    fn clear(&mut self) {
        self.sends.clear();
        self.bytes.clear();
        self.log.clear();
        self.events.clear();
        self.arrivals.clear();
        self.error = None;
    }
}

struct Member {
    node: Option<Node>,
    addr: SocketAddr,
    up: bool,
    incarnation: u32,
    side: bool,
    /// Which epochs are this node's wakes (`(e + phase) % batch == 0`).
    phase: u64,
    edges: Vec<SocketAddr>,
    /// First epoch each tracked dat was held by this member's store (reset
    /// when it restarts without its store).
    got: Vec<u64>,
    /// Who delivered that first copy (an event-log id).
    got_from: Vec<u32>,
    /// An attacker (see [`SybilMode`](crate::SybilMode)).
    sybil: bool,
}

/// Counters of the whole network, kept by the simulator itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Node ticks run.
    pub ticks: u64,
    /// Datagrams handed to a node.
    pub delivered: u64,
    /// Datagrams sent by nodes.
    pub sent: u64,
    /// Datagrams lost on the way.
    pub lost: u64,
    /// Datagrams duplicated.
    pub duplicated: u64,
    /// Datagrams cut by a partition.
    pub cut: u64,
    /// Datagrams that arrived at a node that was down.
    pub to_down: u64,
    /// Datagrams sent to addresses advertised by hostile PEERs, by op.
    pub to_phantom: [u64; 4],
    /// Datagrams sent to forged sources, by op (reflection).
    pub to_spoofed: [u64; 4],
    /// Bytes sent to forged sources, by op.
    pub to_spoofed_bytes: [u64; 4],
    /// Datagrams sent to hostile senders.
    pub to_hostile: u64,
    /// Datagrams hostile senders sent.
    pub hostile_sent: u64,
    /// Bytes hostile senders sent.
    pub hostile_bytes: u64,
    /// Bytes of forged GETs sent for reflection.
    pub reflect_bytes: u64,
    /// Datagrams that stored a novel dat.
    pub novel_pkts: u64,
    /// Bytes of those datagrams.
    pub novel_bytes: u64,
    /// Crashes.
    pub crashes: u64,
    /// Restarts (with store, without).
    pub restarts: [u64; 2],
    /// Late joins.
    pub joins: u64,
    /// Dats written by the background stream.
    pub writes: u64,
    /// Sum of the difficulty of those dats.
    pub write_bits: u64,
    /// Full invariant checks run.
    pub checks: u64,
}

/// The simulator.
pub struct Sim {
    cfg: SimConfig,
    rng: Xoshiro256PlusPlus,
    members: Vec<Member>,
    wheel: Vec<Bucket>,
    sched: BinaryHeap<Reverse<(u64, u64, Action)>>,
    seq: u64,
    epoch: u64,
    pub(crate) dat_cap: usize,
    threads: usize,
    outs: Vec<Out>,
    log: Log,
    lat_key: u64,
    net: NetStats,
    writers: Vec<SigningKey>,
    next_key: u64,
    write_acc: u128,
    split: bool,
    check_cursor: usize,
    tracked: Vec<Tracked>,
    active: Vec<u32>,
    events: Vec<(usize, Event, u64)>,
    hostile_next: Vec<u64>,
    hostile_pool: Vec<Vec<u8>>,
    hostile_kinds: Vec<Attack>,
    capture: Vec<Vec<u8>>,
    capture_n: u64,
    scratch: Vec<u8>,
    sybils: Vec<u32>,
    /// Node ids by address (the address plan is not a formula).
    ids: fnv::FnvHashMap<u32, u32>,
    sybil_key: SigningKey,
    sybil_acc: u128,
    sybil_stats: SybilStats,
}

fn rand_below(rng: &mut Xoshiro256PlusPlus, n: u64) -> u64 {
    ((rng.next_u64() as u128 * n as u128) >> 64) as u64
}

fn chance(rng: &mut Xoshiro256PlusPlus, ppm: u32) -> bool {
    ppm > 0 && rand_below(rng, 1_000_000) < ppm as u64
}

fn derive(seed: u64, a: u64, b: u64) -> u64 {
    splitmix(splitmix(seed ^ splitmix(a)) ^ b)
}

fn op_of(bytes: &[u8]) -> Option<Op> {
    wire::decode(bytes).ok().map(|m| m.op())
}

fn encode(m: &Msg<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; wire::MTU];
    let n = wire::encode_into(m, &mut buf).expect("a simulated message fits");
    buf.truncate(n);
    buf
}

fn dat_packet(d: &Dat) -> Vec<u8> {
    let t = d.time_ms.to_le_bytes();
    encode(&d.msg(&t))
}

impl Sim {
    /// Builds the network at epoch 0: every node that does not join late is
    /// started and given the background dats. `threads` only sets how many
    /// cores phase 2 and the preload use; results do not depend on it.
    pub fn new(cfg: &SimConfig, threads: usize) -> Result<Sim, SimError> {
        let fail = |msg: String| SimError {
            epoch: 0,
            msg,
            replay: cfg.replay(),
        };
        cfg.validate().map_err(fail)?;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(cfg.seed);
        let threads = threads.clamp(1, 64).min(cfg.nodes);
        let lat_max_us = cfg.latency_us * 3 / 2 + 2 * cfg.jitter_us;
        // Room for the slowest datagram plus the wait for its node's wake.
        let wheel = (us_to_epochs(lat_max_us, cfg.epoch_ns) + cfg.batch.max(1) + 2)
            .next_power_of_two() as usize;
        let writers = (0..WRITERS as u64)
            .map(|w| {
                let mut k = [0u8; 32];
                for (j, c) in k.chunks_mut(8).enumerate() {
                    c.copy_from_slice(&derive(cfg.seed, 0x5717e5 + w, j as u64).to_le_bytes());
                }
                SigningKey::from_bytes(&k)
            })
            .collect();
        let joiners: Vec<bool> = (0..cfg.nodes)
            .map(|i| i > cfg.edges && chance(&mut rng, cfg.join_ppm))
            .collect();
        let first: Vec<usize> = (0..cfg.nodes).filter(|&i| !joiners[i]).collect();
        let mut members = Vec::with_capacity(cfg.nodes);
        for (i, &late) in joiners.iter().enumerate() {
            let mut edges = Vec::new();
            let pool = first.len().saturating_sub(usize::from(!late));
            let want = cfg.edges.min(pool);
            while edges.len() < want {
                let j = first[rand_below(&mut rng, first.len() as u64) as usize];
                let a = node_addr(j);
                if j != i && !edges.contains(&a) {
                    edges.push(a);
                }
            }
            members.push(Member {
                node: None,
                addr: node_addr(i),
                up: false,
                incarnation: 0,
                side: false,
                phase: derive(cfg.seed, 0xba7c4, i as u64) % cfg.batch.max(1),
                edges,
                got: Vec::new(),
                got_from: Vec::new(),
                sybil: false,
            });
        }
        let mut sim = Sim {
            dat_cap: cfg.effective_dat_cap(),
            cfg: cfg.clone(),
            lat_key: rng.next_u64(),
            rng,
            members,
            wheel: (0..wheel).map(|_| Bucket::default()).collect(),
            sched: BinaryHeap::new(),
            seq: 0,
            epoch: 0,
            threads,
            outs: (0..threads).map(|_| Out::default()).collect(),
            log: Log {
                hasher: blake3::Hasher::new(),
                buf: Vec::new(),
                records: 0,
                text: None,
                epoch: 0,
            },
            net: NetStats::default(),
            writers,
            next_key: 0,
            write_acc: 0,
            split: false,
            check_cursor: 0,
            tracked: Vec::new(),
            active: Vec::new(),
            events: Vec::new(),
            hostile_next: Vec::new(),
            hostile_pool: Vec::new(),
            hostile_kinds: Vec::new(),
            capture: Vec::new(),
            capture_n: 0,
            scratch: Vec::new(),
            sybils: Vec::new(),
            ids: (0..cfg.nodes as u32)
                .map(|i| (ip_of(node_addr(i as usize)), i))
                .collect(),
            sybil_key: SigningKey::from_bytes(&[0x5b; 32]),
            sybil_acc: 0,
            sybil_stats: SybilStats::default(),
        };
        // The attackers: a uniform sample of the nodes (a partial shuffle).
        let k = cfg.sybil_nodes();
        if k > 0 {
            let mut idx: Vec<u32> = (0..cfg.nodes as u32).collect();
            for j in 0..k {
                let r = j + sim.below((cfg.nodes - j) as u64) as usize;
                idx.swap(j, r);
            }
            let mut chosen = idx[..k].to_vec();
            chosen.sort_unstable();
            for &i in &chosen {
                sim.members[i as usize].sybil = true;
            }
            sim.sybils = chosen;
        }
        // The address plan: clustered attackers move into four groups, v6
        // ones into one IPv6 /64, and the edges that named them follow.
        let plan: Option<fn(usize) -> SocketAddr> = match cfg.sybil_addrs {
            SybilAddrs::Spread => None,
            SybilAddrs::Clustered => Some(clustered_addr),
            SybilAddrs::V6 => Some(v6_addr),
        };
        if let Some(addr) = plan {
            let moved: Vec<(SocketAddr, SocketAddr)> = sim
                .sybils
                .iter()
                .enumerate()
                .map(|(k, &i)| (node_addr(i as usize), addr(k)))
                .collect();
            for &(old, new) in &moved {
                let i = sim.ids[&ip_of(old)];
                sim.members[i as usize].addr = new;
                sim.ids.remove(&ip_of(old));
                sim.ids.insert(ip_of(new), i);
            }
            for m in &mut sim.members {
                for e in &mut m.edges {
                    if let Some(&(_, new)) = moved.iter().find(|(old, _)| old == e) {
                        *e = new;
                    }
                }
            }
        }
        for (i, &late) in joiners.iter().enumerate() {
            if late {
                let span = (cfg.epochs / 2).max(1);
                let at = cfg.warmup_epochs + 1 + sim.below(span);
                sim.schedule(at, Action::Join(i as u32));
            } else if cfg.sybil_lead > 0 && !sim.members[i].sybil {
                // The attackers start first; the honest nodes come later.
                sim.schedule(cfg.sybil_lead, Action::Join(i as u32));
            } else {
                sim.start(i, false);
            }
        }
        sim.preload()?;
        if cfg.churn_ppm > 0 {
            for i in 0..cfg.nodes {
                let at = cfg.warmup_epochs + 1 + sim.uptime();
                sim.schedule(at, Action::Crash(i as u32));
            }
        }
        if let Some((at, len)) = cfg.partition {
            let s = cfg.warmup_epochs + at.max(1);
            sim.schedule(s, Action::Split);
            sim.schedule(s + len.max(1), Action::Heal);
        }
        sim.init_hostiles();
        Ok(sim)
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.cfg
    }

    /// The current epoch.
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// The time as nodes are told it at epoch `e`.
    pub fn now_at(&self, e: u64) -> Now {
        Now {
            epoch: e,
            unix_ms: T0_MS + (e as u128 * self.cfg.epoch_ns as u128 / 1_000_000) as u64,
        }
    }

    /// Network counters.
    pub fn net(&self) -> &NetStats {
        &self.net
    }

    /// Nodes (members) in the simulation, up or not.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// True when there are no members (never, once built).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    fn below(&mut self, n: u64) -> u64 {
        rand_below(&mut self.rng, n)
    }

    fn err(&self, msg: String) -> SimError {
        SimError {
            epoch: self.epoch,
            msg,
            replay: self.cfg.replay(),
        }
    }

    fn node_config(&self, i: usize, incarnation: u32) -> Config {
        let mut c = Config::default().with_dat_cap(self.dat_cap);
        c.exchange_epochs = self.cfg.exchange;
        if self.members[i].sybil && self.cfg.sybil_rate > 1 {
            c.ping_epochs = (c.ping_epochs / self.cfg.sybil_rate).max(1);
            if c.exchange_epochs > 0 {
                c.exchange_epochs = (c.exchange_epochs / self.cfg.sybil_rate).max(1);
            }
        }
        c.epoch_ns = self.cfg.epoch_ns;
        c.filter_cap = self.cfg.filter_cap;
        c.outbox_slots = SIM_OUTBOX_SLOTS;
        c.probe = self.cfg.probe;
        c.pushes = self.cfg.pushes;
        c.own_pushes = self.cfg.own_pushes;
        c.fanout = self.cfg.fanout;
        c.trust_half_epochs = self.cfg.trust_half;
        c.pull_credit = self.cfg.pull_credit;
        c.max_peers = self.cfg.max_peers;
        c.seed = derive(self.cfg.seed, i as u64, incarnation as u64);
        c.edges = self.members[i].edges.clone();
        c
    }

    /// Runs until epoch `e`.
    pub fn run_until(&mut self, e: u64) -> Result<(), SimError> {
        while self.epoch < e {
            self.step()?;
        }
        Ok(())
    }

    /// Runs one epoch.
    pub fn step(&mut self) -> Result<(), SimError> {
        let e = self.epoch + 1;
        self.epoch = e;
        self.log.add(rec::EPOCH, e as u32, (e >> 32) as u32, 0);
        self.scheduled(e)?;
        self.stream(Signer::Writer)?;
        self.stream(Signer::Attacker)?;
        self.hostiles(e);
        self.eclipse(e);
        let slot = (e as usize) & (self.wheel.len() - 1);
        let mut bucket = std::mem::take(&mut self.wheel[slot]);
        // Stable: datagrams for one node keep the order they were sent in.
        bucket.hdrs.sort_by_key(|h| h.to);
        self.phase_nodes(e, &bucket);
        bucket.hdrs.clear();
        bucket.bytes.clear();
        self.wheel[slot] = bucket;
        self.route(e)?;
        if self.cfg.check_every > 0 && e % self.cfg.check_every == 0 {
            self.check_one()?;
        }
        if self.log.buf.len() > 1 << 16 {
            self.log.flush_buf();
        }
        Ok(())
    }

    fn phase_nodes(&mut self, e: u64, bucket: &Bucket) {
        let now = self.now_at(e);
        let n = self.members.len();
        let chunk = n.div_ceil(self.threads);
        for o in &mut self.outs {
            o.clear();
        }
        let tracked: Vec<(u32, [u8; 32])> = self
            .active
            .iter()
            .map(|&k| (k, self.tracked[k as usize].dat.work))
            .collect();
        let hdrs = &bucket.hdrs;
        let bytes = &bucket.bytes[..];
        let batch = self.cfg.batch;
        if self.threads == 1 {
            work(
                &mut self.members,
                0,
                hdrs,
                bytes,
                now,
                &tracked,
                batch,
                &mut self.outs[0],
            );
            return;
        }
        let tracked = &tracked;
        std::thread::scope(|s| {
            let mut jobs = self
                .members
                .chunks_mut(chunk)
                .zip(self.outs.iter_mut())
                .enumerate()
                .map(|(c, (ms, out))| {
                    let base = (c * chunk) as u32;
                    let lo = hdrs.partition_point(|h| h.to < base);
                    let hi = hdrs.partition_point(|h| h.to < base + ms.len() as u32);
                    (base, ms, &hdrs[lo..hi], out)
                })
                .collect::<Vec<_>>();
            let first = jobs.remove(0);
            for (base, ms, h, out) in jobs {
                s.spawn(move || work(ms, base, h, bytes, now, tracked, batch, out));
            }
            let (base, ms, h, out) = first;
            work(ms, base, h, bytes, now, tracked, batch, out);
        });
    }
}

fn us_to_epochs(us: u64, epoch_ns: u64) -> u64 {
    (us as u128 * 1000).div_ceil(epoch_ns.max(1) as u128).max(1) as u64
}

/// Phase 2 for one chunk of members: tick each up node, then hand it the
/// datagrams that arrive for it this epoch; drain everything it sends.
// The arguments are the disjoint pieces each thread borrows; a struct would
// only rename them.
#[allow(clippy::too_many_arguments)]
fn work(
    members: &mut [Member],
    base: u32,
    hdrs: &[Hdr],
    bytes: &[u8],
    now: Now,
    tracked: &[(u32, [u8; 32])],
    batch: u64,
    out: &mut Out,
) {
    let mut p = hdrs.partition_point(|h| h.to < base);
    for (k, m) in members.iter_mut().enumerate() {
        let i = base + k as u32;
        if m.up && (now.epoch + m.phase) % batch == 0 {
            let n = m.node.as_mut().expect("up");
            n.handle_tick(now);
            out.ticks += 1;
            after_event(n, i, out);
        }
        while p < hdrs.len() && hdrs[p].to == i {
            let h = hdrs[p];
            p += 1;
            if !m.up {
                out.to_down += 1;
                push_rec(&mut out.log, rec::TO_DOWN, i, h.from_id, h.len as u32);
                continue;
            }
            let n = m.node.as_mut().expect("up");
            let data = &bytes[h.off as usize..h.off as usize + h.len as usize];
            let novel = n.stats().puts_novel;
            n.handle_packet(h.from, data);
            out.delivered += 1;
            push_rec(&mut out.log, rec::DELIVER, i, h.from_id, h.len as u32);
            if n.stats().puts_novel != novel {
                out.novel_pkts += 1;
                out.novel_bytes += h.len as u64;
                for &(t, w) in tracked {
                    if m.got[t as usize] == NEVER && n.dat_by_work(&w).is_some() {
                        m.got[t as usize] = now.epoch;
                        out.arrivals.push((i, t, h.from_id));
                    }
                }
            }
            after_event(n, i, out);
        }
    }
}

fn after_event(n: &mut Node, i: u32, out: &mut Out) {
    if out.error.is_none() {
        if let Err(m) = n.check_bounds() {
            out.error = Some((i, m));
        }
    }
    while let Some((to, b)) = n.peek_transmit() {
        out.sends
            .push((i, to, out.bytes.len() as u32, b.len() as u16));
        out.bytes.extend_from_slice(b);
        n.pop_transmit();
    }
    while let Some(ev) = n.poll_event() {
        log_event(&mut out.log, i, &ev);
        out.events.push((i, ev));
    }
}
