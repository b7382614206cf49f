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

use std::fmt;

/// BLAKE3's initial chaining value.
const IV: [u32; 8] = [
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A, 0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
];
/// Block flags of a one-block input: CHUNK_START | CHUNK_END | ROOT.
const FLAGS: u32 = 1 | 2 | 8;
/// Bytes hashed per attempt: an 8-byte counter and the 32-byte load.
const BLOCK_LEN: u32 = 40;
/// BLAKE3's message permutation between rounds.
const PERMUTATION: [usize; 16] = [2, 6, 3, 10, 7, 0, 4, 13, 1, 11, 12, 5, 9, 14, 15, 8];

/// Which message word each round reads in each position (the permutation
/// applied round after round).
const SCHEDULE: [[usize; 16]; 7] = schedule();

const fn schedule() -> [[usize; 16]; 7] {
    let mut s = [[0usize; 16]; 7];
    let mut i = 0;
    while i < 16 {
        s[0][i] = i;
        i += 1;
    }
    let mut r = 1;
    while r < 7 {
        let mut i = 0;
        while i < 16 {
            s[r][i] = s[r - 1][PERMUTATION[i]];
            i += 1;
        }
        r += 1;
    }
    s
}

/// A vector of 32-bit lanes, one candidate per lane.
trait Lanes: Copy {
    /// Number of lanes.
    const N: usize;
    fn splat(x: u32) -> Self;
    /// Lane `k` holds `f(k)`.
    fn from_fn(f: impl Fn(usize) -> u32) -> Self;
    fn add(self, o: Self) -> Self;
    fn xor(self, o: Self) -> Self;
    fn rotr16(self) -> Self;
    fn rotr12(self) -> Self;
    fn rotr8(self) -> Self;
    fn rotr7(self) -> Self;
    /// Bit `k` is set when lane `k` has no bit of `mask` set.
    fn zero_under(self, mask: u32) -> u32;
    /// Writes the lanes to `out[..N]`.
    fn store(self, out: &mut [u32; 16]);
}

/// The G mixing function on lanes `a, b, c, d` of the state.
#[inline(always)]
fn g<V: Lanes>(v: &mut [V; 16], a: usize, b: usize, c: usize, d: usize, x: V, y: V) {
    v[a] = v[a].add(v[b]).add(x);
    v[d] = v[d].xor(v[a]).rotr16();
    v[c] = v[c].add(v[d]);
    v[b] = v[b].xor(v[c]).rotr12();
    v[a] = v[a].add(v[b]).add(y);
    v[d] = v[d].xor(v[a]).rotr8();
    v[c] = v[c].add(v[d]);
    v[b] = v[b].xor(v[c]).rotr7();
}

#[inline(always)]
fn diagonals<V: Lanes>(v: &mut [V; 16], m: &[V; 16], s: &[usize; 16]) {
    g(v, 0, 5, 10, 15, m[s[8]], m[s[9]]);
    g(v, 1, 6, 11, 12, m[s[10]], m[s[11]]);
    g(v, 2, 7, 8, 13, m[s[12]], m[s[13]]);
    g(v, 3, 4, 9, 14, m[s[14]], m[s[15]]);
}

