//! `SimpleRNN`: `h = activation(x·kernel + bias + h_prev·recurrent_kernel)`.
//! The builder, the cell (`SimpleRNNCell`) and the layer type.

use std::any::Any;

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    layer_rng, BuildContext, CallContext, Error, Layer, Param, Result, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use super::cell::{plain_bias, BiasLayout, Cell, CellParams, CellWeights, Packing};
use super::layer::Rnn;
use super::lstm::check_buffers;
use super::options::{rnn_builder, RnnOptions};
use super::step::{acts, add, apply, mode, recurrent, vectorized, Acts, Mode, Rows, Scratch};
use crate::activations::Activation;
use crate::class::Common;
use crate::util::known_last_dim;

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

impl SimpleRnn {
    /// A simple RNN with `units` units and Keras' defaults.
    pub fn new(units: usize) -> Self {
        SimpleRnn {
            options: RnnOptions::with_units(units),
            ..Default::default()
        }
    }
}

rnn_builder!(SimpleRnn);

/// The `SimpleRNN` layer.
pub type SimpleRnnLayer = Rnn<SimpleRnnCell>;

/// Keras' `SimpleRNNCell`: the weights of a simple RNN and one step.
#[derive(Debug)]
pub struct SimpleRnnCell {
    config: SimpleRnn,
    params: CellParams,
}

impl Layer for SimpleRnnCell {
    fn class_name(&self) -> &str {
        "SimpleRNNCell"
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
        let mut rng = layer_rng(self.config.common.seed);
        self.params = CellParams::build(
            o,
            1,
            &[o.units],
            known_last_dim(input)?,
            ctx,
            &mut rng,
            plain_bias(o),
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
            "a cell runs inside its recurrent layer; call the recurrent layer",
        ))
    }

    fn params(&self) -> Vec<&Param> {
        self.params.params()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.params_mut()
    }

    fn weights_changed(&mut self) {
        self.params.prepare(
            self.config.options.units,
            1,
            BiasLayout::Input,
            Packing::Whole,
        );
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Cell for SimpleRnnCell {
    const LAYER_CLASS: &'static str = "SimpleRNN";
    const CELL_NAME: &'static str = "simple_rnn_cell";
    type Builder = SimpleRnn;

    fn from_builder(builder: &SimpleRnn) -> Self {
        SimpleRnnCell {
            config: builder.clone(),
            params: CellParams::default(),
        }
    }

    fn gates(&self) -> usize {
        1
    }

    fn states(&self) -> usize {
        1
    }

    fn units(&self) -> usize {
        self.config.options.units
    }

    fn input_dim(&self) -> usize {
        self.params.input_dim()
    }

    fn weights(&self) -> Result<CellWeights<'_>> {
        self.params
            .weights(self.units(), 1, BiasLayout::Input, Packing::Whole)
    }

    fn scratch(&self, rows: usize) -> Scratch {
        Scratch::new(rows, self.units(), 0, self.units())
    }

    fn step(
        &self,
        w: &CellWeights<'_>,
        n: usize,
        xp: &[f32],
        xp_off: &[usize],
        h: &mut [f32],
        _c: &mut [f32],
        scratch: &mut Scratch,
    ) -> Result<()> {
        let u = self.units();
        check_buffers(n, u, u, xp, xp_off, h, None, scratch)?;
        if n == 0 {
            return Ok(());
        }
        let first = w
            .panels
            .first()
            .ok_or_else(|| Error::invalid("internal: no packed kernel"))?;
        let gates = &mut scratch.gates[..n * u];
        let h = &mut h[..n * u];
        recurrent(h, n, w.recurrent, first, gates, u)?;
        let rows = Rows {
            u,
            xp,
            xp_off: &xp_off[..n],
        };
        let a = Acts {
            activation: self.config.options.activation,
            recurrent: Activation::Linear,
        };
        let mode = mode(a.activation, a.recurrent, true);
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
