//! `Masking`: marks the steps whose features all equal `mask_value` as padding,
//! zeroes them, and emits the mask for the layers downstream.

use ndarray::{ArrayD, Axis, Zip};
use serde::{Deserialize, Serialize};
use tensorweave_core::format_dims;
use tensorweave_core::{
    BackwardCall, CallContext, Error, IntoLayer, Layer, LayerGrads, MaskCall, Result, Tensor,
    TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::Common;
use crate::class_and_config;
use crate::ops::{AnyOp, NotEqual};
use crate::util::{expect_float, expect_inputs};
use tensorweave_core::Inputs;

/// Builder and configuration of a `Masking` layer (Keras' `layers.Masking`).
///
/// A step is masked when every feature equals `mask_value` (compared in float32,
/// as Keras does). The output is the input with masked steps set to 0, and its
/// mask is `any(x != mask_value, axis=-1)`, recorded, as in Keras, as a
/// `NotEqual` op on the input followed by an `Any` op.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([None, Some(4)]).build();
/// let y = Masking::new(0.0).call(&x).unwrap();
/// assert_eq!(y.shape(), x.shape());
/// assert_eq!(y.mask().unwrap().shape(), &vec![None, None]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(MaskingLayer, class = "Masking")]
pub struct Masking {
    /// The padding value (default 0).
    pub mask_value: f64,
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Masking {
    /// Masks the steps whose features all equal `mask_value`.
    pub fn new(mask_value: f64) -> Self {
        Masking {
            mask_value,
            ..Default::default()
        }
    }

    /// The mask value as the float32 the inputs are compared with.
    fn value(&self) -> f32 {
        self.mask_value as f32
    }
}

/// The `Masking` layer itself.
#[derive(Debug, Default)]
pub struct MaskingLayer {
    config: Masking,
}

impl Layer for MaskingLayer {
    class_and_config!();

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        expect_float(&inputs[0])?;
        if inputs[0].rank() < 2 {
            return Err(Error::invalid(format!(
                "expects inputs of rank at least 2 (batch, ..., features), got rank {}",
                inputs[0].rank()
            )));
        }
        Ok(vec![inputs[0].clone()])
    }

    /// Keras: `ops.any(ops.not_equal(inputs, mask_value), axis=-1)`; the input
    /// mask, if any, is replaced.
    fn compute_mask(&self, call: &MaskCall<'_>) -> Result<Vec<Option<Tensor>>> {
        let (inputs, n_outputs) = (call.inputs, call.n_outputs);
        let x = inputs
            .first()
            .ok_or_else(|| Error::invalid("expects 1 input tensor, got 0"))?;
        // The f32 value widened exactly, so NotEqual's comparison is float32's.
        let not_equal = NotEqual::new(self.config.value() as f64).call(x)?;
        let mask = AnyOp::new(-1).call(&not_equal)?;
        Ok(vec![Some(mask); n_outputs])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.f32(0)?;
        Ok(vec![Value::F32(self.keep_valid(x, x)?)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// The output is `x · keep` (keep = the step mask, broadcast over the
    /// features), so the input's gradient is `gy · keep`; the mask takes none.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let x = call.inputs.f32(0)?;
        let Some(gy) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        if gy.shape() != x.shape() {
            return Err(Error::invalid(format!(
                "got a gradient of shape {} for an output of shape {}",
                format_dims(gy.shape()),
                format_dims(x.shape())
            )));
        }
        Ok(LayerGrads::inputs(vec![Some(self.keep_valid(x, gy)?)]))
    }
}

impl MaskingLayer {
    /// `values` (of `x`'s shape) with zeros at the steps of `x` whose features
    /// all equal the mask value: Keras' `where(any(x != v, axis=-1), values, 0)`.
    fn keep_valid(&self, x: &ArrayD<f32>, values: &ArrayD<f32>) -> Result<ArrayD<f32>> {
        if x.ndim() < 2 {
            return Err(Error::invalid(format!(
                "expects inputs of rank at least 2, got shape {}",
                format_dims(x.shape())
            )));
        }
        let last = Axis(x.ndim() - 1);
        let v = self.config.value();
        let keep: ArrayD<bool> = x
            .map_axis(last, |lane| lane.iter().any(|&e| e != v))
            .insert_axis(last);
        Ok(Zip::from(values)
            .and_broadcast(&keep)
            .map_collect(|&e, &k| if k { e } else { 0.0 }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;
    use tensorweave_core::{DType, Input};

    #[test]
    fn masked_steps_become_zero() {
        // Steps whose features all equal 0.1 are zeroed; [0.1, 0.2] has one
        // differing feature and stays. Keras 3.15.1:
        //   Masking(0.1)([[[0.1,0.1],[0.1,0.2],[0,0]]]) -> [[[0,0],[0.1,0.2],[0,0]]],
        //   compute_mask -> [[False, True, True]]
        let layer = Masking::new(0.1).into_layer();
        let x = Value::F32(array![[[0.1f32, 0.1], [0.1, 0.2], [0.0, 0.0]]].into_dyn());
        let y = layer
            .read()
            .call(&Inputs::new(vec![&x], vec![None]), &CallContext::default())
            .unwrap();
        assert_eq!(
            y[0],
            Value::F32(array![[[0.0f32, 0.0], [0.1, 0.2], [0.0, 0.0]]].into_dyn())
        );
    }

    #[test]
    fn the_mask_is_recorded_as_not_equal_then_any() {
        let x = Input::new([None, Some(2)]).build();
        let y = Masking::new(0.1).call(&x).unwrap();
        let mask = y.mask().expect("Masking emits a mask");
        assert_eq!(mask.layer().class_name(), "Any");
        assert_eq!(mask.dtype(), DType::Bool);
        assert_eq!(mask.shape(), &vec![None, None]);
        let ne = &mask.node().inputs()[0];
        assert_eq!(ne.layer().class_name(), "NotEqual");
        assert_eq!(ne.node().inputs()[0], x);
        // Running the two ops on the same data gives Keras' mask [[F, T, T]].
        let data = Value::F32(array![[[0.1f32, 0.1], [0.1, 0.2], [0.0, 0.0]]].into_dyn());
        let ctx = CallContext::default();
        let ne_out = ne
            .layer()
            .read()
            .call(&Inputs::new(vec![&data], vec![None]), &ctx)
            .unwrap();
        let any_out = mask
            .layer()
            .read()
            .call(&Inputs::unmasked(&[&ne_out[0]]), &ctx)
            .unwrap();
        assert_eq!(
            any_out[0],
            Value::Bool(array![[false, true, true]].into_dyn())
        );
    }

    #[test]
    fn the_gradient_is_zero_at_masked_steps() {
        // Keras 3.15.1 (TensorFlow): with GradientTape, the gradient of
        // sum(Masking(0.1)(x) * [[[1, 2], [3, 4], [5, 6]]]) with respect to
        // x = [[[0.1, 0.1], [0.1, 0.2], [0, 0]]] is [[[0, 0], [3, 4], [5, 6]]].
        let layer = Masking::new(0.1).into_layer();
        let x = Value::F32(array![[[0.1f32, 0.1], [0.1, 0.2], [0.0, 0.0]]].into_dyn());
        let gy = array![[[1.0f32, 2.0], [3.0, 4.0], [5.0, 6.0]]].into_dyn();
        let inputs = Inputs::new(vec![&x], vec![None]);
        let ctx = CallContext::default();
        let trained = layer.read().call_train(&inputs, &ctx).unwrap();
        let grads = [tensorweave_core::OutputGrad::of_value(gy)];
        let call = BackwardCall {
            inputs: &inputs,
            outputs: &trained.outputs,
            saved: &*trained.saved,
            grads: &grads,
            ctx: &ctx,
        };
        let g = layer.read().backward(&call).unwrap();
        assert_eq!(
            g.inputs[0].as_ref().unwrap(),
            &array![[[0.0f32, 0.0], [3.0, 4.0], [5.0, 6.0]]].into_dyn()
        );
        assert!(g.params.is_empty());
    }

    #[test]
    fn bad_inputs_are_errors() {
        let ids = Input::new([3]).dtype(DType::I32).build();
        assert!(Masking::new(0.0).call(&ids).is_err());
        let flat = Input::new([] as [usize; 0]).build();
        assert!(Masking::new(0.0).call(&flat).is_err());
        assert_eq!(Masking::new(2.5).into_layer().config()["mask_value"], 2.5);
    }
}
