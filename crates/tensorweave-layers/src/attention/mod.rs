//! Attention layers: `MultiHeadAttention` (with its projections), and the
//! single-head `Attention` (dot-product or concat scores) and
//! `AdditiveAttention` (Bahdanau-style) of Keras.

mod additive_attention;
mod attention_layer;
mod multi_head_attention;
mod projection;
mod scores;

pub use additive_attention::{AdditiveAttention, AdditiveAttentionLayer};
pub use attention_layer::{Attention, AttentionLayer, AttentionOptions};
pub use multi_head_attention::{AttentionArgs, MultiHeadAttention, MultiHeadAttentionLayer};
pub use projection::{Projection, ProjectionSpec};

use ndarray::ArrayView3;
use tensorweave_core::{Error, Result, Value};

/// A bool mask `[b, t, s]` (numbers count as true when non-zero) as a view
/// of the given value, checked against its expected shape.
pub(crate) fn to_bool_3d(
    v: &Value,
    (b, t, s): (usize, usize, usize),
) -> Result<ArrayView3<'_, bool>> {
    let m = v.as_bool().map_err(|_| {
        Error::invalid(format!(
            "attention_mask must be a bool tensor, got {:?} data; cast it with ops.cast",
            v.dtype()
        ))
    })?;
    let m = m
        .view()
        .into_dimensionality::<ndarray::Ix3>()
        .map_err(|_| Error::invalid("attention_mask must be [batch, query time, value time]"))?;
    if m.dim() != (b, t, s) {
        return Err(Error::invalid(format!(
            "attention_mask has shape {:?}, expected [{b}, {t}, {s}]",
            m.shape()
        )));
    }
    Ok(m)
}
