//! `LogicalOr`: element-wise logical or (Keras' `ops.logical_or`).

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{CallContext, DType, Error, Layer, Result, TensorSpec, Value};

use super::{broadcast_symbolic, op_basics, op_into_layer, to_bool};
use crate::array_ops::zip2;
use crate::registry::OpClass;
use tensorweave_core::Inputs;

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
}

op_into_layer!(LogicalOr);

impl OpClass for LogicalOr {
    const CLASS_NAME: &'static str = "LogicalOr";

    fn read(_config: &Json) -> Result<Self> {
        Ok(LogicalOr::new())
    }
}

impl Layer for LogicalOr {
    crate::ops::no_gradient!();

    op_basics!();

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

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let [a, b] = inputs.values() else {
            return Err(Error::invalid(format!(
                "expects 2 input arrays, got {}",
                inputs.len()
            )));
        };
        let (a, b) = (to_bool(a), to_bool(b));
        Ok(vec![Value::Bool(zip2(a.view(), b.view(), |p, q| p || q)?)])
    }
}
