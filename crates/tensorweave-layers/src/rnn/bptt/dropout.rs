//! Training-mode dropout of the built-in cells, as Keras' `DropoutRNNCell`
//! does it: each call draws its keep-masks once (entries kept with
//! probability `1 - rate` and scaled by `1 / (1 - rate)`, the rest zero) and
//! uses the same masks at every step.
//!
//! - `dropout` multiplies the step's input before the input product;
//!   `recurrent_dropout` multiplies the previous output `h` before the
//!   recurrent product only (the LSTM's carry `c` and the GRU's mix
//!   `z·h + (1 − z)·hh` use `h` as it is).
//! - With `recurrent_dropout` other than 0, Keras' LSTM and GRU switch to
//!   their `implementation=1`, which draws one mask per gate block (4 for the
//!   LSTM, 3 for the GRU) for the input and for the state; otherwise one
//!   input mask serves all gates. `SimpleRNN` always draws one mask each.
//! - A rate is applied only when `0 < rate < 1` (Keras' condition in every
//!   cell: a rate of exactly 1 drops nothing).
//!
//! The masks come from the layer's `seed` mixed with the step's seed
//! ([`tensorweave_core::CallContext::step_seed`]): a seeded layer repeats its
//! masks for the same step; TensorFlow's random stream is not reproduced.

use std::ops::Range;

use ndarray::{s, Array2, ArrayView3};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tensorweave_core::{Error, Result};

use super::layout::Layout;
use super::{CellMath, CellTraining};

/// The rates and seed a recurrent layer's training dropout is drawn from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct DropoutRates {
    /// `dropout`, of the inputs.
    pub(crate) input: f32,
    /// `recurrent_dropout`, of the state in the recurrent product.
    pub(crate) recurrent: f32,
    /// The layer's seed (`None`: fresh masks at every call).
    pub(crate) seed: Option<u64>,
    /// The training step's seed.
    pub(crate) step_seed: u64,
}

/// The keep-masks of one training call, scaled by `1 / (1 - rate)`.
#[derive(Debug, Clone, Default)]
pub(crate) struct CellDropout {
    /// Of the inputs, `[batch, features]` each: none, one for all gates, or
    /// one per gate block.
    pub(crate) input: Vec<Array2<f32>>,
    /// Of the previous output in the recurrent product, `[batch, units]`
    /// each: none, or one per gate block.
    pub(crate) recurrent: Vec<Array2<f32>>,
}

/// Whether Keras applies a rate (`0 < rate < 1`).
fn applied(rate: f32) -> bool {
    rate > 0.0 && rate < 1.0
}

impl CellDropout {
    /// The masks of one call for a batch of `batch` rows of `features`
    /// inputs and `units` units.
    pub(crate) fn draw(
        t: CellTraining,
        rates: DropoutRates,
        batch: usize,
        features: usize,
        units: usize,
    ) -> Self {
        if !applied(rates.input) && !applied(rates.recurrent) {
            return CellDropout::default();
        }
        let per_gate = t.math != CellMath::Simple && rates.recurrent != 0.0;
        let count = if per_gate { t.gates() } else { 1 };
        let base = rates
            .seed
            .unwrap_or_else(|| tensorweave_core::layer_rng(None).random());
        let mut rng =
            StdRng::seed_from_u64(base ^ rates.step_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut masks = |rate: f32, cols: usize| -> Vec<Array2<f32>> {
            if !applied(rate) {
                return Vec::new();
            }
            let keep = 1.0 - f64::from(rate);
            let scale = (1.0 / keep) as f32;
            (0..count)
                .map(|_| {
                    Array2::from_shape_fn((batch, cols), |_| {
                        if rng.random::<f64>() < keep {
                            scale
                        } else {
                            0.0
                        }
                    })
                })
                .collect()
        };
        let input = masks(rates.input, features);
        let recurrent = masks(rates.recurrent, units);
        CellDropout { input, recurrent }
    }

    /// The masks of the batch rows `rows`.
    pub(crate) fn rows(&self, rows: Range<usize>) -> Self {
        let part = |m: &Vec<Array2<f32>>| {
            m.iter()
                .map(|a| a.slice(s![rows.clone(), ..]).to_owned())
                .collect()
        };
        CellDropout {
            input: part(&self.input),
            recurrent: part(&self.recurrent),
        }
    }
}

/// [`Layout::gather`] of `x` with each entry's row multiplied by its batch
/// row's `mask` (`[batch, features]`).
pub(crate) fn gather_masked(
    layout: &Layout,
    x: &ArrayView3<'_, f32>,
    mask: &Array2<f32>,
) -> Vec<f32> {
    let features = x.dim().2;
    let mut out = Vec::with_capacity(layout.len() * features);
    for k in 0..layout.steps() {
        let t = layout.time(k);
        for &r in layout.step(k).1 {
            let m = mask.row(r);
            out.extend(x.slice(s![r, t, ..]).iter().zip(m).map(|(&v, &m)| v * m));
        }
    }
    out
}

/// [`Layout::scatter`] of `values` (`[entries, features]`) with each entry's
/// row multiplied by its batch row's `mask`, added to `out`.
pub(crate) fn scatter_masked_into(
    layout: &Layout,
    values: &[f32],
    mask: &Array2<f32>,
    out: &mut ndarray::Array3<f32>,
) -> Result<()> {
    let features = mask.ncols();
    if values.len() != layout.len() * features
        || out.dim() != (layout.batch(), layout.steps(), features)
    {
        return Err(Error::invalid(
            "internal: masked scatter of a buffer of the wrong size",
        ));
    }
    for k in 0..layout.steps() {
        let t = layout.time(k);
        let (e, rows) = layout.step(k);
        for (entry, &r) in e.zip(rows) {
            let src = &values[entry * features..(entry + 1) * features];
            let m = mask.row(r);
            let mut dst = out.slice_mut(s![r, t, ..]);
            for ((o, &v), &m) in dst.iter_mut().zip(src).zip(m) {
                *o += v * m;
            }
        }
    }
    Ok(())
}

/// Each batch row's mask (`[batch, units]`) copied to the entries of its
/// rows: per gate block, `[entries, units]`.
pub(crate) fn entry_masks(
    layout: &Layout,
    masks: &[Array2<f32>],
    units: usize,
) -> Result<Vec<Vec<f32>>> {
    masks
        .iter()
        .map(|m| {
            let m = m
                .as_slice()
                .ok_or_else(|| Error::invalid("internal: a dropout mask is not contiguous"))?;
            let mut out = vec![0.0; layout.len() * units];
            for k in 0..layout.steps() {
                let (e, rows) = layout.step(k);
                super::layout::gather_rows(
                    m,
                    rows,
                    units,
                    &mut out[e.start * units..e.end * units],
                );
            }
            Ok(out)
        })
        .collect()
}

/// `hprev ⊙ mask` for every entry (`[entries, units]` each).
pub(crate) fn masked(hprev: &[f32], mask: &[f32]) -> Vec<f32> {
    hprev.iter().zip(mask).map(|(h, m)| h * m).collect()
}
