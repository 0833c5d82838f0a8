//! Weightless ops that Keras records in a graph as nodes of their own, mostly to
//! compute masks: `NotEqual` (made by `Embedding(mask_zero)` and `Masking`) and
//! `Any` (made by `Masking`).

use std::any::Any as StdAny;

use ndarray::{ArrayD, Axis};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tensorweave_core::{
    auto_name, CallContext, DType, Error, IntoLayer, Layer, LayerRef, Result, TensorSpec, Value,
};

use crate::util::expect_inputs;

/// Element-wise `x != value`, giving a bool tensor (Keras' `ops.not_equal`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotEqual {
    /// The value compared against (0 for padding ids).
    pub value: f64,
    #[serde(skip)]
    name: Option<String>,
}

impl NotEqual {
    /// Compares against `value`.
    pub fn new(value: f64) -> Self {
        NotEqual { value, name: None }
    }

    /// Names the op (default `not_equal`, `not_equal_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl IntoLayer for NotEqual {
    fn into_layer(self) -> LayerRef {
        let name = self.name.clone().unwrap_or_else(|| auto_name("NotEqual"));
        let layer = LayerRef::new(name, self);
        layer.mark_built();
        layer
    }
}

impl Layer for NotEqual {
    fn is_op(&self) -> bool {
        true
    }
    fn class_name(&self) -> &str {
        "NotEqual"
    }

    fn config(&self) -> serde_json::Value {
        json!({})
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        Ok(vec![TensorSpec::new(inputs[0].shape.clone(), DType::Bool)])
    }

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let v = self.value;
        let out: ArrayD<bool> = match inputs[0] {
            // Keras compares in the input's dtype: float32 for float data.
            Value::F32(a) => a.mapv(|x| x != v as f32),
            Value::I32(a) => a.mapv(|x| x as f64 != v),
            Value::Bool(a) => a.mapv(|x| (x as u8 as f64) != v),
        };
        Ok(vec![Value::Bool(out)])
    }

    fn as_any(&self) -> &dyn StdAny {
        self
    }
}

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

impl IntoLayer for AnyOp {
    fn into_layer(self) -> LayerRef {
        let name = self.name.clone().unwrap_or_else(|| auto_name("Any"));
        let layer = LayerRef::new(name, self);
        layer.mark_built();
        layer
    }
}

impl Layer for AnyOp {
    fn is_op(&self) -> bool {
        true
    }
    fn class_name(&self) -> &str {
        "Any"
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
