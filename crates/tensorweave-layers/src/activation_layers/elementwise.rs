//! What the element-wise activation layers (`ReLU`, `LeakyReLU`, `ELU`)
//! share: the forward maps each float element by the layer's function, the
//! backward multiplies the output's gradient by the function's derivative at
//! the input (TensorFlow's choices at the kinks: 0 where `relu` is at 0).

use tensorweave_core::{BackwardCall, Inputs, LayerGrads, Result, Value};

/// `f` on every element of the one float input.
pub(super) fn forward(inputs: &Inputs<'_>, f: impl Fn(f32) -> f32) -> Result<Vec<Value>> {
    let x = inputs.f32(0)?;
    Ok(vec![Value::F32(x.mapv(f))])
}

/// The input's gradient: the output's times `derivative(x)`.
pub(super) fn backward(
    call: &BackwardCall<'_>,
    derivative: impl Fn(f32) -> f32,
) -> Result<LayerGrads> {
    let Some(gy) = call.value_grad(0)? else {
        return Ok(LayerGrads::inputs(vec![None]));
    };
    let x = call.inputs.f32(0)?;
    let mut gx = gy.clone();
    gx.zip_mut_with(x, |g, &x| *g *= derivative(x));
    Ok(LayerGrads::inputs(vec![Some(gx)]))
}

/// Implements the parts of [`tensorweave_core::Layer`] an element-wise
/// activation layer has in common: the float input's spec, masks passed on,
/// the forward by `$f` and the backward by `$df` (both `|this, x|`).
macro_rules! elementwise_layer {
    (|$this:ident, $x:ident| $f:expr, $df:expr) => {
        fn output_specs(
            &self,
            inputs: &[tensorweave_core::TensorSpec],
        ) -> tensorweave_core::Result<Vec<tensorweave_core::TensorSpec>> {
            crate::util::expect_inputs(inputs, 1)?;
            crate::util::expect_float(&inputs[0])?;
            Ok(vec![inputs[0].clone()])
        }

        fn propagates_mask(&self) -> bool {
            true
        }

        fn call(
            &self,
            inputs: &tensorweave_core::Inputs<'_>,
            _ctx: &tensorweave_core::CallContext,
        ) -> tensorweave_core::Result<Vec<tensorweave_core::Value>> {
            let $this = self;
            super::elementwise::forward(inputs, |$x| $f)
        }

        fn has_backward(&self) -> bool {
            true
        }

        fn backward(
            &self,
            call: &tensorweave_core::BackwardCall<'_>,
        ) -> tensorweave_core::Result<tensorweave_core::LayerGrads> {
            let $this = self;
            super::elementwise::backward(call, |$x| $df)
        }
    };
}

pub(super) use elementwise_layer;
