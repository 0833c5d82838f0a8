//! Matrix products: the one GEMM path of Dense, Conv1D and the recurrent layers.
//!
//! * [`matmul`]: a general row-major product through the `gemm` crate (pure
//!   Rust, runtime-dispatched AVX2/AVX-512 micro-kernels), used for the input
//!   projection of a chunk of steps and for the per-step `h·U` with two rows
//!   or more. Measured against ndarray's `matrixmultiply` on this machine it
//!   is 1.2–2.4× faster on the shapes of an LSTM(100) (see docs/performance.md).
//! * [`Panels`] and [`gemv`]: `h·U` for a single row (batch 1, or one active
//!   row of a masked batch), with `U` packed once into column panels that one
//!   pass streams through, with eight independent accumulator registers (AVX2
//!   or AVX-512). `gemm` and
//!   `matrixmultiply` lose 2–8× here: their packing and blocking are made for
//!   larger products.

use crate::{cpu, KernelError, Result};

/// A row-major matrix view: `rows × cols` elements of `data`, row `r` starting
/// at `r * stride`.
#[derive(Debug, Clone, Copy)]
pub struct Mat<'a> {
    /// The elements.
    pub data: &'a [f32],
    /// Number of rows.
    pub rows: usize,
    /// Number of columns.
    pub cols: usize,
    /// Elements from the start of one row to the start of the next.
    pub stride: usize,
}

impl<'a> Mat<'a> {
    /// A dense row-major matrix.
    pub fn dense(data: &'a [f32], rows: usize, cols: usize) -> Self {
        Mat {
            data,
            rows,
            cols,
            stride: cols,
        }
    }

    /// Columns `start..start + cols` of this matrix.
    pub fn columns(self, start: usize, cols: usize) -> Self {
        Mat {
            data: self.data.get(start..).unwrap_or(&[]),
            rows: self.rows,
            cols,
            stride: self.stride,
        }
    }

    /// Whether `data` holds every element the view addresses.
    fn fits(&self) -> bool {
        self.rows == 0
            || self.cols == 0
            || (self.rows - 1)
                .checked_mul(self.stride)
                .and_then(|v| v.checked_add(self.cols))
                .is_some_and(|end| end <= self.data.len() && self.cols <= self.stride)
    }
}

/// `out = a·b` (or `out += a·b` with `accumulate`), all row-major: `a` is
/// `m × k` dense, `b` a `k × n` view, `out` `m × n` with row stride `out_stride`.
pub fn matmul(
    a: &[f32],
    m: usize,
    b: Mat<'_>,
    out: &mut [f32],
    out_stride: usize,
    accumulate: bool,
) -> Result<()> {
    matmul_views(Mat::dense(a, m, b.rows), b, out, out_stride, accumulate)
}

/// [`matmul`] with a strided `a` (`m × k`, row stride `a.stride`): a block of
/// columns of a larger matrix, as a grouped convolution multiplies.
pub fn matmul_views(
    a: Mat<'_>,
    b: Mat<'_>,
    out: &mut [f32],
    out_stride: usize,
    accumulate: bool,
) -> Result<()> {
    let (m, k, n) = (a.rows, b.rows, b.cols);
    let out_fits = m == 0
        || n == 0
        || ((m - 1)
            .checked_mul(out_stride)
            .and_then(|v| v.checked_add(n))
            .is_some_and(|end| end <= out.len())
            && n <= out_stride);
    if a.cols != k || !(a.fits() && b.fits() && out_fits) {
        return Err(KernelError(format!(
            "matrix product of [{m}, {}] by [{k}, {n}] on buffers of {}, {} and {} \
             elements",
            a.cols,
            a.data.len(),
            b.data.len(),
            out.len()
        )));
    }
    if m == 0 || n == 0 {
        return Ok(());
    }
    if k == 0 {
        if !accumulate {
            for row in out.chunks_mut(out_stride).take(m) {
                row.iter_mut().take(n).for_each(|v| *v = 0.0);
            }
        }
        return Ok(());
    }
    // SAFETY: the checks above guarantee that every element the product reads
    // (`a`: m rows of k at stride a.stride; `b`: k rows of n at stride b.stride) and writes (`out`:
    // m rows of n at stride out_stride) lies inside the given slices; `out` is
    // borrowed mutably, so it aliases neither input. Strides are in elements and
    // fit in `isize` because the slices exist.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out.as_mut_ptr(),
            1,
            out_stride as isize,
            accumulate,
            a.data.as_ptr(),
            1,
            a.stride as isize,
            b.data.as_ptr(),
            1,
            b.stride as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
    Ok(())
}

