//! Temporal pooling (Keras' `keras/src/layers/pooling`): `MaxPooling1D` and
//! `AveragePooling1D` (windows along the time axis), `GlobalMaxPooling1D` and
//! `GlobalAveragePooling1D` (the whole time axis). Inputs are
//! `(batch, steps, channels)`.
//!
//! The two window layers share one builder, [`Pooling1D`], and one layer,
//! [`Pooling1DLayer`], generic over a [`WindowReduction`]; the global ones
//! share [`GlobalPooling1D`] / [`GlobalPooling1DLayer`] over a
//! [`GlobalReduction`]. Each class file (`max_pooling1d.rs`, …) holds its
//! reduction, its Keras class name and its documentation.
//!
//! Masks follow Keras 3.15.1: only `GlobalAveragePooling1D` reads one (it
//! averages the unmasked steps); every pooling layer outputs no mask.
//!
//! NaN and infinities follow TensorFlow's kernels, checked against Keras in
//! `tests/fixtures/keras_nan`: the global reductions (`reduce_max`, the mean)
//! and average pooling propagate NaN; `MaxPooling1D` (TensorFlow's `MaxPool`)
//! skips NaN and starts from the lowest finite float, so a window of NaN or
//! -inf gives `-3.4028235e38`.

mod average_pooling1d;
mod global_average_pooling1d;
mod global_max_pooling1d;
mod global_max_pooling2d;
mod max_pooling1d;
mod max_pooling2d;

use std::fmt::Debug;
use std::marker::PhantomData;
use tensorweave_core::format_dims;

use ndarray::{s, Array2, Array3, ArrayD, ArrayView2, ArrayView3, Axis, Ix3};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    BackwardCall, BuildContext, CallContext, Error, Layer, LayerGrads, Result, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::{Common, LayerClass};
use crate::class_and_config;
use crate::convolutional::{
    expect_channels_last, same_geometry, tuple1, valid_length, DataFormat, Padding,
};
use crate::util::{expect_float, expect_inputs, expect_rank};
use tensorweave_core::Inputs;

pub use average_pooling1d::{AveragePooling1D, AveragePooling1DLayer, AverageWindow};
pub use global_average_pooling1d::{
    GlobalAverage, GlobalAveragePooling1D, GlobalAveragePooling1DLayer,
};
pub use global_max_pooling1d::{GlobalMax, GlobalMaxPooling1D, GlobalMaxPooling1DLayer};
pub use global_max_pooling2d::{GlobalMaxPooling2D, GlobalMaxPooling2DLayer};
pub use max_pooling1d::{MaxPooling1D, MaxPooling1DLayer, MaxWindow};
pub use max_pooling2d::{MaxPooling2D, MaxPooling2DLayer};

/// How a window layer reduces one window, and its Keras class.
pub trait WindowReduction: Debug + Clone + Default + Send + Sync + 'static {
    /// The Keras class name (`MaxPooling1D`).
    const CLASS_NAME: &'static str;
    /// Reduces a window `(batch, window steps, channels)` over its steps.
    fn reduce(window: ArrayView3<'_, f32>) -> Array2<f32>;
    /// The gradient of the window, given the gradient `gy` `(batch, channels)`
    /// of its reduction.
    fn grad(window: ArrayView3<'_, f32>, gy: ArrayView2<'_, f32>) -> Array3<f32>;
}

/// How a global layer reduces the time axis, and its Keras class.
pub trait GlobalReduction: Debug + Clone + Default + Send + Sync + 'static {
    /// The Keras class name (`GlobalMaxPooling1D`).
    const CLASS_NAME: &'static str;
    /// Whether it reads the input mask (Keras: `call(inputs, mask=None)`).
    const USES_MASK: bool;
    /// Reduces `x` (batch, steps, channels) over its steps; `mask` is
    /// `(batch, steps)` with 1 for kept steps, when the layer reads masks.
    fn reduce(x: ArrayView3<'_, f32>, mask: Option<ArrayView2<'_, f32>>) -> Array2<f32>;
    /// The gradient of `x`, given the gradient `gy` `(batch, channels)` of the
    /// reduction `y`.
    fn grad(
        x: ArrayView3<'_, f32>,
        mask: Option<ArrayView2<'_, f32>>,
        y: ArrayView2<'_, f32>,
        gy: ArrayView2<'_, f32>,
    ) -> Array3<f32>;
}

