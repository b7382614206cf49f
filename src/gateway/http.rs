//! HTTP on the gateway's connections: parsing a request within the size
//! limits ([`parse_request`]), responses, a connection's state, and
//! accepting, reading, writing and closing connections (one request per
//! connection, answered with `Connection: close`).

use super::rate::client_key;
use super::{Gateway, Limits, FIRST_CONN};
use crate::json;
use crate::status::Report;
use dave_core::{GetId, Node};
use log::debug;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::Instant;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum State {
    Reading,
    Waiting {
        id: GetId,
        raw: bool,
        /// By work hash: the answer is immutable (cached for a year, with an ETag).
        by_work: bool,
    },
    /// Reading a file for the connection (see [`FileRead`](super::downloads::FileRead)).
    File,
    /// Waiting for the proof-of-work thread to make value `job` (`POST /v1/value`).
    Working {
        job: u64,
    },
    Writing,
}

pub(super) struct Conn {
    pub(super) stream: TcpStream,
    pub(super) peer: SocketAddr,
    pub(super) buf: Vec<u8>,
    pub(super) out: Vec<u8>,
    pub(super) written: usize,
    pub(super) state: State,
    pub(super) opened: Instant,
    pub(super) last: Instant,
    /// The request head has arrived whole (the header deadline no longer applies).
    pub(super) head_done: bool,
    /// A HEAD request: the answer is sent without its body.
    pub(super) head: bool,
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
    /// The `If-None-Match` header, if any.
    pub if_none_match: Option<String>,
    /// The `Origin` header, if any (browsers send it with every POST).
    pub origin: Option<String>,
    /// The `Host` header, if any.
    pub host: Option<String>,
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
/// the size limits. The body is framed by exactly one Content-Length of
/// decimal digits: a repeated Content-Length (even with equal values), a
/// malformed one, or any Transfer-Encoding is refused with 400.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Parsed {
    parse_head_and_body(buf, limits).0
}

/// [`parse_request`], and whether the head has arrived whole.
fn parse_head_and_body(buf: &[u8], limits: &Limits) -> (Parsed, bool) {
    let refuse = |code, error, message: String| Parsed::Refused {
        code,
        error,
        message,
    };
    let too_large_head = || {
        refuse(
            413,
            "too_large",
            format!(
                "the request head is larger than {} bytes",
                limits.header_max
            ),
        )
    };
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            if buf.len() >= limits.header_max {
                return (too_large_head(), false);
            }
            return (Parsed::Incomplete, false);
        }
        Err(e) => {
            let r = refuse(400, "bad_request", format!("malformed HTTP request: {e}"));
            return (r, false);
        }
    };
    if head_len > limits.header_max {
        return (too_large_head(), true);
    }
    // The body's length comes from exactly one Content-Length of decimal
    // digits, never with Transfer-Encoding: a request that two servers could
    // frame differently (request smuggling) is refused, not guessed at.
    let mut lengths = 0usize;
    let mut body_len = 0usize;
    let mut bad_length = false;
    let mut chunked = false;
    let mut accept_raw = false;
    let mut if_none_match = None;
    let mut origin = None;
    let mut host = None;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            lengths += 1;
            match content_length(h.value) {
                Some(n) => body_len = n,
                None => bad_length = true,
            }
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = true;
        } else if h.name.eq_ignore_ascii_case("accept") {
            accept_raw =
                std::str::from_utf8(h.value).is_ok_and(|v| v.contains("application/octet-stream"));
        } else if h.name.eq_ignore_ascii_case("if-none-match") {
            if_none_match = std::str::from_utf8(h.value).ok().map(str::to_string);
        } else if h.name.eq_ignore_ascii_case("origin") {
            origin = Some(String::from_utf8_lossy(h.value).into_owned());
        } else if h.name.eq_ignore_ascii_case("host") {
            host = Some(String::from_utf8_lossy(h.value).into_owned());
        }
    }
    let framing = match (lengths, chunked) {
        (0, true) => Some("chunked bodies are not accepted: send Content-Length"),
        (_, true) => Some(
            "Content-Length and Transfer-Encoding together are refused: send Content-Length alone",
        ),
        (2.., false) => Some("more than one Content-Length header: send exactly one"),
        _ if bad_length => Some("bad Content-Length: it must be decimal digits"),
        _ => None,
    };
    if let Some(message) = framing {
        return (refuse(400, "bad_request", message.into()), true);
    }
    if body_len > limits.body_max {
        let r = refuse(
            413,
            "too_large",
            format!("the body is larger than {} bytes", limits.body_max),
        );
        return (r, true);
    }
    let Some(body) = buf.get(head_len..head_len + body_len) else {
        return (Parsed::Incomplete, true);
    };
    let done = Parsed::Done(Req {
        method: req.method.unwrap_or("").to_string(),
        path: req.path.unwrap_or("").to_string(),
        accept_raw,
        if_none_match,
        origin,
        host,
        body: body.to_vec(),
    });
    (done, true)
}

