//! The `backup` section: loading and rewriting a backup of many dats, as a
//! warm restart does.

use crate::dats::make_dats;
use crate::{median, now_ms};
use dave::backup::Backup;
use dave_core::{Config, Node, Now};
use std::io::Write;
use std::time::Instant;

pub(crate) fn bench_backup(n: usize) {
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
