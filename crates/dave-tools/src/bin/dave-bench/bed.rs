//! The test bed of the `core` and `sig` sections: a node with a full store
//! and a full, live peer table, fed datagrams in timed batches.

use crate::dats::{make_dats_named, put_of};
use crate::{median, now_ms};
use dave_core::wire::{self, Cookie, Msg, Op, Packet};
use dave_core::{Config, Node, Now};
use std::io::Write;
use std::time::Instant;

/// A node holding a full store and a full, live peer table, with the
/// datagrams to feed it.
pub(crate) struct Bed {
    pub(crate) node: Node,
    pub(crate) peers: Vec<std::net::SocketAddr>,
    /// The token each peer quotes (the cookie the node handed it).
    pub(crate) tokens: Vec<Cookie>,
    /// Encoded PUTs of the stored dats.
    pub(crate) stored: Vec<Vec<u8>>,
    /// Encoded PUTs of dats the node has never seen.
    pub(crate) fresh: Vec<Vec<u8>>,
    pub(crate) epoch: u64,
    pub(crate) now_ms: u64,
}

impl Bed {
    pub(crate) fn new(n: usize, fresh: usize) -> Bed {
        print!("making {} full-size dats... ", n + fresh);
        let _ = std::io::stdout().flush();
        let t0 = Instant::now();
        let stored = make_dats_named(n, 2000, "k");
        let fresh = make_dats_named(fresh, 2000, "fresh");
        println!("{:.1} s", t0.elapsed().as_secs_f64());
        let now_ms = now_ms();
        // Setting up, the node answers every stranger's GETPEER at once
        // (a node's budget for them is a reply per 32 epochs): the
        // measured paths are those of validated peers, which need none.
        let mut node = Node::new(Config {
            unvalidated_reply_epochs: 1,
            unvalidated_replies: 1 << 20,
            ..Config::default()
        });
        node.handle_tick(Now {
            epoch: 0,
            unix_ms: now_ms,
        });
        for d in &stored {
            node.restore_preverified(&put_of(d).msg()).expect("valid");
        }
        let candidates: Vec<std::net::SocketAddr> = (0..node.config().max_peers)
            .map(|i| format!("10.{}.{}.1:1618", i >> 8, i & 255).parse().unwrap())
            .collect();
        let mut bed = Bed {
            node,
            peers: Vec::new(),
            tokens: Vec::new(),
            stored,
            fresh,
            epoch: 0,
            now_ms,
        };
        // Every address proves itself (the handshake); those that win a
        // slot of the table are the bed's peers (slots of one bucket
        // collide, so about 60% of MAX_PEERS distinct groups fit).
        for a in candidates {
            let t = bed.handshake(a);
            bed.node.handle_packet(a, &wire::with_token(&getpeer(), &t));
            bed.drain();
            bed.peers.push(a);
            bed.tokens.push(t);
        }
        // Keep those that hold a slot now (a later contender may have won
        // an earlier one's slot): the rest would contest slots on and on.
        let held: Vec<bool> = bed
            .peers
            .iter()
            .map(|a| bed.node.peers().find(*a).is_some())
            .collect();
        let mut k = 0;
        bed.peers.retain(|_| (held[k], k += 1).0);
        let mut k = 0;
        bed.tokens.retain(|_| (held[k], k += 1).0);
        bed.tick(1);
        // Every peer speaks, then again once they have been known for DELAY
        // epochs: all are live and eligible for gossip.
        let delay = bed.node.config().delay_epochs;
        bed.hear_from_all();
        bed.tick(delay / 2);
        bed.hear_from_all();
        bed.tick(delay / 2 + 8);
        bed.hear_from_all();
        // Every peer sends one novel dat, slowly enough for the node's
        // budget of checks for untrusted sources: then all have trust, as
        // gossiping peers do, and their novel dats are checked at once.
        let fresh = std::mem::take(&mut bed.fresh);
        let (earn, rest) = fresh.split_at(bed.peers.len().min(fresh.len()));
        for (i, d) in earn.iter().enumerate() {
            bed.node
                .handle_packet(bed.peers[i], &wire::with_token(d, &bed.tokens[i]));
            bed.tick(8);
            if i % 128 == 127 {
                bed.hear_from_all();
            }
        }
        bed.hear_from_all();
        bed.fresh = rest.to_vec();
        bed
    }

