//! Strangers against a real node on loopback (docs/protocol.md 5.3, 5.4):
//! 1,100 addresses that never finish the handshake take no place in its
//! table; 1,100 that do, and answer every ping, fill it; an honest
//! newcomer still gets in, and is sent every dat.
//!
//! Every address is on 127/8 (Linux answers all of it on `lo`); loops are
//! bounded in count and time.

mod common;

use common::{free_port, start_node, tmpdir, Nodes, BIN};
use dave::handshake::{handshake, with_token};
use dave_core::testing::getpeer;
use dave_core::wire::{self, Cookie};
use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

const STRANGERS: usize = 1100;

fn status_num(port: u16, key: &str) -> Option<u64> {
    let out = Command::new(BIN)
        .args(["status", "-p", &port.to_string(), "--json"])
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let at = text.find(&format!("\"{key}\":"))? + key.len() + 3;
    text[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn wait_status(port: u16, key: &str, what: &str, ok: impl Fn(u64) -> bool, limit: Duration) -> u64 {
    let t0 = Instant::now();
    loop {
        let v = status_num(port, key);
        if let Some(v) = v.filter(|v| ok(*v)) {
            return v;
        }
        assert!(
            t0.elapsed() < limit,
            "{what}: {key} = {v:?} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// [`common::serve_peer`], ignoring PUTs.
fn answer_pings(s: &UdpSocket, node: SocketAddr, buf: &mut [u8]) -> usize {
    common::serve_peer(s, node, buf, |_| {})
}

#[test]
fn strangers_take_no_place_and_an_honest_newcomer_still_gets_in() {
    let dir = tmpdir("table-fill");
    let port = free_port();
    let node: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let nodes = Nodes(vec![start_node(port, None, &dir.join("node.log"), &[])]);
    wait_status(
        port,
        "peers",
        "the node starts",
        |_| true,
        Duration::from_secs(10),
    );

    // 1,100 sockets, each on an address of its own.
    let socks: Vec<UdpSocket> = (0..STRANGERS)
        .map(|i| {
            let ip = format!("127.1.{}.{}", i / 250, 1 + i % 250);
            let s = UdpSocket::bind(format!("{ip}:0")).expect("a loopback address");
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();

    // They ask once and never quote the cookie they are handed.
    for (i, s) in socks.iter().enumerate() {
        s.send_to(&getpeer(&(i as u64).to_le_bytes(), None), node)
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let mut buf = [0u8; 2048];
    let mut answered = 0;
    for s in &socks {
        while s.recv_from(&mut buf).is_ok() {
            answered += 1;
        }
    }
    assert_eq!(
        status_num(port, "peers"),
        Some(0),
        "a stranger that never proved its address entered the table"
    );
    assert!(
        answered <= STRANGERS,
        "{answered} answers to {STRANGERS} GETPEERs"
    );
    eprintln!("1,100 unfinished handshakes: 0 table entries, {answered} cookies sent back");

    // Now they finish it, quote the cookie, and answer every ping.
    let mut tokens = Vec::with_capacity(STRANGERS);
    for s in &socks {
        s.set_nonblocking(false).unwrap();
        tokens.push(handshake(s, node, Duration::from_secs(10)).expect("a cookie"));
        s.set_nonblocking(true).unwrap();
    }
    std::thread::sleep(Duration::from_millis(5));
    for (s, t) in socks.iter().zip(&tokens) {
        s.send_to(&with_token(&getpeer(&[2; 8], None), t), node)
            .unwrap();
    }
    let t0 = Instant::now();
    let mut pongs = 0;
    while t0.elapsed() < Duration::from_secs(2) {
        for s in &socks {
            pongs += answer_pings(s, node, &mut buf);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let held = status_num(port, "peers").unwrap();
    assert!(
        (500..=1024).contains(&held),
        "{held} of 1,100 validated strangers in a table of 1,024"
    );
    eprintln!("1,100 finished handshakes: {held} table entries ({pongs} pings answered)");

    // Five dats are written through the node.
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let key = Command::new(BIN)
        .args(["keygen"])
        .env("XDG_CONFIG_HOME", &home)
        .output()
        .unwrap();
    assert!(
        key.status.success(),
        "keygen: {}",
        common::text(&key.stderr)
    );
    let mut works = Vec::new();
    for k in 0..5 {
        let out = Command::new(BIN)
            .args([
                "-e",
                &node.to_string(),
                "set",
                "-d",
                "10",
                &format!("value {k}"),
            ])
            .env("XDG_CONFIG_HOME", &home)
            .output()
            .unwrap();
        assert!(out.status.success(), "set: {}", common::text(&out.stderr));
        let work = common::field(&common::text(&out.stdout), "work").to_string();
        works.push(wire::hex32(&work).expect("a work hash"));
    }
    // Eight honest newcomers, from addresses of their own: they finish the
    // handshake and answer pings like the strangers, and count the dats
    // the node seeds them (it seeds only peers in its table). A slot goes
    // to whoever ranks better under its bucket's seed, so about half get
    // in at once and more as seeds are redrawn; none is shut out for
    // having come last.
    let newcomers: Vec<UdpSocket> = (0..8)
        .map(|i| {
            let s = UdpSocket::bind(format!("127.2.0.{}:0", 1 + i)).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
            s
        })
        .collect();
    let ntok: Vec<Cookie> = newcomers
        .iter()
        .map(|s| handshake(s, node, Duration::from_secs(10)).expect("a cookie"))
        .collect();
    // The packet filter passes one GETPEER per source per epoch, and on an
    // idle machine the handshake's round trip takes less than one: wait
    // for the next before the GETPEER that quotes the cookie.
    std::thread::sleep(Duration::from_millis(5));
    for (s, t) in newcomers.iter().zip(&ntok) {
        s.set_nonblocking(true).unwrap();
        s.send_to(&with_token(&getpeer(&[3; 8], None), t), node)
            .unwrap();
    }
    let mut got: Vec<std::collections::HashSet<[u8; 32]>> = vec![Default::default(); 8];
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(25) {
        for s in &socks {
            answer_pings(s, node, &mut buf);
        }
        for (j, s) in newcomers.iter().enumerate() {
            let got_j = &mut got[j];
            common::serve_peer(s, node, &mut buf, |w| {
                if works.contains(w) {
                    got_j.insert(*w);
                }
            });
        }
        if got.iter().filter(|g| g.len() == works.len()).count() >= 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let admitted = got.iter().filter(|g| !g.is_empty()).count();
    let complete = got.iter().filter(|g| g.len() == works.len()).count();
    eprintln!(
        "beside 1,100 validated strangers: {admitted} of 8 newcomers seeded, {complete} hold every dat, after {:.1} s",
        t0.elapsed().as_secs_f64()
    );
    assert!(
        complete >= 2,
        "only {complete} of 8 honest newcomers got every dat in {:?} (seeded: {admitted})",
        t0.elapsed()
    );
    drop(nodes);
}
