//! Backpropagation through time for the built-in cells (Keras' training of
//! `LSTM`, `GRU` and `SimpleRNN`, as TensorFlow differentiates its loop).
//!
//! The training forward ([`forward`]) runs the cell (tanh and sigmoid in the
//! vectorized forms of the inference loop, other activations exact) over the *entries* of the sequence (its valid (step, row) pairs, see
//! [`layout`]) and keeps, per entry, the previous states and the activated
//! gates ([`cells::CellTape`]). Masked steps are skipped: a row's states pass
//! through them unchanged, and so does their gradient.
//!
//! The backward ([`backward`]) walks the steps in reverse. The gradient
//! reaching each output enters the state it was read from: with
//! `return_sequences`, step `k`'s output is the state after step `k` (at a
//! masked step: the state kept, or zeros with `zero_output_for_mask`, which
//! take no gradient); otherwise the last output is the final state (or zeros
//! when `zero_output_for_mask` and the last step is masked); returned states
//! are the final states. Each step makes the gradients of its gate inputs
//! (`dz`, one row per entry in an `[entries, gates·units]` buffer) and, with
//! one product by `Uᵀ`, those of the previous states. After the loop the
//! weight gradients are one product each over all entries: `xᵀ·dz` for
//! `kernel`, `h_prevᵀ·dz` for `recurrent_kernel`, and the input gradient is
//! `dz·kernelᵀ`.
//!
//! With two threads and enough work, each half of the batch runs on its own
//! ([`split`]). Training-mode `dropout` and `recurrent_dropout` multiply the
//! inputs and the state in the recurrent product by masks drawn once per
//! call ([`dropout`]).

mod cells;
mod dropout;
mod gate;
mod layout;
mod split;

use std::ops::Range;

use ndarray::{Array1, Array2, ArrayD, ArrayView2, ArrayView3, Axis, Ix2, Ix3};
use tensorweave_core::{format_dims, Error, Result};
use tensorweave_kernels::matmul;

use self::cells::{Bwd, CellTape, Fwd, FwdOut, StepGrads};
pub(crate) use self::dropout::{CellDropout, DropoutRates};
use self::layout::{gather_rows, scatter_rows, Layout};
pub(crate) use self::split::{backward_split, forward_split, SequenceTape};
use super::cell::CellWeights;
use super::sequence::{LoopOptions, RnnRun};
use crate::activations::Activation;
use crate::util::{internal, matmul_2d};

/// Which of the built-in cells' formulas a cell computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellMath {
    /// `h = act(x·W + h·U + b)`.
    Simple,
    /// LSTM, gates i, f, c, o.
    Lstm,
    /// GRU with `reset_after` (bias `[2, 3·units]`).
    GruResetAfter,
    /// GRU with the reset gate before the product.
    GruResetBefore,
}

/// What a cell computes, as its training needs it: the formulas and the two
/// activations (of the candidate and output; of the gates).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellTraining {
    /// The formulas.
    pub math: CellMath,
    /// Activation of the candidate state and of the output.
    pub activation: Activation,
    /// Activation of the gates (unused by `SimpleRNN`).
    pub recurrent_activation: Activation,
}

impl CellTraining {
    fn gates(&self) -> usize {
        match self.math {
            CellMath::Simple => 1,
            CellMath::Lstm => 4,
            CellMath::GruResetAfter | CellMath::GruResetBefore => 3,
        }
    }

    fn has_cell_state(&self) -> bool {
        self.math == CellMath::Lstm
    }
}

/// What a training forward keeps for its backward.
#[derive(Debug)]
pub(crate) struct Tape {
    layout: Layout,
    units: usize,
    /// `h` before each entry's step, `[entries, units]`.
    hprev: Vec<f32>,
    /// `c` before each entry's step (LSTM), `[entries, units]`.
    cprev: Vec<f32>,
    cell: CellTape,
    /// The call's dropout masks.
    drop: CellDropout,
    /// The recurrent dropout masks per gate block, copied to the entries
    /// (`[entries, units]` each; empty without recurrent dropout).
    rmask: Vec<Vec<f32>>,
}

/// The inputs of a training forward: the sequence `[batch, time, features]`,
/// its mask `[batch, time]` and the initial states (`[h]`, or `[h, c]` for
/// the LSTM, `[batch, units]` each; none: zeros).
#[derive(Debug, Clone)]
pub(crate) struct Sequence<'a> {
    pub(crate) x: ArrayView3<'a, f32>,
    pub(crate) mask: Option<ArrayView2<'a, bool>>,
    pub(crate) init: &'a [ArrayView2<'a, f32>],
}

