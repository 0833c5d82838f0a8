//! Folding an `Embedding` into the per-vector layer that follows it
//! (`Dense`, `TimeDistributed(Dense)`; inference only). The layer's output at
//! a position is a function of that position's token alone, so the table of
//! its outputs for every token (`act(embedding · kernel + bias)`, one row per
//! token) turns the layer into a row gather: no embedded sequence, no
//! product.
//!
//! The rule is the recurrent fold's (`rnn::fold`): at most
//! [`MAX_TABLE_BYTES`] per table; built once the calls since the weights last
//! changed have looked up half as many tokens as the vocabulary holds (the
//! build runs the layer on the `vocabulary` rows of the embedding, so by then
//! the saved work has paid half of it); dropped when the embedding (its
//! [`LayerRef::generation`]) or the layer's own weights change. The layer's
//! weights are compared with the copy the table was made from on every call
//! (a few thousand values against the product over every token it saves).
//! The table is the layer's own call on the embedding rows, so the outputs
//! equal the unfolded path's.

use std::sync::{Arc, Mutex};

use ndarray::{Array2, ArrayD, ArrayView2, IxDyn};
use tensorweave_core::{CallContext, Inputs, Layer, LayerRef, Result, Value};
use tensorweave_kernels::same_bits;

use super::EmbeddingLayer;
use crate::rnn::MAX_TABLE_BYTES;

/// A layer's folded table, if any, and what it was made from.
#[derive(Debug, Default)]
pub(crate) struct LookupFold {
    state: Mutex<Option<FoldState>>,
}

#[derive(Debug)]
struct FoldState {
    /// (embedding id, its generation, the caller's own key).
    key: [u64; 3],
    /// The layer's weights the table was (or will be) made from.
    weights: Vec<Vec<f32>>,
    /// Tokens looked up under this key while no table was built.
    seen: usize,
    table: Option<Arc<Array2<f32>>>,
}

impl LookupFold {
    /// The folded table for `lookup` (an `Embedding`) and the ids `ids`, when
    /// the rule says it pays and every id has a row: `width` gives the
    /// layer's output width for an embedding of `dim` values (`None`: it does
    /// not fold), `apply` runs the layer on the embedding rows (`[vocabulary,
    /// dim]`) and must give `[vocabulary, width]`. `own_key` and `weights` identify the layer's state (a
    /// wrapped layer's generation; the weights themselves). `None`: run
    /// unfolded.
    pub(crate) fn table(
        &self,
        lookup: &LayerRef,
        ids: &Value,
        own_key: u64,
        weights: &[&[f32]],
        width: impl FnOnce(usize) -> Option<usize>,
        apply: impl FnOnce(ArrayView2<'_, f32>) -> Result<ArrayD<f32>>,
    ) -> Option<Arc<Array2<f32>>> {
        let Value::I32(ids) = ids else {
            return None;
        };
        let guard = lookup.read();
        let embedding = guard.as_any().downcast_ref::<EmbeddingLayer>()?.table()?;
        let (vocab, width) = (embedding.nrows(), width(embedding.ncols())?);
        if vocab.saturating_mul(width).saturating_mul(4) > MAX_TABLE_BYTES
            || !ids.iter().all(|&i| i >= 0 && (i as usize) < vocab)
        {
            return None;
        }
        let key = [lookup.id(), lookup.generation(), own_key];
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let same = |s: &FoldState| {
            s.key == key
                && s.weights.len() == weights.len()
                && s.weights.iter().zip(weights).all(|(a, b)| same_bits(a, b))
        };
        let current = match state.as_mut() {
            Some(s) if same(s) => s,
            _ => state.insert(FoldState {
                key,
                weights: weights.iter().map(|w| w.to_vec()).collect(),
                seen: 0,
                table: None,
            }),
        };
        if let Some(t) = &current.table {
            return Some(t.clone());
        }
        current.seen = current.seen.saturating_add(ids.len());
        if current.seen.saturating_mul(2) < vocab {
            return None;
        }
        let rows = apply(embedding).ok()?;
        if rows.shape() != [vocab, width] {
            return None;
        }
        let table = Arc::new(rows.into_dimensionality().ok()?);
        current.table = Some(table.clone());
        Some(table)
    }

    /// The bytes the fold holds: the table and the weights' copy.
    pub(crate) fn bytes(&self) -> usize {
        let state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state.as_ref().map_or(0, |s| {
            let table = s.table.as_ref().map_or(0, |t| t.len());
            let weights: usize = s.weights.iter().map(Vec::len).sum();
            (table + weights) * std::mem::size_of::<f32>()
        })
    }
}

/// The rows of `table` the ids pick: shape `ids.shape + [width]`.
pub(crate) fn gather(table: &Array2<f32>, ids: &Value) -> Result<Value> {
    let Value::I32(ids) = ids else {
        return Err(tensorweave_core::Error::invalid(
            "internal: folded ids are not int32",
        ));
    };
    let width = table.ncols();
    let rows = table
        .as_slice()
        .ok_or_else(|| tensorweave_core::Error::invalid("internal: folded table layout"))?;
    let mut out = Vec::with_capacity(ids.len() * width);
    for &id in ids.iter() {
        let start = id as usize * width;
        let row = rows.get(start..start + width).ok_or_else(|| {
            tensorweave_core::Error::invalid("internal: token id outside the folded table")
        })?;
        out.extend_from_slice(row);
    }
    let mut shape = ids.shape().to_vec();
    shape.push(width);
    ArrayD::from_shape_vec(IxDyn(&shape), out)
        .map(Value::F32)
        .map_err(|e| tensorweave_core::Error::invalid(format!("internal: gather shape: {e}")))
}

/// `layer`'s inference call on the embedding rows (`[vocabulary, dim]`): the
/// table of its outputs per token.
pub(crate) fn call_on_rows(layer: &dyn Layer, rows: ArrayView2<'_, f32>) -> Result<ArrayD<f32>> {
    let x = Value::F32(rows.to_owned().into_dyn());
    let out = layer.call(
        &Inputs::new(vec![&x], vec![]),
        &CallContext::with_threads(1),
    )?;
    match out.into_iter().next() {
        Some(Value::F32(y)) => Ok(y),
        _ => Err(tensorweave_core::Error::invalid(
            "internal: a folded layer gave no float output",
        )),
    }
}

/// A folded call's outputs: the rows of the table `folded` gives for the
/// ids of input 0 (it gives none only if the table vanished between
/// `accepts_lookup` and the call: an internal error).
pub(crate) fn folded_call(
    inputs: &Inputs<'_>,
    folded: impl FnOnce(&Value) -> Option<Arc<Array2<f32>>>,
) -> Result<Vec<Value>> {
    let ids = inputs.value(0)?;
    let table = folded(ids)
        .ok_or_else(|| tensorweave_core::Error::invalid("internal: the folded table is gone"))?;
    Ok(vec![gather(&table, ids)?])
}
