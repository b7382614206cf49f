//! The kernel every path instantiates: BLAKE3's compression transposed
//! over a vector of lanes (one candidate per lane), and the batch search
//! around it.

use super::{Found, Search};

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
pub(super) trait Lanes: Copy {
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
pub(super) struct Shared {
    load: [u32; 8],
    /// State words 1-3, 5-7, 9-11 and 13-15 after round 1's columns.
    col: [u32; 16],
}

impl Shared {
    pub(super) fn new(load: &[u8; 32]) -> Shared {
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
pub(super) fn search<V: Lanes>(
    load: &[u8; 32],
    bits: u8,
    start: u64,
    stride: u64,
    tries: u64,
) -> Search {
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

/// First words for up to 16 arbitrary counters, `V::N` at a time.
#[inline(always)]
pub(super) fn words<V: Lanes>(sh: &Shared, counters: &[u64], out: &mut [u32]) {
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
