//! The fused cell updates of the recurrent layers with Keras' default
//! activations (sigmoid gates, tanh candidate and output), one batch row at a
//! time, in the widest SIMD this CPU has (AVX-512F, else AVX2/FMA): LSTM, GRU
//! in both `reset_after` modes, SimpleRNN. The vector code is written once
//! (`cells/x86.rs`) over the two widths (`cells/simd.rs`, which gives the
//! activation formulas and their accuracy).
//!
//! Every function checks the slice sizes and returns false without touching
//! anything when they are too short or the CPU has no SIMD path; the caller
//! then runs its portable loop.

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
pub(crate) mod simd;
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod x86;

/// Whether the cell updates have a SIMD path on this CPU.
pub fn available() -> bool {
    let cpu = crate::cpu();
    cpu.avx2_fma || cpu.avx512f
}

/// Calls the widest entry of a kernel the CPU runs, or returns false.
macro_rules! dispatch {
    ($avx2:ident, $avx512:ident ($($arg:expr),*)) => {{
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            let cpu = crate::cpu();
            if cpu.avx512f {
                // SAFETY: the CPU has AVX-512F; the caller checked the sizes.
                unsafe { x86::$avx512($($arg),*) };
                return true;
            }
            if cpu.avx2_fma {
                // SAFETY: the CPU has AVX2 and FMA; the caller checked the sizes.
                unsafe { x86::$avx2($($arg),*) };
                return true;
            }
        }
        false
    }};
}

/// The LSTM update of one row: `z` = `h·U` (`4u` values, gate order i, f, c,
/// o), `x` = the input projection with bias (`4u`), `c` and `h` (`u` each)
/// updated in place: `c = σ(f)·c + σ(i)·tanh(g)`, `h = σ(o)·tanh(c)`.
#[inline]
pub fn lstm_row(z: &[f32], x: &[f32], c: &mut [f32], h: &mut [f32]) -> bool {
    let u = c.len();
    if z.len() < 4 * u || x.len() < 4 * u || h.len() < u {
        return false;
    }
    let (z, x, c, h) = (z.as_ptr(), x.as_ptr(), c.as_mut_ptr(), h.as_mut_ptr());
    dispatch!(lstm8, lstm16(z, x, c, h, u))
}

/// The GRU update of one row with the reset gate after the product (Keras'
/// default, `reset_after=True`): `z` = `h·U` (`3u`, gate order z, r, h),
/// `bias` = the recurrent bias (`3u`), `x` = the input projection with the
/// input bias (`3u`), `h` (`u`) updated in place:
/// `h = σ(z_z)·h + (1 − σ(z_z))·tanh(x_h + σ(z_r)·r_h)` where each gate sums
/// its parts.
#[inline]
pub fn gru_row(z: &[f32], x: &[f32], bias: &[f32], h: &mut [f32]) -> bool {
    let u = h.len();
    if z.len() < 3 * u || x.len() < 3 * u || bias.len() < 3 * u {
        return false;
    }
    let (z, x, b, h) = (z.as_ptr(), x.as_ptr(), bias.as_ptr(), h.as_mut_ptr());
    dispatch!(gru_after8, gru_after16(z, x, b, h, u))
}

/// The first half of a GRU row with the reset gate before the product
/// (`reset_after=False`): the update and reset gates `σ(z + x)` over the
/// first `2u` values of `z` (written back there) and `r·h` into `reset_h`
/// (`u`), the left operand of the candidate's product.
#[inline]
pub fn gru_gates_row(z: &mut [f32], x: &[f32], h: &[f32], reset_h: &mut [f32]) -> bool {
    let u = h.len();
    if z.len() < 2 * u || x.len() < 2 * u || reset_h.len() < u {
        return false;
    }
    let (z, x, h, rh) = (z.as_mut_ptr(), x.as_ptr(), h.as_ptr(), reset_h.as_mut_ptr());
    dispatch!(gru_before_gates8, gru_before_gates16(z, x, h, rh, u))
}

/// The second half of a GRU row with the reset gate first: `z` holds the
/// update gate in its first `u` values and `(r·h)·U_h` in `z[2u..3u]`;
/// `h = zg·h + (1 − zg)·tanh(z_h + x_h)`.
#[inline]
pub fn gru_candidate_row(z: &[f32], x: &[f32], h: &mut [f32]) -> bool {
    let u = h.len();
    if z.len() < 3 * u || x.len() < 3 * u {
        return false;
    }
    let (z, x, h) = (z.as_ptr(), x.as_ptr(), h.as_mut_ptr());
    dispatch!(gru_before_candidate8, gru_before_candidate16(z, x, h, u))
}

/// The SimpleRNN update of one row with tanh: `h = tanh(z + x)` (`u` values
/// each).
#[inline]
pub fn simple_row(z: &[f32], x: &[f32], h: &mut [f32]) -> bool {
    let u = h.len();
    if z.len() < u || x.len() < u {
        return false;
    }
    let (z, x, h) = (z.as_ptr(), x.as_ptr(), h.as_mut_ptr());
    dispatch!(simple8, simple16(z, x, h, u))
}

/// Asks the CPU to bring `values` into the L1 cache ahead of use (a hint;
/// nothing on targets without a prefetch instruction).
#[inline]
pub fn prefetch(values: &[f32]) {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    x86::prefetch(values.as_ptr(), values.len());
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    let _ = values;
}

/// Asks the CPU to bring `values` into the L2 cache (not L1) ahead of use:
/// for more data than L1 holds beside what the code reads meanwhile (a
/// hint, as [`prefetch`]).
#[inline]
pub fn prefetch_l2(values: &[f32]) {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    x86::prefetch_l2(values.as_ptr(), values.len());
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    let _ = values;
}

#[cfg(test)]
mod tests;