/// The gradients a backward returns.
#[derive(Debug)]
pub(crate) struct SequenceGrads {
    /// Of the input sequence, `[batch, time, features]`.
    pub(crate) x: ArrayD<f32>,
    /// Of the initial states (`[h]`, or `[h, c]`), `[batch, units]` each.
    pub(crate) states: Vec<Array2<f32>>,
    /// Of `kernel`.
    pub(crate) kernel: Array2<f32>,
    /// Of `recurrent_kernel`.
    pub(crate) recurrent: Array2<f32>,
    /// Of `bias` (in its layout), when the cell has one.
    pub(crate) bias: Option<ArrayD<f32>>,
}

/// The gradients reaching the outputs of a recurrent layer: its output
/// (`[batch, time, units]` or `[batch, units]`) and its final states.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct OutputGrads<'a> {
    pub(crate) output: Option<&'a ArrayD<f32>>,
    pub(crate) h: Option<&'a ArrayD<f32>>,
    pub(crate) c: Option<&'a ArrayD<f32>>,
}

/// Runs the cell over a sequence in training mode: the outputs as
/// [`super::sequence::run_sequence`] returns them, and the tape.
pub(crate) fn forward(
    t: CellTraining,
    w: &CellWeights<'_>,
    units: usize,
    opts: LoopOptions,
    seq: Sequence<'_>,
    drop: CellDropout,
) -> Result<(RnnRun, Tape)> {
    let Sequence { x, mask, init } = seq;
    let (batch, steps, _) = x.dim();
    super::sequence::check_initial_states(
        init,
        if t.has_cell_state() { 2 } else { 1 },
        batch,
        units,
    )?;
    check_shapes(w, units, t.gates(), &x, mask.as_ref())?;
    check_dropout(&drop, batch, x.dim().2, units)?;
    let (u, g) = (units, t.gates() * units);
    let layout = Layout::new(batch, steps, mask.as_ref(), opts.go_backwards);
    let n = layout.len();
    let xp = project_inputs(w, &layout, &x, &drop.input, u)?;
    let lstm = t.has_cell_state();
    let mut tape = Tape {
        cell: CellTape::new(t, n, u),
        hprev: vec![0.0; n * u],
        cprev: if lstm { vec![0.0; n * u] } else { Vec::new() },
        units: u,
        rmask: dropout::entry_masks(&layout, &drop.recurrent, u)?,
        drop,
        layout,
    };
    let mut hd = if tape.rmask.is_empty() {
        Vec::new()
    } else {
        vec![0.0; batch * u]
    };
    let given = |k: usize| -> Vec<f32> {
        match init.get(k) {
            Some(s) => s.iter().copied().collect(),
            None => vec![0.0; batch * u],
        }
    };
    let mut h = given(0);
    let mut c = if lstm { given(1) } else { Vec::new() };
    let (mut rec, mut hn, mut cn) = (vec![0.0; batch * g], vec![0.0; batch * u], c.clone());
    let mut sequence = opts.return_sequences.then(|| vec![0f32; batch * steps * u]);
    for k in 0..steps {
        let (e, rows) = tape.layout.step(k);
        let span = e.start * u..e.end * u;
        gather_rows(&h, rows, u, &mut tape.hprev[span.clone()]);
        if lstm {
            gather_rows(&c, rows, u, &mut tape.cprev[span]);
        }
        let f = Fwd {
            w,
            u,
            xp: &xp,
            hprev: &tape.hprev,
            cprev: &tape.cprev,
            rmask: &tape.rmask,
            e: e.clone(),
        };
        let out = FwdOut {
            rec: &mut rec,
            h: &mut hn,
            c: &mut cn,
            hd: &mut hd,
        };
        tape.cell.forward(&f, out)?;
        scatter_rows(&hn[..rows.len() * u], rows, u, &mut h);
        if lstm {
            scatter_rows(&cn[..rows.len() * u], rows, u, &mut c);
        }
        if let Some(seq) = &mut sequence {
            for r in 0..batch {
                if tape.layout.output_is_zero(k, r, opts.zero_output_for_mask) {
                    continue;
                }
                let dst = (r * steps + k) * u;
                seq[dst..dst + u].copy_from_slice(&h[r * u..(r + 1) * u]);
            }
        }
    }
    let as_state = |v: Vec<f32>| {
        Array2::from_shape_vec((batch, u), v)
            .map_err(|e| Error::invalid(format!("internal: state shape: {e}")))
    };
    let output = match sequence {
        Some(seq) => ndarray::Array3::from_shape_vec((batch, steps, u), seq)
            .map_err(|e| Error::invalid(format!("internal: output shape: {e}")))?
            .into_dyn(),
        None => {
            let mut last = h.clone();
            for r in 0..batch {
                if last_output_is_zero(&tape.layout, opts, r) {
                    last[r * u..(r + 1) * u].fill(0.0);
                }
            }
            as_state(last)?.into_dyn()
        }
    };
    let mut states = vec![as_state(h)?];
    if lstm {
        states.push(as_state(c)?);
    }
    Ok((RnnRun { output, states }, tape))
}

