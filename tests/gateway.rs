//! The HTTP gateway, on real listening sockets: every endpoint and every
//! refusal. Two nodes run in this process, each on its own thread with its
//! own event loop, the gateway served from that loop.

use dave::driver::Driver;
use dave::gateway::Limits;
use dave_core::wire::Hex;
use dave_core::{Config, Dat, Node};
use ed25519_dalek::SigningKey;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

struct Running {
    http: SocketAddr,
    udp: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(edge: Option<SocketAddr>, limits: Limits) -> Running {
    start_keyed(edge, limits, None)
}

/// A node whose gateway signs `POST /v1/value` with `key`.
fn start_keyed(edge: Option<SocketAddr>, limits: Limits, key: Option<SigningKey>) -> Running {
    let mut cfg = Config::default().with_dat_cap(1000);
    cfg.filter_cap = 1 << 12;
    cfg.seed = 7;
    cfg.edges = edge.into_iter().collect();
    let mut drv = Driver::bind("127.0.0.1:0".parse().unwrap(), Node::new(cfg)).unwrap();
    let http = drv
        .enable_gateway("127.0.0.1:0".parse().unwrap(), limits)
        .unwrap();
    if let Some(k) = key {
        drv.gateway_key(k).unwrap();
    }
    let udp = drv.local_addr().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = Arc::clone(&stop);
    let thread = std::thread::spawn(move || {
        drv.run(&s2, Duration::ZERO, |_| {}).unwrap();
    });
    Running {
        http,
        udp,
        stop,
        thread: Some(thread),
    }
}

struct Resp {
    code: u16,
    head: String,
    body: Vec<u8>,
}

impl Resp {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

fn raw(addr: SocketAddr, req: &[u8]) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.write_all(req).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse(&out)
}

fn parse(out: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(out);
    let split = text
        .find("\r\n\r\n")
        .unwrap_or_else(|| panic!("no HTTP head in {text:?}"));
    let head = text[..split].to_string();
    let code = head[9..12].parse().unwrap();
    Resp {
        code,
        head,
        body: out[split + 4..].to_vec(),
    }
}

fn get(addr: SocketAddr, path: &str, accept: &str) -> Resp {
    raw(
        addr,
        format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\n\r\n").as_bytes(),
    )
}

fn post(addr: SocketAddr, path: &str, body: &str) -> Resp {
    raw(
        addr,
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len()).as_bytes(),
    )
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

fn dat_json(d: &Dat) -> String {
    format!(
        r#"{{"key":"{}","val":"{}","time":{},"salt":"{}","work":"{}","pubkey":"{}","sig":"{}"}}"#,
        Hex(&d.key),
        Hex(&d.val),
        d.time_ms,
        Hex(&d.salt),
        Hex(&d.work),
        Hex(&d.pubkey),
        Hex(&d.sig)
    )
}

fn field<'a>(json: &'a str, name: &str) -> &'a str {
    let at = json
        .find(&format!("\"{name}\":"))
        .unwrap_or_else(|| panic!("no {name} in {json}"));
    let v = &json[at + name.len() + 3..];
    let v = v.strip_prefix('"').unwrap_or(v);
    &v[..v.find(['"', ',', '}']).unwrap()]
}

