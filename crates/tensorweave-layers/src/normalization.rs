//! `LayerNormalization` and `BatchNormalization` (inference), with Keras 3's
//! formulas (`keras/src/ops/nn.py: _layer_normalization`, TensorFlow's
//! `tf.nn.batch_normalization`). Both pass masks through unchanged.

use std::any::Any;

use ndarray::{ArrayD, Axis, IxDyn};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    auto_name, format_shape, layer_rng, CallContext, Error, Initializer, IntoLayer, Layer,
    LayerRef, Param, ParamVisitor, ParamVisitorMut, Result, TensorSpec, Value,
};

use crate::util::{expect_float, expect_inputs};
use crate::weights::{assign_initial, Preset};

/// Resolves a possibly negative axis against `rank`, or explains the problem.
fn resolve(axis: i64, rank: usize, shape: &[Option<usize>]) -> Result<usize> {
    let a = if axis < 0 { rank as i64 + axis } else { axis };
    if (0..rank as i64).contains(&a) {
        Ok(a as usize)
    } else {
        Err(Error::invalid(format!(
            "axis {axis} is out of bounds for input shape {}",
            format_shape(shape)
        )))
    }
}

fn param_vec(p: &Option<Param>) -> Option<Vec<f32>> {
    p.as_ref().map(|p| p.value.iter().copied().collect())
}

// ---------------------------------------------------------------------------
// LayerNormalization

/// Builder and configuration of a `LayerNormalization` layer (Keras'
/// `layers.LayerNormalization`): each example is normalised over `axis` to zero
/// mean and unit variance, then scaled by `gamma` and shifted by `beta`.
///
/// Keras 3 formula: `inv = gamma / sqrt(var + epsilon)`,
/// `y = x * inv + (beta - mean * inv)`, with the biased variance.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 8]).build();
/// let y = LayerNormalization::new().epsilon(1e-6).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(10), Some(8)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct LayerNormalization {
    /// The normalised axes, negative counting from the end (default `[-1]`).
    /// Sorted when the layer is built, as in Keras.
    pub axis: Vec<i64>,
    /// Added to the variance (default 1e-3).
    pub epsilon: f64,
    /// Whether to add `beta` (default true).
    pub center: bool,
    /// Whether to multiply by `gamma` (default true).
    pub scale: bool,
    /// Keras' deprecated `rms_scaling`: `x / sqrt(var + epsilon) * gamma`, no `beta`.
    pub rms_scaling: bool,
    /// Initializer of `beta` (default zeros).
    pub beta_initializer: Initializer,
    /// Initializer of `gamma` (default ones).
    pub gamma_initializer: Initializer,
    /// Whether the weights are trainable (default true).
    pub trainable: bool,
    #[serde(skip)]
    name: Option<String>,
    #[serde(skip)]
    seed: Option<u64>,
    #[serde(skip)]
    preset: Preset,
}

impl Default for LayerNormalization {
    fn default() -> Self {
        LayerNormalization {
            axis: vec![-1],
            epsilon: 1e-3,
            center: true,
            scale: true,
            rms_scaling: false,
            beta_initializer: Initializer::Zeros,
            gamma_initializer: Initializer::Ones,
            trainable: true,
            name: None,
            seed: None,
            preset: Preset::default(),
        }
    }
}

impl LayerNormalization {
    /// Normalisation over the last axis with Keras' defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Normalises over one axis (negative counts from the end).
    pub fn axis(mut self, axis: i64) -> Self {
        self.axis = vec![axis];
        self
    }

    /// Normalises over several axes jointly.
    pub fn axes(mut self, axes: impl Into<Vec<i64>>) -> Self {
        self.axis = axes.into();
        self
    }

    /// Sets the epsilon added to the variance.
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Adds `beta` or not.
    pub fn center(mut self, center: bool) -> Self {
        self.center = center;
        self
    }

    /// Multiplies by `gamma` or not.
    pub fn scale(mut self, scale: bool) -> Self {
        self.scale = scale;
        self
    }

