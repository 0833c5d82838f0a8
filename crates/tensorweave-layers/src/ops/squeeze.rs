//! `Squeeze` (Keras' `ops.squeeze`): removes axes of size 1.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    format_shape, BackwardCall, CallContext, Error, Inputs, Layer, LayerGrads, Result, TensorSpec,
    Value,
};

use super::operands::{config_axes, resolve_axes};
use super::reshape_op::reshape_value;
use super::{op_basics, op_into_layer};
use crate::registry::OpClass;

/// Removes axes of size 1 (Keras' `ops.squeeze`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SqueezeOp {
    /// The axes to remove (`None`: every axis of size 1).
    pub axis: Option<Vec<i64>>,
    #[serde(skip)]
    name: Option<String>,
}

impl SqueezeOp {
    /// Removes `axis` (`None`: every axis of size 1).
    pub fn new(axis: Option<Vec<i64>>) -> Self {
        SqueezeOp { axis, name: None }
    }

    /// The axes removed from a tensor of shape `shape`.
    fn removed(&self, shape: &[Option<usize>]) -> Result<Vec<usize>> {
        match &self.axis {
            None => Ok((0..shape.len()).filter(|&i| shape[i] == Some(1)).collect()),
            Some(axes) => {
                let axes = resolve_axes(axes, shape.len())?;
                for &a in &axes {
                    if shape[a].is_some_and(|d| d != 1) {
                        return Err(Error::invalid(format!(
                            "cannot squeeze axis {a} of shape {}: its size is not 1",
                            format_shape(shape)
                        )));
                    }
                }
                Ok(axes)
            }
        }
    }
}

op_into_layer!(SqueezeOp);

impl OpClass for SqueezeOp {
    const CLASS_NAME: &'static str = "Squeeze";

    fn read(config: &Json) -> Result<Self> {
        Ok(SqueezeOp::new(config_axes(
            Self::CLASS_NAME,
            config,
            "axis",
        )?))
    }
}

impl Layer for SqueezeOp {
    op_basics!();

    fn config(&self) -> Json {
        match &self.axis {
            Some(a) if a.len() == 1 => json!({ "axis": a[0] }),
            other => json!({ "axis": other }),
        }
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let [x] = inputs else {
            return Err(Error::invalid(format!(
                "expects 1 input tensor, got {}",
                inputs.len()
            )));
        };
        let removed = self.removed(&x.shape)?;
        let shape: Vec<Option<usize>> = (0..x.rank())
            .filter(|i| !removed.contains(i))
            .map(|i| x.shape[i])
            .collect();
        Ok(vec![TensorSpec::new(shape, x.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.one()?;
        let dims: Vec<Option<usize>> = x.shape().iter().map(|&d| Some(d)).collect();
        let removed = self.removed(&dims)?;
        let shape: Vec<usize> = (0..dims.len())
            .filter(|i| !removed.contains(i))
            .map(|i| x.shape()[i])
            .collect();
        Ok(vec![reshape_value(x, &shape)?])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let x = call.inputs.value(0)?;
        let grad = match (call.value_grad(0)?, x) {
            (Some(g), Value::F32(a)) => Some(
                g.as_standard_layout()
                    .into_owned()
                    .into_shape_with_order(a.raw_dim())
                    .map_err(|e| Error::invalid(format!("internal: gradient shape: {e}")))?,
            ),
            _ => None,
        };
        Ok(LayerGrads::inputs(vec![grad]))
    }
}
