//! One activated block of a cell kept for the backward (an LSTM's input gate,
//! a GRU's candidate, …): its output for every entry and, when the
//! activation's derivative reads it, its input.
//!
//! The backward turns these into derivatives once, for all entries, with
//! [`Activation::grad`] (TensorFlow's conventions), so that each step only
//! multiplies. Softmax-like activations, which Keras applies over each gate
//! block, have no element-wise derivative: their vector product is taken per
//! row and step (an unusual choice in a recurrent cell; it allocates).

use std::ops::Range;

use ndarray::{ArrayD, IxDyn};
use tensorweave_core::{Error, Result};
use tensorweave_kernels::math;

use crate::activations::Activation;
use crate::rnn::step::{apply, vectorized, Mode};

/// The values of one activated block, `[entries, units]`.
#[derive(Debug)]
pub(crate) struct Gate {
    act: Activation,
    units: usize,
    /// The activation's output (its input until [`Gate::activate`]).
    y: Vec<f32>,
    /// The activation's input, kept when its derivative needs it.
    z: Option<Vec<f32>>,
}

/// The derivative of a [`Gate`]'s activation, ready for the backward.
#[derive(Debug)]
pub(crate) enum Deriv {
    /// The identity: nothing to multiply.
    Identity,
    /// Element-wise: `d activation / dz` at every entry.
    Diagonal(Vec<f32>),
    /// Softmax-like over each row: a vector product per row.
    Block,
}

impl Gate {
    /// Room for `entries` rows of `units` values.
    pub(crate) fn new(act: Activation, entries: usize, units: usize) -> Self {
        Gate {
            act,
            units,
            y: vec![0.0; entries * units],
            z: act.grad_needs_input().then(|| vec![0.0; entries * units]),
        }
    }

    /// The number of units (values per entry).
    pub(crate) fn units(&self) -> usize {
        self.units
    }

    /// The number of entries.
    pub(crate) fn entries(&self) -> usize {
        self.y.len() / self.units.max(1)
    }

    /// The output of entry `e` (its input before [`Gate::activate`]).
    #[inline]
    pub(crate) fn row(&self, e: usize) -> &[f32] {
        &self.y[e * self.units..(e + 1) * self.units]
    }

    /// Entry `e`'s row, to write its input into.
    #[inline]
    pub(crate) fn row_mut(&mut self, e: usize) -> &mut [f32] {
        &mut self.y[e * self.units..(e + 1) * self.units]
    }

    /// The outputs of the entries `e`, `[e.len(), units]`.
    pub(crate) fn rows(&self, e: Range<usize>) -> &[f32] {
        &self.y[e.start * self.units..e.end * self.units]
    }

    /// Applies the activation to the entries `e`, whose rows hold its input
    /// (kept when the derivative needs it). tanh and sigmoid use the
    /// vectorized forms of the inference loop (within a few float32 ulps).
    pub(crate) fn activate(&mut self, e: Range<usize>) {
        let span = e.start * self.units..e.end * self.units;
        if let Some(z) = &mut self.z {
            z[span.clone()].copy_from_slice(&self.y[span.clone()]);
        }
        let values = &mut self.y[span];
        match self.act {
            Activation::Tanh => vectorized(Mode::Fast, || {
                values.iter_mut().for_each(|v| *v = math::tanh(*v))
            }),
            Activation::Sigmoid => vectorized(Mode::Fast, || {
                values.iter_mut().for_each(|v| *v = math::sigmoid(*v))
            }),
            act => values
                .chunks_exact_mut(self.units)
                .for_each(|row| apply(act, row)),
        }
    }

    /// The derivative at every entry, by [`Activation::grad`] with a
    /// gradient of ones (`ones`, of the gate's shape, shared by the gates).
    pub(crate) fn derivative(&self, ones: &ArrayD<f32>) -> Result<Deriv> {
        match self.act {
            Activation::Linear => return Ok(Deriv::Identity),
            Activation::Softmax | Activation::LogSoftmax => return Ok(Deriv::Block),
            _ => {}
        }
        let as_array = |v: &[f32]| {
            ArrayD::from_shape_vec(ones.raw_dim(), v.to_vec())
                .map_err(|e| Error::invalid(format!("internal: gate values: {e}")))
        };
        let y = as_array(&self.y)?;
        let z = self.z.as_deref().map(as_array).transpose()?;
        let d = self.act.grad(z.as_ref(), &y, ones)?;
        Ok(Deriv::Diagonal(into_vec(d)))
    }

    /// Turns `g`, the gradient reaching entry `e`'s output, into the gradient
    /// of its input.
    #[inline]
    pub(crate) fn backprop(&self, d: &Deriv, e: usize, g: &mut [f32]) -> Result<()> {
        let u = self.units;
        match d {
            Deriv::Identity => Ok(()),
            Deriv::Diagonal(d) => {
                g.iter_mut()
                    .zip(&d[e * u..(e + 1) * u])
                    .for_each(|(g, d)| *g *= d);
                Ok(())
            }
            Deriv::Block => {
                let row = |v: &[f32]| {
                    ArrayD::from_shape_vec(IxDyn(&[1, u]), v.to_vec())
                        .map_err(|e| Error::invalid(format!("internal: gate row: {e}")))
                };
                let gz = self.act.grad(None, &row(self.row(e))?, &row(g)?)?;
                g.iter_mut().zip(gz.iter()).for_each(|(g, &v)| *g = v);
                Ok(())
            }
        }
    }
}

/// The elements of `a` in logical order, without a copy when it is in
/// standard layout (iterating an `IxDyn` array is slow).
fn into_vec(a: ArrayD<f32>) -> Vec<f32> {
    if !a.is_standard_layout() {
        return a.iter().copied().collect();
    }
    let (v, offset) = a.into_raw_vec_and_offset();
    match offset {
        Some(o) if o > 0 => v[o..].to_vec(),
        _ => v,
    }
}
