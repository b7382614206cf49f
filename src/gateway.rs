//! The HTTP gateway: dave for applications and browsers, served on the
//! node's own mio loop (no second runtime, no threads).
//!
//! Routes (anything else is 404; there are no files behind the routes, so
//! no path can reach the file system):
//!
//! | method and path | answer |
//! |---|---|
//! | `GET /v1/dat/{work}` | the dat as JSON, or its raw value with `Accept: application/octet-stream`; from the store, else fetched from the network within [`Limits::get_wait`]; 404 when not found |
//! | `GET /v1/name/{pubkey}/{key}` | the current dat of a name, the same way; `key` is percent-encoded bytes, or `hex:` and hex digits |
//! | `POST /v1/dat` | a complete PUT as JSON, verified exactly as a packet would be; 202 when accepted and sent on, 400 naming the failing check |
//! | `GET /v1/file/{root}`, `GET /v1/file/{pubkey}/{name}` | a file written with `daved setf`, by its root's work hash or by name (`hex:` and 64 digits): every dat fetched and verified against the tree before the first byte is sent, at most [`Limits::file_max`] bytes, [`Limits::files`] at once; 404 when no root arrives, 504 when the file stalls, 502 when a piece is bad |
//! | `GET /v1/status` | the node's status as JSON |
//! | `GET /metrics` | Prometheus text format |
//! | `GET /`, `/app.js`, `/proto.js`, `/worker.js`, `/vendor.js`, `/vendor-LICENSE.txt` | the web page and its scripts, embedded in the binary |
//! | `OPTIONS *` | CORS preflight |
//!
//! Every refusal is counted and documented: too many connections (503),
//! header or body too large (413), idle or slow client (408), too many
//! requests from one address (429), malformed request (400), unknown route
//! (404), wrong method (405).

use crate::json::{self, Value};
use crate::status::Report;
use dave_core::wire::{hex32, parse_hex, Hex, Msg, Op, Put, KEY_MAX};
use dave_core::{Event as NodeEvent, GetId, GetOpts, Node, PutError, Query};
use dave_files::{Download, DownloadOpts, FetchError, RootRef};
use log::{debug, info};
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Rounds of file-read steps per tick (each round at most a window of
/// answers from the node's own store).
const FILE_ROUNDS: usize = 64;

/// Token of the listening socket; connections use the tokens after it.
pub const LISTEN_TOKEN: Token = Token(2);
const FIRST_CONN: usize = 3;

/// The gateway's bounds. Every one reached is a counted refusal.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Open connections at once (more get 503).
    pub max_conns: usize,
    /// Largest request head (413 beyond).
    pub header_max: usize,
    /// Largest request body (413 beyond).
    pub body_max: usize,
    /// A connection that sends nothing for this long gets 408.
    pub idle: Duration,
    /// A request must arrive whole within this long (408 otherwise).
    pub request_time: Duration,
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
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_conns: 64,
            header_max: 8 * 1024,
            body_max: 16 * 1024,
            idle: Duration::from_secs(10),
            request_time: Duration::from_secs(10),
            rate_per_s: 20.0,
            burst: 40.0,
            clients: 4096,
            get_wait: Duration::from_secs(3),
            file_max: 16 << 20,
            files: 1,
            file_window: 8,
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
}

const PAGE: &str = include_str!("web/index.html");
const APP_JS: &str = include_str!("web/app.js");
const WORKER_JS: &str = include_str!("web/worker.js");
const PROTO_JS: &str = include_str!("web/proto.js");
const VENDOR_JS: &str = include_str!("web/vendor.js");
const VENDOR_LICENSE: &str = include_str!("web/vendor-LICENSE.txt");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Reading,
    Waiting {
        id: GetId,
        raw: bool,
    },
    /// Reading a file for the connection (see [`FileRead`]).
    File,
    Writing,
}

