//! `LSTM`: long short-term memory, gates in Keras' order i, f, c, o. The
//! builder, the cell (`LSTMCell`: weights and one step) and the layer type.

use std::any::Any;

use ndarray::{ArrayD, IxDyn};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    layer_rng, BuildContext, CallContext, Error, Layer, Param, Result, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use super::cell::{BiasLayout, Cell, CellParams, CellWeights, Packing};
use super::layer::Rnn;
use super::options::{rnn_builder, RnnOptions};
use super::step::{acts, add, apply, mode, recurrent, vectorized, Acts, Mode, Rows, Scratch};
use crate::activations::Activation;
use crate::class::Common;
use crate::util::known_last_dim;

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

impl Lstm {
    /// An LSTM with `units` units and Keras' defaults.
    pub fn new(units: usize) -> Self {
        Lstm {
            options: RnnOptions::with_units(units),
            ..Default::default()
        }
    }
}

rnn_builder!(Lstm);

/// The `LSTM` layer.
pub type LstmLayer = Rnn<LstmCell>;

/// Keras' `LSTMCell`: the weights of an LSTM and one step.
#[derive(Debug)]
pub struct LstmCell {
    config: Lstm,
    params: CellParams,
}

impl LstmCell {
    fn acts(&self) -> Acts {
        Acts {
            activation: self.config.options.activation,
            recurrent: self.config.recurrent_activation,
        }
    }
}

impl Layer for LstmCell {
    fn class_name(&self) -> &str {
        "LSTMCell"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    /// `inputs`: the spec of one step, `[batch, features]`.
    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        let input = inputs
            .first()
            .ok_or_else(|| Error::invalid("a cell is built for one step's input"))?;
        let o = &self.config.options;
        let u = o.units;
        let forget_ones = self.config.unit_forget_bias;
        let mut rng = layer_rng(self.config.common.seed);
        self.params = CellParams::build(
            o,
            4,
            &[4 * u],
            known_last_dim(input)?,
            ctx,
            &mut rng,
            |shape, rng| {
                if !forget_ones {
                    return o.bias_initializer.sample(shape, rng);
                }
                // Keras: concat[init(u), ones(u), init(2u)].
                let first = o.bias_initializer.sample(&[u], rng);
                let rest = o.bias_initializer.sample(&[2 * u], rng);
                let data: Vec<f32> = first
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(1.0, u))
                    .chain(rest.iter().copied())
                    .collect();
                ArrayD::from_shape_vec(IxDyn(shape), data)
                    .unwrap_or_else(|_| ArrayD::zeros(IxDyn(shape)))
            },
        )?;
        self.weights_changed();
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let batch = inputs
            .first()
            .and_then(|s| s.shape.first().copied())
            .flatten();
        Ok(vec![TensorSpec::f32(vec![
            batch,
            Some(self.config.options.units),
        ])])
    }

    fn call(
        &self,
        _inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        Err(Error::invalid(
            "a cell runs inside its recurrent layer; call the LSTM layer",
        ))
    }

    fn params(&self) -> Vec<&Param> {
        self.params.params()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.params_mut()
    }

    fn weights_changed(&mut self) {
        let u = self.config.options.units;
        self.params.prepare(u, 4, BiasLayout::Input, Packing::Whole);
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Cell for LstmCell {
    const LAYER_CLASS: &'static str = "LSTM";
    const CELL_NAME: &'static str = "lstm_cell";
    type Builder = Lstm;

    fn from_builder(builder: &Lstm) -> Self {
        LstmCell {
            config: builder.clone(),
            params: CellParams::default(),
        }
    }

    fn gates(&self) -> usize {
        4
    }

    fn states(&self) -> usize {
        2
    }

    fn units(&self) -> usize {
        self.config.options.units
    }

    fn input_dim(&self) -> usize {
        self.params.input_dim()
    }

    fn weights(&self) -> Result<CellWeights<'_>> {
        self.params
            .weights(self.units(), 4, BiasLayout::Input, Packing::Whole)
    }

    fn scratch(&self, rows: usize) -> Scratch {
        Scratch::new(rows, 4 * self.units(), 0, self.units())
    }

    fn step(
        &self,
        w: &CellWeights<'_>,
        n: usize,
        xp: &[f32],
        xp_off: &[usize],
        h: &mut [f32],
        c: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<()> {
        let u = self.units();
        let g = 4 * u;
        check_buffers(n, g, u, xp, xp_off, h, Some(&*c), scratch)?;
        if n == 0 {
            return Ok(());
        }
        let first = w
            .panels
            .first()
            .ok_or_else(|| Error::invalid("internal: no packed kernel"))?;
        let gates = &mut scratch.gates[..n * g];
        let (h, c) = (&mut h[..n * u], &mut c[..n * u]);
        recurrent(h, n, w.recurrent, first, gates, g)?;
        let rows = Rows {
            u,
            xp,
            xp_off: &xp_off[..n],
        };
        let a = self.acts();
        let mode = mode(a.activation, a.recurrent, false);
        if mode == Mode::Fast && tensorweave_kernels::lstm::available() {
            let rows_iter = gates
                .chunks_exact(4 * u)
                .zip(h.chunks_exact_mut(u))
                .zip(c.chunks_exact_mut(u));
            for (s, ((z, h), c)) in rows_iter.enumerate() {
                tensorweave_kernels::lstm::lstm_row(z, rows.x(s, 4 * u), c, h);
            }
            return Ok(());
        }
        vectorized(mode, || lstm(mode, &a, &rows, gates, h, c));
        Ok(())
    }
}

/// Checks that the step buffers hold the `n` active rows.
#[allow(clippy::too_many_arguments)]
pub(crate) fn check_buffers(
    n: usize,
    g: usize,
    u: usize,
    xp: &[f32],
    xp_off: &[usize],
    h: &[f32],
    c: Option<&[f32]>,
    scratch: &Scratch,
) -> Result<()> {
    let fits = xp_off.len() >= n
        && xp_off[..n].iter().all(|&o| o + g <= xp.len())
        && h.len() >= n * u
        && c.is_none_or(|c| c.len() >= n * u)
        && scratch.gates.len() >= n * g;
    if fits {
        Ok(())
    } else {
        Err(Error::invalid(
            "internal: step buffers are smaller than the active rows",
        ))
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
