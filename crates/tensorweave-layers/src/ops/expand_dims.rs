//! `ExpandDims`: inserts an axis of size 1 (Keras' `ops.expand_dims`).

use ndarray::Axis;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    BackwardCall, CallContext, Error, Layer, LayerGrads, Result, TensorSpec, Value,
};

use super::{op_basics, op_int, op_into_layer};
use crate::array_ops::resolve_axis;
use crate::registry::OpClass;
use tensorweave_core::Inputs;

/// Inserts an axis of size 1 (Keras' `ops.expand_dims`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExpandDims {
    /// Where the new axis goes in the output; negative counts from the end.
    pub axis: i64,
    #[serde(skip)]
    name: Option<String>,
}

impl ExpandDims {
    /// Inserts an axis at `axis` of the output (-1: a new last axis).
    pub fn new(axis: i64) -> Self {
        ExpandDims { axis, name: None }
    }

    fn out_axis(&self, in_rank: usize) -> Result<usize> {
        resolve_axis(self.axis, in_rank + 1).ok_or_else(|| {
            Error::invalid(format!(
                "axis {} is out of range for an input of rank {in_rank}",
                self.axis
            ))
        })
    }
}

op_into_layer!(ExpandDims);

impl OpClass for ExpandDims {
    const CLASS_NAME: &'static str = "ExpandDims";

    fn read(config: &Json) -> Result<Self> {
        let axis = op_int(Self::CLASS_NAME, config, "axis", None)?;
        Ok(ExpandDims::new(axis))
    }
}

impl Layer for ExpandDims {
    op_basics!();

    fn config(&self) -> serde_json::Value {
        json!({ "axis": self.axis })
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let [x] = inputs else {
            return Err(Error::invalid(format!(
                "expects 1 input tensor, got {}",
                inputs.len()
            )));
        };
        let mut shape = x.shape.clone();
        shape.insert(self.out_axis(x.rank())?, Some(1));
        Ok(vec![TensorSpec::new(shape, x.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let [x] = inputs.values() else {
            return Err(Error::invalid("expects 1 input array"));
        };
        let axis = Axis(self.out_axis(x.shape().len())?);
        Ok(vec![match x {
            Value::F32(a) => Value::F32(a.clone().insert_axis(axis)),
            Value::I32(a) => Value::I32(a.clone().insert_axis(axis)),
            Value::Bool(a) => Value::Bool(a.clone().insert_axis(axis)),
            Value::Str(a) => Value::Str(a.clone().insert_axis(axis)),
        }])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// The gradient without the inserted axis (none for integer or bool inputs).
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let grad = match (call.value_grad(0)?, call.inputs.value(0)?) {
            (Some(gy), Value::F32(x)) => {
                let axis = Axis(self.out_axis(x.ndim())?);
                Some(gy.index_axis(axis, 0).to_owned())
            }
            _ => None,
        };
        Ok(LayerGrads::inputs(vec![grad]))
    }
}
