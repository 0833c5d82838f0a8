//! The fused LSTM cell update with Keras' default activations (sigmoid gates,
//! tanh candidate and output), one batch row at a time, in the widest SIMD this
//! CPU has (AVX-512F, else AVX2/FMA; see `lstm/x86.rs` for the formulas and
//! their accuracy).

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
mod x86;

/// Whether [`lstm_row`] has a SIMD path on this CPU (otherwise it does nothing
/// and returns false, and the caller runs its portable loop).
pub fn available() -> bool {
    let cpu = crate::cpu();
    cpu.avx2_fma || cpu.avx512f
}

/// The LSTM update of one row: `z` = `h·U` (`4u` values, gate order i, f, c,
/// o), `x` = the input projection with bias (`4u`), `c` and `h` (`u` each)
/// updated in place: `c = σ(f)·c + σ(i)·tanh(g)`, `h = σ(o)·tanh(c)`.
///
/// Returns false without touching anything when the CPU has no SIMD path or
/// the slices are shorter than `4·c.len()` / `c.len()`.
#[inline]
pub fn lstm_row(z: &[f32], x: &[f32], c: &mut [f32], h: &mut [f32]) -> bool {
    let u = c.len();
    if z.len() < 4 * u || x.len() < 4 * u || h.len() < u {
        return false;
    }
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        let cpu = crate::cpu();
        if cpu.avx512f {
            // SAFETY: the CPU has AVX-512F; the sizes were checked above.
            unsafe { x86::lstm_row_avx512(z, x, c, h) };
            return true;
        }
        if cpu.avx2_fma {
            // SAFETY: the CPU has AVX2 and FMA; the sizes were checked above.
            unsafe { x86::lstm_row(z, x, c, h) };
            return true;
        }
    }
    false
}
