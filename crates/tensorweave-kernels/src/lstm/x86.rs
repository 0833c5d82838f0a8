//! The x86 intrinsics of the LSTM update (AVX2/FMA, and AVX-512F where the
//! CPU has it).
//!
//! The AVX-512 intrinsics and target feature are stable since Rust 1.89 (as
//! is the `x86-v4` feature of the `gemm` crate), the workspace's declared
//! `rust-version`.
//!
//! The element-wise update costs five activations per unit; written for the
//! compiler to vectorize, their divisions (about one per five cycles) and the
//! scalar tail of `units % 8` made it a third of a batch-32 step. Here every
//! unit takes 8-wide vectors (the tail through masked loads and stores), the
//! reciprocals are `rcp` plus one Newton step, the polynomial uses fused
//! multiply-adds, and tanh is `2σ(2x) − 1`. Same formulas as [`crate::math`]:
//! sigmoid within 3e-7 and tanh within 4e-7 of the exact values (tests below
//! compare the two paths). NaN inputs give NaN.

#[cfg(target_arch = "x86")]
use std::arch::x86::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// Whether this CPU can run [`lstm_row`].
#[cfg(test)]
fn available() -> bool {
    crate::cpu().avx2_fma
}

/// `e^x`, as [`crate::math::exp`].
#[inline(always)]
unsafe fn exp(x: __m256) -> __m256 {
    // max/min with x second propagate a NaN x.
    let y = _mm256_min_ps(
        _mm256_set1_ps(88.0),
        _mm256_max_ps(_mm256_set1_ps(-87.0), x),
    );
    let round = _mm256_set1_ps(12_582_912.0);
    let t = _mm256_fmadd_ps(y, _mm256_set1_ps(std::f32::consts::LOG2_E), round);
    let n = _mm256_sub_ps(t, round);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693_359_4), y);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    for c in [1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    }
    let e = _mm256_add_ps(
        _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r),
        _mm256_set1_ps(1.0),
    );
    let bits = _mm256_slli_epi32::<23>(_mm256_sub_epi32(
        _mm256_castps_si256(t),
        _mm256_set1_epi32(0x4B40_0000 - 127),
    ));
    _mm256_mul_ps(e, _mm256_castsi256_ps(bits))
}

/// `1 / (1 + e^-x)`, the reciprocal by `rcp` and one Newton step.
#[inline(always)]
unsafe fn sigmoid(x: __m256) -> __m256 {
    let d = _mm256_add_ps(
        _mm256_set1_ps(1.0),
        exp(_mm256_xor_ps(x, _mm256_set1_ps(-0.0))),
    );
    let r = _mm256_rcp_ps(d);
    // r·(2 − d·r)
    let r = _mm256_mul_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(2.0)));
    // d = 1 (x > 17): exactly 1, as the division gives (the Newton step
    // leaves 1 − 2⁻²⁴).
    let one = _mm256_cmp_ps::<_CMP_EQ_OQ>(d, _mm256_set1_ps(1.0));
    _mm256_blendv_ps(r, _mm256_set1_ps(1.0), one)
}

/// `tanh(x) = 2σ(2x) − 1`.
#[inline(always)]
unsafe fn tanh(x: __m256) -> __m256 {
    let s = sigmoid(_mm256_add_ps(x, x));
    _mm256_fmsub_ps(s, _mm256_set1_ps(2.0), _mm256_set1_ps(1.0))
}

/// Lane mask for the first `n` (≤ 8) lanes.
#[inline(always)]
unsafe fn lanes(n: usize) -> __m256i {
    let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx)
}

