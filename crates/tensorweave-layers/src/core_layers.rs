//! Small weightless layers: `Activation` (as a layer of its own) and `Dropout`
//! (the identity at inference). Both pass masks through unchanged.

use std::any::Any;

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    auto_name, CallContext, Error, IntoLayer, Layer, LayerRef, Result, TensorSpec, Value,
};

use crate::activations::Activation;
use crate::util::{expect_float, expect_inputs};

fn with_trainable(mut config: serde_json::Value) -> serde_json::Value {
    if let serde_json::Value::Object(map) = &mut config {
        map.insert("trainable".into(), true.into());
    }
    config
}

/// Builder and configuration of an `Activation` layer (Keras' `layers.Activation`):
/// applies an activation function element-wise (softmax-like ones over the last axis).
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([4]).build();
/// let y = ActivationLayer::new(Activation::Relu).call(&x).unwrap();
/// assert_eq!(y.layer().class_name(), "Activation");
/// assert_eq!(y.shape(), &vec![None, Some(4)]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActivationLayer {
    /// The function applied.
    pub activation: Activation,
    #[serde(skip)]
    name: Option<String>,
}

impl ActivationLayer {
    /// A layer applying `activation`.
    pub fn new(activation: Activation) -> Self {
        ActivationLayer {
            activation,
            name: None,
        }
    }

    /// Names the layer (default `activation`, `activation_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl IntoLayer for ActivationLayer {
    fn into_layer(self) -> LayerRef {
        let name = self.name.clone().unwrap_or_else(|| auto_name("Activation"));
        LayerRef::new(name, ActivationLayerImpl { config: self })
    }
}

/// The `Activation` layer itself.
#[derive(Debug, Clone)]
pub struct ActivationLayerImpl {
    config: ActivationLayer,
}

impl ActivationLayerImpl {
    /// The configuration.
    pub fn config(&self) -> &ActivationLayer {
        &self.config
    }
}

impl Layer for ActivationLayerImpl {
    fn class_name(&self) -> &str {
        "Activation"
    }

    fn config(&self) -> serde_json::Value {
        with_trainable(serde_json::to_value(&self.config).unwrap_or_default())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        expect_float(&inputs[0])?;
        Ok(vec![inputs[0].clone()])
    }

    fn propagates_mask(&self) -> bool {
        true
    }

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let x = inputs
            .first()
            .ok_or_else(|| Error::invalid("expects 1 input array"))?;
        let mut y = x.as_f32()?.clone();
        self.config.activation.apply_inplace(&mut y);
        Ok(vec![Value::F32(y)])
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dropout {
    /// Fraction of the units dropped in training, in `[0, 1]`.
    pub rate: f64,
    /// Shape of the binary dropout mask in training (`None` entries follow the input).
    pub noise_shape: Option<Vec<Option<usize>>>,
    /// Seed of the dropout mask in training.
    pub seed: Option<u64>,
    #[serde(skip)]
    name: Option<String>,
}

impl Default for Dropout {
    fn default() -> Self {
        Dropout {
            rate: 0.0,
            noise_shape: None,
            seed: None,
            name: None,
        }
    }
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

    /// Seeds the dropout mask.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Names the layer (default `dropout`, `dropout_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
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

impl IntoLayer for Dropout {
    fn into_layer(self) -> LayerRef {
        let name = self.name.clone().unwrap_or_else(|| auto_name("Dropout"));
        LayerRef::new(name, DropoutLayer { config: self })
    }
}

/// The `Dropout` layer itself.
#[derive(Debug, Clone)]
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
    fn class_name(&self) -> &str {
        "Dropout"
    }

    fn config(&self) -> serde_json::Value {
        with_trainable(serde_json::to_value(&self.config).unwrap_or_default())
    }

    fn build(&mut self, inputs: &[TensorSpec]) -> Result<()> {
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

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let x = inputs
            .first()
            .ok_or_else(|| Error::invalid("expects 1 input array"))?;
        Ok(vec![(*x).clone()])
    }

    fn as_any(&self) -> &dyn Any {
        self
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

    /// relu clips negatives; softmax of `[0, ln 3]` is `[1/4, 3/4]`.
    #[test]
    fn activation_layer_applies_its_function() {
        let y = run(
            ActivationLayer::new(Activation::Relu),
            array![[-1.0f32, 0.5, 2.0]].into(),
            &[3],
        );
        assert_eq!(y, Value::F32(array![[0.0f32, 0.5, 2.0]].into_dyn()));
        let y = run(
            ActivationLayer::new(Activation::Softmax),
            array![[0.0f32, 3.0f32.ln()]].into(),
            &[2],
        );
        let y = y.as_f32().unwrap();
        assert!((y[[0, 0]] - 0.25).abs() < 1e-6 && (y[[0, 1]] - 0.75).abs() < 1e-6);
    }

    #[test]
    fn activation_layer_config_and_name() {
        reset_names();
        let x = Input::new([3]).build();
        let y = ActivationLayer::new(Activation::Silu).call(&x).unwrap();
        assert_eq!(y.layer().name(), "activation");
        assert_eq!(y.layer().class_name(), "Activation");
        assert_eq!(y.layer().config()["activation"], "silu");
        let ids = Input::new([3]).dtype(DType::I32).build();
        assert!(ActivationLayer::new(Activation::Tanh).call(&ids).is_err());
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
