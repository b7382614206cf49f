//! The log contract: every line the real binary prints begins with a
//! `/fn/proc/action` prefix documented in the log table of docs/operating.md; under
//! systemd (JOURNAL_STREAM set) lines carry `<N>` priorities and no
//! timestamp, elsewhere a UTC timestamp.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_daved");

/// The prefixes in the log table of docs/operating.md (`REASON` stands for a reason name).
fn documented() -> Vec<String> {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/operating.md")).unwrap();
    let logs = readme.split("\n## Logs").nth(1).expect("a Logs section");
    let logs = logs.split("\n## ").next().unwrap();
    let mut out = Vec::new();
    for line in logs.lines().filter(|l| l.starts_with("| `/")) {
        let first = line.split('|').nth(1).unwrap();
        for part in first.split('`').skip(1).step_by(2) {
            out.push(part.to_string());
        }
    }
    assert!(
        out.len() > 15,
        "the log table of docs/operating.md looks empty: {out:?}"
    );
    out
}

fn matches(path: &str, doc: &[String]) -> bool {
    doc.iter().any(|d| match d.strip_suffix("REASON") {
        Some(stem) => path.strip_prefix(stem).is_some_and(|r| {
            !r.is_empty() && r.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
        }),
        None => path == d,
    })
}

/// Whether a `/d/pr kept K of N dats ...` line dropped any (K < N).
fn pruned_some(line: &str) -> bool {
    let w: Vec<&str> = line.split_whitespace().collect();
    let kept: usize = w[2].parse().unwrap();
    let before: usize = w[4].parse().unwrap();
    kept < before
}

fn spawn(args: &[&str], journald: bool) -> (Child, Arc<Mutex<Vec<String>>>) {
    let mut c = Command::new(BIN);
    c.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    c.env_remove("RUST_LOG");
    if journald {
        c.env("JOURNAL_STREAM", "8:12345");
    } else {
        c.env_remove("JOURNAL_STREAM");
    }
    let mut child = c.spawn().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l2 = Arc::clone(&lines);
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in BufReader::new(out).lines().map_while(Result::ok) {
            l2.lock().unwrap().push(l);
        }
    });
    (child, lines)
}

fn stop(mut c: Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
    c.wait().unwrap();
    std::thread::sleep(Duration::from_millis(100));
}

