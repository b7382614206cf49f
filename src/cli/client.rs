//! The client side of the command line: a short-lived node that writes or
//! reads through the network (`set`, `get`, `setf`, `getf`).

use crate::{edges, node, node_config, parse_addr, parse_num, rt, Fail};
use dave::driver::Driver;
use dave_core::NEVER;
use dave_core::{Config, DEFAULT_PORT};
use dave_core::{Event, GetId};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A dat found by a GET: its work hash and who sent it.
pub(crate) type Found = ([u8; 32], Option<SocketAddr>);

/// A short-lived node that writes or reads through the network.
pub(crate) struct Client {
    pub(crate) drv: Driver,
    pub(crate) timeout: Duration,
    pub(crate) edges: Vec<SocketAddr>,
}

impl Client {
    pub(crate) fn connect(m: &getopts::Matches) -> Result<Client, Fail> {
        Client::connect_with(m, |_| {})
    }

    /// Like `connect`, with the client node's configuration adjusted first.
    pub(crate) fn connect_with(
        m: &getopts::Matches,
        adjust: impl FnOnce(&mut Config),
    ) -> Result<Client, Fail> {
        let mut edges = edges(m)?;
        if edges.is_empty() {
            edges.push(SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)));
        }
        let secs = parse_num::<f64>(m, "t", "a number of seconds")?.unwrap_or(5.0);
        if !(secs > 0.0 && secs < 86400.0) {
            return Err(Fail::Usage(
                "--timeout must be between 0 and 86400 seconds".into(),
            ));
        }
        let timeout = Duration::from_secs_f64(secs);
        let mut cfg = node_config(m, edges.clone())?;
        // A client holds few dats and hears few sources.
        cfg = cfg.with_dat_cap(1024);
        cfg.filter_cap = 4096;
        adjust(&mut cfg);
        let listen = match m.opt_str("l") {
            Some(s) => parse_addr(&s)?,
            None => SocketAddr::from(([0u16; 8], 0)),
        };
        let drv = match Driver::bind(listen, node(cfg.clone())?) {
            Ok(d) => d,
            Err(_) if m.opt_str("l").is_none() => {
                Driver::bind(SocketAddr::from(([0, 0, 0, 0], 0)), node(cfg)?)
                    .map_err(|e| Fail::Runtime(format!("cannot open a UDP socket: {e}")))?
            }
            Err(e) => return Err(Fail::Runtime(format!("cannot listen on {listen}: {e}"))),
        };
        let mut c = Client {
            drv,
            timeout,
            edges,
        };
        c.await_edge()?;
        Ok(c)
    }

    pub(crate) fn edge_list(&self) -> String {
        self.edges
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Waits for an edge to answer our GETPEER.
    pub(crate) fn await_edge(&mut self) -> Result<(), Fail> {
        let t0 = Instant::now();
        while t0.elapsed() < self.timeout {
            self.drv.turn(Duration::from_millis(5)).map_err(rt)?;
            super::interrupt::check()?;
            if self
                .drv
                .node()
                .peers()
                .iter()
                .any(|p| p.edge && p.seen != NEVER)
            {
                return Ok(());
            }
        }
        Err(Fail::Runtime(format!(
            "no answer from {} within {:.1} s: is a node running there? (start one with `daved`, which listens on [::]:1618)",
            self.edge_list(),
            self.timeout.as_secs_f64()
        )))
    }

    /// Lets learned peers answer our pings, so a confirmation can ask someone new.
    pub(crate) fn settle(&mut self, d: Duration) -> Result<(), Fail> {
        let t0 = Instant::now();
        while t0.elapsed() < d {
            self.drv.turn(Duration::from_millis(5)).map_err(rt)?;
            super::interrupt::check()?;
            let live = self
                .drv
                .node()
                .peers()
                .iter()
                .filter(|p| p.seen != NEVER)
                .count();
            if live >= 3 {
                break;
            }
        }
        Ok(())
    }

    /// Runs the loop until GET `id` ends; returns the work found and who sent it.
    pub(crate) fn wait(&mut self, id: GetId) -> Result<Option<Found>, Fail> {
        // The node times the request out itself; this bound is a safety net.
        let hard = Instant::now() + self.timeout + Duration::from_secs(2);
        while Instant::now() < hard {
            self.drv.turn(Duration::from_millis(5)).map_err(rt)?;
            super::interrupt::check()?;
            while let Some(ev) = self.drv.node_mut().poll_event() {
                match ev {
                    Event::Got { id: i, work, from } if i == id => return Ok(Some((work, from))),
                    Event::TimedOut { id: i } if i == id => return Ok(None),
                    _ => {}
                }
            }
        }
        Ok(None)
    }

    pub(crate) fn live_peers(&self) -> String {
        let live: Vec<String> = self
            .drv
            .node()
            .peers()
            .iter()
            .filter(|p| p.seen != NEVER)
            .map(|p| p.addr.to_string())
            .collect();
        live.join(", ")
    }
}
