//! The vector operations the fused cell updates are written in, for 8 lanes
//! (AVX2/FMA) and 16 lanes (AVX-512F): one generic kernel per cell
//! (`cells/x86.rs`) compiles to both.
//!
//! The activations are the formulas of [`crate::math`] in intrinsics: `e^x`
//! by a degree-6 polynomial after range reduction, sigmoid as `1 / (1 + e^-x)`
//! with the reciprocal by `rcp` (`rcp14` on AVX-512) and one Newton step,
//! exactly 1 where `1 + e^-x` rounds to 1 (as the division gives), tanh as
//! `2σ(2x) − 1`. Sigmoid is within 3e-7 and tanh within 4e-7 of the exact
//! values (the tests below check both widths); NaN inputs give NaN.
//!
//! The functions have no `target_feature` of their own: they are
//! `#[inline(always)]` and only called from kernels compiled with the
//! features of their width, where the intrinsics inline.

#[cfg(target_arch = "x86")]
use std::arch::x86::*;
#[cfg(target_arch = "x86_64")]
use std::arch::x86_64::*;

/// A SIMD width: lanes, a lane mask for the tail, loads and stores under that
/// mask (masked-off lanes read as zero and are not written), arithmetic and
/// the two activations.
///
/// # Safety
/// Every method requires the CPU features of the implementing width, and the
/// pointer methods valid memory for the lanes the mask selects.
pub(crate) trait Simd {
    /// Lanes per vector.
    const LANES: usize;
    /// A vector of `LANES` floats.
    type V: Copy;
    /// Which lanes a load or store touches.
    type M: Copy;
    /// The first `min(n, LANES)` lanes.
    unsafe fn mask(n: usize) -> Self::M;
    /// Loads the masked lanes at `p` (zeros elsewhere).
    unsafe fn load(p: *const f32, m: Self::M) -> Self::V;
    /// Loads all lanes at `p`.
    unsafe fn loadu(p: *const f32) -> Self::V;
    /// Stores the masked lanes at `p`.
    unsafe fn store(p: *mut f32, m: Self::M, v: Self::V);
    /// Every lane `x`.
    unsafe fn splat(x: f32) -> Self::V;
    /// `a + b`.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// `a − b`.
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// `a · b`.
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// `a · b + c`, rounded once.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `1 / (1 + e^-x)`.
    unsafe fn sigmoid(x: Self::V) -> Self::V;
    /// `tanh x = 2σ(2x) − 1`.
    #[inline(always)]
    unsafe fn tanh(x: Self::V) -> Self::V {
        let s = Self::sigmoid(Self::add(x, x));
        Self::sub(Self::add(s, s), Self::splat(1.0))
    }
}

/// 8 lanes, AVX2 and FMA.
pub(crate) struct Avx2;

/// 16 lanes, AVX-512F.
pub(crate) struct Avx512;

/// The coefficients of the `e^r` polynomial on `|r| ≤ ln2/2` (highest first,
/// after the leading 1.987_569_1e-4).
const EXP_POLY: [f32; 5] = [1.398_2e-3, 8.333_452e-3, 4.166_579_6e-2, 0.166_666_65, 0.5];
/// `ln 2` split in a high part exact in f32 and the rest.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;

/// `e^x` on 8 lanes; `2^n` by building the exponent bits.
#[inline(always)]
unsafe fn exp8(x: __m256) -> __m256 {
    // max/min with x second propagate a NaN x.
    let y = _mm256_min_ps(
        _mm256_set1_ps(88.0),
        _mm256_max_ps(_mm256_set1_ps(-87.0), x),
    );
    let round = _mm256_set1_ps(12_582_912.0);
    let t = _mm256_fmadd_ps(y, _mm256_set1_ps(std::f32::consts::LOG2_E), round);
    let n = _mm256_sub_ps(t, round);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_HI), y);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(LN2_LO), r);
    let mut p = _mm256_set1_ps(1.987_569_1e-4);
    for c in EXP_POLY {
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

impl Simd for Avx2 {
    const LANES: usize = 8;
    type V = __m256;
    type M = __m256i;

    #[inline(always)]
    unsafe fn mask(n: usize) -> __m256i {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n.min(8) as i32), idx)
    }
    #[inline(always)]
    unsafe fn load(p: *const f32, m: __m256i) -> __m256 {
        _mm256_maskload_ps(p, m)
    }
    #[inline(always)]
    unsafe fn loadu(p: *const f32) -> __m256 {
        _mm256_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, m: __m256i, v: __m256) {
        _mm256_maskstore_ps(p, m, v)
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m256 {
        _mm256_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        _mm256_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        _mm256_sub_ps(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        _mm256_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn sigmoid(x: __m256) -> __m256 {
        let d = _mm256_add_ps(
            _mm256_set1_ps(1.0),
            exp8(_mm256_xor_ps(x, _mm256_set1_ps(-0.0))),
        );
        let r = _mm256_rcp_ps(d);
        // r·(2 − d·r)
        let r = _mm256_mul_ps(r, _mm256_fnmadd_ps(d, r, _mm256_set1_ps(2.0)));
        // d = 1 (x > 17): exactly 1 (the Newton step leaves 1 − 2⁻²⁴).
        let one = _mm256_cmp_ps::<_CMP_EQ_OQ>(d, _mm256_set1_ps(1.0));
        _mm256_blendv_ps(r, _mm256_set1_ps(1.0), one)
    }
}

/// `e^x` on 16 lanes; `scalef` applies `2^n`.
#[inline(always)]
unsafe fn exp16(x: __m512) -> __m512 {
    let y = _mm512_min_ps(
        _mm512_set1_ps(88.0),
        _mm512_max_ps(_mm512_set1_ps(-87.0), x),
    );
    let n = _mm512_roundscale_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(
        _mm512_mul_ps(y, _mm512_set1_ps(std::f32::consts::LOG2_E)),
    );
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_HI), y);
    let r = _mm512_fnmadd_ps(n, _mm512_set1_ps(LN2_LO), r);
    let mut p = _mm512_set1_ps(1.987_569_1e-4);
    for c in EXP_POLY {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
    }
    let e = _mm512_add_ps(
        _mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r),
        _mm512_set1_ps(1.0),
    );
    _mm512_scalef_ps(e, n)
}

