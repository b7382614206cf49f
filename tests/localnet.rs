//! scripts/localnet.sh with the test build of daved (`--bin`, so nothing
//! is built): every node is checked to be up; a node that cannot bind its
//! port is named with the reason, and the script fails.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{tmpdir, BIN};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/localnet.sh");

/// A first port with `n` free ports from it, on 127.0.0.1.
fn free_run(n: u16) -> u16 {
    loop {
        let p = UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if p > 60000 {
            continue;
        }
        if (0..n).all(|i| UdpSocket::bind(("127.0.0.1", p + i)).is_ok()) {
            return p;
        }
    }
}

/// A PATH without cargo: the script must not build when given --bin.
const NO_CARGO: &str = "/usr/bin:/bin";

#[test]
fn a_node_that_cannot_bind_is_named_with_the_reason() {
    let dir = tmpdir("localnet-fail");
    let port = free_run(3);
    let _held = UdpSocket::bind(("127.0.0.1", port + 1)).unwrap();
    let o = Command::new("bash")
        .args([SCRIPT, "3", "--bin", BIN, "--port", &port.to_string()])
        .env("DAVE_LOGS", &dir)
        .env("PATH", NO_CARGO)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "node 1 (127.0.0.1:{}) exited with status 1",
            port + 1
        )) && err.contains("Address already in use")
            && err.contains("1 of 3 nodes failed to start")
            && err.contains("--port"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&o.stdout).contains("all up"));
    // The others were stopped: their ports are free again.
    std::thread::sleep(Duration::from_millis(200));
    for p in [port, port + 2] {
        assert!(
            UdpSocket::bind(("127.0.0.1", p)).is_ok(),
            "port {p} still held"
        );
    }
}

#[test]
fn every_node_up_then_stopped_on_sigterm() {
    let dir = tmpdir("localnet-ok");
    let port = free_run(3);
    let mut child = Command::new("bash")
        .args([SCRIPT, "3", "--bin", BIN, "--port", &port.to_string()])
        .env("DAVE_LOGS", &dir)
        .env("PATH", NO_CARGO)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read every line (a closed pipe would end the script).
    let out = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            let _ = tx.send(l);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
    assert!(
        first.starts_with(&format!(
            "3 nodes on 127.0.0.1:{port}..{}, all up",
            port + 2
        )),
        "{first}"
    );
    for i in 0..3 {
        let log = std::fs::read_to_string(dir.join(format!("node{i}.log"))).unwrap();
        assert!(log.contains("/d/up"), "node {i}: {log}");
    }
    // The nodes answer `daved status`.
    let st = Command::new(BIN)
        .args(["status", "-p", &(port + 2).to_string()])
        .output()
        .unwrap();
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let t0 = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the script ignored SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    std::thread::sleep(Duration::from_millis(200));
    for p in port..port + 3 {
        assert!(
            UdpSocket::bind(("127.0.0.1", p)).is_ok(),
            "port {p} still held"
        );
    }
    // Every node stopped cleanly.
    for i in 0..3 {
        let log = std::fs::read_to_string(dir.join(format!("node{i}.log"))).unwrap();
        assert!(log.contains("/d/down"), "node {i}: {log}");
    }
}
