//! The recurrent cells (Keras' `LSTMCell`, `GRUCell`, `SimpleRNNCell`): what a
//! cell must give the sequence loop ([`Cell`]), and the weights every cell has
//! ([`CellParams`]), checked and prepared for the kernels.
//!
//! Gate blocks stay fused as Keras stores them (`kernel [in, gates·units]`),
//! so the input projection is one matrix product and each step one
//! `[rows, units] × [units, gates·units]` product. What the kernels need besides
//! the weights themselves (the recurrent kernel packed into column panels for
//! the one-row product) is prepared once, when the weights are built or set
//! ([`CellParams::prepare`]), not at every call.

use std::borrow::Cow;
use std::fmt::Debug;
use tensorweave_core::format_dims;

use ndarray::ArrayD;
use rand::rngs::StdRng;
use tensorweave_core::{
    layer_rng, BuildContext, CallContext, Error, Layer, Param, Result, TensorSpec, Value,
};
use tensorweave_kernels::{same_bits, Mat, Panels};

use super::bptt::CellTraining;
use super::options::{RnnBuilder, RnnOptions};
use super::step::{Scratch, StepRows};
use crate::class::LayerBuilder;
use crate::util::{internal, known_last_dim};
use tensorweave_core::Inputs;

/// A recurrent cell: its weights and one step over the active rows of a
/// batch, run by the sequence loop of [`super::Rnn`]. The built-in cells are
/// [`RnnCell`]s over a [`CellKind`]; a cell with other weights implements
/// `Cell` itself.
pub trait Cell: Layer + Sized {
    /// The Keras class of the layer over this cell (`LSTM`).
    const LAYER_CLASS: &'static str;
    /// Keras' fixed name of the cell, used in weight paths (`lstm_cell`).
    const CELL_NAME: &'static str;
    /// The configuration of the layer over this cell (`Lstm`).
    type Builder: RnnBuilder + LayerBuilder + serde::Serialize + Debug + Send + Sync;

    /// The cell, without weights yet, for a layer configuration.
    fn from_builder(builder: &Self::Builder) -> Self;

    /// Number of gate blocks of `units` columns in the kernels (4 for LSTM).
    fn gates(&self) -> usize;

    /// Number of state tensors (2 for LSTM: `h`, `c`).
    fn states(&self) -> usize;

    /// The state size.
    fn units(&self) -> usize;

    /// The checked weights as slices for the kernels.
    fn weights(&self) -> Result<CellWeights<'_>>;

    /// Work buffers for steps of up to `rows` rows.
    fn scratch(&self, rows: usize) -> Scratch;

    /// Advances the active rows by one step (see [`StepRows`]).
    fn step(&self, w: &CellWeights<'_>, rows: StepRows<'_>, scratch: &mut Scratch) -> Result<()>;

    /// Number of input features the kernel was built for.
    fn input_dim(&self) -> usize;

    /// What the cell computes, for training (backpropagation through time
    /// over [`Cell::weights`]); `None` (the default) when the cell has no
    /// backward pass, so a model cannot be trained through it.
    fn training(&self) -> Option<CellTraining> {
        None
    }
}

