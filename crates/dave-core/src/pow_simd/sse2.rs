//! SSE2 lanes, 4 candidates (every x86-64 CPU has SSE2).

// SSE2 is part of x86-64, so its intrinsics are safe to call on toolchains
// from 1.87 on; the `unsafe` blocks are for older ones.
#![allow(unused_unsafe)]

use super::kernel::{search, words, Lanes, Shared};
use super::Search;
use std::arch::x86_64::*;

#[derive(Clone, Copy)]
struct Sse2(__m128i);

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
        Sse2(unsafe { _mm_or_si128(_mm_srli_epi32::<12>(self.0), _mm_slli_epi32::<20>(self.0)) })
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
