//! Layers that only move data: `Flatten`, `Reshape`, `Permute`, `RepeatVector`,
//! `Cropping1D`. They work on every dtype (float, int, bool) and keep it.
//!
//! None of them supports masks in Keras 3.15.1 (no `supports_masking`, no
//! `compute_mask`): an input mask is dropped.

mod cropping1d;
mod flatten;
mod permute;
mod repeat_vector;
mod reshape;
mod up_sampling1d;
mod zero_padding1d;

use ndarray::{ArrayD, IxDyn};
use tensorweave_core::format_dims;
use tensorweave_core::{Error, Inputs, Result, Value};

pub use cropping1d::{Cropping1D, Cropping1DLayer};
pub use flatten::{Flatten, FlattenLayer};
pub use permute::{Permute, PermuteLayer};
pub use repeat_vector::{RepeatVector, RepeatVectorLayer};
pub use reshape::{Reshape, ReshapeLayer};
pub use up_sampling1d::{UpSampling1D, UpSampling1DLayer};
pub use zero_padding1d::{ZeroPadding1D, ZeroPadding1DLayer};

/// Applies a generic array function to a `Value` of any dtype.
macro_rules! per_dtype_impl {
    ($value:expr, $f:ident $(, $arg:expr)*) => {
        match $value {
            Value::F32(a) => Value::F32($f(a $(, $arg)*)?),
            Value::I32(a) => Value::I32($f(a $(, $arg)*)?),
            Value::Bool(a) => Value::Bool($f(a $(, $arg)*)?),
            Value::Str(a) => Value::Str($f(a $(, $arg)*)?),
        }
    };
}

pub(crate) use per_dtype_impl as per_dtype;

/// The backward of a layer that only moves data: `grad(self, x, gy)` maps the
/// output's gradient back to the input's shape. Integer and bool inputs get
/// no gradient.
macro_rules! moves_data_backward {
    (|$this:ident, $x:ident, $gy:ident| $body:expr) => {
        fn has_backward(&self) -> bool {
            true
        }

        fn backward(
            &self,
            call: &tensorweave_core::BackwardCall<'_>,
        ) -> tensorweave_core::Result<tensorweave_core::LayerGrads> {
            let $this = self;
            let grad = match (call.value_grad(0)?, call.inputs.value(0)?) {
                (Some($gy), tensorweave_core::Value::F32($x)) => Some($body?),
                _ => None,
            };
            Ok(tensorweave_core::LayerGrads::inputs(vec![grad]))
        }
    };
}

pub(crate) use moves_data_backward;

/// The inverse of a permutation of axes.
fn inverse(axes: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; axes.len()];
    for (i, &a) in axes.iter().enumerate() {
        if let Some(slot) = inv.get_mut(a) {
            *slot = i;
        }
    }
    inv
}

/// The one input value.
fn single<'a>(inputs: &Inputs<'a>) -> Result<&'a Value> {
    inputs.value(0)
}

/// Reshapes an array to `shape` (row-major), or explains the mismatch.
fn reshape_to<T: Clone>(a: &ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>> {
    let size: usize = shape.iter().product();
    if size != a.len() {
        return Err(Error::invalid(format!(
            "cannot reshape an array of shape {} ({} elements) to {} ({size} elements)",
            format_dims(a.shape()),
            a.len(),
            format_dims(shape)
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
            "expects inputs of rank {}, got shape {}",
            axes.len(),
            format_dims(a.shape())
        )));
    }
    Ok(a.view()
        .permuted_axes(axes)
        .as_standard_layout()
        .into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use ndarray::{array, ArrayD};
    use tensorweave_core::BuildContext;
    use tensorweave_core::DType;

    fn spec(shape: &[Option<usize>]) -> TensorSpec {
        TensorSpec::f32(shape.to_vec())
    }

    /// Builds the layer on the value's concrete shape, checks the inferred spec
    /// against the result, and runs it.
    fn run(layer: impl IntoLayer, x: Value) -> Result<Value> {
        let layer = layer.into_layer();
        let mut guard = layer.write();
        let input = TensorSpec::new(tensorweave_core::Shape::known(x.shape()), x.dtype());
        guard.build(std::slice::from_ref(&input), &mut BuildContext::new())?;
        let out_spec = guard.output_specs(&[input])?;
        let y = guard.call(&Inputs::new(vec![&x], vec![None]), &CallContext::default())?;
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
        guard.build(&[spec(shape)], &mut BuildContext::new())?;
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
        assert!(guard
            .call(&Inputs::new(vec![&x], vec![None]), &CallContext::default())
            .is_err());
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
            .call(&Inputs::new(vec![&x], vec![None]), &CallContext::default())
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
