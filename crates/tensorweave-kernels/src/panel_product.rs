//! `out = a·b` for any number of rows of `a` on a [`Panels`]-packed `b`: the
//! recurrent product of a batch, made without allocating (the `gemm` crate
//! allocates a small flag vector in every call, one allocation per step per
//! direction over a whole sequence).
//!
//! Each panel (64 columns, `k` rows, ≈ 25 KB for an LSTM(100)) is read from
//! L2 once and then stays in L1 while every block of rows passes over it. A
//! block is `R` rows by four vectors of columns (6 × 64 with AVX-512: 24
//! accumulator registers, as many as the `gemm` crate's own micro-kernel;
//! 3 × 32 with AVX2), one broadcast of `a` per row and four loads of `b` per
//! step of `k`. The depth is cut into slices of 128 rows so that a
//! panel slice fits in L1 whatever the number of units; each slice after the
//! first adds to what the earlier ones wrote. Without AVX2 the rows go one at
//! a time through the portable one-row loop.

use crate::gemm::{gemv, gemv_body, Panels};
use crate::{cpu, KernelError, Result};

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
use crate::cells::simd::{Avx2, Avx512, Simd};

/// Rows of `b` one pass over a panel reads before the next slice: 128 rows of
/// 64 floats are 32 KB, the L1 data cache of most x86 cores.
const DEPTH: usize = 128;

/// `out = a·b`: `a` is `m × k` dense (`k = b.dim().0`), `out` holds `m` rows of
/// `n = b.dim().1` values at row stride `out_stride`.
pub fn panel_product(
    a: &[f32],
    m: usize,
    b: &Panels,
    out: &mut [f32],
    out_stride: usize,
) -> Result<()> {
    let (k, n) = b.dim();
    let out_fits = m == 0
        || n == 0
        || ((m - 1)
            .checked_mul(out_stride)
            .and_then(|v| v.checked_add(n))
            .is_some_and(|end| end <= out.len())
            && n <= out_stride);
    if m.checked_mul(k).is_none_or(|len| len > a.len()) || !out_fits {
        return Err(KernelError(format!(
            "panel product of [{m}, {k}] by [{k}, {n}] on buffers of {} and {} elements \
             (row stride {out_stride})",
            a.len(),
            out.len()
        )));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if m == 1 {
        // One row: the vector product, two rows of the panel at a time.
        return gemv(&a[..k], b, &mut out[..n]);
    }
    if k == 0 {
        for row in out.chunks_mut(out_stride).take(m) {
            row.iter_mut().take(n).for_each(|v| *v = 0.0);
        }
        return Ok(());
    }
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        let cpu = cpu();
        if cpu.avx512f {
            // SAFETY: the CPU has AVX-512F; the sizes were checked above.
            unsafe { rows_avx512(a, m, b, out, out_stride) };
            return Ok(());
        }
        if cpu.avx2_fma {
            // SAFETY: the CPU has AVX2 and FMA; the sizes were checked above.
            unsafe { rows_avx2(a, m, b, out, out_stride) };
            return Ok(());
        }
    }
    let _ = cpu;
    rows_portable(a, m, b, out, out_stride);
    Ok(())
}

