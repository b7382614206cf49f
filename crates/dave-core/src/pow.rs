//! Proof of work, signatures and mass (docs/protocol.md section 3).
//!
//! ```text
//! load = blake3(len(key) as u8 || key || val || time)
//! work = blake3(salt || load)
//! ```

use crate::pow_simd::Found;
pub use crate::pow_simd::Path;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::cmp::Ordering;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as AtOrd};
use std::sync::Arc;
use std::thread;

/// Least difficulty (leading zero bits) a node accepts.
pub const MIN_WORK: u8 = 8;

/// The hash of everything a writer commits to. `key` must be at most 255 bytes
/// (the wire allows 32).
pub fn load(key: &[u8], val: &[u8], time: &[u8; 8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(&[key.len() as u8]);
    h.update(key);
    h.update(val);
    h.update(time);
    *h.finalize().as_bytes()
}

/// `blake3(salt || load)`.
pub fn work(salt: &[u8], load: &[u8; 32]) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(salt);
    h.update(load);
    *h.finalize().as_bytes()
}

/// Leading zero bits of a hash, byte 0 first, most significant bit first.
pub fn difficulty(work: &[u8; 32]) -> u8 {
    let mut n = 0u32;
    for b in work {
        if *b == 0 {
            n += 8;
        } else {
            return (n + b.leading_zeros()) as u8;
        }
    }
    n.min(255) as u8
}

/// Age in ms used by mass: at least 1 so that fresh and future-dated dats
/// have a finite mass.
pub fn age_ms(time_ms: u64, now_ms: u64) -> u64 {
    now_ms.saturating_sub(time_ms).max(1)
}

/// Compares `d_a / age_a` with `d_b / age_b` exactly, in integers.
pub fn cmp_mass(d_a: u8, age_a: u64, d_b: u8, age_b: u64) -> Ordering {
    let l = d_a as u128 * age_b as u128;
    let r = d_b as u128 * age_a as u128;
    l.cmp(&r)
}

/// `difficulty / max(1, now - time)` as a float, for trust (a local
/// heuristic); orderings use [`cmp_mass`].
pub fn mass_f64(difficulty: u8, time_ms: u64, now_ms: u64) -> f64 {
    difficulty as f64 / age_ms(time_ms, now_ms) as f64
}

/// Checks a signature strictly (RFC 8032, no small-order keys, no malleable
/// signatures) over the 32 bytes of `work`.
pub fn verify(pubkey: &[u8; 32], work: &[u8; 32], sig: &[u8; 64]) -> bool {
    let Ok(vk) = VerifyingKey::from_bytes(pubkey) else {
        return false;
    };
    vk.verify_strict(work, &Signature::from_bytes(sig)).is_ok()
}

/// Signs `work` with `key`.
pub fn sign(key: &SigningKey, work: &[u8; 32]) -> [u8; 64] {
    key.sign(work).to_bytes()
}

/// Salt size the solver writes: an 8-byte little-endian counter.
pub const SOLVER_SALT_LEN: usize = 8;

/// The outcome of a solve.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Solution {
    /// The salt found.
    pub salt: [u8; SOLVER_SALT_LEN],
    /// `blake3(salt || load)`.
    pub work: [u8; 32],
    /// Attempts made by all threads together.
    pub attempts: u64,
}

/// Counters a solver thread tries between looks at whether another thread
/// has finished (and updates of the progress counter).
const SOLVE_CHUNK: u64 = 4096;

/// Searches salts until `difficulty(work) >= bits`, on `threads` threads,
/// with the fastest search this CPU runs ([`Path::best`]).
///
/// Thread `i` tries the counters `i, i + threads, i + 2*threads, ...` (disjoint
/// salt spaces) in increasing order; the first hit stops every thread. With
/// one thread the result is the smallest counter that works, so it is
/// reproducible, and the same on every path. `progress` is updated with the
/// attempts made so far (roughly, every 4096 attempts per thread) so a
/// caller can show it.
pub fn solve(load: &[u8; 32], bits: u8, threads: usize, progress: Option<&AtomicU64>) -> Solution {
    solve_with(Path::best(), load, bits, threads, progress)
}

/// [`solve`] on a given search path (a path this CPU cannot run falls back
/// to the portable one); for tests and benchmarks.
pub fn solve_with(
    path: Path,
    load: &[u8; 32],
    bits: u8,
    threads: usize,
    progress: Option<&AtomicU64>,
) -> Solution {
    let threads = threads.max(1);
    let found = Arc::new(AtomicBool::new(false));
    let total = AtomicU64::new(0);
    let best: std::sync::Mutex<Option<(u64, [u8; 32])>> = std::sync::Mutex::new(None);
    thread::scope(|s| {
        for t in 0..threads {
            let found = &found;
            let total = &total;
            let best = &best;
            s.spawn(move || {
                let mut ctr = t as u64;
                loop {
                    let r = path.search(load, bits, ctr, threads as u64, SOLVE_CHUNK);
                    total.fetch_add(r.attempts, AtOrd::Relaxed);
                    if let Some(p) = progress {
                        p.fetch_add(r.attempts, AtOrd::Relaxed);
                    }
                    match r.found {
                        Found::Hit(c, w) => {
                            let mut b = best.lock().unwrap_or_else(|e| e.into_inner());
                            if b.is_none_or(|(bc, _)| c < bc) {
                                *b = Some((c, w));
                            }
                            found.store(true, AtOrd::Relaxed);
                            break;
                        }
                        Found::Miss(next) => {
                            if found.load(AtOrd::Relaxed) {
                                break;
                            }
                            ctr = next;
                        }
                    }
                }
            });
        }
    });
    // Every thread searches until one finds a salt, so `best` is set; were
    // it not, a plain search from counter 0 gives the same kind of answer.
    let (ctr, w) = best
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .unwrap_or_else(|| {
            (0u64..)
                .map(|c| (c, work(&c.to_le_bytes(), load)))
                .find(|(_, w)| difficulty(w) >= bits)
                .unwrap_or((0, [0; 32]))
        });
    Solution {
        salt: ctr.to_le_bytes(),
        work: w,
        attempts: total.load(AtOrd::Relaxed),
    }
}

