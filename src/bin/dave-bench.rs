//! `dave-bench`: measures dave's hot paths and prints a table.
//!
//! Run in release mode: `cargo run --release --bin dave-bench -- [SECTION]...`
//! Every figure is the median of several runs.

use dave::backup::Backup;
use dave::node::{Node, Now};
use dave::{Config, Dat};
use ed25519_dalek::SigningKey;
use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const SECTIONS: &[(&str, &str)] = &[
    (
        "backup",
        "load and rewrite a backup of 100,000 dats (warm restart)",
    ),
    (
        "bandwidth",
        "traffic of a 3-node loopback network at several --rate settings",
    ),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "-h" || a == "--help") {
        println!("Usage: dave-bench [SECTION]...\n\nSections (default: all):");
        for (name, what) in SECTIONS {
            println!("    {name:<10} {what}");
        }
        println!("\nRun with --release: debug builds are many times slower.");
        return;
    }
    for a in &args {
        if !SECTIONS.iter().any(|(n, _)| n == a) {
            eprintln!("dave-bench: unknown section `{a}` (try --help)");
            std::process::exit(2);
        }
    }
    if cfg!(debug_assertions) {
        eprintln!(
            "dave-bench: warning: a debug build; figures are not representative (use --release)"
        );
    }
    let want = |s: &str| args.is_empty() || args.iter().any(|a| a == s);
    if want("backup") {
        bench_backup(100_000);
    }
    if want("bandwidth") {
        bench_bandwidth();
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Makes `n` distinct valid 8-bit dats on every core.
fn make_dats(n: usize, val_len: usize) -> Vec<Vec<u8>> {
    let cores = dave::pow::cores();
    let t = now_ms() - 60_000;
    let per = n.div_ceil(cores);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..cores)
            .map(|c| {
                s.spawn(move || {
                    let who = SigningKey::from_bytes(&[c as u8 + 1; 32]);
                    let mut out = Vec::new();
                    for i in c * per..((c + 1) * per).min(n) {
                        let mut val = format!("dat {i} ").into_bytes();
                        val.resize(val_len, b'.');
                        let d = Dat::make(
                            format!("k{i}").as_bytes(),
                            &val,
                            t + (i % 50_000) as u64,
                            8,
                            &who,
                            1,
                            None,
                        )
                        .expect("fits")
                        .0;
                        let time = d.time_ms.to_le_bytes();
                        let mut buf = [0u8; 1500];
                        let len = dave::wire::encode_into(&d.msg(&time), &mut buf).expect("fits");
                        out.push(buf[..len].to_vec());
                    }
                    out
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    })
}

fn bench_backup(n: usize) {
    println!("\n## Backup: warm restart with {n} dats\n");
    print!("making {n} dats (8-bit proof of work, 256-byte values)... ");
    let _ = std::io::stdout().flush();
    let t0 = Instant::now();
    let dats = make_dats(n, 256);
    println!("{:.1} s", t0.elapsed().as_secs_f64());
    let dir = std::env::temp_dir().join(format!("dave-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("backup");
    let mut file = Vec::new();
    for d in &dats {
        file.extend_from_slice(&(d.len() as u16).to_le_bytes());
        file.extend_from_slice(d);
    }
    let mut loads = Vec::new();
    let mut totals = Vec::new();
    let mut loaded = 0;
    for _ in 0..5 {
        std::fs::write(&path, &file).unwrap();
        let mut node = Node::new(Config::default());
        node.handle_tick(Now {
            epoch: 0,
            unix_ms: now_ms(),
        });
        let t = Instant::now();
        let (_b, rep) = Backup::open(&path, &mut node, dave::pow::cores()).expect("loads");
        totals.push(t.elapsed().as_secs_f64());
        loads.push(rep.elapsed.as_secs_f64());
        loaded = rep.loaded;
    }
    assert_eq!(loaded as usize, n, "every dat loads");
    let (load, total) = (median(loads), median(totals));
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| dats in the file | {n} ({:.1} MB) |",
        file.len() as f64 / 1e6
    );
    println!(
        "| load: read, verify work and signatures on {} cores, store, prune | {:.2} s ({:.0} dats/s) |",
        dave::pow::cores(),
        load,
        n as f64 / load
    );
    println!(
        "| rewrite atomically (temp file, fsync, rename, fsync dir) | {:.2} s |",
        total - load
    );
    println!("| total start-up cost | {:.2} s |", total);
    println!(
        "\nMedian of 5 runs; reproduce with `cargo run --release --bin dave-bench -- backup`."
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The daved binary built beside this one.
fn daved_path() -> std::path::PathBuf {
    let p = std::env::current_exe().unwrap().with_file_name("daved");
    if !p.exists() {
        eprintln!(
            "dave-bench: {} is missing: build it with `cargo build --release`",
            p.display()
        );
        std::process::exit(1);
    }
    p
}

/// A number after `"key":` inside the object that follows `"section":`.
fn json_num(json: &str, section: &str, key: &str) -> f64 {
    let at = json.find(&format!("\"{section}\":")).expect("section");
    let rest = &json[at..];
    let k = rest.find(&format!("\"{key}\":")).expect("key");
    let v = &rest[k + key.len() + 3..];
    let end = v.find([',', '}']).unwrap();
    v[..end].parse().unwrap()
}

fn bench_bandwidth() {
    use std::net::UdpSocket;
    use std::process::{Command, Stdio};
    println!("\n## Bandwidth: 3 nodes on loopback holding 200 dats of 1 KB\n");
    let daved = daved_path();
    let dats = make_dats(200, 1000);
    println!("| setting | EPOCH | seed stream cap | sent per node | bytes sent per node |");
    println!("|---|---|---|---|---|");
    for rate in ["(default)", "5000", "1000", "2MB", "1MB", "256KB"] {
        let ports: Vec<u16> = (0..3)
            .map(|_| {
                UdpSocket::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            })
            .collect();
        let mut kids = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            let mut c = Command::new(&daved);
            c.args(["-l", &format!("127.0.0.1:{p}"), "--status", "0"]);
            if i > 0 {
                c.args(["-e", &format!("127.0.0.1:{}", ports[0])]);
            }
            if rate != "(default)" {
                c.args(["--rate", rate]);
            }
            kids.push(
                c.stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap(),
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(300));
        let socks: Vec<UdpSocket> = (0..32)
            .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        for (i, d) in dats.iter().enumerate() {
            socks[i % 32].send_to(d, ("127.0.0.1", ports[0])).unwrap();
            std::thread::sleep(std::time::Duration::from_micros(500));
        }
        // Let the dats spread and new peers pass DELAY, then measure 5 s.
        std::thread::sleep(std::time::Duration::from_secs(4));
        let status = |p: u16| {
            let out = Command::new(&daved)
                .args(["status", "--json", "-p", &p.to_string()])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        let before: Vec<String> = ports.iter().map(|p| status(*p)).collect();
        let t = Instant::now();
        std::thread::sleep(std::time::Duration::from_secs(5));
        let after: Vec<String> = ports.iter().map(|p| status(*p)).collect();
        let secs = t.elapsed().as_secs_f64();
        let epoch_ns = json_num(&after[0], "version", "epoch_ns");
        let (mut pkts, mut bytes, mut dats_held) = (0.0, 0.0, 0.0);
        for (b, a) in before.iter().zip(&after) {
            pkts += (json_num(a, "totals", "packets_out") - json_num(b, "totals", "packets_out"))
                / secs;
            bytes +=
                (json_num(a, "totals", "bytes_out") - json_num(b, "totals", "bytes_out")) / secs;
            dats_held += json_num(a, "version", "dats");
        }
        for mut k in kids {
            let _ = k.kill();
            let _ = k.wait();
        }
        let cap = 1e9 / (2.0 * epoch_ns);
        println!(
            "| `{rate}` | {:.1} µs | {:.0} dats/s, {:.2} MB/s at 1424 B | {:.0} packets/s | {:.0} KB/s{} |",
            epoch_ns / 1000.0,
            cap,
            cap * 1424.0 / 1e6,
            pkts / 3.0,
            bytes / 3.0 / 1000.0,
            if dats_held < 600.0 { format!(" (only {dats_held:.0} of 600 dats had spread)") } else { String::new() }
        );
    }
    println!("\nEach node sends to 2 peers; a peer is seeded at most one dat per event-loop wake (about 1 ms),");
    println!("so in a 3-node network the seed stream is bounded by wakes, not by EPOCH, at fast settings.");
    println!("Reproduce: `cargo build --release && target/release/dave-bench bandwidth`.");
}
