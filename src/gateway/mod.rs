//! The HTTP gateway: dave for applications and browsers, served on the
//! node's own mio loop (no second runtime, no threads).
//!
//! Routes (anything else is 404; there are no files behind the routes, so
//! no path can reach the file system):
//!
//! | method and path | answer |
//! |---|---|
//! | `GET /v1/dat/{work}` | the dat as JSON, or its raw value with `Accept: application/octet-stream`; from the store, else fetched from the network within [`Limits::get_wait`]; 404 when not found; cached for a year (`immutable`), with an ETag per form and 304 for a matching `If-None-Match` |
//! | `GET /v1/name/{pubkey}/{key}` | the current dat of a name, the same way (not cached); `key` is percent-encoded bytes, or `hex:` and hex digits |
//! | `POST /v1/dat` | a complete PUT as JSON, verified exactly as a packet would be; 202 when accepted and sent on, 400 naming the failing check (every missing field at once) |
//! | `POST /v1/value?name=NAME&bits=BITS` | the body as a value: proof of work on a thread of the gateway's, signed with the node's key (`-k`), put as the node's write; 202 with its work, pubkey and name; only on loopback and never from a web page (403), 503 when [`Limits::values`] are waiting or being made (see `values`) |
//! | `GET /v1/file/{root}`, `GET /v1/file/{pubkey}/{name}` | a file written with `daved setf`, by its root's work hash or by name (`hex:` and 64 digits): every dat fetched and verified against the tree before the first byte is sent, at most [`Limits::file_max`] bytes, [`Limits::files`] at once; 404 when no root arrives, 422 when the dat is not a file's root, 504 when the file stalls, 502 when a piece is bad |
//! | `HEAD` of every `GET` route | the same head, no body |
//! | `GET /v1/status` | the node's status as JSON |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /`, `/app.js`, `/proto.js`, `/files.js`, `/worker.js`, `/vendor.js`, `/vendor-LICENSE.txt` | the web page and its scripts, embedded in the binary |
//! | `OPTIONS *` | CORS preflight |
//!
//! Every refusal is counted and documented: too many connections (503),
//! too many connections from one address (429, at accept), header or body
//! too large (413), a head not whole within [`Limits::header_time`], an idle
//! or slow client (408), too many requests from one address (429), malformed
//! request or ambiguous framing (400), unknown route (404), wrong method
//! (405), a value to sign on a gateway not on loopback, from a web page, or
//! on a node without a key (403), a full proof-of-work queue (503).

//!
//! One file per job: `http` (parsing, responses, connections), `rate`
//! (per-client limits), `routes` (the routes and single-dat reads and
//! writes), `values` (values signed with the node's key, and the thread
//! that makes their proof of work), `downloads` (file reads), `metrics`
//! (the Prometheus text) and `assets` (the embedded web page). This file holds the [`Gateway`], its
//! bounds and counters, and its part in the node's event loop: readiness,
//! node events, and the tick.

mod assets;
mod downloads;
mod http;
mod metrics;
mod rate;
mod routes;
mod values;

pub use downloads::safe_file_name;
pub use http::{parse_request, Parsed, Req};
pub use metrics::metrics;
pub use routes::dat_json;
pub use values::DEFAULT_BITS;

