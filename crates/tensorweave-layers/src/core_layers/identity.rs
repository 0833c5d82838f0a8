//! `Identity` (Keras' `layers.Identity`): its input, unchanged.

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    BackwardCall, CallContext, Inputs, Layer, LayerGrads, Result, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::{Common, LayerClass};
use crate::class_and_config;
use crate::util::expect_inputs;

/// Builder and configuration of an `Identity` layer (Keras' `layers.Identity`):
/// returns its input of any dtype, mask included.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([4]).build();
/// let y = Identity::new().call(&x).unwrap();
/// assert_eq!(y.shape(), x.shape());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(IdentityLayer)]
pub struct Identity {
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Identity {
    /// The layer.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The `Identity` layer itself.
#[derive(Debug)]
pub struct IdentityLayer {
    config: Identity,
}

impl LayerClass for IdentityLayer {
    const CLASS_NAME: &'static str = "Identity";
    type Builder = Identity;

    fn from_builder(config: Identity) -> Self {
        IdentityLayer { config }
    }
}

impl Layer for IdentityLayer {
    class_and_config!();

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

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        Ok(vec![inputs.value(0)?.clone()])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        Ok(LayerGrads::inputs(vec![call.value_grad(0)?.cloned()]))
    }
}
