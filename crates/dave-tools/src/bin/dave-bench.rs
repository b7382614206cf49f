//! `dave-bench`: measures dave's hot paths and prints a table.
//!
//! Run in release mode: `cargo run --release --bin dave-bench -- [SECTION]...`
//! Every figure is the median of several runs.

use dave::backup::Backup;
use dave_core::{Config, Dat};
use dave_core::{Node, Now};
use ed25519_dalek::SigningKey;
use std::io::Write;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const SECTIONS: &[(&str, &str)] = &[
    (
        "pow",
        "proof-of-work attempts per second against a plain blake3 loop",
    ),
    (
        "codec",
        "decode and encode ns per message, each op at its largest",
    ),
    (
        "core",
        "handle_packet and handle_tick ns with a full store and peer table",
    ),
    ("sig", "signature checks and novel PUTs per second per core"),
    (
        "ingest",
        "known-dat PUTs per second a node takes from another process, against a bare loop",
    ),
    (
        "footprint",
        "resident memory, binary size, idle CPU alone and in a 5-node network",
    ),
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
    // Hidden: the sender process of the `ingest` section.
    if args.first().map(String::as_str) == Some(SENDER) {
        return ingest_sender(&args[1..]);
    }
    // Hidden: one core path in a loop, for profilers (`perf stat`).
    if args.first().map(String::as_str) == Some("__micro") {
        return micro(&args[1]);
    }
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
    if want("pow") {
        bench_pow();
    }
    if want("codec") {
        bench_codec();
    }
    if want("core") {
        bench_core(Bed::new(100_000, 6_024));
    }
    if want("sig") {
        bench_sig();
    }
    if want("ingest") {
        bench_ingest();
    }
    if want("footprint") {
        bench_footprint();
    }
    if want("backup") {
        bench_backup(100_000);
    }
    if want("bandwidth") {
        bench_bandwidth();
    }
}

