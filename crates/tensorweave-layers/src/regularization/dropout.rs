//! `Dropout`: the identity at inference (Keras' `layers.Dropout`); it passes
//! masks through unchanged.

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    BackwardCall, BuildContext, CallContext, Error, Layer, LayerGrads, Result, TensorSpec, Trained,
    Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::Common;
use crate::class_and_config;
use crate::util::expect_inputs;
use tensorweave_core::Inputs;

/// Builder and configuration of a `Dropout` layer (Keras' `layers.Dropout`).
/// tensorweave runs inference only, where dropout is the identity; `rate`,
/// `noise_shape` and `seed` are kept for the configuration. Keras accepts a
/// rate in `[0, 1]`; other values are an error when the layer is first called.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([4]).build();
/// let y = Dropout::new(0.5).call(&x).unwrap();
/// assert_eq!(y.shape(), x.shape());
/// assert!(Dropout::new(1.5).call(&x).is_err());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(DropoutLayer, class = "Dropout")]
pub struct Dropout {
    /// Fraction of the units dropped in training, in `[0, 1]`.
    pub rate: f64,
    /// Shape of the binary dropout mask in training (`None` entries follow the input).
    #[config(skip)]
    pub noise_shape: Option<Vec<Option<usize>>>,
    /// Seed of the dropout mask in training.
    pub seed: Option<u64>,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Dropout {
    /// A dropout layer dropping the fraction `rate` in training.
    pub fn new(rate: f64) -> Self {
        Dropout {
            rate,
            ..Default::default()
        }
    }

    /// Sets the shape of the dropout mask (e.g. `[None, Some(1), None]` to drop
    /// whole features for every timestep).
    pub fn noise_shape(mut self, shape: impl Into<Vec<Option<usize>>>) -> Self {
        self.noise_shape = Some(shape.into());
        self
    }

    fn validate(&self) -> Result<()> {
        if !(0.0..=1.0).contains(&self.rate) {
            return Err(Error::invalid(format!(
                "`rate` must be a number between 0 and 1, got {}",
                self.rate
            )));
        }
        if let Some(shape) = &self.noise_shape {
            if shape.contains(&Some(0)) {
                return Err(Error::invalid(format!(
                    "`noise_shape` entries must be positive or None, got {shape:?}"
                )));
            }
        }
        Ok(())
    }
}

/// The `Dropout` layer itself.
#[derive(Debug, Clone, Default)]
pub struct DropoutLayer {
    config: Dropout,
}

impl DropoutLayer {
    /// The configuration.
    pub fn config(&self) -> &Dropout {
        &self.config
    }
}

impl Layer for DropoutLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        self.config.validate()
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        Ok(vec![inputs[0].clone()])
    }

    fn propagates_mask(&self) -> bool {
        true
    }

    fn time_role(&self) -> tensorweave_core::TimeRole {
        // An identity at inference.
        tensorweave_core::TimeRole::PerElement
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn call_train(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Trained> {
        let shape = inputs.f32(0)?.shape().to_vec();
        let noise: Vec<usize> = match &self.config.noise_shape {
            None => shape,
            Some(n) => n.iter().zip(&shape).map(|(d, &s)| d.unwrap_or(s)).collect(),
        };
        super::drop_train(inputs, self.config.rate, self.config.seed, &noise, ctx)
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        super::drop_backward(call)
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.value(0)?;
        Ok(vec![(*x).clone()])
    }
}

#[cfg(test)]
mod tests {
    use ndarray::array;

    use crate::prelude::*;

    fn run(layer: impl IntoLayer, x: Value, shape: &[usize]) -> Value {
        let input = Input::new(shape.to_vec()).build();
        let y = layer.call(&input).unwrap();
        Model::new(&[input], &[y])
            .unwrap()
            .predict(&[x])
            .unwrap()
            .remove(0)
    }

    #[test]
    fn dropout_is_the_identity_at_inference() {
        let x = array![[1.0f32, -2.0, 3.0]];
        assert_eq!(
            run(Dropout::new(0.9).seed(3), x.clone().into(), &[3]),
            Value::F32(x.into_dyn())
        );
        let ids = Input::new([2]).dtype(DType::I32).build();
        assert_eq!(Dropout::new(0.1).call(&ids).unwrap().dtype(), DType::I32);
    }

    #[test]
    fn dropout_rate_is_validated_like_keras() {
        let x = Input::new([3]).build();
        // Keras 3.15.1 accepts 0 <= rate <= 1.
        assert!(Dropout::new(0.0).call(&x).is_ok());
        assert!(Dropout::new(1.0).call(&x).is_ok());
        for bad in [-0.1, 1.5, f64::NAN] {
            let err = Dropout::new(bad).call(&x).unwrap_err().to_string();
            assert!(
                err.contains("`rate` must be a number between 0 and 1"),
                "{err}"
            );
        }
        assert!(Dropout::new(0.5)
            .noise_shape(vec![None, Some(0)])
            .call(&x)
            .is_err());
    }

    #[test]
    fn dropout_config_keeps_rate_seed_and_noise_shape() {
        let x = Input::new([3]).build();
        let y = Dropout::new(0.25)
            .seed(7)
            .noise_shape(vec![None, Some(1)])
            .call(&x)
            .unwrap();
        assert_eq!(
            y.layer().config(),
            serde_json::json!({
                "rate": 0.25, "seed": 7, "noise_shape": [null, 1], "trainable": true,
                "name": y.layer().name(),
            })
        );
    }

    #[test]
    fn both_propagate_masks() {
        let tokens = Input::new([3]).dtype(DType::I32).build();
        let e = Embedding::new(4, 2).mask_zero(true).call(&tokens).unwrap();
        let d = Dropout::new(0.5).call(&e).unwrap();
        let a = ActivationLayer::new(Activation::Tanh).call(&d).unwrap();
        assert_eq!(d.mask(), e.mask());
        assert_eq!(a.mask(), e.mask());
    }
}
