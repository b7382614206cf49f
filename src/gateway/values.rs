//! `POST /v1/value`: a value written for a local program with plain curl.
//! The gateway makes the proof of work on a thread of its own (the node's
//! loop never waits for it), signs with the node's key (`daved -k FILE`),
//! and puts the dat as the node's own write.
//!
//! Only a gateway on loopback takes it, and never from a web page (a
//! request with an `Origin` header, or a `Host` that is not loopback, is
//! refused): otherwise any site a browser visits could make the node sign
//! and work for it. At most [`Limits::values`](super::Limits) values are
//! waiting or being made at once (503 beyond), each of at most
//! [`Limits::value_bits`](super::Limits) bits.

use super::http::{Resp, State};
use super::routes::decode_key;
use super::Gateway;
use crate::driver::wall_ms;
use crate::tokens::GATEWAY_WAKE;
use dave_core::pow::{self, MIN_WORK, SOLVER_SALT_LEN};
use dave_core::wire::{max_val_len, Hex};
use dave_core::{Dat, MakeError, Node, PutError};
use ed25519_dalek::SigningKey;
use log::{debug, info};
use mio::{Registry, Waker};
use std::io;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::Instant;

/// Difficulty when the request names none (as `daved set`).
pub const DEFAULT_BITS: u8 = 16;

/// A value to make.
struct Job {
    id: u64,
    key: Vec<u8>,
    val: Vec<u8>,
    bits: u8,
}

/// A value made (or why not).
struct Made {
    id: u64,
    dat: Result<Dat, MakeError>,
    attempts: u64,
    secs: f64,
}

/// The node's key and the thread that works for it.
pub(super) struct Writer {
    pubkey: [u8; 32],
    jobs: Sender<Job>,
    made: Receiver<Made>,
    next: u64,
    threads: usize,
    /// Values queued or being made, not yet delivered.
    inflight: usize,
}

impl Writer {
    /// Starts the proof-of-work thread: it takes values from its queue
    /// (which [`Gateway::post_value`] keeps to `Limits::values`), works
    /// each on `threads` threads, and wakes the loop with the gateway's
    /// waker when one is made. It ends when the gateway is dropped (after
    /// the value it is making).
    pub(super) fn start(
        key: SigningKey,
        registry: &Registry,
        threads: usize,
    ) -> io::Result<Writer> {
        let waker = Arc::new(Waker::new(registry, GATEWAY_WAKE)?);
        let (jobs, rx) = mpsc::channel::<Job>();
        let (tx, made) = mpsc::channel::<Made>();
        let pubkey = key.verifying_key().to_bytes();
        std::thread::Builder::new()
            .name("dave-gw-pow".into())
            .spawn(move || {
                for job in rx {
                    let t0 = Instant::now();
                    let r = Dat::make(&job.key, &job.val, wall_ms(), job.bits, &key, threads, None);
                    let (dat, attempts) = match r {
                        Ok((d, a)) => (Ok(d), a),
                        Err(e) => (Err(e), 0),
                    };
                    let m = Made {
                        id: job.id,
                        dat,
                        attempts,
                        secs: t0.elapsed().as_secs_f64(),
                    };
                    if tx.send(m).is_err() {
                        return;
                    }
                    let _ = waker.wake();
                }
            })?;
        Ok(Writer {
            pubkey,
            jobs,
            made,
            next: 0,
            threads,
            inflight: 0,
        })
    }

    /// The node's public key.
    pub(super) fn pubkey(&self) -> &[u8; 32] {
        &self.pubkey
    }
}

/// Threads one value's proof of work uses: every core but one, which is
/// left to the node's loop (at least one).
pub(super) fn threads() -> usize {
    pow::cores().saturating_sub(1).max(1)
}

/// Whether a `Host` header names this machine: `localhost`, a loopback
/// address, with or without a port.
fn loopback_host(h: &str) -> bool {
    let h = h.trim();
    let name = match h.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => h.rsplit_once(':').map_or(h, |(n, _)| n),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The query of `POST /v1/value`: `name` and `bits`, each at most once.
fn query(path: &str) -> Result<(Option<&str>, Option<&str>), Resp> {
    let (mut name, mut bits) = (None, None);
    let Some((_, q)) = path.split_once('?') else {
        return Ok((None, None));
    };
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let slot = match k {
            "name" => &mut name,
            "bits" => &mut bits,
            _ => {
                return Err(Resp::error(
                    400,
                    "bad_query",
                    "POST /v1/value takes the query parameters name and bits only",
                ))
            }
        };
        if slot.replace(v).is_some() {
            return Err(Resp::error(
                400,
                "bad_query",
                &format!("{k} is given more than once"),
            ));
        }
    }
    Ok((name, bits))
}