#[test]
fn every_line_starts_with_a_documented_prefix() {
    let doc = documented();
    let port = |_| {
        UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (pa, pb) = (port(0), port(1));
    let dir = std::env::temp_dir().join(format!("dave-logs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let backup = dir.join("backup");
    // A verbose node under "systemd", with a backup, and a plain one.
    let (a, la) = spawn(
        &[
            "-v",
            "-l",
            &format!("127.0.0.1:{pa}"),
            "--status",
            "1",
            "--backup",
            backup.to_str().unwrap(),
        ],
        true,
    );
    let (b, lb) = spawn(
        &[
            "-l",
            &format!("127.0.0.1:{pb}"),
            "-e",
            &format!("127.0.0.1:{pa}"),
            "--status",
            "1",
        ],
        false,
    );
    std::thread::sleep(Duration::from_millis(300));
    let home = dir.join("home");
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("XDG_CONFIG_HOME", &home)
            .output()
            .unwrap()
    };
    assert!(run(&["keygen"]).status.success());
    let set = run(&["-e", &format!("127.0.0.1:{pa}"), "set", "-d", "8", "logged"]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    // Garbage, so drop lines appear too.
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.send_to(&[0xff, 0xff, 0xff], format!("127.0.0.1:{pa}"))
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    stop(b);
    stop(a);

    let la = la.lock().unwrap().clone();
    let lb = lb.lock().unwrap().clone();
    assert!(
        la.len() > 20 && lb.len() > 2,
        "too few lines: {} and {}",
        la.len(),
        lb.len()
    );
    let mut seen_debug = false;
    for l in &la {
        // `<N>/path ...`, no timestamp.
        let (prio, rest) = l
            .strip_prefix('<')
            .and_then(|r| r.split_once('>'))
            .unwrap_or_else(|| panic!("no <N> priority under JOURNAL_STREAM: {l}"));
        let prio: u8 = prio
            .parse()
            .unwrap_or_else(|_| panic!("bad priority in {l}"));
        let path = rest.split_whitespace().next().unwrap_or("");
        assert!(matches(path, &doc), "undocumented prefix `{path}` in: {l}");
        match path {
            "/d/st" | "/d/up" | "/d/down" | "/bak/load" | "/bak/close" => {
                assert_eq!(prio, 6, "{l}")
            }
            // A prune is info when it dropped dats, debug when it did not.
            "/d/pr" => assert_eq!(prio, if pruned_some(rest) { 6 } else { 7 }, "{l}"),
            "/bak/tail" | "/bak/corrupt" => assert_eq!(prio, 4, "{l}"),
            _ if path.starts_with("/lstn/drop/") || path.starts_with("/d/h/") => {
                assert_eq!(prio, 7, "{l}");
                seen_debug = true;
            }
            _ => assert!((3..=7).contains(&prio), "{l}"),
        }
    }
    assert!(seen_debug, "-v shows per-packet debug lines");
    for want in ["/d/up", "/d/st ", "/d/down", "/bak/load", "/lstn/drop/"] {
        assert!(
            la.iter().any(|l| l.contains(want)),
            "no {want} line in {la:?}"
        );
    }
    for l in &lb {
        // `YYYY-MM-DDTHH:MM:SS.mmmZ /path ...`
        let (ts, rest) = l
            .split_once(' ')
            .unwrap_or_else(|| panic!("no timestamp: {l}"));
        assert!(
            ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
            "bad timestamp in {l}"
        );
        let path = rest.split_whitespace().next().unwrap_or("");
        assert!(matches(path, &doc), "undocumented prefix `{path}` in: {l}");
        assert!(
            !path.starts_with("/d/h/"),
            "debug lines appear without -v: {l}"
        );
    }
    // grep /d/pr shows only pruning: no other prefix contains it.
    for l in la.iter().chain(&lb) {
        if l.contains("/d/pr") {
            assert!(l.contains("/d/pr "), "{l}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// `grep PREFIX` finds only the lines of that prefix: no documented prefix
/// is the beginning of another (as `/d/st` once was of `/d/start`).
#[test]
fn no_documented_prefix_begins_another() {
    let doc = documented();
    let stems: Vec<&str> = doc
        .iter()
        .map(|d| d.strip_suffix("REASON").unwrap_or(d))
        .collect();
    for (i, a) in stems.iter().enumerate() {
        for (j, b) in stems.iter().enumerate() {
            assert!(
                i == j || !b.starts_with(a),
                "`grep {a}` would also match `{}`",
                doc[j]
            );
        }
    }
    // And the table documents the prefixes the code writes.
    for p in ["/d/up", "/d/down", "/d/st", "/d/pr", "/d/alone"] {
        assert!(doc.iter().any(|d| d == p), "{p} is not in the table");
    }
}

/// Waits up to `limit` for a line containing `want`.
fn wait_line(lines: &Mutex<Vec<String>>, want: &str, limit: Duration) -> Option<String> {
    let t0 = std::time::Instant::now();
    loop {
        if let Some(l) = lines.lock().unwrap().iter().find(|l| l.contains(want)) {
            return Some(l.clone());
        }
        if t0.elapsed() > limit {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// An idle node does not log a prune every PRUNE epochs (2.1 s); a prune
/// that drops dats is logged.
#[test]
fn idle_prunes_are_quiet_and_real_ones_are_logged() {
    let port = UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("dave-logs-prune-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (node, lines) = spawn(&["-l", &addr, "--cap", "1", "--status", "0"], false);
    assert!(wait_line(&lines, "/d/up", Duration::from_secs(5)).is_some());
    // Two prunes' time (PRUNE is 32768 epochs of 65.5 µs, 2.1 s).
    std::thread::sleep(Duration::from_millis(4500));
    let idle: Vec<String> = lines.lock().unwrap().clone();
    assert!(
        !idle.iter().any(|l| l.contains("/d/pr")),
        "an idle node logged prunes: {idle:?}"
    );
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .env("XDG_CONFIG_HOME", &dir)
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    assert!(run(&["keygen"]).status.success());
    // The second dat is 16 times heavier: the prune keeps it (cap 1).
    for (d, v) in [("8", "light"), ("12", "heavy")] {
        let o = run(&["-e", &addr, "set", "-d", d, v]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let l = wait_line(&lines, "/d/pr", Duration::from_secs(5));
    stop(node);
    let l = l.unwrap_or_else(|| panic!("no prune logged: {:?}", lines.lock().unwrap()));
    assert!(l.contains("/d/pr kept 1 of 2 dats (cap 1)"), "{l}");
    let _ = std::fs::remove_dir_all(&dir);
}
