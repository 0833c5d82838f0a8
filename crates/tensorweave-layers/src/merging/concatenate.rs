//! `Concatenate` (Keras' `layers.Concatenate`): joins its inputs along an axis;
//! its output mask is recorded with the ops Keras uses (`OnesLike`,
//! `ExpandDims`, `ZerosLike`, `LogicalOr`, `Concatenate`, `Any`).

use ndarray::ArrayViewD;
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    format_shape, BackwardCall, CallContext, DType, Error, IntoLayer, Layer, LayerGrads, MaskCall,
    Result, Tensor, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use super::{expect_float_inputs, list_shapes};
use crate::array_ops::{concat, resolve_axis};
use crate::class::Common;
use crate::class_and_config;
use crate::ops::{AnyOp, ConcatenateOp, ExpandDims, LogicalOr, OnesLike, ZerosLike};
use tensorweave_core::Inputs;

/// Builder and configuration of a `Concatenate` layer (Keras'
/// `layers.Concatenate`): joins its inputs along `axis` (default -1, the last).
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let a = Input::new([5, 3]).build();
/// let b = Input::new([2, 3]).build();
/// let y = Concatenate::new().axis(1).call_many(&[&a, &b]).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(7), Some(3)]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(ConcatenateLayer, class = "Concatenate")]
pub struct Concatenate {
    /// The axis to join along; negative counts from the end (default -1).
    #[config(default = -1)]
    pub axis: i64,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Concatenate {
    /// Concatenation along the last axis.
    pub fn new() -> Self {
        Self::default()
    }
}

/// The `Concatenate` layer itself.
#[derive(Debug, Clone, Default)]
pub struct ConcatenateLayer {
    config: Concatenate,
}

impl ConcatenateLayer {
    /// The configuration.
    pub fn config(&self) -> &Concatenate {
        &self.config
    }
}

impl Layer for ConcatenateLayer {
    class_and_config!();

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let all = list_shapes(inputs);
        if inputs.is_empty() {
            return Err(Error::invalid(
                "a `Concatenate` layer must be called on a list of at least 1 input, got 0",
            ));
        }
        expect_float_inputs(inputs)?;
        let axis = self.config.axis;
        let mut axes = Vec::with_capacity(inputs.len());
        for (i, s) in inputs.iter().enumerate() {
            axes.push(resolve_axis(axis, s.rank()).ok_or_else(|| {
                Error::invalid(format!(
                    "axis {axis} is out of range for input {i} of shape {} (all input shapes: {all})",
                    format_shape(&s.shape)
                ))
            })?);
        }
        // Keras' build: the shapes without the concatenation axis must agree
        // where known.
        let mismatch = || {
            Error::invalid(format!(
                "a `Concatenate` layer requires inputs with matching shapes except for the \
                 concatenation axis {axis}; got {all}"
            ))
        };
        let rank = inputs[0].rank();
        if inputs.iter().any(|s| s.rank() != rank) {
            return Err(mismatch());
        }
        let concat_axis = axes[0];
        for d in (0..rank).filter(|&d| d != concat_axis) {
            let mut known = inputs.iter().filter_map(|s| s.shape[d]);
            if let Some(first) = known.next() {
                if known.any(|k| k != first) {
                    return Err(mismatch());
                }
            }
        }
        // Keras' compute_output_shape: the first input's shape, with the sizes
        // along the axis added up (unknown if any is unknown).
        let mut shape = inputs[0].shape.clone();
        let mut total = Some(0usize);
        for s in inputs {
            total = match (total, s.shape[concat_axis]) {
                (Some(t), Some(d)) => Some(t.checked_add(d).ok_or_else(|| {
                    Error::invalid(format!(
                        "the sizes along the concatenation axis overflow: {}",
                        list_shapes(inputs)
                    ))
                })?),
                _ => None,
            };
        }
        shape[concat_axis] = total;
        Ok(vec![TensorSpec::f32(shape)])
    }

    fn compute_mask(&self, call: &MaskCall<'_>) -> Result<Vec<Option<Tensor>>> {
        let (inputs, masks, n_outputs) = (call.inputs, call.masks, call.n_outputs);
        if masks.iter().all(Option::is_none) {
            return Ok(vec![None; n_outputs]);
        }
        let mut full = Vec::with_capacity(inputs.len());
        for (input, mask) in inputs.iter().zip(masks) {
            full.push(match mask {
                None => OnesLike::new(DType::Bool).call(input)?,
                Some(m) if m.shape().len() < input.shape().len() => {
                    let expanded = ExpandDims::new(-1).call(m)?;
                    let zeros = ZerosLike::new(DType::Bool).call(input)?;
                    LogicalOr::new().call_many(&[&expanded, &zeros])?
                }
                Some(m) => m.clone(),
            });
        }
        let refs: Vec<&Tensor> = full.iter().collect();
        let joined = ConcatenateOp::new(self.config.axis).call_many(&refs)?;
        let any = AnyOp::new(-1).call(&joined)?;
        Ok(vec![Some(any); n_outputs])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let xs = inputs
            .values()
            .iter()
            .map(|v| v.as_f32())
            .collect::<Result<Vec<_>>>()?;
        let views: Vec<ArrayViewD<'_, f32>> = xs.iter().map(|x| x.view()).collect();
        Ok(vec![Value::F32(concat(&views, self.config.axis)?)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// Each input gets its slice of the gradient along the concatenation axis.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let grads = match call.value_grad(0)? {
            Some(gy) => crate::array_ops::split_along(gy, self.config.axis, call.inputs.values())?,
            None => vec![None; call.inputs.len()],
        };
        Ok(LayerGrads::inputs(grads))
    }
}