#[test]
fn write_through_one_gateway_and_read_through_another() {
    let a = start(None, Limits::default());
    let b = start(Some(a.udp), Limits::default());
    std::thread::sleep(Duration::from_millis(200));
    let who = SigningKey::from_bytes(&[21; 32]);
    let d = Dat::make(
        b"greeting",
        "héllo gateway".as_bytes(),
        now_ms(),
        10,
        &who,
        1,
        None,
    )
    .unwrap()
    .0;
    let r = post(a.http, "/v1/dat", &dat_json(&d));
    assert_eq!(r.code, 202, "{}", r.text());
    assert_eq!(field(&r.text(), "work"), Hex(&d.work).to_string());
    assert!(r.head.contains("Access-Control-Allow-Origin: *"));

    // Through the other node: fetched from the network within the bounded wait.
    let work = Hex(&d.work).to_string();
    let r = get(b.http, &format!("/v1/dat/{work}"), "application/json");
    assert_eq!(r.code, 200, "{}", r.text());
    let j = r.text();
    assert_eq!(field(&j, "val_utf8"), "héllo gateway");
    assert_eq!(field(&j, "key_utf8"), "greeting");
    assert_eq!(field(&j, "pubkey"), Hex(&d.pubkey).to_string());
    assert!(r.head.contains("Content-Type: application/json"));
    // Raw value.
    let r = get(
        b.http,
        &format!("/v1/dat/{work}"),
        "application/octet-stream",
    );
    assert_eq!(r.code, 200);
    assert_eq!(r.body, "héllo gateway".as_bytes());
    assert!(r.head.contains("Content-Type: application/octet-stream"));
    // By name, percent-encoded and as hex.
    let pk = Hex(&d.pubkey).to_string();
    let r = get(b.http, &format!("/v1/name/{pk}/greeting"), "*/*");
    assert_eq!(r.code, 200, "{}", r.text());
    let r = get(
        b.http,
        &format!("/v1/name/{pk}/hex:{}", Hex(b"greeting")),
        "*/*",
    );
    assert_eq!(r.code, 200, "{}", r.text());
    let r = get(a.http, &format!("/v1/name/{pk}/gr%65eting"), "*/*");
    assert_eq!(r.code, 200, "{}", r.text());
    // Not found: 404 with a JSON error, after the bounded wait.
    let t0 = Instant::now();
    let r = get(b.http, &format!("/v1/dat/{}", "cd".repeat(32)), "*/*");
    assert_eq!(r.code, 404);
    assert_eq!(field(&r.text(), "error"), "not_found");
    assert!(t0.elapsed() < Duration::from_secs(8), "the wait is bounded");

    // Status and metrics.
    let r = get(a.http, "/v1/status", "*/*");
    assert_eq!(r.code, 200);
    assert!(field(&r.text(), "dats").parse::<u64>().unwrap() >= 1);
    let r = get(a.http, "/metrics", "*/*");
    assert_eq!(r.code, 200);
    let m = r.text();
    assert!(r.head.contains("text/plain; version=0.0.4"));
    for want in [
        "# TYPE dave_peers gauge",
        "dave_dats 1",
        "dave_drops_total{reason=\"bad_sig\"}",
        "dave_http_requests_total",
        "dave_http_refused_total{reason=\"rate_limited\"}",
    ] {
        assert!(m.contains(want), "metrics lack {want}:\n{m}");
    }
    // The page and its scripts.
    let r = get(a.http, "/", "text/html");
    assert_eq!(r.code, 200);
    assert!(r.text().contains("<title>dave</title>") && r.head.contains("Content-Security-Policy"));
    for js in [
        "/app.js",
        "/proto.js",
        "/files.js",
        "/worker.js",
        "/vendor.js",
    ] {
        let r = get(a.http, js, "*/*");
        assert_eq!(r.code, 200, "{js}");
        assert!(r.head.contains("text/javascript"), "{js}");
    }
    assert!(get(a.http, "/vendor-LICENSE.txt", "*/*")
        .text()
        .contains("MIT"));
}

