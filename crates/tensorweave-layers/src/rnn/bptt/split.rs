//! Training on two threads: when the context allows it and the work is worth
//! a thread, the batch is split in two halves (rows are independent, as in
//! the inference loop), each half runs its own training forward and backward,
//! and the halves' weight gradients are summed.

use std::ops::Range;

use ndarray::{ArrayD, ArrayView3, Axis, Slice};
use tensorweave_core::{Error, Result};

use super::{
    backward, forward, CellDropout, CellTraining, OutputGrads, Sequence, SequenceGrads, Tape,
};
use crate::rnn::cell::CellWeights;
use crate::rnn::sequence::{concat_rows, join, split_batch, state_rows, LoopOptions, RnnRun};

/// What a training forward keeps: one tape per part of the batch, with the
/// rows it covers.
#[derive(Debug)]
pub(crate) struct SequenceTape {
    parts: Vec<(Range<usize>, Tape)>,
}

/// [`forward`], on both halves of the batch in parallel when
/// [`split_batch`] says so (each with its rows' dropout masks).
#[allow(clippy::too_many_arguments)]
pub(crate) fn forward_split(
    t: CellTraining,
    w: &CellWeights<'_>,
    units: usize,
    opts: LoopOptions,
    seq: Sequence<'_>,
    drop: CellDropout,
    threads: usize,
) -> Result<(RnnRun, SequenceTape)> {
    let Sequence { x, mask, init } = seq.clone();
    let (batch, steps, _) = x.dim();
    let mask_fits = mask.as_ref().is_none_or(|m| m.dim() == (batch, steps));
    let states_fit = init.iter().all(|s| s.dim() == (batch, units));
    let split = split_batch(x.dim(), t.gates(), units, threads).filter(|_| mask_fits && states_fit);
    let Some(half) = split else {
        let (run, tape) = forward(t, w, units, opts, seq, drop)?;
        let parts = vec![(0..batch, tape)];
        return Ok((run, SequenceTape { parts }));
    };
    let (x0, x1) = x.split_at(Axis(0), half);
    let (m0, m1) = match mask {
        Some(m) => {
            let (a, b) = m.split_at(Axis(0), half);
            (Some(a), Some(b))
        }
        None => (None, None),
    };
    let (d0, d1) = (drop.rows(0..half), drop.rows(half..batch));
    let (i0, i1) = (state_rows(init, 0..half), state_rows(init, half..batch));
    let (s0, s1) = (
        Sequence {
            x: x0,
            mask: m0,
            init: &i0,
        },
        Sequence {
            x: x1,
            mask: m1,
            init: &i1,
        },
    );
    let ((a, ta), (b, tb)) = join(
        || forward(t, w, units, opts, s0, d0),
        || forward(t, w, units, opts, s1, d1),
    )?;
    let output = concat_rows(a.output.view(), b.output.view())?;
    let states = a
        .states
        .iter()
        .zip(&b.states)
        .map(|(p, q)| concat_rows(p.view(), q.view()))
        .collect::<Result<Vec<_>>>()?;
    let parts = vec![(0..half, ta), (half..batch, tb)];
    Ok((RnnRun { output, states }, SequenceTape { parts }))
}

/// [`backward`] of each part of the tape (in parallel for two), the input
/// gradients joined and the weight gradients summed.
pub(crate) fn backward_split(
    t: CellTraining,
    w: &CellWeights<'_>,
    opts: LoopOptions,
    tape: &SequenceTape,
    x: ArrayView3<'_, f32>,
    grads: OutputGrads<'_>,
) -> Result<SequenceGrads> {
    match tape.parts.as_slice() {
        [(_, one)] => backward(t, w, opts, one, x, grads),
        [(ra, ta), (rb, tb)] => {
            let (ga, gb) = (PartGrads::of(&grads, ra), PartGrads::of(&grads, rb));
            let xa = x.slice_axis(Axis(0), Slice::from(ra.clone()));
            let xb = x.slice_axis(Axis(0), Slice::from(rb.clone()));
            let (a, b) = join(
                || backward(t, w, opts, ta, xa, ga.as_grads()),
                || backward(t, w, opts, tb, xb, gb.as_grads()),
            )?;
            sum_halves(a, b)
        }
        _ => Err(Error::invalid("internal: a sequence tape of no part")),
    }
}

/// The gradients reaching the outputs, for some rows of the batch.
struct PartGrads {
    output: Option<ArrayD<f32>>,
    h: Option<ArrayD<f32>>,
    c: Option<ArrayD<f32>>,
}

impl PartGrads {
    fn of(g: &OutputGrads<'_>, rows: &Range<usize>) -> Self {
        let part = |a: Option<&ArrayD<f32>>| {
            a.map(|a| {
                let end = rows.end.min(a.shape().first().copied().unwrap_or(0));
                let start = rows.start.min(end);
                a.slice_axis(Axis(0), Slice::from(start..end)).to_owned()
            })
        };
        PartGrads {
            output: part(g.output),
            h: part(g.h),
            c: part(g.c),
        }
    }

    fn as_grads(&self) -> OutputGrads<'_> {
        OutputGrads {
            output: self.output.as_ref(),
            h: self.h.as_ref(),
            c: self.c.as_ref(),
        }
    }
}

/// The gradients of two halves of the batch: input gradients stacked,
/// weight gradients summed.
fn sum_halves(a: SequenceGrads, b: SequenceGrads) -> Result<SequenceGrads> {
    let bias = match (a.bias, b.bias) {
        (Some(p), Some(q)) => Some(p + q),
        (None, None) => None,
        _ => {
            return Err(Error::invalid(
                "internal: a bias gradient for one half only",
            ))
        }
    };
    let states = a
        .states
        .iter()
        .zip(&b.states)
        .map(|(p, q)| concat_rows(p.view(), q.view()))
        .collect::<Result<Vec<_>>>()?;
    Ok(SequenceGrads {
        x: concat_rows(a.x.view(), b.x.view())?,
        states,
        kernel: a.kernel + b.kernel,
        recurrent: a.recurrent + b.recurrent,
        bias,
    })
}
