//! `Dense`: `activation(x @ kernel + bias)` over the last axis.

use std::any::Any;

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    auto_name, layer_rng, CallContext, Initializer, IntoLayer, Layer, LayerRef, Param,
    ParamVisitor, ParamVisitorMut, Result, TensorSpec, Value,
};

use crate::activations::Activation;
use crate::util::{
    expect_float, expect_inputs, expect_last_dim, known_last_dim, matmul_last, matrix_view,
};
use crate::weights::{assign_initial, Preset};

/// Builder and configuration of a `Dense` layer (Keras' `layers.Dense`).
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([8]).build();
/// let y = Dense::new(3).activation(Activation::Softmax).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(3)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Dense {
    /// Output size.
    pub units: usize,
    /// Applied after the affine map (default linear).
    pub activation: Activation,
    /// Whether to add a bias (default true).
    pub use_bias: bool,
    /// Kernel initializer (default Glorot uniform).
    pub kernel_initializer: Initializer,
    /// Bias initializer (default zeros).
    pub bias_initializer: Initializer,
    /// Whether the weights are trainable (default true).
    pub trainable: bool,
    #[serde(skip)]
    name: Option<String>,
    #[serde(skip)]
    seed: Option<u64>,
    #[serde(skip)]
    preset: Preset,
}

impl Default for Dense {
    fn default() -> Self {
        Dense {
            units: 1,
            activation: Activation::Linear,
            use_bias: true,
            kernel_initializer: Initializer::GlorotUniform,
            bias_initializer: Initializer::Zeros,
            trainable: true,
            name: None,
            seed: None,
            preset: Preset::default(),
        }
    }
}

impl Dense {
    /// A dense layer with `units` outputs and Keras' defaults.
    pub fn new(units: usize) -> Self {
        Dense {
            units,
            ..Default::default()
        }
    }

    /// Sets the activation.
    pub fn activation(mut self, activation: Activation) -> Self {
        self.activation = activation;
        self
    }

    /// Adds a bias or not.
    pub fn use_bias(mut self, use_bias: bool) -> Self {
        self.use_bias = use_bias;
        self
    }

    /// Sets the kernel initializer.
    pub fn kernel_initializer(mut self, init: Initializer) -> Self {
        self.kernel_initializer = init;
        self
    }

    /// Sets the bias initializer.
    pub fn bias_initializer(mut self, init: Initializer) -> Self {
        self.bias_initializer = init;
        self
    }

    /// Freezes or unfreezes the weights.
    pub fn trainable(mut self, trainable: bool) -> Self {
        self.trainable = trainable;
        self
    }

    /// Names the layer (default `dense`, `dense_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Seeds the initializers.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Initial weights `[kernel, bias]` (Keras' `weights=`), checked when the layer is built.
    pub fn weights(mut self, weights: Vec<ArrayD<f32>>) -> Self {
        self.preset = Preset(Some(weights));
        self
    }
}

impl IntoLayer for Dense {
    fn into_layer(self) -> LayerRef {
        let name = self.name.clone().unwrap_or_else(|| auto_name("Dense"));
        LayerRef::new(
            name,
            DenseLayer {
                config: self,
                kernel: None,
                bias: None,
            },
        )
    }
}

/// The `Dense` layer itself: its configuration and, once built, its weights.
#[derive(Debug)]
pub struct DenseLayer {
    config: Dense,
    kernel: Option<Param>,
    bias: Option<Param>,
}

impl DenseLayer {
    /// The configuration.
    pub fn config(&self) -> &Dense {
        &self.config
    }
}

impl Layer for DenseLayer {
    fn class_name(&self) -> &str {
        "Dense"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn build(&mut self, inputs: &[TensorSpec]) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let input_dim = known_last_dim(&inputs[0])?;
        let c = &self.config;
        let mut rng = layer_rng(c.seed);
        let kernel = c.kernel_initializer.sample(&[input_dim, c.units], &mut rng);
        self.kernel = Some(Param {
            name: "kernel".into(),
            value: kernel,
            trainable: c.trainable,
        });
        if c.use_bias {
            let bias = c.bias_initializer.sample(&[c.units], &mut rng);
            self.bias = Some(Param {
                name: "bias".into(),
                value: bias,
                trainable: c.trainable,
            });
        }
        let preset = self.config.preset.take();
        assign_initial(self, preset)
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

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let x = inputs[0].as_f32()?;
        let kernel = self
            .kernel
            .as_ref()
            .ok_or_else(|| tensorweave_core::Error::invalid("called before it was built"))?;
        let mut y = matmul_last(
            x,
            matrix_view(&kernel.value, "kernel")?,
            self.bias.as_ref().map(|b| &b.value),
        )?;
        self.config.activation.apply_inplace(&mut y);
        Ok(vec![Value::F32(y)])
    }

    fn visit_params(&self, visitor: &mut ParamVisitor<'_>) {
        for p in [&self.kernel, &self.bias].into_iter().flatten() {
            visitor(&p.name, p);
        }
    }

    fn visit_params_mut(&mut self, visitor: &mut ParamVisitorMut<'_>) {
        for p in [&mut self.kernel, &mut self.bias].into_iter().flatten() {
            visitor(&p.name.clone(), p);
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