/// The LSTM update of one row: `z` = `h·U` (`4u`), `x` = input projection
/// (`4u`), `c` and `h` (`u`) updated in place.
///
/// # Safety
/// The CPU must support AVX2 and FMA ([`available`]); `z` and `x` must hold at
/// least `4·c.len()` values and `h` at least `c.len()`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn lstm_row(z: &[f32], x: &[f32], c: &mut [f32], h: &mut [f32]) {
    let u = c.len();
    debug_assert!(z.len() >= 4 * u && x.len() >= 4 * u && h.len() >= u);
    let (zp, xp, cp, hp) = (z.as_ptr(), x.as_ptr(), c.as_mut_ptr(), h.as_mut_ptr());
    let mut j = 0;
    while j < u {
        let m = lanes(u - j);
        macro_rules! gate {
            ($g:expr) => {
                _mm256_add_ps(
                    _mm256_maskload_ps(zp.add($g * u + j), m),
                    _mm256_maskload_ps(xp.add($g * u + j), m),
                )
            };
        }
        let i = sigmoid(gate!(0));
        let f = sigmoid(gate!(1));
        let g = tanh(gate!(2));
        let o = sigmoid(gate!(3));
        let cn = _mm256_fmadd_ps(f, _mm256_maskload_ps(cp.add(j), m), _mm256_mul_ps(i, g));
        _mm256_maskstore_ps(cp.add(j), m, cn);
        _mm256_maskstore_ps(hp.add(j), m, _mm256_mul_ps(o, tanh(cn)));
        j += 8;
    }
}

/// Whether this CPU can run [`lstm_row_avx512`].
#[cfg(test)]
fn available_avx512() -> bool {
    crate::cpu().avx512f
}

/// `e^x` on 16 lanes, as [`exp`]; `scalef` applies `2^n`.
#[inline(always)]
unsafe fn exp16(x: __m512) -> __m512 {
    let y = _mm512_min_ps(
        _mm512_set1_ps(88.0),
        _mm512_max_ps(_mm512_set1_ps(-87.0), x),
    );
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(y, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693_359_4), y);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.121_944_4e-4), r);
    let mut p = _mm512_set1_ps(1.987_569_1e-4);
    for c in [1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
    }
    let e = _mm512_add_ps(
        _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r),
        _mm512_set1_ps(1.0),
    );
    _mm512_scalef_ps(e, n)
}

/// Sigmoid on 16 lanes: `rcp14` and one Newton step, exactly 1 where `1 + e^-x`
/// rounds to 1.
#[inline(always)]
unsafe fn sigmoid16(x: __m512) -> __m512 {
    let neg = _mm512_castsi512_ps(_mm512_xor_si512(
        _mm512_castps_si512(x),
        _mm512_set1_epi32(i32::MIN),
    ));
    let d = _mm512_add_ps(_mm512_set1_ps(1.0), exp16(neg));
    let r = _mm512_rcp14_ps(d);
    let r = _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0)));
    let one = _mm512_cmp_ps_mask::<_CMP_EQ_OQ>(d, _mm512_set1_ps(1.0));
    _mm512_mask_blend_ps(one, r, _mm512_set1_ps(1.0))
}

/// `tanh(x) = 2σ(2x) − 1` on 16 lanes.
#[inline(always)]
unsafe fn tanh16(x: __m512) -> __m512 {
    let s = sigmoid16(_mm512_add_ps(x, x));
    _mm512_fmsub_ps(s, _mm512_set1_ps(2.0), _mm512_set1_ps(1.0))
}

