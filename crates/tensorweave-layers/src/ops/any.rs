//! `Any`: logical "any" over one axis (Keras' `ops.any`).

use std::any::Any as StdAny;

use ndarray::Axis;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    CallContext, DType, Error, Layer, LayerRef, LayerRegistry, Result, TensorSpec, Value,
};

use super::{named, op_int, op_into_layer, op_name, NUMPY};
use crate::registry::OpClass;
use crate::util::expect_inputs;

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

    /// Names the op (default `any`, `any_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
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
    const MODULE: &'static str = NUMPY;

    fn from_config(config: &Json, _: &LayerRegistry) -> Result<LayerRef> {
        let name = op_name("Any", config)?;
        let mut op = AnyOp::new(op_int("Any", config, "axis", None)?);
        op.keepdims = config
            .get("keepdims")
            .and_then(Json::as_bool)
            .unwrap_or(false);
        Ok(named(op, name))
    }
}

impl Layer for AnyOp {
    fn is_op(&self) -> bool {
        true
    }
    fn class_name(&self) -> &str {
        <Self as OpClass>::CLASS_NAME
    }

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

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let x = inputs[0].as_bool()?;
        let axis = self.resolve_axis(x.ndim())?;
        let mut out = x.map_axis(Axis(axis), |lane| lane.iter().any(|&b| b));
        if self.keepdims {
            out.insert_axis_inplace(Axis(axis));
        }
        Ok(vec![Value::Bool(out)])
    }

    fn as_any(&self) -> &dyn StdAny {
        self
    }
}
