//! AVX2 lanes, 8 candidates.
//!
//! SAFETY (for the whole file): the `Lanes` impl for `Avx2` calls AVX2
//! intrinsics; the type is private and reached only through the
//! `#[target_feature]` functions below, which callers run only after
//! `is_x86_feature_detected!`.

use super::kernel::{search, words, Lanes, Shared};
use super::Search;
use std::arch::x86_64::*;

#[derive(Clone, Copy)]
struct Avx2(__m256i);

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
                2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4, 5, 10,
                11, 8, 9, 14, 15, 12, 13,
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
                1, 2, 3, 0, 5, 6, 7, 4, 9, 10, 11, 8, 13, 14, 15, 12, 1, 2, 3, 0, 5, 6, 7, 4, 9,
                10, 11, 8, 13, 14, 15, 12,
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