/// [`lstm_row`] on 16 lanes.
///
/// # Safety
/// The CPU must support AVX-512F ([`available_avx512`]); sizes as for [`lstm_row`].
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn lstm_row_avx512(z: &[f32], x: &[f32], c: &mut [f32], h: &mut [f32]) {
    let u = c.len();
    debug_assert!(z.len() >= 4 * u && x.len() >= 4 * u && h.len() >= u);
    let (zp, xp, cp, hp) = (z.as_ptr(), x.as_ptr(), c.as_mut_ptr(), h.as_mut_ptr());
    let mut j = 0;
    while j < u {
        let m: __mmask16 = if u - j >= 16 {
            0xFFFF
        } else {
            (1u16 << (u - j)) - 1
        };
        macro_rules! gate {
            ($g:expr) => {
                _mm512_add_ps(
                    _mm512_maskz_loadu_ps(m, zp.add($g * u + j)),
                    _mm512_maskz_loadu_ps(m, xp.add($g * u + j)),
                )
            };
        }
        let i = sigmoid16(gate!(0));
        let f = sigmoid16(gate!(1));
        let g = tanh16(gate!(2));
        let o = sigmoid16(gate!(3));
        let cn = _mm512_fmadd_ps(f, _mm512_maskz_loadu_ps(m, cp.add(j)), _mm512_mul_ps(i, g));
        _mm512_mask_storeu_ps(cp.add(j), m, cn);
        _mm512_mask_storeu_ps(hp.add(j), m, _mm512_mul_ps(o, tanh16(cn)));
        j += 16;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(f: unsafe fn(__m256) -> __m256, x: [f32; 8]) -> [f32; 8] {
        let mut out = [0f32; 8];
        // SAFETY: only called after `available()`.
        unsafe { _mm256_storeu_ps(out.as_mut_ptr(), f(_mm256_loadu_ps(x.as_ptr()))) };
        out
    }

    #[test]
    fn activations_match_f64() {
        if !available() {
            return;
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn sig(x: __m256) -> __m256 {
            sigmoid(x)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn th(x: __m256) -> __m256 {
            tanh(x)
        }
        let (mut es, mut et) = (0f64, 0f64);
        for i in -25_000..25_000 {
            let x: [f32; 8] = std::array::from_fn(|l| (i * 8 + l as i32) as f32 * 1e-4);
            let (s, t) = (apply(sig, x), apply(th, x));
            for l in 0..8 {
                let xd = x[l] as f64;
                es = es.max((s[l] as f64 - 1.0 / (1.0 + (-xd).exp())).abs());
                et = et.max((t[l] as f64 - xd.tanh()).abs());
            }
        }
        assert!(es < 3e-7, "sigmoid error {es}");
        assert!(et < 4e-7, "tanh error {et}");
        let ext = apply(sig, [-1e3, 1e3, -90.0, 90.0, f32::NAN, 0.0, -1e30, 1e30]);
        assert_eq!(&ext[..4], &[0.0, 1.0, 0.0, 1.0]);
        assert!(ext[4].is_nan());
        assert!((ext[5] - 0.5).abs() < 1e-7);
        assert_eq!(&ext[6..], &[0.0, 1.0]);
        let ext = apply(th, [-1e3, 1e3, 0.0, f32::NAN, 1e-3, -1e-3, 20.0, -20.0]);
        assert_eq!(&ext[..2], &[-1.0, 1.0]);
        assert!(ext[2].abs() < 2e-7);
        assert!(ext[3].is_nan());
        assert!((ext[4] as f64 - 1e-3f64.tanh()).abs() < 2e-7);
        assert_eq!(&ext[6..], &[1.0, -1.0]);
    }

    #[test]
    fn row_update_matches_the_portable_formulas() {
        if !available() {
            return;
        }
        use crate::math;
        for u in [1usize, 5, 8, 13, 100] {
            let z: Vec<f32> = (0..4 * u)
                .map(|i| ((i * 37 % 41) as f32 - 20.0) / 5.0)
                .collect();
            let x: Vec<f32> = (0..4 * u)
                .map(|i| ((i * 13 % 17) as f32 - 8.0) / 3.0)
                .collect();
            let c0: Vec<f32> = (0..u).map(|i| (i as f32 - 3.0) / 2.0).collect();
            let (mut c, mut h) = (c0.clone(), vec![0f32; u]);
            // SAFETY: checked `available()`; sizes as required.
            unsafe { lstm_row(&z, &x, &mut c, &mut h) };
            if available_avx512() {
                let (mut c2, mut h2) = (c0.clone(), vec![0f32; u]);
                // SAFETY: checked `available_avx512()`; sizes as required.
                unsafe { lstm_row_avx512(&z, &x, &mut c2, &mut h2) };
                for j in 0..u {
                    assert!(
                        (c2[j] - c[j]).abs() <= 1e-6 * c[j].abs().max(1.0),
                        "u={u} c[{j}]"
                    );
                    assert!((h2[j] - h[j]).abs() <= 1e-6, "u={u} h[{j}]");
                }
            }
            for j in 0..u {
                let v = |g: usize| (z[g * u + j] + x[g * u + j]) as f64;
                let s = |v: f64| 1.0 / (1.0 + (-v).exp());
                let cn = s(v(1)) * c0[j] as f64 + s(v(0)) * v(2).tanh();
                let hn = s(v(3)) * cn.tanh();
                // c reaches ±50 here, where an f32 ulp is 4e-6.
                assert!(
                    (c[j] as f64 - cn).abs() < 1e-6 * cn.abs().max(1.0),
                    "u={u} c[{j}]"
                );
                assert!((h[j] as f64 - hn).abs() < 1e-6, "u={u} h[{j}]");
                assert!((math::tanh(cn as f32) as f64 - cn.tanh()).abs() < 1e-6);
            }
        }
    }
}
