//! Layers that only move data: `Flatten`, `Reshape`, `Permute`, `RepeatVector`,
//! `Cropping1D`. They work on every dtype (float, int, bool) and keep it.
//!
//! None of them supports masks in Keras 3.15.1 (no `supports_masking`, no
//! `compute_mask`): an input mask is dropped.

use std::any::Any;

use ndarray::{ArrayD, Axis, IxDyn, Slice};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    auto_name, format_shape, CallContext, Error, IntoLayer, Layer, LayerRef, Result, Shape,
    TensorSpec, Value,
};

use crate::conv::DataFormat;
use crate::util::{expect_inputs, expect_rank};

/// Applies a generic array function to a `Value` of any dtype.
macro_rules! per_dtype {
    ($value:expr, $f:ident $(, $arg:expr)*) => {
        match $value {
            Value::F32(a) => Value::F32($f(a $(, $arg)*)?),
            Value::I32(a) => Value::I32($f(a $(, $arg)*)?),
            Value::Bool(a) => Value::Bool($f(a $(, $arg)*)?),
        }
    };
}

/// The one input value.
fn single<'a>(inputs: &[&'a Value]) -> Result<&'a Value> {
    inputs
        .first()
        .copied()
        .ok_or_else(|| Error::invalid("expects 1 input tensor, got 0"))
}

/// Reshapes an array to `shape` (row-major), or explains the mismatch.
fn reshape_to<T: Clone>(a: &ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>> {
    let size: usize = shape.iter().product();
    if size != a.len() {
        return Err(Error::invalid(format!(
            "cannot reshape an array of shape {:?} ({} elements) to {shape:?} ({size} elements)",
            a.shape(),
            a.len()
        )));
    }
    a.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(shape))
        .map_err(|e| Error::invalid(format!("internal: reshape: {e}")))
}

/// Permutes the axes of an array and lays it out row-major.
fn permute<T: Clone>(a: &ArrayD<T>, axes: &[usize]) -> Result<ArrayD<T>> {
    if axes.len() != a.ndim() {
        return Err(Error::invalid(format!(
            "expects inputs of rank {}, got shape {:?}",
            axes.len(),
            a.shape()
        )));
    }
    Ok(a.view()
        .permuted_axes(axes)
        .as_standard_layout()
        .into_owned())
}

// ---------------------------------------------------------------------------
// Flatten

/// Builder and configuration of a `Flatten` layer (Keras' `layers.Flatten`):
/// `(batch, d1, d2, …)` becomes `(batch, d1 * d2 * …)`; a `(batch,)` input
/// becomes `(batch, 1)`.
///
/// With `channels_first` the channel axis (axis 1) is moved last before
/// flattening, as Keras does.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([8, 3]).build();
/// let y = Flatten::new().call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(24)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Flatten {
    /// Channel axis position (default `channels_last`).
    pub data_format: DataFormat,
    /// Keras' `trainable` flag (the layer has no weights).
    pub trainable: bool,
    #[serde(skip)]
    name: Option<String>,
}

impl Default for Flatten {
    fn default() -> Self {
        Flatten {
            data_format: DataFormat::ChannelsLast,
            trainable: true,
            name: None,
        }
    }
}

impl Flatten {
    /// A flatten layer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the data format.
    pub fn data_format(mut self, data_format: DataFormat) -> Self {
        self.data_format = data_format;
        self
    }

    /// Names the layer (default `flatten`, `flatten_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl IntoLayer for Flatten {
    fn into_layer(self) -> LayerRef {
        let name = self.name.clone().unwrap_or_else(|| auto_name("Flatten"));
        LayerRef::new(name, FlattenLayer { config: self })
    }
}

/// The `Flatten` layer itself.
#[derive(Debug)]
pub struct FlattenLayer {
    config: Flatten,
}

impl FlattenLayer {
    /// The axis order applied before flattening (`channels_first` moves axis 1 last).
    fn axes(&self, rank: usize) -> Option<Vec<usize>> {
        (self.config.data_format == DataFormat::ChannelsFirst && rank > 2).then(|| {
            let mut axes: Vec<usize> = vec![0];
            axes.extend(2..rank);
            axes.push(1);
            axes
        })
    }
}

fn flatten_array<T: Clone>(a: &ArrayD<T>, axes: &Option<Vec<usize>>) -> Result<ArrayD<T>> {
    let batch = a
        .shape()
        .first()
        .copied()
        .ok_or_else(|| Error::invalid("expects inputs with a batch axis, got a scalar"))?;
    let rest: usize = a.shape()[1..].iter().product();
    match axes {
        Some(axes) => reshape_to(&permute(a, axes)?, &[batch, rest]),
        None => reshape_to(a, &[batch, rest]),
    }
}