/// Why `POST /v1/value` is refused before its request is read: a gateway
/// not on loopback (`local`), a request from a web page (`origin`, or a
/// `host` that is not loopback), or a node without a key.
fn refusal(
    local: Option<SocketAddr>,
    origin: Option<&str>,
    host: Option<&str>,
    has_key: bool,
) -> Option<Resp> {
    if !local.is_some_and(|a| a.ip().is_loopback()) {
        return Some(Resp::error(
            403,
            "not_loopback",
            "POST /v1/value signs with this node's key, so only a gateway on loopback serves it (daved --http 127.0.0.1:PORT -k FILE); sign yourself and use POST /v1/dat",
        ));
    }
    if origin.is_some() {
        return Some(Resp::error(
            403,
            "browser",
            "POST /v1/value is for programs on this machine, not web pages (a request with an Origin header is refused, so no site can make this node sign for it); a page signs in the browser and uses POST /v1/dat",
        ));
    }
    if host.is_some_and(|h| !loopback_host(h)) {
        return Some(Resp::error(
            403,
            "bad_host",
            "POST /v1/value wants a Host of localhost or a loopback address",
        ));
    }
    if !has_key {
        return Some(Resp::error(
            403,
            "no_key",
            "this node has no key to sign with: start it with -k FILE (make one with `daved keygen`), or sign yourself and use POST /v1/dat",
        ));
    }
    None
}

impl Gateway {
    /// `POST /v1/value?name=NAME&bits=BITS` with the value as the body:
    /// the refusal, or `None` when the value is queued and the connection
    /// waits for it.
    pub(super) fn post_value(
        &mut self,
        slot: usize,
        path: &str,
        origin: Option<&str>,
        host: Option<&str>,
        body: &[u8],
    ) -> Option<Resp> {
        let local = self.listener.local_addr().ok();
        if let Some(r) = refusal(local, origin, host, self.writer.is_some()) {
            return Some(r);
        }
        let Some(w) = self.writer.as_mut() else {
            return Some(Resp::error(500, "internal", "no key"));
        };
        let (name, bits) = match query(path) {
            Ok(q) => q,
            Err(r) => return Some(r),
        };
        let most = self.limits.value_bits;
        let bits = match bits.map(str::parse::<u8>) {
            None => DEFAULT_BITS.min(most),
            Some(Ok(b)) if (MIN_WORK..=most).contains(&b) => b,
            Some(_) => {
                return Some(Resp::error(
                    400,
                    "bad_bits",
                    &format!("bits is the proof of work in leading zero bits: {MIN_WORK} to {most} on this gateway (each bit doubles the work)"),
                ))
            }
        };
        let key = match name {
            None => blake3::hash(body).as_bytes().to_vec(),
            Some(n) => match decode_key(n) {
                Some(k) => k,
                None => {
                    return Some(Resp::error(
                        400,
                        "bad_key",
                        "name must be percent-encoded bytes or hex:DIGITS, at most 32 bytes",
                    ))
                }
            },
        };
        let max = max_val_len(key.len(), SOLVER_SALT_LEN);
        if body.len() > max {
            return Some(Resp::error(
                413,
                "too_large",
                &format!(
                    "the value is {} bytes; at most {max} fit in one dat with this name (write larger data as a file: daved setf)",
                    body.len()
                ),
            ));
        }
        if w.inflight >= self.limits.values {
            self.stats.value_busy += 1;
            let mut r = Resp::error(
                503,
                "busy",
                &format!(
                    "{} values are already waiting for their proof of work here; try again shortly",
                    w.inflight
                ),
            );
            r.extra = "Retry-After: 1\r\n".into();
            return Some(r);
        }
        let id = w.next;
        let job = Job {
            id,
            key,
            val: body.to_vec(),
            bits,
        };
        if w.jobs.send(job).is_err() {
            return Some(Resp::error(
                500,
                "internal",
                "the proof-of-work thread has stopped",
            ));
        }
        w.next += 1;
        w.inflight += 1;
        debug!(
            "/gw/value/queued job {id}: {bits} bits, threads={}, {} in flight",
            w.threads, w.inflight
        );
        if let Some(c) = self.conns[slot].as_mut() {
            c.state = State::Working { job: id };
        }
        None
    }

