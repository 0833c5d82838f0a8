//! Regularization layers (Keras' `keras/src/layers/regularization`):
//! `Dropout` and `SpatialDropout1D`, the identity at inference. In training
//! they zero each entry (or, for `SpatialDropout1D`, each channel of a
//! sequence) with probability `rate` and scale the rest by `1 / (1 - rate)`
//! (inverted dropout, as Keras). The masks are drawn from the layer's `seed`
//! mixed with [`CallContext::step_seed`]: seeded layers repeat their masks for
//! the same step, not TensorFlow's random stream.

mod activity_regularization;
mod dropout;
mod spatial_dropout1d;

pub use activity_regularization::{ActivityRegularization, ActivityRegularizationLayer};
pub use dropout::{Dropout, DropoutLayer};
pub use spatial_dropout1d::{SpatialDropout1D, SpatialDropout1DLayer};

use ndarray::{ArrayD, IxDyn};
use rand::{Rng, SeedableRng};
use tensorweave_core::{
    BackwardCall, CallContext, Error, Inputs, LayerGrads, Result, Trained, Value,
};

/// The scaled keep-mask of one training call, broadcast over the input.
#[derive(Debug)]
struct DropMask(ArrayD<f32>);

/// Training-mode dropout of the one input: a mask of `noise` shape (each
/// entry kept with probability `1 - rate`, scaled by `1 / (1 - rate)`),
/// broadcast over the input.
fn drop_train(
    inputs: &Inputs<'_>,
    rate: f64,
    seed: Option<u64>,
    noise: &[usize],
    ctx: &CallContext,
) -> Result<Trained> {
    let x = inputs.f32(0)?;
    if rate <= 0.0 {
        return Ok(Trained::new(vec![Value::F32(x.clone())]));
    }
    // Each noise axis is the input's or 1 (broadcast), checked before the mask
    // is allocated: a configured `noise_shape` cannot reserve memory.
    let fits =
        noise.len() == x.ndim() && noise.iter().zip(x.shape()).all(|(&n, &d)| n == 1 || n == d);
    if !fits {
        return Err(Error::invalid(format!(
            "noise shape {noise:?} does not broadcast to the input's shape {:?}",
            x.shape()
        )));
    }
    let keep = 1.0 - rate;
    let scale = (1.0 / keep) as f32;
    let base = seed.unwrap_or_else(|| tensorweave_core::layer_rng(None).random());
    let mut rng =
        rand::rngs::StdRng::seed_from_u64(base ^ ctx.step_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mask = ArrayD::from_shape_fn(IxDyn(noise), |_| {
        if rng.random::<f64>() < keep {
            scale
        } else {
            0.0
        }
    });
    let mask = mask
        .broadcast(x.raw_dim())
        .ok_or_else(|| Error::invalid("internal: the noise mask does not broadcast"))?
        .to_owned();
    let y = x * &mask;
    Ok(Trained::with_saved(vec![Value::F32(y)], DropMask(mask)))
}

/// The gradient of [`drop_train`]: `gy` times the same mask.
fn drop_backward(call: &BackwardCall<'_>) -> Result<LayerGrads> {
    let Some(gy) = call.value_grad(0)? else {
        return Ok(LayerGrads::inputs(vec![None]));
    };
    let gx = match call.saved::<DropMask>() {
        Ok(DropMask(mask)) => gy * mask,
        Err(_) => gy.clone(), // rate 0: the identity
    };
    Ok(LayerGrads::inputs(vec![Some(gx)]))
}