/// Whether row `r`'s last output is zeros rather than its final state.
fn last_output_is_zero(layout: &Layout, opts: LoopOptions, r: usize) -> bool {
    let steps = layout.steps();
    steps > 0 && layout.output_is_zero(steps - 1, r, opts.zero_output_for_mask)
}

/// Checks the input, mask and weights against each other.
fn check_shapes(
    w: &CellWeights<'_>,
    units: usize,
    gates: usize,
    x: &ArrayView3<'_, f32>,
    mask: Option<&ArrayView2<'_, bool>>,
) -> Result<()> {
    let (batch, steps, features) = x.dim();
    if features != w.kernel.rows {
        return Err(Error::invalid(format!(
            "expects inputs with {} features (its kernel was built for them), got an array of \
             shape {}",
            w.kernel.rows,
            format_dims(x.shape())
        )));
    }
    if w.kernel.cols != gates * units || w.recurrent.rows != units {
        return Err(Error::invalid(format!(
            "internal: weights [{}, {}] and [{}, {}] for {gates} gates of {units} units",
            w.kernel.rows, w.kernel.cols, w.recurrent.rows, w.recurrent.cols
        )));
    }
    if let Some(m) = mask {
        if m.dim() != (batch, steps) {
            return Err(Error::invalid(format!(
                "the mask must have shape (batch, time) = {}, got {}",
                format_dims(&[batch, steps]),
                format_dims(m.shape())
            )));
        }
    }
    Ok(())
}

/// Checks the dropout masks against the batch, inputs and units.
fn check_dropout(drop: &CellDropout, batch: usize, features: usize, units: usize) -> Result<()> {
    let fits = |m: &[Array2<f32>], cols: usize| m.iter().all(|a| a.dim() == (batch, cols));
    if fits(&drop.input, features) && fits(&drop.recurrent, units) {
        Ok(())
    } else {
        Err(Error::invalid(
            "internal: dropout masks of another batch, input or unit count",
        ))
    }
}

/// The input projection of every entry: `x·kernel + input_bias`, with
/// `x` multiplied by its input dropout mask (one for all gate blocks, or
/// one per block).
fn project_inputs(
    w: &CellWeights<'_>,
    layout: &Layout,
    x: &ArrayView3<'_, f32>,
    masks: &[Array2<f32>],
    u: usize,
) -> Result<Vec<f32>> {
    let n = layout.len();
    match masks {
        [] => input_projection(w, &layout.gather(x), n),
        [m] => input_projection(w, &dropout::gather_masked(layout, x, m), n),
        per_gate => {
            let g = w.kernel.cols;
            let mut out = match w.input_bias {
                Some(b) => b.repeat(n),
                None => vec![0.0; n * g],
            };
            for (k, m) in per_gate.iter().enumerate() {
                let xc = dropout::gather_masked(layout, x, m);
                let dst = out.get_mut(k * u..).unwrap_or_default();
                matmul(&xc, n, w.kernel.columns(k * u, u), dst, g, true).map_err(internal)?;
            }
            Ok(out)
        }
    }
}

/// `x·kernel + input_bias` for the `n` rows of `xc`.
fn input_projection(w: &CellWeights<'_>, xc: &[f32], n: usize) -> Result<Vec<f32>> {
    let g = w.kernel.cols;
    let mut out = match w.input_bias {
        Some(b) => b.repeat(n),
        None => vec![0.0; n * g],
    };
    matmul(xc, n, w.kernel, &mut out, g, w.input_bias.is_some()).map_err(internal)?;
    Ok(out)
}

