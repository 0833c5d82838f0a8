//! Gradient clipping as Keras' TensorFlow optimizer does it (`_clip_gradients`).
//!
//! On row gradients (`IndexedSlices`), `clipnorm` and `clipvalue` act on the occurrences and keep
//! the gradient sparse; `global_clipnorm` takes the norm over the occurrences too, but scaling an
//! `IndexedSlices` densifies it, so the optimizer then sees the summed, dense gradient.

use std::borrow::Cow;

use super::base::Hyper;
use crate::gradient::{Gradient, MapDense};
use crate::util::sum_f32;

/// The float32 entries a clipping rule looks at: the dense tensor, or every occurrence of a
/// row gradient (TensorFlow clips `IndexedSlices.values`, before duplicates are summed).
fn entries(g: &Gradient) -> Box<dyn Iterator<Item = f32> + '_> {
    match g {
        Gradient::Dense(a) => Box::new(a.iter().copied()),
        Gradient::Rows { values, .. } => Box::new(values.iter().copied()),
    }
}

fn map_entries(g: &Gradient, f: impl Fn(f32) -> f32) -> Gradient {
    match g {
        Gradient::Dense(a) => Gradient::Dense(a.mapv(f)),
        Gradient::Rows {
            indices,
            values,
            shape,
        } => Gradient::Rows {
            indices: indices.clone(),
            values: values.mapv(f),
            shape: shape.clone(),
        },
    }
}

/// `tf.clip_by_norm(g, c)`: `g * c / max(||g||, c)`.
fn clip_by_norm(g: &Gradient, clipnorm: f32) -> Gradient {
    let l2sum = sum_f32(entries(g).map(|x| x * x));
    let norm = if l2sum > 0.0 { l2sum.sqrt() } else { l2sum };
    let denom = norm.max(clipnorm);
    map_entries(g, |x| x * clipnorm / denom)
}

/// Applies the optimizer's clipping option (at most one is set; a value <= 0 disables it, as
/// Keras' truthiness test does).
pub(crate) fn clip_gradients<'a>(
    grads: Vec<Option<Cow<'a, Gradient>>>,
    hyper: &Hyper,
) -> Vec<Option<Cow<'a, Gradient>>> {
    if let Some(c) = hyper.clipnorm.filter(|&c| c > 0.0) {
        let c = c as f32;
        return grads
            .into_iter()
            .map(|g| g.map(|g| Cow::Owned(clip_by_norm(&g, c))))
            .collect();
    }
    if let Some(c) = hyper.global_clipnorm.filter(|&c| c > 0.0) {
        let squared: Vec<f32> = grads
            .iter()
            .flatten()
            .map(|g| sum_f32(entries(g).map(|x| x * x)))
            .collect();
        let norm = sum_f32(squared).sqrt();
        // clip_norm * min(1/norm, 1/clip_norm) + (norm - norm): NaN when the norm is not finite.
        let not_finite = if norm.is_finite() { 0.0 } else { f32::NAN }; // Keras' `+ (norm - norm)`
        let scale = (c as f32) * (1.0 / norm).min((1.0 / c) as f32) + not_finite;
        // `IndexedSlices * scale` is not a sparse op in TensorFlow: it densifies (summing the
        // duplicates) and the optimizer then sees an ordinary dense gradient.
        return grads
            .into_iter()
            .map(|g| g.map(|g| Cow::Owned(Gradient::Dense(g.map_dense(|x| x).mapv(|x| x * scale)))))
            .collect();
    }
    if let Some(v) = hyper.clipvalue.filter(|&v| v > 0.0) {
        let v = v as f32;
        return grads
            .into_iter()
            .map(|g| g.map(|g| Cow::Owned(map_entries(&g, |x| x.clamp(-v, v)))))
            .collect();
    }
    grads
}
