//! NEON lanes, 4 candidates (every arm64 CPU has NEON).

// NEON is part of arm64, so its intrinsics are safe to call on toolchains
// from 1.87 on; the `unsafe` blocks are for older ones.
#![allow(unused_unsafe)]

use super::kernel::{search, words, Lanes, Shared};
use super::Search;
use std::arch::aarch64::*;

#[derive(Clone, Copy)]
struct Neon(uint32x4_t);

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