#[inline(always)]
fn round<V: Lanes>(v: &mut [V; 16], m: &[V; 16], s: &[usize; 16]) {
    g(v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    g(v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    g(v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    diagonals(v, m, s);
}

/// What every candidate for one load shares: the load's message words and
/// the state after the three first-round column mixes that read only them.
#[derive(Clone, Copy)]
struct Shared {
    load: [u32; 8],
    /// State words 1-3, 5-7, 9-11 and 13-15 after round 1's columns.
    col: [u32; 16],
}

impl Shared {
    fn new(load: &[u8; 32]) -> Shared {
        let mut w = [0u32; 8];
        for (i, c) in load.chunks_exact(4).enumerate() {
            w[i] = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        }
        let mut v = initial_state::<u32>();
        let mut m = [0u32; 16];
        m[2..10].copy_from_slice(&w);
        let s = &SCHEDULE[0];
        g(&mut v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
        g(&mut v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
        g(&mut v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
        Shared { load: w, col: v }
    }
}

#[inline(always)]
fn initial_state<V: Lanes>() -> [V; 16] {
    [
        V::splat(IV[0]),
        V::splat(IV[1]),
        V::splat(IV[2]),
        V::splat(IV[3]),
        V::splat(IV[4]),
        V::splat(IV[5]),
        V::splat(IV[6]),
        V::splat(IV[7]),
        V::splat(IV[0]),
        V::splat(IV[1]),
        V::splat(IV[2]),
        V::splat(IV[3]),
        V::splat(0), // block counter, low word
        V::splat(0), // block counter, high word
        V::splat(BLOCK_LEN),
        V::splat(FLAGS),
    ]
}

/// The first output word of `blake3(counter || load)` in every lane, where
/// lane `k`'s counter is `hi[k] << 32 | lo[k]`, little-endian.
#[inline(always)]
fn first_word<V: Lanes>(sh: &Shared, lo: V, hi: V) -> V {
    let mut m = [V::splat(0); 16];
    m[0] = lo;
    m[1] = hi;
    for i in 0..8 {
        m[2 + i] = V::splat(sh.load[i]);
    }
    let mut v = [V::splat(0); 16];
    for (i, x) in v.iter_mut().enumerate() {
        *x = V::splat(sh.col[i]);
    }
    v[0] = V::splat(IV[0]);
    v[4] = V::splat(IV[4]);
    v[8] = V::splat(IV[0]);
    v[12] = V::splat(0);
    // Round 1: the one column mix that reads the counter, then the diagonals.
    g(&mut v, 0, 4, 8, 12, m[0], m[1]);
    diagonals(&mut v, &m, &SCHEDULE[0]);
    round(&mut v, &m, &SCHEDULE[1]);
    round(&mut v, &m, &SCHEDULE[2]);
    round(&mut v, &m, &SCHEDULE[3]);
    round(&mut v, &m, &SCHEDULE[4]);
    round(&mut v, &m, &SCHEDULE[5]);
    // Round 7: all columns, then only what output word 0 (v0 ^ v8) needs.
    let s = &SCHEDULE[6];
    g(&mut v, 0, 4, 8, 12, m[s[0]], m[s[1]]);
    g(&mut v, 1, 5, 9, 13, m[s[2]], m[s[3]]);
    g(&mut v, 2, 6, 10, 14, m[s[4]], m[s[5]]);
    g(&mut v, 3, 7, 11, 15, m[s[6]], m[s[7]]);
    // G(0, 5, 10, 15) up to its last write of v0.
    let a = v[0].add(v[5]).add(m[s[8]]);
    let d = v[15].xor(a).rotr16();
    let c = v[10].add(d);
    let b = v[5].xor(c).rotr12();
    let v0 = a.add(b).add(m[s[9]]);
    // G(2, 7, 8, 13) up to its last write of v8.
    let a = v[2].add(v[7]).add(m[s[12]]);
    let d = v[13].xor(a).rotr16();
    let c = v[8].add(d);
    let b = v[7].xor(c).rotr12();
    let a = a.add(b).add(m[s[13]]);
    let d = d.xor(a).rotr8();
    let v8 = c.add(d);
    v0.xor(v8)
}

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

/// Mask of the first `bits` (at most 32) bits of the work, in the order
/// difficulty counts them (byte 0 first, most significant bit first), as
/// they sit in the little-endian first output word.
fn prefix_mask(bits: u8) -> u32 {
    match bits.min(32) {
        0 => 0,
        b => (u32::MAX << (32 - b as u32)).swap_bytes(),
    }
}

/// Tries `tries` counters (rounded up to whole batches) from `start` in
/// steps of `stride`, in increasing order.
#[inline(always)]
fn search<V: Lanes>(load: &[u8; 32], bits: u8, start: u64, stride: u64, tries: u64) -> Search {
    let sh = Shared::new(load);
    let mask = prefix_mask(bits);
    let n = V::N as u64;
    let step = stride.wrapping_mul(n);
    // Lane k's offset from the batch's first counter, when no lane carries
    // into the high word (the common case; checked per batch).
    let span = stride.saturating_mul(n - 1);
    let offsets = V::from_fn(|k| (stride.wrapping_mul(k as u64)) as u32);
    let batches = tries.div_ceil(n).max(1);
    let mut base = start;
    for _ in 0..batches {
        let (lo, hi) = if span < u32::MAX as u64 && (base as u32 as u64) + span <= u32::MAX as u64 {
            (
                V::splat(base as u32).add(offsets),
                V::splat((base >> 32) as u32),
            )
        } else {
            let at = |k: usize| base.wrapping_add(stride.wrapping_mul(k as u64));
            (
                V::from_fn(|k| at(k) as u32),
                V::from_fn(|k| (at(k) >> 32) as u32),
            )
        };
        let mut hits = first_word(&sh, lo, hi).zero_under(mask);
        while hits != 0 {
            let k = hits.trailing_zeros() as u64;
            hits &= hits - 1;
            let ctr = base.wrapping_add(stride.wrapping_mul(k));
            let w = full_work(ctr, load);
            if crate::pow::difficulty(&w) >= bits {
                return Search {
                    found: Found::Hit(ctr, w),
                    attempts: batches_done(base, start, step) * n + k + 1,
                };
            }
        }
        base = base.wrapping_add(step);
    }
    Search {
        found: Found::Miss(base),
        attempts: batches * n,
    }
}

fn batches_done(base: u64, start: u64, step: u64) -> u64 {
    base.wrapping_sub(start).checked_div(step).unwrap_or(0)
}

/// The full work of counter `ctr`, by the reference implementation.
fn full_work(ctr: u64, load: &[u8; 32]) -> [u8; 32] {
    crate::pow::work(&ctr.to_le_bytes(), load)
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
            Path::Sse2 => x86::search_sse2(l, b, s, t, tries),
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
                // SAFETY: the CPU has AVX2 (checked on the line above).
                unsafe { x86::search_avx2(l, b, s, t, tries) }
            }
            #[cfg(target_arch = "x86_64")]
            Path::Avx512 if std::arch::is_x86_feature_detected!("avx512f") => {
                // SAFETY: the CPU has AVX-512F (checked on the line above).
                unsafe { x86::search_avx512(l, b, s, t, tries) }
            }
            #[cfg(target_arch = "aarch64")]
            Path::Neon => arm::search_neon(l, b, s, t, tries),
            _ => search::<u32>(l, b, s, t, tries),
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
                Path::Sse2 => x86::words_sse2(&sh, c, o),
                #[cfg(target_arch = "x86_64")]
                Path::Avx2 if std::arch::is_x86_feature_detected!("avx2") => {
                    // SAFETY: the CPU has AVX2 (checked on the line above).
                    unsafe { x86::words_avx2(&sh, c, o) }
                }
                #[cfg(target_arch = "x86_64")]
                Path::Avx512 if std::arch::is_x86_feature_detected!("avx512f") => {
                    // SAFETY: the CPU has AVX-512F (checked on the line above).
                    unsafe { x86::words_avx512(&sh, c, o) }
                }
                #[cfg(target_arch = "aarch64")]
                Path::Neon => arm::words_neon(&sh, c, o),
                _ => words::<u32>(&sh, c, o),
            }
        }
        out
    }
}

/// First words for up to 16 arbitrary counters, `V::N` at a time.
#[inline(always)]
fn words<V: Lanes>(sh: &Shared, counters: &[u64], out: &mut [u32]) {
    for (o, c) in out.chunks_mut(V::N).zip(counters.chunks(V::N)) {
        let at = |k: usize| c.get(k).copied().unwrap_or(0);
        let w = first_word(
            sh,
            V::from_fn(|k| at(k) as u32),
            V::from_fn(|k| (at(k) >> 32) as u32),
        );
        let mut lanes = [0u32; 16];
        w.store(&mut lanes);
        o.copy_from_slice(&lanes[..o.len()]);
    }
}

/// Portable path: one candidate per "vector".
impl Lanes for u32 {
    const N: usize = 1;
    #[inline(always)]
    fn splat(x: u32) -> Self {
        x
    }
    #[inline(always)]
    fn from_fn(f: impl Fn(usize) -> u32) -> Self {
        f(0)
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        self.wrapping_add(o)
    }
    #[inline(always)]
    fn xor(self, o: Self) -> Self {
        self ^ o
    }
    #[inline(always)]
    fn rotr16(self) -> Self {
        self.rotate_right(16)
    }
    #[inline(always)]
    fn rotr12(self) -> Self {
        self.rotate_right(12)
    }
    #[inline(always)]
    fn rotr8(self) -> Self {
        self.rotate_right(8)
    }
    #[inline(always)]
    fn rotr7(self) -> Self {
        self.rotate_right(7)
    }
    #[inline(always)]
    fn zero_under(self, mask: u32) -> u32 {
        (self & mask == 0) as u32
    }
    #[inline(always)]
    fn store(self, out: &mut [u32; 16]) {
        out[0] = self;
    }
}

#[cfg(target_arch = "x86_64")]
// SSE2 is part of x86-64, so its intrinsics are safe to call on toolchains
// from 1.87 on; the `unsafe` blocks are for older ones.
#[allow(unused_unsafe)]
mod x86 {
    //! SSE2, AVX2 and AVX-512F lanes.
    //!
    //! SAFETY (for the whole module): the `Lanes` impls for `Avx2` and
    //! `Avx512` call intrinsics of those features; they are private and
    //! reached only through the `#[target_feature]` functions below, which
    //! callers run only after `is_x86_feature_detected!`.

    use super::{search, words, Lanes, Search, Shared};
    use std::arch::x86_64::*;

    #[derive(Clone, Copy)]
    pub(super) struct Sse2(__m128i);

    impl Lanes for Sse2 {
        const N: usize = 4;
        #[inline(always)]
        fn splat(x: u32) -> Self {
            Sse2(unsafe { _mm_set1_epi32(x as i32) })
        }
        #[inline(always)]
        fn from_fn(f: impl Fn(usize) -> u32) -> Self {
            let a = [f(0), f(1), f(2), f(3)];
            // SAFETY: reads 16 bytes from a 16-byte array.
            Sse2(unsafe { _mm_loadu_si128(a.as_ptr().cast()) })
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            Sse2(unsafe { _mm_add_epi32(self.0, o.0) })
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            Sse2(unsafe { _mm_xor_si128(self.0, o.0) })
        }
        #[inline(always)]
        fn rotr16(self) -> Self {
            // Swapping the 16-bit halves of each word is one shuffle each.
            Sse2(unsafe {
                _mm_shufflehi_epi16::<0b10_11_00_01>(_mm_shufflelo_epi16::<0b10_11_00_01>(self.0))
            })
        }
        #[inline(always)]
        fn rotr12(self) -> Self {
            Sse2(unsafe {
                _mm_or_si128(_mm_srli_epi32::<12>(self.0), _mm_slli_epi32::<20>(self.0))
            })
        }
        #[inline(always)]
        fn rotr8(self) -> Self {
            Sse2(unsafe { _mm_or_si128(_mm_srli_epi32::<8>(self.0), _mm_slli_epi32::<24>(self.0)) })
        }
        #[inline(always)]
        fn rotr7(self) -> Self {
            Sse2(unsafe { _mm_or_si128(_mm_srli_epi32::<7>(self.0), _mm_slli_epi32::<25>(self.0)) })
        }
        #[inline(always)]
        fn zero_under(self, mask: u32) -> u32 {
            unsafe {
                let z = _mm_cmpeq_epi32(
                    _mm_and_si128(self.0, _mm_set1_epi32(mask as i32)),
                    _mm_setzero_si128(),
                );
                _mm_movemask_ps(_mm_castsi128_ps(z)) as u32
            }
        }
        #[inline(always)]
        fn store(self, out: &mut [u32; 16]) {
            // SAFETY: writes 16 bytes into a 64-byte array.
            unsafe { _mm_storeu_si128(out.as_mut_ptr().cast(), self.0) }
        }
    }

    #[derive(Clone, Copy)]
    pub(super) struct Avx2(__m256i);

    impl Lanes for Avx2 {
        const N: usize = 8;
        #[inline(always)]
        fn splat(x: u32) -> Self {
            Avx2(unsafe { _mm256_set1_epi32(x as i32) })
        }
        #[inline(always)]
        fn from_fn(f: impl Fn(usize) -> u32) -> Self {
            let a = [f(0), f(1), f(2), f(3), f(4), f(5), f(6), f(7)];
            // SAFETY: reads 32 bytes from a 32-byte array.
            Avx2(unsafe { _mm256_loadu_si256(a.as_ptr().cast()) })
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            Avx2(unsafe { _mm256_add_epi32(self.0, o.0) })
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            Avx2(unsafe { _mm256_xor_si256(self.0, o.0) })
        }
        #[inline(always)]
        fn rotr16(self) -> Self {
            // Byte rotations are one shuffle; the others take two shifts and an or.
            unsafe {
                let m = _mm256_setr_epi8(
                    2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5,
                    10, 11, 8, 9, 14, 15, 12, 13,
                );
                Avx2(_mm256_shuffle_epi8(self.0, m))
            }
        }
        #[inline(always)]
        fn rotr12(self) -> Self {
            Avx2(unsafe {
                _mm256_or_si256(
                    _mm256_srli_epi32::<12>(self.0),
                    _mm256_slli_epi32::<20>(self.0),
                )
            })
        }
        #[inline(always)]
        fn rotr8(self) -> Self {
            unsafe {
                let m = _mm256_setr_epi8(
                    1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12, 1, 2, 3, 0, 5, 6, 7, 4,
                    9, 10, 11, 8, 13, 14, 15, 12,
                );
                Avx2(_mm256_shuffle_epi8(self.0, m))
            }
        }
        #[inline(always)]
        fn rotr7(self) -> Self {
            Avx2(unsafe {
                _mm256_or_si256(
                    _mm256_srli_epi32::<7>(self.0),
                    _mm256_slli_epi32::<25>(self.0),
                )
            })
        }
        #[inline(always)]
        fn zero_under(self, mask: u32) -> u32 {
            unsafe {
                let z = _mm256_cmpeq_epi32(
                    _mm256_and_si256(self.0, _mm256_set1_epi32(mask as i32)),
                    _mm256_setzero_si256(),
                );
                _mm256_movemask_ps(_mm256_castsi256_ps(z)) as u32
            }
        }
        #[inline(always)]
        fn store(self, out: &mut [u32; 16]) {
            // SAFETY: writes 32 bytes into a 64-byte array.
            unsafe { _mm256_storeu_si256(out.as_mut_ptr().cast(), self.0) }
        }
    }

    #[derive(Clone, Copy)]
    pub(super) struct Avx512(__m512i);

    impl Lanes for Avx512 {
        const N: usize = 16;
        #[inline(always)]
        fn splat(x: u32) -> Self {
            Avx512(unsafe { _mm512_set1_epi32(x as i32) })
        }
        #[inline(always)]
        fn from_fn(f: impl Fn(usize) -> u32) -> Self {
            let mut a = [0u32; 16];
            for (k, x) in a.iter_mut().enumerate() {
                *x = f(k);
            }
            // SAFETY: reads 64 bytes from a 64-byte array.
            Avx512(unsafe { _mm512_loadu_si512(a.as_ptr().cast()) })
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            Avx512(unsafe { _mm512_add_epi32(self.0, o.0) })
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            Avx512(unsafe { _mm512_xor_si512(self.0, o.0) })
        }
        #[inline(always)]
        fn rotr16(self) -> Self {
            Avx512(unsafe { _mm512_ror_epi32::<16>(self.0) })
        }
        #[inline(always)]
        fn rotr12(self) -> Self {
            Avx512(unsafe { _mm512_ror_epi32::<12>(self.0) })
        }
        #[inline(always)]
        fn rotr8(self) -> Self {
            Avx512(unsafe { _mm512_ror_epi32::<8>(self.0) })
        }
        #[inline(always)]
        fn rotr7(self) -> Self {
            Avx512(unsafe { _mm512_ror_epi32::<7>(self.0) })
        }
        #[inline(always)]
        fn zero_under(self, mask: u32) -> u32 {
            unsafe { _mm512_testn_epi32_mask(self.0, _mm512_set1_epi32(mask as i32)) as u32 }
        }
        #[inline(always)]
        fn store(self, out: &mut [u32; 16]) {
            // SAFETY: writes 64 bytes into a 64-byte array.
            unsafe { _mm512_storeu_si512(out.as_mut_ptr().cast(), self.0) }
        }
    }

    pub(super) fn search_sse2(
        load: &[u8; 32],
        bits: u8,
        start: u64,
        stride: u64,
        tries: u64,
    ) -> Search {
        search::<Sse2>(load, bits, start, stride, tries)
    }

    pub(super) fn words_sse2(sh: &Shared, counters: &[u64], out: &mut [u32]) {
        words::<Sse2>(sh, counters, out)
    }

    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn search_avx2(
        load: &[u8; 32],
        bits: u8,
        start: u64,
        stride: u64,
        tries: u64,
    ) -> Search {
        search::<Avx2>(load, bits, start, stride, tries)
    }

    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn words_avx2(sh: &Shared, counters: &[u64], out: &mut [u32]) {
        words::<Avx2>(sh, counters, out)
    }

    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn search_avx512(
        load: &[u8; 32],
        bits: u8,
        start: u64,
        stride: u64,
        tries: u64,
    ) -> Search {
        search::<Avx512>(load, bits, start, stride, tries)
    }

    /// # Safety
    /// The CPU must have AVX-512F.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn words_avx512(sh: &Shared, counters: &[u64], out: &mut [u32]) {
        words::<Avx512>(sh, counters, out)
    }
}

#[cfg(target_arch = "aarch64")]
// NEON is part of arm64, so its intrinsics are safe to call on toolchains
// from 1.87 on; the `unsafe` blocks are for older ones.
#[allow(unused_unsafe)]
mod arm {
    //! NEON lanes (every arm64 CPU has NEON).

    use super::{search, words, Lanes, Search, Shared};
    use std::arch::aarch64::*;

    #[derive(Clone, Copy)]
    pub(super) struct Neon(uint32x4_t);

    impl Lanes for Neon {
        const N: usize = 4;
        #[inline(always)]
        fn splat(x: u32) -> Self {
            Neon(unsafe { vdupq_n_u32(x) })
        }
        #[inline(always)]
        fn from_fn(f: impl Fn(usize) -> u32) -> Self {
            let a = [f(0), f(1), f(2), f(3)];
            // SAFETY: reads four u32 from a four-u32 array.
            Neon(unsafe { vld1q_u32(a.as_ptr()) })
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            Neon(unsafe { vaddq_u32(self.0, o.0) })
        }
        #[inline(always)]
        fn xor(self, o: Self) -> Self {
            Neon(unsafe { veorq_u32(self.0, o.0) })
        }
        #[inline(always)]
        fn rotr16(self) -> Self {
            // Swapping the 16-bit halves of each word.
            Neon(unsafe { vreinterpretq_u32_u16(vrev32q_u16(vreinterpretq_u16_u32(self.0))) })
        }
        #[inline(always)]
        fn rotr12(self) -> Self {
            // Shift left, then shift right and insert: two instructions.
            Neon(unsafe { vsriq_n_u32::<12>(vshlq_n_u32::<20>(self.0), self.0) })
        }
        #[inline(always)]
        fn rotr8(self) -> Self {
            Neon(unsafe { vsriq_n_u32::<8>(vshlq_n_u32::<24>(self.0), self.0) })
        }
        #[inline(always)]
        fn rotr7(self) -> Self {
            Neon(unsafe { vsriq_n_u32::<7>(vshlq_n_u32::<25>(self.0), self.0) })
        }
        #[inline(always)]
        fn zero_under(self, mask: u32) -> u32 {
            let bit = [1u32, 2, 4, 8];
            // SAFETY: reads four u32 from a four-u32 array.
            unsafe {
                let z = vceqq_u32(vandq_u32(self.0, vdupq_n_u32(mask)), vdupq_n_u32(0));
                vaddvq_u32(vandq_u32(z, vld1q_u32(bit.as_ptr())))
            }
        }
        #[inline(always)]
        fn store(self, out: &mut [u32; 16]) {
            // SAFETY: writes four u32 into a 16-u32 array.
            unsafe { vst1q_u32(out.as_mut_ptr(), self.0) }
        }
    }

    pub(super) fn search_neon(
        load: &[u8; 32],
        bits: u8,
        start: u64,
        stride: u64,
        tries: u64,
    ) -> Search {
        search::<Neon>(load, bits, start, stride, tries)
    }

    pub(super) fn words_neon(sh: &Shared, counters: &[u64], out: &mut [u32]) {
        words::<Neon>(sh, counters, out)
    }
}
