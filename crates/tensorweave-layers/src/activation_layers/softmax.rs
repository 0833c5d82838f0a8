//! `Softmax` (Keras' `layers.Softmax`): softmax over one axis; masked
//! entries are replaced by `-1e9` before it and by 0 after it.

use ndarray::{ArrayD, Axis};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    format_dims, BackwardCall, CallContext, Error, Inputs, Layer, LayerGrads, Result, TensorSpec,
    Trained, Value,
};
use tensorweave_derive::LayerConfig;

use crate::activations::softmax_slice;
use crate::class::{Common, LayerClass};
use crate::class_and_config;
use crate::util::{expect_float, expect_inputs};

/// Keras' `_large_negative_number` for float32: what a masked entry becomes.
const MASKED: f32 = -1e9;

/// Builder and configuration of a `Softmax` layer (Keras' `layers.Softmax`):
/// the softmax over `axis` (default the last). With a Keras mask that
/// broadcasts to the input (each axis, from the right, 1 or the input's),
/// masked entries become `-1e9` before the softmax and 0 after it (so an
/// axis masked entirely gives zeros), as Keras 3.15.1 does. The mask passes
/// through.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([3, 4]).build();
/// let y = Softmax::new().axis(1).call(&x).unwrap();
/// assert_eq!(y.layer().class_name(), "Softmax");
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(SoftmaxLayer)]
pub struct Softmax {
    /// The axis the probabilities sum to 1 over (negative counts from the end).
    #[config(default = -1)]
    pub axis: i64,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Softmax {
    /// The softmax over the last axis.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The `Softmax` layer itself.
#[derive(Debug)]
pub struct SoftmaxLayer {
    config: Softmax,
}

impl LayerClass for SoftmaxLayer {
    const CLASS_NAME: &'static str = "Softmax";
    type Builder = Softmax;

    fn from_builder(config: Softmax) -> Self {
        SoftmaxLayer { config }
    }
}

impl SoftmaxLayer {
    /// The axis in an array of rank `rank`, or an error naming both.
    fn axis(&self, rank: usize) -> Result<Axis> {
        let a = self.config.axis;
        let resolved = if a < 0 { rank as i64 + a } else { a };
        if resolved < 0 || resolved >= rank as i64 {
            return Err(Error::invalid(format!(
                "axis {a} is outside an input of rank {rank}; use an axis in -{rank}..{rank}"
            )));
        }
        Ok(Axis(resolved as usize))
    }

    /// The probabilities of `x`, masked entries `-1e9` before and 0 after.
    fn probabilities(&self, x: &ArrayD<f32>, mask: Option<&Value>) -> Result<ArrayD<f32>> {
        let axis = self.axis(x.ndim())?;
        let mut z = x.clone();
        let mask = match mask {
            Some(mask) => {
                let m = mask.as_bool()?;
                let m = m.broadcast(z.raw_dim()).ok_or_else(|| {
                    Error::invalid(format!(
                        "the mask of shape {} does not broadcast to the input's shape {} (each \
                         mask axis, from the right, must be 1 or the input's), as Keras requires \
                         of a masked Softmax",
                        format_dims(m.shape()),
                        format_dims(x.shape())
                    ))
                })?;
                z.zip_mut_with(&m, |v, &valid| {
                    if !valid {
                        *v = MASKED;
                    }
                });
                Some(m)
            }
            None => None,
        };
        for mut lane in z.lanes_mut(axis) {
            let mut v: Vec<f32> = lane.iter().copied().collect();
            softmax_slice(&mut v, false);
            lane.iter_mut().zip(v).for_each(|(o, p)| *o = p);
        }
        if let Some(m) = mask {
            z.zip_mut_with(&m, |v, &valid| {
                if !valid {
                    *v = 0.0;
                }
            });
        }
        Ok(z)
    }
}

impl Layer for SoftmaxLayer {
    class_and_config!();

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        expect_float(&inputs[0])?;
        self.axis(inputs[0].rank())?;
        Ok(vec![inputs[0].clone()])
    }

    fn propagates_mask(&self) -> bool {
        true
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let y = self.probabilities(inputs.f32(0)?, inputs.mask(0))?;
        Ok(vec![Value::F32(y)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn call_train(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Trained> {
        Ok(Trained::new(self.call(inputs, ctx)?))
    }

    /// `gx = y · (gy - Σ_axis gy·y)`; masked entries (`y = 0`) get none.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(gy) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let y = call
            .outputs
            .first()
            .ok_or_else(|| Error::invalid("internal: no output to differentiate"))?
            .as_f32()?;
        let axis = self.axis(y.ndim())?;
        let dot = (gy * y).sum_axis(axis).insert_axis(axis);
        let gx = y * &(gy - &dot);
        Ok(LayerGrads::inputs(vec![Some(gx)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn masked_entries_take_no_weight_and_rows_sum_to_one() {
        let layer = SoftmaxLayer::from_builder(Softmax::new());
        let x = array![[1.0f32, 2.0, 3.0]].into_dyn();
        let m = Value::Bool(array![[true, false, true]].into_dyn());
        let y = layer.probabilities(&x, Some(&m)).unwrap();
        assert_eq!(y[[0, 1]], 0.0);
        assert!((y.sum() - 1.0).abs() < 1e-6);
        let none = Value::Bool(array![[false, false, false]].into_dyn());
        assert_eq!(layer.probabilities(&x, Some(&none)).unwrap().sum(), 0.0);
        let wrong = Value::Bool(array![[true, false]].into_dyn());
        assert!(layer.probabilities(&x, Some(&wrong)).is_err());
    }
}
