//! AVX-512F lanes, 16 candidates.
//!
//! SAFETY (for the whole file): the `Lanes` impl for `Avx512` calls
//! AVX-512F intrinsics; the type is private and reached only through the
//! `#[target_feature]` functions below, which callers run only after
//! `is_x86_feature_detected!`.

use super::kernel::{search, words, Lanes, Shared};
use super::Search;
use std::arch::x86_64::*;

#[derive(Clone, Copy)]
struct Avx512(__m512i);

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