/// A file being read for a connection.
struct FileRead {
    slot: usize,
    dl: Download,
    data: Vec<u8>,
    /// Set when a node event ended the read; answered at the next tick.
    failed: Option<FetchError>,
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    buf: Vec<u8>,
    out: Vec<u8>,
    written: usize,
    state: State,
    opened: Instant,
    last: Instant,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// A parsed request, owned so the connection buffer can be reused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Req {
    /// The method.
    pub method: String,
    /// The path, with any query.
    pub path: String,
    /// `Accept` asks for `application/octet-stream`.
    pub accept_raw: bool,
    /// The body (Content-Length bytes).
    pub body: Vec<u8>,
}

/// What the bytes received so far amount to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// A whole request.
    Done(Req),
    /// A request the gateway refuses: status code, error name, message.
    Refused {
        /// HTTP status.
        code: u16,
        /// Short error name.
        error: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Parses the bytes a connection has sent (httparse for the head), within
/// the size limits.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Parsed {
    let refuse = |code, error, message: String| Parsed::Refused {
        code,
        error,
        message,
    };
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() >= limits.header_max {
                return refuse(
                    413,
                    "too_large",
                    format!(
                        "the request head is larger than {} bytes",
                        limits.header_max
                    ),
                );
            }
            return Parsed::Incomplete;
        }
        Err(e) => return refuse(400, "bad_request", format!("malformed HTTP request: {e}")),
    };
    if head_len > limits.header_max {
        return refuse(
            413,
            "too_large",
            format!(
                "the request head is larger than {} bytes",
                limits.header_max
            ),
        );
    }
    let mut body_len = 0usize;
    let mut accept_raw = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            match std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
            {
                Some(n) => body_len = n,
                None => return refuse(400, "bad_request", "bad Content-Length".into()),
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return refuse(
                400,
                "bad_request",
                "chunked bodies are not accepted: send Content-Length".into(),
            );
        } else if h.name.eq_ignore_ascii_case("accept") {
            accept_raw =
                std::str::from_utf8(h.value).is_ok_and(|v| v.contains("application/octet-stream"));
        }
    }
    if body_len > limits.body_max {
        return refuse(
            413,
            "too_large",
            format!("the body is larger than {} bytes", limits.body_max),
        );
    }
    if buf.len() < head_len + body_len {
        return Parsed::Incomplete;
    }
    Parsed::Done(Req {
        method: req.method.unwrap_or("").to_string(),
        path: req.path.unwrap_or("").to_string(),
        accept_raw,
        body: buf[head_len..head_len + body_len].to_vec(),
    })
}

/// An HTTP response.
struct Resp {
    code: u16,
    ctype: &'static str,
    body: Vec<u8>,
    extra: std::borrow::Cow<'static, str>,
}

impl Resp {
    fn json(code: u16, body: String) -> Resp {
        Resp {
            code,
            ctype: "application/json; charset=utf-8",
            body: body.into_bytes(),
            extra: "".into(),
        }
    }

    fn error(code: u16, error: &str, message: &str) -> Resp {
        Resp::json(
            code,
            format!(
                "{{\"error\":\"{}\",\"message\":\"{}\"}}",
                json::escape(error),
                json::escape(message)
            ),
        )
    }

