//! The sequence loop shared by every cell (Keras' `backend.rnn`): direction,
//! masking and the returned sequence or last output.
//!
//! The steps run in chunks. For each chunk, the input projection
//! `x·kernel + bias` of every (row, step) of the chunk is one matrix product,
//! sized to stay in the L2 cache until the steps read it. Each step then
//! multiplies the active rows' `h` by the recurrent kernel and updates them
//! ([`super::step`]).
//!
//! Masked steps change nothing in Keras (states frozen), so they are skipped:
//! the state rows are kept permuted so that the rows valid at the current step
//! are a prefix, and only that prefix takes part in the step. A right-padded
//! batch thus shrinks as rows end (each row is swapped out once); any mask
//! works, each change of a row's validity costing one swap of its state rows.
//! Masked steps get no input projection, nor does a step whose input vector
//! equals the previous one of its row (the padding of an unmasked batch, a
//! repeated token): it reuses that projection, which is in the same chunk.

use ndarray::{Array, Array2, Array3, ArrayD, ArrayView, ArrayView2, ArrayView3, Axis, RemoveAxis};
use tensorweave_core::format_dims;
use tensorweave_core::{BufferPool, Error, Result};

use super::cell::{Cell, CellWeights};
use super::step::StepRows;
use crate::util::internal;
use tensorweave_kernels::cells::prefetch;
use tensorweave_kernels::{matmul, same_bits};

/// Up to how many active rows a folded step prefetches the next step's table
/// rows into L1 before its product; beyond, the lines would evict each other
/// from L1 before use, and the rows go to L2, prefetched by the cell between
/// its row updates.
const PREFETCH_ROWS: usize = 4;

/// How the loop runs and what it returns.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LoopOptions {
    /// Return every step's output, not only the last.
    pub(crate) return_sequences: bool,
    /// Run from the last step to the first.
    pub(crate) go_backwards: bool,
    /// Output zeros (not the previous output) at masked steps.
    pub(crate) zero_output_for_mask: bool,
}

/// The inputs of a pass: a sequence of vectors, or token ids whose input
/// projections were folded into a table (`embedding · kernel + bias`, one
/// row of `gates · units` per token; see [`super::fold`]).
#[derive(Debug, Clone, Copy)]
pub(crate) enum SeqSource<'a> {
    /// `[batch, time, features]`.
    Dense(ArrayView3<'a, f32>),
    /// `[batch, time]` ids, each below the table's number of rows.
    Folded {
        /// The token ids.
        ids: ArrayView2<'a, i32>,
        /// The projections, `vocabulary × gates·units`, row-major.
        table: &'a [f32],
    },
}

impl<'a> SeqSource<'a> {
    /// (batch, time, features); features 0 when folded (no input product).
    pub(crate) fn dim(&self) -> (usize, usize, usize) {
        match self {
            SeqSource::Dense(x) => x.dim(),
            SeqSource::Folded { ids, .. } => (ids.nrows(), ids.ncols(), 0),
        }
    }

    /// The rows before `half` and the rows from it.
    pub(crate) fn split_rows(self, half: usize) -> (SeqSource<'a>, SeqSource<'a>) {
        match self {
            SeqSource::Dense(x) => {
                let (a, b) = x.split_at(Axis(0), half);
                (SeqSource::Dense(a), SeqSource::Dense(b))
            }
            SeqSource::Folded { ids, table } => {
                let (a, b) = ids.split_at(Axis(0), half);
                (
                    SeqSource::Folded { ids: a, table },
                    SeqSource::Folded { ids: b, table },
                )
            }
        }
    }
}

/// What one pass over a sequence produces.
#[derive(Debug)]
pub(crate) struct RnnRun {
    /// `[batch, time, units]` in processing order, or the last output `[batch, units]`.
    pub(crate) output: ArrayD<f32>,
    /// The final states: `[h, c]` for LSTM, `[h]` otherwise.
    pub(crate) states: Vec<Array2<f32>>,
}

