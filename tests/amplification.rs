//! Amplification, on the real binary over loopback: what a node sends to an
//! address that never proved it receives there (docs/protocol.md 5.3,
//! docs/security.md).
//!
//! Four silent victim sockets have datagrams sent in their names, from their
//! own sockets (the node sees each victim's address as the source), all at
//! once against one node, every 80 ms for 3 s: (a) one GETPEER, (b) a
//! GETPEER keep-alive, (c) GETs of a dat the node holds, (d) empty
//! datagrams. Each victim counts what it receives during the run and 1.5 s
//! after, and must get at most one datagram per datagram sent in its name
//! and at most 20 bytes more than was sent, per datagram: received bytes <=
//! sent bytes + 20 x sent datagrams. GETs and empty datagrams must get
//! nothing at all. No victim's address may enter the peer table (the node's
//! `-v` log names every address added, `/d/pi/add ADDR`, and `daved status
//! --json` counts them); an honest client that did the handshake does enter
//! it, and is answered, which shows that the node holds the dat and that
//! both checks see an address that was added. The dat itself comes from a
//! socket that never did the handshake: it is stored, and that socket is
//! sent nothing.

mod common;

use common::{free_port, text, Nodes, BIN};
use dave::handshake::{handshake, with_token};
use dave_core::wire::{self, Msg, Op, Packet};
use dave_core::Dat;
use ed25519_dalek::SigningKey;
use std::io::{self, BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const RUN: Duration = Duration::from_secs(3);
const AFTER: Duration = Duration::from_millis(1500);
const EVERY: Duration = Duration::from_millis(80);

fn encode(m: &Msg) -> Vec<u8> {
    let mut buf = [0u8; wire::MTU];
    let n = wire::encode_into(m, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// Datagrams and bytes sent in a victim's name, and received by it.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    sent_n: u64,
    sent_b: u64,
    recv_n: u64,
    recv_b: u64,
}

/// Sends `p` from the victim's own socket every EVERY for RUN (once when
/// `once`), counting what the node sends it until AFTER past the end.
fn victim(sock: &UdpSocket, node: SocketAddr, p: &[u8], once: bool) -> Tally {
    let mut t = Tally::default();
    let mut buf = [0u8; wire::MTU + 1];
    let t0 = Instant::now();
    let (end_send, end) = (t0 + RUN, t0 + RUN + AFTER);
    let mut next = t0;
    while Instant::now() < end {
        let now = Instant::now();
        if now >= next && now < end_send && !(once && t.sent_n > 0) {
            sock.send_to(p, node).unwrap();
            t.sent_n += 1;
            t.sent_b += p.len() as u64;
            next += EVERY;
        }
        let wake = if now < end_send { next.min(end) } else { end };
        let wait = wake.saturating_duration_since(Instant::now());
        sock.set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .unwrap();
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                t.recv_n += 1;
                t.recv_b += n as u64;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("victim socket: {e}"),
        }
    }
    t
}

/// True when the node answers a GET for `work` from `sock` (quoting
/// `token`) within `wait`.
fn answered(sock: &UdpSocket, node: SocketAddr, token: &[u8; 8], work: &[u8; 32]) -> bool {
    let get = encode(&Msg {
        op: Op::Get,
        work,
        ..Msg::default()
    });
    sock.send_to(&with_token(&get, token), node).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut buf = [0u8; wire::MTU + 1];
    let until = Instant::now() + Duration::from_millis(300);
    while Instant::now() < until {
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            if let Ok(Packet::Put(p)) = wire::decode(&buf[..n]) {
                if p.work == work {
                    return true;
                }
            }
        }
    }
    false
}

/// The number after `"key":` in a JSON text.
fn json_num(json: &str, key: &str) -> u64 {
    let pat = format!("\"{key}\":");
    let at = json
        .find(&pat)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + pat.len();
    json[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| panic!("{key} is not a number in {json}"))
}

