//! Portable path: one candidate per "vector".

use super::kernel::Lanes;

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
