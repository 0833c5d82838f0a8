//! `Transpose` (Keras' `ops.transpose`): permutes the axes, the batch axis
//! included; without `axes`, reverses them.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    BackwardCall, CallContext, Error, Inputs, Layer, LayerGrads, Result, TensorSpec, Value,
};

use super::operands::config_axes;
use super::{op_basics, op_into_layer};
use crate::registry::OpClass;

/// Permutes the axes of a tensor (Keras' `ops.transpose`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransposeOp {
    /// The input axis of each output axis (`None`: reversed).
    pub axes: Option<Vec<i64>>,
    #[serde(skip)]
    name: Option<String>,
}

impl TransposeOp {
    /// Output axis `i` is input axis `axes[i]` (`None`: all axes reversed).
    pub fn new(axes: Option<Vec<i64>>) -> Self {
        TransposeOp { axes, name: None }
    }

    fn permutation(&self, rank: usize) -> Result<Vec<usize>> {
        let perm: Vec<usize> = match &self.axes {
            None => (0..rank).rev().collect(),
            Some(axes) => axes
                .iter()
                .map(|&a| {
                    crate::array_ops::resolve_axis(a, rank).ok_or_else(|| {
                        Error::invalid(format!("axis {a} is out of range for rank {rank}"))
                    })
                })
                .collect::<Result<_>>()?,
        };
        let mut seen = perm.clone();
        seen.sort_unstable();
        if seen != (0..rank).collect::<Vec<_>>() {
            return Err(Error::invalid(format!(
                "axes {:?} are not a permutation of the {rank} axes",
                self.axes
            )));
        }
        Ok(perm)
    }
}

op_into_layer!(TransposeOp);

impl OpClass for TransposeOp {
    const CLASS_NAME: &'static str = "Transpose";

    fn read(config: &Json) -> Result<Self> {
        Ok(TransposeOp::new(config_axes(
            Self::CLASS_NAME,
            config,
            "axes",
        )?))
    }
}

/// Any value with its axes permuted (a standard-layout copy).
pub(crate) fn permute_value(x: &Value, perm: &[usize]) -> Value {
    let p = ndarray::IxDyn(perm);
    match x {
        Value::F32(a) => Value::F32(a.view().permuted_axes(p).as_standard_layout().into_owned()),
        Value::I32(a) => Value::I32(a.view().permuted_axes(p).as_standard_layout().into_owned()),
        Value::Bool(a) => Value::Bool(a.view().permuted_axes(p).as_standard_layout().into_owned()),
        Value::Str(a) => Value::Str(a.view().permuted_axes(p).as_standard_layout().into_owned()),
    }
}

impl Layer for TransposeOp {
    op_basics!();

    fn config(&self) -> Json {
        json!({ "axes": self.axes })
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let [x] = inputs else {
            return Err(Error::invalid(format!(
                "expects 1 input tensor, got {}",
                inputs.len()
            )));
        };
        let perm = self.permutation(x.rank())?;
        let shape: Vec<Option<usize>> = perm.iter().map(|&a| x.shape[a]).collect();
        Ok(vec![TensorSpec::new(shape, x.dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.one()?;
        let perm = self.permutation(x.shape().len())?;
        Ok(vec![permute_value(x, &perm)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let x = call.inputs.value(0)?;
        let grad = match (call.value_grad(0)?, x) {
            (Some(g), Value::F32(_)) => {
                let perm = self.permutation(g.ndim())?;
                let mut inverse = vec![0; perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    inverse[p] = i;
                }
                Some(
                    g.view()
                        .permuted_axes(ndarray::IxDyn(&inverse))
                        .as_standard_layout()
                        .into_owned(),
                )
            }
            _ => None,
        };
        Ok(LayerGrads::inputs(vec![grad]))
    }
}
