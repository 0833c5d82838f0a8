//! [`TimeRole`]: what a layer does along the time axis, which lets corpus mode
//! ([`crate::Model::predict_corpus`]) cut padding columns off a batch when
//! that provably leaves every output unchanged.

/// How a layer's outputs depend on axis 1 (time) of its inputs.
///
/// [`crate::Model::predict_corpus`] drops the columns that are padding
/// (zero) in every row of a batch only when each layer on the way from the
/// token input to the outputs declares a role here that makes the cut
/// exact; one layer with [`TimeRole::Unknown`] (the default) keeps the full
/// length. A role is a promise about the layer's inference call: declare one
/// only when it holds for every configuration the layer accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeRole {
    /// Nothing is promised: the padding stays.
    #[default]
    Unknown,
    /// Each output element depends only on the input element at the same
    /// position (an elementwise op, `Dropout` at inference, an `Embedding`
    /// lookup): the time axis, wherever it is, passes through.
    PerElement,
    /// Like [`TimeRole::PerElement`], and the (boolean) output is `false`
    /// exactly where the input is zero (Keras' `NotEqual(x, 0)`, the mask
    /// of `Embedding(mask_zero=True)`).
    FalseAtZero,
    /// Each output step depends only on the same input step, the layer
    /// acting on the last axis (`Dense`, `TimeDistributed`): a per-step
    /// layer when the time axis is not the last one (rank 3 or more).
    PerVector,
    /// A recurrence over the steps of its first input that reads that
    /// input's mask: a masked step changes no state (Keras' RNN masking).
    /// Its other inputs (initial states) have no time axis.
    MaskedScan {
        /// Whether the output keeps the time axis (`return_sequences`).
        sequences: bool,
    },
}