/// What distinguishes one kind of cell with Keras' three weights (`kernel`,
/// `recurrent_kernel`, `bias`): its names, gate count, bias layout and step.
/// A new cell of this shape is one file: its builder, its kind, and one line
/// in the list of built-in layers for `Rnn<RnnCell<ItsKind>>`.
pub trait CellKind: Debug + Send + Sync + Sized + 'static {
    /// The Keras class of the cell (`LSTMCell`).
    const CELL_CLASS: &'static str;
    /// The Keras class of the layer over this cell (`LSTM`).
    const LAYER_CLASS: &'static str;
    /// Keras' fixed name of the cell, used in weight paths (`lstm_cell`).
    const CELL_NAME: &'static str;
    /// Number of gate blocks of `units` columns in the kernels.
    const GATES: usize;
    /// Number of state tensors.
    const STATES: usize;
    /// The configuration of the layer over this cell.
    type Builder: RnnBuilder + LayerBuilder + serde::Serialize + Debug + Send + Sync;

    /// How the bias is laid out (default: one input bias).
    fn bias_layout(_config: &Self::Builder) -> BiasLayout {
        BiasLayout::Input
    }

    /// How the recurrent kernel is packed (default: whole).
    fn packing(_config: &Self::Builder) -> Packing {
        Packing::Whole
    }

    /// The initial bias of `shape` (default: the bias initializer).
    fn draw_bias(config: &Self::Builder, shape: &[usize], rng: &mut StdRng) -> ArrayD<f32> {
        config.options().bias_initializer.sample(shape, rng)
    }

    /// Rows of the reset buffer for `rows` active rows (default none).
    fn reset_rows(_config: &Self::Builder, _rows: usize) -> usize {
        0
    }

    /// What the cell computes, for training (default: no backward pass).
    fn training(_config: &Self::Builder) -> Option<CellTraining> {
        None
    }

    /// One step over the active rows (see [`Cell::step`]), whose buffers have
    /// been checked to hold them.
    fn step(
        config: &Self::Builder,
        w: &CellWeights<'_>,
        rows: StepRows<'_>,
        scratch: &mut Scratch,
    ) -> Result<()>;
}

/// A cell of kind `K`: the layer's configuration and the cell's weights.
#[derive(Debug)]
pub struct RnnCell<K: CellKind> {
    config: K::Builder,
    params: CellParams,
}

impl<K: CellKind> RnnCell<K> {
    fn bias_shape(&self) -> Vec<usize> {
        // Saturating: an impossible size is refused by `CellParams::build`.
        let g = K::GATES.saturating_mul(self.units());
        match K::bias_layout(&self.config) {
            BiasLayout::Input => vec![g],
            BiasLayout::InputAndRecurrent => vec![2, g],
        }
    }
}

impl<K: CellKind> Layer for RnnCell<K> {
    fn class_name(&self) -> &str {
        K::CELL_CLASS
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    /// `inputs`: the spec of one step, `[batch, features]`.
    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        let input = inputs
            .first()
            .ok_or_else(|| Error::invalid("a cell is built for one step's input"))?;
        let mut rng = layer_rng(self.config.common().seed);
        let config = &self.config;
        self.params = CellParams::build(
            config.options(),
            K::GATES,
            &self.bias_shape(),
            known_last_dim(input)?,
            ctx,
            &mut rng,
            |shape, rng| K::draw_bias(config, shape, rng),
        )?;
        self.weights_changed();
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let batch = inputs
            .first()
            .and_then(|s| s.shape.first().copied())
            .flatten();
        Ok(vec![TensorSpec::f32(vec![batch, Some(self.units())])])
    }

    fn call(&self, _inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        Err(Error::invalid(format!(
            "a cell runs inside its recurrent layer; call the {} layer",
            K::LAYER_CLASS
        )))
    }

    fn params(&self) -> Vec<&Param> {
        self.params.params()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.params_mut()
    }

    fn weights_changed(&mut self) {
        let (bias, packing) = (K::bias_layout(&self.config), K::packing(&self.config));
        self.params.prepare(self.units(), K::GATES, bias, packing);
    }
}

impl<K: CellKind> Cell for RnnCell<K> {
    const LAYER_CLASS: &'static str = K::LAYER_CLASS;
    const CELL_NAME: &'static str = K::CELL_NAME;
    type Builder = K::Builder;

    fn from_builder(builder: &K::Builder) -> Self {
        RnnCell {
            config: builder.clone(),
            params: CellParams::default(),
        }
    }

    fn gates(&self) -> usize {
        K::GATES
    }

    fn states(&self) -> usize {
        K::STATES
    }

    fn units(&self) -> usize {
        self.config.options().units
    }

    fn input_dim(&self) -> usize {
        self.params.input_dim()
    }

    fn training(&self) -> Option<CellTraining> {
        K::training(&self.config)
    }