/// The gradients of the input and the weights, given those reaching the
/// outputs of the forward that made `tape` on `x`.
pub(crate) fn backward(
    t: CellTraining,
    w: &CellWeights<'_>,
    opts: LoopOptions,
    tape: &Tape,
    x: ArrayView3<'_, f32>,
    grads: OutputGrads<'_>,
) -> Result<SequenceGrads> {
    let layout = &tape.layout;
    let (batch, steps, u) = (layout.batch(), layout.steps(), tape.units);
    if x.dim().0 != batch || x.dim().1 != steps {
        return Err(Error::invalid(format!(
            "internal: backward on an input of shape {} for a forward of {batch} rows of {steps} \
             steps",
            format_dims(x.shape())
        )));
    }
    let (n, g) = (layout.len(), t.gates() * u);
    let (mut dh, mut dc) = initial_state_grads(t, layout, opts, u, grads)?;
    let sequence_grad = match grads.output.filter(|_| opts.return_sequences) {
        Some(gy) => Some(view3(gy, [batch, steps, u], "output")?),
        None => None,
    };
    let derivs = tape.cell.derivatives()?;
    let ut = transpose(w.recurrent.data, u, g);
    let ut_panels = cells::transposed_panels(t.math, &ut, u)?;
    let mut dz = vec![0.0; n * g];
    let after = t.math == CellMath::GruResetAfter;
    let mut drec = if after { vec![0.0; n * g] } else { Vec::new() };
    let mut buf = StepBuffers::new(batch, u);
    for k in (0..steps).rev() {
        if let Some(gy) = &sequence_grad {
            add_output_grad(&mut dh, gy, layout, opts, k, u);
        }
        let (e, rows) = layout.step(k);
        let m = rows.len() * u;
        gather_rows(&dh, rows, u, &mut buf.dh[..m]);
        if t.has_cell_state() {
            gather_rows(&dc, rows, u, &mut buf.dc[..m]);
        }
        let b = Bwd {
            u,
            ut: &ut,
            ut_panels: &ut_panels,
            derivs: &derivs,
            hprev: &tape.hprev,
            cprev: &tape.cprev,
            rmask: &tape.rmask,
            e,
        };
        let step = StepGrads {
            dh: &buf.dh,
            dc: &buf.dc,
            dz: &mut dz,
            drec: &mut drec,
            tmp: &mut buf.tmp,
            dh_prev: &mut buf.dh_prev,
            dc_prev: &mut buf.dc_prev,
        };
        tape.cell.backward(&b, step)?;
        scatter_rows(&buf.dh_prev[..m], rows, u, &mut dh);
        if t.has_cell_state() {
            scatter_rows(&buf.dc_prev[..m], rows, u, &mut dc);
        }
    }
    let rec_grad = if after { &drec } else { &dz };
    let mut grads = weight_grads(t, w, tape, &x, &dz, rec_grad)?;
    let as_state = |v: Vec<f32>| {
        Array2::from_shape_vec((batch, u), v)
            .map_err(|e| Error::invalid(format!("internal: state gradient shape: {e}")))
    };
    grads.states.push(as_state(dh)?);
    if t.has_cell_state() {
        grads.states.push(as_state(dc)?);
    }
    Ok(grads)
}

/// Per-step buffers of the backward, `[batch, units]` each.
struct StepBuffers {
    dh: Vec<f32>,
    dc: Vec<f32>,
    tmp: Vec<f32>,
    dh_prev: Vec<f32>,
    dc_prev: Vec<f32>,
}

impl StepBuffers {
    fn new(batch: usize, u: usize) -> Self {
        let z = || vec![0.0; batch * u];
        StepBuffers {
            dh: z(),
            dc: z(),
            tmp: z(),
            dh_prev: z(),
            dc_prev: z(),
        }
    }
}

/// The gradients of the final states `(h, c)`, `[batch, units]` each: what
/// reaches the returned states, and the last output's unless it is zeros.
fn initial_state_grads(
    t: CellTraining,
    layout: &Layout,
    opts: LoopOptions,
    u: usize,
    grads: OutputGrads<'_>,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let batch = layout.batch();
    let state = |g: Option<&ArrayD<f32>>, what: &str| -> Result<Vec<f32>> {
        match g {
            Some(g) => Ok(view2(g, [batch, u], what)?.iter().copied().collect()),
            None => Ok(vec![0.0; batch * u]),
        }
    };
    let mut dh = state(grads.h, "state h")?;
    let dc = if t.has_cell_state() {
        state(grads.c, "state c")?
    } else {
        Vec::new()
    };
    if let Some(gy) = grads.output.filter(|_| !opts.return_sequences) {
        let gy = view2(gy, [batch, u], "output")?;
        for (r, row) in gy.outer_iter().enumerate() {
            if !last_output_is_zero(layout, opts, r) {
                let d = &mut dh[r * u..(r + 1) * u];
                d.iter_mut().zip(row).for_each(|(d, g)| *d += g);
            }
        }
    }
    Ok((dh, dc))
}

