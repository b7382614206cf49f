//! Crash safety of the backup file, on the real binary.
//!
//! A node with `--backup` is fed a stream of dats over loopback and killed
//! with SIGKILL at 20 random moments. After each restart, every dat that was
//! fsynced before the kill must be back, and nothing invalid may be loaded.
//!
//! What "fsynced before the kill" means, and how the test knows: the node
//! logs `/bak/sync ... appended=A` (debug level, enabled here with RUST_LOG)
//! only after `fdatasync` returned, where A counts the records appended
//! since the process started. Records are appended in the order dats became
//! novel. The test sends dats one at a time from 64 source sockets in turn
//! over loopback, so they arrive in the order sent and the packet filter
//! (one op per source per epoch) never drops one; every valid dat is novel
//! (distinct names). So the first A valid dats the test sent in that run are
//! on disk. Invalid dats (bad signatures) are mixed into the stream: they
//! must never be stored, never appended, and never loaded.

use dave::handshake::{handshake, with_token};
use dave_core::wire::{self, Cookie, Msg, Op, Packet};
use dave_core::Dat;
use ed25519_dalek::SigningKey;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_daved");
const KILLS: usize = 20;
const SOCKETS: usize = 128;

struct Proc {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Proc {
    fn start(port: u16, backup: &PathBuf) -> Proc {
        let mut child = Command::new(BIN)
            .args([
                "-l",
                &format!("127.0.0.1:{port}"),
                "--status",
                "0",
                "--backup",
            ])
            .arg(backup)
            .env("RUST_LOG", "info,dave::backup=debug")
            .env_remove("JOURNAL_STREAM")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("daved starts");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let err = child.stdout.take().unwrap();
        let l2 = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                l2.lock().unwrap().push(line);
            }
        });
        Proc { child, lines }
    }

    fn wait_for(&self, what: &str, limit: Duration) -> String {
        let t0 = Instant::now();
        loop {
            if let Some(l) = self.lines.lock().unwrap().iter().find(|l| l.contains(what)) {
                return l.clone();
            }
            assert!(
                t0.elapsed() < limit,
                "no `{what}` line within {limit:?}: {:?}",
                self.lines.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(mut self) -> Vec<String> {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(50)); // let the reader drain the pipe
        let l = self.lines.lock().unwrap().clone();
        l
    }
}

/// A node the test fails with is killed too, not left running.
impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn field(line: &str, name: &str) -> u64 {
    let at = line
        .find(&format!("{name}="))
        .unwrap_or_else(|| panic!("no {name}= in {line}"));
    line[at + name.len() + 1..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn encode(m: &Msg) -> Vec<u8> {
    let mut buf = [0u8; wire::MTU];
    let n = wire::encode_into(m, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// Each socket proves its address to this run of the node (a GET from an
/// unproven address is not answered): once per run, since the node
/// considers an unproven address twice per REPLY_REPEAT_EPOCHS.
fn prove(node: SocketAddr, socks: &[UdpSocket]) -> Vec<Cookie> {
    socks
        .iter()
        .map(|s| handshake(s, node, Duration::from_secs(5)).expect("the node answers"))
        .collect()
}

/// Asks the node for each work hash (paced so the packet filter passes
/// every GET), quoting each socket's token, and returns the ones it holds.
fn present(
    node: SocketAddr,
    socks: &[UdpSocket],
    tokens: &[Cookie],
    works: &[[u8; 32]],
) -> HashSet<[u8; 32]> {
    let mut found = HashSet::new();
    let mut buf = [0u8; 2048];
    // Retry until every dat answered or a pass finds nothing new: under
    // load a node may read two GETs from one socket in one wake, and its
    // packet filter then drops the second (that GET is simply asked again).
    let mut stale_passes = 0;
    for _pass in 0..12 {
        let missing: Vec<&[u8; 32]> = works.iter().filter(|w| !found.contains(*w)).collect();
        if missing.is_empty() || stale_passes == 3 {
            break;
        }
        let before = found.len();
        for chunk in missing.chunks(socks.len()) {
            for ((s, t), w) in socks.iter().zip(tokens).zip(chunk) {
                let m = Msg {
                    op: Op::Get,
                    work: &w[..],
                    ..Msg::default()
                };
                s.send_to(&with_token(&encode(&m), t), node).unwrap();
            }
            // One GET per source per receiver wake gets through the filter.
            std::thread::sleep(Duration::from_micros(2000));
            drain(socks, &mut buf, &mut found);
        }
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_millis(200) {
            drain(socks, &mut buf, &mut found);
            std::thread::sleep(Duration::from_millis(5));
        }
        stale_passes = if found.len() == before {
            stale_passes + 1
        } else {
            0
        };
    }
    // The node also seeds its dats to these sockets; only the asked-for count.
    let asked: HashSet<[u8; 32]> = works.iter().copied().collect();
    found.retain(|w| asked.contains(w));
    found
}

fn drain(socks: &[UdpSocket], buf: &mut [u8], found: &mut HashSet<[u8; 32]>) {
    for s in socks {
        while let Ok((n, _)) = s.recv_from(buf) {
            if let Ok(Packet::Put(m)) = wire::decode(&buf[..n]) {
                found.insert(*m.work);
            }
        }
    }
}

#[test]
fn every_fsynced_dat_survives_sigkill() {
    let dir = std::env::temp_dir().join(format!("dave-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let backup = dir.join("backup");
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let node: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let socks: Vec<UdpSocket> = (0..SOCKETS)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();

    // The stream: valid dats with distinct names; every 7th is forged.
    let who = SigningKey::from_bytes(&[3; 32]);
    let forger = SigningKey::from_bytes(&[4; 32]);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let seed = now;
    let mut rng = seed | 1;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let total = 28_000;
    let stream: Vec<(Vec<u8>, [u8; 32], bool)> = (0..total)
        .map(|i| {
            let mut d = Dat::make(
                format!("n{i}").as_bytes(),
                format!("value {i}").as_bytes(),
                now,
                8,
                &who,
                1,
                None,
            )
            .unwrap()
            .0;
            let valid = i % 7 != 3;
            if !valid {
                d.sig = dave_core::pow::sign(&forger, &d.work);
            }
            let time = d.time_ms.to_le_bytes();
            (encode(&d.msg(&time)), d.work, valid)
        })
        .collect();

    let mut synced: Vec<[u8; 32]> = Vec::new();
    let invalid: Vec<[u8; 32]> = stream.iter().filter(|s| !s.2).map(|s| s.1).collect();
    let mut cursor = 0;
    let mut torn = 0;
    for round in 0..=KILLS {
        let p = Proc::start(port, &backup);
        let load = p.wait_for("/bak/load", Duration::from_secs(60));
        p.wait_for("/d/up", Duration::from_secs(10));
        assert!(
            load.contains(" 0 invalid"),
            "round {round} (seed {seed}): invalid records loaded: {load}"
        );
        if p.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("/bak/tail"))
        {
            torn += 1;
        }
        let tokens = prove(node, &socks);
        let have = present(node, &socks, &tokens, &synced);
        let lost: Vec<_> = synced.iter().filter(|w| !have.contains(*w)).collect();
        assert!(
            lost.is_empty(),
            "round {round} (seed {seed}): {} of {} fsynced dats missing after restart; load: {load}",
            lost.len(),
            synced.len()
        );
        let bad = present(node, &socks, &tokens, &invalid[..invalid.len().min(200)]);
        assert!(bad.is_empty(), "round {round}: an invalid dat is held");
        if round == KILLS {
            let _ = p.kill();
            break;
        }
        // Stream for a random 0.3..2.2 s (fsyncs come at least every second,
        // so most rounds have some records on disk and some not), then SIGKILL.
        let deadline = Instant::now() + Duration::from_millis(300 + next() % 1900);
        let mut sent_valid = Vec::new();
        let mut k = 0;
        while Instant::now() < deadline && cursor < stream.len() {
            let (bytes, work, valid) = &stream[cursor];
            socks[k % SOCKETS].send_to(bytes, node).unwrap();
            if *valid {
                sent_valid.push(*work);
            }
            cursor += 1;
            k += 1;
            std::thread::sleep(Duration::from_micros(700));
        }
        let lines = p.kill();
        let appended = lines
            .iter()
            .filter(|l| l.contains("/bak/sync"))
            .map(|l| field(l, "appended"))
            .max()
            .unwrap_or(0);
        assert!(
            appended as usize <= sent_valid.len(),
            "appended {appended} > sent {}",
            sent_valid.len()
        );
        synced.extend_from_slice(&sent_valid[..appended as usize]);
        eprintln!(
            "round {round}: sent {} valid, {} fsynced before SIGKILL",
            sent_valid.len(),
            appended
        );
    }
    assert!(
        synced.len() > 1000,
        "the stream was too slow to test much: {} synced",
        synced.len()
    );
    eprintln!("{KILLS} kills: {} fsynced dats all back after every restart; {torn} torn tails cut (seed {seed})", synced.len());
    let _ = std::fs::remove_dir_all(&dir);
}
