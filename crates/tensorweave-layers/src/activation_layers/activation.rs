//! `Activation`: an activation function as a layer of its own (Keras'
//! `layers.Activation`); it passes masks through unchanged.

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    BackwardCall, CallContext, Layer, LayerGrads, Result, TensorSpec, Trained, Value,
};
use tensorweave_derive::LayerConfig;

use crate::activations::{activated_for_training, pre_activation_grad, Activation};
use crate::class::Common;
use crate::class_and_config;
use crate::util::{expect_float, expect_inputs};
use tensorweave_core::Inputs;

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
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(ActivationLayerImpl, class = "Activation")]
pub struct ActivationLayer {
    /// The function applied.
    pub activation: Activation,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl ActivationLayer {
    /// A layer applying `activation`.
    pub fn new(activation: Activation) -> Self {
        ActivationLayer {
            activation,
            ..Default::default()
        }
    }
}

/// The `Activation` layer itself.
#[derive(Debug, Clone, Default)]
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
    class_and_config!();

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        expect_float(&inputs[0])?;
        Ok(vec![inputs[0].clone()])
    }

    fn propagates_mask(&self) -> bool {
        true
    }

    fn time_role(&self) -> tensorweave_core::TimeRole {
        // Element-wise or over the last axis (softmax): per step either way.
        tensorweave_core::TimeRole::PerVector
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.value(0)?;
        let mut y = x.as_f32()?.clone();
        self.config.activation.apply_inplace(&mut y);
        Ok(vec![Value::F32(y)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn call_train(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Trained> {
        let z = inputs.f32(0)?.clone();
        Ok(activated_for_training(self.config.activation, z))
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let gz = pre_activation_grad(self.config.activation, call)?;
        Ok(LayerGrads::inputs(vec![gz]))
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
}
