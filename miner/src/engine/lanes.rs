//! The vector operations a multi-lane SHA-256 kernel needs, as a trait that
//! each SIMD engine implements for its register type (one nonce per 32-bit lane).
//!
//! Methods are `#[inline(always)]` so that they fold into the engine's
//! `#[target_feature]` entry point, where the intrinsics they call are enabled.

pub(crate) trait Lanes: Copy {
    /// How many nonces one value carries.
    const LANES: usize;

    fn splat(x: u32) -> Self;
    fn add(self, other: Self) -> Self;
    fn xor3(a: Self, b: Self, c: Self) -> Self;
    /// SHA-256 `Ch(e, f, g)`.
    fn ch(e: Self, f: Self, g: Self) -> Self;
    /// SHA-256 `Maj(a, b, c)`.
    fn maj(a: Self, b: Self, c: Self) -> Self;
    fn big_sigma0(self) -> Self;
    fn big_sigma1(self) -> Self;
    fn small_sigma0(self) -> Self;
    fn small_sigma1(self) -> Self;
    /// Reverses the bytes of every lane.
    fn swap_bytes(self) -> Self;
    /// `first, first + 1, ...` (wrapping), one per lane.
    fn consecutive(first: u32) -> Self;
    /// Bit `i` is set where lane `i` is `<= bound` (unsigned).
    fn le_mask(self, bound: u32) -> u32;

    #[inline(always)]
    fn add_c(self, c: u32) -> Self {
        self.add(Self::splat(c))
    }
}

/// One lane in a plain `u32`: the kernel's algebra checked without SIMD.
#[cfg(test)]
impl Lanes for u32 {
    const LANES: usize = 1;
    fn splat(x: u32) -> Self {
        x
    }
    fn add(self, other: Self) -> Self {
        self.wrapping_add(other)
    }
    fn xor3(a: Self, b: Self, c: Self) -> Self {
        a ^ b ^ c
    }
    fn ch(e: Self, f: Self, g: Self) -> Self {
        crate::sha256::ch(e, f, g)
    }
    fn maj(a: Self, b: Self, c: Self) -> Self {
        crate::sha256::maj(a, b, c)
    }
    fn big_sigma0(self) -> Self {
        crate::sha256::big_sigma0(self)
    }
    fn big_sigma1(self) -> Self {
        crate::sha256::big_sigma1(self)
    }
    fn small_sigma0(self) -> Self {
        crate::sha256::small_sigma0(self)
    }
    fn small_sigma1(self) -> Self {
        crate::sha256::small_sigma1(self)
    }
    fn swap_bytes(self) -> Self {
        u32::swap_bytes(self)
    }
    fn consecutive(first: u32) -> Self {
        first
    }
    fn le_mask(self, bound: u32) -> u32 {
        u32::from(self <= bound)
    }
}