/// Adds the gradient of step `k`'s outputs to the states they were read
/// from (none for the zeros of masked steps with `zero_output_for_mask`).
fn add_output_grad(
    dh: &mut [f32],
    gy: &ArrayView3<'_, f32>,
    layout: &Layout,
    opts: LoopOptions,
    k: usize,
    u: usize,
) {
    for r in 0..layout.batch() {
        if layout.output_is_zero(k, r, opts.zero_output_for_mask) {
            continue;
        }
        let d = &mut dh[r * u..(r + 1) * u];
        let g = gy.slice(ndarray::s![r, k, ..]);
        d.iter_mut().zip(g).for_each(|(d, g)| *d += g);
    }
}

/// The weight and input gradients from the gate-input gradients of all
/// entries: `dz` (`[entries, gates·units]`) and, for the recurrent product,
/// `drec` (the same but for the GRU with the reset gate after it).
fn weight_grads(
    t: CellTraining,
    w: &CellWeights<'_>,
    tape: &Tape,
    x: &ArrayView3<'_, f32>,
    dz: &[f32],
    drec: &[f32],
) -> Result<SequenceGrads> {
    let (n, u) = (tape.layout.len(), tape.units);
    let g = t.gates() * u;
    let rows = |v, cols| matrix(v, n, cols);
    let (dz, drec) = (rows(dz, g)?, rows(drec, g)?);
    let (kernel, dx) = input_grads(w, tape, x, dz)?;
    let recurrent = match &tape.cell {
        CellTape::GruBefore { rh, .. } => {
            let zr = state_weight_grad(tape, dz, 0..2)?;
            let cand = matmul_2d(rows(rh, u)?.t(), dz.slice(ndarray::s![.., 2 * u..]), None)?;
            join_columns(&[zr, cand])?
        }
        _ => state_weight_grad(tape, drec, 0..t.gates())?,
    };
    let bias = match (w.input_bias.is_some(), w.recurrent_bias.is_some()) {
        (false, _) => None,
        (true, false) => Some(dz.sum_axis(Axis(0)).into_dyn()),
        (true, true) => {
            let sums = [dz.sum_axis(Axis(0)), drec.sum_axis(Axis(0))];
            Some(stack_rows(&sums)?.into_dyn())
        }
    };
    Ok(SequenceGrads {
        x: dx.into_dyn(),
        states: Vec::new(),
        kernel,
        recurrent,
        bias,
    })
}

/// The gradients of `kernel` and of the input sequence from those of the
/// gate inputs, through the input dropout masks if any: with one mask per
/// gate block, block `k` of the kernel sees `x ⊙ mask_k` and the input
/// gradient sums each block's part times its mask.
fn input_grads(
    w: &CellWeights<'_>,
    tape: &Tape,
    x: &ArrayView3<'_, f32>,
    dz: ArrayView2<'_, f32>,
) -> Result<(Array2<f32>, ndarray::Array3<f32>)> {
    let (layout, u) = (&tape.layout, tape.units);
    let (n, features) = (layout.len(), x.dim().2);
    let k = ArrayView2::from_shape((features, w.kernel.cols), w.kernel.data)
        .map_err(|e| Error::invalid(format!("internal: kernel: {e}")))?;
    let contiguous = |a: &Array2<f32>| -> Result<Vec<f32>> {
        a.as_slice()
            .map(<[f32]>::to_vec)
            .ok_or_else(|| Error::invalid("internal: input gradient is not contiguous"))
    };
    match tape.drop.input.as_slice() {
        [] | [_] => {
            let xc = match tape.drop.input.first() {
                Some(m) => dropout::gather_masked(layout, x, m),
                None => layout.gather(x),
            };
            let kernel = matmul_2d(matrix(&xc, n, features)?.t(), dz, None)?;
            let dxc = contiguous(&matmul_2d(dz, k.t(), None)?)?;
            let dx = match tape.drop.input.first() {
                Some(m) => {
                    let mut dx = ndarray::Array3::zeros((layout.batch(), layout.steps(), features));
                    dropout::scatter_masked_into(layout, &dxc, m, &mut dx)?;
                    dx
                }
                None => layout.scatter(&dxc, features),
            };
            Ok((kernel, dx))
        }
        per_gate => {
            let mut dx = ndarray::Array3::zeros((layout.batch(), layout.steps(), features));
            let mut blocks = Vec::with_capacity(per_gate.len());
            for (g, m) in per_gate.iter().enumerate() {
                let cols = ndarray::s![.., g * u..(g + 1) * u];
                let xc = dropout::gather_masked(layout, x, m);
                blocks.push(matmul_2d(
                    matrix(&xc, n, features)?.t(),
                    dz.slice(cols),
                    None,
                )?);
                let dxc = contiguous(&matmul_2d(dz.slice(cols), k.slice(cols).t(), None)?)?;
                dropout::scatter_masked_into(layout, &dxc, m, &mut dx)?;
            }
            Ok((join_columns(&blocks)?, dx))
        }
    }
}