    /// Keras' deprecated `rms_scaling` mode.
    pub fn rms_scaling(mut self, rms_scaling: bool) -> Self {
        self.rms_scaling = rms_scaling;
        self
    }

    /// Sets the `beta` initializer.
    pub fn beta_initializer(mut self, init: Initializer) -> Self {
        self.beta_initializer = init;
        self
    }

    /// Sets the `gamma` initializer.
    pub fn gamma_initializer(mut self, init: Initializer) -> Self {
        self.gamma_initializer = init;
        self
    }

    /// Freezes or unfreezes the weights.
    pub fn trainable(mut self, trainable: bool) -> Self {
        self.trainable = trainable;
        self
    }

    /// Names the layer (default `layer_normalization`, `layer_normalization_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Seeds the initializers.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Initial weights `[gamma, beta]` (those that exist), checked when the layer is built.
    pub fn weights(mut self, weights: Vec<ArrayD<f32>>) -> Self {
        self.preset = Preset(Some(weights));
        self
    }
}

impl IntoLayer for LayerNormalization {
    fn into_layer(self) -> LayerRef {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| auto_name("LayerNormalization"));
        LayerRef::new(
            name,
            LayerNormalizationLayer {
                config: self,
                gamma: None,
                beta: None,
            },
        )
    }
}

/// The `LayerNormalization` layer itself.
#[derive(Debug)]
pub struct LayerNormalizationLayer {
    config: LayerNormalization,
    gamma: Option<Param>,
    beta: Option<Param>,
}

impl LayerNormalizationLayer {
    /// The configuration.
    pub fn config(&self) -> &LayerNormalization {
        &self.config
    }

    /// The normalised axes of an input of this shape, ascending, and the sizes
    /// of the weights (in Keras' order of the sorted configured axes).
    fn axes_for(&self, shape: &[Option<usize>]) -> Result<(Vec<usize>, Vec<usize>)> {
        if self.config.axis.is_empty() {
            return Err(Error::invalid("`axis` must name at least one axis"));
        }
        let mut configured = self.config.axis.clone();
        configured.sort_unstable();
        let mut dims = Vec::with_capacity(configured.len());
        let mut axes = Vec::with_capacity(configured.len());
        for &a in &configured {
            let r = resolve(a, shape.len(), shape)?;
            if axes.contains(&r) {
                return Err(Error::invalid(format!(
                    "`axis` {:?} names axis {r} twice for input shape {}",
                    self.config.axis,
                    format_shape(shape)
                )));
            }
            let d = shape[r].ok_or_else(|| {
                Error::invalid(format!(
                    "normalised axis {a} of input shape {} must be known",
                    format_shape(shape)
                ))
            })?;
            dims.push(d);
            axes.push(r);
        }
        axes.sort_unstable();
        Ok((axes, dims))
    }
}

