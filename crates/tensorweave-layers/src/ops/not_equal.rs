//! `NotEqual`: element-wise `x != value` (Keras' `ops.not_equal`).

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::registry::brief;
use tensorweave_core::{CallContext, DType, Error, Layer, Result, TensorSpec, Value};

use super::{op_basics, op_into_layer};
use crate::registry::OpClass;
use crate::util::expect_inputs;
use tensorweave_core::Inputs;

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
}

op_into_layer!(NotEqual);

impl OpClass for NotEqual {
    const CLASS_NAME: &'static str = "NotEqual";

    fn read(config: &Json) -> Result<Self> {
        let value = match config.get("value") {
            None | Some(Json::Null) => 0.0,
            Some(v) => v.as_f64().ok_or_else(|| {
                Error::layer(
                    config.get("name").and_then(Json::as_str).unwrap_or("?"),
                    Self::CLASS_NAME,
                    format!("compares with {}, but only a number is supported", brief(v)),
                )
            })?,
        };
        Ok(NotEqual::new(value))
    }
}

impl Layer for NotEqual {
    crate::ops::no_gradient!();

    op_basics!();

    fn config(&self) -> serde_json::Value {
        json!({})
    }

    fn time_role(&self) -> tensorweave_core::TimeRole {
        // With one operand: `x != 0` is false exactly at zeros; with two, it
        // is false where both are zero.
        if self.value == 0.0 {
            tensorweave_core::TimeRole::FalseAtZero
        } else {
            tensorweave_core::TimeRole::PerElement
        }
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        super::numeric(inputs)?;
        if let [a, b] = inputs {
            // `ops.not_equal(a, b)` on two tensors, broadcasting.
            let shape = super::broadcast_symbolic(&a.shape, &b.shape)?;
            return Ok(vec![TensorSpec::new(shape, DType::Bool)]);
        }
        expect_inputs(inputs, 1)?;
        Ok(vec![TensorSpec::new(inputs[0].shape.clone(), DType::Bool)])
    }

    fn call(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Vec<Value>> {
        if let [a, b] = inputs.values() {
            let float = a.dtype() == DType::F32 || b.dtype() == DType::F32;
            let out = if float {
                crate::array_ops::zip2(a.to_f32().view(), b.to_f32().view(), |p, q| p != q)?
            } else {
                let (p, q) = (a.to_f32().mapv(f64::from), b.to_f32().mapv(f64::from));
                crate::array_ops::zip2(p.view(), q.view(), |p, q| p != q)?
            };
            return Ok(vec![Value::Bool(out)]);
        }
        // The mask of an `Embedding(mask_zero=True)`: one value per token,
        // written into a buffer of the run's pool (last call's mask).
        let v = self.value;
        let x = inputs.value(0)?;
        let mut out = ctx.bools_with_capacity(x.shape().iter().product());
        match x {
            // Keras compares in the input's dtype: float32 for float data.
            Value::F32(a) => out.extend(a.iter().map(|&x| x != v as f32)),
            Value::I32(a) => out.extend(a.iter().map(|&x| x as f64 != v)),
            Value::Bool(a) => out.extend(a.iter().map(|&x| (x as u8 as f64) != v)),
            Value::Str(_) => return Err(Error::invalid("does not take string data")),
        }
        let out = ArrayD::from_shape_vec(IxDyn(x.shape()), out)
            .map_err(|e| Error::invalid(format!("internal: mask shape: {e}")))?;
        Ok(vec![Value::Bool(out)])
    }
}