impl Layer for FlattenLayer {
    fn class_name(&self) -> &str {
        "Flatten"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        if x.rank() == 0 {
            return Err(Error::invalid(
                "expects inputs with a batch axis, got a scalar",
            ));
        }
        // Keras: product of the non-batch axes, None if any is unknown, 1 for none.
        let rest = x.shape[1..]
            .iter()
            .try_fold(1usize, |acc, d| d.map(|d| acc * d));
        Ok(vec![TensorSpec::new(vec![x.shape[0], rest], x.dtype)])
    }

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let x = single(inputs)?;
        let axes = self.axes(x.shape().len());
        Ok(vec![per_dtype!(x, flatten_array, &axes)])
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

// ---------------------------------------------------------------------------
// Reshape

/// Builder and configuration of a `Reshape` layer (Keras' `layers.Reshape`).
///
/// `target_shape` excludes the batch axis; one entry may be `-1`, inferred from
/// the number of elements.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([4, 3]).build();
/// let y = Reshape::new(vec![2, -1]).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(2), Some(6)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Reshape {
    /// The new shape without the batch axis; at most one `-1`.
    pub target_shape: Vec<i64>,
    /// Keras' `trainable` flag (the layer has no weights).
    pub trainable: bool,
    #[serde(skip)]
    name: Option<String>,
}

impl Default for Reshape {
    fn default() -> Self {
        Reshape {
            target_shape: Vec::new(),
            trainable: true,
            name: None,
        }
    }
}

impl Reshape {
    /// Reshapes each example to `target_shape` (one entry may be `-1`).
    pub fn new(target_shape: impl Into<Vec<i64>>) -> Self {
        Reshape {
            target_shape: target_shape.into(),
            ..Default::default()
        }
    }

    /// Names the layer (default `reshape`, `reshape_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Keras' `validate_reshape_shape`: entries ≥ -1, at most one -1.
    fn validate(&self) -> Result<()> {
        let t = &self.target_shape;
        if t.iter().any(|&d| d < -1) || t.iter().filter(|&&d| d == -1).count() > 1 {
            return Err(Error::invalid(format!(
                "target_shape {t:?} must hold non-negative sizes and at most one -1 \
                 (the batch axis is not part of it)"
            )));
        }
        Ok(())
    }

    /// Keras' `compute_reshape_output_shape` on the non-batch axes: resolves the
    /// `-1` when every input axis is known; `None` where it cannot.
    fn resolve(&self, input: &[Option<usize>]) -> Result<Shape> {
        self.validate()?;
        let target = &self.target_shape;
        let as_dims = |unknown: Option<usize>| -> Shape {
            target
                .iter()
                .map(|&d| if d == -1 { unknown } else { Some(d as usize) })
                .collect()
        };
        let Some(input_size) = input.iter().try_fold(1usize, |acc, d| d.map(|d| acc * d)) else {
            return Ok(as_dims(None));
        };
        let known = target
            .iter()
            .filter(|&&d| d != -1)
            .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize))
            .ok_or_else(|| Error::invalid(format!("target_shape {target:?} is too large")))?;
        let mismatch = || {
            Error::invalid(format!(
                "cannot reshape examples of shape {} ({input_size} elements) to target_shape \
                 {target:?}; the total size must stay the same",
                format_shape(input)
            ))
        };
        if !target.contains(&-1) {
            return if known == input_size {
                Ok(as_dims(None))
            } else {
                Err(mismatch())
            };
        }
        if known == 0 || input_size % known != 0 {
            return Err(mismatch());
        }
        Ok(as_dims(Some(input_size / known)))
    }
}

impl IntoLayer for Reshape {
    fn into_layer(self) -> LayerRef {
        let name = self.name.clone().unwrap_or_else(|| auto_name("Reshape"));
        LayerRef::new(name, ReshapeLayer { config: self })
    }
}

/// The `Reshape` layer itself.
#[derive(Debug)]
pub struct ReshapeLayer {
    config: Reshape,
}