use crate::status::Report;
use dave_core::{Event as NodeEvent, Node};
use downloads::FileRead;
use ed25519_dalek::SigningKey;
use http::{Conn, Resp, State};
use log::{debug, info};
use mio::net::TcpListener;
use mio::{Interest, Registry, Token};
use rate::Bucket;
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Rounds of file-read steps per tick (each round at most a window of
/// answers from the node's own store).
const FILE_ROUNDS: usize = 64;

pub(crate) use crate::tokens::GATEWAY_CONN as FIRST_CONN;
pub use crate::tokens::GATEWAY_LISTEN as LISTEN_TOKEN;
use crate::tokens::GATEWAY_WAKE;

/// The gateway's bounds. Every one reached is a counted refusal.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Open connections at once (more get 503).
    pub max_conns: usize,
    /// Open connections at once from one client address (IPv6: one /64);
    /// more are refused at accept with 429, so one client cannot hold
    /// every slot.
    pub per_client: usize,
    /// Largest request head (413 beyond).
    pub header_max: usize,
    /// Largest request body (413 beyond).
    pub body_max: usize,
    /// A connection that sends nothing for this long gets 408.
    pub idle: Duration,
    /// A request must arrive whole within this long (408 otherwise).
    pub request_time: Duration,
    /// A request's head (request line and headers) must arrive whole within
    /// this long of the connection being accepted (408 otherwise), however
    /// steadily its bytes trickle in.
    pub header_time: Duration,
    /// Requests per second per client address (IPv6: per /64), sustained.
    pub rate_per_s: f64,
    /// Requests a client may burst above the sustained rate.
    pub burst: f64,
    /// Client addresses tracked for rate limiting (least recently seen are forgotten).
    pub clients: usize,
    /// How long a GET waits for the network when the store does not hold the dat.
    pub get_wait: Duration,
    /// Largest file `GET /v1/file` reads (it is held in memory until verified).
    pub file_max: u64,
    /// Files read at once (more get 503).
    pub files: usize,
    /// GETs one file read keeps in flight (the node's MAX_GETS bounds all
    /// of its application GETs together).
    pub file_window: usize,
    /// Most proof of work `POST /v1/value` makes for one value, in bits
    /// (400 beyond): 24 bits is about 16.8 million attempts, a fraction of
    /// a second with a SIMD search and under two seconds without.
    pub value_bits: u8,
    /// Values `POST /v1/value` has waiting or being made at once (503
    /// beyond; 0 refuses them all).
    pub values: usize,
    /// Longest a connection waits for its value (a safety net: with the
    /// bounds above the thread answers long before).
    pub value_wait: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_conns: 64,
            per_client: 8,
            header_max: 8 * 1024,
            body_max: 16 * 1024,
            idle: Duration::from_secs(10),
            request_time: Duration::from_secs(10),
            header_time: Duration::from_secs(5),
            rate_per_s: 20.0,
            burst: 40.0,
            clients: 4096,
            get_wait: Duration::from_secs(3),
            file_max: 16 << 20,
            files: 1,
            file_window: 8,
            value_bits: 24,
            values: 4,
            value_wait: Duration::from_secs(60),
        }
    }
}

/// Gateway counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GwStats {
    /// Connections accepted.
    pub conns: u64,
    /// Requests parsed.
    pub requests: u64,
    /// 2xx answers.
    pub ok: u64,
    /// Connections refused because `max_conns` were open (503).
    pub refused_busy: u64,
    /// Connections refused because their client address already had
    /// `per_client` open (429).
    pub refused_client: u64,
    /// Connections whose request head was not whole within `header_time` (408).
    pub slow_heads: u64,
    /// Heads or bodies too large (413).
    pub too_large: u64,
    /// Idle or slow clients (408).
    pub timeouts: u64,
    /// Requests over the per-client rate (429).
    pub rate_limited: u64,
    /// Malformed requests or bad arguments (400).
    pub bad_requests: u64,
    /// Unknown routes and dats not found (404).
    pub not_found: u64,
    /// Wrong methods (405).
    pub bad_method: u64,
    /// Application GETs refused because the node's request table was full (503).
    pub busy_gets: u64,
    /// Files read whole and sent.
    pub files_sent: u64,
    /// File reads that failed (404, 502, 504) or were refused as busy (503).
    pub file_errors: u64,
    /// Refused with 403: `POST /v1/value` on a gateway not on loopback,
    /// from a web page, or on a node without a key.
    pub forbidden: u64,
    /// `POST /v1/value` refused because the proof-of-work queue was full (503).
    pub value_busy: u64,
    /// Values made, signed and put for `POST /v1/value`.
    pub values: u64,
}

/// The gateway's listening socket, connections and counters.
pub struct Gateway {
    listener: TcpListener,
    conns: Vec<Option<Conn>>,
    limits: Limits,
    stats: GwStats,
    buckets: HashMap<IpAddr, Bucket>,
    epoch_ns: u64,
    files: Vec<FileRead>,
    /// The node's key and its proof-of-work thread, for `POST /v1/value`.
    writer: Option<values::Writer>,
}