    /// Puts every value the proof-of-work thread has made and answers the
    /// connection waiting for it. A value whose client has gone is put all
    /// the same: its work is done.
    pub(super) fn deliver_values(&mut self, node: &mut Node, registry: &Registry) {
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        let made: Vec<Made> = w.made.try_iter().collect();
        w.inflight -= made.len().min(w.inflight);
        let pubkey = *w.pubkey();
        for m in made {
            let slot = self.conns.iter().position(|c| {
                c.as_ref()
                    .is_some_and(|c| c.state == State::Working { job: m.id })
            });
            let r = match m.dat {
                Err(e) => Resp::error(400, "bad_value", &e.to_string()),
                Ok(dat) => {
                    let time = dat.time_ms.to_le_bytes();
                    match node.put(&dat.msg(&time)) {
                        Ok(work) => {
                            self.stats.values += 1;
                            info!(
                                "/gw/value/made {} bits={} attempts={} in {:.2}s sent_to={}",
                                Hex(&work),
                                pow::difficulty(&work),
                                m.attempts,
                                m.secs,
                                node.last_sent().len()
                            );
                            Resp::json(
                                202,
                                format!(
                                    "{{\"work\":\"{}\",\"pubkey\":\"{}\",\"name\":\"{}\",\"sent_to\":{}}}",
                                    Hex(&work),
                                    Hex(&pubkey),
                                    Hex(&dat.key),
                                    node.last_sent().len()
                                ),
                            )
                        }
                        Err(PutError::Invalid(r)) if r.name() == "stale" => Resp::error(
                            409,
                            "stale",
                            "the node already holds a newer value of this name",
                        ),
                        Err(PutError::Invalid(r)) => Resp::error(
                            500,
                            r.name(),
                            "the node refused the value it made; this is a bug",
                        ),
                    }
                }
            };
            match slot {
                Some(s) => self.respond(s, r, registry),
                None => debug!("/gw/value/orphan job {}: its client has gone", m.id),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_queries() {
        for h in [
            "localhost",
            "LOCALHOST:8080",
            "127.0.0.1",
            "127.0.0.1:8080",
            "127.3.2.1:1",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(loopback_host(h), "{h}");
        }
        for h in [
            "example.com",
            "evil.example:8080",
            "10.0.0.1:8080",
            "[2001:db8::1]:80",
            "",
            "localhost.evil.example",
        ] {
            assert!(!loopback_host(h), "{h}");
        }
        assert_eq!(
            query("/v1/value?name=a&bits=12").ok(),
            Some((Some("a"), Some("12")))
        );
        assert_eq!(query("/v1/value").ok(), Some((None, None)));
        assert_eq!(query("/v1/value?").ok(), Some((None, None)));
        assert!(query("/v1/value?name=a&name=b").is_err());
        assert!(query("/v1/value?key=a").is_err());
    }

    #[test]
    fn only_loopback_programs_reach_a_node_with_a_key() {
        let lo: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let public: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        let named = |r: Option<Resp>| {
            r.map(|r| {
                let body = String::from_utf8(r.body).unwrap();
                let name = body.split('"').nth(3).unwrap().to_string();
                (r.code, name)
            })
        };
        assert_eq!(
            named(refusal(Some(lo), None, Some("127.0.0.1:8080"), true)),
            None
        );
        assert_eq!(named(refusal(Some(lo), None, None, true)), None);
        for (local, origin, host, key, want) in [
            (Some(public), None, None, true, "not_loopback"),
            (None, None, None, true, "not_loopback"),
            // Before the key: a public gateway does not say whether it has one.
            (Some(public), None, None, false, "not_loopback"),
            (
                Some(lo),
                Some("http://127.0.0.1:8080"),
                None,
                true,
                "browser",
            ),
            (Some(lo), Some("null"), None, true, "browser"),
            (
                Some(lo),
                None,
                Some("rebound.example:8080"),
                true,
                "bad_host",
            ),
            (Some(lo), None, Some("127.0.0.1:8080"), false, "no_key"),
        ] {
            assert_eq!(
                named(refusal(local, origin, host, key)),
                Some((403, want.to_string())),
                "{local:?} {origin:?} {host:?} {key}"
            );
        }
    }
}