    fn weights(&self) -> Result<CellWeights<'_>> {
        let (bias, packing) = (K::bias_layout(&self.config), K::packing(&self.config));
        self.params.weights(self.units(), K::GATES, bias, packing)
    }

    fn scratch(&self, rows: usize) -> Scratch {
        let reset_rows = K::reset_rows(&self.config, rows);
        Scratch::new(rows, K::GATES * self.units(), reset_rows, self.units())
    }

    fn step(&self, w: &CellWeights<'_>, rows: StepRows<'_>, scratch: &mut Scratch) -> Result<()> {
        let (u, g, n) = (self.units(), K::GATES * self.units(), rows.n);
        let fits = rows.xp_off.len() >= n
            && rows.xp_off[..n].iter().all(|&o| o + g <= rows.xp.len())
            && rows.h.len() >= n * u
            && (K::STATES < 2 || rows.c.len() >= n * u)
            && scratch.gates.len() >= n * g;
        if !fits {
            return Err(Error::invalid(
                "internal: step buffers are smaller than the active rows",
            ));
        }
        if n == 0 {
            return Ok(());
        }
        K::step(&self.config, w, rows, scratch)
    }
}

/// How a cell's bias is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BiasLayout {
    /// One bias `[gates·units]`, added to the input projection.
    Input,
    /// GRU with `reset_after`: `[2, gates·units]`, input bias then recurrent bias.
    InputAndRecurrent,
}

/// How the recurrent kernel is packed for one-row products.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// All columns in one set of panels.
    Whole,
    /// GRU with the reset gate first: columns `[0, 2u)`, then `[2u, 3u)`.
    SplitAt2U,
}

/// The weights of a built cell: `kernel`, `recurrent_kernel`, `bias`, and the
/// recurrent kernel packed for the one-row product.
#[derive(Debug, Default)]
pub struct CellParams {
    kernel: Option<Param>,
    recurrent_kernel: Option<Param>,
    bias: Option<Param>,
    prepared: Option<Prepared>,
}

/// The recurrent kernel packed for [`tensorweave_kernels::gemv`], with a copy
/// of the weight it was made from: a weight changed in place without
/// [`CellParams::prepare`] is noticed, at the cost of one comparison per call
/// (a few µs for `[100, 400]`), and packed afresh for the call.
#[derive(Debug)]
struct Prepared {
    source: Vec<f32>,
    panels: Vec<Panels>,
}

/// The checked weights of a cell, as row-major slices, ready for the kernels.
#[derive(Debug)]
pub struct CellWeights<'a> {
    /// `kernel`, `[input_dim, gates·units]`.
    pub kernel: Mat<'a>,
    /// `recurrent_kernel`, `[units, gates·units]`.
    pub recurrent: Mat<'a>,
    /// The bias added to the input projection (`[gates·units]`).
    pub input_bias: Option<&'a [f32]>,
    /// GRU with `reset_after`: the bias of the recurrent product.
    pub recurrent_bias: Option<&'a [f32]>,
    /// `recurrent` packed for one-row products (see [`Packing`]).
    pub panels: Cow<'a, [Panels]>,
}

impl CellWeights<'_> {
    /// Packed panel `k` of the recurrent kernel (`0`: all gates, or a GRU's
    /// update and reset gates; `1`: a GRU's candidate).
    pub fn panel(&self, k: usize) -> Result<&Panels> {
        self.panels
            .get(k)
            .ok_or_else(|| Error::invalid("internal: no packed kernel"))
    }
}

impl CellParams {
    /// Creates the weights of a cell for inputs of `input_dim` features with
    /// the initializers of `options`; `bias` draws the bias (Keras' LSTM
    /// starts its forget gate at one) for its shape.
    pub fn build(
        options: &RnnOptions,
        gates: usize,
        bias_shape: &[usize],
        input_dim: usize,
        ctx: &mut BuildContext,
        rng: &mut StdRng,
        bias: impl FnOnce(&[usize], &mut StdRng) -> ArrayD<f32>,
    ) -> Result<CellParams> {
        let u = options.units;
        let g = gates.checked_mul(u).ok_or_else(|| {
            Error::invalid(format!("{gates} gates of {u} units do not fit in memory"))
        })?;
        let t = options.trainable;
        let kernel = ctx.add_weight(
            "kernel",
            &[input_dim, g],
            &options.kernel_initializer,
            t,
            rng,
        )?;
        let recurrent = ctx.add_weight(
            "recurrent_kernel",
            &[u, g],
            &options.recurrent_initializer,
            t,
            rng,
        )?;
        let bias = options
            .use_bias
            .then(|| ctx.add_weight_with("bias", bias_shape, t, |shape| bias(shape, rng)))
            .transpose()?;
        Ok(CellParams {
            kernel: Some(kernel),
            recurrent_kernel: Some(recurrent),
            bias,
            prepared: None,
        })
    }

