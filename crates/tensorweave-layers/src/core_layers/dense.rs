//! `Dense`: `activation(x @ kernel + bias)` over the last axis.

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    layer_rng, BackwardCall, BuildContext, CallContext, Initializer, Layer, LayerGrads, LayerRef,
    Param, Result, TensorSpec, Trained, Value,
};
use tensorweave_derive::LayerConfig;

use crate::activations::{activated_for_training, pre_activation_grad, Activation};
use crate::class::Common;
use crate::util::{
    expect_float, expect_inputs, expect_last_dim, known_last_dim, matmul_last,
    matmul_last_backward, matrix_view,
};
use crate::{class_and_config, optional_params};
use tensorweave_core::Inputs;

/// Builder and configuration of a `Dense` layer (Keras' `layers.Dense`).
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([8]).build();
/// let y = Dense::new(3).activation(Activation::Softmax).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(3)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(DenseLayer, class = "Dense")]
pub struct Dense {
    /// Output size.
    #[config(default = 1)]
    pub units: usize,
    /// Applied after the affine map (default linear).
    pub activation: Activation,
    /// Whether to add a bias (default true).
    #[config(default = true)]
    pub use_bias: bool,
    /// Kernel initializer (default Glorot uniform).
    #[config(default = Initializer::GlorotUniform)]
    pub kernel_initializer: Initializer,
    /// Bias initializer (default zeros).
    #[config(default = Initializer::Zeros)]
    pub bias_initializer: Initializer,
    /// The kernel's regularizer as Keras serializes it (`{"class_name": "L2", …}`),
    /// added to the training loss (default none).
    pub kernel_regularizer: Option<serde_json::Value>,
    /// The bias's regularizer (default none).
    pub bias_regularizer: Option<serde_json::Value>,
    /// Keras' `activity_regularizer`: a penalty on the output, divided by
    /// the batch size, added to the training loss (default none).
    pub activity_regularizer: Option<serde_json::Value>,
    /// Whether the weights are trainable (default true).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Dense {
    /// A dense layer with `units` outputs and Keras' defaults.
    pub fn new(units: usize) -> Self {
        Dense {
            units,
            ..Default::default()
        }
    }
}

/// The `Dense` layer itself: its configuration and, once built, its weights.
#[derive(Debug, Default)]
pub struct DenseLayer {
    config: Dense,
    kernel: Option<Param>,
    bias: Option<Param>,
    /// The outputs per token when an `Embedding` feeds this layer.
    fold: super::LookupFold,
}

impl DenseLayer {
    /// The configuration.
    pub fn config(&self) -> &Dense {
        &self.config
    }
}

impl Layer for DenseLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let input_dim = known_last_dim(&inputs[0])?;
        let c = &self.config;
        let mut rng = layer_rng(c.common.seed);
        let kernel = ctx.add_weight(
            "kernel",
            &[input_dim, c.units],
            &c.kernel_initializer,
            c.trainable,
            &mut rng,
        )?;
        let bias = c
            .use_bias
            .then(|| {
                ctx.add_weight(
                    "bias",
                    &[c.units],
                    &c.bias_initializer,
                    c.trainable,
                    &mut rng,
                )
            })
            .transpose()?;
        self.kernel = Some(kernel);
        self.bias = bias;
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_float(x)?;
        if let Some(k) = &self.kernel {
            expect_last_dim(x, k.value.shape()[0])?;
        }
        let mut shape = x.shape.clone();
        if let Some(last) = shape.last_mut() {
            *last = Some(self.config.units);
        }
        Ok(vec![TensorSpec::f32(shape)])
    }

    fn propagates_mask(&self) -> bool {
        true
    }

    fn time_role(&self) -> tensorweave_core::TimeRole {
        tensorweave_core::TimeRole::PerVector
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let mut y = self.affine(inputs)?;
        self.config.activation.apply_inplace(&mut y);
        Ok(vec![Value::F32(y)])
    }

    /// After an `Embedding`, the outputs of every token are a table and the
    /// call a row gather (`core_layers/lookup_fold.rs` gives the rule).
    fn accepts_lookup(&self, lookup: &LayerRef, ids: &Value) -> bool {
        self.folded(lookup, ids).is_some()
    }

    fn call_on_lookup(
        &self,
        lookup: &LayerRef,
        inputs: &Inputs<'_>,
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        super::folded_call(inputs, |ids| self.folded(lookup, ids))
    }

    fn cache_bytes(&self) -> usize {
        self.fold.bytes()
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn activity_regularizer(&self) -> Option<serde_json::Value> {
        self.config.activity_regularizer.clone()
    }

    fn weight_regularizers(&self) -> Vec<(String, serde_json::Value)> {
        let c = &self.config;
        crate::util::regularizers(&[
            ("kernel", &c.kernel_regularizer),
            ("bias", &c.bias_regularizer),
        ])
    }

    /// Keeps the pre-activation `z` when the activation's derivative needs it
    /// or the output's loss may use it as logits (softmax, sigmoid).
    fn call_train(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Trained> {
        Ok(activated_for_training(
            self.config.activation,
            self.affine(inputs)?,
        ))
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(gz) = pre_activation_grad(self.config.activation, call)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let x = call.inputs.f32(0)?;
        let kernel = self.built_kernel()?;
        let (gx, gk, gb) = matmul_last_backward(x, matrix_view(&kernel.value, "kernel")?, &gz)?;
        let mut grads = LayerGrads::inputs(vec![Some(gx)]).param("kernel", gk.into_dyn());
        if self.bias.is_some() {
            grads = grads.param("bias", gb.into_dyn());
        }
        Ok(grads)
    }

    optional_params!(kernel, bias);
}

impl DenseLayer {
    /// The folded table for the ids of `lookup`, when it pays.
    fn folded(
        &self,
        lookup: &LayerRef,
        ids: &Value,
    ) -> Option<std::sync::Arc<ndarray::Array2<f32>>> {
        let kernel = self.kernel.as_ref()?;
        let weights: Vec<&[f32]> = std::iter::once(&kernel.value)
            .chain(self.bias.as_ref().map(|b| &b.value))
            .map(|w| w.as_slice())
            .collect::<Option<_>>()?;
        let (rows, units) = (kernel.value.shape()[0], self.config.units);
        self.fold.table(
            lookup,
            ids,
            0,
            &weights,
            |dim| (dim == rows).then_some(units),
            |rows| super::call_on_rows(self, rows),
        )
    }

    fn built_kernel(&self) -> Result<&Param> {
        self.kernel
            .as_ref()
            .ok_or_else(|| tensorweave_core::Error::invalid("called before it was built"))
    }

    /// `x @ kernel + bias`.
    fn affine(&self, inputs: &Inputs<'_>) -> Result<ndarray::ArrayD<f32>> {
        let x = inputs.f32(0)?;
        let kernel = self.built_kernel()?;
        matmul_last(
            x,
            matrix_view(&kernel.value, "kernel")?,
            self.bias.as_ref().map(|b| &b.value),
        )
    }
}
