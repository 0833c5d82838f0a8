//! `Any`: logical "any" over one axis (Keras' `ops.any`).

use ndarray::Axis;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{CallContext, DType, Error, Layer, Result, TensorSpec, Value};

use super::{op_basics, op_int, op_into_layer};
use crate::registry::OpClass;
use crate::util::expect_inputs;
use tensorweave_core::Inputs;

/// Logical "any" over one axis of a bool tensor (Keras' `ops.any`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnyOp {
    /// The reduced axis; negative counts from the end.
    pub axis: i64,
    /// Whether to keep the reduced axis with size 1.
    pub keepdims: bool,
    #[serde(skip)]
    name: Option<String>,
}

impl AnyOp {
    /// Reduces `axis` (negative counts from the end).
    pub fn new(axis: i64) -> Self {
        AnyOp {
            axis,
            keepdims: false,
            name: None,
        }
    }

    fn resolve_axis(&self, rank: usize) -> Result<usize> {
        let a = if self.axis < 0 {
            rank as i64 + self.axis
        } else {
            self.axis
        };
        if a < 0 || a as usize >= rank {
            return Err(Error::invalid(format!(
                "axis {} is out of range for rank {rank}",
                self.axis
            )));
        }
        Ok(a as usize)
    }
}

op_into_layer!(AnyOp);

impl OpClass for AnyOp {
    const CLASS_NAME: &'static str = "Any";

    fn read(config: &Json) -> Result<Self> {
        let mut op = AnyOp::new(op_int(Self::CLASS_NAME, config, "axis", None)?);
        op.keepdims = config
            .get("keepdims")
            .and_then(Json::as_bool)
            .unwrap_or(false);
        Ok(op)
    }
}

impl Layer for AnyOp {
    crate::ops::no_gradient!();

    op_basics!();

    fn config(&self) -> serde_json::Value {
        json!({ "axis": self.axis, "keepdims": self.keepdims })
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let axis = self.resolve_axis(inputs[0].rank())?;
        let mut shape = inputs[0].shape.clone();
        if self.keepdims {
            shape[axis] = Some(1);
        } else {
            shape.remove(axis);
        }
        Ok(vec![TensorSpec::new(shape, DType::Bool)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.value(0)?.as_bool()?;
        let axis = self.resolve_axis(x.ndim())?;
        let mut out = x.map_axis(Axis(axis), |lane| lane.iter().any(|&b| b));
        if self.keepdims {
            out.insert_axis_inplace(Axis(axis));
        }
        Ok(vec![Value::Bool(out)])
    }
}