/// Bitwise equality of two slices, branch-free so that it vectorizes.
#[inline]
pub fn same_bits(a: &[f32], b: &[f32]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .fold(true, |same, (x, y)| same & (x.to_bits() == y.to_bits()))
}

/// Width of a column panel of [`Panels`]: eight AVX2 registers.
const PANEL: usize = 64;

/// 16 floats on one 64-byte cache line: the unit of [`Panels`]' storage, so
/// that every panel row starts on a cache line and no 64-byte load of the
/// AVX-512 kernel straddles two (measured: a misaligned copy of the same
/// panels made the batch-1 LSTM step 20 % slower).
#[repr(C, align(64))]
#[derive(Debug, Clone, Copy, Default)]
struct CacheLine([f32; 16]);

/// A `k × n` matrix packed for [`gemv`]: column panels of 64 columns,
/// each stored row after row (`k × 64`), aligned to cache lines; the last
/// panel only as wide as its columns rounded up to a cache line (16), so that
/// the one-row product reads no more than 15 padding columns per row (with
/// 64-wide padding the LSTM's 400 columns read as 448: 12 % more bytes from
/// L2 every step).
#[derive(Debug, Clone, Default)]
pub struct Panels {
    lines: Vec<CacheLine>,
    k: usize,
    n: usize,
}

impl Panels {
    /// Packs `b`.
    pub fn pack(b: Mat<'_>) -> Result<Self> {
        if !b.fits() {
            return Err(KernelError(format!(
                "cannot pack a [{}, {}] matrix from {} elements",
                b.rows,
                b.cols,
                b.data.len()
            )));
        }
        let (k, n) = (b.rows, b.cols);
        let floats: usize = (0..n).step_by(PANEL).map(|s| k * panel_width(n, s)).sum();
        let mut lines = vec![CacheLine::default(); floats / 16];
        let data = floats_mut(&mut lines);
        let mut offset = 0;
        for start in (0..n).step_by(PANEL) {
            let (stored, width) = (panel_width(n, start), PANEL.min(n - start));
            let panel = &mut data[offset..offset + k * stored];
            offset += k * stored;
            for (kk, dst) in panel.chunks_exact_mut(stored).enumerate() {
                let src = &b.data[kk * b.stride + start..kk * b.stride + start + width];
                dst[..width].copy_from_slice(src);
            }
        }
        Ok(Panels { lines, k, n })
    }

    /// `(k, n)`.
    pub fn dim(&self) -> (usize, usize) {
        (self.k, self.n)
    }

    /// The panels in column order: (first column, stored width, values).
    pub(crate) fn panels(&self) -> impl Iterator<Item = (usize, usize, &[f32])> + '_ {
        let (k, n, data) = (self.k, self.n, self.data());
        (0..n).step_by(PANEL).scan(0, move |offset, start| {
            let width = panel_width(n, start);
            let panel = &data[*offset..*offset + k * width];
            *offset += k * width;
            Some((start, width, panel))
        })
    }

    /// The packed values.
    fn data(&self) -> &[f32] {
        // SAFETY: `CacheLine` is `repr(C)` around `[f32; 16]` with size 64 and
        // no padding, so `lines` is `16 * len` initialised, contiguous f32s.
        unsafe {
            std::slice::from_raw_parts(self.lines.as_ptr().cast::<f32>(), self.lines.len() * 16)
        }
    }
}