/// Runs `f` on `threads` threads for about `secs` seconds each; `f` does a
/// unit of work and returns how many attempts it made. Returns attempts per
/// second, all threads together.
fn rate_on(threads: usize, secs: f64, f: impl Fn(usize, u64) -> u64 + Sync) -> f64 {
    let t0 = Instant::now();
    let total: u64 = std::thread::scope(|s| {
        let hs: Vec<_> = (0..threads)
            .map(|t| {
                let f = &f;
                s.spawn(move || {
                    let mut n = 0u64;
                    let mut round = 0u64;
                    while t0.elapsed().as_secs_f64() < secs {
                        n += f(t, round);
                        round += 1;
                    }
                    n
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).sum()
    });
    total as f64 / t0.elapsed().as_secs_f64()
}

/// The plainest loop over `blake3` for the solver's input (an 8-byte
/// counter and a 32-byte load): `chunk` hashes from counter `start`.
fn plain_blake3(load: &[u8; 32], start: u64, chunk: u64) -> u64 {
    let mut buf = [0u8; 40];
    buf[8..].copy_from_slice(load);
    let mut acc = 0u8;
    for c in start..start + chunk {
        buf[..8].copy_from_slice(&c.to_le_bytes());
        acc ^= blake3::hash(&buf).as_bytes()[0];
    }
    std::hint::black_box(acc);
    chunk
}

/// The solver's loop before the SIMD search: `pow::work` (a `Hasher` fed
/// the salt, then the load) and a difficulty check per attempt.
fn hasher_loop(load: &[u8; 32], start: u64, chunk: u64) -> u64 {
    let mut hits = 0u32;
    let bits = std::hint::black_box(255u8);
    for c in start..start + chunk {
        let w = dave_core::pow::work(&c.to_le_bytes(), load);
        hits += (dave_core::pow::difficulty(&w) >= bits) as u32;
    }
    std::hint::black_box(hits);
    chunk
}

fn bench_pow() {
    use dave_core::pow::{self, Path};
    println!("\n## Proof of work\n");
    let cores = pow::cores();
    let load = pow::load(b"bench", b"value", &[7; 8]);
    const RUNS: usize = 5;
    const SECS: f64 = 0.4;
    const CHUNK: u64 = 1 << 16;
    let plain = |threads: usize| {
        median(
            (0..RUNS)
                .map(|_| {
                    rate_on(threads, SECS, |t, r| {
                        plain_blake3(&load, ((t as u64) << 40) | (r * CHUNK), CHUNK)
                    })
                })
                .collect(),
        )
    };
    // 255 bits never succeeds: every attempt is counted, none stops early.
    let path_rate = |p: Path, threads: usize| {
        median(
            (0..RUNS)
                .map(|_| {
                    rate_on(threads, SECS, |t, r| {
                        p.search(&load, 255, ((t as u64) << 40) | (r * CHUNK), 1, CHUNK)
                            .attempts
                    })
                })
                .collect(),
        )
    };
    let plain1 = plain(1);
    let plain_all = plain(cores);
    println!("| search | lanes | attempts/s, 1 core | vs plain loop | attempts/s, {cores} cores | vs plain loop |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| plain loop: `blake3::hash` of counter \\|\\| load (the limit) | 1 | {} | 1.00 | {} | 1.00 |",
        si(plain1),
        si(plain_all)
    );
    let before = |threads: usize| {
        median(
            (0..RUNS)
                .map(|_| {
                    rate_on(threads, SECS, |t, r| {
                        hasher_loop(&load, ((t as u64) << 40) | (r * CHUNK), CHUNK)
                    })
                })
                .collect(),
        )
    };
    let (b1, ba) = (before(1), before(cores));
    println!(
        "| before: `pow::work` per attempt (a `Hasher` each), as `solve` did | 1 | {} | {:.2} | {} | {:.2} |",
        si(b1),
        b1 / plain1,
        si(ba),
        ba / plain_all
    );
    for p in Path::available() {
        let r1 = path_rate(p, 1);
        let ra = path_rate(p, cores);
        println!(
            "| {}{} | {} | {} | {:.2} | {} | {:.2} |",
            p.name(),
            if p == Path::best() { " (used)" } else { "" },
            p.lanes(),
            si(r1),
            r1 / plain1,
            si(ra),
            ra / plain_all
        );
    }
    // The solver end to end: threads, chunks, progress and the final check.
    let mut solve_rates = Vec::new();
    let mut solve1_rates = Vec::new();
    for i in 0..RUNS as u8 {
        let l = pow::load(b"bench", &[i; 16], &[i; 8]);
        let t = Instant::now();
        let s = pow::solve(&l, 26, cores, None);
        solve_rates.push(s.attempts as f64 / t.elapsed().as_secs_f64());
        let t = Instant::now();
        let s = pow::solve(&l, 24, 1, None);
        solve1_rates.push(s.attempts as f64 / t.elapsed().as_secs_f64());
    }
    let (s1, sa) = (median(solve1_rates), median(solve_rates));
    println!(
        "| `pow::solve` end to end (24 bits on 1 thread, 26 bits on {cores}) | {} | {} | {:.2} | {} | {:.2} |",
        Path::best().lanes(),
        si(s1),
        s1 / plain1,
        si(sa),
        sa / plain_all
    );
    println!(
        "\nMedian of {RUNS} runs of {SECS} s (solve: {RUNS} solves). Reproduce: `cargo run --release --bin dave-bench -- pow`."
    );
}

/// A rate with an SI suffix.
fn si(x: f64) -> String {
    if x >= 1e9 {
        format!("{:.2} G", x / 1e9)
    } else if x >= 1e6 {
        format!("{:.1} M", x / 1e6)
    } else if x >= 1e3 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
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
    make_dats_named(n, val_len, "k")
}

/// Like [`make_dats`], with keys `{prefix}{i}` so that batches made with
/// different prefixes are distinct names. A value longer than fits is cut to
/// the largest that does.
fn make_dats_named(n: usize, val_len: usize, prefix: &str) -> Vec<Vec<u8>> {
    let cores = dave_core::pow::cores();
    let t = now_ms() - 60_000;
    let per = n.div_ceil(cores);
    std::thread::scope(|s| {
        let hs: Vec<_> = (0..cores)
            .map(|c| {
                s.spawn(move || {
                    let who = SigningKey::from_bytes(&[c as u8 + 1; 32]);
                    let mut out = Vec::new();
                    for i in c * per..((c + 1) * per).min(n) {
                        let key = format!("{prefix}{i}");
                        let mut val = format!("dat {prefix}{i} ").into_bytes();
                        val.resize(
                            val_len.min(dave_core::wire::max_val_len(key.len(), 8)),
                            b'.',
                        );
                        let d = Dat::make(
                            key.as_bytes(),
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
                        let len =
                            dave_core::wire::encode_into(&d.msg(&time), &mut buf).expect("fits");
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
        let (_b, rep) = Backup::open(&path, &mut node, dave_core::pow::cores()).expect("loads");
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
        dave_core::pow::cores(),
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

/// Nanoseconds per call of `f`, median of `runs` runs of `iters` calls.
fn ns_per(runs: usize, iters: u64, mut f: impl FnMut(u64)) -> f64 {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                for i in 0..iters {
                    f(i);
                }
                t.elapsed().as_nanos() as f64 / iters as f64
            })
            .collect(),
    )
}

fn bench_codec() {
    use dave_core::wire::{self, max_val_len, Msg, Op, Pd, KEY_MAX, NPEER, SALT_MAX};
    use std::hint::black_box;
    println!("\n## Codec: ns per message, each op at its largest\n");
    let key = [b'k'; KEY_MAX];
    let salt = [b's'; SALT_MAX];
    let val = vec![b'v'; max_val_len(KEY_MAX, SALT_MAX)];
    let (time, work, pubkey, sig) = ([1u8; 8], [2u8; 32], [3u8; 32], [4u8; 64]);
    let mut peer = Msg::op(Op::Peer);
    for i in 0..NPEER {
        peer.pds[i] = Pd::from_addr(format!("[2001:db8::{i}]:65535").parse().unwrap());
    }
    peer.npds = NPEER as u8;
    let msgs: Vec<(&str, Msg<'_>)> = vec![
        ("GETPEER", Msg::op(Op::Getpeer)),
        ("PEER (2 IPv6 peers)", peer),
        (
            "PUT (1424 bytes)",
            Msg {
                op: Op::Put,
                key: &key,
                val: &val,
                time: &time,
                salt: &salt,
                work: &work,
                pubkey: &pubkey,
                sig: &sig,
                ..Msg::default()
            },
        ),
        (
            "GET by work",
            Msg {
                op: Op::Get,
                work: &work,
                ..Msg::default()
            },
        ),
        (
            "GET by name (32-byte key)",
            Msg {
                op: Op::Get,
                pubkey: &pubkey,
                key: &key,
                ..Msg::default()
            },
        ),
    ];
    println!(
        "| message | bytes | decode ns | encode ns | limit: copy the bytes, ns | encode / limit |"
    );
    println!("|---|---|---|---|---|---|");
    const N: u64 = 1 << 20;
    for (name, m) in &msgs {
        let mut buf = [0u8; 1500];
        let n = wire::encode_into(m, &mut buf).unwrap();
        let bytes = buf[..n].to_vec();
        assert_eq!(
            wire::decode(&bytes).map(|p| p.msg()).as_ref(),
            Ok(m),
            "{name} round-trips"
        );
        let dec = ns_per(7, N, |_| {
            black_box(wire::decode(black_box(&bytes)).is_ok());
        });
        let mut out = [0u8; 1500];
        let enc = ns_per(7, N, |_| {
            black_box(wire::encode_into(black_box(m), &mut out).ok());
        });
        let copy = ns_per(7, N, |_| {
            out[..n].copy_from_slice(black_box(&bytes));
            black_box(&out);
        });
        println!(
            "| {name} | {n} | {dec:.1} | {enc:.1} | {copy:.1} | {:.1} |",
            enc / copy.max(0.1)
        );
    }
    println!("\nDecoding borrows every field, so it reads headers only and can beat the copy. Median of 7 runs of 2^20 calls.");
    println!("Reproduce: `cargo run --release --bin dave-bench -- codec`.");
}

/// A node holding a full store and a full, live peer table, with the
/// datagrams to feed it.
struct Bed {
    node: Node,
    peers: Vec<std::net::SocketAddr>,
    /// Encoded PUTs of the stored dats.
    stored: Vec<Vec<u8>>,
    /// Encoded PUTs of dats the node has never seen.
    fresh: Vec<Vec<u8>>,
    epoch: u64,
    now_ms: u64,
}

impl Bed {
    fn new(n: usize, fresh: usize) -> Bed {
        print!("making {} full-size dats... ", n + fresh);
        let _ = std::io::stdout().flush();
        let t0 = Instant::now();
        let stored = make_dats_named(n, 2000, "k");
        let fresh = make_dats_named(fresh, 2000, "fresh");
        println!("{:.1} s", t0.elapsed().as_secs_f64());
        let now_ms = now_ms();
        let mut node = Node::new(Config::default());
        node.handle_tick(Now {
            epoch: 0,
            unix_ms: now_ms,
        });
        for d in &stored {
            node.restore_preverified(&put_of(d).msg()).expect("valid");
        }
        let peers: Vec<std::net::SocketAddr> = (0..node.config().max_peers)
            .map(|i| format!("10.{}.{}.1:1618", i >> 8, i & 255).parse().unwrap())
            .collect();
        let mut bed = Bed {
            node,
            peers,
            stored,
            fresh,
            epoch: 0,
            now_ms,
        };
        // Every peer speaks, then again once they have been known for DELAY
        // epochs: all are live and eligible for gossip.
        let delay = bed.node.config().delay_epochs;
        bed.hear_from_all();
        bed.tick(delay / 2);
        bed.hear_from_all();
        bed.tick(delay / 2 + 8);
        bed.hear_from_all();
        // Every peer sends one novel dat, slowly enough for the node's
        // budget of checks for untrusted sources: then all have trust, as
        // gossiping peers do, and their novel dats are checked at once.
        let fresh = std::mem::take(&mut bed.fresh);
        let (earn, rest) = fresh.split_at(bed.peers.len().min(fresh.len()));
        for (i, d) in earn.iter().enumerate() {
            bed.node.handle_packet(bed.peers[i], d);
            bed.tick(8);
            if i % 128 == 127 {
                bed.hear_from_all();
            }
        }
        bed.hear_from_all();
        bed.fresh = rest.to_vec();
        bed
    }

    /// One known PUT from every peer (keeps them live).
    fn hear_from_all(&mut self) {
        for i in 0..self.peers.len() {
            let d = &self.stored[i % self.stored.len()];
            self.node.handle_packet(self.peers[i], d);
        }
        self.drain();
        self.tick(1);
    }

    fn drain(&mut self) {
        while self.node.peek_transmit().is_some() {
            self.node.pop_transmit();
        }
    }

    fn tick(&mut self, epochs: u64) {
        self.epoch += epochs;
        self.node.handle_tick(Now {
            epoch: self.epoch,
            unix_ms: self.now_ms,
        });
        self.drain();
    }

    /// Feeds `pkts[pick(i)]` for `i` in `0..total` from every peer in turn,
    /// one epoch per pass over the table (the packet filter passes one op
    /// per source per epoch); returns the median ns per packet over the
    /// timed batches. See [`Bed::batches`].
    fn feed(&mut self, total: usize, pkts: &[Vec<u8>], pick: impl Fn(usize) -> usize) -> f64 {
        self.batches(total, pkts, pick, |node, src, p| node.handle_packet(src, p))
    }

    /// Runs `f` on `pkts[pick(i)]` for `i` in `0..total`, from every peer in
    /// turn, and returns the median ns per packet over batches of 128. Each
    /// batch is first copied into a staging buffer, untimed, as a receive
    /// buffer holds a datagram the kernel just wrote (reading a stored copy
    /// from 200 MB of test data would time cache misses no node has). The
    /// outbox is drained between batches, untimed; one epoch passes per
    /// pass over the table.
    fn batches(
        &mut self,
        total: usize,
        pkts: &[Vec<u8>],
        pick: impl Fn(usize) -> usize,
        mut f: impl FnMut(&mut Node, std::net::SocketAddr, &[u8]),
    ) -> f64 {
        const BATCH: usize = 128;
        let mut stage = vec![0u8; BATCH * 1500];
        let mut lens = [0usize; BATCH];
        let mut samples = Vec::new();
        let mut k = 0;
        let peers = self.peers.clone();
        while k < total {
            for chunk in peers.chunks(BATCH) {
                let n = chunk.len().min(total - k);
                for j in 0..n {
                    let p = &pkts[pick(k + j)];
                    stage[j * 1500..j * 1500 + p.len()].copy_from_slice(p);
                    lens[j] = p.len();
                }
                let t = Instant::now();
                for (j, src) in chunk.iter().enumerate().take(n) {
                    f(&mut self.node, *src, &stage[j * 1500..j * 1500 + lens[j]]);
                }
                samples.push(t.elapsed().as_nanos() as f64 / n as f64);
                k += n;
                self.drain();
                if k == total {
                    break;
                }
            }
            self.tick(1);
        }
        median(samples)
    }
}

fn bench_core(mut bed: Bed) {
    use dave_core::wire::{self, Msg, Op};
    use std::hint::black_box;
    println!(
        "\n## Core: a node with {} full-size dats and {} live peers\n",
        bed.node.store().len(),
        bed.node.peers().len()
    );
    let n = bed.stored.len();
    let get_of = |d: &[u8]| {
        let m = put_of(d);
        let mut buf = [0u8; 64];
        let len = wire::encode_into(
            &Msg {
                op: Op::Get,
                work: m.work,
                ..Msg::default()
            },
            &mut buf,
        )
        .unwrap();
        buf[..len].to_vec()
    };
    let before = *bed.node.stats();
    // Known PUTs: the common gossip case.
    let stored = bed.stored.clone();
    let known = bed.feed(200_000, &stored, |i| (i * 7919) % n);
    let after = *bed.node.stats();
    assert_eq!(
        after.puts_known - before.puts_known,
        200_000,
        "every known PUT is handled as known"
    );
    // Limit: parse it and look its work up, nothing else.
    let known_lim = bed.batches(
        200_000,
        &stored,
        |i| (i * 7919) % n,
        |node, _, p| {
            black_box(node.store().find_work(put_of(p).work));
        },
    );
    // GETs that hit: answered with a copy of the stored PUT.
    let gets: Vec<Vec<u8>> = stored.iter().map(|d| get_of(d)).collect();
    let s0 = bed.node.stats().gets_answered;
    let get = bed.feed(200_000, &gets, |i| (i * 104729) % n);
    assert_eq!(
        bed.node.stats().gets_answered - s0,
        200_000,
        "every GET hits"
    );
    let mut out = [0u8; 1500];
    let get_lim = bed.batches(
        200_000,
        &gets,
        |i| (i * 104729) % n,
        |node, _, p| {
            let slot = node.store().find_work(put_of(p).work).unwrap();
            let rec = node.store().record(slot);
            out[..rec.len()].copy_from_slice(rec);
            black_box(&out);
        },
    );
    // GETPEER: answered with up to NPEER peers heard from lately.
    let getpeer: Vec<u8> = Vec::new(); // proto3: an empty datagram is a GETPEER
    let gp = bed.feed(100_000, std::slice::from_ref(&getpeer), |_| 0);
    let mut peer = Msg::op(Op::Peer);
    peer.pds[0] = dave_core::wire::Pd::from_addr(bed.peers[1]);
    peer.pds[1] = dave_core::wire::Pd::from_addr(bed.peers[2]);
    peer.npds = 2;
    // Limit: which peers were heard from lately is known only by looking
    // at each, so one pass over the table, then the answer's encoding.
    let open = bed.node.config().open_epochs;
    let gp_lim = bed.batches(
        100_000,
        std::slice::from_ref(&getpeer),
        |_| 0,
        |node, src, p| {
            black_box(wire::decode(p).is_ok());
            let now = node.epoch();
            let fresh = node
                .peers()
                .iter()
                .filter(|q| q.addr != src && q.silence(now) <= open)
                .count();
            black_box(fresh);
            black_box(wire::encode_into(black_box(&peer), &mut out).ok());
        },
    );
    // Novel PUTs: proof of work and signature checked, then stored.
    let fresh = std::mem::take(&mut bed.fresh);
    let s0 = *bed.node.stats();
    let novel = bed.feed(fresh.len(), &fresh, |i| i);
    let s1 = *bed.node.stats();
    if s1.puts_novel - s0.puts_novel != fresh.len() as u64 {
        let drops: Vec<String> = dave_core::Reason::ALL
            .iter()
            .filter(|r| s1.drop_count(**r) > s0.drop_count(**r))
            .map(|r| format!("{} {}", r.name(), s1.drop_count(*r) - s0.drop_count(*r)))
            .collect();
        panic!(
            "only {} of {} fresh PUTs were novel; drops: {drops:?}",
            s1.puts_novel - s0.puts_novel,
            fresh.len()
        );
    }
    let novel_lim = ns_per(3, 2000, |i| {
        let m = put_of(&fresh[i as usize]);
        let load = dave_core::pow::load(m.key, m.val, m.time);
        let w = dave_core::pow::work(m.salt, &load);
        black_box(dave_core::pow::verify(m.pubkey, &w, m.sig));
    });
    // Ticks: one driver wake at the default EPOCH runs about 16 epochs.
    const WAKE: u64 = 16;
    let mut samples = Vec::new();
    let mut sent = 0usize;
    for round in 0..400 {
        if round % 16 == 0 {
            bed.hear_from_all();
        }
        let t = Instant::now();
        bed.epoch += WAKE;
        bed.node.handle_tick(Now {
            epoch: bed.epoch,
            unix_ms: bed.now_ms,
        });
        samples.push(t.elapsed().as_nanos() as f64);
        sent += bed.node.transmit_len();
        bed.drain();
    }
    let tick = median(samples);
    let seeded = sent as f64 / 400.0;
    let rec = bed.stored[0].clone();
    // Limit: a trust-weighted choice needs the largest trust among the
    // peers that may be sent to, so one pass over the table per seed, then
    // the copy of the dat.
    let (now, alive) = (bed.node.epoch(), 2 * bed.node.config().ping_epochs);
    let tick_lim = ns_per(7, 1 << 12, |_| {
        for _ in 0..(WAKE / bed.node.config().seed_epochs) {
            let top = bed
                .node
                .peers()
                .iter()
                .filter(|q| q.silence(now) < alive)
                .fold(0.0f64, |a, q| a.max(q.trust));
            black_box(top);
            out[..rec.len()].copy_from_slice(black_box(&rec));
            black_box(&out);
        }
    });
    println!("| call | ns | limit, ns | limit: the work it cannot avoid | ns / limit |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, ns: f64, lim: f64, what: &str| {
        println!(
            "| {name} | {ns:.0} | {lim:.0} | {what} | {:.1} |",
            ns / lim.max(0.1)
        );
    };
    row(
        "`handle_packet`, known PUT (gossip)",
        known,
        known_lim,
        "decode, look the work up",
    );
    row(
        "`handle_packet`, novel PUT",
        novel,
        novel_lim,
        "decode, hash load and work, verify the signature",
    );
    row(
        "`handle_packet`, GET that hits",
        get,
        get_lim,
        "decode, look up, copy the dat out",
    );
    row(
        "`handle_packet`, GETPEER",
        gp,
        gp_lim,
        "decode, one pass over the peer table, encode a PEER",
    );
    row(
        &format!("`handle_tick`, one wake ({WAKE} epochs, {seeded:.1} datagrams queued)"),
        tick,
        tick_lim,
        "per seed: one pass over the peer table, copy the dat out",
    );
    println!("\nMedian over batches of 128 packets (the outbox is drained between batches, untimed). Reproduce: `cargo run --release --bin dave-bench -- core`.");
}

/// The hidden subcommand that runs the `ingest` section's sender.
const SENDER: &str = "__ingest-sender";
/// Source sockets of the sender: the packet filter passes one PUT per
/// source per epoch (on loopback it keys on the full port), and a node that
/// falls behind reads up to RECV_BUDGET (1024) queued datagrams in one
/// epoch, so as many sources as a full peer table keep every one valid.
const SENDER_SOCKETS: usize = 1024;

/// Sends the length-prefixed datagrams of FILE to 127.0.0.1:PORT for SECS
/// seconds, round robin over many source ports, as fast as it can; prints
/// `sent seconds`.
fn ingest_sender(args: &[String]) {
    use std::net::UdpSocket;
    let port: u16 = args[0].parse().expect("port");
    let secs: f64 = args[1].parse().expect("seconds");
    let file = std::fs::read(&args[2]).expect("datagram file");
    let mut dats = Vec::new();
    let mut at = 0;
    while at + 2 <= file.len() {
        let n = u16::from_le_bytes([file[at], file[at + 1]]) as usize;
        dats.push(&file[at + 2..at + 2 + n]);
        at += 2 + n;
    }
    let socks: Vec<UdpSocket> = (0..SENDER_SOCKETS)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            s.connect(("127.0.0.1", port)).unwrap();
            s
        })
        .collect();
    let t = Instant::now();
    let mut i = 0usize;
    while t.elapsed().as_secs_f64() < secs {
        for _ in 0..SENDER_SOCKETS {
            // A full receive queue drops on the receiver's side, not here.
            let _ = socks[i % SENDER_SOCKETS].send(dats[i % dats.len()]);
            i += 1;
        }
    }
    println!("{i} {}", t.elapsed().as_secs_f64());
}

/// Drops counted on the UDP socket bound to `port` (`/proc/net/udp`).
fn udp_socket_drops(port: u16) -> u64 {
    let s = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
    let want = format!(":{port:04X}");
    s.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.get(1)?.ends_with(&want) {
                f.last()?.parse::<u64>().ok()
            } else {
                None
            }
        })
        .sum()
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ingest {
    /// `recv_from` until WouldBlock, counting.
    Bare,
    /// `recvmmsg` until WouldBlock, counting.
    BareMmsg,
    /// The real driver and node.
    Driver,
}

/// CPU time of the calling thread, in seconds.
fn thread_cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split_whitespace().next().unwrap().parse::<f64>().unwrap() / 1e9
}

/// One ingest run: (datagrams handled per second, sender's datagrams per
/// second, drops on the socket, RcvbufErrors system-wide, receiver CPU
/// seconds per datagram handled, datagrams the node's filter dropped).
fn ingest_run(mode: Ingest, file: &std::path::Path, secs: f64, dats: &[Vec<u8>]) -> [f64; 6] {
    use dave::driver::{Driver, RCVBUF_BYTES, SNDBUF_BYTES};
    use mio::{Events, Interest, Poll, Token};
    use std::os::fd::AsRawFd;
    use std::process::{Command, Stdio};
    let mut driver = None;
    let mut bare = None;
    let port = if mode == Ingest::Driver {
        let mut node = Node::new(Config::default());
        node.handle_tick(Now {
            epoch: 0,
            unix_ms: now_ms(),
        });
        for d in dats {
            node.restore_preverified(&put_of(d).msg()).expect("valid");
        }
        let d = Driver::bind("127.0.0.1:0".parse().unwrap(), node).unwrap();
        let port = d.local_addr().unwrap().port();
        driver = Some(d);
        port
    } else {
        // Configured as the driver configures its socket.
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_nonblocking(true).unwrap();
        let mut s = mio::net::UdpSocket::from_std(s);
        dave::sys::set_recv_buffer(s.as_raw_fd(), RCVBUF_BYTES).unwrap();
        dave::sys::set_send_buffer(s.as_raw_fd(), SNDBUF_BYTES).unwrap();
        let poll = Poll::new().unwrap();
        poll.registry()
            .register(&mut s, Token(0), Interest::READABLE | Interest::WRITABLE)
            .unwrap();
        let port = s.local_addr().unwrap().port();
        bare = Some((s, poll));
        port
    };
    let (_, rcvbuf0) = dave::sys::udp_snmp().unwrap_or((0, 0));
    let cpu0 = thread_cpu_secs();
    let child = Command::new(std::env::current_exe().unwrap())
        .args([SENDER, &port.to_string(), &secs.to_string()])
        .arg(file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Some(child);
    let mut out = String::new();
    let mut handled = 0u64;
    let mut buf = [0u8; 1501];
    let mut batch = dave::sys::RecvBatch::new(32, 1500);
    let mut events = Events::with_capacity(16);
    // Run until the sender has exited, then drain what is queued.
    let mut quiet_polls = 0;
    loop {
        let exited = match &mut child {
            Some(c) => c.try_wait().unwrap().is_some(),
            None => true,
        };
        if exited {
            if let Some(c) = child.take() {
                use std::io::Read;
                c.stdout.unwrap().read_to_string(&mut out).unwrap();
            }
            quiet_polls += 1;
            if quiet_polls > 20 {
                break;
            }
        }
        match (&mut driver, &mut bare) {
            (Some(d), _) => d.turn(std::time::Duration::from_millis(5)).unwrap(),
            (_, Some((s, poll))) => {
                poll.poll(&mut events, Some(std::time::Duration::from_millis(5)))
                    .unwrap();
                loop {
                    let got = if mode == Ingest::Bare {
                        match s.recv_from(&mut buf) {
                            Ok(_) => 1,
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => 0,
                            Err(e) => panic!("{e}"),
                        }
                    } else {
                        batch.recv(s.as_raw_fd()).unwrap()
                    };
                    if got == 0 {
                        break;
                    }
                    handled += got as u64;
                    quiet_polls = 0;
                }
            }
            _ => unreachable!(),
        }
    }
    let cpu = thread_cpu_secs() - cpu0;
    let mut filtered = 0;
    if let Some(d) = &driver {
        handled = d.node().stats().puts_known;
        filtered = d.node().stats().drop_count(dave_core::Reason::Filter);
    }
    let drops = udp_socket_drops(port) as f64;
    let (_, rcvbuf1) = dave::sys::udp_snmp().unwrap_or((0, 0));
    let mut f = out.split_whitespace();
    let sent: f64 = f.next().expect("sender output").parse().unwrap();
    let took: f64 = f.next().expect("sender output").parse().unwrap();
    [
        handled as f64 / took,
        sent / took,
        drops,
        rcvbuf1.saturating_sub(rcvbuf0) as f64,
        cpu / handled.max(1) as f64,
        filtered as f64,
    ]
}

fn bench_ingest() {
    println!("\n## Socket ingest: known-dat PUTs on loopback from a separate process\n");
    const RUNS: usize = 5;
    const SECS: f64 = 2.0;
    let dats = make_dats_named(4096, 1000, "ingest");
    let dir = std::env::temp_dir().join(format!("dave-bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("datagrams");
    let mut bytes = Vec::new();
    for d in &dats {
        bytes.extend_from_slice(&(d.len() as u16).to_le_bytes());
        bytes.extend_from_slice(d);
    }
    std::fs::write(&file, &bytes).unwrap();
    let modes = [Ingest::Bare, Ingest::BareMmsg, Ingest::Driver];
    let mut res: Vec<Vec<[f64; 6]>> = vec![Vec::new(); modes.len()];
    // Interleaved, so that a burst of load elsewhere hits every mode alike.
    for _ in 0..RUNS {
        for (i, m) in modes.iter().enumerate() {
            res[i].push(ingest_run(*m, &file, SECS, &dats));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    let med = |i: usize, k: usize| median(res[i].iter().map(|r| r[k]).collect());
    let bare = med(0, 0);
    let bare_cpu = med(0, 4);
    println!("| receiver | datagrams/s handled | vs bare `recv_from` loop | receiver CPU per datagram | one core could take | vs bare loop | sender's datagrams/s | dropped on the socket per run | RcvbufErrors per run |");
    println!("|---|---|---|---|---|---|---|---|---|");
    let names = [
        "bare loop: `recv_from` until WouldBlock (the limit)",
        "bare loop: `recvmmsg`, 32 per call",
        "`Driver` + `Node`: known PUTs handled",
    ];
    for (i, n) in names.iter().enumerate() {
        println!(
            "| {n} | {} | {:.2} | {:.2} µs | {}/s | {:.2} | {} | {:.0} | {:.0} |",
            si(med(i, 0)),
            med(i, 0) / bare,
            med(i, 4) * 1e6,
            si(1.0 / med(i, 4)),
            bare_cpu / med(i, 4),
            si(med(i, 1)),
            med(i, 2),
            med(i, 3)
        );
    }
    println!(
        "\nThe node's packet filter dropped {:.0} datagrams per run (a source seen twice in one epoch).",
        med(2, 5)
    );
    println!("Each run: the sender (this program, `{SENDER}`) sends {SECS} s of 1.1 KB known PUTs round robin from {SENDER_SOCKETS} ports.");
    println!("Median of {RUNS} interleaved runs. Reproduce: `cargo run --release --bin dave-bench -- ingest`.");
}

/// Resident memory of a process, in bytes.
fn rss(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let l = s.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    l.split_whitespace().nth(1).unwrap().parse::<f64>().unwrap() * 1024.0
}

/// CPU time a process has used, in seconds.
fn cpu_secs(pid: u32) -> f64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/schedstat")).unwrap();
    s.split_whitespace().next().unwrap().parse::<f64>().unwrap() / 1e9
}

/// A free loopback port (bound and released).
fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn_daved(port: u16, edge: Option<u16>) -> std::process::Child {
    use std::process::{Command, Stdio};
    let mut c = Command::new(daved_path());
    c.args(["-l", &format!("127.0.0.1:{port}"), "--status", "0"]);
    if let Some(e) = edge {
        c.args(["-e", &format!("127.0.0.1:{e}")]);
    }
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn daved_json(port: u16) -> String {
    let out = std::process::Command::new(daved_path())
        .args(["status", "--json", "-p", &port.to_string()])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Sends novel dats to a node from many ports until it holds `want` dats:
/// one from each port first, slowly (a node checks few signatures from
/// sources without trust), then the rest at a pace its one core can verify.
fn feed_daved(port: u16, dats: &[Vec<u8>], want: usize) {
    use std::net::UdpSocket;
    const FEED_SOCKETS: usize = 256;
    let socks: Vec<UdpSocket> = (0..FEED_SOCKETS)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let to = ("127.0.0.1", port);
    for attempt in 0..4 {
        for (i, d) in dats.iter().enumerate() {
            let _ = socks[i % FEED_SOCKETS].send_to(d, to);
            if attempt == 0 && i < FEED_SOCKETS {
                std::thread::sleep(std::time::Duration::from_micros(1500));
            } else if i % 16 == 15 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }
        let t = Instant::now();
        while t.elapsed().as_secs_f64() < 5.0 {
            std::thread::sleep(std::time::Duration::from_millis(200));
            if json_num(&daved_json(port), "version", "dats") as usize >= want {
                return;
            }
        }
    }
    panic!("the node did not take {want} dats");
}

fn bench_footprint() {
    println!("\n## Footprint\n");
    const RUNS: usize = 3;
    const SECS: f64 = 10.0;
    let daved = daved_path();
    let size = std::fs::metadata(&daved).unwrap().len() as f64;
    // A lone node: resident memory and CPU while nothing happens.
    let mut idle_rss = Vec::new();
    let mut idle_cpu = Vec::new();
    for _ in 0..RUNS {
        let port = free_port();
        let mut c = spawn_daved(port, None);
        std::thread::sleep(std::time::Duration::from_secs(2));
        idle_rss.push(rss(c.id()));
        let (c0, t0) = (cpu_secs(c.id()), Instant::now());
        std::thread::sleep(std::time::Duration::from_secs_f64(SECS));
        idle_cpu.push((cpu_secs(c.id()) - c0) / t0.elapsed().as_secs_f64());
        let _ = c.kill();
        let _ = c.wait();
    }
    // Resident memory with dats, beyond their own encoded bytes.
    let dats = make_dats_named(100_000, 100, "fp");
    let mut with = Vec::new();
    for _ in 0..RUNS {
        let port = free_port();
        let mut c = spawn_daved(port, None);
        std::thread::sleep(std::time::Duration::from_secs(1));
        let base = rss(c.id());
        let mut row = Vec::new();
        let mut fed = 0;
        for n in [10_000, 100_000] {
            feed_daved(port, &dats[fed..n], n);
            fed = n;
            std::thread::sleep(std::time::Duration::from_millis(500));
            let enc: usize = dats[..n].iter().map(Vec::len).sum();
            let r = rss(c.id());
            row.push((r, (r - base - enc as f64) / n as f64));
        }
        with.push(row);
        let _ = c.kill();
        let _ = c.wait();
    }
    // Five nodes gossiping 200 dats of 1 KB.
    let ports: Vec<u16> = (0..5).map(|_| free_port()).collect();
    let mut kids: Vec<_> = ports
        .iter()
        .enumerate()
        .map(|(i, p)| spawn_daved(*p, (i > 0).then_some(ports[0])))
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let gossip = make_dats_named(200, 1000, "gossip");
    feed_daved(ports[0], &gossip, 200);
    std::thread::sleep(std::time::Duration::from_secs(3));
    let mut gossip_cpu = Vec::new();
    let mut gossip_pkts = Vec::new();
    for _ in 0..RUNS {
        let c0: Vec<f64> = kids.iter().map(|k| cpu_secs(k.id())).collect();
        let p0: Vec<f64> = ports
            .iter()
            .map(|p| json_num(&daved_json(*p), "totals", "packets_out"))
            .collect();
        let t0 = Instant::now();
        std::thread::sleep(std::time::Duration::from_secs_f64(SECS));
        let dt = t0.elapsed().as_secs_f64();
        let c1: Vec<f64> = kids.iter().map(|k| cpu_secs(k.id())).collect();
        let p1: Vec<f64> = ports
            .iter()
            .map(|p| json_num(&daved_json(*p), "totals", "packets_out"))
            .collect();
        gossip_cpu.push(c1.iter().zip(&c0).map(|(a, b)| a - b).sum::<f64>() / 5.0 / dt);
        gossip_pkts.push(p1.iter().zip(&p0).map(|(a, b)| a - b).sum::<f64>() / 5.0 / dt);
    }
    let held: Vec<f64> = ports
        .iter()
        .map(|p| json_num(&daved_json(*p), "version", "dats"))
        .collect();
    for k in &mut kids {
        let _ = k.kill();
        let _ = k.wait();
    }
    let mib = |b: f64| b / (1 << 20) as f64;
    let idle = median(idle_rss);
    let r10 = median(with.iter().map(|r| r[0].0).collect());
    let r100 = median(with.iter().map(|r| r[1].0).collect());
    let avg10 = median(with.iter().map(|r| r[0].1).collect());
    let avg100 = median(with.iter().map(|r| r[1].1).collect());
    let enc = |a: usize, b: usize| dats[a..b].iter().map(Vec::len).sum::<usize>() as f64;
    // The slope between 10,000 and 100,000 dats: what one more dat costs,
    // without the structures that the first packets make resident.
    let marginal = median(
        with.iter()
            .map(|r| (r[1].0 - r[0].0 - enc(10_000, 100_000)) / 90_000.0)
            .collect(),
    );
    println!("| figure | value | target |");
    println!("|---|---|---|");
    println!(
        "| resident memory, idle (VmRSS) | {:.2} MiB | under 4 MiB |",
        mib(idle)
    );
    println!(
        "| resident memory, 10,000 dats of {} B encoded | {:.2} MiB | |",
        enc(0, 10_000) as usize / 10_000,
        mib(r10)
    );
    println!("| resident memory, 100,000 dats | {:.2} MiB | |", mib(r100));
    println!(
        "| bytes per dat beyond its encoding, from 10,000 to 100,000 dats | {marginal:.0} B | under 96 B |"
    );
    println!(
        "| the same averaged from idle (with the indexes, packet filter and outbox pages the first packets touch) | {avg10:.0} B at 10,000, {avg100:.0} B at 100,000 | |"
    );
    println!(
        "| stripped release binary (`daved`) | {:.2} MiB | |",
        mib(size)
    );
    println!(
        "| CPU, lone idle node, default EPOCH | {:.2}% of a core | under 2% |",
        100.0 * median(idle_cpu)
    );
    println!(
        "| CPU, each node of 5 gossiping 200 dats of 1 KB | {:.2}% of a core ({:.0} datagrams/s sent per node; dats held: {held:?}) | |",
        100.0 * median(gossip_cpu),
        median(gossip_pkts)
    );
    println!("\nMemory: median of {RUNS} nodes, dats sent over loopback. CPU: median of {RUNS} windows of {SECS} s (`/proc/PID/schedstat`).");
    println!("Reproduce: `cargo build --release && target/release/dave-bench footprint`.");
}

fn bench_sig() {
    use dave_core::pow;
    use std::hint::black_box;
    println!("\n## Signature checks, one core\n");
    const N: usize = 2048;
    let items: Vec<([u8; 32], [u8; 32], [u8; 64])> = (0..N)
        .map(|i| {
            let key = SigningKey::from_bytes(blake3::hash(&(i as u64).to_le_bytes()).as_bytes());
            let w = *blake3::hash(&(((i as u64) << 32) | 1).to_le_bytes()).as_bytes();
            (key.verifying_key().to_bytes(), w, pow::sign(&key, &w))
        })
        .collect();
    let strict = ns_per(5, N as u64, |i| {
        let (pk, w, sig) = &items[i as usize];
        assert!(black_box(pow::verify(pk, w, sig)));
    });
    let mut bed = Bed::new(2_000, 1_024 + 3_000);
    let fresh = std::mem::take(&mut bed.fresh);
    let s0 = bed.node.stats().puts_novel;
    let novel = bed.feed(fresh.len(), &fresh, |i| i);
    assert_eq!(bed.node.stats().puts_novel - s0, fresh.len() as u64);
    println!("| check | per second | µs each | vs `verify_strict` |");
    println!("|---|---|---|---|");
    let row = |name: &str, ns: f64| {
        println!(
            "| {name} | {} | {:.1} | {:.2} |",
            si(1e9 / ns),
            ns / 1e3,
            strict / ns
        );
    };
    row(
        "`verify_strict` of one signature (the limit for a PUT from the network)",
        strict,
    );
    row(
        "novel full-size PUT through `handle_packet` (decode, work, signature, store)",
        novel,
    );
    println!("\nMedian of 5 runs over {N} distinct keys. Reproduce: `cargo run --release --bin dave-bench -- sig`.");
}

/// Runs one core path many times (for `perf stat -e cycles:u`, which counts
/// this process's cycles however busy the machine is).
fn micro(what: &str) {
    let mut bed = Bed::new(2_000, 1_024);
    let t = thread_cpu_secs();
    match what {
        "getpeer" => {
            let gp: Vec<u8> = Vec::new();
            bed.feed(400_000, std::slice::from_ref(&gp), |_| 0);
        }
        "tick" => {
            for round in 0..20_000 {
                if round % 16 == 0 {
                    bed.hear_from_all();
                }
                bed.tick(16);
            }
        }
        "known" => {
            let stored = bed.stored.clone();
            let n = stored.len();
            bed.feed(2_000_000, &stored, |i| (i * 7919) % n);
        }
        _ => panic!("unknown micro benchmark"),
    }
    println!("{what}: {:.3} s of CPU", thread_cpu_secs() - t);
}

/// The PUT in one of the benchmark's own encodings.
fn put_of(bytes: &[u8]) -> dave_core::wire::Put<'_> {
    match dave_core::wire::decode(bytes) {
        Ok(dave_core::wire::Packet::Put(p)) => p,
        other => panic!("the benchmark made a datagram that is not a PUT: {other:?}"),
    }
}
