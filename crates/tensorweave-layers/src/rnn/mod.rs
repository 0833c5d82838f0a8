//! Recurrent layers with Keras 3.15.1 semantics: [`Lstm`], [`Gru`],
//! [`SimpleRnn`] (each one file: builder, cell, layer type), the generic
//! recurrent layer [`Rnn`] over any [`Cell`], and the wrappers
//! [`Bidirectional`] and [`TimeDistributed`].
//!
//! All cells share one sequence loop (`sequence.rs`): the input projection of
//! a chunk of steps is one matrix product, each step one
//! `[rows, units] × [units, gates·units]` product and one fused element-wise
//! update (the cell's `step`), on the rows the mask leaves active. Masks
//! (`[batch, time]`, true = valid) freeze a row's states at its masked steps,
//! whose output is the previous output (zeros before the first valid step) or
//! zeros with `zero_output_for_mask`. With `return_sequences` the input mask
//! passes to the output sequence; states carry no mask.
//!
//! Weight paths follow Keras: `lstm_cell/kernel` for a plain LSTM,
//! `forward_lstm/lstm_cell/kernel` inside a `Bidirectional`.

mod bidirectional;
mod bidirectional_train;
mod bptt;
mod cell;
mod fold;
mod gru;
mod layer;
mod lstm;
mod options;
mod sequence;
mod simple_rnn;
mod step;
mod time_distributed;

#[cfg(test)]
mod tests;

pub use bidirectional::{Bidirectional, BidirectionalLayer, MergeMode};
pub use bptt::{CellMath, CellTraining};
pub use cell::{BiasLayout, Cell, CellKind, CellParams, CellWeights, Packing, RnnCell};
pub use fold::MAX_TABLE_BYTES;
pub use gru::{Gru, GruCell, GruKind, GruLayer};
pub use layer::Rnn;
pub use lstm::{Lstm, LstmCell, LstmKind, LstmLayer};
pub use options::{RnnBuilder, RnnOptions};
pub use simple_rnn::{SimpleRnn, SimpleRnnCell, SimpleRnnKind, SimpleRnnLayer};
pub use step::{Scratch, StepRows};
pub use time_distributed::{TimeDistributed, TimeDistributedLayer};