impl Layer for ReshapeLayer {
    fn class_name(&self) -> &str {
        "Reshape"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn build(&mut self, _inputs: &[TensorSpec]) -> Result<()> {
        self.config.validate()
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        if x.rank() == 0 {
            return Err(Error::invalid(
                "expects inputs with a batch axis, got a scalar",
            ));
        }
        let mut shape = vec![x.shape[0]];
        shape.extend(self.config.resolve(&x.shape[1..])?);
        Ok(vec![TensorSpec::new(shape, x.dtype)])
    }

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let x = single(inputs)?;
        let dims: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        let (batch, rest) = dims
            .split_first()
            .ok_or_else(|| Error::invalid("expects inputs with a batch axis, got a scalar"))?;
        let mut shape = vec![batch.unwrap_or(0)];
        for d in self.config.resolve(rest)? {
            shape.push(d.ok_or_else(|| Error::invalid("internal: unresolved target size"))?);
        }
        Ok(vec![per_dtype!(x, reshape_to, &shape)])
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

// ---------------------------------------------------------------------------
// Permute

/// Builder and configuration of a `Permute` layer (Keras' `layers.Permute`).
///
/// `dims` is a permutation of `1..=n` (1-based, the batch axis excluded):
/// output axis `i` is input axis `dims[i - 1]`.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 4]).build();
/// let y = Permute::new(vec![2, 1]).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(4), Some(10)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Permute {
    /// The permutation, 1-based, batch axis excluded.
    pub dims: Vec<usize>,
    /// Keras' `trainable` flag (the layer has no weights).
    pub trainable: bool,
    #[serde(skip)]
    name: Option<String>,
}

impl Default for Permute {
    fn default() -> Self {
        Permute {
            dims: Vec::new(),
            trainable: true,
            name: None,
        }
    }
}

impl Permute {
    /// Permutes the non-batch axes by `dims` (1-based).
    pub fn new(dims: impl Into<Vec<usize>>) -> Self {
        Permute {
            dims: dims.into(),
            ..Default::default()
        }
    }

    /// Names the layer (default `permute`, `permute_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    fn validate(&self) -> Result<()> {
        let mut sorted = self.dims.clone();
        sorted.sort_unstable();
        if sorted != (1..=self.dims.len()).collect::<Vec<_>>() {
            return Err(Error::invalid(format!(
                "dims {:?} must be a permutation of 1..={} (1-based; the batch axis 0 is not \
                 part of it)",
                self.dims,
                self.dims.len()
            )));
        }
        Ok(())
    }

    /// All axes, batch first.
    fn axes(&self) -> Vec<usize> {
        std::iter::once(0)
            .chain(self.dims.iter().copied())
            .collect()
    }
}

impl IntoLayer for Permute {
    fn into_layer(self) -> LayerRef {
        let name = self.name.clone().unwrap_or_else(|| auto_name("Permute"));
        LayerRef::new(name, PermuteLayer { config: self })
    }
}

/// The `Permute` layer itself.
#[derive(Debug)]
pub struct PermuteLayer {
    config: Permute,
}

impl Layer for PermuteLayer {
    fn class_name(&self) -> &str {
        "Permute"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn build(&mut self, _inputs: &[TensorSpec]) -> Result<()> {
        self.config.validate()
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        self.config.validate()?;
        let x = &inputs[0];
        expect_rank(x, self.config.dims.len() + 1, "inputs")?;
        let shape = self.config.axes().iter().map(|&a| x.shape[a]).collect();
        Ok(vec![TensorSpec::new(shape, x.dtype)])
    }

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let x = single(inputs)?;
        let axes = self.config.axes();
        Ok(vec![per_dtype!(x, permute, &axes)])
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

// ---------------------------------------------------------------------------
// RepeatVector

/// Builder and configuration of a `RepeatVector` layer (Keras'
/// `layers.RepeatVector`): `(batch, features)` becomes `(batch, n, features)`.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([3]).build();
/// let y = RepeatVector::new(4).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(4), Some(3)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RepeatVector {
    /// How many times to repeat.
    pub n: usize,
    /// Keras' `trainable` flag (the layer has no weights).
    pub trainable: bool,
    #[serde(skip)]
    name: Option<String>,
}

impl Default for RepeatVector {
    fn default() -> Self {
        RepeatVector {
            n: 1,
            trainable: true,
            name: None,
        }
    }
}

impl RepeatVector {
    /// Repeats each example `n` times along a new axis 1.
    pub fn new(n: usize) -> Self {
        RepeatVector {
            n,
            ..Default::default()
        }
    }

    /// Names the layer (default `repeat_vector`, `repeat_vector_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl IntoLayer for RepeatVector {
    fn into_layer(self) -> LayerRef {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| auto_name("RepeatVector"));
        LayerRef::new(name, RepeatVectorLayer { config: self })
    }
}

