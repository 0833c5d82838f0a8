//! `ActivityRegularization` (Keras' `layers.ActivityRegularization`): the
//! identity, whose output carries an L1/L2 activity penalty.

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    BackwardCall, CallContext, Inputs, Layer, LayerGrads, Result, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::{Common, LayerClass};
use crate::class_and_config;
use crate::util::{expect_float, expect_inputs};

/// Builder and configuration of an `ActivityRegularization` layer (Keras'
/// `layers.ActivityRegularization`): returns its input; training adds
/// `(l1·Σ|y| + l2·Σy²) / batch size` to the loss, as Keras 3 adds an
/// activity regularizer's penalty. Masks pass through.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([4]).build();
/// let y = ActivityRegularization::new(0.01, 0.0).call(&x).unwrap();
/// assert_eq!(y.layer().class_name(), "ActivityRegularization");
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(ActivityRegularizationLayer)]
pub struct ActivityRegularization {
    /// The L1 factor (default 0).
    pub l1: f64,
    /// The L2 factor (default 0).
    pub l2: f64,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl ActivityRegularization {
    /// A layer with these factors.
    pub fn new(l1: f64, l2: f64) -> Self {
        ActivityRegularization {
            l1,
            l2,
            ..Default::default()
        }
    }
}

/// The `ActivityRegularization` layer itself.
#[derive(Debug)]
pub struct ActivityRegularizationLayer {
    config: ActivityRegularization,
}

impl LayerClass for ActivityRegularizationLayer {
    const CLASS_NAME: &'static str = "ActivityRegularization";
    type Builder = ActivityRegularization;

    fn from_builder(config: ActivityRegularization) -> Self {
        ActivityRegularizationLayer { config }
    }
}

impl Layer for ActivityRegularizationLayer {
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
        tensorweave_core::TimeRole::PerElement
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        Ok(vec![inputs.value(0)?.clone()])
    }

    /// Keras builds it as `regularizers.L1L2(l1, l2)`.
    fn activity_regularizer(&self) -> Option<serde_json::Value> {
        Some(serde_json::json!({
            "module": "keras.regularizers",
            "class_name": "L1L2",
            "config": {"l1": self.config.l1, "l2": self.config.l2},
            "registered_name": null,
        }))
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        Ok(LayerGrads::inputs(vec![call.value_grad(0)?.cloned()]))
    }
}
