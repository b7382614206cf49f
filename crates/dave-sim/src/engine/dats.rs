//! What the applications do: the dats the simulator makes and follows
//! ([`Tracked`]), the background dats every node starts with, the write
//! streams of the writers and the attackers, puts and lookups.

use super::{dat_packet, Sim, NEVER};
use crate::addr::ID_NONE;
use crate::config::SybilMode;
use crate::error::SimError;
use crate::event_log::{log_event, rec};
use dave_core::wire::{self, Packet};
use dave_core::{pow, Dat, GetId, GetOpts, Query, MAX_FANOUT};
use rand_xoshiro::rand_core::Rng;

/// Bytes of each simulated value.
const VAL_LEN: usize = 64;

/// Distinct writer keys for background and stream dats.
pub(super) const WRITERS: usize = 16;

/// Who signs a dat the simulator makes, and which write stream it is in.
#[derive(Clone, Copy)]
pub(super) enum Signer {
    /// One of the simulated writers.
    Writer,
    /// The attackers' key.
    Attacker,
}

/// A dat the simulator made and follows.
#[derive(Clone, Debug)]
pub struct Tracked {
    /// The dat.
    pub dat: Dat,
    /// The epoch it was put.
    pub epoch: u64,
    /// The node it was put into.
    pub node: usize,
    /// Its difficulty.
    pub difficulty: u8,
}

