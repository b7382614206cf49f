//! The proof-of-work search, several candidates at once.
//!
//! The solver hashes `salt || load` where the salt is an 8-byte counter:
//! 40 bytes, so every attempt is exactly one BLAKE3 compression (one block
//! that starts, ends and is the root of its chunk). A general-purpose
//! `blake3::hash` spends most of its time on setup and on a compression
//! that uses SIMD within one hash. Here the compression is transposed
//! instead: each SIMD lane holds one candidate's state, so a 512-bit
//! register runs 16 candidates through the same instructions.
//!
//! Three more savings come from knowing the input:
//!
//! - only message words 0 and 1 (the counter) differ between candidates; in
//!   the first round three of the four column mixes see only constants, so
//!   they are computed once per load;
//! - the difficulty check needs the first output word alone (32 leading
//!   bits); the last round's two diagonal mixes that do not feed it are
//!   skipped;
//! - a lane whose first word passes is hashed again in full (with
//!   `blake3`) before it counts, so a bug here could cost speed, never a
//!   wrong proof.
//!
//! Paths: AVX-512 (16 lanes) and AVX2 (8 lanes) chosen at run time on
//! x86-64, SSE2 (4 lanes, always present on x86-64), NEON (4 lanes, always
//! present on arm64), and a portable scalar path. Every path tries the
//! counters of a batch in increasing order and reports the smallest one
//! that works, so all paths find the same work for the same load.
//!
//! This module and `sys.rs` are the crate's only `unsafe` code: here, the
//! calls into `std::arch` intrinsics, each reached only after the CPU was
//! checked for the feature.
//!
//! One file per path: `kernel` holds the compression and the batch search,
//! generic over a vector of 32-bit lanes (`kernel::Lanes`); `scalar`,
//! `sse2`, `avx2`, `avx512` and `neon` each implement that vector for one
//! instruction set; this file holds the public types and picks the path.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
mod kernel;
#[cfg(target_arch = "aarch64")]
mod neon;
mod scalar;
#[cfg(target_arch = "x86_64")]
mod sse2;

use kernel::Shared;
use std::fmt;

/// The outcome of a bounded search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// The smallest counter tried whose work has enough leading zero bits,
    /// and its work.
    Hit(u64, [u8; 32]),
    /// None worked; the search may go on from this counter.
    Miss(u64),
}

/// A search result and the attempts it made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Search {
    /// What was found.
    pub found: Found,
    /// Counters tried (whole batches).
    pub attempts: u64,
}

/// An implementation of the search.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Path {
    /// Plain Rust, one candidate at a time: runs everywhere.
    Scalar,
    /// x86-64 SSE2, 4 lanes.
    Sse2,
    /// x86-64 AVX2, 8 lanes.
    Avx2,
    /// x86-64 AVX-512F, 16 lanes.
    Avx512,
    /// arm64 NEON, 4 lanes.
    Neon,
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Path {
    /// Every path this CPU can run, slowest first.
    pub fn available() -> Vec<Path> {
        let mut v = vec![Path::Scalar];
        #[cfg(target_arch = "x86_64")]
        {
            v.push(Path::Sse2);
            if std::arch::is_x86_feature_detected!("avx2") {
                v.push(Path::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                v.push(Path::Avx512);
            }
        }
        #[cfg(target_arch = "aarch64")]
        v.push(Path::Neon);
        v
    }

    /// The fastest path this CPU can run.
    pub fn best() -> Path {
        Path::available().last().copied().unwrap_or(Path::Scalar)
    }

    /// Whether this CPU can run the path.
    pub fn is_available(self) -> bool {
        Path::available().contains(&self)
    }

    /// Candidates per batch.
    pub fn lanes(self) -> usize {
        match self {
            Path::Scalar => 1,
            Path::Sse2 | Path::Neon => 4,
            Path::Avx2 => 8,
            Path::Avx512 => 16,
        }
    }

    /// Short name.
    pub fn name(self) -> &'static str {
        match self {
            Path::Scalar => "scalar",
            Path::Sse2 => "sse2",
            Path::Avx2 => "avx2",
            Path::Avx512 => "avx512",
            Path::Neon => "neon",
        }
    }

    /// Tries the counters `start, start + stride, ...` (`tries` of them,
    /// rounded up to whole batches of [`Path::lanes`]) in increasing order
    /// and returns the first whose work has at least `bits` leading zero
    /// bits. A path this CPU cannot run falls back to [`Path::Scalar`].
    pub fn search(self, load: &[u8; 32], bits: u8, start: u64, stride: u64, tries: u64) -> Search {
        let (l, b, s, t) = (load, bits, start, stride);
        match self {
            #[cfg(target_arch = "x86_64")]
            Path::Sse2 => sse2::search_sse2(l, b, s, t, tries),
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
                // SAFETY: the CPU has AVX2 (checked on the line above).
                unsafe { avx2::search_avx2(l, b, s, t, tries) }
            }
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 if std::arch::is_x86_feature_detected!("avx512f") => {
                // SAFETY: the CPU has AVX-512F (checked on the line above).
                unsafe { avx512::search_avx512(l, b, s, t, tries) }
            }
            #[cfg(target_arch = "aarch64")]
            Path::Neon => neon::search_neon(l, b, s, t, tries),
            _ => kernel::search::<u32>(l, b, s, t, tries),
        }
    }

    /// The first output word of `blake3(counter || load)` for each
    /// counter, computed lane by lane by this path's compression (tests
    /// compare it with `blake3::hash`). A path this CPU cannot run falls
    /// back to [`Path::Scalar`].
    pub fn first_words(self, load: &[u8; 32], counters: &[u64]) -> Vec<u32> {
        let sh = Shared::new(load);
        let mut out = vec![0u32; counters.len()];
        for (o, c) in out.chunks_mut(16).zip(counters.chunks(16)) {
            match self {
                #[cfg(target_arch = "x86_64")]
                Path::Sse2 => sse2::words_sse2(&sh, c, o),
                #[cfg(target_arch = "x86_64")]
                Path::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
                    // SAFETY: the CPU has AVX2 (checked on the line above).
                    unsafe { avx2::words_avx2(&sh, c, o) }
                }
                #[cfg(target_arch = "x86_64")]
                Path::Avx512 if std::arch::is_x86_feature_detected!("avx512f") => {
                    // SAFETY: the CPU has AVX-512F (checked on the line above).
                    unsafe { avx512::words_avx512(&sh, c, o) }
                }
                #[cfg(target_arch = "aarch64")]
                Path::Neon => neon::words_neon(&sh, c, o),
                _ => kernel::words::<u32>(&sh, c, o),
            }
        }
        out
    }
}
