//! Edges given by host name (`-e seed.example.org:1618`, or `DAVE_EDGES`),
//! resolved at start and again whenever the address they gave stays
//! silent: a seed that moves to a new address is found again without a
//! restart. The lookups run on a thread of their own (a resolver may take
//! seconds), so the node's loop never waits for them.
//!
//! Every [`CHECK`] the loop asks [`Rehome::after_turn`] to look at the
//! named edges: one whose current address has not been heard from for
//! [`SILENT`] (or never was) is looked up again. When the name now gives
//! another address, the node is asked to greet it (`Node::add_peer`: it
//! enters the table if it answers), and it is the address watched from
//! then on; when it gives the same one, the node greets it again. The old
//! address stays an edge, asked with backoff as ever.

use dave_core::{Node, NEVER};
use log::{debug, info};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

/// How often the named edges are looked at.
pub const CHECK: Duration = Duration::from_secs(60);
/// How long an edge's address may be silent before its name is looked up again.
pub const SILENT: Duration = Duration::from_secs(60);

/// An edge given by name, and the address it resolved to last.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Named {
    /// The host name.
    pub host: String,
    /// The port.
    pub port: u16,
    /// The address the name gave last.
    pub addr: SocketAddr,
}

/// A name lookup: every address `host:port` resolves to.
pub type Lookup = fn(&str, u16) -> io::Result<Vec<SocketAddr>>;

/// What a lookup thread answers: each edge's index and what its name gave.
type Answers = Vec<(usize, io::Result<Vec<SocketAddr>>)>;

/// The system's resolver.
pub fn system_lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    Ok((host, port).to_socket_addrs()?.collect())
}

/// The address dave takes from a lookup: the first IPv4 one, else the first.
pub fn pick(found: &[SocketAddr]) -> Option<SocketAddr> {
    found
        .iter()
        .find(|a| a.is_ipv4())
        .or(found.first())
        .copied()
}

/// The named edges of a running node, looked up again when silent.
pub struct Rehome {
    edges: Vec<Named>,
    lookup: Lookup,
    every: Duration,
    silent: Duration,
    last: Instant,
    pending: Option<Receiver<Answers>>,
}

impl Rehome {
    /// Watches `edges` with the system's resolver, every [`CHECK`].
    pub fn new(edges: Vec<Named>) -> Rehome {
        Rehome::with(edges, system_lookup, CHECK, SILENT)
    }

    /// Watches `edges` with `lookup`, looking every `every` for an address
    /// silent for `silent`.
    pub fn with(edges: Vec<Named>, lookup: Lookup, every: Duration, silent: Duration) -> Rehome {
        Rehome {
            edges,
            lookup,
            every,
            silent,
            last: Instant::now(),
            pending: None,
        }
    }

    /// The named edges and their current addresses.
    pub fn edges(&self) -> &[Named] {
        &self.edges
    }

    /// After each turn of the loop: takes in finished lookups, and when a
    /// check is due starts the lookups of the silent edges on a thread.
    pub fn after_turn(&mut self, node: &mut Node) {
        if let Some(rx) = &self.pending {
            match rx.try_recv() {
                Ok(results) => {
                    self.pending = None;
                    for (i, r) in results {
                        self.apply(node, i, r);
                    }
                }
                Err(mpsc::TryRecvError::Empty) => return,
                Err(mpsc::TryRecvError::Disconnected) => self.pending = None,
            }
        }
        if self.edges.is_empty() || self.last.elapsed() < self.every {
            return;
        }
        self.last = Instant::now();
        let due = self.silent_edges(node);
        if due.is_empty() {
            return;
        }
        let jobs: Vec<(usize, String, u16)> = due
            .into_iter()
            .map(|i| (i, self.edges[i].host.clone(), self.edges[i].port))
            .collect();
        let lookup = self.lookup;
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("dave-resolve".into())
            .spawn(move || {
                let out = jobs
                    .into_iter()
                    .map(|(i, host, port)| (i, lookup(&host, port)))
                    .collect::<Vec<_>>();
                let _ = tx.send(out);
            });
        match spawned {
            Ok(_) => self.pending = Some(rx),
            Err(e) => debug!("/d/edge/error cannot start a lookup thread: {e}"),
        }
    }

