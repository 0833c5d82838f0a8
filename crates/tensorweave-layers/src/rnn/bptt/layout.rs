//! Where the valid (step, row) pairs of a masked sequence live in the
//! training buffers: *entries*, numbered in processing order, step after
//! step, the valid rows of each step in batch order. Every per-step array of
//! the training pass has one row per entry, so masked steps take neither
//! memory nor work, and the rows of one step are contiguous.

use std::ops::Range;

use ndarray::{ArrayView2, ArrayView3};

/// The entries of one sequence (see the module documentation).
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    batch: usize,
    steps: usize,
    go_backwards: bool,
    /// Entries of processing step `k`: `offsets[k]..offsets[k + 1]`.
    offsets: Vec<usize>,
    /// The batch row of each entry.
    rows: Vec<usize>,
    /// Whether row `r` is valid at processing step `k`: `valid[k * batch + r]`.
    valid: Vec<bool>,
    /// The first processing step at which each row is valid (`steps` if none).
    first_valid: Vec<usize>,
}

impl Layout {
    /// The entries of a `[batch, steps]` sequence under `mask` (true = valid;
    /// no mask: every step of every row), processed from the last step to the
    /// first with `go_backwards`.
    pub(crate) fn new(
        batch: usize,
        steps: usize,
        mask: Option<&ArrayView2<'_, bool>>,
        go_backwards: bool,
    ) -> Self {
        let mut layout = Layout {
            batch,
            steps,
            go_backwards,
            offsets: Vec::with_capacity(steps + 1),
            rows: Vec::new(),
            valid: Vec::with_capacity(batch * steps),
            first_valid: vec![steps; batch],
        };
        layout.offsets.push(0);
        for k in 0..steps {
            let t = layout.time(k);
            for r in 0..batch {
                let valid = mask.is_none_or(|m| m[[r, t]]);
                layout.valid.push(valid);
                if valid {
                    layout.rows.push(r);
                    layout.first_valid[r] = layout.first_valid[r].min(k);
                }
            }
            layout.offsets.push(layout.rows.len());
        }
        layout
    }

    /// The batch size.
    pub(crate) fn batch(&self) -> usize {
        self.batch
    }

    /// The number of steps.
    pub(crate) fn steps(&self) -> usize {
        self.steps
    }

    /// The number of entries (valid pairs).
    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    /// The time index of processing step `k`.
    pub(crate) fn time(&self, k: usize) -> usize {
        if self.go_backwards {
            self.steps - 1 - k
        } else {
            k
        }
    }

    /// The entries of processing step `k` and their batch rows.
    pub(crate) fn step(&self, k: usize) -> (Range<usize>, &[usize]) {
        let e = self.offsets[k]..self.offsets[k + 1];
        let rows = &self.rows[e.clone()];
        (e, rows)
    }

    /// Whether row `r` is valid at processing step `k`.
    pub(crate) fn valid(&self, k: usize, r: usize) -> bool {
        self.valid[k * self.batch + r]
    }

    /// Whether row `r`'s output at processing step `k` is zeros rather than
    /// its state: at a masked step before the row's first valid one (the
    /// previous output starts at zeros, whatever the initial state), or at
    /// any masked step with `zero_output_for_mask`.
    pub(crate) fn output_is_zero(&self, k: usize, r: usize, zero_output_for_mask: bool) -> bool {
        !self.valid(k, r) && (zero_output_for_mask || self.first_valid[r] > k)
    }

    /// The input vector of every entry, `[entries, features]` row-major.
    pub(crate) fn gather(&self, x: &ArrayView3<'_, f32>) -> Vec<f32> {
        let features = x.dim().2;
        let mut out = Vec::with_capacity(self.len() * features);
        for k in 0..self.steps {
            let t = self.time(k);
            for &r in self.step(k).1 {
                out.extend(x.slice(ndarray::s![r, t, ..]).iter());
            }
        }
        out
    }

    /// The inverse of [`Layout::gather`]: entry rows of `values`
    /// (`[entries, features]`) into a zeroed `[batch, steps, features]` array.
    pub(crate) fn scatter(&self, values: &[f32], features: usize) -> ndarray::Array3<f32> {
        let mut out = ndarray::Array3::zeros((self.batch, self.steps, features));
        for k in 0..self.steps {
            let t = self.time(k);
            let (e, rows) = self.step(k);
            for (entry, &r) in e.zip(rows) {
                let src = &values[entry * features..(entry + 1) * features];
                out.slice_mut(ndarray::s![r, t, ..])
                    .iter_mut()
                    .zip(src)
                    .for_each(|(o, &v)| *o = v);
            }
        }
        out
    }
}

/// Copies the rows `rows` of `state` (`[batch, width]`) into `dst`, in order.
pub(crate) fn gather_rows(state: &[f32], rows: &[usize], width: usize, dst: &mut [f32]) {
    for (d, &r) in dst.chunks_exact_mut(width).zip(rows) {
        d.copy_from_slice(&state[r * width..(r + 1) * width]);
    }
}

/// Writes the rows of `src` into rows `rows` of `state` (`[batch, width]`).
pub(crate) fn scatter_rows(src: &[f32], rows: &[usize], width: usize, state: &mut [f32]) {
    for (s, &r) in src.chunks_exact(width).zip(rows) {
        state[r * width..(r + 1) * width].copy_from_slice(s);
    }
}