    /// The weights in Keras' order.
    pub fn params(&self) -> Vec<&Param> {
        [&self.kernel, &self.recurrent_kernel, &self.bias]
            .into_iter()
            .flatten()
            .collect()
    }

    /// The weights in Keras' order, mutably.
    pub fn params_mut(&mut self) -> Vec<&mut Param> {
        [&mut self.kernel, &mut self.recurrent_kernel, &mut self.bias]
            .into_iter()
            .flatten()
            .collect()
    }

    /// Number of input features the kernel was built for (0 before the build).
    pub fn input_dim(&self) -> usize {
        self.kernel
            .as_ref()
            .and_then(|k| k.value.shape().first().copied())
            .unwrap_or(0)
    }

    /// Rebuilds the data derived from the weights (call after they change).
    /// Weights of the wrong shape leave nothing prepared; the next call
    /// reports them.
    pub fn prepare(&mut self, units: usize, gates: usize, bias: BiasLayout, packing: Packing) {
        self.prepared = None;
        for p in self.params_mut() {
            if !p.value.is_standard_layout() {
                p.value = p.value.as_standard_layout().into_owned();
            }
        }
        let prepared = self.weights(units, gates, bias, packing).map(|w| Prepared {
            source: w.recurrent.data.to_vec(),
            panels: w.panels.into_owned(),
        });
        self.prepared = prepared.ok();
    }

    /// Checks that the weights still have the shapes the cell needs (they can
    /// be replaced from outside) and returns them as slices.
    pub fn weights(
        &self,
        units: usize,
        gates: usize,
        bias_layout: BiasLayout,
        packing: Packing,
    ) -> Result<CellWeights<'_>> {
        let (u, g) = (units, gates * units);
        let f = self.input_dim();
        let (Some(kernel), Some(recurrent)) = (&self.kernel, &self.recurrent_kernel) else {
            return Err(Error::invalid("called before it was built"));
        };
        let kernel = Mat::dense(weight_slice(kernel, &[f, g])?, f, g);
        let recurrent = Mat::dense(weight_slice(recurrent, &[u, g])?, u, g);
        let (input_bias, recurrent_bias) = match (&self.bias, bias_layout) {
            (None, _) => (None, None),
            (Some(b), BiasLayout::InputAndRecurrent) => {
                let (input, rec) = weight_slice(b, &[2, g])?.split_at(g);
                (Some(input), Some(rec))
            }
            (Some(b), BiasLayout::Input) => (Some(weight_slice(b, &[g])?), None),
        };
        let panels = match &self.prepared {
            Some(p) if same_bits(&p.source, recurrent.data) => Cow::Borrowed(p.panels.as_slice()),
            _ => Cow::Owned(match packing {
                Packing::SplitAt2U => vec![
                    Panels::pack(recurrent.columns(0, 2 * u)).map_err(internal)?,
                    Panels::pack(recurrent.columns(2 * u, u)).map_err(internal)?,
                ],
                Packing::Whole => vec![Panels::pack(recurrent).map_err(internal)?],
            }),
        };
        Ok(CellWeights {
            kernel,
            recurrent,
            input_bias,
            recurrent_bias,
            panels,
        })
    }
}

fn weight_slice<'a>(p: &'a Param, shape: &[usize]) -> Result<&'a [f32]> {
    if p.value.shape() != shape {
        return Err(Error::invalid(format!(
            "weight `{}` has shape {}, but this layer needs {}; set weights with the shapes \
             from `weight_specs()`",
            p.name,
            format_dims(p.value.shape()),
            format_dims(shape)
        )));
    }
    p.value.as_slice().ok_or_else(|| {
        Error::invalid(format!(
            "weight `{}` is not in standard (row-major) layout; set it from a standard array",
            p.name
        ))
    })
}
