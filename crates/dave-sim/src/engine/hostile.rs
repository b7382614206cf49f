//! Hostile senders: traffic generators on their own addresses, not
//! modified nodes. Each sends, every `hostile_every` epochs, one of
//! [`Attack`] to a random node: garbage, mutated or replayed PUTs from
//! a sample of the traffic, dats with bad work, low work, a bad signature
//! or a future time, unsolicited PEERs of phantoms, GETPEERs and GETs
//! from forged sources.

use super::{chance, dat_packet, encode, Sim};
use crate::addr::{addr_of, ip_of, ID_HOSTILE, ID_SPOOF, PHANTOM_NET};
use crate::event_log::rec;
use dave_core::wire::{self, Msg, Op, Packet, Pd, NPEER};
use dave_core::{pow, Dat};
use ed25519_dalek::SigningKey;
use rand_xoshiro::rand_core::Rng;

/// What hostile senders send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Attack {
    Garbage,
    Mutated,
    Replay,
    BadWork,
    LowWork,
    BadSig,
    Future,
    UnsolicitedPeer,
    SpoofGetpeer,
    Reflect,
}

const ATTACKS: [Attack; 10] = [
    Attack::Garbage,
    Attack::Mutated,
    Attack::Replay,
    Attack::BadWork,
    Attack::LowWork,
    Attack::BadSig,
    Attack::Future,
    Attack::UnsolicitedPeer,
    Attack::SpoofGetpeer,
    Attack::Reflect,
];

impl Sim {
    pub(super) fn capture_put(&mut self, data: &[u8]) {
        self.capture_n += 1;
        // Keep a sample: every 61st PUT, in a ring of 32.
        if self.capture_n % 61 != 1 {
            return;
        }
        let k = ((self.capture_n / 61) % 32) as usize;
        if self.capture.len() <= k {
            self.capture.push(data.to_vec());
        } else {
            self.capture[k].clear();
            self.capture[k].extend_from_slice(data);
        }
    }

    pub(super) fn init_hostiles(&mut self) {
        if self.cfg.hostile == 0 {
            return;
        }
        let now_ms = self.now_at(0).unix_ms;
        let k = SigningKey::from_bytes(&[0x66; 32]);
        let good = Dat::make(b"hostile", b"a valid dat", now_ms, 8, &k, 1, None)
            .expect("fits")
            .0;
        // Tampered value: the work no longer matches.
        let mut bad_work = good.clone();
        bad_work.val = b"a valid daT".to_vec();
        // Honest work below MIN_WORK.
        let low = (0u32..)
            .map(|i| {
                Dat::make(b"low", &i.to_le_bytes(), now_ms, 0, &k, 1, None)
                    .expect("fits")
                    .0
            })
            .find(|d| pow::difficulty(&d.work) < 8)
            .expect("most salts are below 8 bits");
        let mut bad_sig = good.clone();
        bad_sig.sig[17] ^= 0x20;
        // Valid work and signature, dated a day ahead.
        let future = Dat::make(b"future", b"later", now_ms + 86_400_000, 8, &k, 1, None)
            .expect("fits")
            .0;
        self.hostile_pool = vec![
            dat_packet(&bad_work),
            dat_packet(&low),
            dat_packet(&bad_sig),
            dat_packet(&future),
        ];
        self.hostile_kinds = vec![
            Attack::BadWork,
            Attack::LowWork,
            Attack::BadSig,
            Attack::Future,
        ];
        for _ in 0..self.cfg.hostile {
            let at = 1 + self.below(self.cfg.hostile_every.max(1));
            self.hostile_next.push(at);
        }
    }

    pub(super) fn hostiles(&mut self, e: u64) {
        for h in 0..self.cfg.hostile {
            if self.hostile_next[h] > e {
                continue;
            }
            self.hostile_next[h] = e + self.cfg.hostile_every.max(1);
            let to = self.below(self.members.len() as u64) as u32;
            let attack = ATTACKS[self.below(ATTACKS.len() as u64) as usize];
            let mut from_id = ID_HOSTILE | h as u32;
            let mut pkt = std::mem::take(&mut self.scratch);
            pkt.clear();
            match attack {
                Attack::Garbage => {
                    let n = self.below(1600) as usize;
                    for _ in 0..n {
                        pkt.push(self.rng.next_u64() as u8);
                    }
                }
                Attack::Mutated | Attack::Replay => {
                    if self.capture.is_empty() {
                        pkt.extend_from_slice(&[0x08, 0x02]);
                    } else {
                        let k = self.below(self.capture.len() as u64) as usize;
                        pkt.extend_from_slice(&self.capture[k]);
                        if attack == Attack::Mutated {
                            let flips = 1 + self.below(4);
                            for _ in 0..flips {
                                let at = self.below(pkt.len() as u64) as usize;
                                pkt[at] ^= 1 << self.below(8);
                            }
                        }
                    }
                }
                Attack::BadWork | Attack::LowWork | Attack::BadSig | Attack::Future => {
                    let k = self
                        .hostile_kinds
                        .iter()
                        .position(|x| *x == attack)
                        .expect("pooled");
                    pkt.extend_from_slice(&self.hostile_pool[k]);
                }
                Attack::UnsolicitedPeer => {
                    let mut m = Msg::op(Op::Peer);
                    for k in 0..NPEER {
                        let ph = PHANTOM_NET | (self.rng.next_u64() & 0xffff) as u32;
                        m.pds[k] = Pd::from_addr(addr_of(ph));
                    }
                    m.npds = NPEER as u8;
                    pkt.extend_from_slice(&encode(&m));
                }
                Attack::SpoofGetpeer => {
                    // An empty datagram is a GETPEER, from a forged source.
                    from_id = ID_SPOOF | (self.rng.next_u64() & 0xffff) as u32;
                }
                Attack::Reflect => {
                    // A GET for a dat nodes hold, from the victim's address.
                    from_id = ID_SPOOF | (self.rng.next_u64() & 0xffff) as u32;
                    let work = self
                        .capture
                        .first()
                        .and_then(|c| match wire::decode(c) {
                            Ok(Packet::Put(p)) => Some(*p.work),
                            _ => None,
                        })
                        .unwrap_or([0; 32]);
                    let m = Msg {
                        op: Op::Get,
                        work: &work,
                        ..Msg::default()
                    };
                    let b = encode(&m);
                    self.net.reflect_bytes += b.len() as u64;
                    pkt.extend_from_slice(&b);
                }
            }
            self.net.hostile_sent += 1;
            self.net.hostile_bytes += pkt.len() as u64;
            let code = ATTACKS.iter().position(|a| *a == attack).expect("listed") as u32;
            self.log.add(rec::HOSTILE, from_id, to, code);
            let from = self.addr_of_id(from_id);
            if !chance(&mut self.rng, self.cfg.loss_ppm) {
                let lat = self.latency(ip_of(from), ip_of(self.members[to as usize].addr));
                self.push(e + lat, to, from, from_id, &pkt);
            }
            self.scratch = pkt;
        }
    }
}
