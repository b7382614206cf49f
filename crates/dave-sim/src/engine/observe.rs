//! What a scenario reads of the network: its nodes and who is up, the
//! tracked dats and who holds them, application events, the summed
//! counters and peer tables, and the digests of the event log and of
//! every node's state.

use super::{Sim, Tracked, NEVER};
use crate::addr::ID_SPOOF;
use dave_core::wire::Op;
use dave_core::{pow, Event, Node, Stats};
use std::io::Write as _;

impl Sim {
    /// Writes the event log as text lines (`epoch kind a b detail`) to `path`.
    pub fn log_to(&mut self, path: &std::path::Path) -> std::io::Result<()> {
        self.log.text = Some(std::io::BufWriter::new(std::fs::File::create(path)?));
        Ok(())
    }

    /// Node `i`, if it is up.
    pub fn node(&self, i: usize) -> Option<&Node> {
        let m = &self.members[i];
        if m.up {
            m.node.as_ref()
        } else {
            None
        }
    }

    /// How many times node `i` has been restarted.
    pub fn incarnation(&self, i: usize) -> u32 {
        self.members[i].incarnation
    }

    /// Indexes of the nodes that are up.
    pub fn up_nodes(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|&i| self.members[i].up)
            .collect()
    }

    /// A uniformly random node that is up.
    pub fn random_up(&mut self) -> Option<usize> {
        let up = self.up_nodes();
        if up.is_empty() {
            None
        } else {
            Some(up[self.below(up.len() as u64) as usize])
        }
    }

    /// Whether node `i` writes (`--writers`): a fixed share of the nodes,
    /// picked by a hash of the seed and the index.
    pub fn is_writer(&self, i: usize) -> bool {
        let ppm = self.cfg.writers_ppm as u64;
        ppm >= 1_000_000 || dave_core::splitmix(self.cfg.seed ^ (i as u64) << 20) % 1_000_000 < ppm
    }

    /// A uniformly random honest up node that writes (`--writers`).
    pub fn random_writer(&mut self) -> Option<usize> {
        let up: Vec<usize> = (0..self.members.len())
            .filter(|&i| self.members[i].up && !self.members[i].sybil && self.is_writer(i))
            .collect();
        if up.is_empty() {
            None
        } else {
            Some(up[self.below(up.len() as u64) as usize])
        }
    }

    /// A uniformly random up node that is an attacker (`sybil`) or honest.
    pub fn random_role(&mut self, sybil: bool) -> Option<usize> {
        let up: Vec<usize> = (0..self.members.len())
            .filter(|&i| self.members[i].up && self.members[i].sybil == sybil)
            .collect();
        if up.is_empty() {
            None
        } else {
            Some(up[self.below(up.len() as u64) as usize])
        }
    }

    /// The dats being followed.
    pub fn tracked(&self) -> &[Tracked] {
        &self.tracked
    }

    /// The first epoch node `i` held tracked dat `k` (NEVER if not yet).
    pub fn first_held(&self, i: usize, k: usize) -> u64 {
        self.members[i].got[k]
    }

    /// The mass (difficulty per ms of age) of node `i`'s DAT_CAP-th
    /// heaviest dat now: what a dat must beat to survive a prune. `None`
    /// when the node is down or holds no more than DAT_CAP dats.
    pub fn cutoff_mass(&self, i: usize) -> Option<f64> {
        let n = self.node(i)?;
        let st = n.store();
        let cap = st.cap();
        if st.len() <= cap || cap == 0 {
            return None;
        }
        let now = n.now_ms();
        let mut m: Vec<f64> = (0..st.len() as u32)
            .map(|s| {
                let x = st.meta(s);
                x.difficulty as f64 / pow::age_ms(x.time_ms, now) as f64
            })
            .collect();
        let (_, c, _) = m.select_nth_unstable_by(cap - 1, |a, b| b.total_cmp(a));
        Some(*c)
    }

    /// Who delivered node `i`'s first copy of tracked dat `k`: a node
    /// index, or `None` (put there, restored, or not held).
    pub fn first_from(&self, i: usize, k: usize) -> Option<usize> {
        let f = self.members[i].got_from[k];
        (f < ID_SPOOF).then_some(f as usize)
    }

    /// Up nodes holding the dat with this work hash.
    pub fn holders(&self, work: &[u8; 32]) -> usize {
        self.members
            .iter()
            .filter(|m| {
                m.up && m
                    .node
                    .as_ref()
                    .is_some_and(|n| n.dat_by_work(work).is_some())
            })
            .count()
    }

    /// Application events since the last call: (node, event, epoch).
    pub fn take_events(&mut self) -> Vec<(usize, Event, u64)> {
        std::mem::take(&mut self.events)
    }

    /// Records and hash of the event log so far.
    pub fn log_digest(&self) -> (u64, [u8; 32]) {
        (self.log.records, *self.log.hasher.finalize().as_bytes())
    }

    /// A hash of every node's state (counters, stored records, peers), for
    /// comparing runs.
    pub fn state_digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        for m in &self.members {
            h.update(&[m.up as u8]);
            h.update(&m.incarnation.to_le_bytes());
            let Some(n) = &m.node else { continue };
            h.update(format!("{:?}", n.stats()).as_bytes());
            let st = n.store();
            for s in 0..st.len() as u32 {
                h.update(st.record(s));
            }
            for p in n.peers().iter() {
                h.update(format!("{} {} {} {}", p.addr, p.trust, p.added, p.seen).as_bytes());
            }
        }
        *h.finalize().as_bytes()
    }

    /// Sums the counters of every node that is up.
    pub fn stats_sum(&self) -> Stats {
        let mut s = Stats::default();
        for m in &self.members {
            let Some(n) = m.node.as_ref().filter(|_| m.up) else {
                continue;
            };
            add_stats(&mut s, n.stats());
        }
        s
    }

    /// Mean peer-table size, and mean number of peers a node would gossip
    /// to now (in the table for DELAY, heard from within 2·PING).
    pub fn peer_means(&self) -> (f64, f64) {
        let (mut n, mut total, mut live) = (0u64, 0u64, 0u64);
        for m in &self.members {
            let Some(node) = m.node.as_ref().filter(|_| m.up) else {
                continue;
            };
            n += 1;
            let c = node.config();
            let now = node.epoch();
            total += node.peers().len() as u64;
            live += node
                .peers()
                .iter()
                .filter(|p| Node::gossip_ok(p, now, c))
                .count() as u64;
        }
        let n = n.max(1) as f64;
        (total as f64 / n, live as f64 / n)
    }

    /// Flushes the event log (hash and text file).
    pub fn flush_log(&mut self) {
        self.log.flush_buf();
        if let Some(w) = &mut self.log.text {
            let _ = w.flush();
        }
    }
}