impl Sim {
    pub(super) fn preload(&mut self) -> Result<(), SimError> {
        if self.cfg.background == 0 {
            return Ok(());
        }
        let now_ms = self.now_at(0).unix_ms;
        let mut pkts = Vec::with_capacity(self.cfg.background);
        for _ in 0..self.cfg.background {
            // Ages spread over the last minute, so masses differ.
            let age = self.below(60_000);
            let d = self.make_dat(8, now_ms - age);
            pkts.push(dat_packet(&d));
        }
        // Every node would verify the same signatures: verify each dat once
        // here, strictly, and load the verified bytes into every node.
        let cfg0 = self.node_config(0, 0);
        for p in &pkts {
            let m = match wire::decode(p) {
                Ok(Packet::Put(m)) => m,
                Ok(other) => {
                    return Err(self.err(format!("background dat is a {}", other.op().name())))
                }
                Err(e) => return Err(self.err(format!("background dat: {e}"))),
            };
            dave_core::check_put(&m, now_ms, &cfg0, true)
                .map_err(|r| self.err(format!("background dat refused: {}", r.name())))?;
        }
        let chunk = self.members.len().div_ceil(self.threads);
        let pkts = &pkts;
        let results: Vec<Result<(), String>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .members
                .chunks_mut(chunk)
                .map(|ms| {
                    s.spawn(move || {
                        for m in ms.iter_mut().filter(|m| m.up) {
                            let n = m.node.as_mut().expect("up");
                            for p in pkts {
                                let msg = wire::decode(p).map_err(|e| e.to_string())?;
                                n.restore_preverified(&msg.msg())
                                    .map_err(|e| e.to_string())?;
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("a preload thread panicked".into()))
                })
                .collect()
        });
        for r in results {
            r.map_err(|e| self.err(format!("background dat refused: {e}")))?;
        }
        Ok(())
    }

    /// Makes a dat of `bits` difficulty with the given time, signed by one
    /// of the simulated writers. The solver runs on one thread, so the
    /// result depends only on the inputs.
    fn make_dat(&mut self, bits: u8, time_ms: u64) -> Dat {
        self.make_dat_by(bits, time_ms, Signer::Writer)
    }

    /// [`Sim::make_dat`], signed by one of the writers or by the attackers.
    fn make_dat_by(&mut self, bits: u8, time_ms: u64, by: Signer) -> Dat {
        self.next_key += 1;
        let w = match by {
            Signer::Writer => Some(self.below(WRITERS as u64) as usize),
            Signer::Attacker => None,
        };
        let key = self.next_key.to_le_bytes();
        let mut val = [0u8; VAL_LEN];
        for c in val.chunks_mut(8) {
            c.copy_from_slice(&self.rng.next_u64().to_le_bytes());
        }
        let signer = w.map_or(&self.sybil_key, |w| &self.writers[w]);
        Dat::make(&key, &val, time_ms, bits, signer, 1, None)
            .expect("a simulated dat fits")
            .0
    }

    /// Makes a new dat of `bits` difficulty, puts it into node `i` as its
    /// application would, and follows it. Returns its tracking index.
    pub fn put_new(&mut self, i: usize, bits: u8) -> Result<usize, SimError> {
        let now_ms = self.now_at(self.epoch).unix_ms;
        let d = self.make_dat(bits, now_ms);
        let k = self.tracked.len();
        let t = d.time_ms.to_le_bytes();
        let up = self.members[i].up;
        let node = self.members[i]
            .node
            .as_mut()
            .filter(|_| up)
            .ok_or_else(|| SimError {
                epoch: self.epoch,
                msg: format!("put into node {i}, which is down"),
                replay: self.cfg.replay(),
            })?;
        node.put(&d.msg(&t)).map_err(|e| SimError {
            epoch: self.epoch,
            msg: format!("node {i} refused a fresh dat: {e}"),
            replay: self.cfg.replay(),
        })?;
        let sent = node.last_sent().len() as u32;
        self.log.add(rec::PUT, i as u32, k as u32, sent);
        self.tracked.push(Tracked {
            difficulty: pow::difficulty(&d.work),
            dat: d,
            epoch: self.epoch,
            node: i,
        });
        for m in &mut self.members {
            m.got.push(NEVER);
            m.got_from.push(ID_NONE);
        }
        self.members[i].got[k] = self.epoch;
        self.active.push(k as u32);
        Ok(k)
    }

    /// Stops watching tracked dat `k` arrive (saves work in phase 2).
    pub fn untrack(&mut self, k: usize) {
        self.active.retain(|&x| x as usize != k);
    }

    /// Starts a GET at node `i`. `None` when the node is down or busy.
    pub fn get(&mut self, i: usize, q: Query, network_only: bool) -> Option<GetId> {
        if !self.members[i].up {
            return None;
        }
        let timeout = self.cfg.epochs_in_ms(self.cfg.get_timeout_ms);
        let n = self.members[i].node.as_mut()?;
        let opts = GetOpts {
            timeout_epochs: timeout,
            network_only,
            avoid: [None; MAX_FANOUT],
        };
        let id = n.get(q, opts).ok()?;
        self.log
            .add(rec::GET, i as u32, id as u32, network_only as u32);
        // An answer from the store comes at once.
        while let Some(ev) = n.poll_event() {
            log_event(&mut self.log.buf, i as u32, &ev);
            self.events.push((i, ev, self.epoch));
        }
        Some(id)
    }

    /// The accumulator of a write stream's dats per epoch.
    fn acc(&mut self, by: Signer) -> &mut u128 {
        match by {
            Signer::Writer => &mut self.write_acc,
            Signer::Attacker => &mut self.sybil_acc,
        }
    }

    /// A stream of new 8-bit dats, each put into a random node as its
    /// application would. The writers' stream (`writes_per_s`) goes into
    /// any node, or only honest ones when there are attackers. The
    /// attackers' own stream (own and eclipse modes, `sybil_writes_per_s`)
    /// is signed with the attackers' key and put into random attackers,
    /// which gossip it and earn the trust of whoever they reach first.
    pub(super) fn stream(&mut self, by: Signer) -> Result<(), SimError> {
        let rate = match by {
            Signer::Writer => self.cfg.writes_per_s,
            Signer::Attacker
                if self.sybils.is_empty() || self.cfg.sybil_mode == SybilMode::Silent =>
            {
                0
            }
            Signer::Attacker => self.cfg.sybil_writes_per_s,
        };
        if rate == 0 || self.epoch <= 1 {
            return Ok(());
        }
        *self.acc(by) += rate as u128 * self.cfg.epoch_ns as u128;
        while *self.acc(by) >= 1_000_000_000 {
            *self.acc(by) -= 1_000_000_000;
            let pick = match by {
                Signer::Writer if self.sybils.is_empty() && self.cfg.writers_ppm >= 1_000_000 => {
                    self.random_up()
                }
                Signer::Writer => self.random_writer(),
                Signer::Attacker => self.random_role(true),
            };
            let Some(i) = pick else {
                return Ok(());
            };
            let now_ms = self.now_at(self.epoch).unix_ms;
            let d = self.make_dat_by(8, now_ms, by);
            let t = d.time_ms.to_le_bytes();
            let n = self.members[i].node.as_mut().expect("up");
            if n.put(&d.msg(&t)).is_ok() {
                match by {
                    Signer::Writer => {
                        self.net.writes += 1;
                        self.net.write_bits += pow::difficulty(&d.work) as u64;
                    }
                    Signer::Attacker => self.sybil_stats.writes += 1,
                }
                let attacker = matches!(by, Signer::Attacker) as u32;
                self.log.add(rec::WRITE, i as u32, attacker, 0);
            }
            self.check_bounds(Some(i as u32))?;
        }
        Ok(())
    }
}
