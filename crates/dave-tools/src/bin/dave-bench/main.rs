//! `dave-bench`: measures dave's hot paths and prints a table.
//!
//! Run in release mode: `cargo run --release --bin dave-bench -- [SECTION]...`
//! Every figure is the median of several runs.
//!
//! This file parses the arguments, runs the sections asked for, and holds
//! the timing helpers they share; each section lives in a module of its own.

mod backup;
mod bandwidth;
mod bed;
mod codec;
mod dats;
mod daved;
mod footprint;
mod ingest;
mod logline;
mod node;
mod pow;
mod sig;

use backup::bench_backup;
use bandwidth::bench_bandwidth;
use bed::Bed;
use codec::bench_codec;
use footprint::bench_footprint;
use ingest::{bench_ingest, ingest_sender, SENDER};
use logline::bench_log;
use node::{bench_core, micro};
use pow::bench_pow;
use sig::bench_sig;
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
    (
        "log",
        "ns per debug log line while the level is info, against an empty loop",
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
    if want("log") {
        bench_log();
    }
}

/// A rate with an SI suffix.
pub(crate) fn si(x: f64) -> String {
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

pub(crate) fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Nanoseconds per call of `f`, median of `runs` runs of `iters` calls.
pub(crate) fn ns_per(runs: usize, iters: u64, mut f: impl FnMut(u64)) -> f64 {
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

/// CPU time of the calling thread, in seconds.
pub(crate) fn thread_cpu_secs() -> f64 {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
    s.split_whitespace().next().unwrap().parse::<f64>().unwrap() / 1e9
}
