//! The `pow` section: proof-of-work attempts per second of every search
//! path, against a plain `blake3` loop and the solver before SIMD.

use crate::{median, si};
use std::time::Instant;

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

pub(crate) fn bench_pow() {
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