/// Declares a pooling class: its reduction kind `$kind` implementing
/// `$trait` (named `$class` in Keras, with its consts), and the builder and
/// layer types (`$builder` over `$generic`, `$layer` over `$generic_layer`).
macro_rules! pooling_class {
    (
        $(#[$doc:meta])*
        $builder:ident = $generic:ident, $layer:ident = $generic_layer:ident,
        $kind:ident: $trait:ident = $class:literal $(, $konst:ident = $value:expr)*;
        $(#[$kind_doc:meta])*
        fn reduce($($arg:ident: $ty:ty),*) -> Array2<f32> $body:block
        $(#[$grad_doc:meta])*
        fn grad($($garg:ident: $gty:ty),*) -> Array3<f32> $gbody:block
    ) => {
        $(#[$kind_doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $kind;

        impl $crate::pooling::$trait for $kind {
            const CLASS_NAME: &'static str = $class;
            $(const $konst: bool = $value;)*

            fn reduce($($arg: $ty),*) -> ndarray::Array2<f32> $body

            $(#[$grad_doc])*
            fn grad($($garg: $gty),*) -> ndarray::Array3<f32> $gbody
        }

        $(#[$doc])*
        pub type $builder = $crate::pooling::$generic<$kind>;

        #[doc = concat!("The `", $class, "` layer.")]
        pub type $layer = $crate::pooling::$generic_layer<$kind>;
    };
}

pub(crate) use pooling_class;

/// The maximum of a window as TensorFlow's `MaxPool` takes it: from the lowest
/// finite float, each value that is greater (so NaN and -inf never win).
pub(crate) fn max_of_window(x: ArrayView3<'_, f32>) -> Array2<f32> {
    x.fold_axis(Axis(1), f32::MIN, |&m, &v| if v > m { v } else { m })
}

/// The maximum over axis 1, NaN if any value is NaN (TensorFlow's `reduce_max`
/// propagates NaN; `f32::max` would drop it).
pub(crate) fn max_over_steps(x: ArrayView3<'_, f32>) -> Array2<f32> {
    x.fold_axis(Axis(1), f32::NEG_INFINITY, |&m, &v| {
        if m.is_nan() || v.is_nan() {
            f32::NAN
        } else {
            m.max(v)
        }
    })
}

/// Builder and configuration of a window pooling layer ([`MaxPooling1D`],
/// [`AveragePooling1D`]).
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default, bound = "")]
#[layer(Pooling1DLayer<R>)]
pub struct Pooling1D<R: WindowReduction> {
    /// Window length.
    #[serde(with = "tuple1")]
    #[config(default = 2)]
    pub pool_size: usize,
    /// `valid` (default) or `same`.
    pub padding: Padding,
    /// Step between windows; `None` means `pool_size` (Keras' default).
    #[serde(with = "tuple1::option")]
    pub strides: Option<usize>,
    /// Channel axis position; only `channels_last` runs.
    pub data_format: DataFormat,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
    #[serde(skip)]
    #[config(skip)]
    reduction: PhantomData<R>,
}

impl<R: WindowReduction> Pooling1D<R> {
    /// Windows of `pool_size` steps, moved by `pool_size` steps, `valid` padding.
    pub fn new(pool_size: usize) -> Self {
        Pooling1D {
            pool_size,
            strides: Some(pool_size),
            ..Default::default()
        }
    }

    fn strides_or_pool(&self) -> usize {
        self.strides.unwrap_or(self.pool_size)
    }

    fn validate(&self) -> Result<()> {
        expect_channels_last(self.data_format)?;
        if self.pool_size == 0 || self.strides_or_pool() == 0 {
            return Err(Error::invalid(format!(
                "pool_size and strides must be positive, got {} and {}",
                self.pool_size,
                self.strides_or_pool()
            )));
        }
        if self.padding == Padding::Causal {
            return Err(Error::invalid(
                "padding \"causal\" is only for Conv1D; pooling takes \"valid\" or \"same\"",
            ));
        }
        Ok(())
    }

    /// Output length and left padding for `steps` input steps.
    fn geometry(&self, steps: usize) -> Result<(usize, usize)> {
        let strides = self.strides_or_pool();
        if self.padding == Padding::Same {
            return Ok(same_geometry(steps, self.pool_size, strides));
        }
        let out = valid_length(steps, self.pool_size, strides).ok_or_else(|| {
            Error::invalid(format!(
                "the input has {steps} steps, fewer than pool_size={} with padding \"valid\"; \
                 use padding \"same\" or a smaller pool_size",
                self.pool_size
            ))
        })?;
        Ok((out, 0))
    }

    /// The input steps `lo..hi` of each window, for `steps` input steps.
    fn windows(&self, steps: usize) -> Result<Vec<(usize, usize)>> {
        let (out_steps, left) = self.geometry(steps)?;
        let strides = self.strides_or_pool();
        Ok((0..out_steps)
            .map(|t| {
                // The window covers [t*stride - left, t*stride - left + pool_size) clipped
                // to the input: padded positions take no part, as in TensorFlow.
                let start = t.saturating_mul(strides);
                let lo = start.saturating_sub(left).min(steps);
                let hi = start
                    .saturating_add(self.pool_size)
                    .saturating_sub(left)
                    .min(steps)
                    .max(lo);
                (lo, hi)
            })
            .collect())
    }

    /// Pools windows of `x` (batch, steps, channels) along the steps.
    fn pool(&self, x: ArrayView3<'_, f32>) -> Result<Array3<f32>> {
        let (batch, steps, channels) = x.dim();
        let windows = self.windows(steps)?;
        let mut y = Array3::<f32>::zeros((batch, windows.len(), channels));
        for (t, (lo, hi)) in windows.into_iter().enumerate() {
            let pooled = R::reduce(x.slice(s![.., lo..hi, ..]));
            y.slice_mut(s![.., t, ..]).assign(&pooled);
        }
        Ok(y)
    }
}

/// A window pooling layer ([`MaxPooling1DLayer`], [`AveragePooling1DLayer`]).
#[derive(Debug)]
pub struct Pooling1DLayer<R: WindowReduction> {
    config: Pooling1D<R>,
}

impl<R: WindowReduction> LayerClass for Pooling1DLayer<R> {
    const CLASS_NAME: &'static str = R::CLASS_NAME;
    type Builder = Pooling1D<R>;

    fn from_builder(config: Pooling1D<R>) -> Self {
        Pooling1DLayer { config }
    }
}

impl<R: WindowReduction> Layer for Pooling1DLayer<R> {
    fn class_name(&self) -> &str {
        Self::CLASS_NAME
    }

    fn config(&self) -> serde_json::Value {
        let mut config = serde_json::to_value(&self.config).unwrap_or_default();
        // Keras stores the resolved strides.
        if let Some(map) = config.as_object_mut() {
            map.insert(
                "strides".into(),
                serde_json::json!([self.config.strides_or_pool()]),
            );
        }
        config
    }

    fn build(&mut self, inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        self.config.validate()
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        self.config.validate()?;
        let x = &inputs[0];
        expect_float(x)?;
        expect_rank(x, 3, "inputs (batch, steps, channels)")?;
        let steps = match x.shape[1] {
            Some(steps) => Some(self.config.geometry(steps)?.0),
            None => None,
        };
        Ok(vec![TensorSpec::f32(vec![x.shape[0], steps, x.shape[2]])])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = rank3(inputs)?;
        Ok(vec![Value::F32(self.config.pool(x)?.into_dyn())])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(gy) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let x = rank3(call.inputs)?;
        let gy = as_rank3(gy)?;
        let mut gx = Array3::<f32>::zeros(x.dim());
        for (t, (lo, hi)) in self.config.windows(x.dim().1)?.into_iter().enumerate() {
            let g = R::grad(x.slice(s![.., lo..hi, ..]), gy.slice(s![.., t, ..]));
            let mut dst = gx.slice_mut(s![.., lo..hi, ..]);
            dst += &g;
        }
        Ok(LayerGrads::inputs(vec![Some(gx.into_dyn())]))
    }
}

/// A pooled value `(batch, channels)` (with or without the kept time axis).
fn as_2d(a: &ArrayD<f32>, batch: usize, channels: usize) -> Result<ArrayView2<'_, f32>> {
    a.view()
        .into_shape_with_order((batch, channels))
        .map_err(|e| Error::invalid(format!("internal: pooled gradient: {e}")))
}

/// A gradient of rank 3, or an internal error.
fn as_rank3(g: &ArrayD<f32>) -> Result<ArrayView3<'_, f32>> {
    g.view().into_dimensionality::<Ix3>().map_err(|_| {
        Error::invalid(format!(
            "internal: pooling got a gradient of shape {}",
            format_dims(g.shape())
        ))
    })
}

/// The one input as a `(batch, steps, channels)` view, or an error naming its shape.
fn rank3<'a>(inputs: &Inputs<'a>) -> Result<ArrayView3<'a, f32>> {
    let x = inputs.f32(0)?;
    x.view().into_dimensionality::<Ix3>().map_err(|_| {
        Error::invalid(format!(
            "expects inputs of rank 3 (batch, steps, channels), got shape {}",
            format_dims(x.shape())
        ))
    })
}

