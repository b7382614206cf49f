//! Sybil attackers: nodes that run the same core as everyone, whose
//! outgoing datagrams the simulator filters by [`SybilMode`]; the
//! unsolicited PEERs of eclipse mode; what they did ([`SybilStats`]);
//! and their hold on the honest nodes' tables and trust.

use super::{encode, Sim};
use crate::config::{SybilMode, ECLIPSE_EVERY};
use crate::event_log::rec;
use dave_core::wire::{self, Msg, Op, Packet, Pd, NPEER};
use dave_core::Node;

/// What the Sybil attackers did, counted by the simulator.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SybilStats {
    /// PUTs attackers' nodes sent that the simulator swallowed (gossip
    /// and answers to GETs).
    pub swallowed: u64,
    /// PUTs of the attackers' own dats let through.
    pub own_sent: u64,
    /// Dats the attackers wrote.
    pub writes: u64,
    /// PEERs rewritten to name only attackers.
    pub lies: u64,
    /// Unsolicited PEERs sent to honest nodes.
    pub unsolicited: u64,
}

/// What becomes of a datagram an attacker sends.
pub(super) enum Filtered {
    Pass,
    Drop,
    Replace(Vec<u8>),
}

// Sybil log details.
const SY_SWALLOW: u32 = 0;
const SY_LIE: u32 = 1;
const SY_UNSOLICITED: u32 = 2;

impl Sim {
    /// Whether node `i` is an attacker.
    pub fn is_sybil(&self, i: usize) -> bool {
        self.members[i].sybil
    }

    /// What the attackers did.
    pub fn sybil_stats(&self) -> &SybilStats {
        &self.sybil_stats
    }

    /// The attackers' hold on the honest nodes that are up, each a mean
    /// over those nodes: the share of table entries that are attackers; of
    /// the peers gossip may go to now (in the table for DELAY, heard from
    /// within 2·PING); of trust; and the share of honest nodes whose most
    /// trusted peer is an attacker (of those that trust anyone).
    pub fn sybil_hold(&self) -> [f64; 4] {
        let mut sum = [0.0f64; 4];
        let mut n = [0u64; 4];
        for m in self.members.iter().filter(|m| m.up && !m.sybil) {
            let Some(node) = &m.node else { continue };
            let c = node.config();
            let now = node.epoch();
            let (mut all, mut bad) = (0u64, 0u64);
            let (mut live, mut live_bad) = (0u64, 0u64);
            let (mut trust, mut trust_bad) = (0.0f64, 0.0f64);
            let mut top: Option<(f64, bool)> = None;
            for p in node.peers().iter() {
                let id = self.id_of(p.addr);
                let sy = (id as usize) < self.members.len() && self.members[id as usize].sybil;
                all += 1;
                bad += sy as u64;
                if Node::gossip_ok(p, now, c) {
                    live += 1;
                    live_bad += sy as u64;
                }
                trust += p.trust;
                if sy {
                    trust_bad += p.trust;
                }
                if p.trust > 0.0 && top.is_none_or(|(t, _)| p.trust > t) {
                    top = Some((p.trust, sy));
                }
            }
            for (k, (num, den)) in [
                (bad as f64, all as f64),
                (live_bad as f64, live as f64),
                (trust_bad, trust),
            ]
            .into_iter()
            .enumerate()
            {
                if den > 0.0 {
                    sum[k] += num / den;
                    n[k] += 1;
                }
            }
            if let Some((_, sy)) = top {
                sum[3] += sy as u64 as f64;
                n[3] += 1;
            }
        }
        std::array::from_fn(|k| if n[k] > 0 { sum[k] / n[k] as f64 } else { 0.0 })
    }

    /// A PEER naming `NPEER` random attackers.
    /// A PEER naming attackers, quoting `token` and issuing `cookie` (an
    /// answer keeps those of the honest answer it replaces; an unsolicited
    /// one has made-up ones, which the receiver refuses).
    fn attacker_peer(&mut self, token: &[u8; 8], cookie: &[u8; 8]) -> Vec<u8> {
        let mut m = Msg {
            op: Op::Peer,
            token,
            cookie,
            ..Msg::default()
        };
        for k in 0..NPEER {
            let r = self.below(self.sybils.len() as u64) as usize;
            let j = self.sybils[r];
            m.pds[k] = Pd::from_addr(self.members[j as usize].addr);
        }
        m.npds = NPEER as u8;
        encode(&m)
    }

    /// Eclipse mode: every attacker that is up sends an unsolicited PEER
    /// of attackers to a random honest node every `ECLIPSE_EVERY` epochs.
    pub(super) fn eclipse(&mut self, e: u64) {
        if self.cfg.sybil_mode != SybilMode::Eclipse {
            return;
        }
        for s in 0..self.sybils.len() {
            let a = self.sybils[s];
            let every = (ECLIPSE_EVERY / self.cfg.sybil_rate).max(1);
            if !self.members[a as usize].up || (e + a as u64) % every != 0 {
                continue;
            }
            let Some(to) = self.random_role(false) else {
                return;
            };
            let made_up = self.below(u64::MAX).to_le_bytes();
            let pkt = self.attacker_peer(&made_up, &made_up);
            self.sybil_stats.unsolicited += 1;
            self.log.add(rec::SYBIL, a, to as u32, SY_UNSOLICITED);
            let to_addr = self.members[to].addr;
            self.route_one(e, a, to_addr, &pkt);
        }
    }

    /// What an attacker's datagram becomes on the wire.
    pub(super) fn sybil_out(&mut self, from: u32, data: &[u8]) -> Filtered {
        let Ok(d) = wire::decode_datagram(data) else {
            return Filtered::Pass;
        };
        match d.packet {
            Packet::Put(m) => {
                let own = self.cfg.sybil_mode != SybilMode::Silent
                    && m.pubkey == self.sybil_key.verifying_key().as_bytes();
                if own {
                    self.sybil_stats.own_sent += 1;
                    Filtered::Pass
                } else {
                    self.sybil_stats.swallowed += 1;
                    self.log.add(rec::SYBIL, from, 0, SY_SWALLOW);
                    Filtered::Drop
                }
            }
            Packet::Peer { cookie, .. } if self.cfg.sybil_mode == SybilMode::Eclipse => {
                self.sybil_stats.lies += 1;
                self.log.add(rec::SYBIL, from, 0, SY_LIE);
                let token = d.token.copied().unwrap_or_default();
                Filtered::Replace(self.attacker_peer(&token, cookie))
            }
            _ => Filtered::Pass,
        }
    }
}