/// The `RepeatVector` layer itself.
#[derive(Debug)]
pub struct RepeatVectorLayer {
    config: RepeatVector,
}

fn repeat_array<T: Clone>(a: &ArrayD<T>, n: usize) -> Result<ArrayD<T>> {
    if a.ndim() != 2 {
        return Err(Error::invalid(format!(
            "expects inputs of rank 2 (batch, features), got shape {:?}",
            a.shape()
        )));
    }
    let (batch, features) = (a.shape()[0], a.shape()[1]);
    let view = a.view().insert_axis(Axis(1));
    let repeated = view
        .broadcast(IxDyn(&[batch, n, features]))
        .ok_or_else(|| Error::invalid("internal: broadcast failed"))?;
    Ok(repeated.as_standard_layout().into_owned())
}

impl Layer for RepeatVectorLayer {
    fn class_name(&self) -> &str {
        "RepeatVector"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn build(&mut self, _inputs: &[TensorSpec]) -> Result<()> {
        if self.config.n == 0 {
            return Err(Error::invalid("n must be a positive integer, got 0"));
        }
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_rank(x, 2, "inputs (batch, features)")?;
        Ok(vec![TensorSpec::new(
            vec![x.shape[0], Some(self.config.n), x.shape[1]],
            x.dtype,
        )])
    }

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let x = single(inputs)?;
        Ok(vec![per_dtype!(x, repeat_array, self.config.n)])
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

// ---------------------------------------------------------------------------
// Cropping1D

/// Builder and configuration of a `Cropping1D` layer (Keras' `layers.Cropping1D`):
/// drops `cropping.0` steps at the start and `cropping.1` at the end of axis 1
/// of a `(batch, steps, features)` input.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 3]).build();
/// let y = Cropping1D::new((8, 0)).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(2), Some(3)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Cropping1D {
    /// Steps removed at the start and at the end.
    pub cropping: (usize, usize),
    /// Keras' `trainable` flag (the layer has no weights).
    pub trainable: bool,
    #[serde(skip)]
    name: Option<String>,
}

impl Default for Cropping1D {
    /// Keras' default `cropping=(1, 1)`.
    fn default() -> Self {
        Cropping1D {
            cropping: (1, 1),
            trainable: true,
            name: None,
        }
    }
}

impl Cropping1D {
    /// Crops `(start, end)` steps.
    pub fn new(cropping: (usize, usize)) -> Self {
        Cropping1D {
            cropping,
            ..Default::default()
        }
    }

    /// Names the layer (default `cropping1d`, `cropping1d_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The remaining length, or an error when nothing would remain.
    fn remaining(&self, steps: usize) -> Result<usize> {
        let (start, end) = self.cropping;
        steps
            .checked_sub(start + end)
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                Error::invalid(format!(
                    "cropping ({start}, {end}) must remove fewer steps than the input's {steps}"
                ))
            })
    }
}

impl IntoLayer for Cropping1D {
    fn into_layer(self) -> LayerRef {
        let name = self.name.clone().unwrap_or_else(|| auto_name("Cropping1D"));
        LayerRef::new(name, Cropping1DLayer { config: self })
    }
}

/// The `Cropping1D` layer itself.
#[derive(Debug)]
pub struct Cropping1DLayer {
    config: Cropping1D,
}

fn crop_array<T: Clone>(a: &ArrayD<T>, start: usize, len: usize) -> Result<ArrayD<T>> {
    if a.ndim() != 3 {
        return Err(Error::invalid(format!(
            "expects inputs of rank 3 (batch, steps, features), got shape {:?}",
            a.shape()
        )));
    }
    Ok(a.slice_axis(Axis(1), Slice::from(start..start + len))
        .to_owned())
}

