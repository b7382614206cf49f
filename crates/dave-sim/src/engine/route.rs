//! Phase 3: every datagram sent in phase 2, in node order, through the
//! attackers' filter, partitions, loss, duplication and latency onto the
//! wheel; datagrams to hostile, phantom or forged addresses are counted,
//! and a hostile sender answers the GETPEERs it is sent.

use super::sybil::Filtered;
use super::{chance, encode, op_of, us_to_epochs, Hdr, Sim};
use crate::addr::{addr_of, ip_of, HOSTILE_NET, ID_HOSTILE, ID_NONE, ID_PHANTOM, ID_SPOOF};
use crate::addr::{PHANTOM_NET, PORT, SPOOF_NET};
use crate::error::SimError;
use crate::event_log::rec;
use dave_core::splitmix;
use dave_core::wire::{Msg, Op, Pd, NPEER};
use rand_xoshiro::rand_core::Rng;
use std::net::SocketAddr;

impl Sim {
    pub(super) fn route(&mut self, e: u64) -> Result<(), SimError> {
        let mut outs = std::mem::take(&mut self.outs);
        let mut err = None;
        // Everything in node order, whatever the chunks: first what the
        // nodes did, then where their datagrams go.
        for o in &mut outs {
            self.log.append(&o.log);
            self.net.ticks += o.ticks;
            self.net.delivered += o.delivered;
            self.net.to_down += o.to_down;
            self.net.novel_pkts += o.novel_pkts;
            self.net.novel_bytes += o.novel_bytes;
            o.ticks = 0;
            o.delivered = 0;
            o.to_down = 0;
            o.novel_pkts = 0;
            o.novel_bytes = 0;
            if let (None, Some((i, m))) = (&err, o.error.take()) {
                err = Some(self.err(format!("node {i}: {m}")));
            }
            for &(i, k, from) in &o.arrivals {
                self.members[i as usize].got[k as usize] = e;
                self.members[i as usize].got_from[k as usize] = from;
            }
            for &(i, ev) in &o.events {
                self.events.push((i as usize, ev, e));
            }
        }
        for o in &outs {
            for &(from, to, off, len) in &o.sends {
                let data = &o.bytes[off as usize..off as usize + len as usize];
                if self.members[from as usize].sybil {
                    match self.sybil_out(from, data) {
                        Filtered::Drop => continue,
                        Filtered::Replace(p) => {
                            self.route_one(e, from, to, &p);
                            continue;
                        }
                        Filtered::Pass => {}
                    }
                }
                self.route_one(e, from, to, data);
            }
        }
        self.outs = outs;
        match err {
            Some(x) => Err(x),
            None => Ok(()),
        }
    }

    pub(super) fn id_of(&self, a: SocketAddr) -> u32 {
        let ip = ip_of(a);
        if a.port() != PORT {
            return ID_NONE;
        }
        if let Some(&i) = self.ids.get(&ip) {
            i
        } else if ip & 0xffff_0000 == HOSTILE_NET && ((ip & 0xffff) as usize) < self.cfg.hostile {
            ID_HOSTILE | (ip & 0xffff)
        } else if ip & 0xffff_0000 == PHANTOM_NET {
            ID_PHANTOM | (ip & 0xffff)
        } else if ip & 0xffff_0000 == SPOOF_NET {
            ID_SPOOF | (ip & 0xffff)
        } else {
            ID_NONE
        }
    }

    pub(super) fn latency(&mut self, a: u32, b: u32) -> u64 {
        let (lo, hi) = if a < b { (a, b) } else { (b, a) };
        let h = splitmix(self.lat_key ^ ((lo as u64) << 32 | hi as u64));
        let mean = self.cfg.latency_us;
        let base = mean / 2 + ((h as u128 * (mean + 1) as u128) >> 64) as u64;
        let jitter = if self.cfg.jitter_us > 0 {
            self.below(2 * self.cfg.jitter_us + 1)
        } else {
            0
        };
        us_to_epochs(base + jitter, self.cfg.epoch_ns)
    }

