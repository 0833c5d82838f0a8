//! `Concatenate` as an op (Keras' `ops.concatenate`).

use ndarray::ArrayD;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    format_shape, BackwardCall, CallContext, DType, Error, Layer, LayerGrads, Result, TensorSpec,
    Value,
};

use super::{op_basics, op_int, op_into_layer};
use crate::array_ops::{concat, resolve_axis};
use crate::registry::OpClass;
use tensorweave_core::Inputs;

/// Joins tensors along an axis (Keras' `ops.concatenate`, an op, unlike the
/// `Concatenate` layer; both have the Keras class name `Concatenate`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConcatenateOp {
    /// The axis to join along; negative counts from the end.
    pub axis: i64,
    #[serde(skip)]
    name: Option<String>,
}

impl ConcatenateOp {
    /// Joins along `axis`.
    pub fn new(axis: i64) -> Self {
        ConcatenateOp { axis, name: None }
    }
}

op_into_layer!(ConcatenateOp);

impl OpClass for ConcatenateOp {
    const CLASS_NAME: &'static str = "Concatenate";

    fn read(config: &Json) -> Result<Self> {
        let axis = op_int(Self::CLASS_NAME, config, "axis", Some(0))?;
        Ok(ConcatenateOp::new(axis))
    }
}

impl Layer for ConcatenateOp {
    op_basics!();

    fn config(&self) -> serde_json::Value {
        json!({ "axis": self.axis })
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let first = inputs
            .first()
            .ok_or_else(|| Error::invalid("expects at least 1 input tensor, got 0"))?;
        let axis = resolve_axis(self.axis, first.rank()).ok_or_else(|| {
            Error::invalid(format!(
                "axis {} is out of range for shape {}",
                self.axis,
                format_shape(&first.shape)
            ))
        })?;
        for x in inputs {
            let fits = x.rank() == first.rank()
                && x.dtype == first.dtype
                && x.shape
                    .iter()
                    .zip(&first.shape)
                    .enumerate()
                    .all(|(d, (p, q))| d == axis || p.is_none() || q.is_none() || p == q);
            if !fits {
                return Err(Error::invalid(format!(
                    "every input must have the same dtype and shape except on axis {}; \
                     got {} {} and {} {}",
                    self.axis,
                    format_shape(&first.shape),
                    first.dtype,
                    format_shape(&x.shape),
                    x.dtype
                )));
            }
        }
        let mut shape = first.shape.clone();
        shape[axis] = inputs.iter().map(|s| s.shape[axis]).sum::<Option<usize>>();
        Ok(vec![TensorSpec::new(shape, first.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let dtype = inputs
            .values()
            .first()
            .map(|v| v.dtype())
            .ok_or_else(|| Error::invalid("expects at least 1 input array"))?;
        Ok(vec![match dtype {
            DType::F32 => Value::F32(join(inputs, Value::as_f32, self.axis)?),
            DType::I32 => Value::I32(join(inputs, Value::as_i32, self.axis)?),
            DType::Bool => Value::Bool(join(inputs, Value::as_bool, self.axis)?),
            DType::String => Value::Str(join(inputs, Value::as_str, self.axis)?),
        }])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let grads = match call.value_grad(0)? {
            Some(gy) => crate::array_ops::split_along(gy, self.axis, call.inputs.values())?,
            None => vec![None; call.inputs.len()],
        };
        Ok(LayerGrads::inputs(grads))
    }
}

/// The inputs, all of one element type, concatenated along `axis`.
fn join<'a, T: Clone + 'a>(
    inputs: &Inputs<'a>,
    get: fn(&'a Value) -> Result<&'a ArrayD<T>>,
    axis: i64,
) -> Result<ArrayD<T>> {
    let xs = inputs
        .values()
        .iter()
        .map(|v| get(v))
        .collect::<Result<Vec<_>>>()?;
    let views: Vec<_> = xs.iter().map(|x| x.view()).collect();
    concat(&views, axis)
}