/// Builder and configuration of a global pooling layer
/// ([`GlobalMaxPooling1D`], [`GlobalAveragePooling1D`]).
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default, bound = "")]
#[layer(GlobalPooling1DLayer<R>)]
pub struct GlobalPooling1D<R: GlobalReduction> {
    /// Channel axis position; only `channels_last` runs.
    pub data_format: DataFormat,
    /// Keep the time axis with length 1: `(batch, 1, channels)` (default false).
    pub keepdims: bool,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
    #[serde(skip)]
    #[config(skip)]
    reduction: PhantomData<R>,
}

impl<R: GlobalReduction> GlobalPooling1D<R> {
    /// Pools the whole time axis, dropping it.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A global pooling layer ([`GlobalMaxPooling1DLayer`],
/// [`GlobalAveragePooling1DLayer`]).
#[derive(Debug)]
pub struct GlobalPooling1DLayer<R: GlobalReduction> {
    config: GlobalPooling1D<R>,
}

impl<R: GlobalReduction> LayerClass for GlobalPooling1DLayer<R> {
    const CLASS_NAME: &'static str = R::CLASS_NAME;
    type Builder = GlobalPooling1D<R>;

    fn from_builder(config: GlobalPooling1D<R>) -> Self {
        GlobalPooling1DLayer { config }
    }
}

impl<R: GlobalReduction> Layer for GlobalPooling1DLayer<R> {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        expect_channels_last(self.config.data_format)
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        expect_channels_last(self.config.data_format)?;
        let x = &inputs[0];
        expect_float(x)?;
        expect_rank(x, 3, "inputs (batch, steps, channels)")?;
        let shape = if self.config.keepdims {
            vec![x.shape[0], Some(1), x.shape[2]]
        } else {
            vec![x.shape[0], x.shape[2]]
        };
        Ok(vec![TensorSpec::f32(shape)])
    }