    pub(super) fn push(
        &mut self,
        arrive: u64,
        to: u32,
        from: SocketAddr,
        from_id: u32,
        data: &[u8],
    ) {
        // A datagram waits in the socket until its node's next wake.
        let b = self.cfg.batch;
        let arrive = match (arrive + self.members[to as usize].phase) % b {
            0 => arrive,
            r => arrive + b - r,
        };
        let mask = self.wheel.len() - 1;
        let b = &mut self.wheel[(arrive as usize) & mask];
        b.hdrs.push(Hdr {
            to,
            from,
            from_id,
            off: b.bytes.len() as u32,
            len: data.len() as u16,
        });
        b.bytes.extend_from_slice(data);
    }

    /// Sends one datagram through the network from a node or a hostile sender.
    pub(super) fn route_one(&mut self, e: u64, from_id: u32, to: SocketAddr, data: &[u8]) {
        self.net.sent += 1;
        let from = self.addr_of_id(from_id);
        let to_id = self.id_of(to);
        if to_id != ID_NONE && to_id & (ID_HOSTILE | ID_PHANTOM | ID_SPOOF) == 0 {
            let j = to_id as usize;
            if self.split
                && from_id < ID_SPOOF
                && self.members[from_id as usize].side != self.members[j].side
            {
                self.net.cut += 1;
                self.log.add(rec::CUT, from_id, to_id, data.len() as u32);
                return;
            }
            if chance(&mut self.rng, self.cfg.loss_ppm) {
                self.net.lost += 1;
                self.log.add(rec::LOST, from_id, to_id, data.len() as u32);
                return;
            }
            let lat = self.latency(ip_of(from), ip_of(to));
            self.log.add(
                rec::SEND,
                from_id,
                to_id,
                (lat as u32) << 11 | data.len() as u32,
            );
            self.push(e + lat, to_id, from, from_id, data);
            if chance(&mut self.rng, self.cfg.dup_ppm) {
                self.net.duplicated += 1;
                let lat2 = self.latency(ip_of(from), ip_of(to));
                self.log.add(rec::DUP, from_id, to_id, lat2 as u32);
                self.push(e + lat2, to_id, from, from_id, data);
            }
            if self.cfg.hostile > 0 && data.len() > 2 && data[..2] == [0x08, 0x02] {
                self.capture_put(data);
            }
            return;
        }
        self.log.add(rec::SEND, from_id, to_id, data.len() as u32);
        if to_id == ID_NONE {
            return;
        }
        if to_id & ID_HOSTILE != 0 {
            self.net.to_hostile += 1;
            // A hostile sender answers every GETPEER it is sent with
            // addresses that will never speak: an eclipse attempt.
            if op_of(data) == Some(Op::Getpeer) && from_id < ID_SPOOF {
                let mut m = Msg::op(Op::Peer);
                for k in 0..NPEER {
                    let ph = PHANTOM_NET | (self.rng.next_u64() & 0xffff) as u32;
                    m.pds[k] = Pd::from_addr(addr_of(ph));
                }
                m.npds = NPEER as u8;
                let pkt = encode(&m);
                let lat = self.latency(ip_of(to), ip_of(from));
                self.net.hostile_sent += 1;
                self.net.hostile_bytes += pkt.len() as u64;
                self.log.add(rec::HOSTILE, to_id, from_id, 100);
                self.push(e + lat, from_id, to, to_id, &pkt);
            }
        } else if let Some(op) = op_of(data) {
            if to_id & ID_PHANTOM != 0 {
                self.net.to_phantom[op as usize] += 1;
            } else {
                self.net.to_spoofed[op as usize] += 1;
                self.net.to_spoofed_bytes[op as usize] += data.len() as u64;
            }
        }
    }

    pub(super) fn addr_of_id(&self, id: u32) -> SocketAddr {
        if id & ID_HOSTILE != 0 {
            addr_of(HOSTILE_NET | (id & 0xffff))
        } else if id & ID_SPOOF != 0 {
            addr_of(SPOOF_NET | (id & 0xffff))
        } else {
            self.members[id as usize].addr
        }
    }
}
