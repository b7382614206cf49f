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

const SECTIONS: &[(&str, &str)] = &[(
    "backup",
    "load and rewrite a backup of 100,000 dats (warm restart)",
)];

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
