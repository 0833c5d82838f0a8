//! `LogicalOr`: element-wise logical or (Keras' `ops.logical_or`).

use std::any::Any as StdAny;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    CallContext, DType, Error, Layer, LayerRef, LayerRegistry, Result, TensorSpec, Value,
};

use super::{broadcast_symbolic, named, op_into_layer, op_name, to_bool, NUMPY};
use crate::array_ops::zip2;
use crate::registry::OpClass;

/// Element-wise logical or of two tensors, broadcasting (Keras' `ops.logical_or`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogicalOr {
    #[serde(skip)]
    name: Option<String>,
}

impl LogicalOr {
    /// The op.
    pub fn new() -> Self {
        Self::default()
    }

    /// Names the op (default `logical_or`, `logical_or_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

op_into_layer!(LogicalOr);

impl OpClass for LogicalOr {
    const CLASS_NAME: &'static str = "LogicalOr";
    const MODULE: &'static str = NUMPY;

    fn from_config(config: &Json, _: &LayerRegistry) -> Result<LayerRef> {
        let name = op_name("LogicalOr", config)?;
        Ok(named(LogicalOr::new(), name))
    }
}

impl Layer for LogicalOr {
    fn is_op(&self) -> bool {
        true
    }
    fn class_name(&self) -> &str {
        <Self as OpClass>::CLASS_NAME
    }

    fn config(&self) -> serde_json::Value {
        json!({})
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let [a, b] = inputs else {
            return Err(Error::invalid(format!(
                "expects 2 input tensors, got {}",
                inputs.len()
            )));
        };
        let shape = broadcast_symbolic(&a.shape, &b.shape)?;
        Ok(vec![TensorSpec::new(shape, DType::Bool)])
    }

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let [a, b] = inputs else {
            return Err(Error::invalid(format!(
                "expects 2 input arrays, got {}",
                inputs.len()
            )));
        };
        let (a, b) = (to_bool(a), to_bool(b));
        Ok(vec![Value::Bool(zip2(a.view(), b.view(), |p, q| p || q)?)])
    }

    fn as_any(&self) -> &dyn StdAny {
        self
    }
}