#[test]
fn a_stranger_gets_at_most_20_bytes_more_than_was_sent_in_its_name() {
    let port = free_port();
    let node: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = Command::new(BIN)
        .args(["-v", "--status", "0", "-l", &node.to_string()])
        .env_remove("RUST_LOG")
        .env_remove("JOURNAL_STREAM")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("daved starts");
    // A node logs on standard output.
    let err = child.stdout.take().unwrap();
    let _nodes = Nodes(vec![child]);
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let l2 = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            l2.lock().unwrap().push(line);
        }
    });

    // An honest client proves its address (this also waits for the node).
    let honest = UdpSocket::bind("127.0.0.1:0").unwrap();
    let token = handshake(&honest, node, Duration::from_secs(5)).expect("the node answers");

    // A dat from a socket that never did the handshake: stored, not answered.
    let who = SigningKey::from_bytes(&[0x61; 32]);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let dat = Dat::make(b"amplification", b"held", now_ms, 8, &who, 1, None)
        .unwrap()
        .0;
    let time = dat.time_ms.to_le_bytes();
    let writer = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut held = false;
    for _ in 0..10 {
        writer.send_to(&encode(&dat.msg(&time)), node).unwrap();
        if answered(&honest, node, &token, &dat.work) {
            held = true;
            break;
        }
    }
    assert!(held, "the node stores a PUT from an unproven address");

    let getpeer = encode(&Msg {
        op: Op::Getpeer,
        cookie: &[0x5a; 8],
        ..Msg::default()
    });
    let get = encode(&Msg {
        op: Op::Get,
        work: &dat.work,
        ..Msg::default()
    });
    let cases: [(char, Vec<u8>); 4] = [
        ('a', getpeer.clone()),
        ('b', getpeer),
        ('c', get),
        ('d', Vec::new()),
    ];
    let socks: Vec<UdpSocket> = cases
        .iter()
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let victims: Vec<String> = socks
        .iter()
        .map(|s| s.local_addr().unwrap().to_string())
        .collect();
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let hs: Vec<_> = cases
            .iter()
            .zip(&socks)
            .map(|((c, p), sock)| s.spawn(move || victim(sock, node, p, *c == 'a')))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });

    for ((c, p), t) in cases.iter().zip(&tallies) {
        eprintln!("case {c} ({} B a datagram): {t:?}", p.len());
        assert!(t.sent_n > 0, "case {c}: nothing was sent");
        assert!(
            t.recv_n <= t.sent_n,
            "case {c}: more datagrams than were sent in the victim's name: {t:?}"
        );
        assert!(
            t.recv_b <= t.sent_b + 20 * t.sent_n,
            "case {c}: more than 20 bytes a datagram over what was sent: {t:?}"
        );
    }
    // A stranger's GETPEER is answered (with a cookie), so the victims do
    // count what reaches them; a GET or an empty datagram gets nothing.
    assert_eq!(tallies[0].recv_n, 1, "case a: one GETPEER, one PEER");
    assert!(tallies[1].recv_n > 0, "case b: the GETPEERs are answered");
    assert_eq!(
        tallies[2].recv_n, 0,
        "case c: a GET from an unproven address"
    );
    assert_eq!(tallies[3].recv_n, 0, "case d: empty datagrams");
    let mut buf = [0u8; 2048];
    writer.set_nonblocking(true).unwrap();
    assert!(
        writer.recv_from(&mut buf).is_err(),
        "the unproven writer of a PUT is sent something"
    );

    // The peer table: the honest client entered it, no victim did.
    let out = Command::new(BIN)
        .args(["status", "--json", "-p", &port.to_string()])
        .output()
        .unwrap();
    assert!(out.status.success(), "status: {}", text(&out.stderr));
    let status = text(&out.stdout);
    assert_eq!(
        json_num(&status, "peers_added"),
        1,
        "only the honest client enters the table: {status}"
    );
    assert!(json_num(&status, "peers") <= 1, "{status}");
    assert!(
        json_num(&status, "unvalidated") >= tallies[2].sent_n,
        "every GET from case c's victim is dropped as unvalidated: {status}"
    );
    let honest_addr = honest.local_addr().unwrap().to_string();
    let added: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| l.split("/d/pi/add ").nth(1))
        .map(|a| a.trim().to_string())
        .collect();
    assert_eq!(added, vec![honest_addr], "addresses added to the table");
    for v in &victims {
        assert!(!added.contains(v), "victim {v} entered the peer table");
    }
}
