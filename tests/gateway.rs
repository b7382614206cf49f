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
    let mut cfg = Config::default().with_dat_cap(1000);
    cfg.filter_cap = 1 << 12;
    cfg.seed = 7;
    cfg.edges = edge.into_iter().collect();
    let mut drv = Driver::bind("127.0.0.1:0".parse().unwrap(), Node::new(cfg)).unwrap();
    let http = drv
        .enable_gateway("127.0.0.1:0".parse().unwrap(), limits)
        .unwrap();
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
    for js in ["/app.js", "/proto.js", "/worker.js", "/vendor.js"] {
        let r = get(a.http, js, "*/*");
        assert_eq!(r.code, 200, "{js}");
        assert!(r.head.contains("text/javascript"), "{js}");
    }
    assert!(get(a.http, "/vendor-LICENSE.txt", "*/*")
        .text()
        .contains("MIT"));
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
            .contains("Access-Control-Allow-Methods: GET, POST, OPTIONS")
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
    for reason in ["busy", "timeout", "rate_limited", "too_large"] {
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

    // A dat that is not a file's root: refused, saying why.
    let plain = Dat::make(b"note", b"not a file", now_ms(), 8, &who, 1, None)
        .unwrap()
        .0;
    assert_eq!(post(a.http, "/v1/dat", &dat_json(&plain)).code, 202);
    let r = get(b.http, &format!("/v1/file/{}", Hex(&plain.work)), "*/*");
    assert_eq!(r.code, 502, "{}", r.text());
    assert!(r.text().contains("refused"), "{}", r.text());

    // Malformed roots and names, wrong methods.
    assert_eq!(get(b.http, "/v1/file/xyz", "*/*").code, 400);
    let r = get(b.http, &format!("/v1/file/{root}/hex:00"), "*/*");
    assert_eq!(field(&r.text(), "error"), "bad_name");
    assert_eq!(post(b.http, &format!("/v1/file/{root}"), "{}").code, 405);
    let m = get(b.http, "/metrics", "*/*").text();
    assert!(m.contains("dave_http_files_sent_total 2"), "{m}");
    assert!(m.contains("dave_http_file_errors_total 3"), "{m}");
}