    fn uses_mask(&self) -> bool {
        R::USES_MASK
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = rank3(inputs)?;
        let mask = step_mask::<R>(inputs, x)?;
        let pooled = R::reduce(x, mask.as_ref().map(|m| m.view()));
        let out: ArrayD<f32> = if self.config.keepdims {
            pooled.insert_axis(Axis(1)).into_dyn()
        } else {
            pooled.into_dyn()
        };
        Ok(vec![Value::F32(out)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(gy) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let x = rank3(call.inputs)?;
        let mask = step_mask::<R>(call.inputs, x)?;
        let (batch, _, channels) = x.dim();
        let y = call.output(0)?;
        let (y, gy) = (as_2d(y, batch, channels)?, as_2d(gy, batch, channels)?);
        let gx = R::grad(x, mask.as_ref().map(|m| m.view()), y, gy);
        Ok(LayerGrads::inputs(vec![Some(gx.into_dyn())]))
    }
}

/// The first input's mask as 1/0 floats `(batch, steps)`, when the layer reads masks.
fn step_mask<R: GlobalReduction>(
    inputs: &Inputs<'_>,
    x: ArrayView3<'_, f32>,
) -> Result<Option<Array2<f32>>> {
    {
        let masks = inputs.masks();
        let (batch, steps, _) = x.dim();
        let mask = match masks.first().copied().flatten().filter(|_| R::USES_MASK) {
            Some(m) => {
                if m.shape() != [batch, steps] {
                    return Err(Error::invalid(format!(
                        "the mask has shape {}, but the inputs of shape {} need a mask of \
                         shape [{batch}, {steps}]",
                        format_dims(m.shape()),
                        format_dims(x.shape())
                    )));
                }
                let m = m
                    .to_f32()
                    .mapv(|v| if v != 0.0 { 1.0f32 } else { 0.0 })
                    .into_dimensionality::<ndarray::Ix2>()
                    .map_err(|e| Error::invalid(format!("internal: mask rank: {e}")))?;
                Some(m)
            }
            None => None,
        };
        Ok(mask)
    }
}

#[cfg(test)]
mod tests {
    use ndarray::{array, s, Array3, ArrayD, IxDyn};
    use tensorweave_core::{BuildContext, Error, Result};

    use crate::prelude::*;

    fn spec(shape: &[Option<usize>]) -> TensorSpec {
        TensorSpec::f32(shape.to_vec())
    }

    fn known(x: &Array3<f32>) -> TensorSpec {
        spec(&x.shape().iter().map(|&d| Some(d)).collect::<Vec<_>>())
    }

    /// Builds the layer, checks the inferred spec against the result, and runs it.
    fn run(
        layer: impl IntoLayer,
        x: Array3<f32>,
        mask: Option<ArrayD<bool>>,
    ) -> Result<ArrayD<f32>> {
        let layer = layer.into_layer();
        let mut guard = layer.write();
        guard.build(&[known(&x)], &mut BuildContext::new())?;
        let out_spec = guard.output_specs(&[known(&x)])?;
        let mask = mask.map(Value::Bool);
        let y = guard.call(
            &Inputs::new(vec![&Value::F32(x.into_dyn())], vec![mask.as_ref()]),
            &CallContext::default(),
        )?;
        let y = y
            .into_iter()
            .next()
            .ok_or_else(|| Error::invalid("no output"))?
            .into_f32()?;
        let expected: Vec<Option<usize>> = y.shape().iter().map(|&d| Some(d)).collect();
        assert_eq!(out_spec[0].shape, expected);
        Ok(y)
    }

    fn flat(y: ArrayD<f32>) -> Vec<f32> {
        y.iter().copied().collect()
    }

    /// x = [1, 2, 3, 4, 5] as (1, 5, 1).
    fn ramp(sign: f32) -> Array3<f32> {
        Array3::from_shape_fn((1, 5, 1), |(_, t, _)| sign * (t + 1) as f32)
    }

    #[test]
    fn valid_windows_default_to_non_overlapping() {
        // pool 2, stride 2: windows [1,2], [3,4]; the 5 is dropped.
        assert_eq!(
            flat(run(AveragePooling1D::new(2), ramp(1.0), None).unwrap()),
            [1.5, 3.5]
        );
        assert_eq!(
            flat(run(MaxPooling1D::new(2), ramp(-1.0), None).unwrap()),
            [-1.0, -3.0]
        );
        // pool 3, stride 1: [1,2,3], [2,3,4], [3,4,5]
        assert_eq!(
            flat(run(AveragePooling1D::new(3).strides(1), ramp(1.0), None).unwrap()),
            [2.0, 3.0, 4.0]
        );
    }

    #[test]
    fn same_padding_counts_only_real_steps() {
        // Values checked with Keras 3.15.1 (TF backend) on x = [1..5]:
        // pool 2, stride 1: out 5, pad total 1, left 0: last window [5] -> 5 (not 2.5).
        assert_eq!(
            flat(
                run(
                    AveragePooling1D::new(2).strides(1).padding(Padding::Same),
                    ramp(1.0),
                    None
                )
                .unwrap()
            ),
            [1.5, 2.5, 3.5, 4.5, 5.0]
        );
        // pool 3, stride 2: out 3, pad total (3-1)*2+3-5 = 2, left 1:
        // windows [pad,1,2] -> 1.5, [2,3,4] -> 3, [4,5,pad] -> 4.5
        assert_eq!(
            flat(
                run(
                    AveragePooling1D::new(3).strides(2).padding(Padding::Same),
                    ramp(1.0),
                    None
                )
                .unwrap()
            ),
            [1.5, 3.0, 4.5]
        );
        // Max ignores padding too: on -x the windows give -1, -2, -4 (a zero pad would win).
        assert_eq!(
            flat(
                run(
                    MaxPooling1D::new(3).strides(2).padding(Padding::Same),
                    ramp(-1.0),
                    None
                )
                .unwrap()
            ),
            [-1.0, -2.0, -4.0]
        );
        // pool 2 (stride 2), same: out 3, pad total 1 (right): [1,2], [3,4], [5]
        assert_eq!(
            flat(
                run(
                    AveragePooling1D::new(2).padding(Padding::Same),
                    ramp(1.0),
                    None
                )
                .unwrap()
            ),
            [1.5, 3.5, 5.0]
        );
    }

    #[test]
    fn channels_and_batches_pool_independently() {
        // (2, 2, 2): max over the two steps per (batch, channel).
        let x = array![[[1.0f32, 9.0], [5.0, 2.0]], [[-1.0, -2.0], [-3.0, 0.0]]];
        assert_eq!(
            flat(run(MaxPooling1D::new(2), x, None).unwrap()),
            [5.0, 9.0, -1.0, 0.0]
        );
    }

    #[test]
    fn global_pooling_reduces_the_time_axis() {
        let x = array![[[1.0f32, 10.0], [2.0, 20.0], [6.0, 0.0]]];
        assert_eq!(
            flat(run(GlobalMaxPooling1D::new(), x.clone(), None).unwrap()),
            [6.0, 20.0]
        );
        // means: (1+2+6)/3 = 3, (10+20+0)/3 = 10
        let y = run(GlobalAveragePooling1D::new().keepdims(true), x, None).unwrap();
        assert_eq!(y.shape(), &[1, 1, 2]);
        assert_eq!(flat(y), [3.0, 10.0]);
    }

    #[test]
    fn global_average_uses_the_mask_and_gives_nan_when_all_masked() {
        // Keras 3.15.1:
        //   x = [[[1,10],[2,20],[3,30]], [[4,40],[5,50],[6,60]]]
        //   GlobalAveragePooling1D()(x, mask=[[T,F,T],[F,F,F]]) -> [[2, 20], [nan, nan]]
        // Row 0: (1+3)/2, (10+30)/2. Row 1: 0/0.
        let x = array![
            [[1.0f32, 10.0], [2.0, 20.0], [3.0, 30.0]],
            [[4.0, 40.0], [5.0, 50.0], [6.0, 60.0]]
        ];
        let mask = array![[true, false, true], [false, false, false]].into_dyn();
        let y = run(GlobalAveragePooling1D::new(), x, Some(mask)).unwrap();
        assert_eq!(y.slice(s![0, ..]).to_vec(), vec![2.0, 20.0]);
        assert!(y.slice(s![1, ..]).iter().all(|v| v.is_nan()));
    }

    #[test]
    fn global_max_ignores_the_mask_like_keras() {
        let layer = GlobalMaxPooling1D::new().into_layer();
        assert!(!layer.read().uses_mask());
        assert!(GlobalAveragePooling1D::new()
            .into_layer()
            .read()
            .uses_mask());
        // Even if handed a mask, the max runs over every step.
        let x = array![[[1.0f32], [7.0]]];
        let mask = array![[true, false]].into_dyn();
        assert_eq!(
            flat(run(GlobalMaxPooling1D::new(), x, Some(mask)).unwrap()),
            [7.0]
        );
    }

    #[test]
    fn configs_match_keras() {
        let layer = MaxPooling1D::new(3).into_layer();
        let c = layer.read().config();
        assert_eq!(c["pool_size"], serde_json::json!([3]));
        assert_eq!(c["strides"], serde_json::json!([3]));
        assert_eq!(c["padding"], "valid");
        assert_eq!(c["data_format"], "channels_last");
        let c = GlobalAveragePooling1D::new()
            .keepdims(true)
            .into_layer()
            .read()
            .config();
        assert_eq!(c["keepdims"], true);
        let back: AveragePooling1D =
            serde_json::from_value(serde_json::json!({"pool_size": [2], "strides": null})).unwrap();
        assert_eq!((back.pool_size, back.strides), (2, None));
    }

    #[test]
    fn bad_inputs_and_options_are_errors() {
        let check = |layer: LayerRef, shape: &[Option<usize>]| -> String {
            let mut guard = layer.write();
            guard
                .build(&[spec(shape)], &mut BuildContext::new())
                .and_then(|_| guard.output_specs(&[spec(shape)]))
                .unwrap_err()
                .to_string()
        };
        let ok = [None, Some(5), Some(2)];
        assert!(check(MaxPooling1D::new(6).into_layer(), &ok).contains("fewer than pool_size"));
        assert!(check(MaxPooling1D::new(2).into_layer(), &[None, Some(5)]).contains("rank 3"));
        assert!(check(MaxPooling1D::new(0).into_layer(), &ok).contains("positive"));
        assert!(check(AveragePooling1D::new(2).strides(0).into_layer(), &ok).contains("positive"));
        assert!(check(
            AveragePooling1D::new(2)
                .padding(Padding::Causal)
                .into_layer(),
            &ok
        )
        .contains("causal"));
        assert!(check(
            MaxPooling1D::new(2)
                .data_format(DataFormat::ChannelsFirst)
                .into_layer(),
            &ok
        )
        .contains("channels_first"));
        assert!(check(GlobalMaxPooling1D::new().into_layer(), &[None, Some(5)]).contains("rank 3"));
        assert!(check(
            GlobalAveragePooling1D::new()
                .data_format(DataFormat::ChannelsFirst)
                .into_layer(),
            &ok
        )
        .contains("channels_first"));
        // Runtime: too short, wrong rank, mask of the wrong shape.
        let layer = MaxPooling1D::new(3).into_layer();
        let guard = layer.read();
        let short = Value::F32(ArrayD::zeros(IxDyn(&[1, 2, 1])));
        assert!(guard
            .call(
                &Inputs::new(vec![&short], vec![None]),
                &CallContext::default()
            )
            .is_err());
        let flat_input = Value::F32(ArrayD::zeros(IxDyn(&[1, 2])));
        assert!(guard
            .call(
                &Inputs::new(vec![&flat_input], vec![None]),
                &CallContext::default()
            )
            .is_err());
        let gap = GlobalAveragePooling1D::new().into_layer();
        let x = Value::F32(ArrayD::zeros(IxDyn(&[1, 3, 1])));
        let bad_mask = Value::Bool(ArrayD::from_elem(IxDyn(&[1, 2]), true));
        let err = gap.read().call(
            &Inputs::new(vec![&x], vec![Some(&bad_mask)]),
            &CallContext::default(),
        );
        assert!(err.unwrap_err().to_string().contains("mask"));
    }
}