impl Gateway {
    /// Listens on `addr` and registers with `registry`.
    pub fn bind(
        addr: SocketAddr,
        limits: Limits,
        registry: &Registry,
        epoch_ns: u64,
    ) -> io::Result<Gateway> {
        let mut listener = TcpListener::bind(addr)?;
        registry.register(&mut listener, LISTEN_TOKEN, Interest::READABLE)?;
        let mut conns = Vec::with_capacity(limits.max_conns);
        conns.resize_with(limits.max_conns, || None);
        Ok(Gateway {
            listener,
            conns,
            limits,
            stats: GwStats::default(),
            buckets: HashMap::new(),
            epoch_ns: epoch_ns.max(1),
            files: Vec::new(),
            writer: None,
        })
    }

    /// Gives the gateway the node's key: `POST /v1/value` signs with it
    /// (served only on loopback), its proof of work made on a thread that
    /// wakes the loop through `registry` when a value is ready.
    pub fn set_key(&mut self, key: SigningKey, registry: &Registry) -> io::Result<()> {
        let w = values::Writer::start(key, registry, values::threads())?;
        let on_loopback = self.local_addr().is_ok_and(|a| a.ip().is_loopback());
        if on_loopback {
            info!(
                "/gw/key POST /v1/value signs with the key of {} (proof of work threads={}, at most {} bits)",
                dave_core::wire::Hex(w.pubkey()),
                values::threads(),
                self.limits.value_bits
            );
        } else {
            log::warn!("/gw/key the gateway is not on loopback, so POST /v1/value refuses to sign with the node's key");
        }
        self.writer = Some(w);
        Ok(())
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Counters.
    pub fn stats(&self) -> &GwStats {
        &self.stats
    }

    /// True if `t` belongs to the gateway.
    pub fn owns(t: Token) -> bool {
        t.0 >= LISTEN_TOKEN.0
    }

    /// Handles readiness of the listener or a connection.
    pub fn ready(
        &mut self,
        t: Token,
        registry: &Registry,
        node: &mut Node,
        report: &dyn Fn(&Node) -> Report,
    ) {
        if t == LISTEN_TOKEN {
            self.accept(registry);
            return;
        }
        // A value is made: the tick delivers it.
        if t == GATEWAY_WAKE {
            return;
        }
        let slot = t.0 - FIRST_CONN;
        if slot >= self.conns.len() || self.conns[slot].is_none() {
            return;
        }
        if self.conns[slot]
            .as_ref()
            .is_some_and(|c| c.state == State::Reading)
        {
            self.read(slot, registry, node, report);
        }
        if self.conns[slot]
            .as_ref()
            .is_some_and(|c| c.state == State::Writing)
        {
            self.write(slot, registry);
        }
    }

    /// Delivers every pending node event; false when there was none.
    fn drain_events(&mut self, node: &mut Node, registry: &Registry) -> bool {
        let mut any = false;
        while let Some(ev) = node.poll_event() {
            any = true;
            self.on_node_event(ev, node, registry);
        }
        any
    }

    /// Delivers a node event to the connection waiting for it.
    fn on_node_event(&mut self, ev: NodeEvent, node: &Node, registry: &Registry) {
        let now = Instant::now();
        for f in &mut self.files {
            if f.failed.is_some() {
                continue;
            }
            match f.dl.on_event(node, &ev, &mut f.data, now) {
                Ok(false) => continue,
                Ok(true) => return,
                Err(e) => {
                    f.failed = Some(e);
                    return;
                }
            }
        }
        let id = match ev {
            NodeEvent::Got { id, .. } | NodeEvent::TimedOut { id } => id,
        };
        let Some(slot) = self.conns.iter().position(|c| {
            c.as_ref()
                .is_some_and(|c| matches!(c.state, State::Waiting { id: i, .. } if i == id))
        }) else {
            return;
        };
        let (raw, by_work) = match self.conns[slot].as_ref().map(|c| c.state) {
            Some(State::Waiting { raw, by_work, .. }) => (raw, by_work),
            _ => (false, false),
        };
        let r = match ev {
            NodeEvent::Got { work, .. } => match node.dat_by_work(&work) {
                Some(m) => {
                    let mut r = if raw {
                        Resp::new(200, "application/octet-stream", m.val.to_vec(), "")
                    } else {
                        Resp::json(200, dat_json(&m))
                    };
                    // By work hash, the answer never changes; by name, the
                    // current dat may be replaced by a newer one.
                    if by_work {
                        r.cache = http::IMMUTABLE;
                        r.extra = routes::dat_headers(&work, raw).into();
                    }
                    r
                }
                None => Resp::error(
                    404,
                    "not_found",
                    "the dat was pruned before it could be sent",
                ),
            },
            NodeEvent::TimedOut { .. } => Resp::error(
                404,
                "not_found",
                &format!(
                    "not held here, and no peer returned it within {:.1} s",
                    self.limits.get_wait.as_secs_f64()
                ),
            ),
        };
        self.respond(slot, r, registry);
    }

    /// Once per turn of the loop: delivers the node's events to the
    /// connections waiting for them, drives file reads, and times out idle
    /// and slow clients.
    pub fn tick(&mut self, registry: &Registry, node: &mut Node) {
        self.drain_events(node, registry);
        self.deliver_values(node, registry);
        // File reads: what the node holds is answered at once, so keep
        // stepping while answers come (bounded, so one read cannot hold
        // the loop).
        for _ in 0..FILE_ROUNDS {
            self.step_files(registry, node);
            if !self.drain_events(node, registry) {
                break;
            }
        }
        let now = Instant::now();
        for slot in 0..self.conns.len() {
            let Some(c) = self.conns[slot].as_ref() else {
                continue;
            };
            if c.state == State::Reading
                && !c.head_done
                && now.duration_since(c.opened) >= self.limits.header_time
            {
                self.stats.slow_heads += 1;
                debug!("/gw/refuse/slow {}", c.peer);
                let r = Resp::error(
                    408,
                    "slow_head",
                    "the request head did not arrive whole in time",
                );
                self.send(slot, r, registry);
                continue;
            }
            let expired = match c.state {
                State::Reading => {
                    now.duration_since(c.last) >= self.limits.idle
                        || now.duration_since(c.opened) >= self.limits.request_time
                }
                // The node answers or times out first; this is a safety net.
                State::Waiting { id, .. } => {
                    if now.duration_since(c.opened)
                        >= self.limits.get_wait + self.limits.request_time
                    {
                        node.cancel(id);
                        true
                    } else {
                        false
                    }
                }
                // A file read ends by itself: whole, or stalled for get_wait.
                State::File => false,
                // The proof-of-work thread answers; this is a safety net.
                State::Working { .. } => now.duration_since(c.opened) >= self.limits.value_wait,
                State::Writing => {
                    now.duration_since(c.last) >= self.limits.idle + self.limits.request_time
                }
            };
            if expired {
                if c.state == State::Writing {
                    self.stats.timeouts += 1;
                    self.close(slot, registry);
                } else if matches!(c.state, State::Working { .. }) {
                    self.stats.timeouts += 1;
                    let r = Resp::error(
                        504,
                        "timeout",
                        "the proof of work did not finish in time; the value may still be written",
                    );
                    self.send(slot, r, registry);
                } else {
                    self.respond(
                        slot,
                        Resp::error(408, "timeout", "the request did not arrive in time"),
                        registry,
                    );
                }
            }
        }
    }

    /// Logs where the gateway listens, with a warning when it is not loopback.
    pub fn announce(&self) {
        if let Ok(a) = self.local_addr() {
            info!("/gw/start listening on http://{a}/");
            if !a.ip().is_loopback() {
                log::warn!("/gw/public the HTTP gateway listens on {a}, not loopback: anyone who can reach it may read and write through this node (within its limits)");
            }
        }
    }
}