fn add_stats(s: &mut Stats, n: &Stats) {
    s.packets_in += n.packets_in;
    s.bytes_in += n.bytes_in;
    s.packets_out += n.packets_out;
    s.bytes_out += n.bytes_out;
    for op in Op::ALL {
        s.in_by_op[op] += n.in_by_op[op];
        s.out_by_op[op] += n.out_by_op[op];
    }
    for k in 0..s.drops.len() {
        s.drops[k] += n.drops[k];
    }
    s.puts_known += n.puts_known;
    s.puts_novel += n.puts_novel;
    s.gets_answered += n.gets_answered;
    s.filter_saturated += n.filter_saturated;
    s.outbox_full += n.outbox_full;
    s.peers_added += n.peers_added;
    s.peers_dropped += n.peers_dropped;
    s.peers_evicted += n.peers_evicted;
    s.reply_budget += n.reply_budget;
    s.reply_share += n.reply_share;
    s.reply_repeat += n.reply_repeat;
    s.peers_full += n.peers_full;
    s.pds_refused += n.pds_refused;
    s.dats_pruned += n.dats_pruned;
    s.epochs_skipped += n.epochs_skipped;
    s.events_lost += n.events_lost;
    s.pushes += n.pushes;
    s.seeds += n.seeds;
    s.ring_evicted += n.ring_evicted;
    s.push_no_peer += n.push_no_peer;
    s.pull_credits += n.pull_credits;
    s.exchanges += n.exchanges;
}

pub(crate) fn all_hold(sim: &Sim, k: usize) -> bool {
    sim.members.iter().all(|m| !m.up || m.got[k] != NEVER)
}

pub(crate) fn all_honest_hold(sim: &Sim, k: usize) -> bool {
    sim.members
        .iter()
        .all(|m| m.sybil || !m.up || m.got[k] != NEVER)
}
