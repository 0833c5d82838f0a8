//! `BatchNormalization` (Keras' `layers.BatchNormalization`).

use ndarray::Axis;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use tensorweave_core::{
    format_shape, layer_rng, BuildContext, CallContext, Error, Initializer, Layer, Param, Result,
    TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use super::{param_vec, resolve};
use crate::class::{Common, LayerClass};
use crate::util::{expect_float, expect_inputs};
use tensorweave_core::Inputs;

/// Builder and configuration of a `BatchNormalization` layer (Keras'
/// `layers.BatchNormalization`), for inference: it normalises with the moving
/// statistics, `y = (x - moving_mean) / sqrt(moving_variance + epsilon) * gamma + beta`
/// along `axis`. Weights, in Keras' order: `gamma`, `beta` (trainable),
/// `moving_mean`, `moving_variance` (not trainable).
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([5]).build();
/// let y = BatchNormalization::new().call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(5)]);
/// assert_eq!(y.layer().count_params(), (10, 10));
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(BatchNormalizationLayer)]
pub struct BatchNormalization {
    /// The feature axis (default -1): one statistic per entry along it.
    #[config(default = -1)]
    pub axis: i64,
    /// Momentum of the moving statistics in training (stored for the configuration).
    #[config(default = 0.99)]
    pub momentum: f64,
    /// Added to the variance (default 1e-3).
    #[config(default = 1e-3)]
    pub epsilon: f64,
    /// Whether to add `beta` (default true).
    #[config(default = true)]
    pub center: bool,
    /// Whether to multiply by `gamma` (default true).
    #[config(default = true)]
    pub scale: bool,
    /// Initializer of `beta` (default zeros).
    #[config(default = Initializer::Zeros)]
    pub beta_initializer: Initializer,
    /// Initializer of `gamma` (default ones).
    #[config(default = Initializer::Ones)]
    pub gamma_initializer: Initializer,
    /// Initializer of `moving_mean` (default zeros).
    #[config(default = Initializer::Zeros)]
    pub moving_mean_initializer: Initializer,
    /// Initializer of `moving_variance` (default ones).
    #[config(default = Initializer::Ones)]
    pub moving_variance_initializer: Initializer,
    /// Whether `gamma` and `beta` are trainable (default true).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl BatchNormalization {
    /// Batch normalisation over the last axis with Keras' defaults.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The `BatchNormalization` layer itself.
#[derive(Debug)]
pub struct BatchNormalizationLayer {
    config: BatchNormalization,
    gamma: Option<Param>,
    beta: Option<Param>,
    moving_mean: Option<Param>,
    moving_variance: Option<Param>,
}

impl BatchNormalizationLayer {
    /// The configuration.
    pub fn config(&self) -> &BatchNormalization {
        &self.config
    }

    fn weights(&self) -> [&Option<Param>; 4] {
        [
            &self.gamma,
            &self.beta,
            &self.moving_mean,
            &self.moving_variance,
        ]
    }

    fn feature_axis(&self, shape: &[Option<usize>]) -> Result<(usize, usize)> {
        let a = resolve(self.config.axis, shape.len(), shape)?;
        let d = shape[a].ok_or_else(|| {
            Error::invalid(format!(
                "feature axis {} of input shape {} must be known",
                self.config.axis,
                format_shape(shape)
            ))
        })?;
        Ok((a, d))
    }
}

impl LayerClass for BatchNormalizationLayer {
    const CLASS_NAME: &'static str = "BatchNormalization";
    type Builder = BatchNormalization;

    fn from_builder(config: BatchNormalization) -> Self {
        BatchNormalizationLayer {
            config,
            gamma: None,
            beta: None,
            moving_mean: None,
            moving_variance: None,
        }
    }

    /// Keras 2 writes the axis as a one-element list.
    fn upgrade_config(config: &mut Map<String, Json>) {
        if let Some(Json::Array(items)) = config.get("axis") {
            if let [one] = items.as_slice() {
                let one = one.clone();
                config.insert("axis".into(), one);
            }
        }
    }
}

impl Layer for BatchNormalizationLayer {
    fn class_name(&self) -> &str {
        Self::CLASS_NAME
    }

