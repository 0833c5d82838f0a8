//! `SpatialDropout1D`: dropout of whole feature channels of a sequence
//! (Keras' `layers.SpatialDropout1D`); the identity at inference.

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    BackwardCall, BuildContext, CallContext, Error, Inputs, Layer, LayerGrads, Result, TensorSpec,
    Trained, Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::Common;
use crate::class_and_config;
use crate::util::{expect_inputs, expect_rank};

/// Builder and configuration of a `SpatialDropout1D` layer (Keras'
/// `layers.SpatialDropout1D`): in training it drops whole channels of a
/// `(batch, steps, channels)` input, the same ones at every step; at
/// inference it is the identity. It passes masks through. Keras' config has
/// `rate` and `seed` (and no `trainable`).
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 8]).build();
/// let y = SpatialDropout1D::new(0.2).call(&x).unwrap();
/// assert_eq!(y.shape(), x.shape());
/// assert!(SpatialDropout1D::new(0.2).call(&Input::new([8]).build()).is_err());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(SpatialDropout1DLayer, class = "SpatialDropout1D")]
pub struct SpatialDropout1D {
    /// Fraction of the channels dropped in training, in `[0, 1]`.
    pub rate: f64,
    /// Seed of the dropout mask in training.
    pub seed: Option<u64>,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl SpatialDropout1D {
    /// Drops the fraction `rate` of the channels in training.
    pub fn new(rate: f64) -> Self {
        SpatialDropout1D {
            rate,
            ..Default::default()
        }
    }
}

/// The `SpatialDropout1D` layer itself.
#[derive(Debug, Clone, Default)]
pub struct SpatialDropout1DLayer {
    config: SpatialDropout1D,
}

impl Layer for SpatialDropout1DLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        if !(0.0..=1.0).contains(&self.config.rate) {
            return Err(Error::invalid(format!(
                "`rate` must be a number between 0 and 1, got {}",
                self.config.rate
            )));
        }
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        expect_rank(&inputs[0], 3, "inputs (batch, steps, channels)")?;
        Ok(vec![inputs[0].clone()])
    }

    fn propagates_mask(&self) -> bool {
        true
    }

    fn time_role(&self) -> tensorweave_core::TimeRole {
        // An identity at inference.
        tensorweave_core::TimeRole::PerElement
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        Ok(vec![inputs.one()?.clone()])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// Drops whole channels of each sequence: noise shape `(batch, 1, channels)`.
    fn call_train(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Trained> {
        let shape = inputs.f32(0)?.shape().to_vec();
        let noise = [
            shape.first().copied().unwrap_or(1),
            1,
            shape.get(2).copied().unwrap_or(1),
        ];
        super::drop_train(inputs, self.config.rate, self.config.seed, &noise, ctx)
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        super::drop_backward(call)
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;
    use serde_json::json;

    use crate::prelude::*;

    /// Keras 3.15.1:
    /// `SpatialDropout1D(0.3, seed=5)(x)` is `x` at inference, and its
    /// `get_config()` is `{'rate': 0.3, 'seed': 5, 'name': 'spatial_dropout1d',
    /// 'dtype': 'float32'}`.
    #[test]
    fn identity_at_inference_with_keras_config() {
        reset_names();
        let x = Input::new([4, 3]).build();
        let y = SpatialDropout1D::new(0.3).seed(5).call(&x).unwrap();
        assert_eq!(y.layer().name(), "spatial_dropout1d");
        assert_eq!(
            y.layer().config(),
            json!({ "rate": 0.3, "seed": 5, "name": "spatial_dropout1d" })
        );
        let model = Model::new(&[x], &[y]).unwrap();
        let data = array![[
            [0.0f32, 1.0, 2.0],
            [3.0, 4.0, 5.0],
            [6.0, 7.0, 8.0],
            [9.0, 10.0, 11.0]
        ]];
        let out = model.predict(&[data.clone().into()]).unwrap();
        assert_eq!(out[0], Value::F32(data.into_dyn()));
    }

    #[test]
    fn rate_is_checked_and_masks_pass() {
        let x = Input::new([4, 3]).build();
        assert!(SpatialDropout1D::new(1.5).call(&x).is_err());
        let tokens = Input::new([4]).dtype(DType::I32).build();
        let e = Embedding::new(5, 3).mask_zero(true).call(&tokens).unwrap();
        let d = SpatialDropout1D::new(0.1).call(&e).unwrap();
        assert_eq!(d.mask(), e.mask());
    }
}
