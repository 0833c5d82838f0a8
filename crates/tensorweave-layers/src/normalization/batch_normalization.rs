//! `BatchNormalization` (Keras' `layers.BatchNormalization`).

use ndarray::Axis;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};
use tensorweave_core::format_dims;
use tensorweave_core::{
    format_shape, layer_rng, BackwardCall, BuildContext, CallContext, Error, Initializer, Layer,
    LayerGrads, Param, Result, TensorSpec, Trained, Value,
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
    /// The regularizer of `beta` as Keras serializes it (default none).
    pub beta_regularizer: Option<serde_json::Value>,
    /// The regularizer of `gamma` (default none).
    pub gamma_regularizer: Option<serde_json::Value>,
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

/// What a training-mode call keeps: the batch statistics it normalized with.
#[derive(Debug, Clone)]
struct BatchStats {
    mean: Vec<f32>,
    var: Vec<f32>,
    /// Per feature, the sum of the mask's weights (masked calls only).
    weights: Option<Vec<f32>>,
    /// Whether a mask weighted the statistics.
    masked: bool,
}

impl BatchNormalizationLayer {
    /// `tf.nn.batch_normalization`: `inv = rsqrt(var + eps) * gamma`,
    /// `y = x * inv + (beta - mean * inv)`.
    fn normalize(
        &self,
        x: &ndarray::ArrayD<f32>,
        mean: &[f32],
        var: &[f32],
    ) -> Result<ndarray::ArrayD<f32>> {
        let shape: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        let (axis, d) = self.feature_axis(&shape)?;
        let (gamma, beta) = (param_vec(&self.gamma), param_vec(&self.beta));
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
        Ok(y)
    }

    /// The batch's mean and biased variance per feature: `tf.nn.moments`, or
    /// Keras' masked moments (weights from the mask, divided by their sum +
    /// 1e-7) when a mask comes with the input.
    fn batch_stats(&self, x: &ndarray::ArrayD<f32>, mask: Option<&Value>) -> Result<BatchStats> {
        let shape: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        let (axis, d) = self.feature_axis(&shape)?;
        let lanes: Vec<_> = x.lanes(Axis(axis)).into_iter().collect();
        let w: Option<Vec<f32>> = mask.map(|m| {
            m.to_f32()
                .iter()
                .map(|&v| if v != 0.0 { 1.0 } else { 0.0 })
                .collect()
        });
        if let Some(w) = &w {
            if w.len() != lanes.len() {
                return Err(Error::invalid(format!(
                    "the mask has {} entries for {} positions of input {}",
                    w.len(),
                    lanes.len(),
                    format_dims(x.shape())
                )));
            }
        }
        let weight = |i: usize| w.as_ref().map_or(1.0, |w| w[i]);
        let total: f32 = (0..lanes.len()).map(weight).sum();
        let denom = match &w {
            Some(_) => total + 1e-7,
            None => lanes.len().max(1) as f32,
        };
        let mut mean = vec![0.0f32; d];
        for (i, l) in lanes.iter().enumerate() {
            for j in 0..d {
                mean[j] += weight(i) * l[j];
            }
        }
        mean.iter_mut().for_each(|m| *m /= denom);
        let mut var = vec![0.0f32; d];
        for (i, l) in lanes.iter().enumerate() {
            for j in 0..d {
                let dx = l[j] - mean[j];
                var[j] += weight(i) * dx * dx;
            }
        }
        var.iter_mut().for_each(|v| *v /= denom);
        Ok(BatchStats {
            mean,
            var,
            weights: w.as_ref().map(|_| vec![total; d]),
            masked: w.is_some(),
        })
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
                    "its weights have shape {}, built for other inputs; input shape {} \
                     has {d} features along axis {}",
                    format_dims(p.value.shape()),
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
                    "the mask must have one axis less than the inputs; got mask shape {} \
                     and input shape {}",
                    format_dims(m.shape()),
                    format_dims(x.shape())
                )));
            }
        }
        let shape: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        let (_, d) = self.feature_axis(&shape)?;
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
                "weights do not fit {d} features along axis {} of input {}",
                self.config.axis,
                format_dims(x.shape())
            )));
        }
        let y = self.normalize(x, &mean, &var)?;
        Ok(vec![Value::F32(y)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn weight_regularizers(&self) -> Vec<(String, serde_json::Value)> {
        let c = &self.config;
        crate::util::regularizers(&[
            ("gamma", &c.gamma_regularizer),
            ("beta", &c.beta_regularizer),
        ])
    }

    /// Keras' training mode: the batch's mean and biased variance (over every
    /// axis but the feature axis, weighted by the mask when there is one)
    /// normalize the batch, and the moving statistics become
    /// `moving * momentum + batch * (1 - momentum)` (returned as updates).
    /// A non-trainable layer runs as at inference.
    fn call_train(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Trained> {
        if !self.config.trainable {
            return Ok(Trained::new(self.call(inputs, ctx)?));
        }
        let x = inputs.f32(0)?;
        let stats = self.batch_stats(x, inputs.mask(0))?;
        let y = self.normalize(x, &stats.mean, &stats.var)?;
        let m = self.config.momentum as f32;
        let built = || Error::invalid("called before it was built");
        let mm = param_vec(&self.moving_mean).ok_or_else(built)?;
        let mv = param_vec(&self.moving_variance).ok_or_else(built)?;
        let blend = |moving: &[f32], batch: &[f32]| {
            let v: Vec<f32> = moving
                .iter()
                .zip(batch)
                .map(|(a, b)| a * m + b * (1.0 - m))
                .collect();
            ndarray::ArrayD::from_shape_vec(vec![v.len()], v)
                .map_err(|e| Error::invalid(e.to_string()))
        };
        let mut trained = Trained::with_saved(vec![Value::F32(y)], stats.clone());
        trained.updates = vec![
            ("moving_mean".to_string(), blend(&mm, &stats.mean)?),
            ("moving_variance".to_string(), blend(&mv, &stats.var)?),
        ];
        Ok(trained)
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(gy) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let x = call.inputs.f32(0)?;
        let shape: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        let (axis, d) = self.feature_axis(&shape)?;
        let built = || Error::invalid("called before it was built");
        // Inference mode (a frozen layer): y = x * scale + shift with fixed statistics.
        let (mean, var, weights, masked) = match call.saved::<BatchStats>() {
            Ok(s) => (s.mean.clone(), s.var.clone(), s.weights.clone(), s.masked),
            Err(_) => (
                param_vec(&self.moving_mean).ok_or_else(built)?,
                param_vec(&self.moving_variance).ok_or_else(built)?,
                None,
                false,
            ),
        };
        let training = call.saved::<BatchStats>().is_ok();
        let eps = self.config.epsilon as f32;
        let gamma = param_vec(&self.gamma);
        let r: Vec<f32> = var.iter().map(|v| 1.0 / (v + eps).sqrt()).collect();
        let g_of = |j: usize| gamma.as_ref().map_or(1.0, |g| g[j]);
        let mut g_gamma = vec![0.0f32; d];
        let mut g_beta = vec![0.0f32; d];
        let mut g_r = vec![0.0f32; d];
        let lanes_x: Vec<_> = x.lanes(Axis(axis)).into_iter().collect();
        let lanes_g: Vec<_> = gy.lanes(Axis(axis)).into_iter().collect();
        for (lx, lg) in lanes_x.iter().zip(&lanes_g) {
            for j in 0..d {
                let dx = lx[j] - mean[j];
                g_gamma[j] += lg[j] * dx * r[j];
                g_beta[j] += lg[j];
                g_r[j] += lg[j] * g_of(j) * dx;
            }
        }
        let mut gx = ndarray::ArrayD::<f32>::zeros(x.shape());
        {
            let mut lanes_out: Vec<_> = gx.lanes_mut(Axis(axis)).into_iter().collect();
            if !training {
                for (lo, lg) in lanes_out.iter_mut().zip(&lanes_g) {
                    for j in 0..d {
                        lo[j] = lg[j] * g_of(j) * r[j];
                    }
                }
            } else {
                // y = (x - mean) r gamma + beta, r = (var + eps)^-1/2,
                // var = c sum w (x - mean)^2, mean = c sum w x.
                let c: Vec<f32> = match &weights {
                    // Keras divides by `sum of weights + backend.epsilon()`.
                    Some(w) => w.iter().map(|&n| 1.0 / (n + 1e-7)).collect(),
                    None => vec![1.0 / lanes_x.len().max(1) as f32; d],
                };
                let g_var: Vec<f32> = (0..d).map(|j| -0.5 * g_r[j] * r[j] * r[j] * r[j]).collect();
                let mask: Option<Vec<f32>> = call.inputs.mask(0).map(|m| {
                    m.to_f32()
                        .iter()
                        .map(|&v| if v != 0.0 { 1.0 } else { 0.0 })
                        .collect()
                });
                let mask_at =
                    |i: usize| mask.as_ref().and_then(|m| m.get(i).copied()).unwrap_or(1.0);
                let mut g_mean = vec![0.0f32; d];
                let mut direct = vec![vec![0.0f32; d]; lanes_x.len()];
                for (i, (lx, lg)) in lanes_x.iter().zip(&lanes_g).enumerate() {
                    let w = mask_at(i);
                    for j in 0..d {
                        let dx = lx[j] - mean[j];
                        let mut gd = lg[j] * g_of(j) * r[j];
                        let through_var = g_var[j] * 2.0 * c[j] * w * dx;
                        gd += through_var;
                        // tf.nn.moments stops the gradient of the mean inside the
                        // variance; the masked branch of Keras does not.
                        g_mean[j] -= if masked { gd } else { gd - through_var };
                        direct[i][j] = gd;
                    }
                }
                for (i, lo) in lanes_out.iter_mut().enumerate() {
                    let w = mask_at(i);
                    for j in 0..d {
                        lo[j] = direct[i][j] + g_mean[j] * c[j] * w;
                    }
                }
            }
        }
        let vec_of = |v: Vec<f32>| {
            ndarray::ArrayD::from_shape_vec(vec![d], v).map_err(|e| Error::invalid(e.to_string()))
        };
        let mut grads = LayerGrads::inputs(vec![Some(gx)]);
        if self.gamma.is_some() {
            grads = grads.param("gamma", vec_of(g_gamma)?);
        }
        if self.beta.is_some() {
            grads = grads.param("beta", vec_of(g_beta)?);
        }
        Ok(grads)
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