    fn bytes(&self) -> Vec<u8> {
        let reason = match self.code {
            200 => "OK",
            202 => "Accepted",
            204 => "No Content",
            400 => "Bad Request",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            413 => "Content Too Large",
            429 => "Too Many Requests",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            _ => "Error",
        };
        let mut h = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: GET, POST, OPTIONS\r\n\
             Access-Control-Allow-Headers: Content-Type, Accept\r\nX-Content-Type-Options: nosniff\r\n\
             Cache-Control: no-store\r\n{}\r\n",
            self.code,
            self.ctype,
            self.body.len(),
            self.extra
        )
        .into_bytes();
        h.extend_from_slice(&self.body);
        h
    }
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
        })
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

    fn accept(&mut self, registry: &Registry) {
        loop {
            let (mut stream, peer) = match self.listener.accept() {
                Ok(x) => x,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    debug!("/gw/accept/error {e}");
                    return;
                }
            };
            let Some(slot) = self.conns.iter().position(Option::is_none) else {
                self.stats.refused_busy += 1;
                debug!("/gw/refuse/busy {peer}");
                let _ = stream.write(
                    &Resp::error(503, "busy", "too many connections; try again shortly").bytes(),
                );
                continue;
            };
            if registry
                .register(
                    &mut stream,
                    Token(FIRST_CONN + slot),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                continue;
            }
            self.stats.conns += 1;
            let now = Instant::now();
            self.conns[slot] = Some(Conn {
                stream,
                peer,
                buf: Vec::with_capacity(4096),
                out: Vec::new(),
                written: 0,
                state: State::Reading,
                opened: now,
                last: now,
            });
        }
    }

    fn close(&mut self, slot: usize, registry: &Registry) {
        if let Some(mut c) = self.conns[slot].take() {
            let _ = registry.deregister(&mut c.stream);
        }
    }

    fn respond(&mut self, slot: usize, r: Resp, registry: &Registry) {
        match r.code {
            200..=299 => self.stats.ok += 1,
            400 => self.stats.bad_requests += 1,
            404 => self.stats.not_found += 1,
            405 => self.stats.bad_method += 1,
            408 => self.stats.timeouts += 1,
            413 => self.stats.too_large += 1,
            429 => self.stats.rate_limited += 1,
            _ => {}
        }
        if let Some(c) = self.conns[slot].as_mut() {
            debug!("/gw/resp {} {} bytes to {}", r.code, r.body.len(), c.peer);
            c.out = r.bytes();
            c.written = 0;
            c.state = State::Writing;
        }
        self.write(slot, registry);
    }

    fn write(&mut self, slot: usize, registry: &Registry) {
        let Some(c) = self.conns[slot].as_mut() else {
            return;
        };
        while c.written < c.out.len() {
            match c.stream.write(&c.out[c.written..]) {
                Ok(0) => break,
                Ok(n) => c.written += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        let _ = c.stream.flush();
        let _ = c.stream.shutdown(std::net::Shutdown::Write);
        self.close(slot, registry);
    }

    fn read(
        &mut self,
        slot: usize,
        registry: &Registry,
        node: &mut Node,
        report: &dyn Fn(&Node) -> Report,
    ) {
        let cap = self.limits.header_max + self.limits.body_max;
        let mut eof = false;
        {
            let Some(c) = self.conns[slot].as_mut() else {
                return;
            };
            let mut chunk = [0u8; 4096];
            loop {
                if c.buf.len() >= cap {
                    break;
                }
                match c.stream.read(&mut chunk) {
                    Ok(0) => {
                        eof = true;
                        break;
                    }
                    Ok(n) => {
                        let take = n.min(cap - c.buf.len());
                        c.buf.extend_from_slice(&chunk[..take]);
                        c.last = Instant::now();
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        eof = true;
                        break;
                    }
                }
            }
        }
        match self.parse(slot) {
            Ok(Some(req)) => {
                self.stats.requests += 1;
                self.handle(slot, req, registry, node, report);
            }
            Ok(None) if eof => self.close(slot, registry),
            Ok(None) => {}
            Err(r) => self.respond(slot, r, registry),
        }
    }

    /// A complete request, `None` if more bytes are needed, or the refusal.
    fn parse(&mut self, slot: usize) -> Result<Option<Req>, Resp> {
        let c = self.conns[slot].as_mut().expect("open");
        match parse_request(&c.buf, &self.limits) {
            Parsed::Incomplete => Ok(None),
            Parsed::Refused {
                code,
                error,
                message,
            } => Err(Resp::error(code, error, &message)),
            Parsed::Done(r) => {
                c.buf.clear();
                Ok(Some(r))
            }
        }
    }

    /// Spends one token of the client's bucket; false when it is empty.
    fn allow(&mut self, peer: IpAddr) -> bool {
        let key = match peer.to_canonical() {
            IpAddr::V6(v6) => {
                // A /64 is what one IPv6 client usually has.
                let mut o = v6.octets();
                o[8..].fill(0);
                IpAddr::from(o)
            }
            v4 => v4,
        };
        let now = Instant::now();
        if !self.buckets.contains_key(&key) && self.buckets.len() >= self.limits.clients {
            // Forget the least recently seen client.
            if let Some(old) = self
                .buckets
                .iter()
                .min_by_key(|(_, b)| b.last)
                .map(|(k, _)| *k)
            {
                self.buckets.remove(&old);
            }
        }
        let (rate, burst) = (self.limits.rate_per_s, self.limits.burst);
        let b = self.buckets.entry(key).or_insert(Bucket {
            tokens: burst,
            last: now,
        });
        b.tokens = (b.tokens + now.duration_since(b.last).as_secs_f64() * rate).min(burst);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn handle(
        &mut self,
        slot: usize,
        req: Req,
        registry: &Registry,
        node: &mut Node,
        report: &dyn Fn(&Node) -> Report,
    ) {
        let peer = self.conns[slot].as_ref().expect("open").peer;
        debug!("/gw/req {} {} from {peer}", req.method, req.path);
        if !self.allow(peer.ip()) {
            let mut r = Resp::error(
                429,
                "rate_limited",
                "too many requests from your address; slow down",
            );
            r.extra = "Retry-After: 1\r\n".into();
            return self.respond(slot, r, registry);
        }
        let path = req.path.split('?').next().unwrap_or("");
        let parts: Vec<&str> = path.split('/').skip(1).collect();
        let r = match (req.method.as_str(), parts.as_slice()) {
            ("OPTIONS", _) => Resp { code: 204, ctype: "text/plain", body: Vec::new(), extra: "Access-Control-Max-Age: 600\r\n".into() },
            ("GET", [""]) => asset(PAGE, "text/html; charset=utf-8"),
            ("GET", ["app.js"]) => asset(APP_JS, "text/javascript; charset=utf-8"),
            ("GET", ["worker.js"]) => asset(WORKER_JS, "text/javascript; charset=utf-8"),
            ("GET", ["proto.js"]) => asset(PROTO_JS, "text/javascript; charset=utf-8"),
            ("GET", ["vendor.js"]) => asset(VENDOR_JS, "text/javascript; charset=utf-8"),
            ("GET", ["vendor-LICENSE.txt"]) => asset(VENDOR_LICENSE, "text/plain; charset=utf-8"),
            ("GET", ["v1", "status"]) => Resp::json(200, report(node).json()),
            ("GET", ["metrics"]) => Resp {
                code: 200,
                ctype: "text/plain; version=0.0.4; charset=utf-8",
                body: metrics(&report(node), &self.stats).into_bytes(),
                extra: "".into(),
            },
            ("GET", ["v1", "dat", w]) => match hex32(w) {
                None => Resp::error(400, "bad_work", "the work hash must be 64 hex digits"),
                Some(work) => {
                    return self.get(slot, Query::Work(work), req.accept_raw, registry, node);
                }
            },
            ("GET", ["v1", "name", pk, key]) => {
                match (hex32(pk), decode_key(key)) {
                    (None, _) => Resp::error(400, "bad_pubkey", "the public key must be 64 hex digits"),
                    (_, None) => Resp::error(
                        400,
                        "bad_key",
                        "the key must be percent-encoded bytes or hex:DIGITS, at most 32 bytes",
                    ),
                    (Some(pubkey), Some(k)) => {
                        let q = Query::name(pubkey, &k).expect("length checked");
                        return self.get(slot, q, req.accept_raw, registry, node);
                    }
                }
            }
            ("POST", ["v1", "dat"]) => post_dat(&req.body, node),
            ("GET", ["v1", "file", w]) => match hex32(w) {
                None => Resp::error(400, "bad_work", "the root's work hash must be 64 hex digits"),
                Some(work) => return self.file(slot, RootRef::Work(work), registry, node),
            },
            ("GET", ["v1", "file", pk, name]) => {
                let key: Option<[u8; 32]> = decode_key(name).and_then(|k| k.try_into().ok());
                match (hex32(pk), key) {
                    (None, _) => Resp::error(400, "bad_pubkey", "the public key must be 64 hex digits"),
                    (_, None) => Resp::error(
                        400,
                        "bad_name",
                        "a file's name is 32 bytes: hex: and 64 digits, as setf printed it",
                    ),
                    (Some(pubkey), Some(key)) => {
                        return self.file(slot, RootRef::Name { pubkey, key }, registry, node);
                    }
                }
            }
            (_, ["v1", "dat"] | ["v1", "dat", _] | ["v1", "name", _, _] | ["v1", "file", _] | ["v1", "file", _, _] | ["v1", "status"] | ["metrics"] | [""]) => {
                Resp::error(405, "method_not_allowed", "use GET (or POST for /v1/dat)")
            }
            _ => Resp::error(404, "not_found", "no such route: see GET / for the page, /v1/dat/{work}, /v1/name/{pubkey}/{key}, /v1/file/{root}, /v1/file/{pubkey}/{name}, /v1/status, /metrics"),
        };
        self.respond(slot, r, registry);
    }

    fn get(&mut self, slot: usize, q: Query, raw: bool, registry: &Registry, node: &mut Node) {
        let epochs = (self.limits.get_wait.as_nanos() / self.epoch_ns as u128) as u64;
        match node.get(q, GetOpts::timeout(epochs.max(1))) {
            Ok(id) => {
                if let Some(c) = self.conns[slot].as_mut() {
                    c.state = State::Waiting { id, raw };
                }
                // A dat held locally is answered at once.
                self.drain_events(node, registry);
            }
            Err(_) => {
                self.stats.busy_gets += 1;
                let mut r =
                    Resp::error(503, "busy", "too many lookups in flight; try again shortly");
                r.extra = "Retry-After: 1\r\n".into();
                self.respond(slot, r, registry);
            }
        }
    }

    /// Starts reading a file for the connection; answered from [`Gateway::tick`].
    fn file(&mut self, slot: usize, root: RootRef, registry: &Registry, node: &mut Node) {
        if self.files.len() >= self.limits.files {
            self.stats.file_errors += 1;
            let mut r = Resp::error(
                503,
                "busy",
                "another file is being read through this gateway; try again shortly",
            );
            r.extra = "Retry-After: 1\r\n".into();
            return self.respond(slot, r, registry);
        }
        if let Some(c) = self.conns[slot].as_mut() {
            c.state = State::File;
        }
        let opts = DownloadOpts {
            window: self.limits.file_window.max(1),
            stall: self.limits.get_wait,
            max_len: self.limits.file_max,
            ..DownloadOpts::default()
        };
        debug!("/gw/file/start {root}");
        self.files.push(FileRead {
            slot,
            dl: Download::new(root, opts),
            data: Vec::new(),
            failed: None,
        });
        self.step_files(registry, node);
    }

    /// Sends each file read's next GETs, and answers those that are done.
    fn step_files(&mut self, registry: &Registry, node: &mut Node) {
        let now = Instant::now();
        let mut j = 0;
        while j < self.files.len() {
            let f = &mut self.files[j];
            let end = match f.failed.take() {
                Some(e) => Some(Err(e)),
                None if f.dl.is_complete() => Some(Ok(())),
                None => f.dl.step(node, now).err().map(Err),
            };
            let Some(end) = end else {
                j += 1;
                continue;
            };
            let mut f = self.files.swap_remove(j);
            f.dl.cancel(node);
            let r = match end {
                Ok(()) => {
                    self.stats.files_sent += 1;
                    file_resp(&f.dl, std::mem::take(&mut f.data))
                }
                Err(e) => {
                    self.stats.file_errors += 1;
                    file_error(&f.dl, &e, self.limits.get_wait)
                }
            };
            debug!("/gw/file/end {} {}", r.code, r.body.len());
            self.respond(f.slot, r, registry);
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
        let raw = matches!(
            self.conns[slot].as_ref().map(|c| c.state),
            Some(State::Waiting { raw: true, .. })
        );
        let r = match ev {
            NodeEvent::Got { work, .. } => match node.dat_by_work(&work) {
                Some(m) if raw => Resp {
                    code: 200,
                    ctype: "application/octet-stream",
                    body: m.val.to_vec(),
                    extra: "".into(),
                },
                Some(m) => Resp::json(200, dat_json(&m)),
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
                State::Writing => {
                    now.duration_since(c.last) >= self.limits.idle + self.limits.request_time
                }
            };
            if expired {
                if c.state == State::Writing {
                    self.stats.timeouts += 1;
                    self.close(slot, registry);
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

fn asset(s: &'static str, ctype: &'static str) -> Resp {
    Resp {
        code: 200,
        ctype,
        body: s.as_bytes().to_vec(),
        extra: "Content-Security-Policy: default-src 'self'; connect-src *; img-src 'self' data:; style-src 'self' 'unsafe-inline'\r\n".into(),
    }
}

/// A file read whole: its bytes, the name it was written with (made safe
/// for a header), and the root it was read from.
fn file_resp(dl: &Download, data: Vec<u8>) -> Resp {
    let (name, root, dats) = match dl.info() {
        Some(i) => (
            safe_file_name(&i.name),
            Hex(&i.root_work).to_string(),
            dl.progress().dats,
        ),
        None => ("file".to_string(), String::new(), 0),
    };
    Resp {
        code: 200,
        ctype: "application/octet-stream",
        body: data,
        extra: format!(
            "Content-Disposition: attachment; filename=\"{name}\"\r\nX-Dave-Root: {root}\r\nX-Dave-Dats: {dats}\r\nAccess-Control-Expose-Headers: Content-Disposition, X-Dave-Root, X-Dave-Dats\r\n"
        )
        .into(),
    }
}

/// Why a file read failed, as an answer.
fn file_error(dl: &Download, e: &FetchError, wait: Duration) -> Resp {
    match e {
        FetchError::Stalled { .. } if dl.info().is_none() => Resp::error(
            404,
            "not_found",
            &format!(
                "no peer returned the file's root within {:.1} s",
                wait.as_secs_f64()
            ),
        ),
        FetchError::Stalled { .. } => {
            Resp::error(504, "stalled", &format!("the file stalled: {e}"))
        }
        FetchError::Bad { .. } | FetchError::Refused(_) => {
            Resp::error(502, "bad_file", &format!("the file was refused: {e}"))
        }
        FetchError::Io(_) => Resp::error(500, "internal", &e.to_string()),
    }
}

/// A recorded file name reduced to what a header may carry: letters,
/// digits, `.`, `-` and `_` (others become `_`), at most 100 bytes, not
/// starting with a dot; "file" when nothing is left.
pub fn safe_file_name(name: &[u8]) -> String {
    let s: String = String::from_utf8_lossy(name)
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let s = s.trim_start_matches('.');
    if s.is_empty() {
        "file".to_string()
    } else {
        s.to_string()
    }
}

/// Percent-decodes a key (or takes `hex:DIGITS`); `None` if malformed or over 32 bytes.
fn decode_key(s: &str) -> Option<Vec<u8>> {
    let out = if let Some(h) = s.strip_prefix("hex:") {
        let mut o = vec![0u8; h.len() / 2];
        (h.len() % 2 == 0 && parse_hex(h, &mut o)).then_some(o)?
    } else {
        let b = s.as_bytes();
        let mut o = Vec::new();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let mut v = [0u8; 1];
                if !parse_hex(std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?, &mut v) {
                    return None;
                }
                o.push(v[0]);
                i += 3;
            } else {
                o.push(b[i]);
                i += 1;
            }
        }
        o
    };
    (out.len() <= KEY_MAX).then_some(out)
}

/// A dat as JSON: hex fields, and the value and key as UTF-8 when they are.
pub fn dat_json(m: &Put<'_>) -> String {
    let mut o = format!(
        "{{\"work\":\"{}\",\"pubkey\":\"{}\",\"key\":\"{}\",\"val\":\"{}\",\"time\":{},\"salt\":\"{}\",\"sig\":\"{}\",\"difficulty\":{}",
        Hex(m.work),
        Hex(m.pubkey),
        Hex(m.key),
        Hex(m.val),
        m.time_ms(),
        Hex(m.salt),
        Hex(m.sig),
        dave_core::pow::difficulty(m.work)
    );
    if let Ok(k) = std::str::from_utf8(m.key) {
        let _ = write!(o, ",\"key_utf8\":\"{}\"", json::escape(k));
    }
    if let Ok(v) = std::str::from_utf8(m.val) {
        let _ = write!(o, ",\"val_utf8\":\"{}\"", json::escape(v));
    }
    o.push('}');
    o
}

/// POST /v1/dat: a complete PUT, verified exactly as a packet is.
fn post_dat(body: &[u8], node: &mut Node) -> Resp {
    let Ok(text) = std::str::from_utf8(body) else {
        return Resp::error(400, "bad_json", "the body is not UTF-8");
    };
    let obj = match json::parse_object(text) {
        Ok(o) => o,
        Err(e) => return Resp::error(400, "bad_json", &e),
    };
    let hex_field = |name: &str, max: usize| -> Result<Vec<u8>, Resp> {
        match obj.get(name) {
            Some(Value::Str(h)) if h.len() % 2 == 0 && h.len() / 2 <= max => {
                let mut v = vec![0u8; h.len() / 2];
                if parse_hex(h, &mut v) {
                    Ok(v)
                } else {
                    Err(Resp::error(
                        400,
                        "bad_field",
                        &format!("\"{name}\" must be hex"),
                    ))
                }
            }
            Some(_) => Err(Resp::error(
                400,
                "bad_field",
                &format!("\"{name}\" must be a hex string of at most {max} bytes"),
            )),
            None if name == "key" || name == "val" => Ok(Vec::new()),
            None => Err(Resp::error(
                400,
                "missing_field",
                &format!("\"{name}\" is required"),
            )),
        }
    };
    for k in obj.keys() {
        if !["key", "val", "time", "salt", "work", "pubkey", "sig"].contains(&k.as_str()) {
            return Resp::error(
                400,
                "bad_field",
                &format!("unknown field \"{}\"", json::escape(k)),
            );
        }
    }
    let fields = (|| {
        Ok::<_, Resp>((
            hex_field("key", KEY_MAX)?,
            hex_field("val", dave_core::wire::MTU)?,
            hex_field("salt", dave_core::wire::SALT_MAX)?,
            hex_field("work", 32)?,
            hex_field("pubkey", 32)?,
            hex_field("sig", 64)?,
        ))
    })();
    let (key, val, salt, work, pubkey, sig) = match fields {
        Ok(f) => f,
        Err(r) => return r,
    };
    let time = match obj.get("time") {
        Some(Value::Num(t)) => t.to_le_bytes(),
        _ => {
            return Resp::error(
                400,
                "missing_field",
                "\"time\" is required: milliseconds since the Unix epoch, as a number",
            )
        }
    };
    let m = Msg {
        op: Op::Put,
        key: &key,
        val: &val,
        time: &time,
        salt: &salt,
        work: &work,
        pubkey: &pubkey,
        sig: &sig,
        ..Msg::default()
    };
    // Sizes first, as the wire decoder checks them.
    let mut buf = [0u8; dave_core::wire::MTU];
    let checked = dave_core::wire::encode_into(&m, &mut buf)
        .map_err(|e| e.to_string())
        .and_then(|n| {
            dave_core::wire::decode(&buf[..n])
                .map(|_| ())
                .map_err(|e| e.name().to_string())
        });
    if let Err(e) = checked {
        return Resp::error(400, &e, "the fields do not form a valid PUT (sizes: key <= 32, salt 1..=32, work 32, pubkey 32, sig 64 bytes)");
    }
    match node.put(&m) {
        Ok(w) => Resp::json(
            202,
            format!(
                "{{\"work\":\"{}\",\"sent_to\":{}}}",
                Hex(&w),
                node.last_sent().len()
            ),
        ),
        Err(PutError::Invalid(r)) => Resp::error(400, r.name(), &explain(r.name())),
    }
}

fn explain(check: &str) -> String {
    match check {
        "work_mismatch" => {
            "work is not blake3(salt || blake3(len(key) || key || val || time))".into()
        }
        "low_work" => "the work has fewer leading zero bits than the node's minimum (8)".into(),
        "future" => "time is more than 10 s in the future".into(),
        "bad_sig" => "sig is not a strict Ed25519 signature by pubkey over work".into(),
        "stale" => "the node holds a newer dat of this name".into(),
        "oversize" => "the dat does not fit in one 1424-byte datagram".into(),
        other => format!("failed check: {other}"),
    }
}

/// Prometheus text exposition of the status counters.
pub fn metrics(r: &Report, g: &GwStats) -> String {
    let mut o = String::new();
    let mut gauge = |name: &str, help: &str, v: f64| {
        let _ = writeln!(
            o,
            "# HELP dave_{name} {help}\n# TYPE dave_{name} gauge\ndave_{name} {v}"
        );
    };
    gauge("peers", "Peers in the table.", r.peers as f64);
    gauge(
        "live_peers",
        "Peers heard from recently.",
        r.live_peers as f64,
    );
    gauge("dats", "Dats held.", r.dats as f64);
    gauge(
        "dat_bytes",
        "Bytes of encoded dats held.",
        r.dat_bytes as f64,
    );
    gauge(
        "dat_cap",
        "Dats kept after each prune (DAT_CAP).",
        r.dat_cap as f64,
    );
    gauge(
        "uptime_seconds",
        "Seconds since the node started.",
        r.uptime_s,
    );
    gauge(
        "epoch_nanoseconds",
        "Base period of the cycle.",
        r.epoch_ns as f64,
    );
    let t = &r.totals;
    let mut counter = |name: &str, help: &str, v: u64| {
        let _ = writeln!(o, "# HELP dave_{name}_total {help}\n# TYPE dave_{name}_total counter\ndave_{name}_total {v}");
    };
    counter("packets_in", "Datagrams received.", t.packets_in);
    counter("bytes_in", "Bytes received.", t.bytes_in);
    counter("packets_out", "Datagrams sent.", t.packets_out);
    counter("bytes_out", "Bytes sent.", t.bytes_out);
    counter("puts_novel", "Novel dats stored.", t.puts_novel);
    counter("puts_known", "PUTs of dats already held.", t.puts_known);
    counter("gets_answered", "GETs answered.", t.gets_answered);
    counter(
        "epochs_skipped",
        "Epochs skipped because the loop fell behind.",
        t.epochs_skipped,
    );
    counter("dats_pruned", "Dats removed by pruning.", t.dats_pruned);
    counter(
        "outbox_full",
        "Sends dropped because the outbox was full.",
        t.outbox_full,
    );
    counter("http_requests", "HTTP requests parsed.", g.requests);
    counter(
        "http_files_sent",
        "Files read whole, verified and sent by GET /v1/file.",
        g.files_sent,
    );
    counter(
        "http_file_errors",
        "File reads that failed or were refused as busy.",
        g.file_errors,
    );
    let _ = writeln!(
        o,
        "# HELP dave_drops_total Packets dropped, by reason.\n# TYPE dave_drops_total counter"
    );
    for reason in dave_core::Reason::ALL {
        let _ = writeln!(
            o,
            "dave_drops_total{{reason=\"{}\"}} {}",
            reason.name(),
            t.drop_count(reason)
        );
    }
    let _ = writeln!(o, "# HELP dave_http_refused_total HTTP requests refused, by reason.\n# TYPE dave_http_refused_total counter");
    for (name, v) in [
        ("busy", g.refused_busy + g.busy_gets),
        ("too_large", g.too_large),
        ("timeout", g.timeouts),
        ("rate_limited", g.rate_limited),
        ("bad_request", g.bad_requests),
        ("not_found", g.not_found),
        ("bad_method", g.bad_method),
    ] {
        let _ = writeln!(o, "dave_http_refused_total{{reason=\"{name}\"}} {v}");
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_decode_from_paths() {
        assert_eq!(decode_key("greeting").unwrap(), b"greeting");
        assert_eq!(decode_key("a%20b%2F").unwrap(), b"a b/");
        assert_eq!(decode_key("hex:00ff").unwrap(), vec![0, 255]);
        assert!(decode_key("hex:0").is_none());
        assert!(decode_key("%zz").is_none());
        assert_eq!(safe_file_name(b"report 2026.pdf"), "report_2026.pdf");
        assert_eq!(safe_file_name(b"../\r\nX-Evil: 1\""), "___X-Evil__1_");
        assert_eq!(safe_file_name(b"..."), "file");
        assert_eq!(safe_file_name(&[0xff; 300]).len(), 100);
        assert!(decode_key("%4").is_none());
        assert!(decode_key(&"k".repeat(33)).is_none());
    }
}
