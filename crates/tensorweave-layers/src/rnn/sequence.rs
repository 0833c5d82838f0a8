//! The sequence loop shared by every cell (Keras' `backend.rnn`): direction,
//! masking and the returned sequence or last output.

use ndarray::{Array2, Array3, ArrayD, ArrayView2, ArrayView3, Axis};
use tensorweave_core::{Error, Result};

use super::cell::{Cell, StepState};

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

/// What one pass over a sequence produces.
#[derive(Debug)]
pub(crate) struct RnnRun {
    /// `[batch, time, units]` in processing order, or the last output `[batch, units]`.
    pub(crate) output: ArrayD<f32>,
    /// The final states: `[h, c]` for LSTM, `[h]` otherwise.
    pub(crate) states: Vec<Array2<f32>>,
}

/// Runs `cell` over `x` (`[batch, time, features]`). `mask` (`[batch, time]`,
/// true = valid) freezes the states of a row at its masked steps; the output
/// there is the previous output (zeros before the first valid step, as in the
/// TensorFlow backend) or zeros with `zero_output_for_mask`.
pub(crate) fn run_sequence(
    cell: &Cell,
    opts: LoopOptions,
    x: ArrayView3<'_, f32>,
    mask: Option<ArrayView2<'_, bool>>,
) -> Result<RnnRun> {
    let (batch, steps, features) = x.dim();
    if features != cell.input_dim() {
        return Err(Error::invalid(format!(
            "expects inputs with {} features (its kernel was built for them), got an array of \
             shape {:?}",
            cell.input_dim(),
            x.shape()
        )));
    }
    if let Some(m) = &mask {
        if m.dim() != (batch, steps) {
            return Err(Error::invalid(format!(
                "the mask must have shape [batch, time] = {:?}, got {:?}",
                [batch, steps],
                m.shape()
            )));
        }
    }
    let views = cell.views()?;
    let (units, width) = (cell.units, cell.kind.gates() * cell.units);

    // The input projection of every step with one GEMM, time-major so that the
    // rows of one step are contiguous.
    let time_major = x.permuted_axes([1, 0, 2]);
    let time_major = time_major.as_standard_layout();
    let flat = time_major
        .view()
        .into_shape_with_order((steps * batch, features))
        .map_err(|e| Error::invalid(format!("internal: reshape of the input failed: {e}")))?;
    let projected = cell
        .project(&views, flat)
        .into_shape_with_order((steps, batch, width))
        .map_err(|e| Error::invalid(format!("internal: reshape of the projection failed: {e}")))?;

    let mut state = StepState::new(cell.kind, batch, units);
    let mut sequence = opts
        .return_sequences
        .then(|| Array3::<f32>::zeros((batch, steps, units)));
    let mut valid = vec![true; batch];
    for k in 0..steps {
        let t = if opts.go_backwards { steps - 1 - k } else { k };
        if let Some(m) = &mask {
            for (row, v) in valid.iter_mut().enumerate() {
                *v = m.get((row, t)).copied().unwrap_or(true);
            }
        }
        cell.step(&views, projected.index_axis(Axis(0), t), &valid, &mut state)?;
        if let Some(seq) = &mut sequence {
            // With zero initial states the previous output always equals the
            // kept state, so a masked row repeats `h` (or outputs zeros).
            let mut out = seq.index_axis_mut(Axis(1), k);
            out.assign(&state.h);
            zero_masked_rows(&mut out, &valid, opts);
        }
    }
    let output = match sequence {
        Some(seq) => seq.into_dyn(),
        None => {
            let mut last = state.h.clone();
            zero_masked_rows(&mut last.view_mut(), &valid, opts);
            last.into_dyn()
        }
    };
    let mut states = vec![state.h];
    if cell.kind.n_states() == 2 {
        states.push(state.c);
    }
    Ok(RnnRun { output, states })
}

fn zero_masked_rows(out: &mut ndarray::ArrayViewMut2<'_, f32>, valid: &[bool], opts: LoopOptions) {
    if !opts.zero_output_for_mask {
        return;
    }
    for (mut row, &ok) in out.outer_iter_mut().zip(valid) {
        if !ok {
            row.fill(0.0);
        }
    }
}