/// The number of threads `solve` should use: every core.
pub fn cores() -> usize {
    thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn difficulty_counts_bits() {
        let mut w = [0xffu8; 32];
        assert_eq!(difficulty(&w), 0);
        w[0] = 0;
        w[1] = 0x01;
        assert_eq!(difficulty(&w), 15);
        w[0] = 0;
        w[1] = 0;
        w[2] = 0x01;
        w[3] = 0xdb;
        assert_eq!(difficulty(&w), 23);
        assert_eq!(difficulty(&[0; 32]), 255);
    }

    #[test]
    fn mass_compares_exactly() {
        // 8/3 vs 5/2: 16 vs 15.
        assert_eq!(cmp_mass(8, 3, 5, 2), Ordering::Greater);
        assert_eq!(cmp_mass(4, 2, 2, 1), Ordering::Equal);
        assert_eq!(age_ms(10, 5), 1);
        assert_eq!(age_ms(5, 10), 5);
        // Large ages do not overflow.
        assert_eq!(cmp_mass(255, u64::MAX, 255, u64::MAX - 1), Ordering::Less);
    }

    /// A splitmix64 stream for test inputs.
    fn mix(z: &mut u64) -> u64 {
        *z = z.wrapping_add(0x9e3779b97f4a7c15);
        let mut x = *z;
        x = (x ^ (x >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94d049bb133111eb);
        x ^ (x >> 31)
    }

    fn random_load(z: &mut u64) -> [u8; 32] {
        let mut l = [0u8; 32];
        for c in l.chunks_mut(8) {
            c.copy_from_slice(&mix(z).to_le_bytes());
        }
        l
    }

    #[test]
    fn every_path_computes_blake3() {
        let mut z = 1;
        let paths = Path::available();
        assert!(paths.contains(&Path::Scalar));
        for _ in 0..200 {
            let l = random_load(&mut z);
            // Random counters, small ones, and ones around the 32-bit carry.
            let mut ctrs: Vec<u64> = (0..21).map(|_| mix(&mut z)).collect();
            ctrs.extend([0, 1, 0xffff_ffff, 0x1_0000_0000, u64::MAX]);
            ctrs.extend((0..6).map(|_| mix(&mut z) & 0xffff));
            let want: Vec<u32> = ctrs
                .iter()
                .map(|c| {
                    let h = blake3::hash(&[&c.to_le_bytes()[..], &l[..]].concat());
                    u32::from_le_bytes(h.as_bytes()[..4].try_into().unwrap())
                })
                .collect();
            for p in &paths {
                assert_eq!(p.first_words(&l, &ctrs), want, "path {p}, load {l:?}");
            }
        }
    }

    #[test]
    fn every_path_finds_the_same_work() {
        let mut z = 7;
        for round in 0..40 {
            let l = random_load(&mut z);
            let bits = [0, 1, 4, 9, 12][round % 5];
            // The reference: counters in order, hashed one by one.
            let want = (0u64..)
                .map(|c| (c, work(&c.to_le_bytes(), &l)))
                .find(|(_, w)| difficulty(w) >= bits)
                .unwrap();
            for p in Path::available() {
                let s = solve_with(p, &l, bits, 1, None);
                assert_eq!(
                    (u64::from_le_bytes(s.salt), s.work),
                    want,
                    "path {p}, bits {bits}"
                );
                // A strided search from an odd start near the 32-bit carry
                // finds the first hit of its own sequence, on every path.
                let start = 0xffff_ff00 + round as u64;
                let seq = (0u64..)
                    .map(|k| start + 3 * k)
                    .find(|c| difficulty(&work(&c.to_le_bytes(), &l)) >= bits)
                    .unwrap();
                let mut at = start;
                let hit = loop {
                    match p.search(&l, bits, at, 3, 64).found {
                        Found::Hit(c, _) => break c,
                        Found::Miss(next) => at = next,
                    }
                };
                assert_eq!(hit, seq, "path {p}, bits {bits}, strided");
            }
        }
    }

    #[test]
    fn solver_meets_difficulty_on_every_thread_count() {
        let l = load(b"k", b"v", &[1; 8]);
        for threads in [1, 2, 3] {
            let s = solve(&l, 12, threads, None);
            assert!(difficulty(&s.work) >= 12);
            assert_eq!(work(&s.salt, &l), s.work);
            assert!(s.attempts >= 1);
        }
        // One thread finds the smallest counter: reproducible.
        assert_eq!(solve(&l, 10, 1, None), solve(&l, 10, 1, None));
        // More than 32 bits goes past the first output word (checked in full).
        let s = Path::best().search(&l, 33, 0, 1, 1 << 12);
        assert!(matches!(s.found, Found::Miss(_)));
    }
}
