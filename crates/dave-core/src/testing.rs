//! The in-memory network that tests and examples drive nodes through
//! (feature `testing`).
//!
//! Node `i` lives at `127.0.0.1:(20000 + i)` ([`addr`]). Every datagram a
//! node queues in one epoch is delivered at the start of the next, through
//! the same [`Node::handle_packet`], [`Node::handle_tick`] and
//! [`Node::peek_transmit`]/[`Node::pop_transmit`] calls a real driver and
//! the simulator use. No sockets and no clock: each run is exact and
//! repeatable.
//!
//! ```
//! use dave_core::testing::{Net, T0_MS};
//! use dave_core::{Dat, Event, GetOpts, Query};
//! use ed25519_dalek::SigningKey;
//!
//! // Two nodes; node 1 knows node 0 as its edge (bootstrap peer).
//! let mut net = Net::new(2, |_, _| {});
//! net.run(2_100); // they meet, and pass DELAY so gossip flows
//!
//! // Node 0's application writes a value: proof of work, then a signature.
//! let writer = SigningKey::from_bytes(&[7; 32]);
//! let (dat, _) = Dat::make(b"greeting", b"hello dave", net.now().unix_ms, 8, &writer, 1, None)
//!     .expect("a key and value that fit one dat");
//! let time = dat.time_ms.to_le_bytes();
//! net.nodes[0].put(&dat.msg(&time)).expect("a valid dat");
//!
//! // Node 1's application asks for it by name and gets it from the network.
//! let q = Query::name(dat.pubkey, b"greeting").expect("a short key");
//! net.nodes[1].get(q, GetOpts::timeout(20_000)).expect("room for a request");
//! let work = loop {
//!     net.run(1);
//!     if let Some(Event::Got { work, .. }) = net.nodes[1].poll_event() {
//!         break work;
//!     }
//! };
//! let got = net.nodes[1].dat_by_work(&work).expect("held after a Got event");
//! assert_eq!(got.val, b"hello dave");
//! assert_eq!(T0_MS + net.epoch * 65_537 / 1_000_000, net.now().unix_ms);
//! ```

use crate::config::{Config, EPOCH_NS};
use crate::node::{Node, Now};
use crate::wire::{self, Cookie, Msg, Op, Packet};
use std::net::SocketAddr;

/// The wall clock, in Unix milliseconds, at epoch 0.
pub const T0_MS: u64 = 1_763_700_000_000;

/// The address of node `i`: `127.0.0.1:(20000 + i)`.
pub fn addr(i: usize) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 20_000 + i as u16))
}

/// The time at `epoch`: the wall clock follows the default EPOCH.
pub fn now_at(epoch: u64) -> Now {
    Now {
        epoch,
        unix_ms: T0_MS + epoch * EPOCH_NS / 1_000_000,
    }
}

/// One datagram in flight.
#[derive(Clone, Debug)]
pub struct Datagram {
    /// Sender.
    pub from: SocketAddr,
    /// Receiver.
    pub to: SocketAddr,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// Nodes in memory, one epoch of latency between any two.
pub struct Net {
    /// The nodes; node `i` is at [`addr`]`(i)`.
    pub nodes: Vec<Node>,
    /// The last epoch run.
    pub epoch: u64,
    /// Datagrams sent and not yet delivered.
    pub wire: Vec<Datagram>,
    /// Nodes that are down: nothing is delivered to them or sent by them.
    pub down: Vec<usize>,
}

impl Net {
    /// `n` nodes, each but node 0 with node 0 as its edge. `tweak(i, cfg)`
    /// adjusts node `i`'s configuration (its defaults: 1,000 dats, a
    /// 4,096-slot filter, seed `1000 + i`).
    pub fn new(n: usize, tweak: impl Fn(usize, &mut Config)) -> Net {
        let mut net = Net {
            nodes: Vec::with_capacity(n),
            epoch: 0,
            wire: Vec::new(),
            down: Vec::new(),
        };
        for i in 0..n {
            let mut cfg = Config::default().with_dat_cap(1000);
            cfg.filter_cap = 1 << 12;
            cfg.seed = 1000 + i as u64;
            if i > 0 {
                cfg.edges = vec![addr(0)];
            }
            tweak(i, &mut cfg);
            net.push(cfg);
        }
        net
    }

