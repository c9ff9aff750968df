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

/// Two independent batches in one instruction stream, so that one batch's
/// round latency hides behind the other's work.
#[derive(Clone, Copy)]
pub(crate) struct Pair<V>(V, V);

impl<V: Lanes> Lanes for Pair<V> {
    const LANES: usize = 2 * V::LANES;

    #[inline(always)]
    fn splat(x: u32) -> Self {
        let v = V::splat(x);
        Pair(v, v)
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        Pair(self.0.add(o.0), self.1.add(o.1))
    }
    #[inline(always)]
    fn xor3(a: Self, b: Self, c: Self) -> Self {
        Pair(V::xor3(a.0, b.0, c.0), V::xor3(a.1, b.1, c.1))
    }
    #[inline(always)]
    fn ch(e: Self, f: Self, g: Self) -> Self {
        Pair(V::ch(e.0, f.0, g.0), V::ch(e.1, f.1, g.1))
    }
    #[inline(always)]
    fn maj(a: Self, b: Self, c: Self) -> Self {
        Pair(V::maj(a.0, b.0, c.0), V::maj(a.1, b.1, c.1))
    }
    #[inline(always)]
    fn big_sigma0(self) -> Self {
        Pair(self.0.big_sigma0(), self.1.big_sigma0())
    }
    #[inline(always)]
    fn big_sigma1(self) -> Self {
        Pair(self.0.big_sigma1(), self.1.big_sigma1())
    }
    #[inline(always)]
    fn small_sigma0(self) -> Self {
        Pair(self.0.small_sigma0(), self.1.small_sigma0())
    }
    #[inline(always)]
    fn small_sigma1(self) -> Self {
        Pair(self.0.small_sigma1(), self.1.small_sigma1())
    }
    #[inline(always)]
    fn swap_bytes(self) -> Self {
        Pair(self.0.swap_bytes(), self.1.swap_bytes())
    }
    #[inline(always)]
    fn consecutive(first: u32) -> Self {
        Pair(
            V::consecutive(first),
            V::consecutive(first.wrapping_add(V::LANES as u32)),
        )
    }
    #[inline(always)]
    fn le_mask(self, bound: u32) -> u32 {
        self.0.le_mask(bound) | (self.1.le_mask(bound) << V::LANES)
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
