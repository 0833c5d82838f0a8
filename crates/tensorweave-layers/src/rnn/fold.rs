//! Folding an `Embedding` into the input product of the recurrent layer it
//! feeds (inference only). The input projection of a step is
//! `embedding[id] · kernel + bias`, a function of the token alone, so the
//! table `embedding · kernel + bias` (one row of `gates · units` per token)
//! turns the projection of every step into a row lookup.
//!
//! The rule, per recurrent layer (each direction of a `Bidirectional` has
//! its own table):
//! - the table takes at most [`MAX_TABLE_BYTES`] (`vocabulary · gates ·
//!   units · 4` bytes: 32 MB for a vocabulary of 20,000 and an LSTM(100));
//! - it is built once the calls since the weights last changed have looked
//!   up at least half as many tokens as the vocabulary holds: building it
//!   costs the projection of `vocabulary` rows, so by then the projections
//!   it saves have paid for half of it, and every later call gains;
//! - it is kept until the embedding's or the cell's weights change (keyed on
//!   their [`LayerRef::generation`]).
//!
//! The table rows are computed by the product the unfolded path uses, so
//! the results equal it (up to the product's row blocking).

use std::sync::{Arc, Mutex};

use tensorweave_core::LayerRef;

use super::cell::CellWeights;
use super::sequence::project_rows;
use crate::core_layers::EmbeddingLayer;

/// The largest folded table a recurrent layer keeps, in bytes.
pub const MAX_TABLE_BYTES: usize = 64 << 20;

/// A recurrent layer's folded table, if any, and what it was made from.
#[derive(Debug, Default)]
pub(crate) struct Fold {
    state: Mutex<Option<FoldState>>,
}

#[derive(Debug)]
struct FoldState {
    /// (embedding id, generation, cell id, generation).
    key: [u64; 4],
    /// Tokens looked up under this key while no table was built.
    seen: usize,
    table: Option<Arc<Vec<f32>>>,
}

impl Fold {
    /// The folded table of `lookup` (an `Embedding`) for the cell `cell`
    /// with weights `w`, when the rule says it pays; `tokens` is the number
    /// of ids of this call. `None`: run unfolded.
    pub(crate) fn table(
        &self,
        lookup: &LayerRef,
        cell: &LayerRef,
        w: &CellWeights<'_>,
        tokens: usize,
    ) -> Option<Arc<Vec<f32>>> {
        let guard = lookup.read();
        let embedding = guard.as_any().downcast_ref::<EmbeddingLayer>()?;
        let table = embedding.table()?;
        let (vocab, dim) = table.dim();
        let g = w.kernel.cols;
        if dim != w.kernel.rows || vocab.saturating_mul(g).saturating_mul(4) > MAX_TABLE_BYTES {
            return None;
        }
        let key = [
            lookup.id(),
            lookup.generation(),
            cell.id(),
            cell.generation(),
        ];
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = match state.as_mut() {
            Some(s) if s.key == key => s,
            _ => state.insert(FoldState {
                key,
                seen: 0,
                table: None,
            }),
        };
        if let Some(t) = &current.table {
            return Some(t.clone());
        }
        current.seen = current.seen.saturating_add(tokens);
        if current.seen.saturating_mul(2) < vocab {
            return None;
        }
        let rows = table.as_standard_layout();
        let folded = project_rows(w, rows.as_slice()?, vocab).ok()?;
        let folded = Arc::new(folded);
        current.table = Some(folded.clone());
        Some(folded)
    }

    /// The bytes the folded table holds (0 when none is built).
    pub(crate) fn bytes(&self) -> usize {
        let state = self
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        state
            .as_ref()
            .and_then(|s| s.table.as_ref())
            .map_or(0, |t| t.len() * std::mem::size_of::<f32>())
    }
}