    /// Adds a node at the next address; returns its index.
    pub fn push(&mut self, cfg: Config) -> usize {
        let i = self.nodes.len();
        let mut node = Node::new(cfg);
        node.add_self_addr(addr(i));
        self.nodes.push(node);
        i
    }

    /// The time of the current epoch.
    pub fn now(&self) -> Now {
        now_at(self.epoch)
    }

    /// The index of the node at `a`.
    pub fn index_of(&self, a: SocketAddr) -> Option<usize> {
        let port = a.port().checked_sub(20_000)? as usize;
        (port < self.nodes.len() && addr(port) == a).then_some(port)
    }

    /// Runs `epochs` epochs: deliver what was sent, tick every node, collect
    /// what they send.
    pub fn run(&mut self, epochs: u64) {
        for _ in 0..epochs {
            self.epoch += 1;
            let now = self.now();
            for d in std::mem::take(&mut self.wire) {
                if let Some(j) = self.index_of(d.to) {
                    if !self.down.contains(&j) {
                        self.nodes[j].handle_packet(d.from, &d.bytes);
                    }
                }
            }
            for n in &mut self.nodes {
                n.handle_tick(now);
            }
            self.collect();
        }
    }

    /// Moves every node's queued datagrams onto the wire (a down node's are
    /// lost).
    pub fn collect(&mut self) {
        for i in 0..self.nodes.len() {
            while let Some((to, bytes)) = self.nodes[i].peek_transmit() {
                if !self.down.contains(&i) {
                    self.wire.push(Datagram {
                        from: addr(i),
                        to,
                        bytes: bytes.to_vec(),
                    });
                }
                self.nodes[i].pop_transmit();
            }
        }
    }

    /// How many nodes hold the dat with this work hash.
    pub fn holders(&self, work: &[u8; 32]) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.dat_by_work(work).is_some())
            .count()
    }

    /// Panics, naming the node and the epoch, if any node's invariants fail.
    pub fn check(&self) {
        for (i, n) in self.nodes.iter().enumerate() {
            if let Err(e) = n.check_invariants() {
                panic!("node {i} at epoch {}: {e}", self.epoch);
            }
        }
    }
}

/// A GETPEER issuing `cookie`, quoting `token`.
pub fn getpeer(cookie: &Cookie, token: Option<&Cookie>) -> Vec<u8> {
    let m = Msg {
        op: Op::Getpeer,
        cookie,
        token: token.map_or(&[][..], |t| &t[..]),
        ..Msg::default()
    };
    let mut buf = [0u8; 64];
    match wire::encode_into(&m, &mut buf) {
        Ok(n) => buf[..n].to_vec(),
        Err(e) => panic!("a GETPEER fits 64 bytes: {e}"),
    }
}

pub use crate::wire::with_token;

/// Takes everything `n` queued; returns the datagrams that went to `to`.
pub fn sent_to(n: &mut Node, to: SocketAddr) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some((a, b)) = n.peek_transmit() {
        if a == to {
            out.push(b.to_vec());
        }
        n.pop_transmit();
    }
    out
}

/// `a` completes the handshake with `n` through `n`'s outbox (a GETPEER;
/// the PEER with `n`'s cookie for `a`; a GETPEER quoting it), so `a` is a
/// validated peer of `n`, and `n` has moved on by one epoch. Returns the
/// token `a` quotes from then on; everything else `n` queued is dropped.
pub fn handshake(n: &mut Node, a: SocketAddr) -> Cookie {
    // The node answers strangers within a budget; when it is spent, wait
    // for it to refill and ask again.
    let wait = n.config().unvalidated_reply_epochs;
    let mut token = None;
    for _ in 0..1000 {
        n.handle_packet(a, &getpeer(&[7; 8], None));
        token = sent_to(n, a).iter().find_map(|b| match wire::decode(b) {
            Ok(Packet::Peer { cookie, .. }) => Some(*cookie),
            _ => None,
        });
        if token.is_some() {
            break;
        }
        let next = Now {
            epoch: n.epoch() + wait,
            unix_ms: n.now_ms(),
        };
        n.handle_tick(next);
    }
    let token = token.unwrap_or_else(|| panic!("{a}'s GETPEER was not answered with a cookie"));
    let next = Now {
        epoch: n.epoch() + 1,
        unix_ms: n.now_ms(),
    };
    n.handle_tick(next);
    n.handle_packet(a, &getpeer(&[7; 8], Some(&token)));
    sent_to(n, a);
    token
}