    fn config(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(&self.config).unwrap_or_default();
        if let serde_json::Value::Object(map) = &mut v {
            // Keras' configuration keys this inference-only layer does not support.
            map.insert("synchronized".into(), false.into());
            map.insert("renorm".into(), false.into());
            map.insert("renorm_clipping".into(), serde_json::Value::Null);
            map.insert("renorm_momentum".into(), 0.99.into());
        }
        v
    }

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let (_, d) = self.feature_axis(&inputs[0].shape)?;
        let c = &self.config;
        let mut rng = layer_rng(c.common.seed);
        let mut make = |name: &str, init: &Initializer, trainable: bool| {
            ctx.add_weight(name, &[d], init, trainable, &mut rng)
        };
        self.gamma = c
            .scale
            .then(|| make("gamma", &c.gamma_initializer, c.trainable))
            .transpose()?;
        self.beta = c
            .center
            .then(|| make("beta", &c.beta_initializer, c.trainable))
            .transpose()?;
        self.moving_mean = Some(make("moving_mean", &c.moving_mean_initializer, false)?);
        self.moving_variance = Some(make(
            "moving_variance",
            &c.moving_variance_initializer,
            false,
        )?);
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_float(x)?;
        let (_, d) = self.feature_axis(&x.shape)?;
        if let Some(p) = self.weights().into_iter().flatten().next() {
            if p.value.shape() != [d] {
                return Err(Error::invalid(format!(
                    "its weights have shape {:?}, built for other inputs; input shape {} \
                     has {d} features along axis {}",
                    p.value.shape(),
                    format_shape(&x.shape),
                    self.config.axis
                )));
            }
        }
        Ok(vec![x.clone()])
    }

    fn uses_mask(&self) -> bool {
        // Keras' `call` takes `mask` (for the batch statistics in training).
        true
    }

    fn propagates_mask(&self) -> bool {
        true
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let masks = inputs.masks();
        let x = inputs.f32(0)?;
        if let Some(Some(m)) = masks.first() {
            if m.shape().len() + 1 != x.ndim() {
                return Err(Error::invalid(format!(
                    "the mask must have one axis less than the inputs; got mask shape {:?} \
                     and input shape {:?}",
                    m.shape(),
                    x.shape()
                )));
            }
        }
        let shape: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        let (axis, d) = self.feature_axis(&shape)?;
        let built = || Error::invalid("called before it was built");
        let mean = param_vec(&self.moving_mean).ok_or_else(built)?;
        let var = param_vec(&self.moving_variance).ok_or_else(built)?;
        let (gamma, beta) = (param_vec(&self.gamma), param_vec(&self.beta));
        if [Some(&mean), Some(&var), gamma.as_ref(), beta.as_ref()]
            .into_iter()
            .flatten()
            .any(|p| p.len() != d)
        {
            return Err(Error::invalid(format!(
                "weights do not fit {d} features along axis {} of input {:?}",
                self.config.axis,
                x.shape()
            )));
        }
        // tf.nn.batch_normalization: inv = rsqrt(var + eps) * gamma;
        // y = x * inv + (beta - mean * inv).
        let eps = self.config.epsilon as f32;
        let (scale, shift): (Vec<f32>, Vec<f32>) = (0..d)
            .map(|j| {
                let mut inv = 1.0 / (var[j] + eps).sqrt();
                if let Some(g) = &gamma {
                    inv *= g[j];
                }
                let shift = match &beta {
                    Some(b) => b[j] - mean[j] * inv,
                    None => -mean[j] * inv,
                };
                (inv, shift)
            })
            .unzip();
        let mut y = x.clone();
        for mut lane in y.lanes_mut(Axis(axis)) {
            for (j, v) in lane.iter_mut().enumerate() {
                *v = *v * scale[j] + shift[j];
            }
        }
        Ok(vec![Value::F32(y)])
    }

    fn params(&self) -> Vec<&Param> {
        self.weights().into_iter().flatten().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        [
            &mut self.gamma,
            &mut self.beta,
            &mut self.moving_mean,
            &mut self.moving_variance,
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}
