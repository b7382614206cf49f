//! The /16 rule with real addresses (docs/protocol.md 5.4): a `daved` in a
//! network namespace this test creates, and, in a second one joined to it
//! by a veth, 100 addresses of one /16 (each in a /24 of its own) that all
//! finish the handshake and keep alive, and an honest newcomer from another
//! group. The node's table must hold at most GROUP_MAX entries of the /16
//! at any moment (followed from its `-v` log, checked against `daved status
//! --json`), while the newcomer is admitted, sent every dat, and kept.
//!
//! Needs root and iproute2; without them it says why and passes (it skips).
//! Traffic stays in the two namespaces, which are deleted however the test
//! ends. `scripts/table-netns.sh` is the same check, larger and longer.

mod common;

use common::{text, tmpdir, BIN};
use dave::handshake::{handshake, with_token};
use dave_core::testing::getpeer;
use dave_core::wire;
use std::collections::{HashMap, HashSet};
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CROWD: usize = 100;
const NODE: &str = "192.0.2.1:1618";
const NEWCOMER: &str = "203.0.113.2";

/// Runs `ip ARGS`; the error names the command.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            text(&out.stderr).trim()
        ))
    }
}

/// Two namespaces and the node in one of them, gone when dropped.
struct Netns {
    node_ns: String,
    crowd_ns: String,
    node: Option<Child>,
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Some(c) = &mut self.node {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.node_ns, &self.crowd_ns] {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// The namespaces: the node's holds 192.0.2.1, the crowd's every address
/// of the crowd and the newcomer's, on the two ends of one veth.
fn make_netns(crowd: &[String]) -> Result<Netns, String> {
    let id = std::process::id();
    let n = Netns {
        node_ns: format!("dave-tt-{id}-node"),
        crowd_ns: format!("dave-tt-{id}-crowd"),
        node: None,
    };
    ip(&["netns", "add", &n.node_ns])?;
    ip(&["netns", "add", &n.crowd_ns])?;
    ip(&[
        "-n",
        &n.node_ns,
        "link",
        "add",
        "eth0",
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        &n.crowd_ns,
    ])?;
    let mut batch = String::new();
    for a in crowd.iter().map(String::as_str).chain([NEWCOMER]) {
        batch.push_str(&format!("addr add {a}/32 dev eth0\n"));
    }
    let f = tmpdir("table-netns-batch").join("addrs");
    std::fs::write(&f, batch).map_err(|e| e.to_string())?;
    ip(&["-n", &n.crowd_ns, "-batch", f.to_str().unwrap()])?;
    ip(&[
        "-n",
        &n.node_ns,
        "addr",
        "add",
        "192.0.2.1/32",
        "dev",
        "eth0",
    ])?;
    for ns in [&n.node_ns, &n.crowd_ns] {
        ip(&["-n", ns, "link", "set", "lo", "up"])?;
        ip(&["-n", ns, "link", "set", "eth0", "up"])?;
        ip(&["-n", ns, "route", "add", "0.0.0.0/0", "dev", "eth0"])?;
    }
    Ok(n)
}

/// Binds UDP sockets on `ips` inside namespace `ns`: a thread enters it
/// (setns moves only the calling thread) and the sockets stay in it.
fn bind_in(ns: &str, ips: Vec<String>) -> Vec<UdpSocket> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        // SAFETY: a valid namespace descriptor; only this thread moves.
        let r = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(r, 0, "setns {path}: {}", std::io::Error::last_os_error());
        ips.iter()
            .map(|a| {
                let s =
                    UdpSocket::bind(format!("{a}:0")).unwrap_or_else(|e| panic!("bind {a}: {e}"));
                s.set_nonblocking(true).unwrap();
                s
            })
            .collect()
    })
    .join()
    .unwrap()
}

fn in_ns(ns: &str) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]);
    c
}

fn status(ns: &str) -> String {
    let out = in_ns(ns)
        .args([BIN, "status", "-p", "1618", "--json"])
        .output()
        .unwrap();
    text(&out.stdout)
}

