//! Regularization layers (Keras' `keras/src/layers/regularization`):
//! `Dropout`, `SpatialDropout1D` and the noise layers (`GaussianNoise`,
//! `GaussianDropout`, `AlphaDropout`), the identity at inference. In training
//! they zero each entry (or, for `SpatialDropout1D`, each channel of a
//! sequence) with probability `rate` and scale the rest by `1 / (1 - rate)`
//! (inverted dropout, as Keras). The masks are drawn from the layer's `seed`
//! mixed with [`CallContext::step_seed`]: seeded layers repeat their masks for
//! the same step, not TensorFlow's random stream.

mod activity_regularization;
mod alpha_dropout;
mod dropout;
mod gaussian_dropout;
mod gaussian_noise;
mod spatial_dropout1d;

pub use activity_regularization::{ActivityRegularization, ActivityRegularizationLayer};
pub use alpha_dropout::{AlphaDropout, AlphaDropoutLayer};
pub use dropout::{Dropout, DropoutLayer};
pub use gaussian_dropout::{GaussianDropout, GaussianDropoutLayer};
pub use gaussian_noise::{GaussianNoise, GaussianNoiseLayer};
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

/// The derivative of one training call's noise, per entry.
#[derive(Debug)]
struct NoiseTape(ArrayD<f32>);

/// A training-mode noise layer on its one input: `f(rng, x)` gives each
/// entry's output and its derivative, from a generator seeded by `seed`
/// mixed with the step (not TensorFlow's random stream).
fn noise_train(
    inputs: &Inputs<'_>,
    seed: Option<u64>,
    ctx: &CallContext,
    mut f: impl FnMut(&mut rand::rngs::StdRng, f32) -> (f32, f32),
) -> Result<Trained> {
    let x = inputs.f32(0)?;
    let base = seed.unwrap_or_else(|| tensorweave_core::layer_rng(None).random());
    let mut rng =
        rand::rngs::StdRng::seed_from_u64(base ^ ctx.step_seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut d = ArrayD::<f32>::zeros(x.raw_dim());
    let mut y = ArrayD::<f32>::zeros(x.raw_dim());
    for ((yo, dd), &xv) in y.iter_mut().zip(d.iter_mut()).zip(x.iter()) {
        let (v, g) = f(&mut rng, xv);
        *yo = v;
        *dd = g;
    }
    Ok(Trained::with_saved(vec![Value::F32(y)], NoiseTape(d)))
}

/// The gradient of [`noise_train`]: `gy` times the saved derivative.
fn noise_backward(call: &BackwardCall<'_>) -> Result<LayerGrads> {
    let Some(gy) = call.value_grad(0)? else {
        return Ok(LayerGrads::inputs(vec![None]));
    };
    let NoiseTape(d) = call.saved::<NoiseTape>()?;
    Ok(LayerGrads::inputs(vec![Some(gy * d)]))
}

/// A standard normal draw (Box–Muller).
fn standard_normal(rng: &mut rand::rngs::StdRng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random();
    ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()) as f32
}