impl Layer for Cropping1DLayer {
    fn class_name(&self) -> &str {
        "Cropping1D"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        expect_rank(x, 3, "inputs (batch, steps, features)")?;
        let steps = match x.shape[1] {
            Some(steps) => Some(self.config.remaining(steps)?),
            None => None,
        };
        Ok(vec![TensorSpec::new(
            vec![x.shape[0], steps, x.shape[2]],
            x.dtype,
        )])
    }

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let x = single(inputs)?;
        if x.shape().len() != 3 {
            return Err(Error::invalid(format!(
                "expects inputs of rank 3 (batch, steps, features), got shape {:?}",
                x.shape()
            )));
        }
        let len = self.config.remaining(x.shape()[1])?;
        Ok(vec![per_dtype!(x, crop_array, self.config.cropping.0, len)])
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, ArrayD};
    use tensorweave_core::DType;

    fn spec(shape: &[Option<usize>]) -> TensorSpec {
        TensorSpec::f32(shape.to_vec())
    }

    /// Builds the layer on the value's concrete shape, checks the inferred spec
    /// against the result, and runs it.
    fn run(layer: impl IntoLayer, x: Value) -> Result<Value> {
        let layer = layer.into_layer();
        let mut guard = layer.write();
        let input = TensorSpec::new(x.shape().iter().map(|&d| Some(d)).collect(), x.dtype());
        guard.build(std::slice::from_ref(&input))?;
        let out_spec = guard.output_specs(&[input])?;
        let y = guard.call(&[&x], &[None], &CallContext::default())?;
        let y = y
            .into_iter()
            .next()
            .ok_or_else(|| Error::invalid("no output"))?;
        let expected: Vec<Option<usize>> = y.shape().iter().map(|&d| Some(d)).collect();
        assert_eq!(out_spec[0].shape, expected);
        assert_eq!(out_spec[0].dtype, y.dtype());
        Ok(y)
    }

    fn arange(shape: &[usize]) -> ArrayD<f32> {
        let n = shape.iter().product::<usize>();
        ArrayD::from_shape_vec(IxDyn(shape), (0..n).map(|v| v as f32).collect()).unwrap()
    }

    fn specs_of(layer: impl IntoLayer, shape: &[Option<usize>]) -> Result<Vec<TensorSpec>> {
        let layer = layer.into_layer();
        let mut guard = layer.write();
        guard.build(&[spec(shape)])?;
        guard.output_specs(&[spec(shape)])
    }

    #[test]
    fn flatten_is_row_major() {
        // (1, 2, 3) arange -> [0..6] in order; rank-1 input gets a unit axis.
        let y = run(Flatten::new(), Value::F32(arange(&[1, 2, 3]))).unwrap();
        assert_eq!(y, Value::F32(arange(&[1, 6])));
        let y = run(Flatten::new(), Value::I32(array![4, 5].into_dyn())).unwrap();
        assert_eq!(y, Value::I32(array![[4], [5]].into_dyn()));
        let s = specs_of(Flatten::new(), &[None, None, Some(3)]).unwrap();
        assert_eq!(s[0].shape, vec![None, None]);
    }

    #[test]
    fn flatten_channels_first_moves_channels_last() {
        // x (1, C=2, L=3) = [[0,1,2],[3,4,5]]; channels-last view is (1, 3, 2) =
        // [[0,3],[1,4],[2,5]] -> [0,3,1,4,2,5] (Keras: transpose (0,2,1) then reshape).
        let y = run(
            Flatten::new().data_format(DataFormat::ChannelsFirst),
            Value::F32(arange(&[1, 2, 3])),
        )
        .unwrap();
        assert_eq!(
            y,
            Value::F32(array![[0.0f32, 3.0, 1.0, 4.0, 2.0, 5.0]].into_dyn())
        );
    }

    #[test]
    fn reshape_resolves_minus_one() {
        // (2, 2, 3) -> target (3, -1) = (3, 2), row-major.
        let y = run(Reshape::new(vec![3, -1]), Value::F32(arange(&[2, 2, 3]))).unwrap();
        assert_eq!(y, Value::F32(arange(&[2, 3, 2])));
        // Unknown input axes leave the -1 unknown until run time.
        let s = specs_of(Reshape::new(vec![-1]), &[None, None, Some(4)]).unwrap();
        assert_eq!(s[0].shape, vec![None, None]);
        let s = specs_of(Reshape::new(vec![2, 2]), &[None, None]).unwrap();
        assert_eq!(s[0].shape, vec![None, Some(2), Some(2)]);
    }

    #[test]
    fn reshape_rejects_bad_targets() {
        let err = |r: Result<Vec<TensorSpec>>| r.unwrap_err().to_string();
        assert!(err(specs_of(Reshape::new(vec![-1, -1]), &[None, Some(4)])).contains("at most one"));
        assert!(err(specs_of(Reshape::new(vec![-2]), &[None, Some(4)])).contains("non-negative"));
        assert!(err(specs_of(Reshape::new(vec![5]), &[None, Some(4)])).contains("total size"));
        assert!(err(specs_of(Reshape::new(vec![3, -1]), &[None, Some(4)])).contains("total size"));
        assert!(err(specs_of(Reshape::new(vec![0, -1]), &[None, Some(4)])).contains("total size"));
        // Unknown at graph time, wrong at run time.
        let layer = Reshape::new(vec![3]).into_layer();
        let guard = layer.read();
        let x = Value::F32(arange(&[1, 4]));
        assert!(guard.call(&[&x], &[None], &CallContext::default()).is_err());
    }

    #[test]
    fn permute_swaps_axes() {
        // (1, 2, 3) with dims [2, 1] -> (1, 3, 2): y[0, j, i] = x[0, i, j]
        let y = run(Permute::new(vec![2, 1]), Value::F32(arange(&[1, 2, 3]))).unwrap();
        assert_eq!(
            y,
            Value::F32(array![[[0.0f32, 3.0], [1.0, 4.0], [2.0, 5.0]]].into_dyn())
        );
        let err = |r: Result<Vec<TensorSpec>>| r.unwrap_err().to_string();
        assert!(err(specs_of(
            Permute::new(vec![0, 1]),
            &[None, Some(2), Some(3)]
        ))
        .contains("permutation"));
        assert!(err(specs_of(
            Permute::new(vec![1, 1]),
            &[None, Some(2), Some(3)]
        ))
        .contains("permutation"));
        assert!(err(specs_of(Permute::new(vec![2, 1]), &[None, Some(2)])).contains("rank 3"));
    }

    #[test]
    fn repeat_vector_adds_a_time_axis() {
        let y = run(
            RepeatVector::new(3),
            Value::F32(array![[1.0f32, 2.0]].into_dyn()),
        )
        .unwrap();
        assert_eq!(
            y,
            Value::F32(array![[[1.0f32, 2.0], [1.0, 2.0], [1.0, 2.0]]].into_dyn())
        );
        assert!(specs_of(RepeatVector::new(0), &[None, Some(2)]).is_err());
        assert!(specs_of(RepeatVector::new(2), &[None, Some(2), Some(1)])
            .unwrap_err()
            .to_string()
            .contains("rank 2"));
    }

    #[test]
    fn cropping_drops_steps_at_both_ends() {
        // steps 0..4 of (1, 4, 1): crop (1, 2) keeps step 1.
        let y = run(Cropping1D::new((1, 2)), Value::F32(arange(&[1, 4, 1]))).unwrap();
        assert_eq!(y, Value::F32(array![[[1.0f32]]].into_dyn()));
        let y = run(
            Cropping1D::new((2, 0)),
            Value::Bool(ArrayD::from_elem(IxDyn(&[1, 3, 1]), true)),
        )
        .unwrap();
        assert_eq!(y.shape(), &[1, 1, 1]);
        assert_eq!(y.dtype(), DType::Bool);
        assert!(specs_of(Cropping1D::new((2, 2)), &[None, Some(4), Some(1)])
            .unwrap_err()
            .to_string()
            .contains("fewer steps"));
        let layer = Cropping1D::new((2, 2)).into_layer();
        let x = Value::F32(arange(&[1, 3, 1]));
        assert!(layer
            .read()
            .call(&[&x], &[None], &CallContext::default())
            .is_err());
    }

    #[test]
    fn configs_match_keras() {
        let c = Cropping1D::new((8, 0)).into_layer().config();
        assert_eq!(c["cropping"], serde_json::json!([8, 0]));
        assert_eq!(c["trainable"], true);
        let c = Reshape::new(vec![-1]).into_layer().config();
        assert_eq!(c["target_shape"], serde_json::json!([-1]));
        let c = Permute::new(vec![2, 1]).into_layer().config();
        assert_eq!(c["dims"], serde_json::json!([2, 1]));
        let c = RepeatVector::new(2).into_layer().config();
        assert_eq!(c["n"], 2);
        let c = Flatten::new().into_layer().config();
        assert_eq!(c["data_format"], "channels_last");
    }

    #[test]
    fn reshaping_layers_drop_masks() {
        for layer in [
            Flatten::new().into_layer(),
            Reshape::new(vec![-1]).into_layer(),
            Permute::new(vec![1]).into_layer(),
            RepeatVector::new(1).into_layer(),
            Cropping1D::new((0, 0)).into_layer(),
        ] {
            let guard = layer.read();
            assert!(
                !guard.propagates_mask() && !guard.uses_mask(),
                "{}",
                guard.class_name()
            );
        }
    }
}