/// A Content-Length value: decimal digits only (no sign, no list, no
/// spaces inside), with surrounding spaces or tabs allowed.
fn content_length(v: &[u8]) -> Option<usize> {
    let v = v.trim_ascii();
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// An HTTP response.
pub(super) struct Resp {
    pub(super) code: u16,
    pub(super) ctype: &'static str,
    pub(super) body: Vec<u8>,
    pub(super) extra: std::borrow::Cow<'static, str>,
    /// The Cache-Control value (`no-store` but for immutable answers).
    pub(super) cache: &'static str,
}

/// Cache-Control of an answer that can never change: a dat by its work hash.
pub(super) const IMMUTABLE: &str = "public, max-age=31536000, immutable";

impl Resp {
    /// An answer with the default `Cache-Control: no-store`.
    pub(super) fn new(
        code: u16,
        ctype: &'static str,
        body: Vec<u8>,
        extra: impl Into<std::borrow::Cow<'static, str>>,
    ) -> Resp {
        Resp {
            code,
            ctype,
            body,
            extra: extra.into(),
            cache: "no-store",
        }
    }

    pub(super) fn json(code: u16, body: String) -> Resp {
        Resp::new(
            code,
            "application/json; charset=utf-8",
            body.into_bytes(),
            "",
        )
    }

    pub(super) fn error(code: u16, error: &str, message: &str) -> Resp {
        Resp::json(
            code,
            format!(
                "{{\"error\":\"{}\",\"message\":\"{}\"}}",
                json::escape(error),
                json::escape(message)
            ),
        )
    }

    /// The answer to a HEAD request: the same head, no body.
    pub(super) fn head_bytes(&self) -> Vec<u8> {
        let mut b = self.bytes();
        b.truncate(b.len() - self.body.len());
        b
    }

    pub(super) fn bytes(&self) -> Vec<u8> {
        let reason = match self.code {
            200 => "OK",
            202 => "Accepted",
            204 => "No Content",
            304 => "Not Modified",
            400 => "Bad Request",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            409 => "Conflict",
            413 => "Content Too Large",
            422 => "Unprocessable Content",
            429 => "Too Many Requests",
            500 => "Internal Server Error",
            501 => "Not Implemented",
            502 => "Bad Gateway",
            503 => "Service Unavailable",
            504 => "Gateway Timeout",
            _ => "Error",
        };
        let mut h = format!(
            "HTTP/1.1 {} {reason}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Access-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: GET, HEAD, POST, OPTIONS\r\n\
             Access-Control-Allow-Headers: Content-Type, Accept, If-None-Match\r\nX-Content-Type-Options: nosniff\r\n\
             Cache-Control: {}\r\n{}\r\n",
            self.code,
            self.ctype,
            self.body.len(),
            self.cache,
            self.extra
        )
        .into_bytes();
        h.extend_from_slice(&self.body);
        h
    }
}

impl Gateway {
    pub(super) fn accept(&mut self, registry: &Registry) {
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
            let key = client_key(peer.ip());
            let open = self
                .conns
                .iter()
                .flatten()
                .filter(|c| client_key(c.peer.ip()) == key)
                .count();
            if open >= self.limits.per_client {
                self.stats.refused_client += 1;
                debug!("/gw/refuse/client {peer} has {open} connections open");
                let mut r = Resp::error(
                    429,
                    "too_many_connections",
                    "too many connections from your address; close some and try again",
                );
                r.extra = "Retry-After: 1\r\n".into();
                let _ = stream.write(&r.bytes());
                continue;
            }
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
                head_done: false,
                head: false,
            });
        }
    }

    pub(super) fn close(&mut self, slot: usize, registry: &Registry) {
        if let Some(mut c) = self.conns[slot].take() {
            let _ = registry.deregister(&mut c.stream);
        }
    }

    /// Counts the answer by its status code, then sends it.
    pub(super) fn respond(&mut self, slot: usize, r: Resp, registry: &Registry) {
        match r.code {
            200..=299 => self.stats.ok += 1,
            400 => self.stats.bad_requests += 1,
            403 => self.stats.forbidden += 1,
            404 => self.stats.not_found += 1,
            405 => self.stats.bad_method += 1,
            408 => self.stats.timeouts += 1,
            413 => self.stats.too_large += 1,
            429 => self.stats.rate_limited += 1,
            _ => {}
        }
        self.send(slot, r, registry);
    }

    /// Sends an answer (already counted) and closes the connection once it is written.
    pub(super) fn send(&mut self, slot: usize, r: Resp, registry: &Registry) {
        if let Some(c) = self.conns[slot].as_mut() {
            debug!("/gw/resp {} {} bytes to {}", r.code, r.body.len(), c.peer);
            c.out = if c.head { r.head_bytes() } else { r.bytes() };
            c.written = 0;
            c.state = State::Writing;
        }
        self.write(slot, registry);
    }

    pub(super) fn write(&mut self, slot: usize, registry: &Registry) {
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

    pub(super) fn read(
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
        let Some(c) = self.conns[slot].as_mut() else {
            return Ok(None);
        };
        let (parsed, head_done) = parse_head_and_body(&c.buf, &self.limits);
        c.head_done |= head_done;
        match parsed {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(req: &str) -> Parsed {
        parse_request(req.as_bytes(), &Limits::default())
    }

    fn refused(req: &str) -> (u16, String) {
        match parse(req) {
            Parsed::Refused { code, message, .. } => (code, message),
            other => panic!("{req:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn one_content_length_frames_the_body() {
        let Parsed::Done(r) = parse("POST /v1/dat HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcdef")
        else {
            panic!("not parsed");
        };
        assert_eq!(r.body, b"abc");
        for ok in [
            "Content-Length:3",
            "content-length: 003",
            "CONTENT-LENGTH: 3 \t",
        ] {
            let req = format!("POST / HTTP/1.1\r\n{ok}\r\n\r\nabc");
            assert!(
                matches!(parse(&req), Parsed::Done(r) if r.body == b"abc"),
                "{ok:?}"
            );
        }
        assert_eq!(
            parse("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc"),
            Parsed::Incomplete
        );
        assert!(matches!(
            parse("GET / HTTP/1.1\r\n\r\n"),
            Parsed::Done(r) if r.body.is_empty()
        ));
    }

    #[test]
    fn ambiguous_framing_is_refused() {
        for (req, why) in [
            (
                "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
                "more than one",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
                "more than one",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 3\r\nHost: x\r\ncontent-length: 0\r\n\r\nabc",
                "more than one",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
                "Transfer-Encoding together",
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
                "Transfer-Encoding together",
            ),
            (
                "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                "chunked",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\nabc",
                "decimal digits",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\nabc",
                "decimal digits",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\nabc",
                "decimal digits",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 0x3\r\n\r\nabc",
                "decimal digits",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length:\r\n\r\nabc",
                "decimal digits",
            ),
            (
                "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
                "decimal digits",
            ),
        ] {
            let (code, message) = refused(req);
            assert_eq!(code, 400, "{req:?}: {message}");
            assert!(message.contains(why), "{req:?}: {message}");
        }
        // Refused as soon as the head is whole, before any body arrives.
        let (code, _) =
            refused("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n");
        assert_eq!(code, 400);
        // A declared body over the limit is still 413.
        assert_eq!(
            refused("POST / HTTP/1.1\r\nContent-Length: 100000\r\n\r\n").0,
            413
        );
    }

    #[test]
    fn the_head_is_known_whole_before_the_body() {
        let l = Limits::default();
        let (p, head) = parse_head_and_body(b"POST / HTTP/1.1\r\nContent-Len", &l);
        assert_eq!((p, head), (Parsed::Incomplete, false));
        let (p, head) = parse_head_and_body(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nab", &l);
        assert_eq!((p, head), (Parsed::Incomplete, true));
    }
}