    /// A GETPEER from `a`, and the PEER answer's cookie: the token `a`
    /// quotes from then on (waiting for the node's budget of replies to
    /// strangers when it is spent).
    fn handshake(&mut self, a: std::net::SocketAddr) -> Cookie {
        let wait = self.node.config().unvalidated_reply_epochs;
        loop {
            self.node.handle_packet(a, &getpeer());
            let mut token = None;
            while let Some((to, b)) = self.node.peek_transmit() {
                if let (true, Ok(Packet::Peer { cookie, .. })) = (to == a, wire::decode(b)) {
                    token = Some(*cookie);
                }
                self.node.pop_transmit();
            }
            if let Some(t) = token {
                self.tick(1);
                return t;
            }
            self.tick(wait);
        }
    }

    /// One known PUT from every peer (keeps them live).
    pub(crate) fn hear_from_all(&mut self) {
        for i in 0..self.peers.len() {
            let d = wire::with_token(&self.stored[i % self.stored.len()], &self.tokens[i]);
            self.node.handle_packet(self.peers[i], &d);
        }
        self.drain();
        self.tick(1);
    }

    pub(crate) fn drain(&mut self) {
        while self.node.peek_transmit().is_some() {
            self.node.pop_transmit();
        }
    }

    pub(crate) fn tick(&mut self, epochs: u64) {
        self.epoch += epochs;
        self.node.handle_tick(Now {
            epoch: self.epoch,
            unix_ms: self.now_ms,
        });
        self.drain();
    }

    /// Feeds `pkts[pick(i)]` for `i` in `0..total` from every peer in turn,
    /// one epoch per pass over the table (the packet filter passes one op
    /// per source per epoch); returns the median ns per packet over the
    /// timed batches. See [`Bed::batches`].
    pub(crate) fn feed(
        &mut self,
        total: usize,
        pkts: &[Vec<u8>],
        pick: impl Fn(usize) -> usize,
    ) -> f64 {
        self.batches(total, pkts, pick, |node, src, p| node.handle_packet(src, p))
    }

    /// Runs `f` on `pkts[pick(i)]` for `i` in `0..total`, from every peer in
    /// turn, and returns the median ns per packet over batches of 128. Each
    /// batch is first copied into a staging buffer, untimed, as a receive
    /// buffer holds a datagram the kernel just wrote (reading a stored copy
    /// from 200 MB of test data would time cache misses no node has). The
    /// outbox is drained between batches, untimed; one epoch passes per
    /// pass over the table.
    pub(crate) fn batches(
        &mut self,
        total: usize,
        pkts: &[Vec<u8>],
        pick: impl Fn(usize) -> usize,
        mut f: impl FnMut(&mut Node, std::net::SocketAddr, &[u8]),
    ) -> f64 {
        const BATCH: usize = 128;
        let mut stage = vec![0u8; BATCH * 1500];
        let mut lens = [0usize; BATCH];
        let mut samples = Vec::new();
        let mut k = 0;
        let peers = self.peers.clone();
        let tokens = self.tokens.clone();
        while k < total {
            for (c, chunk) in peers.chunks(BATCH).enumerate() {
                let n = chunk.len().min(total - k);
                for j in 0..n {
                    // Each datagram quotes its sender's token, as a peer's do.
                    let p = &pkts[pick(k + j)];
                    let at = j * 1500;
                    stage[at..at + p.len()].copy_from_slice(p);
                    let t = wire::write_token(&mut stage[at + p.len()..], &tokens[c * BATCH + j]);
                    lens[j] = p.len() + t.unwrap_or(0);
                }
                let t = Instant::now();
                for (j, src) in chunk.iter().enumerate().take(n) {
                    f(&mut self.node, *src, &stage[j * 1500..j * 1500 + lens[j]]);
                }
                samples.push(t.elapsed().as_nanos() as f64 / n as f64);
                k += n;
                self.drain();
                if k == total {
                    break;
                }
            }
            self.tick(1);
        }
        median(samples)
    }
}

/// A GETPEER issuing a cookie (the node echoes it back).
pub(crate) fn getpeer() -> Vec<u8> {
    let mut buf = [0u8; 32];
    let m = Msg {
        op: Op::Getpeer,
        cookie: &[7; 8],
        ..Msg::default()
    };
    let n = wire::encode_into(&m, &mut buf).unwrap_or(0);
    buf[..n].to_vec()
}