impl Layer for LayerNormalizationLayer {
    fn class_name(&self) -> &str {
        "LayerNormalization"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn build(&mut self, inputs: &[TensorSpec]) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let (_, dims) = self.axes_for(&inputs[0].shape)?;
        self.config.axis.sort_unstable();
        let c = &self.config;
        let mut rng = layer_rng(c.seed);
        if c.scale || c.rms_scaling {
            let value = c.gamma_initializer.sample(&dims, &mut rng);
            self.gamma = Some(Param {
                name: "gamma".into(),
                value,
                trainable: c.trainable,
            });
        }
        if c.center && !c.rms_scaling {
            let value = c.beta_initializer.sample(&dims, &mut rng);
            self.beta = Some(Param {
                name: "beta".into(),
                value,
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
        let (_, dims) = self.axes_for(&x.shape)?;
        if let Some(p) = self.gamma.as_ref().or(self.beta.as_ref()) {
            if p.value.shape() != dims.as_slice() {
                return Err(Error::invalid(format!(
                    "its weights have shape {:?}, built for other inputs; input shape {} \
                     needs {dims:?}",
                    p.value.shape(),
                    format_shape(&x.shape)
                )));
            }
        }
        Ok(vec![x.clone()])
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
            .ok_or_else(|| Error::invalid("expects 1 input array"))?
            .as_f32()?;
        let shape: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        let (axes, dims) = self.axes_for(&shape)?;
        let inner: usize = dims.iter().product();
        let (gamma, beta) = (param_vec(&self.gamma), param_vec(&self.beta));
        for p in [&gamma, &beta].into_iter().flatten() {
            if p.len() != inner {
                return Err(Error::invalid(format!(
                    "weights of {} values do not fit the {inner} normalised entries of input {:?}",
                    p.len(),
                    x.shape()
                )));
            }
        }
        // Move the normalised axes last (ascending, matching Keras' reshape of
        // gamma/beta into the broadcast shape), normalise rows, move back.
        let rank = x.ndim();
        let mut perm: Vec<usize> = (0..rank).filter(|a| !axes.contains(a)).collect();
        perm.extend(&axes);
        let moved = x.view().permuted_axes(IxDyn(&perm));
        let moved_shape = moved.shape().to_vec();
        let data: Vec<f32> = moved.iter().copied().collect();
        let mut out = Vec::with_capacity(data.len());
        let eps = self.config.epsilon as f32;
        for row in data.chunks(inner.max(1)) {
            normalize_row(
                row,
                gamma.as_deref(),
                beta.as_deref(),
                eps,
                self.config.rms_scaling,
                &mut out,
            );
        }
        let moved_out = ArrayD::from_shape_vec(IxDyn(&moved_shape), out)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let mut inverse = vec![0; rank];
        for (i, &p) in perm.iter().enumerate() {
            inverse[p] = i;
        }
        let y = moved_out.permuted_axes(IxDyn(&inverse));
        Ok(vec![Value::F32(y.as_standard_layout().into_owned())])
    }

    fn visit_params(&self, visitor: &mut ParamVisitor<'_>) {
        for p in [&self.gamma, &self.beta].into_iter().flatten() {
            visitor(&p.name, p);
        }
    }

    fn visit_params_mut(&mut self, visitor: &mut ParamVisitorMut<'_>) {
        for p in [&mut self.gamma, &mut self.beta].into_iter().flatten() {
            visitor(&p.name.clone(), p);
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Normalises one group of values. Statistics as `tf.nn.moments` (mean, then
/// the mean of squared deviations from it), accumulated in f64 and rounded to
/// f32; the affine part in f32 in Keras' order of operations.
fn normalize_row(
    row: &[f32],
    gamma: Option<&[f32]>,
    beta: Option<&[f32]>,
    eps: f32,
    rms_scaling: bool,
    out: &mut Vec<f32>,
) {
    let n = row.len().max(1) as f64;
    let mean = (row.iter().map(|&v| v as f64).sum::<f64>() / n) as f32;
    let var = (row
        .iter()
        .map(|&v| {
            let d = v - mean;
            (d * d) as f64
        })
        .sum::<f64>()
        / n) as f32;
    let inv = 1.0 / (var + eps).sqrt();
    if rms_scaling {
        for (j, &v) in row.iter().enumerate() {
            let y = v * inv;
            out.push(gamma.and_then(|g| g.get(j)).map_or(y, |g| y * g));
        }
        return;
    }
    for (j, &v) in row.iter().enumerate() {
        let inv_j = gamma.and_then(|g| g.get(j)).map_or(inv, |g| inv * g);
        let res = -mean * inv_j + beta.and_then(|b| b.get(j)).copied().unwrap_or(0.0);
        out.push(v * inv_j + res);
    }
}

// ---------------------------------------------------------------------------
// BatchNormalization

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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct BatchNormalization {
    /// The feature axis (default -1): one statistic per entry along it.
    pub axis: i64,
    /// Momentum of the moving statistics in training (stored for the configuration).
    pub momentum: f64,
    /// Added to the variance (default 1e-3).
    pub epsilon: f64,
    /// Whether to add `beta` (default true).
    pub center: bool,
    /// Whether to multiply by `gamma` (default true).
    pub scale: bool,
    /// Initializer of `beta` (default zeros).
    pub beta_initializer: Initializer,
    /// Initializer of `gamma` (default ones).
    pub gamma_initializer: Initializer,
    /// Initializer of `moving_mean` (default zeros).
    pub moving_mean_initializer: Initializer,
    /// Initializer of `moving_variance` (default ones).
    pub moving_variance_initializer: Initializer,
    /// Whether `gamma` and `beta` are trainable (default true).
    pub trainable: bool,
    #[serde(skip)]
    name: Option<String>,
    #[serde(skip)]
    seed: Option<u64>,
    #[serde(skip)]
    preset: Preset,
}

impl Default for BatchNormalization {
    fn default() -> Self {
        BatchNormalization {
            axis: -1,
            momentum: 0.99,
            epsilon: 1e-3,
            center: true,
            scale: true,
            beta_initializer: Initializer::Zeros,
            gamma_initializer: Initializer::Ones,
            moving_mean_initializer: Initializer::Zeros,
            moving_variance_initializer: Initializer::Ones,
            trainable: true,
            name: None,
            seed: None,
            preset: Preset::default(),
        }
    }
}

impl BatchNormalization {
    /// Batch normalisation over the last axis with Keras' defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the feature axis (negative counts from the end).
    pub fn axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }

    /// Sets the momentum (used only in training; kept in the configuration).
    pub fn momentum(mut self, momentum: f64) -> Self {
        self.momentum = momentum;
        self
    }

    /// Sets the epsilon added to the variance.
    pub fn epsilon(mut self, epsilon: f64) -> Self {
        self.epsilon = epsilon;
        self
    }

    /// Adds `beta` or not.
    pub fn center(mut self, center: bool) -> Self {
        self.center = center;
        self
    }

    /// Multiplies by `gamma` or not.
    pub fn scale(mut self, scale: bool) -> Self {
        self.scale = scale;
        self
    }

    /// Sets the `beta` initializer.
    pub fn beta_initializer(mut self, init: Initializer) -> Self {
        self.beta_initializer = init;
        self
    }

    /// Sets the `gamma` initializer.
    pub fn gamma_initializer(mut self, init: Initializer) -> Self {
        self.gamma_initializer = init;
        self
    }

    /// Sets the `moving_mean` initializer.
    pub fn moving_mean_initializer(mut self, init: Initializer) -> Self {
        self.moving_mean_initializer = init;
        self
    }

    /// Sets the `moving_variance` initializer.
    pub fn moving_variance_initializer(mut self, init: Initializer) -> Self {
        self.moving_variance_initializer = init;
        self
    }

    /// Freezes or unfreezes `gamma` and `beta`.
    pub fn trainable(mut self, trainable: bool) -> Self {
        self.trainable = trainable;
        self
    }

    /// Names the layer (default `batch_normalization`, `batch_normalization_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Seeds the initializers.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Initial weights `[gamma, beta, moving_mean, moving_variance]` (those that
    /// exist), checked when the layer is built.
    pub fn weights(mut self, weights: Vec<ArrayD<f32>>) -> Self {
        self.preset = Preset(Some(weights));
        self
    }
}

impl IntoLayer for BatchNormalization {
    fn into_layer(self) -> LayerRef {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| auto_name("BatchNormalization"));
        LayerRef::new(
            name,
            BatchNormalizationLayer {
                config: self,
                gamma: None,
                beta: None,
                moving_mean: None,
                moving_variance: None,
            },
        )
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

    fn params(&self) -> [&Option<Param>; 4] {
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

impl Layer for BatchNormalizationLayer {
    fn class_name(&self) -> &str {
        "BatchNormalization"
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

    fn build(&mut self, inputs: &[TensorSpec]) -> Result<()> {
        expect_inputs(inputs, 1)?;
        let (_, d) = self.feature_axis(&inputs[0].shape)?;
        let c = &self.config;
        let mut rng = layer_rng(c.seed);
        let mut make = |name: &str, init: &Initializer, trainable: bool| Param {
            name: name.into(),
            value: init.sample(&[d], &mut rng),
            trainable,
        };
        self.gamma = c
            .scale
            .then(|| make("gamma", &c.gamma_initializer, c.trainable));
        self.beta = c
            .center
            .then(|| make("beta", &c.beta_initializer, c.trainable));
        self.moving_mean = Some(make("moving_mean", &c.moving_mean_initializer, false));
        self.moving_variance = Some(make(
            "moving_variance",
            &c.moving_variance_initializer,
            false,
        ));
        let preset = self.config.preset.take();
        assign_initial(self, preset)
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_float(x)?;
        let (_, d) = self.feature_axis(&x.shape)?;
        if let Some(p) = self.params().into_iter().flatten().next() {
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

    fn call(
        &self,
        inputs: &[&Value],
        masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let x = inputs
            .first()
            .ok_or_else(|| Error::invalid("expects 1 input array"))?
            .as_f32()?;
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

    fn visit_params(&self, visitor: &mut ParamVisitor<'_>) {
        for p in self.params().into_iter().flatten() {
            visitor(&p.name, p);
        }
    }

    fn visit_params_mut(&mut self, visitor: &mut ParamVisitorMut<'_>) {
        for p in [
            &mut self.gamma,
            &mut self.beta,
            &mut self.moving_mean,
            &mut self.moving_variance,
        ]
        .into_iter()
        .flatten()
        {
            visitor(&p.name.clone(), p);
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{array, ArrayD, IxDyn};

    use crate::prelude::*;

    fn arr(shape: &[usize], data: &[f32]) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).unwrap()
    }

    fn close(got: &Value, expected: &ArrayD<f32>) {
        let got = got.as_f32().unwrap();
        assert_eq!(got.shape(), expected.shape());
        for (g, e) in got.iter().zip(expected) {
            assert!(
                (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                "{got} vs {expected}"
            );
        }
    }

    fn run(layer: impl IntoLayer, shape: &[usize], x: ArrayD<f32>) -> Value {
        let input = Input::new(shape.to_vec()).build();
        let y = layer.call(&input).unwrap();
        let model = Model::new(&[input], &[y]).unwrap();
        model.predict(&[x.into()]).unwrap().remove(0)
    }

    /// Row `[1, 2, 3, 4]`: mean 2.5, variance 1.25, `inv = 1/sqrt(1.251)`;
    /// `y = (x - 2.5) * inv * gamma + beta`. Keras 3.15.1 gives (same weights):
    /// ```python
    /// ln = layers.LayerNormalization(); ln.build((None, 4))
    /// ln.set_weights([[1, 2, 1, .5], [0, 0, 1, -1]])
    /// ln([[1, 2, 3, 4], [-1, .5, .25, 8]])
    /// ```
    #[test]
    fn layer_normalization_matches_keras() {
        let ln = LayerNormalization::new().weights(vec![
            arr(&[4], &[1., 2., 1., 0.5]),
            arr(&[4], &[0., 0., 1., -1.]),
        ]);
        let x = arr(&[2, 4], &[1., 2., 3., 4., -1., 0.5, 0.25, 8.]);
        let expected = arr(
            &[2, 4],
            &[
                -1.341_104_3,
                -0.894_069_43,
                1.447_034_8,
                -0.329_447_87,
                -0.828_361_87,
                -0.810_737_13,
                0.524_132_55,
                -0.145_200_97,
            ],
        );
        close(&run(ln, &[4], x), &expected);
    }

    fn powers() -> ArrayD<f32> {
        ArrayD::from_shape_fn(IxDyn(&[2, 2, 3]), |i| {
            ((i[0] * 6 + i[1] * 3 + i[2]) as f32).powf(1.5)
        })
    }

    /// Axes `[-1, 1]`: Keras sorts them to `[-1, 1]`, so gamma has shape
    /// `(3, 2)`, and reshapes it row-major onto axes (1, 2). Keras 3.15.1:
    /// ```python
    /// x = np.arange(12, dtype="float32").reshape(2, 2, 3) ** 1.5
    /// ln = layers.LayerNormalization(axis=[-1, 1], epsilon=0.01); ln.build((None, 2, 3))
    /// ln.set_weights([np.arange(1, 7).reshape(3, 2) / 4, np.arange(6).reshape(3, 2) / 10])
    /// ```
    #[test]
    fn layer_normalization_over_several_axes_matches_keras() {
        let gamma = ArrayD::from_shape_fn(IxDyn(&[3, 2]), |i| (i[0] * 2 + i[1] + 1) as f32 / 4.0);
        let beta = ArrayD::from_shape_fn(IxDyn(&[3, 2]), |i| (i[0] * 2 + i[1]) as f32 / 10.0);
        let ln = LayerNormalization::new()
            .axes(vec![1, -1])
            .epsilon(0.01)
            .weights(vec![gamma, beta]);
        let expected = arr(
            &[2, 2, 3],
            &[
                -0.299_350_5,
                -0.371_340_04,
                -0.157_704_71,
                0.426_172_08,
                1.450_466_9,
                2.975_713_7,
                -0.350_854_16,
                -0.345_256_45,
                -0.054_648_876,
                0.547_056_44,
                1.484_010_7,
                2.778_795_7,
            ],
        );
        close(&run(ln, &[2, 3], powers()), &expected);
    }

    /// Keras' deprecated `rms_scaling=True`: only gamma, `y = x / sqrt(var + eps) * gamma`.
    /// Keras 3.15.1 on the rows of the first test, gamma `[1, 2, 1, .5]`.
    #[test]
    fn rms_scaling_matches_keras() {
        let ln = LayerNormalization::new()
            .rms_scaling(true)
            .weights(vec![arr(&[4], &[1., 2., 1., 0.5])]);
        let x = arr(&[2, 4], &[1., 2., 3., 4., -1., 0.5, 0.25, 8.]);
        let expected = arr(
            &[2, 4],
            &[
                0.894_069_6,
                3.576_278_4,
                2.682_208_8,
                1.788_139_2,
                -0.281_995_53,
                0.281_995_53,
                0.070_498_88,
                1.127_982_1,
            ],
        );
        close(&run(ln, &[4], x), &expected);
    }

    /// `axis=1` on `[B, 2, 3]`: features along axis 1. For feature 0
    /// (gamma 2, beta 1, mean 1, var 3): `y = (x - 1) / sqrt(3.001) * 2 + 1`,
    /// so x = 0 gives `1 - 2/1.732339 = -0.154508`. Keras 3.15.1:
    /// ```python
    /// bn = layers.BatchNormalization(axis=1); bn.build((None, 2, 3))
    /// bn.set_weights([[2, .5], [1, -1], [1, 2], [3, .999]])
    /// bn(np.arange(12).reshape(2, 2, 3) ** 1.5, training=False)
    /// ```
    #[test]
    fn batch_normalization_matches_keras() {
        let bn = BatchNormalization::new().axis(1).weights(vec![
            array![2.0f32, 0.5].into_dyn(),
            array![1.0f32, -1.0].into_dyn(),
            array![1.0f32, 2.0].into_dyn(),
            array![3.0f32, 0.999].into_dyn(),
        ]);
        let expected = arr(
            &[2, 2, 3],
            &[
                -0.154_508_23,
                1.0,
                3.110_934_3,
                0.598_076_34,
                2.0,
                3.590_17,
                16.813_229,
                21.227_282,
                25.969_03,
                11.5,
                13.811_388,
                16.241_436,
            ],
        );
        close(&run(bn, &[2, 3], powers()), &expected);
    }

    #[test]
    fn batch_normalization_weights_order_and_trainability() {
        let x = Input::new([5]).build();
        let y = BatchNormalization::new().call(&x).unwrap();
        let specs = y.layer().weight_specs();
        let names: Vec<(&str, bool)> = specs.iter().map(|(n, _, t)| (n.as_str(), *t)).collect();
        assert_eq!(
            names,
            [
                ("gamma", true),
                ("beta", true),
                ("moving_mean", false),
                ("moving_variance", false)
            ]
        );
        assert_eq!(y.layer().count_params(), (10, 10));
        // Without center and scale only the moving statistics remain.
        let y2 = BatchNormalization::new()
            .center(false)
            .scale(false)
            .call(&x)
            .unwrap();
        assert_eq!(y2.layer().weight_specs().len(), 2);
        let config = y.layer().config();
        assert_eq!(config["momentum"], 0.99);
        assert_eq!(config["epsilon"], 0.001);
        assert_eq!(config["axis"], -1);
    }

    #[test]
    fn weight_count_and_shape_errors() {
        let x = Input::new([5]).build();
        let err = BatchNormalization::new()
            .weights(vec![ArrayD::zeros(IxDyn(&[5])); 3])
            .call(&x)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("4 arrays (gamma, beta, moving_mean, moving_variance), got 3"),
            "{err}"
        );
        let err = BatchNormalization::new()
            .weights(vec![ArrayD::zeros(IxDyn(&[4])); 4])
            .call(&x)
            .unwrap_err()
            .to_string();
        assert!(err.contains("gamma must have shape [5]"), "{err}");

        let bn = BatchNormalization::new().into_layer();
        bn.call(&x).unwrap();
        assert!(bn.set_weights(&[ArrayD::zeros(IxDyn(&[5]))]).is_err());
        let other = Input::new([6]).build();
        let err = bn.call(&other).unwrap_err().to_string();
        assert!(err.contains("(None, 6)"), "{err}");

        let err = LayerNormalization::new()
            .weights(vec![ArrayD::zeros(IxDyn(&[5]))])
            .call(&x)
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 arrays (gamma, beta), got 1"), "{err}");
    }

    #[test]
    fn axis_errors_name_the_shape() {
        let x = Input::new([5]).build();
        let err = LayerNormalization::new()
            .axis(2)
            .call(&x)
            .unwrap_err()
            .to_string();
        assert!(err.contains("axis 2") && err.contains("(None, 5)"), "{err}");
        let err = BatchNormalization::new()
            .axis(0)
            .call(&x)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be known"), "{err}");
        let err = LayerNormalization::new()
            .axes(vec![1, -1])
            .call(&x)
            .unwrap_err()
            .to_string();
        assert!(err.contains("twice"), "{err}");
        let ids = Input::new([5]).dtype(DType::I32).build();
        assert!(LayerNormalization::new().call(&ids).is_err());
    }

    #[test]
    fn masks_pass_through_both_normalizations() {
        let tokens = Input::new([3]).dtype(DType::I32).build();
        let e = Embedding::new(4, 2).mask_zero(true).call(&tokens).unwrap();
        let ln = LayerNormalization::new().call(&e).unwrap();
        let bn = BatchNormalization::new().call(&ln).unwrap();
        assert_eq!(ln.mask(), e.mask());
        assert_eq!(bn.mask(), e.mask());
        // BatchNormalization takes the mask (Keras' `call(..., mask=None)`).
        assert_eq!(bn.node().masks()[0].as_ref(), e.mask());
        let model = Model::new(&[tokens], &[bn]).unwrap();
        assert!(model.predict(&[array![[1, 0, 3]].into()]).is_ok());
    }

    #[test]
    fn config_sorts_layer_normalization_axes_when_built() {
        let x = Input::new([2, 3]).build();
        let y = LayerNormalization::new().axes(vec![2, 1]).call(&x).unwrap();
        assert_eq!(y.layer().config()["axis"], serde_json::json!([1, 2]));
        assert_eq!(y.layer().weight_specs()[0].1, vec![2, 3]);
    }
}
