//! The fused cell updates, written once over [`Simd`] and compiled for
//! AVX2/FMA and for AVX-512F.
//!
//! Each kernel walks the units in vectors (the tail under a lane mask), reads
//! every gate block of the recurrent product and of the input projection once
//! and writes the states once: no pass over memory per activation, no scalar
//! tail. Written for the compiler to vectorize, the activations' divisions
//! (about one per five cycles) and the scalar tail of `units % 8` made the
//! element-wise update a third of a batch-32 LSTM step.

#[cfg(target_arch = "x86")]
use std::arch::x86::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

use super::simd::{Avx2, Avx512, Simd};

/// LSTM: `c = σ(f)·c + σ(i)·tanh(g)`, `h = σ(o)·tanh(c)` with each gate the sum
/// of `z` (`h·U`) and `x` (projection and bias), gate order i, f, c, o.
#[inline(always)]
unsafe fn lstm<S: Simd>(z: *const f32, x: *const f32, c: *mut f32, h: *mut f32, u: usize) {
    let mut j = 0;
    while j < u {
        let m = S::mask(u - j);
        let gate = |g: usize| S::add(S::load(z.add(g * u + j), m), S::load(x.add(g * u + j), m));
        let i = S::sigmoid(gate(0));
        let f = S::sigmoid(gate(1));
        let g = S::tanh(gate(2));
        let o = S::sigmoid(gate(3));
        let cn = S::fmadd(f, S::load(c.add(j), m), S::mul(i, g));
        S::store(c.add(j), m, cn);
        S::store(h.add(j), m, S::mul(o, S::tanh(cn)));
        j += S::LANES;
    }
}

/// `h = zg·h + (1 − zg)·hh` at `h + j`.
#[inline(always)]
unsafe fn mix<S: Simd>(zg: S::V, hh: S::V, h: *mut f32, m: S::M) {
    let keep = S::mul(zg, S::load(h, m));
    let take = S::sub(S::splat(1.0), zg);
    S::store(h, m, S::fmadd(take, hh, keep));
}

/// GRU with the reset gate after the product (Keras' default): with
/// `r_* = z_* + b_*` (`h·U` plus the recurrent bias), `zg = σ(x_z + r_z)`,
/// `r = σ(x_r + r_r)`, `hh = tanh(x_h + r·r_h)`, `h = zg·h + (1 − zg)·hh`.
#[inline(always)]
unsafe fn gru_after<S: Simd>(z: *const f32, x: *const f32, b: *const f32, h: *mut f32, u: usize) {
    let mut j = 0;
    while j < u {
        let m = S::mask(u - j);
        let rec = |g: usize| S::add(S::load(z.add(g * u + j), m), S::load(b.add(g * u + j), m));
        let inp = |g: usize| S::load(x.add(g * u + j), m);
        let zg = S::sigmoid(S::add(rec(0), inp(0)));
        let r = S::sigmoid(S::add(rec(1), inp(1)));
        let hh = S::tanh(S::fmadd(r, rec(2), inp(2)));
        mix::<S>(zg, hh, h.add(j), m);
        j += S::LANES;
    }
}

/// GRU with the reset gate first, part 1: `zg, r = σ(z_zr + x_zr)` written
/// back over `z`'s first `2u` values, and `r·h` into `reset_h`.
#[inline(always)]
unsafe fn gru_before_gates<S: Simd>(
    z: *mut f32,
    x: *const f32,
    h: *const f32,
    reset_h: *mut f32,
    u: usize,
) {
    let mut j = 0;
    while j < 2 * u {
        let m = S::mask(2 * u - j);
        let v = S::sigmoid(S::add(S::load(z.add(j), m), S::load(x.add(j), m)));
        S::store(z.add(j), m, v);
        j += S::LANES;
    }
    let mut j = 0;
    while j < u {
        let m = S::mask(u - j);
        let r = S::load(z.add(u + j), m);
        S::store(reset_h.add(j), m, S::mul(r, S::load(h.add(j), m)));
        j += S::LANES;
    }
}

/// GRU with the reset gate first, part 2 (`z_h` = `(r·h)·U_h`):
/// `hh = tanh(z_h + x_h)`, `h = zg·h + (1 − zg)·hh`.
#[inline(always)]
unsafe fn gru_before_candidate<S: Simd>(z: *const f32, x: *const f32, h: *mut f32, u: usize) {
    let mut j = 0;
    while j < u {
        let m = S::mask(u - j);
        let zg = S::load(z.add(j), m);
        let hh = S::tanh(S::add(
            S::load(z.add(2 * u + j), m),
            S::load(x.add(2 * u + j), m),
        ));
        mix::<S>(zg, hh, h.add(j), m);
        j += S::LANES;
    }
}

/// SimpleRNN with tanh: `h = tanh(z + x)`.
#[inline(always)]
unsafe fn simple<S: Simd>(z: *const f32, x: *const f32, h: *mut f32, u: usize) {
    let mut j = 0;
    while j < u {
        let m = S::mask(u - j);
        let v = S::tanh(S::add(S::load(z.add(j), m), S::load(x.add(j), m)));
        S::store(h.add(j), m, v);
        j += S::LANES;
    }
}

/// One entry point per kernel and width, compiled with that width's
/// features.
macro_rules! widths {
    ($($kernel:ident => $avx2:ident, $avx512:ident ($($arg:ident: $ty:ty),*);)*) => {$(
        /// The kernel of the same name on 8 lanes.
        ///
        /// # Safety
        /// The CPU must have AVX2 and FMA; the pointers must be valid for the
        /// sizes the kernel reads and writes (`cells.rs` checks them).
        #[target_feature(enable = "avx2,fma")]
        pub(super) unsafe fn $avx2($($arg: $ty),*) {
            $kernel::<Avx2>($($arg),*)
        }

        /// The kernel of the same name on 16 lanes.
        ///
        /// # Safety
        /// The CPU must have AVX-512F; pointers as for the 8-lane entry.
        #[target_feature(enable = "avx512f")]
        pub(super) unsafe fn $avx512($($arg: $ty),*) {
            $kernel::<Avx512>($($arg),*)
        }
    )*};
}

widths! {
    lstm => lstm8, lstm16 (z: *const f32, x: *const f32, c: *mut f32, h: *mut f32, u: usize);
    gru_after => gru_after8, gru_after16
        (z: *const f32, x: *const f32, b: *const f32, h: *mut f32, u: usize);
    gru_before_gates => gru_before_gates8, gru_before_gates16
        (z: *mut f32, x: *const f32, h: *const f32, reset_h: *mut f32, u: usize);
    gru_before_candidate => gru_before_candidate8, gru_before_candidate16
        (z: *const f32, x: *const f32, h: *mut f32, u: usize);
    simple => simple8, simple16 (z: *const f32, x: *const f32, h: *mut f32, u: usize);
}

/// Prefetches the cache lines of `len` floats at `p` into L1 (a hint: any
/// address is allowed and nothing is read).
#[inline]
pub(super) fn prefetch(p: *const f32, len: usize) {
    let mut k = 0;
    while k < len {
        // SAFETY: a prefetch never faults, whatever the address; SSE is in
        // every x86-64 CPU and x86 target this crate is built for.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(k) as *const i8) };
        k += 16;
    }
}

/// Prefetches the cache lines of `len` floats at `p` into L2, not L1 (a
/// hint, as [`prefetch`]).
#[inline]
pub(super) fn prefetch_l2(p: *const f32, len: usize) {
    let mut k = 0;
    while k < len {
        // SAFETY: as in `prefetch`.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(p.wrapping_add(k) as *const i8) };
        k += 16;
    }
}