/// The gradient of the gate blocks `blocks` of `recurrent_kernel` from
/// those of the recurrent product (`d`, `[entries, gates·units]`): `h_prevᵀ·d`,
/// or per block `(h_prev ⊙ mask_k)ᵀ·d_k` with recurrent dropout.
fn state_weight_grad(
    tape: &Tape,
    d: ArrayView2<'_, f32>,
    blocks: Range<usize>,
) -> Result<Array2<f32>> {
    let (n, u) = (tape.layout.len(), tape.units);
    let cols = ndarray::s![.., blocks.start * u..blocks.end * u];
    if tape.rmask.is_empty() {
        return matmul_2d(matrix(&tape.hprev, n, u)?.t(), d.slice(cols), None);
    }
    let mut parts = Vec::with_capacity(blocks.len());
    for k in blocks {
        let mask = tape
            .rmask
            .get(k)
            .ok_or_else(|| Error::invalid("internal: no recurrent dropout mask for a gate"))?;
        let hd = dropout::masked(&tape.hprev, mask);
        let dk = d.slice(ndarray::s![.., k * u..(k + 1) * u]);
        parts.push(matmul_2d(matrix(&hd, n, u)?.t(), dk, None)?);
    }
    join_columns(&parts)
}

/// Matrices of equal row count side by side.
fn join_columns(parts: &[Array2<f32>]) -> Result<Array2<f32>> {
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    ndarray::concatenate(Axis(1), &views)
        .map_err(|e| Error::invalid(format!("internal: weight gradient blocks: {e}")))
}

/// `v` as a `[rows, cols]` matrix.
fn matrix(v: &[f32], rows: usize, cols: usize) -> Result<ArrayView2<'_, f32>> {
    ArrayView2::from_shape((rows, cols), v)
        .map_err(|e| Error::invalid(format!("internal: gradient buffer: {e}")))
}

/// `[2, len]` from two rows.
fn stack_rows(rows: &[Array1<f32>; 2]) -> Result<Array2<f32>> {
    ndarray::stack(Axis(0), &[rows[0].view(), rows[1].view()])
        .map_err(|e| Error::invalid(format!("internal: bias gradient: {e}")))
}

/// The transpose of the row-major `[rows, cols]` matrix `m`, row-major.
fn transpose(m: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; rows * cols];
    for (i, row) in m.chunks_exact(cols).enumerate().take(rows) {
        for (j, &v) in row.iter().enumerate() {
            out[j * rows + i] = v;
        }
    }
    out
}

/// A gradient as a matrix of the expected shape, or an error naming both.
fn view2<'a>(g: &'a ArrayD<f32>, shape: [usize; 2], what: &str) -> Result<ArrayView2<'a, f32>> {
    g.view()
        .into_dimensionality::<Ix2>()
        .ok()
        .filter(|v| v.dim() == (shape[0], shape[1]))
        .ok_or_else(|| wrong_grad(g, &shape, what))
}

/// A gradient as a rank-3 array of the expected shape, or an error naming both.
fn view3<'a>(g: &'a ArrayD<f32>, shape: [usize; 3], what: &str) -> Result<ArrayView3<'a, f32>> {
    g.view()
        .into_dimensionality::<Ix3>()
        .ok()
        .filter(|v| v.dim() == (shape[0], shape[1], shape[2]))
        .ok_or_else(|| wrong_grad(g, &shape, what))
}

fn wrong_grad(g: &ArrayD<f32>, shape: &[usize], what: &str) -> Error {
    Error::invalid(format!(
        "got a gradient of shape {} for its {what}, which has shape {}",
        format_dims(g.shape()),
        format_dims(shape)
    ))
}