fn json_num(json: &str, key: &str) -> Option<u64> {
    let at = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    json[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The table replayed from the node's log: entries per /16 at the end, the
/// most any /16 in `watch` held at any moment, and the addresses that were
/// ever in it. A slot won from its occupant logs the add, then the
/// occupant's drop with `silent 0`: the two count as one change.
fn replay(log: &str, watch: &str) -> (HashMap<String, i64>, i64, HashSet<String>) {
    let slash16 = |a: &str| a.split('.').take(2).collect::<Vec<_>>().join(".");
    let (mut now, mut most, mut ever) = (HashMap::new(), 0i64, HashSet::new());
    let mut pending = false;
    for line in log.lines() {
        let Some(at) = line.find("/d/pi/") else {
            continue;
        };
        let w: Vec<&str> = line[at..].split_whitespace().collect();
        let (add, drop) = (w[0] == "/d/pi/add", w[0] == "/d/pi/drop");
        if !add && !drop {
            continue;
        }
        let addr = w[1].rsplit_once(':').map_or(w[1], |x| x.0);
        let replaced = drop && w.get(3) == Some(&"0");
        let look = |now: &HashMap<String, i64>, most: &mut i64| {
            *most = (*most).max(*now.get(watch).unwrap_or(&0));
        };
        if pending && !replaced {
            look(&now, &mut most);
        }
        *now.entry(slash16(addr)).or_insert(0) += if add { 1 } else { -1 };
        if add {
            ever.insert(addr.to_string());
        } else {
            look(&now, &mut most);
        }
        pending = add;
    }
    if pending {
        let m = *now.get(watch).unwrap_or(&0);
        most = most.max(m);
    }
    (now, most, ever)
}

#[test]
fn many_addresses_of_one_slash16_hold_group_max_entries_and_a_newcomer_gets_in() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: network namespaces need root");
        return;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        eprintln!("skipped: ip (iproute2) is not installed");
        return;
    }
    let crowd_ips: Vec<String> = (0..CROWD).map(|i| format!("198.18.{i}.1")).collect();
    let mut net = match make_netns(&crowd_ips) {
        Ok(n) => n,
        Err(e) if e.starts_with("ip netns add") => {
            eprintln!("skipped: cannot create a network namespace ({e})");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let dir = tmpdir("table-netns");
    let log_path = dir.join("node.log");
    let log = std::fs::File::create(&log_path).unwrap();
    net.node = Some(
        in_ns(&net.node_ns)
            .args([BIN, "-v", "--status", "0", "-l", NODE])
            .stdin(Stdio::null())
            .stderr(log.try_clone().unwrap())
            .stdout(log)
            .spawn()
            .expect("daved starts"),
    );
    let node: SocketAddr = NODE.parse().unwrap();
    let t0 = Instant::now();
    while json_num(&status(&net.node_ns), "peers").is_none() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "the node did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Five dats, written by a client in the node's namespace.
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let key = in_ns(&net.node_ns)
        .args([BIN, "keygen"])
        .env("XDG_CONFIG_HOME", &home)
        .output()
        .unwrap();
    assert!(key.status.success(), "keygen: {}", text(&key.stderr));
    let mut works = HashSet::new();
    for k in 0..5 {
        let out = in_ns(&net.node_ns)
            .args([BIN, "-e", NODE, "set", "-d", "10", &format!("value {k}")])
            .env("XDG_CONFIG_HOME", &home)
            .output()
            .unwrap();
        assert!(out.status.success(), "set: {}", text(&out.stderr));
        let work = common::field(&text(&out.stdout), "work").to_string();
        works.insert(wire::hex32(&work).expect("a work hash"));
    }

    // The crowd: every address finishes the handshake and quotes its token.
    let socks = bind_in(&net.crowd_ns, crowd_ips.clone());
    let mut tokens = Vec::with_capacity(CROWD);
    for s in &socks {
        s.set_nonblocking(false).unwrap();
        tokens.push(handshake(s, node, Duration::from_secs(10)).expect("a cookie"));
        s.set_nonblocking(true).unwrap();
    }
    let newcomer = bind_in(&net.crowd_ns, vec![NEWCOMER.to_string()]).remove(0);
    let mut ntoken = None;
    let mut got = HashSet::new();
    // Every 50 ms (about the node's PING) each crowd address sends a
    // GETPEER quoting its token; the newcomer joins after 1 s and does
    // the same. Until the newcomer holds every dat, and 2 s more.
    let t0 = Instant::now();
    let mut next = t0;
    let mut buf = [0u8; dave_core::wire::MTU + 1];
    let mut done: Option<Instant> = None;
    while done.is_none_or(|d| d.elapsed() < Duration::from_secs(2)) {
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "the newcomer got {} of 5 dats in 30 s",
            got.len()
        );
        if Instant::now() >= next {
            for (s, t) in socks.iter().zip(&tokens) {
                let _ = s.send_to(&with_token(&getpeer(&[2; 8], None), t), node);
            }
            if let Some(t) = &ntoken {
                let _ = newcomer.send_to(&with_token(&getpeer(&[3; 8], None), t), node);
            }
            next += Duration::from_millis(50);
        }
        if ntoken.is_none() && t0.elapsed() > Duration::from_secs(1) {
            newcomer.set_nonblocking(false).unwrap();
            ntoken = Some(handshake(&newcomer, node, Duration::from_secs(10)).expect("a cookie"));
            newcomer.set_nonblocking(true).unwrap();
        }
        for s in &socks {
            common::serve_peer(s, node, &mut buf, |_| {});
        }
        common::serve_peer(&newcomer, node, &mut buf, |w| {
            if works.contains(w) {
                got.insert(*w);
            }
        });
        if done.is_none() && got.len() == works.len() {
            done = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let st = status(&net.node_ns);
    let table = json_num(&st, "peers").unwrap() + json_num(&st, "clients").unwrap();
    let log = std::fs::read_to_string(&log_path).unwrap();
    let (now, most, ever) = replay(&log, "198.18");
    let crowd_ever = ever.iter().filter(|a| a.starts_with("198.18.")).count();
    eprintln!(
        "{CROWD} addresses of 198.18/16 keeping alive: at most {most} entries at once (GROUP_MAX {}), \
         {crowd_ever} ever admitted; the newcomer got every dat; the table holds {table} at the end",
        dave_core::GROUP_MAX
    );
    assert!(
        (1..=dave_core::GROUP_MAX as i64).contains(&most),
        "the crowd's /16 held {most} entries at once"
    );
    assert_eq!(
        now.get("203.0"),
        Some(&1),
        "the newcomer lost its entry to the crowd"
    );
    assert_eq!(
        now.values().sum::<i64>(),
        table as i64,
        "the log and the node disagree on the table:\n{st}"
    );
    drop(net);
}
