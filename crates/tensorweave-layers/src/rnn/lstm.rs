//! `LSTM`: long short-term memory, gates in Keras' order i, f, c, o. The
//! builder, the cell (`LSTMCell`: weights and one step) and the layer type.

use ndarray::{ArrayD, IxDyn};
use rand::rngs::StdRng;
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

/// Builder and configuration of an `LSTM` layer (Keras' `layers.LSTM`).
///
/// Weights: `kernel [input_dim, 4·units]`, `recurrent_kernel [units, 4·units]`,
/// `bias [4·units]`, gate blocks in the order input, forget, candidate, output.
/// One step computes `z = x·kernel + h·recurrent_kernel + bias`,
/// `c = σ(z_f)·c + σ(z_i)·tanh(z_c)`, `h = σ(z_o)·tanh(c)`. The shared
/// recurrent options have the setters of every recurrent builder ([`RnnOptions`]).
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([None, Some(8)]).build();
/// let outs = Lstm::new(4).return_sequences(true).return_state(true).call_all(&x).unwrap();
/// assert_eq!(outs[0].shape(), &vec![None, None, Some(4)]);
/// assert_eq!(outs.len(), 3); // output, h, c
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(LstmLayer)]
pub struct Lstm {
    /// Options shared by every recurrent layer.
    #[serde(flatten)]
    #[config(skip)]
    pub options: RnnOptions,
    /// Activation of the input, forget and output gates (default exact sigmoid).
    #[config(default = Activation::Sigmoid)]
    pub recurrent_activation: Activation,
    /// Initialise the forget-gate bias to ones (default true): the bias starts as
    /// `[init(u), ones(u), init(2u)]`.
    #[config(default = true)]
    pub unit_forget_bias: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

rnn_builder!(Lstm {
    layer: LstmLayer,
    kind: LstmKind,
    cell: LstmCell,
    class: "LSTM",
    cell_class: "LSTMCell",
});

impl CellKind for LstmKind {
    const CELL_CLASS: &'static str = "LSTMCell";
    const LAYER_CLASS: &'static str = "LSTM";
    const CELL_NAME: &'static str = "lstm_cell";
    const GATES: usize = 4;
    const STATES: usize = 2;
    type Builder = Lstm;

    /// Keras' `unit_forget_bias`: `concat[init(u), ones(u), init(2u)]`.
    fn draw_bias(config: &Lstm, shape: &[usize], rng: &mut StdRng) -> ArrayD<f32> {
        let (o, u) = (&config.options, config.options.units);
        if !config.unit_forget_bias {
            return o.bias_initializer.sample(shape, rng);
        }
        let first = o.bias_initializer.sample(&[u], rng);
        let rest = o.bias_initializer.sample(&[2 * u], rng);
        let data: Vec<f32> = first
            .iter()
            .copied()
            .chain(std::iter::repeat_n(1.0, u))
            .chain(rest.iter().copied())
            .collect();
        ArrayD::from_shape_vec(IxDyn(shape), data).unwrap_or_else(|_| ArrayD::zeros(IxDyn(shape)))
    }

    fn training(config: &Lstm) -> Option<CellTraining> {
        Some(CellTraining {
            math: CellMath::Lstm,
            activation: config.options.activation,
            recurrent_activation: config.recurrent_activation,
        })
    }

    fn step(
        config: &Lstm,
        w: &CellWeights<'_>,
        rows: StepRows<'_>,
        scratch: &mut Scratch,
    ) -> Result<()> {
        let (n, xp, xp_off, ahead, h, c) = rows.parts();
        let u = config.options.units;
        let g = 4 * u;
        let first = w.panel(0)?;
        let gates = &mut scratch.gates[..n * g];
        let (h, c) = (&mut h[..n * u], &mut c[..n * u]);
        recurrent(h, n, w.recurrent, first, gates, g)?;
        let rows = Rows {
            u,
            xp,
            xp_off: &xp_off[..n],
            ahead,
        };
        let a = Acts {
            activation: config.options.activation,
            recurrent: config.recurrent_activation,
        };
        let mode = mode(a.activation, a.recurrent, false);
        if mode == Mode::Fast && tensorweave_kernels::cells::available() {
            let rows_iter = gates
                .chunks_exact(4 * u)
                .zip(h.chunks_exact_mut(u))
                .zip(c.chunks_exact_mut(u));
            for (s, ((z, h), c)) in rows_iter.enumerate() {
                tensorweave_kernels::cells::lstm_row(z, rows.x(s, 4 * u), c, h);
                rows.prefetch_ahead(s, 4 * u);
            }
            return Ok(());
        }
        vectorized(mode, || lstm(mode, &a, &rows, gates, h, c));
        Ok(())
    }
}

/// LSTM: `z = x + h·U`; `c = σ(z_f)·c + σ(z_i)·tanh(z_c)`; `h = σ(z_o)·tanh(c)`.
#[inline(always)]
fn lstm(mode: Mode, a: &Acts, rows: &Rows<'_>, gates: &mut [f32], h: &mut [f32], c: &mut [f32]) {
    let u = rows.u;
    let rows_iter = gates
        .chunks_exact_mut(4 * u)
        .zip(h.chunks_exact_mut(u))
        .zip(c.chunks_exact_mut(u))
        .enumerate();
    if mode == Mode::Block {
        for (s, ((z, h), c)) in rows_iter {
            add(z, rows.x(s, 4 * u));
            let (i, rest) = z.split_at_mut(u);
            let (f, rest) = rest.split_at_mut(u);
            let (cand, o) = rest.split_at_mut(u);
            for (block, a) in [
                (&mut *i, a.recurrent),
                (&mut *f, a.recurrent),
                (&mut *cand, a.activation),
                (&mut *o, a.recurrent),
            ] {
                apply(a, block);
            }
            for (((cv, &iv), &fv), g) in c.iter_mut().zip(&*i).zip(&*f).zip(cand.iter_mut()) {
                *cv = fv * *cv + iv * *g;
                *g = *cv;
            }
            apply(a.activation, cand);
            for ((hv, &ov), &tc) in h.iter_mut().zip(&*o).zip(&*cand) {
                *hv = ov * tc;
            }
        }
        return;
    }
    let (act, sig) = acts(mode, a.activation, a.recurrent);
    for (s, ((z, h), c)) in rows_iter {
        let x = rows.x(s, 4 * u);
        let (zi, zf, zc, zo) = (&z[..u], &z[u..2 * u], &z[2 * u..3 * u], &z[3 * u..4 * u]);
        let (xi, xf, xc, xo) = (&x[..u], &x[u..2 * u], &x[2 * u..3 * u], &x[3 * u..4 * u]);
        for j in 0..u {
            let i = sig(zi[j] + xi[j]);
            let f = sig(zf[j] + xf[j]);
            let g = act(zc[j] + xc[j]);
            let o = sig(zo[j] + xo[j]);
            let cn = f * c[j] + i * g;
            c[j] = cn;
            h[j] = o * act(cn);
        }
    }
}