/// Runs `cell` over `x` (`[batch, time, features]`) from the states `init`
/// (`[h]`, or `[h, c]` for the LSTM, `[batch, units]` each; none: zeros).
/// `mask` (`[batch, time]`, true = valid) freezes the states of a row at its
/// masked steps; the output there is the previous output (zeros before the
/// row's first valid step, whatever the initial state, as in the TensorFlow
/// backend) or zeros with `zero_output_for_mask`. Large buffers come from
/// `pool` when there is one.
pub(crate) fn run_sequence<C: Cell>(
    cell: &C,
    opts: LoopOptions,
    source: SeqSource<'_>,
    mask: Option<ArrayView2<'_, bool>>,
    init: &[ArrayView2<'_, f32>],
    pool: Option<&BufferPool>,
) -> Result<RnnRun> {
    let (batch, steps, features) = source.dim();
    let w = cell.weights()?;
    let (u, g) = (cell.units(), cell.gates() * cell.units());
    let (x, folded) = match source {
        SeqSource::Dense(x) => (Some(x), None),
        SeqSource::Folded { ids, table } => {
            if table.len() % g.max(1) != 0 || ids.dim() != (batch, steps) {
                return Err(Error::invalid("internal: folded table of the wrong size"));
            }
            let vocab = table.len() / g.max(1);
            if ids.iter().any(|&i| i < 0 || i as usize >= vocab) {
                return Err(Error::invalid(
                    "internal: token id outside the folded table",
                ));
            }
            // Borrowed when already row-major (the usual case): no copy of
            // the ids per call.
            let ids = if ids.is_standard_layout() {
                ndarray::CowArray::from(ids)
            } else {
                ndarray::CowArray::from(ids.as_standard_layout().into_owned())
            };
            (None, Some((ids, table)))
        }
    };
    if x.is_some() && features != cell.input_dim() {
        return Err(Error::invalid(format!(
            "expects inputs with {} features (its kernel was built for them), got an array of \
             shape {}",
            cell.input_dim(),
            format_dims(&[batch, steps, features])
        )));
    }
    if let Some(m) = &mask {
        if m.dim() != (batch, steps) {
            return Err(Error::invalid(format!(
                "the mask must have shape (batch, time) = {}, got {}",
                format_dims(&[batch, steps]),
                format_dims(m.shape())
            )));
        }
    }
    let x_std = x.as_ref().map(|x| x.as_standard_layout());
    let xs: &[f32] = match &x_std {
        Some(x) => x
            .as_slice()
            .ok_or_else(|| Error::invalid("internal: input is not contiguous"))?,
        None => &[],
    };
    let ids: Option<(&[i32], &[f32])> = match &folded {
        Some((ids, table)) => Some((
            ids.as_slice()
                .ok_or_else(|| Error::invalid("internal: ids are not contiguous"))?,
            table,
        )),
        None => None,
    };
    let mask_std = mask.as_ref().map(|m| m.as_standard_layout());
    let mask = match &mask_std {
        Some(m) => Some(
            m.as_slice()
                .ok_or_else(|| Error::invalid("internal: mask is not contiguous"))?,
        ),
        None => None,
    };
    let valid = |r: usize, t: usize| mask.is_none_or(|m| m[r * steps + t]);
    let time = |k: usize| if opts.go_backwards { steps - 1 - k } else { k };

    check_initial_states(init, cell.states(), batch, u)?;
    let mut states = States::new(cell.states(), batch, u, init);
    // Whether each row has had a valid step: before it, a masked step
    // outputs zeros (the previous output starts at zeros), not the state.
    let mut seen = vec![false; batch];
    let mut scratch = cell.scratch(batch);
    // The sequence output is the largest buffer of the loop (`4u` bytes per
    // token): taken from the run's pool, where the last call's was left.
    let mut sequence = opts
        .return_sequences
        .then(|| BufferPool::f32_zeros_in(pool, batch * steps * u));
    let chunk = chunk_steps(batch, g);
    let (mut a_buf, mut xp_buf) = (Vec::new(), Vec::new());
    let mut xp_row = vec![usize::MAX; batch];
    let mut xp_index = Vec::new();
    let mut xp_off = vec![0usize; batch];
    let mut xp_ahead = Vec::with_capacity(batch);
    let mut active = vec![true; batch];
    let mut n_active = batch;
    for k0 in (0..steps).step_by(chunk) {
        let k1 = (k0 + chunk).min(steps);
        let len = k1 - k0;
        let (t_lo, t_hi) = if opts.go_backwards {
            (steps - k1, steps - k0)
        } else {
            (k0, k1)
        };
        // Gather the chunk's valid inputs and project them with one product.
        // A step whose input equals the row's previous one (padding, a
        // repeated token) reuses its projection. Folded ids need neither.
        a_buf.clear();
        xp_index.clear();
        let (mut needed, mut m) = (0, 0);
        for (r, slot) in xp_row.iter_mut().enumerate().filter(|_| ids.is_none()) {
            *slot = usize::MAX;
            if !(t_lo..t_hi).any(|t| valid(r, t)) {
                continue;
            }
            *slot = needed;
            needed += 1;
            let mut prev: Option<&[f32]> = None;
            for t in t_lo..t_hi {
                let v = &xs[(r * steps + t) * features..(r * steps + t + 1) * features];
                if !valid(r, t) {
                    xp_index.push(usize::MAX);
                } else if prev.is_some_and(|p| same_bits(p, v)) {
                    xp_index.push(m - 1);
                } else {
                    a_buf.extend_from_slice(v);
                    xp_index.push(m);
                    m += 1;
                    prev = Some(v);
                }
            }
        }
        if ids.is_none() {
            project(&w, &a_buf, m, &mut xp_buf)?;
        }

        for k in k0..k1 {
            let t = time(k);
            if mask.is_some() {
                for (a, r) in active.iter_mut().zip(&states.slot_row) {
                    *a = valid(*r, t);
                }
                n_active = states.partition(&mut active);
            }
            xp_ahead.clear();
            let xp: &[f32] = match ids {
                Some((ids, table)) => {
                    for (off, &r) in xp_off.iter_mut().zip(&states.slot_row).take(n_active) {
                        *off = ids[r * steps + t] as usize * g;
                    }
                    // The table is far bigger than the caches and its rows
                    // are read in token order: ask for the next step's rows
                    // while this step's product runs.
                    // A few rows are prefetched here, into L1; more are
                    // left to the cell, row by row after each update
                    // (`StepRows::ahead`).
                    if k + 1 < steps {
                        let next = time(k + 1);
                        for &r in states.slot_row.iter().take(n_active) {
                            let o = ids[r * steps + next] as usize * g;
                            if n_active <= PREFETCH_ROWS {
                                prefetch(&table[o..o + g]);
                            } else {
                                xp_ahead.push(o);
                            }
                        }
                    }
                    table
                }
                None => {
                    for (off, &r) in xp_off.iter_mut().zip(&states.slot_row).take(n_active) {
                        *off = xp_index[xp_row[r] * len + (t - t_lo)] * g;
                    }
                    &xp_buf
                }
            };
            let rows = StepRows {
                n: n_active,
                xp,
                xp_off: &xp_off,
                ahead: &xp_ahead,
                h: &mut states.h,
                c: &mut states.c,
            };
            cell.step(&w, rows, &mut scratch)?;
            for (r, seen) in seen.iter_mut().enumerate() {
                *seen |= valid(r, t);
            }
            if let Some(seq) = &mut sequence {
                // After a row's first valid step the previous output equals
                // the kept state, so a masked row repeats `h` (or outputs
                // zeros, which the buffer already holds).
                for (r, &s) in states.row_slot.iter().enumerate() {
                    if !valid(r, t) && (opts.zero_output_for_mask || !seen[r]) {
                        continue;
                    }
                    let dst = (r * steps + k) * u;
                    seq[dst..dst + u].copy_from_slice(&states.h[s * u..(s + 1) * u]);
                }
            }
        }
    }
    let (h, c) = states.in_row_order();
    let output = match sequence {
        Some(seq) => Array3::from_shape_vec((batch, steps, u), seq)
            .map_err(|e| Error::invalid(format!("internal: output shape: {e}")))?
            .into_dyn(),
        None => {
            let mut last = h.clone();
            let t = time(steps.saturating_sub(1));
            for (r, mut row) in last.outer_iter_mut().enumerate() {
                if steps > 0 && !valid(r, t) && (opts.zero_output_for_mask || !seen[r]) {
                    row.fill(0.0);
                }
            }
            last.into_dyn()
        }
    };
    let mut states = vec![h];
    states.extend(c);
    Ok(RnnRun { output, states })
}

/// Checks initial states against the cell: none, or one `[batch, units]`
/// array per state.
pub(crate) fn check_initial_states(
    init: &[ArrayView2<'_, f32>],
    n_states: usize,
    batch: usize,
    units: usize,
) -> Result<()> {
    if !init.is_empty() && init.len() != n_states {
        return Err(Error::invalid(format!(
            "got {} initial state(s); the cell has {n_states} state(s) of {units} units              ({}): pass all of them or none",
            init.len(),
            if n_states == 2 { "h and c" } else { "h" }
        )));
    }
    for (k, s) in init.iter().enumerate() {
        if s.dim() != (batch, units) {
            return Err(Error::invalid(format!(
                "initial state {k} must have shape {} (batch, units), got {}",
                format_dims(&[batch, units]),
                format_dims(s.shape())
            )));
        }
    }
    Ok(())
}

/// The rows `rows` of each initial state.
pub(crate) fn state_rows<'a>(
    init: &[ArrayView2<'a, f32>],
    rows: std::ops::Range<usize>,
) -> Vec<ArrayView2<'a, f32>> {
    init.iter()
        .map(|s| (*s).slice_move(ndarray::s![rows.clone(), ..]))
        .collect()
}

/// `x·kernel + bias` for the `m` rows of `a`, as a new buffer (the folded
/// tables of [`super::fold`]).
pub(crate) fn project_rows(w: &CellWeights<'_>, a: &[f32], m: usize) -> Result<Vec<f32>> {
    let mut out = Vec::new();
    project(w, a, m, &mut out)?;
    Ok(out)
}

/// `x·kernel + bias` for the `m` rows of `a` into `out`.
fn project(w: &CellWeights<'_>, a: &[f32], m: usize, out: &mut Vec<f32>) -> Result<()> {
    let g = w.kernel.cols;
    out.clear();
    // One allocation of the final size: growing row by row doubled the
    // capacity up to 1.6 times a folded table's size (50 MiB held for each
    // 30.5 MiB table of the reference BiLSTM).
    out.reserve(m * g);
    match w.input_bias {
        Some(b) => (0..m).for_each(|_| out.extend_from_slice(b)),
        None => out.resize(m * g, 0.0),
    }
    matmul(a, m, w.kernel, out, g, w.input_bias.is_some()).map_err(internal)
}

/// Steps per chunk: enough that the chunk's projection (`batch` rows per step,
/// `width` values each) fills about 1 MiB, at least one.
fn chunk_steps(batch: usize, width: usize) -> usize {
    // Unit tests use small chunks, so that short sequences span several.
    const BYTES: usize = if cfg!(test) { 1 << 12 } else { 1 << 20 };
    let rows = BYTES / (width.max(1) * std::mem::size_of::<f32>());
    (rows / batch.max(1)).max(1)
}

/// The states, their rows permuted: slot `s` holds batch row `slot_row[s]`.
struct States {
    units: usize,
    n_states: usize,
    h: Vec<f32>,
    c: Vec<f32>,
    slot_row: Vec<usize>,
    row_slot: Vec<usize>,
}

impl States {
    /// The states of `batch` rows: `init` (checked by
    /// [`check_initial_states`]), or zeros.
    fn new(n_states: usize, batch: usize, units: usize, init: &[ArrayView2<'_, f32>]) -> Self {
        let c_rows = if n_states == 2 { batch } else { 0 };
        let given = |k: usize, rows: usize| match init.get(k) {
            Some(s) => s.iter().copied().collect(),
            None => vec![0.0; rows * units],
        };
        States {
            units,
            n_states,
            h: given(0, batch),
            c: given(1, c_rows),
            slot_row: (0..batch).collect(),
            row_slot: (0..batch).collect(),
        }
    }

    /// Moves the slots flagged in `active` (indexed by slot) to the front;
    /// returns how many there are. Swaps only rows on the wrong side.
    fn partition(&mut self, active: &mut [bool]) -> usize {
        let (mut i, mut j) = (0, active.len());
        loop {
            while i < j && active[i] {
                i += 1;
            }
            while i < j && !active[j - 1] {
                j -= 1;
            }
            if i >= j {
                return i;
            }
            self.swap(i, j - 1);
            active.swap(i, j - 1);
            i += 1;
            j -= 1;
        }
    }

    /// Exchanges slots `a < b`.
    fn swap(&mut self, a: usize, b: usize) {
        let u = self.units;
        for buf in [&mut self.h, &mut self.c] {
            if buf.len() >= (b + 1) * u {
                let (lo, hi) = buf.split_at_mut(b * u);
                lo[a * u..(a + 1) * u].swap_with_slice(&mut hi[..u]);
            }
        }
        self.slot_row.swap(a, b);
        self.row_slot[self.slot_row[a]] = a;
        self.row_slot[self.slot_row[b]] = b;
    }

    /// `h` and (for the LSTM) `c` as `[batch, units]` in batch order.
    fn in_row_order(&self) -> (Array2<f32>, Option<Array2<f32>>) {
        let u = self.units;
        let batch = self.row_slot.len();
        let gather =
            |buf: &[f32]| Array2::from_shape_fn((batch, u), |(r, j)| buf[self.row_slot[r] * u + j]);
        let c = (self.n_states == 2).then(|| gather(&self.c));
        (gather(&self.h), c)
    }
}

/// Where to split a batch of `[batch, steps, features]` into two halves run
/// on two threads (rows are independent), when `threads` allows it and the
/// work of a cell of `gates` blocks of `units` is worth a thread.
pub(crate) fn split_batch(
    (batch, steps, features): (usize, usize, usize),
    gates: usize,
    units: usize,
    threads: usize,
) -> Option<usize> {
    /// Multiply-adds below which a second thread costs more than it saves.
    const MIN_WORK: usize = 1 << 22;
    let work = batch
        .saturating_mul(steps)
        .saturating_mul(gates.saturating_mul(units))
        .saturating_mul(features.saturating_add(units));
    (threads >= 2 && batch >= 2 && work >= MIN_WORK).then(|| batch.div_ceil(2))
}

/// Runs `fa` on this thread and `fb` on another.
pub(crate) fn join<A: Send, B: Send>(
    fa: impl FnOnce() -> Result<A> + Send,
    fb: impl FnOnce() -> Result<B> + Send,
) -> Result<(A, B)> {
    std::thread::scope(|scope| {
        let second = scope.spawn(fb);
        let first = fa();
        let second = second
            .join()
            .map_err(|_| Error::invalid("a thread of the recurrent layer panicked"))?;
        Ok((first?, second?))
    })
}

/// Stacks two arrays on the batch axis.
pub(crate) fn concat_rows<D: RemoveAxis>(
    p: ArrayView<'_, f32, D>,
    q: ArrayView<'_, f32, D>,
) -> Result<Array<f32, D>> {
    ndarray::concatenate(Axis(0), &[p, q])
        .map_err(|e| Error::invalid(format!("internal: joining the batch halves: {e}")))
}