/// `POST /v1/value` as curl sends it (with `extra` headers).
fn post_value(addr: SocketAddr, query: &str, body: &[u8], extra: &str) -> Resp {
    let mut req = format!(
        "POST /v1/value{query} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Content-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body);
    raw(addr, &req)
}

fn bits_of(work_hex: &str) -> u8 {
    let mut w = [0u8; 32];
    assert!(dave_core::wire::parse_hex(work_hex, &mut w), "{work_hex}");
    dave_core::pow::difficulty(&w)
}

#[test]
fn values_from_local_programs_are_worked_signed_and_put() {
    let key = SigningKey::from_bytes(&[31; 32]);
    let pk = Hex(&key.verifying_key().to_bytes()).to_string();
    let a = start_keyed(None, Limits::default(), Some(key));
    let b = start(Some(a.udp), Limits::default());
    std::thread::sleep(Duration::from_millis(200));

    // Named, with a difficulty: worked, signed with the node's key, put,
    // and read through the other node.
    let r = post_value(a.http, "?name=greeting&bits=10", b"hello from curl", "");
    assert_eq!(r.code, 202, "{}", r.text());
    let j = r.text();
    assert_eq!(field(&j, "pubkey"), pk);
    assert_eq!(field(&j, "name"), Hex(b"greeting").to_string());
    let work = field(&j, "work").to_string();
    assert!(bits_of(&work) >= 10, "{work}");
    let r = get(b.http, &format!("/v1/name/{pk}/greeting"), "*/*");
    assert_eq!(r.code, 200, "{}", r.text());
    assert_eq!(field(&r.text(), "val_utf8"), "hello from curl");
    assert_eq!(field(&r.text(), "work"), work);

    // No name: the blake3 hash of the value, as `daved set`; 16 bits by default.
    let r = post_value(a.http, "", b"no name given", "");
    assert_eq!(r.code, 202, "{}", r.text());
    assert_eq!(
        field(&r.text(), "name"),
        Hex(blake3::hash(b"no name given").as_bytes()).to_string()
    );
    assert!(bits_of(field(&r.text(), "work")) >= 16);
    // A percent-encoded name, and a hex one; an empty value.
    let r = post_value(a.http, "?bits=8&name=a%20b", b"spaced", "");
    assert_eq!(field(&r.text(), "name"), Hex(b"a b").to_string());
    let r = post_value(a.http, "?name=hex:00ff", b"", "");
    assert_eq!(r.code, 202, "{}", r.text());
    assert_eq!(field(&r.text(), "name"), "00ff");

    // Refusals, each named.
    for (query, body, extra, code, error) in [
        (
            "",
            &b"x"[..],
            "Origin: http://evil.example\r\n",
            403,
            "browser",
        ),
        ("", b"x", "Origin: null\r\n", 403, "browser"),
        ("?bits=7", b"x", "", 400, "bad_bits"),
        ("?bits=25", b"x", "", 400, "bad_bits"),
        ("?bits=ten", b"x", "", 400, "bad_bits"),
        ("?bits=", b"x", "", 400, "bad_bits"),
        ("?key=k", b"x", "", 400, "bad_query"),
        ("?name=a&name=b", b"x", "", 400, "bad_query"),
        ("?name=%zz", b"x", "", 400, "bad_key"),
        (
            &format!("?name={}", "n".repeat(33)),
            b"x",
            "",
            400,
            "bad_key",
        ),
        ("?name=big", &[7u8; 1300][..], "", 413, "too_large"),
    ] {
        let r = post_value(a.http, query, body, extra);
        assert_eq!(
            (r.code, field(&r.text(), "error")),
            (code, error),
            "{query} {extra}: {}",
            r.text()
        );
    }
    // DNS rebinding: a page served under another name that resolves here.
    let r = raw(
        a.http,
        b"POST /v1/value HTTP/1.1\r\nHost: rebound.example:8080\r\nContent-Length: 1\r\n\r\nx",
    );
    assert_eq!((r.code, field(&r.text(), "error")), (403, "bad_host"));
    let r = get(a.http, "/v1/value", "*/*");
    assert_eq!(r.code, 405);
    // A node without a key says so.
    let r = post_value(b.http, "?name=x", b"x", "");
    assert_eq!(
        (r.code, field(&r.text(), "error")),
        (403, "no_key"),
        "{}",
        r.text()
    );
    assert!(r.text().contains("-k FILE"));

    let m = get(a.http, "/metrics", "*/*").text();
    for want in [
        "dave_http_values_total 4",
        "dave_http_refused_total{reason=\"forbidden\"} 3",
        "dave_http_refused_total{reason=\"bad_request\"} 8",
        "dave_http_refused_total{reason=\"too_large\"} 1",
    ] {
        assert!(m.contains(want), "metrics lack {want}:\n{m}");
    }
}

#[test]
fn values_beyond_the_bound_are_refused_and_counted() {
    // Limits::values bounds the values waiting or being made; at 0 every one is refused.
    let limits = Limits {
        values: 0,
        ..Limits::default()
    };
    let a = start_keyed(None, limits, Some(SigningKey::from_bytes(&[32; 32])));
    let r = post_value(a.http, "?bits=8", b"x", "");
    assert_eq!(
        (r.code, field(&r.text(), "error")),
        (503, "busy"),
        "{}",
        r.text()
    );
    assert!(r.head.contains("Retry-After: 1"));
    let m = get(a.http, "/metrics", "*/*").text();
    assert!(
        m.contains("dave_http_refused_total{reason=\"value_queue_full\"} 1"),
        "{m}"
    );
    assert!(m.contains("dave_http_values_total 0"), "{m}");
}

#[test]
fn a_post_is_verified_exactly_as_a_packet_and_refusals_name_the_check() {
    let a = start(None, Limits::default());
    let who = SigningKey::from_bytes(&[22; 32]);
    let t = now_ms();
    let good = Dat::make(b"k", b"v", t, 8, &who, 1, None).unwrap().0;
    let mut tampered = good.clone();
    tampered.val = b"w".to_vec();
    let mut forged = good.clone();
    forged.sig = dave_core::pow::sign(&SigningKey::from_bytes(&[23; 32]), &good.work);
    let future = Dat::make(b"f", b"v", t + 60_000, 8, &who, 1, None)
        .unwrap()
        .0;
    let weak = (0..)
        .map(|i| {
            Dat::make(b"w", format!("{i}").as_bytes(), t, 0, &who, 1, None)
                .unwrap()
                .0
        })
        .find(|d| dave_core::pow::difficulty(&d.work) < 8)
        .unwrap();
    for (d, check) in [
        (&tampered, "work_mismatch"),
        (&forged, "bad_sig"),
        (&future, "future"),
        (&weak, "low_work"),
    ] {
        let r = post(a.http, "/v1/dat", &dat_json(d));
        assert_eq!(r.code, 400, "{check}: {}", r.text());
        assert_eq!(field(&r.text(), "error"), check);
    }
    assert_eq!(post(a.http, "/v1/dat", &dat_json(&good)).code, 202);
    // An older version of a held name is stale.
    let older = Dat::make(b"k", b"old", t - 1000, 8, &who, 1, None)
        .unwrap()
        .0;
    let r = post(a.http, "/v1/dat", &dat_json(&older));
    assert_eq!(
        (r.code, field(&r.text(), "error").to_string()),
        (400, "stale".to_string())
    );
    // Malformed bodies.
    for (body, err) in [
        ("not json", "bad_json"),
        (r#"{"key":"00"}"#, "missing_field"),
        (
            r#"{"key":"zz","val":"","time":1,"salt":"00","work":"00","pubkey":"00","sig":"00"}"#,
            "bad_field",
        ),
        (r#"{"extra":"00"}"#, "bad_field"),
        (
            &dat_json(&good).replace("\"salt\":\"", "\"salt\":\"00"),
            "work_mismatch",
        ),
        (
            &dat_json(&good).replace(&Hex(&good.work).to_string(), "00"),
            "field_size",
        ),
    ] {
        let r = post(a.http, "/v1/dat", body);
        assert_eq!(r.code, 400, "{body}: {}", r.text());
        assert_eq!(field(&r.text(), "error"), err, "{body}");
    }
}

/// A dat by its work hash is cached for a year (an ETag per form, 304 for
/// a matching If-None-Match); a name is not cached; HEAD answers every GET
/// route without the body; a POST names every missing field at once.
#[test]
fn caching_head_and_missing_fields() {
    let a = start(None, Limits::default());
    let who = SigningKey::from_bytes(&[24; 32]);
    let d = Dat::make(b"cached", b"forever", now_ms(), 8, &who, 1, None)
        .unwrap()
        .0;
    assert_eq!(post(a.http, "/v1/dat", &dat_json(&d)).code, 202);
    let work = Hex(&d.work).to_string();
    let path = format!("/v1/dat/{work}");
    let r = get(a.http, &path, "application/json");
    assert_eq!(r.code, 200, "{}", r.text());
    for want in [
        "Cache-Control: public, max-age=31536000, immutable".to_string(),
        format!("ETag: \"{work}\""),
        "Vary: Accept".to_string(),
    ] {
        assert!(r.head.contains(&want), "{want} in {}", r.head);
    }
    let json_len = r.body.len();
    let raw_r = get(a.http, &path, "application/octet-stream");
    assert!(
        raw_r.head.contains(&format!("ETag: \"{work}-raw\"")),
        "{}",
        raw_r.head
    );
    // A client holding it: 304, no body.
    let r = raw(
        a.http,
        format!("GET {path} HTTP/1.1\r\nIf-None-Match: \"{work}\"\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.code, 304, "{}", r.head);
    assert!(r.body.is_empty() && r.head.contains(&format!("ETag: \"{work}\"")));
    // The other form's tag does not match.
    let r = raw(
        a.http,
        format!("GET {path} HTTP/1.1\r\nIf-None-Match: \"{work}-raw\"\r\n\r\n").as_bytes(),
    );
    assert_eq!(r.code, 200);
    // A name may move to a newer dat: not cached.
    let pk = Hex(&d.pubkey).to_string();
    let r = get(a.http, &format!("/v1/name/{pk}/cached"), "*/*");
    assert_eq!(r.code, 200);
    assert!(r.head.contains("Cache-Control: no-store") && !r.head.contains("ETag"));
    // HEAD: the GET's status and headers, no body.
    let head = |p: &str| raw(a.http, format!("HEAD {p} HTTP/1.1\r\n\r\n").as_bytes());
    let r = head(&path);
    assert_eq!(r.code, 200, "{}", r.head);
    assert!(r.body.is_empty());
    assert!(
        r.head.contains(&format!("Content-Length: {json_len}")),
        "{}",
        r.head
    );
    assert!(r.head.contains("immutable"));
    for p in [
        "/".to_string(),
        "/app.js".into(),
        "/proto.js".into(),
        "/worker.js".into(),
        "/vendor.js".into(),
        "/vendor-LICENSE.txt".into(),
        "/v1/status".into(),
        "/metrics".into(),
        format!("/v1/name/{pk}/cached"),
    ] {
        let r = head(&p);
        assert_eq!(r.code, 200, "HEAD {p}");
        assert!(r.body.is_empty(), "HEAD {p} has a body");
        let len: usize = r
            .head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert!(len > 0, "HEAD {p}");
        if !p.starts_with("/v1/status") && p != "/metrics" {
            assert_eq!(len, get(a.http, &p, "*/*").body.len(), "HEAD {p}");
        }
    }
    let r = head("/nope");
    assert_eq!(r.code, 404);
    assert!(r.body.is_empty());
    let r = head(&format!("/v1/dat/{}", "cd".repeat(32)));
    assert_eq!(r.code, 404);
    assert!(r.body.is_empty());
    // Every missing field named at once.
    let r = post(a.http, "/v1/dat", "{}");
    assert_eq!(r.code, 400);
    let t = r.text();
    assert_eq!(field(&t, "error"), "missing_field");
    assert!(
        t.contains(r#""fields":["salt","work","pubkey","sig","time"]"#),
        "{t}"
    );
    let r = post(a.http, "/v1/dat", r#"{"salt":"00","work":"00"}"#);
    assert!(
        r.text().contains(r#""fields":["pubkey","sig","time"]"#),
        "{}",
        r.text()
    );
}

#[test]
fn routes_methods_sizes_and_cors() {
    let a = start(None, Limits::default());
    assert_eq!(get(a.http, "/nope", "*/*").code, 404);
    assert_eq!(
        raw(a.http, b"GET /../../etc/passwd HTTP/1.1\r\n\r\n").code,
        404
    );
    assert_eq!(
        raw(a.http, b"GET /%2e%2e/%2e%2e/etc/passwd HTTP/1.1\r\n\r\n").code,
        404
    );
    assert_eq!(
        raw(a.http, b"GET /v1/dat/../../../etc/passwd HTTP/1.1\r\n\r\n").code,
        404
    );
    assert_eq!(get(a.http, "/v1/dat/xyz", "*/*").code, 400);
    assert_eq!(
        get(
            a.http,
            &format!("/v1/name/{}/{}", "00".repeat(32), "k".repeat(33)),
            "*/*"
        )
        .code,
        400
    );
    assert_eq!(raw(a.http, b"DELETE /v1/status HTTP/1.1\r\n\r\n").code, 405);
    assert_eq!(post(a.http, "/v1/status", "{}").code, 405);
    let r = raw(a.http, b"OPTIONS /v1/dat HTTP/1.1\r\nOrigin: http://example.test\r\nAccess-Control-Request-Method: POST\r\n\r\n");
    assert_eq!(r.code, 204);
    assert!(
        r.head
            .contains("Access-Control-Allow-Methods: GET, HEAD, POST, OPTIONS")
            && r.head
                .contains("Access-Control-Allow-Headers: Content-Type")
    );
    assert_eq!(raw(a.http, b"\x00\x01garbage\r\n\r\n").code, 400);
    // Sizes: a huge head, a declared huge body, chunked bodies.
    let big_head = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(10_000));
    assert_eq!(raw(a.http, big_head.as_bytes()).code, 413);
    assert_eq!(
        raw(
            a.http,
            b"POST /v1/dat HTTP/1.1\r\nContent-Length: 100000\r\n\r\n"
        )
        .code,
        413
    );
    assert_eq!(
        raw(
            a.http,
            b"POST /v1/dat HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        .code,
        400
    );
    // Framing two servers could read differently: refused, never guessed at.
    for req in [
        &b"POST /v1/dat HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}"[..],
        b"POST /v1/dat HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
        b"POST /v1/dat HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}",
    ] {
        let r = raw(a.http, req);
        assert_eq!(r.code, 400, "{}", r.text());
        assert_eq!(field(&r.text(), "error"), "bad_request");
    }
}

#[test]
fn slow_idle_greedy_and_crowding_clients_are_refused() {
    let limits = Limits {
        max_conns: 4,
        idle: Duration::from_millis(300),
        request_time: Duration::from_millis(800),
        rate_per_s: 2.0,
        burst: 3.0,
        ..Limits::default()
    };
    let a = start(None, limits);
    // Idle: connect, say nothing.
    let t0 = Instant::now();
    let r = raw(a.http, b"");
    assert_eq!(r.code, 408);
    assert!(t0.elapsed() < Duration::from_secs(3));
    // Slow: a byte every 100 ms never finishes within 800 ms.
    let mut s = TcpStream::connect(a.http).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = Vec::new();
    for b in b"GET /v1/status HTTP/1.1\r\nHost: slowly-typed-host-name\r\n".iter() {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        if t0.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    let _ = s.read_to_end(&mut answer);
    assert_eq!(parse(&answer).code, 408);
    // Greedy: the 4th request in a burst of 3 is refused with Retry-After.
    let mut codes = Vec::new();
    for _ in 0..5 {
        codes.push(get(a.http, "/v1/status", "*/*"));
    }
    let limited: Vec<&Resp> = codes.iter().filter(|r| r.code == 429).collect();
    assert!(
        !limited.is_empty(),
        "no 429 in {:?}",
        codes.iter().map(|r| r.code).collect::<Vec<_>>()
    );
    assert!(limited[0].head.contains("Retry-After: 1"));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        get(a.http, "/v1/status", "*/*").code,
        200,
        "tokens come back"
    );
    // Crowding: 4 open connections, the 5th gets 503.
    let hold: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(a.http).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let r = get(a.http, "/v1/status", "*/*");
    assert_eq!(r.code, 503, "{}", r.text());
    drop(hold);
    std::thread::sleep(Duration::from_millis(500));
    let m = get(a.http, "/metrics", "*/*").text();
    for reason in [
        "busy",
        "client_conns",
        "slow_head",
        "timeout",
        "rate_limited",
        "too_large",
    ] {
        assert!(
            m.contains(&format!("dave_http_refused_total{{reason=\"{reason}\"}}")),
            "{m}"
        );
    }
    assert!(
        !m.contains("dave_http_refused_total{reason=\"busy\"} 0"),
        "503 counted:\n{m}"
    );
    assert!(
        !m.contains("dave_http_refused_total{reason=\"timeout\"} 0"),
        "408 counted:\n{m}"
    );
}

/// A file written as dats (the way `daved setf` writes it) into one node
/// is read whole through the other node's gateway, by root and by name,
/// verified before the first byte is sent; an unknown root is a 404 after
/// the bounded wait, a second read at once is a 503, and a file over
/// `file_max` is refused with 502 naming why.
#[test]
fn files_are_read_whole_and_verified_through_the_gateway() {
    use dave_files::{layout, make_dats, PowProgress};
    use std::sync::atomic::AtomicBool;
    let open = Limits {
        rate_per_s: 1e6,
        burst: 1e6,
        get_wait: Duration::from_secs(1),
        ..Limits::default()
    };
    let a = start(None, open.clone());
    let b = start(Some(a.udp), open.clone());
    let small = start(
        Some(a.udp),
        Limits {
            file_max: 1000,
            ..open.clone()
        },
    );
    std::thread::sleep(Duration::from_millis(300));
    let mut data = vec![0u8; 200_000];
    let mut x = 0x2545_f491_4f6c_dd1du64;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    let lay = layout(&data, b"report 2026.bin").unwrap();
    let who = SigningKey::from_bytes(&[33; 32]);
    let dats = make_dats(
        &lay.pieces,
        8,
        &who,
        now_ms(),
        2,
        &PowProgress::default(),
        &AtomicBool::new(false),
        &|_, _| {},
    );
    assert!(dats.len() > 100, "{} dats", dats.len());
    for d in &dats {
        let r = post(a.http, "/v1/dat", &dat_json(d));
        assert_eq!(r.code, 202, "{}", r.text());
    }
    let root = Hex(&dats.last().unwrap().work).to_string();

    let r = get(b.http, &format!("/v1/file/{root}"), "*/*");
    assert_eq!(r.code, 200, "{}", r.text());
    assert!(r.body == data, "the file read back differs");
    assert!(r.head.contains("Content-Type: application/octet-stream"));
    assert!(
        r.head
            .contains("Content-Disposition: attachment; filename=\"report_2026.bin\""),
        "{}",
        r.head
    );
    assert!(r.head.contains(&format!("X-Dave-Root: {root}")));
    let name = format!(
        "/v1/file/{}/hex:{}",
        Hex(&who.verifying_key().to_bytes()),
        Hex(&lay.root_key)
    );
    let r = get(b.http, &name, "*/*");
    assert_eq!(r.code, 200, "{}", r.text());
    assert!(r.body == data);

    // An unknown root: 404 after the wait; meanwhile a second read is busy.
    let b_http = b.http;
    let slow =
        std::thread::spawn(move || get(b_http, &format!("/v1/file/{}", "ab".repeat(32)), "*/*"));
    std::thread::sleep(Duration::from_millis(300));
    let r = get(b.http, &format!("/v1/file/{root}"), "*/*");
    assert_eq!(r.code, 503, "{}", r.text());
    assert!(r.head.contains("Retry-After: 1"));
    let r = slow.join().unwrap();
    assert_eq!(r.code, 404, "{}", r.text());
    assert!(r.text().contains("root"), "{}", r.text());

    // Larger than this gateway reads: refused, saying why.
    let r = get(small.http, &format!("/v1/file/{root}"), "*/*");
    assert_eq!(r.code, 502, "{}", r.text());
    assert_eq!(field(&r.text(), "error"), "bad_file");

    // A dat that is a value, not a file's root: the caller's mistake
    // (422), saying so; by work and by name.
    let plain = Dat::make(b"note", b"not a file", now_ms(), 8, &who, 1, None)
        .unwrap()
        .0;
    assert_eq!(post(a.http, "/v1/dat", &dat_json(&plain)).code, 202);
    let r = get(b.http, &format!("/v1/file/{}", Hex(&plain.work)), "*/*");
    assert_eq!(r.code, 422, "{}", r.text());
    assert_eq!(field(&r.text(), "error"), "not_a_file");
    assert!(
        r.text().contains("this is a value, not a file"),
        "{}",
        r.text()
    );
    let named = Dat::make(
        blake3::hash(b"also a value").as_bytes(),
        b"also a value",
        now_ms(),
        8,
        &who,
        1,
        None,
    )
    .unwrap()
    .0;
    assert_eq!(post(a.http, "/v1/dat", &dat_json(&named)).code, 202);
    let r = get(
        b.http,
        &format!(
            "/v1/file/{}/hex:{}",
            Hex(&who.verifying_key().to_bytes()),
            Hex(&named.key)
        ),
        "*/*",
    );
    assert_eq!(r.code, 422, "{}", r.text());
    assert_eq!(field(&r.text(), "error"), "not_a_file");

    // Malformed roots and names, wrong methods.
    assert_eq!(get(b.http, "/v1/file/xyz", "*/*").code, 400);
    let r = get(b.http, &format!("/v1/file/{root}/hex:00"), "*/*");
    assert_eq!(field(&r.text(), "error"), "bad_name");
    assert_eq!(post(b.http, &format!("/v1/file/{root}"), "{}").code, 405);
    let m = get(b.http, "/metrics", "*/*").text();
    assert!(m.contains("dave_http_files_sent_total 2"), "{m}");
    assert!(m.contains("dave_http_file_errors_total 4"), "{m}");
}

/// A TCP connection to `to` from the local address `from` (any port):
/// loopback is all of 127/8 on Linux, so 127.0.0.2 is a second client
/// address on the same host.
fn connect_from(from: std::net::Ipv4Addr, to: SocketAddr) -> std::io::Result<TcpStream> {
    use std::os::fd::FromRawFd;
    let SocketAddr::V4(to) = to else {
        return Err(std::io::Error::other("IPv4 only"));
    };
    let sin = |ip: std::net::Ipv4Addr, port: u16| libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: a fresh socket, owned by the TcpStream from here on, and
    // pointers to live sockaddr_in values of the length given.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let s = TcpStream::from_raw_fd(fd);
        let me = sin(from, 0);
        if libc::bind(fd, (&me as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let peer = sin(*to.ip(), to.port());
        if libc::connect(fd, (&peer as *const libc::sockaddr_in).cast(), len) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(s)
    }
}

/// What [`slow_clients_against`] saw.
struct SlowRun {
    asked: usize,
    answered: usize,
    /// The slowest answer the other client got.
    slowest: Duration,
    /// Connections the slow address opened (each refusal makes it reconnect).
    opened: usize,
    /// The gateway's `/metrics` afterwards.
    metrics: String,
}

/// One address (127.0.0.1) keeps 64 connections open, each trickling a
/// header line a second, and reconnects within 50 ms whenever one is
/// refused or closed; meanwhile a client on 127.0.0.2 asks for the status
/// every 100 ms for `secs`.
fn slow_clients_against(limits: Limits, secs: u64) -> SlowRun {
    let a = start(None, limits);
    let http = a.http;
    let stop = Arc::new(AtomicBool::new(false));
    let s2 = Arc::clone(&stop);
    let attacker = std::thread::spawn(move || {
        let mut conns: Vec<Option<(TcpStream, Instant)>> = (0..64).map(|_| None).collect();
        let mut opened = 0usize;
        let t0 = Instant::now();
        while !s2.load(Ordering::Relaxed) && t0.elapsed() < Duration::from_secs(secs + 5) {
            for c in conns.iter_mut() {
                match c {
                    None => {
                        let Ok(mut s) = TcpStream::connect(http) else {
                            continue;
                        };
                        opened += 1;
                        let _ = s.set_nonblocking(true);
                        if s.write_all(b"GET /v1/status HTTP/1.1\r\n").is_ok() {
                            *c = Some((s, Instant::now()));
                        }
                    }
                    Some((s, last)) => {
                        let mut b = [0u8; 512];
                        let closed = match s.read(&mut b) {
                            Ok(_) => true, // an answer (a refusal) or EOF
                            Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
                        };
                        if closed {
                            *c = None;
                        } else if last.elapsed() >= Duration::from_secs(1) {
                            if s.write_all(b"X-Slow: a\r\n").is_err() {
                                *c = None;
                            } else {
                                *last = Instant::now();
                            }
                        }
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        opened
    });
    // Let the slow connections settle in first.
    std::thread::sleep(Duration::from_millis(1500));
    let ask = |path: &str| {
        connect_from([127, 0, 0, 2].into(), http).and_then(|mut s| {
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())?;
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            Ok(out)
        })
    };
    let (mut asked, mut answered, mut slowest) = (0, 0, Duration::ZERO);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(secs) {
        asked += 1;
        let t = Instant::now();
        if ask("/v1/status").is_ok_and(|out| out.starts_with(b"HTTP/1.1 200")) {
            answered += 1;
            slowest = slowest.max(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.store(true, Ordering::Relaxed);
    let opened = attacker.join().unwrap();
    let metrics = ask("/metrics").map_or(String::new(), |out| parse(&out).text());
    SlowRun {
        asked,
        answered,
        slowest,
        opened,
        metrics,
    }
}

/// 64 slow connections from one address used to hold every slot: 0 of 80
/// requests from another address were answered in 8 s (2 of 200 in 20 s).
/// With at most `per_client` (8) connections per address and a head due
/// within `header_time` (5 s), the other address is served.
#[test]
fn one_address_with_many_slow_connections_does_not_lock_others_out() {
    let r = slow_clients_against(Limits::default(), 8);
    let count = |reason: &str| -> u64 {
        let line = format!("dave_http_refused_total{{reason=\"{reason}\"}} ");
        r.metrics
            .lines()
            .find_map(|l| l.strip_prefix(&line))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {reason} in\n{}", r.metrics))
    };
    eprintln!(
        "slow clients: {} of {} requests from 127.0.0.2 answered (slowest {:.1} ms); \
         127.0.0.1 opened {} connections: {} refused at accept, {} closed for a slow head",
        r.answered,
        r.asked,
        r.slowest.as_secs_f64() * 1e3,
        r.opened,
        count("client_conns"),
        count("slow_head"),
    );
    assert!(r.asked >= 20, "{} asked", r.asked);
    assert!(
        r.answered * 100 >= r.asked * 95,
        "only {} of {} answered while one address held slow connections",
        r.answered,
        r.asked
    );
    assert!(count("client_conns") > 0, "refusals at accept are counted");
    assert!(count("slow_head") >= 8, "slow heads are counted");
}

/// The two bounds on their own: the connection past `per_client` from one
/// address is refused at accept (429) while another address is served, and
/// a head still trickling in at `header_time` gets 408 `slow_head` although
/// the whole-request deadline is far off.
#[test]
fn connections_per_address_and_the_header_deadline() {
    let a = start(
        None,
        Limits {
            per_client: 2,
            header_time: Duration::from_millis(600),
            request_time: Duration::from_secs(30),
            idle: Duration::from_secs(30),
            ..Limits::default()
        },
    );
    let hold: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(a.http).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let r = get(a.http, "/v1/status", "*/*");
    assert_eq!(r.code, 429, "{}", r.text());
    assert_eq!(field(&r.text(), "error"), "too_many_connections");
    assert!(r.head.contains("Retry-After: 1"));
    let mut other = connect_from([127, 0, 0, 2].into(), a.http).unwrap();
    other
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    other
        .write_all(b"GET /v1/status HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut out = Vec::new();
    let _ = other.read_to_end(&mut out);
    assert_eq!(parse(&out).code, 200, "another address is served");
    drop(hold);

    // A head trickling a byte every 50 ms: cut at 600 ms, not at 30 s.
    std::thread::sleep(Duration::from_millis(200));
    let mut s = TcpStream::connect(a.http).unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let t0 = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    for b in b"GET /v1/status HTTP/1.1\r\nX-Slow: "
        .iter()
        .chain([b'a'; 200].iter())
    {
        if s.write_all(&[*b]).is_err() {
            break;
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
        if t0.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    let waited = t0.elapsed();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let _ = s.read_to_end(&mut answer);
    let r = parse(&answer);
    assert_eq!(r.code, 408, "{}", r.text());
    assert_eq!(field(&r.text(), "error"), "slow_head");
    assert!(waited < Duration::from_secs(3), "cut after {waited:?}");
    let m = get(a.http, "/metrics", "*/*").text();
    assert!(
        m.contains("dave_http_refused_total{reason=\"client_conns\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("dave_http_refused_total{reason=\"slow_head\"} 1"),
        "{m}"
    );
}