impl Simd for Avx512 {
    const LANES: usize = 16;
    type V = __m512;
    type M = __mmask16;

    #[inline(always)]
    unsafe fn mask(n: usize) -> __mmask16 {
        if n >= 16 {
            0xFFFF
        } else {
            (1u16 << n) - 1
        }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32, m: __mmask16) -> __m512 {
        _mm512_maskz_loadu_ps(m, p)
    }
    #[inline(always)]
    unsafe fn loadu(p: *const f32) -> __m512 {
        _mm512_loadu_ps(p)
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, m: __mmask16, v: __m512) {
        _mm512_mask_storeu_ps(p, m, v)
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> __m512 {
        _mm512_set1_ps(x)
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        _mm512_add_ps(a, b)
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        _mm512_sub_ps(a, b)
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        _mm512_mul_ps(a, b)
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline(always)]
    unsafe fn sigmoid(x: __m512) -> __m512 {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Applies sigmoid and tanh of width `S` to `xs` (a multiple of the
    /// lanes), through memory.
    #[inline(always)]
    unsafe fn both<S: Simd>(xs: &[f32]) -> (Vec<f32>, Vec<f32>) {
        let (mut s, mut t) = (vec![0f32; xs.len()], vec![0f32; xs.len()]);
        let m = S::mask(S::LANES);
        for k in (0..xs.len()).step_by(S::LANES) {
            let v = S::load(xs.as_ptr().add(k), m);
            S::store(s.as_mut_ptr().add(k), m, S::sigmoid(v));
            S::store(t.as_mut_ptr().add(k), m, S::tanh(v));
        }
        (s, t)
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn both8(xs: &[f32]) -> (Vec<f32>, Vec<f32>) {
        both::<Avx2>(xs)
    }

    #[target_feature(enable = "avx512f")]
    unsafe fn both16(xs: &[f32]) -> (Vec<f32>, Vec<f32>) {
        both::<Avx512>(xs)
    }

    /// Sigmoid and tanh of a slice, by one width.
    type Activations = unsafe fn(&[f32]) -> (Vec<f32>, Vec<f32>);

    fn check(run: Activations) {
        let xs: Vec<f32> = (-200_000..200_000).map(|i| i as f32 * 1e-4).collect();
        // SAFETY: callers checked the CPU features; lengths are multiples of 16.
        let (s, t) = unsafe { run(&xs) };
        let (mut es, mut et) = (0f64, 0f64);
        for ((&x, &s), &t) in xs.iter().zip(&s).zip(&t) {
            let xd = x as f64;
            es = es.max((s as f64 - 1.0 / (1.0 + (-xd).exp())).abs());
            et = et.max((t as f64 - xd.tanh()).abs());
        }
        assert!(es < 3e-7, "sigmoid error {es}");
        assert!(et < 4e-7, "tanh error {et}");
        let mut ext = [0f32; 16];
        ext[..8].copy_from_slice(&[-1e3, 1e3, -90.0, 90.0, f32::NAN, 0.0, -1e30, 1e30]);
        ext[8..].copy_from_slice(&[-1e3, 1e3, 0.0, f32::NAN, 1e-3, -1e-3, 20.0, -20.0]);
        // SAFETY: as above.
        let (s, t) = unsafe { run(&ext) };
        // Far below zero the result is 0 or, with `rcp14`, the subnormal
        // 1/e^88 = 6e-39; far above it is exactly 1.
        for k in [0, 2, 6] {
            assert!(
                (0.0..1e-38).contains(&s[k]),
                "sigmoid({}) = {}",
                ext[k],
                s[k]
            );
        }
        assert_eq!((s[1], s[3], s[7]), (1.0, 1.0, 1.0));
        assert!(s[4].is_nan());
        assert!((s[5] - 0.5).abs() < 1e-7);
        assert_eq!(&t[8..10], &[-1.0, 1.0]);
        assert!(t[10].abs() < 2e-7);
        assert!(t[11].is_nan());
        assert!((t[12] as f64 - 1e-3f64.tanh()).abs() < 2e-7);
        assert_eq!(&t[14..], &[1.0, -1.0]);
    }

    #[test]
    fn activations_match_f64_on_8_lanes() {
        if crate::cpu().avx2_fma {
            check(both8);
        }
    }

    #[test]
    fn activations_match_f64_on_16_lanes() {
        if crate::cpu().avx512f {
            check(both16);
        }
    }

    #[test]
    fn masks_select_the_first_lanes() {
        if !crate::cpu().avx512f {
            return;
        }
        #[target_feature(enable = "avx512f")]
        unsafe fn partial(n: usize) -> [f32; 16] {
            let mut out = [-1f32; 16];
            let src: [f32; 16] = std::array::from_fn(|i| i as f32);
            let m = Avx512::mask(n);
            Avx512::store(out.as_mut_ptr(), m, Avx512::load(src.as_ptr(), m));
            out
        }
        // SAFETY: AVX-512F checked above.
        let out = unsafe { partial(5) };
        assert_eq!(&out[..5], &[0.0, 1.0, 2.0, 3.0, 4.0]);
        assert!(out[5..].iter().all(|&v| v == -1.0));
    }
}
