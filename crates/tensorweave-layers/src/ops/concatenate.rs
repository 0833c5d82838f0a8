//! `Concatenate` as an op (Keras' `ops.concatenate`).

use std::any::Any as StdAny;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    format_shape, CallContext, DType, Error, Layer, LayerRef, LayerRegistry, Result, TensorSpec,
    Value,
};

use super::{named, op_int, op_into_layer, op_name, NUMPY};
use crate::array_ops::{concat, resolve_axis};
use crate::registry::OpClass;

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

    /// Names the op (default `concatenate`, `concatenate_1`, …, the same
    /// counter as the `Concatenate` layer, as in Keras).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

op_into_layer!(ConcatenateOp);

impl OpClass for ConcatenateOp {
    const CLASS_NAME: &'static str = "Concatenate";
    const MODULE: &'static str = NUMPY;

    fn from_config(config: &Json, _: &LayerRegistry) -> Result<LayerRef> {
        let name = op_name("Concatenate", config)?;
        let axis = op_int("Concatenate", config, "axis", Some(0))?;
        Ok(named(ConcatenateOp::new(axis), name))
    }
}

impl Layer for ConcatenateOp {
    fn is_op(&self) -> bool {
        true
    }
    fn class_name(&self) -> &str {
        <Self as OpClass>::CLASS_NAME
    }

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

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let dtype = inputs
            .first()
            .map(|v| v.dtype())
            .ok_or_else(|| Error::invalid("expects at least 1 input array"))?;
        Ok(vec![match dtype {
            DType::F32 => {
                let xs = inputs
                    .iter()
                    .map(|v| v.as_f32())
                    .collect::<Result<Vec<_>>>()?;
                let views: Vec<_> = xs.iter().map(|x| x.view()).collect();
                Value::F32(concat(&views, self.axis)?)
            }
            DType::I32 => {
                let xs = inputs
                    .iter()
                    .map(|v| v.as_i32())
                    .collect::<Result<Vec<_>>>()?;
                let views: Vec<_> = xs.iter().map(|x| x.view()).collect();
                Value::I32(concat(&views, self.axis)?)
            }
            DType::Bool => {
                let xs = inputs
                    .iter()
                    .map(|v| v.as_bool())
                    .collect::<Result<Vec<_>>>()?;
                let views: Vec<_> = xs.iter().map(|x| x.view()).collect();
                Value::Bool(concat(&views, self.axis)?)
            }
        }])
    }

    fn as_any(&self) -> &dyn StdAny {
        self
    }
}