    /// The edges whose current address has not been heard from for the
    /// silent time (or never was).
    pub fn silent_edges(&self, node: &Node) -> Vec<usize> {
        let epoch_ns = node.config().epoch_ns.max(1) as u128;
        let limit = (self.silent.as_nanos() / epoch_ns) as u64;
        let peers = node.peers();
        (0..self.edges.len())
            .filter(|&i| {
                let a = dave_core::canonical(self.edges[i].addr);
                match peers.find(a) {
                    None => true,
                    Some(j) => {
                        let p = peers.get(j);
                        p.seen == NEVER || p.silence(node.epoch()) >= limit
                    }
                }
            })
            .collect()
    }

    /// Takes in the lookup of edge `i`: a new address is greeted and
    /// watched from now on; the same address is greeted again.
    pub fn apply(&mut self, node: &mut Node, i: usize, found: io::Result<Vec<SocketAddr>>) {
        let Some(e) = self.edges.get_mut(i) else {
            return;
        };
        let name = format!("{}:{}", e.host, e.port);
        match found.as_deref().map(pick) {
            Ok(Some(a)) if a != e.addr => {
                info!(
                    "/d/edge/moved {name} was {} and is silent; it resolves to {a} now, which the node asks to join",
                    e.addr
                );
                e.addr = a;
                node.add_peer(a);
            }
            Ok(Some(a)) => {
                debug!("/d/edge/same {name} still resolves to {a}, which is silent; asked again");
                node.add_peer(a);
            }
            Ok(None) => info!("/d/edge/unresolved {name} is silent and now has no address"),
            Err(err) => info!("/d/edge/unresolved {name} is silent and cannot be resolved: {err}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dave_core::{Config, Now};

    fn node(edges: Vec<SocketAddr>) -> Node {
        let cfg = Config {
            edges,
            seed: 3,
            ..Config::default()
        };
        Node::new(cfg)
    }

    fn sent_to(node: &mut Node, a: SocketAddr) -> bool {
        let mut seen = false;
        while let Some((to, _)) = node.peek_transmit() {
            seen |= to == a;
            node.pop_transmit();
        }
        seen
    }

    #[test]
    fn a_silent_edge_that_moved_is_greeted_at_its_new_address() {
        let old: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let new: SocketAddr = "127.0.0.1:10".parse().unwrap();
        let mut n = node(vec![old]);
        n.handle_tick(Now {
            epoch: 1,
            unix_ms: 1_763_700_000_000,
        });
        while n.peek_transmit().is_some() {
            n.pop_transmit();
        }
        let edges = vec![Named {
            host: "seed.test".into(),
            port: 9,
            addr: old,
        }];
        let mut r = Rehome::with(edges, |_, _| Ok(vec![]), CHECK, SILENT);
        // The edge never answered: it is silent.
        assert_eq!(r.silent_edges(&n), vec![0]);
        // A name that gives nothing changes nothing.
        r.apply(&mut n, 0, Ok(vec![]));
        assert_eq!(r.edges()[0].addr, old);
        r.apply(&mut n, 0, Err(io::Error::other("no such host")));
        assert_eq!(r.edges()[0].addr, old);
        // The name moved: the new address (IPv4 first) is watched and asked.
        let v6: SocketAddr = "[::1]:10".parse().unwrap();
        r.apply(&mut n, 0, Ok(vec![v6, new]));
        assert_eq!(r.edges()[0].addr, new);
        n.handle_tick(Now {
            epoch: 2,
            unix_ms: 1_763_700_000_001,
        });
        assert!(sent_to(&mut n, new), "the node greets the new address");
    }

    #[test]
    fn lookups_run_off_the_loop_and_come_back() {
        let old: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let mut n = node(vec![old]);
        let edges = vec![Named {
            host: "seed.test".into(),
            port: 9,
            addr: old,
        }];
        let mut r = Rehome::with(
            edges,
            |_, port| Ok(vec![SocketAddr::from(([127, 0, 0, 1], port + 2))]),
            Duration::ZERO,
            Duration::ZERO,
        );
        r.after_turn(&mut n);
        // The lookup thread answers; the next turns take the answer in.
        let rx = r.pending.take().expect("a lookup started");
        let results = rx.recv().unwrap();
        for (i, res) in results {
            r.apply(&mut n, i, res);
        }
        assert_eq!(r.edges()[0].addr, "127.0.0.1:11".parse().unwrap());
    }
}
