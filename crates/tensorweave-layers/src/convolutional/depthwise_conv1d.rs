//! `DepthwiseConv1D` (Keras' `layers.DepthwiseConv1D`): each input channel
//! convolved with its own `depth_multiplier` filters (output channel
//! `c · multiplier + m`), then the bias and the activation. Kernel
//! `(kernel_size, channels, multiplier)`, bias `(channels · multiplier,)`.
//! Takes no mask (as Keras' convolutions).

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    layer_rng, BackwardCall, BuildContext, CallContext, Error, Initializer, Inputs, Layer,
    LayerGrads, Param, Result, TensorSpec, Trained, Value,
};
use tensorweave_derive::LayerConfig;

use super::depthwise::{sequence, Window};
use super::{expect_channels_last, tuple1, DataFormat, Padding};
use crate::activations::{activated_for_training, pre_activation_grad, Activation};
use crate::class::Common;
use crate::util::{expect_float, expect_inputs, expect_rank, known_last_dim};
use crate::{class_and_config, optional_params};

/// Builder and configuration of a `DepthwiseConv1D` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 4]).build();
/// let y = DepthwiseConv1D::new(3).depth_multiplier(2).padding(Padding::Same).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(10), Some(8)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(DepthwiseConv1DLayer, class = "DepthwiseConv1D")]
pub struct DepthwiseConv1D {
    /// Window length.
    #[serde(with = "tuple1")]
    #[config(default = 1)]
    pub kernel_size: usize,
    /// Step between windows (default 1).
    #[serde(with = "tuple1")]
    #[config(default = 1)]
    pub strides: usize,
    /// `valid` (default) or `same`.
    pub padding: Padding,
    /// Filters per input channel (default 1).
    #[config(default = 1)]
    pub depth_multiplier: usize,
    /// Channel axis position; only `channels_last` runs.
    pub data_format: DataFormat,
    /// Spacing between kernel taps (default 1).
    #[serde(with = "tuple1")]
    #[config(default = 1)]
    pub dilation_rate: usize,
    /// Applied after adding the bias (default linear).
    pub activation: Activation,
    /// Whether to add a bias (default true).
    #[config(default = true)]
    pub use_bias: bool,
    /// Depthwise kernel initializer (default Glorot uniform).
    #[config(default = Initializer::GlorotUniform)]
    pub depthwise_initializer: Initializer,
    /// Bias initializer (default zeros).
    #[config(default = Initializer::Zeros)]
    pub bias_initializer: Initializer,
    /// The depthwise kernel's regularizer as Keras serializes it (default none).
    pub depthwise_regularizer: Option<serde_json::Value>,
    /// The bias's regularizer (default none).
    pub bias_regularizer: Option<serde_json::Value>,
    /// Keras' `activity_regularizer` (default none).
    pub activity_regularizer: Option<serde_json::Value>,
    /// Whether the weights are trainable (default true).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl DepthwiseConv1D {
    /// A depthwise convolution with windows of `kernel_size` steps.
    pub fn new(kernel_size: usize) -> Self {
        DepthwiseConv1D {
            kernel_size,
            ..Default::default()
        }
    }

    fn window(&self) -> Window {
        Window {
            kernel_size: self.kernel_size,
            strides: self.strides,
            padding: self.padding,
            dilation_rate: self.dilation_rate,
            depth_multiplier: self.depth_multiplier,
        }
    }
}

/// The `DepthwiseConv1D` layer: its configuration and `kernel`, `bias`.
#[derive(Debug, Default)]
pub struct DepthwiseConv1DLayer {
    config: DepthwiseConv1D,
    kernel: Option<Param>,
    bias: Option<Param>,
}

impl DepthwiseConv1DLayer {
    fn kernel(&self) -> Result<&Param> {
        self.kernel
            .as_ref()
            .ok_or_else(|| Error::invalid("called before it was built"))
    }

    fn affine(&self, inputs: &Inputs<'_>) -> Result<ndarray::ArrayD<f32>> {
        let x = sequence(inputs)?;
        let mut y = self.config.window().forward(x, &self.kernel()?.value)?;
        if let Some(b) = &self.bias {
            y += &b.value;
        }
        Ok(y)
    }
}

impl Layer for DepthwiseConv1DLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let c = &self.config;
        expect_channels_last(c.data_format)?;
        c.window().validate()?;
        expect_rank(&inputs[0], 3, "inputs (batch, steps, channels)")?;
        let channels = known_last_dim(&inputs[0])?;
        let mut rng = layer_rng(c.common.seed);
        self.kernel = Some(ctx.add_weight(
            "kernel",
            &[c.kernel_size, channels, c.depth_multiplier],
            &c.depthwise_initializer,
            c.trainable,
            &mut rng,
        )?);
        self.bias = c
            .use_bias
            .then(|| {
                ctx.add_weight(
                    "bias",
                    &[channels * c.depth_multiplier],
                    &c.bias_initializer,
                    c.trainable,
                    &mut rng,
                )
            })
            .transpose()?;
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_float(x)?;
        expect_rank(x, 3, "inputs (batch, steps, channels)")?;
        let channels = known_last_dim(x)?;
        let steps = self.config.window().out_steps(x.shape[1])?;
        Ok(vec![TensorSpec::f32(vec![
            x.shape[0],
            steps,
            Some(channels * self.config.depth_multiplier),
        ])])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let mut y = self.affine(inputs)?;
        self.config.activation.apply_inplace(&mut y);
        Ok(vec![Value::F32(y)])
    }

    fn has_backward(&self) -> bool {
        true
    }

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
        let x = sequence(call.inputs)?;
        let (gx, gk) = self
            .config
            .window()
            .backward(x, &self.kernel()?.value, &gz)?;
        let mut grads = LayerGrads::inputs(vec![Some(gx)]).param("kernel", gk);
        if self.bias.is_some() {
            let gb = crate::util::rows_of(&gz)?.sum_axis(ndarray::Axis(0));
            grads = grads.param("bias", gb.into_dyn());
        }
        Ok(grads)
    }

    fn activity_regularizer(&self) -> Option<serde_json::Value> {
        self.config.activity_regularizer.clone()
    }

    fn weight_regularizers(&self) -> Vec<(String, serde_json::Value)> {
        let c = &self.config;
        crate::util::regularizers(&[
            ("kernel", &c.depthwise_regularizer),
            ("bias", &c.bias_regularizer),
        ])
    }

    optional_params!(kernel, bias);
}
