//! `Stack` (Keras' `ops.stack`): tensors of one shape joined along a new
//! axis.

use ndarray::Axis;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    format_shape, BackwardCall, CallContext, Error, Inputs, Layer, LayerGrads, Result, TensorSpec,
    Value,
};

use super::{op_basics, op_int, op_into_layer};
use crate::array_ops::resolve_axis;
use crate::registry::OpClass;

/// Joins tensors of one shape along a new axis (Keras' `ops.stack`), called
/// on a list (`call_many`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StackOp {
    /// Where the new axis goes in the output; negative counts from the end.
    pub axis: i64,
    #[serde(skip)]
    name: Option<String>,
}

impl StackOp {
    /// Stacks along a new axis `axis` of the output.
    pub fn new(axis: i64) -> Self {
        StackOp { axis, name: None }
    }

    fn resolved(&self, rank: usize) -> Result<usize> {
        resolve_axis(self.axis, rank + 1).ok_or_else(|| {
            Error::invalid(format!(
                "axis {} is out of range for inputs of rank {rank}",
                self.axis
            ))
        })
    }
}

op_into_layer!(StackOp);

impl OpClass for StackOp {
    const CLASS_NAME: &'static str = "Stack";

    fn read(config: &Json) -> Result<Self> {
        Ok(StackOp::new(op_int(
            Self::CLASS_NAME,
            config,
            "axis",
            Some(0),
        )?))
    }
}

impl Layer for StackOp {
    op_basics!();

    fn config(&self) -> Json {
        json!({ "axis": self.axis })
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let first = inputs
            .first()
            .ok_or_else(|| Error::invalid("expects at least 1 input tensor, got 0"))?;
        for s in inputs {
            let fits = s.rank() == first.rank()
                && s.dtype == first.dtype
                && s.shape
                    .iter()
                    .zip(first.shape.iter())
                    .all(|(a, b)| a.is_none() || b.is_none() || a == b);
            if !fits {
                return Err(Error::invalid(format!(
                    "stacks tensors of one shape and dtype, got {} and {}",
                    format_shape(&first.shape),
                    format_shape(&s.shape)
                )));
            }
        }
        let axis = self.resolved(first.rank())?;
        let mut shape = first.shape.clone();
        shape.insert(axis, Some(inputs.len()));
        Ok(vec![TensorSpec::new(shape, first.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let values = inputs.values();
        let first = values
            .first()
            .ok_or_else(|| Error::invalid("expects at least 1 input array"))?;
        let axis = Axis(self.resolved(first.shape().len())?);
        let err = |e: ndarray::ShapeError| Error::invalid(format!("cannot stack: {e}"));
        macro_rules! stack {
            ($variant:ident, $get:ident) => {{
                let views = values
                    .iter()
                    .map(|v| v.$get().map(|a| a.view()))
                    .collect::<Result<Vec<_>>>()?;
                Value::$variant(ndarray::stack(axis, &views).map_err(err)?)
            }};
        }
        Ok(vec![match first {
            Value::F32(_) => stack!(F32, as_f32),
            Value::I32(_) => stack!(I32, as_i32),
            Value::Bool(_) => stack!(Bool, as_bool),
            Value::Str(_) => stack!(Str, as_str),
        }])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let n = call.inputs.len();
        let Some(g) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None; n]));
        };
        let axis = Axis(self.resolved(g.ndim().saturating_sub(1))?);
        let grads = call
            .inputs
            .values()
            .iter()
            .enumerate()
            .map(|(k, v)| {
                (v.dtype() == tensorweave_core::DType::F32)
                    .then(|| g.index_axis(axis, k).to_owned())
            })
            .collect();
        Ok(LayerGrads::inputs(grads))
    }
}
