//! The routes: from method and path to an answer (the table is in the
//! gateway's documentation, `mod.rs`), and the single-dat ones:
//! `GET /v1/dat`, `GET /v1/name` (a node lookup the connection waits on)
//! and `POST /v1/dat`.

use super::assets::{
    asset, APP_JS, FILES_JS, PAGE, PROTO_JS, VENDOR_JS, VENDOR_LICENSE, WORKER_JS,
};
use super::http::{Req, Resp, State, IMMUTABLE};
use super::metrics::metrics;
use super::Gateway;
use crate::json::{self, Value};
use crate::status::Report;
use dave_core::wire::{hex32, parse_hex, Hex, Msg, Op, Put, KEY_MAX};
use dave_core::{GetOpts, Node, PutError, Query};
use dave_files::RootRef;
use log::debug;
use mio::Registry;
use std::fmt::Write as _;

impl Gateway {
    pub(super) fn handle(
        &mut self,
        slot: usize,
        req: Req,
        registry: &Registry,
        node: &mut Node,
        report: &dyn Fn(&Node) -> Report,
    ) {
        let Some(peer) = self.conns[slot].as_ref().map(|c| c.peer) else {
            return;
        };
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
        // HEAD is GET without the body (the same status and headers).
        let head = req.method == "HEAD";
        if let Some(c) = self.conns[slot].as_mut() {
            c.head = head;
        }
        let method = if head { "GET" } else { req.method.as_str() };
        let r = match (method, parts.as_slice()) {
            ("OPTIONS", _) => Resp::new(204, "text/plain", Vec::new(), "Access-Control-Max-Age: 600\r\n"),
            ("GET", [""]) => asset(PAGE, "text/html; charset=utf-8"),
            ("GET", ["app.js"]) => asset(APP_JS, "text/javascript; charset=utf-8"),
            ("GET", ["worker.js"]) => asset(WORKER_JS, "text/javascript; charset=utf-8"),
            ("GET", ["proto.js"]) => asset(PROTO_JS, "text/javascript; charset=utf-8"),
            ("GET", ["files.js"]) => asset(FILES_JS, "text/javascript; charset=utf-8"),
            ("GET", ["vendor.js"]) => asset(VENDOR_JS, "text/javascript; charset=utf-8"),
            ("GET", ["vendor-LICENSE.txt"]) => asset(VENDOR_LICENSE, "text/plain; charset=utf-8"),
            ("GET", ["v1", "status"]) => Resp::json(200, report(node).json()),
            ("GET", ["metrics"]) => Resp::new(
                200,
                "text/plain; version=0.0.4; charset=utf-8",
                metrics(&report(node), &self.stats).into_bytes(),
                "",
            ),
            ("GET", ["v1", "dat", w]) => match hex32(w) {
                None => Resp::error(400, "bad_work", "the work hash must be 64 hex digits"),
                // A dat by its work hash never changes: a client that holds
                // this answer's ETag has it.
                Some(work) if req.if_none_match.as_deref().is_some_and(|v| etag_matches(v, &etag(&work, req.accept_raw))) => {
                    let mut r = Resp::new(304, "application/json; charset=utf-8", Vec::new(), dat_headers(&work, req.accept_raw));
                    r.cache = IMMUTABLE;
                    r
                }
                Some(work) => {
                    return self.get(slot, Query::Work(work), req.accept_raw, registry, node);
                }
            },
            ("GET", ["v1", "name", pk, key]) => match hex32(pk) {
                None => Resp::error(400, "bad_pubkey", "the public key must be 64 hex digits"),
                Some(pubkey) => match decode_key(key).and_then(|k| Query::name(pubkey, &k)) {
                    None => Resp::error(
                        400,
                        "bad_key",
                        "the key must be percent-encoded bytes or hex:DIGITS, at most 32 bytes",
                    ),
                    Some(q) => return self.get(slot, q, req.accept_raw, registry, node),
                },
            },
            ("POST", ["v1", "dat"]) => post_dat(&req.body, node),
            ("POST", ["v1", "value"]) => {
                match self.post_value(slot, &req.path, req.origin.as_deref(), req.host.as_deref(), &req.body) {
                    Some(r) => r,
                    None => return,
                }
            }
            (_, ["v1", "value"]) => Resp::error(405, "method_not_allowed", "use POST, with the value as the body"),
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
                Resp::error(405, "method_not_allowed", "use GET or HEAD (or POST for /v1/dat)")
            }
            _ => Resp::error(404, "not_found", "no such route: see GET / for the page, /v1/dat/{work}, /v1/name/{pubkey}/{key}, /v1/file/{root}, /v1/file/{pubkey}/{name}, /v1/status, /metrics, POST /v1/dat, POST /v1/value"),
        };
        self.respond(slot, r, registry);
    }

    fn get(&mut self, slot: usize, q: Query, raw: bool, registry: &Registry, node: &mut Node) {
        let epochs = (self.limits.get_wait.as_nanos() / self.epoch_ns as u128) as u64;
        let by_work = matches!(q, Query::Work(_));
        match node.get(q, GetOpts::timeout(epochs.max(1))) {
            Ok(id) => {
                if let Some(c) = self.conns[slot].as_mut() {
                    c.state = State::Waiting { id, raw, by_work };
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
}

/// The ETag of a dat's answer by work hash: its work, and the form (JSON
/// or the raw value).
pub(super) fn etag(work: &[u8; 32], raw: bool) -> String {
    format!("\"{}{}\"", Hex(work), if raw { "-raw" } else { "" })
}

/// Whether an `If-None-Match` value names `tag` (or is `*`); weak tags
/// (`W/"..."`) compare by their value.
fn etag_matches(value: &str, tag: &str) -> bool {
    value
        .split(',')
        .map(|t| t.trim())
        .any(|t| t == "*" || t.strip_prefix("W/").unwrap_or(t) == tag)
}

/// The headers of an answer by work hash: its ETag, and that it varies
/// with Accept.
pub(super) fn dat_headers(work: &[u8; 32], raw: bool) -> String {
    format!(
        "ETag: {}\r\nVary: Accept\r\nAccess-Control-Expose-Headers: ETag\r\n",
        etag(work, raw)
    )
}

/// Percent-decodes a key (or takes `hex:DIGITS`); `None` if malformed or over 32 bytes.
pub(super) fn decode_key(s: &str) -> Option<Vec<u8>> {
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
    let missing: Vec<&str> = ["salt", "work", "pubkey", "sig", "time"]
        .into_iter()
        .filter(|f| !obj.contains_key(*f))
        .collect();
    if !missing.is_empty() {
        let quoted: Vec<String> = missing.iter().map(|f| format!("\"{f}\"")).collect();
        let list = quoted.join(", ");
        return Resp::json(
            400,
            format!(
                "{{\"error\":\"missing_field\",\"message\":\"missing {}: {} (key and val may be left out: empty); time is milliseconds since the Unix epoch, the rest hex\",\"fields\":[{}]}}",
                if missing.len() == 1 { "field" } else { "fields" },
                json::escape(&list),
                quoted.join(",")
            ),
        );
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
        assert!(decode_key("%4").is_none());
        assert!(decode_key(&"k".repeat(33)).is_none());
    }
}
