//! `SimpleRNN`: `h = activation(x·kernel + bias + h_prev·recurrent_kernel)`.
//! The builder, the cell (`SimpleRNNCell`) and the layer type.

use serde::{Deserialize, Serialize};
use tensorweave_core::Result;
use tensorweave_derive::LayerConfig;

use super::bptt::{CellMath, CellTraining};
use super::cell::{CellKind, CellWeights};
use super::options::{rnn_builder, RnnOptions};
use super::step::{
    acts, add, apply, mode, recurrent, vectorized, Acts, Mode, Rows, Scratch, StepRows,
};
use crate::activations::Activation;
use crate::class::Common;

/// Builder and configuration of a `SimpleRNN` layer (Keras' `layers.SimpleRNN`).
///
/// Weights: `kernel [input_dim, units]`, `recurrent_kernel [units, units]`,
/// `bias [units]`. The shared recurrent options have the setters of every recurrent builder ([`RnnOptions`]).
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 3]).build();
/// let y = SimpleRnn::new(4)
///     .activation(Activation::Relu)
///     .go_backwards(true)
///     .return_sequences(true)
///     .call(&x)
///     .unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(10), Some(4)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(SimpleRnnLayer)]
pub struct SimpleRnn {
    /// Options shared by every recurrent layer.
    #[serde(flatten)]
    #[config(skip)]
    pub options: RnnOptions,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

rnn_builder!(SimpleRnn {
    layer: SimpleRnnLayer,
    kind: SimpleRnnKind,
    cell: SimpleRnnCell,
    class: "SimpleRNN",
    cell_class: "SimpleRNNCell",
});

impl CellKind for SimpleRnnKind {
    const CELL_CLASS: &'static str = "SimpleRNNCell";
    const LAYER_CLASS: &'static str = "SimpleRNN";
    const CELL_NAME: &'static str = "simple_rnn_cell";
    const GATES: usize = 1;
    const STATES: usize = 1;
    type Builder = SimpleRnn;

    fn training(config: &SimpleRnn) -> Option<CellTraining> {
        Some(CellTraining {
            math: CellMath::Simple,
            activation: config.options.activation,
            recurrent_activation: Activation::Linear,
        })
    }

    fn step(
        config: &SimpleRnn,
        w: &CellWeights<'_>,
        rows: StepRows<'_>,
        scratch: &mut Scratch,
    ) -> Result<()> {
        let (n, xp, xp_off, ahead, h, c) = rows.parts();
        let u = config.options.units;
        let _ = c;
        let first = w.panel(0)?;
        let gates = &mut scratch.gates[..n * u];
        let h = &mut h[..n * u];
        recurrent(h, n, w.recurrent, first, gates, u)?;
        let rows = Rows {
            u,
            xp,
            xp_off: &xp_off[..n],
            ahead,
        };
        let a = Acts {
            activation: config.options.activation,
            recurrent: Activation::Linear,
        };
        let mode = mode(a.activation, a.recurrent, true);
        if mode == Mode::Fast && tensorweave_kernels::cells::available() {
            for (s, (z, h)) in gates.chunks_exact(u).zip(h.chunks_exact_mut(u)).enumerate() {
                tensorweave_kernels::cells::simple_row(z, rows.x(s, u), h);
                rows.prefetch_ahead(s, u);
            }
            return Ok(());
        }
        vectorized(mode, || simple(mode, &a, &rows, gates, h));
        Ok(())
    }
}

/// SimpleRNN: `h = tanh(x + h·U)`.
#[inline(always)]
fn simple(mode: Mode, a: &Acts, rows: &Rows<'_>, gates: &mut [f32], h: &mut [f32]) {
    let u = rows.u;
    let (act, _) = acts(mode, a.activation, a.recurrent);
    for (s, (z, h)) in gates
        .chunks_exact_mut(u)
        .zip(h.chunks_exact_mut(u))
        .enumerate()
    {
        add(z, rows.x(s, u));
        if mode == Mode::Block {
            apply(a.activation, z);
        } else {
            z.iter_mut().for_each(|v| *v = act(*v));
        }
        h.copy_from_slice(z);
    }
}