/// One row at a time through the portable one-row loop.
fn rows_portable(a: &[f32], m: usize, b: &Panels, out: &mut [f32], out_stride: usize) {
    let (k, n) = b.dim();
    for r in 0..m {
        let row = &mut out[r * out_stride..r * out_stride + n];
        gemv_body::<false>(&a[r * k..(r + 1) * k], b, row);
    }
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f,fma")]
unsafe fn rows_avx512(a: &[f32], m: usize, b: &Panels, out: &mut [f32], out_stride: usize) {
    rows::<Avx512, 6>(a, m, b, out, out_stride)
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
unsafe fn rows_avx2(a: &[f32], m: usize, b: &Panels, out: &mut [f32], out_stride: usize) {
    rows::<Avx2, 3>(a, m, b, out, out_stride)
}

/// Where one block's operands lie.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[derive(Clone, Copy)]
struct Block {
    /// First element of the block's first row of `a` at the slice's depth.
    a: *const f32,
    /// Row stride of `a`.
    a_stride: usize,
    /// Depth of the slice.
    depth: usize,
    /// First element of the block's columns in the slice's first panel row.
    panel: *const f32,
    /// Row stride of the panel (its stored width).
    panel_stride: usize,
    /// First output element of the block.
    out: *mut f32,
    /// Row stride of `out`.
    out_stride: usize,
    /// Output columns of the block that exist (the rest is panel padding).
    cols: usize,
    /// Whether to add to `out` (every depth slice after the first).
    accumulate: bool,
}

/// The panel loop: panels, then column blocks of four vectors, then depth
/// slices, then blocks of up to `R` rows.
///
/// # Safety
/// The CPU features of `S`; `a` holds `m × k` values and `out` `m` rows of `n`
/// at `out_stride` (checked by [`panel_product`]).
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[inline(always)]
unsafe fn rows<S: Simd, const R: usize>(
    a: &[f32],
    m: usize,
    b: &Panels,
    out: &mut [f32],
    out_stride: usize,
) {
    let (k, n) = b.dim();
    let block_width = 4 * S::LANES;
    for (start, width, panel) in b.panels() {
        let valid = (n - start).min(width);
        let mut c0 = 0;
        while c0 < valid {
            let vectors = (width - c0).min(block_width) / S::LANES;
            let cols = (valid - c0).min(vectors * S::LANES);
            let mut d0 = 0;
            while d0 < k {
                let depth = (k - d0).min(DEPTH);
                let mut r0 = 0;
                while r0 < m {
                    let rows = (m - r0).min(R);
                    let block = Block {
                        a: a.as_ptr().add(r0 * k + d0),
                        a_stride: k,
                        depth,
                        panel: panel.as_ptr().add(d0 * width + c0),
                        panel_stride: width,
                        out: out.as_mut_ptr().add(r0 * out_stride + start + c0),
                        out_stride,
                        cols,
                        accumulate: d0 > 0,
                    };
                    tile_of::<S>(rows, vectors, block);
                    r0 += rows;
                }
                d0 += depth;
            }
            c0 += vectors * S::LANES;
        }
    }
}

/// Calls the tile of `rows × vectors` (1..=6 × 1..=4).
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[inline(always)]
unsafe fn tile_of<S: Simd>(rows: usize, vectors: usize, block: Block) {
    macro_rules! by_vectors {
        ($r:literal) => {
            match vectors {
                4 => tile::<S, $r, 4>(block),
                3 => tile::<S, $r, 3>(block),
                2 => tile::<S, $r, 2>(block),
                _ => tile::<S, $r, 1>(block),
            }
        };
    }
    match rows {
        6 => by_vectors!(6),
        5 => by_vectors!(5),
        4 => by_vectors!(4),
        3 => by_vectors!(3),
        2 => by_vectors!(2),
        _ => by_vectors!(1),
    }
}

/// `R` rows by `V` vectors of columns over one depth slice, the accumulators
/// in registers.
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[inline(always)]
unsafe fn tile<S: Simd, const R: usize, const V: usize>(block: Block) {
    let lanes = S::LANES;
    let mut acc = [[S::splat(0.0); V]; R];
    if block.accumulate {
        for (r, acc) in acc.iter_mut().enumerate() {
            for (v, acc) in acc.iter_mut().enumerate() {
                let cols = block.cols.saturating_sub(v * lanes);
                let at = block.out.add(r * block.out_stride + v * lanes);
                *acc = S::load(at, S::mask(cols));
            }
        }
    }
    for d in 0..block.depth {
        let row = block.panel.add(d * block.panel_stride);
        let mut w = [S::splat(0.0); V];
        for (v, w) in w.iter_mut().enumerate() {
            *w = S::loadu(row.add(v * lanes));
        }
        for (r, acc) in acc.iter_mut().enumerate() {
            let x = S::splat(*block.a.add(r * block.a_stride + d));
            for (acc, &w) in acc.iter_mut().zip(&w) {
                *acc = S::fmadd(x, w, *acc);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        for (v, &acc) in acc.iter().enumerate() {
            let cols = block.cols.saturating_sub(v * lanes);
            if cols > 0 {
                let at = block.out.add(r * block.out_stride + v * lanes);
                S::store(at, S::mask(cols), acc);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gemm::tests::{data, reference};
    use crate::Mat;

    /// Against a naive product in f64, for row counts around the block of 6
    /// and 3, widths with every kind of last panel, depths across a slice.
    #[test]
    fn agrees_with_a_naive_product() {
        for (m, k, n) in [
            (2, 100, 400),
            (32, 100, 400),
            (32, 100, 300),
            (7, 5, 96),
            (13, 9, 100),
            (5, 300, 70),
            (6, 1, 16),
            (1, 33, 65),
            (4, 129, 48),
        ] {
            let (a, b) = (data(m * k, 1), data(k * n, 2));
            let panels = Panels::pack(Mat::dense(&b, k, n)).unwrap();
            let stride = n + 3;
            let want = reference(&a, m, k, &b, n);
            for (path, out) in each_path(&a, m, &panels, stride) {
                check(&format!("{path} {m}x{k}x{n}"), &out, &want, m, n, stride);
            }
        }
    }

    /// The product by every code path this CPU runs, into `m` rows of
    /// `stride` NaNs.
    fn each_path(a: &[f32], m: usize, b: &Panels, stride: usize) -> Vec<(&'static str, Vec<f32>)> {
        let fresh = || vec![f32::NAN; m * stride];
        let mut outs = Vec::new();
        let mut out = fresh();
        panel_product(a, m, b, &mut out, stride).unwrap();
        outs.push(("dispatched", out));
        let mut out = fresh();
        rows_portable(a, m, b, &mut out, stride);
        outs.push(("portable", out));
        #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
        {
            if cpu().avx2_fma {
                let mut out = fresh();
                // SAFETY: the CPU has AVX2 and FMA; the sizes fit (as checked
                // by the dispatched call above).
                unsafe { rows_avx2(a, m, b, &mut out, stride) };
                outs.push(("avx2", out));
            }
            if cpu().avx512f {
                let mut out = fresh();
                // SAFETY: as above, with AVX-512F.
                unsafe { rows_avx512(a, m, b, &mut out, stride) };
                outs.push(("avx512", out));
            }
        }
        outs
    }

    /// `out` (row stride `stride`) against `want` (`m × n`), padding columns
    /// untouched.
    fn check(what: &str, out: &[f32], want: &[f64], m: usize, n: usize, stride: usize) {
        for i in 0..m {
            for j in 0..stride {
                let got = out[i * stride + j];
                if j >= n {
                    assert!(got.is_nan(), "{what}: padding ({i}, {j}) written");
                    continue;
                }
                let want = want[i * n + j];
                assert!(
                    (got as f64 - want).abs() < 1e-4 * (1.0 + want.abs()),
                    "{what} ({i}, {j}): {got} against {want}"
                );
            }
        }
    }

    #[test]
    fn bad_sizes_are_errors() {
        let panels = Panels::pack(Mat::dense(&[1.0; 6], 2, 3)).unwrap();
        let mut out = [0f32; 6];
        assert!(panel_product(&[1.0; 3], 2, &panels, &mut out, 3).is_err());
        assert!(panel_product(&[1.0; 4], 2, &panels, &mut out[..5], 3).is_err());
        assert!(panel_product(&[1.0; 4], 2, &panels, &mut out, 2).is_err());
        assert!(panel_product(&[1.0; 4], 2, &panels, &mut out, 3).is_ok());
        assert_eq!(out, [2.0; 6]);
    }
}