/// The stored width of the panel starting at column `start` of `n`.
fn panel_width(n: usize, start: usize) -> usize {
    PANEL.min((n - start).div_ceil(16) * 16)
}

/// The floats of cache lines, mutably.
fn floats_mut(lines: &mut [CacheLine]) -> &mut [f32] {
    // SAFETY: as in `Panels::data`; the borrow is exclusive.
    unsafe { std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<f32>(), lines.len() * 16) }
}

/// `out[..n] = h[..k]·b` for one row `h`.
#[inline]
pub fn gemv(h: &[f32], b: &Panels, out: &mut [f32]) -> Result<()> {
    if h.len() < b.k || out.len() < b.n {
        return Err(KernelError(format!(
            "vector product of {} by [{}, {}] into {}",
            h.len(),
            b.k,
            b.n,
            out.len()
        )));
    }
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    if cpu().avx512f {
        // SAFETY: the CPU supports the target features `gemv_avx512` is compiled for.
        unsafe { gemv_avx512(h, b, out) };
        return Ok(());
    }
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    if cpu().avx2_fma {
        // SAFETY: the CPU supports the target features `gemv_avx2` is compiled for.
        unsafe { gemv_avx2(h, b, out) };
        return Ok(());
    }
    gemv_body::<false>(h, b, out);
    Ok(())
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[target_feature(enable = "avx2,fma")]
unsafe fn gemv_avx2(h: &[f32], b: &Panels, out: &mut [f32]) {
    gemv_body::<true>(h, b, out)
}

/// With AVX-512 one panel is four registers; two rows of the panel are summed
/// into two sets of accumulators, for eight independent chains (1.5 µs instead
/// of 1.8 µs for `[1, 100] × [100, 400]` on the reference machine).
#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[target_feature(enable = "avx512f,fma")]
unsafe fn gemv_avx512(h: &[f32], b: &Panels, out: &mut [f32]) {
    if b.k == 0 {
        out.iter_mut().take(b.n).for_each(|v| *v = 0.0);
        return;
    }
    for (start, width, panel) in b.panels() {
        let out = &mut out[start..(start + width).min(b.n)];
        match width {
            64 => pair_rows::<64>(h, panel, b.k, out),
            48 => pair_rows::<48>(h, panel, b.k, out),
            32 => pair_rows::<32>(h, panel, b.k, out),
            _ => pair_rows::<16>(h, panel, b.k, out),
        }
    }
}

/// One panel of width `W` (`k` rows) times `h`, two rows at a time into two
/// sets of accumulators.
#[inline(always)]
fn pair_rows<const W: usize>(h: &[f32], panel: &[f32], k: usize, out: &mut [f32]) {
    let (mut even, mut odd) = ([0f32; W], [0f32; W]);
    let mut pairs = panel.chunks_exact(2 * W);
    for (pair, hk) in (&mut pairs).zip(h.chunks_exact(2)) {
        let (r0, r1) = pair.split_at(W);
        for j in 0..W {
            even[j] = hk[0].mul_add(r0[j], even[j]);
            odd[j] = hk[1].mul_add(r1[j], odd[j]);
        }
    }
    if let (Some(&hk), true) = (h.get(k - 1), k % 2 == 1) {
        for (e, &w) in even.iter_mut().zip(pairs.remainder()) {
            *e = hk.mul_add(w, *e);
        }
    }
    for ((o, e), d) in out.iter_mut().zip(&even).zip(&odd) {
        *o = e + d;
    }
}

/// The panel loop; `FMA` selects fused multiply-adds (only where the CPU has them).
#[inline(always)]
pub(crate) fn gemv_body<const FMA: bool>(h: &[f32], b: &Panels, out: &mut [f32]) {
    if b.k == 0 {
        out.iter_mut().take(b.n).for_each(|v| *v = 0.0);
        return;
    }
    for (start, width, panel) in b.panels() {
        let out = &mut out[start..(start + width).min(b.n)];
        match width {
            64 => acc_rows::<64, FMA>(h, panel, out),
            48 => acc_rows::<48, FMA>(h, panel, out),
            32 => acc_rows::<32, FMA>(h, panel, out),
            _ => acc_rows::<16, FMA>(h, panel, out),
        }
    }
}

/// One panel of width `W` times `h`, one row at a time.
#[inline(always)]
fn acc_rows<const W: usize, const FMA: bool>(h: &[f32], panel: &[f32], out: &mut [f32]) {
    let mut acc = [0f32; W];
    for (row, &hk) in panel.chunks_exact(W).zip(h) {
        for (a, &w) in acc.iter_mut().zip(row) {
            *a = if FMA { hk.mul_add(w, *a) } else { *a + hk * w };
        }
    }
    out.copy_from_slice(&acc[..out.len()]);
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Naive `a·b` in f64.
    pub(crate) fn reference(a: &[f32], m: usize, k: usize, b: &[f32], n: usize) -> Vec<f64> {
        let mut out = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                out[i * n + j] = (0..k)
                    .map(|kk| a[i * k + kk] as f64 * b[kk * n + j] as f64)
                    .sum();
            }
        }
        out
    }

    /// `len` values in [-1, 1) that differ with `seed`.
    pub(crate) fn data(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn matmul_and_gemv_agree_with_a_naive_product() {
        for (m, k, n) in [
            (1, 100, 400),
            (3, 7, 130),
            (1, 1, 1),
            (1, 33, 70),
            (5, 64, 64),
            (2, 33, 65),
            // Last panels of 32 and 48 stored columns.
            (1, 5, 96),
            (1, 9, 100),
            (1, 4, 48),
        ] {
            let (a, b) = (data(m * k, 1), data(k * n, 2));
            let want = reference(&a, m, k, &b, n);
            let mut out = vec![0f32; m * n];
            matmul(&a, m, Mat::dense(&b, k, n), &mut out, n, false).unwrap();
            let err = out
                .iter()
                .zip(&want)
                .fold(0f64, |e, (&g, &w)| e.max((g as f64 - w).abs()));
            assert!(err < 1e-4, "matmul {m}x{k}x{n}: {err}");
            if m == 1 {
                let panels = Panels::pack(Mat::dense(&b, k, n)).unwrap();
                let mut out = vec![0f32; n];
                gemv(&a, &panels, &mut out).unwrap();
                let err = out
                    .iter()
                    .zip(&want)
                    .fold(0f64, |e, (&g, &w)| e.max((g as f64 - w).abs()));
                assert!(err < 1e-4, "gemv {k}x{n}: {err}");
            }
        }
    }

    #[test]
    fn matmul_accumulates_into_a_column_block() {
        // out (2×4, stride 4) columns 1..3 += a (2×2) · b[:, 2..4] of a 2×4 matrix.
        let a = [1.0, 2.0, 3.0, 4.0];
        let b = [1.0, 0.0, 5.0, 6.0, 0.0, 1.0, 7.0, 8.0];
        let mut out = [1.0f32; 8];
        matmul(
            &a,
            2,
            Mat::dense(&b, 2, 4).columns(2, 2),
            &mut out[1..],
            4,
            true,
        )
        .unwrap();
        // Row 0: [1,2]·[[5,6],[7,8]] = [19, 22]; row 1: [3,4]· = [43, 50]; plus 1.
        assert_eq!(out, [1.0, 20.0, 23.0, 1.0, 1.0, 44.0, 51.0, 1.0]);
    }

    #[test]
    fn bad_sizes_are_errors() {
        let mut out = [0f32; 4];
        assert!(matmul(
            &[1.0; 3],
            2,
            Mat::dense(&[1.0; 4], 2, 2),
            &mut out,
            2,
            false
        )
        .is_err());
        let panels = Panels::pack(Mat::dense(&[1.0; 4], 2, 2)).unwrap();
        assert!(gemv(&[1.0], &panels, &mut out).is_err());
    }
}
