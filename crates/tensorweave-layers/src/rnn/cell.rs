//! The recurrent cells: their weights (Keras' `LSTMCell`, `GRUCell`,
//! `SimpleRNNCell`), checked and prepared for the kernels.
//!
//! Gate blocks stay fused as Keras stores them (`kernel [in, gates·units]`),
//! so the input projection is one matrix product and each step one
//! `[rows, units] × [units, gates·units]` product. What the kernels need besides
//! the weights themselves (the recurrent kernel packed into column panels for
//! the one-row product) is prepared once, when the layer is built or its
//! weights are set ([`Cell::prepare`]), not at every call.

use std::borrow::Cow;

use rand::rngs::StdRng;
use tensorweave_core::{Error, Initializer, Param, Result};

use super::options::RnnOptions;
use crate::activations::Activation;
use crate::util::internal;
use tensorweave_kernels::{same_bits, Mat, Panels};

/// Which cell, with the options that change its weights or its step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellKind {
    /// LSTM: gates i, f, c, o; states h, c.
    Lstm,
    /// GRU: gates z, r, h; state h.
    Gru {
        /// Reset gate after the recurrent product (bias `[2, 3u]`).
        reset_after: bool,
    },
    /// SimpleRNN: one block; state h.
    Simple,
}

impl CellKind {
    /// Number of gate blocks of `units` columns in the kernels.
    pub(crate) fn gates(self) -> usize {
        match self {
            CellKind::Lstm => 4,
            CellKind::Gru { .. } => 3,
            CellKind::Simple => 1,
        }
    }

    /// Number of state tensors (`[h, c]` for LSTM, `[h]` otherwise).
    pub(crate) fn n_states(self) -> usize {
        match self {
            CellKind::Lstm => 2,
            _ => 1,
        }
    }

    /// Keras' fixed cell name, used in weight paths (`lstm_cell/kernel`).
    pub(crate) fn cell_name(self) -> &'static str {
        match self {
            CellKind::Lstm => "lstm_cell",
            CellKind::Gru { .. } => "gru_cell",
            CellKind::Simple => "simple_rnn_cell",
        }
    }
}

/// A built cell: activations and weights.
#[derive(Debug)]
pub(crate) struct Cell {
    pub(crate) kind: CellKind,
    pub(crate) units: usize,
    pub(crate) activation: Activation,
    pub(crate) recurrent_activation: Activation,
    pub(crate) kernel: Param,
    pub(crate) recurrent_kernel: Param,
    pub(crate) bias: Option<Param>,
    /// Data derived from the weights, rebuilt by [`Cell::prepare`].
    prepared: Option<Prepared>,
}

/// The recurrent kernel packed for [`super::kernels::gemv`], with a copy of
/// the weight it was made from: a weight changed without [`Cell::prepare`]
/// being called (through `visit_params_mut` alone) is noticed, at the cost of
/// one comparison per call (a few µs for `[100, 400]`), and packed afresh for
/// the call.
#[derive(Debug)]
struct Prepared {
    source: Vec<f32>,
    panels: Vec<Panels>,
}

/// The checked weights of a cell, as row-major slices, ready for the kernels.
#[derive(Debug)]
pub(crate) struct CellWeights<'a> {
    /// `kernel`, `[input_dim, gates·units]`.
    pub(crate) kernel: Mat<'a>,
    /// `recurrent_kernel`, `[units, gates·units]`.
    pub(crate) recurrent: Mat<'a>,
    /// The bias added to the input projection (`[gates·units]`).
    pub(crate) input_bias: Option<&'a [f32]>,
    /// GRU with `reset_after`: the bias of the recurrent product.
    pub(crate) recurrent_bias: Option<&'a [f32]>,
    /// `recurrent` packed for one-row products: all columns, or for the GRU
    /// with the reset gate first, columns `[0, 2u)` then `[2u, 3u)`.
    pub(crate) panels: Cow<'a, [Panels]>,
}

impl Cell {
    /// Creates the weights for inputs of `input_dim` features with the
    /// initializers of `options`; `unit_forget_bias` is LSTM's option.
    pub(crate) fn init(
        kind: CellKind,
        options: &RnnOptions,
        recurrent_activation: Activation,
        unit_forget_bias: bool,
        input_dim: usize,
        rng: &mut StdRng,
    ) -> Cell {
        let u = options.units;
        let g = kind.gates() * u;
        let param = |name: &str, value| Param {
            name: name.to_string(),
            value,
            trainable: options.trainable,
        };
        let kernel = options.kernel_initializer.sample(&[input_dim, g], rng);
        let recurrent = options.recurrent_initializer.sample(&[u, g], rng);
        let bias = options.use_bias.then(|| {
            let init = &options.bias_initializer;
            let value = match kind {
                CellKind::Lstm if unit_forget_bias => {
                    // Keras: concat[init(u), ones(u), init(2u)].
                    let first = init.sample(&[u], rng);
                    let ones = Initializer::Ones.sample(&[u], rng);
                    let rest = init.sample(&[2 * u], rng);
                    let data: Vec<f32> = first.iter().chain(&ones).chain(&rest).copied().collect();
                    ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(&[g]), data)
                        .unwrap_or_else(|_| ndarray::ArrayD::zeros(ndarray::IxDyn(&[g])))
                }
                CellKind::Gru { reset_after: true } => init.sample(&[2, g], rng),
                _ => init.sample(&[g], rng),
            };
            param("bias", value)
        });
        Cell {
            kind,
            units: u,
            activation: options.activation,
            recurrent_activation,
            kernel: param("kernel", kernel),
            recurrent_kernel: param("recurrent_kernel", recurrent),
            bias,
            prepared: None,
        }
    }

    /// The weights in Keras' order.
    pub(crate) fn params(&self) -> impl Iterator<Item = &Param> {
        [
            Some(&self.kernel),
            Some(&self.recurrent_kernel),
            self.bias.as_ref(),
        ]
        .into_iter()
        .flatten()
    }

    /// The weights in Keras' order, mutably.
    pub(crate) fn params_mut(&mut self) -> impl Iterator<Item = &mut Param> {
        [
            Some(&mut self.kernel),
            Some(&mut self.recurrent_kernel),
            self.bias.as_mut(),
        ]
        .into_iter()
        .flatten()
    }

    /// Number of input features the kernel was built for.
    pub(crate) fn input_dim(&self) -> usize {
        self.kernel.value.shape().first().copied().unwrap_or(0)
    }

    /// Rebuilds the data derived from the weights (call after they change).
    /// Weights of the wrong shape leave nothing prepared; the next call
    /// reports them.
    pub(crate) fn prepare(&mut self) {
        self.prepared = None;
        for p in self.params_mut() {
            if !p.value.is_standard_layout() {
                p.value = p.value.as_standard_layout().into_owned();
            }
        }
        let prepared = self.weights().map(|w| Prepared {
            source: w.recurrent.data.to_vec(),
            panels: w.panels.into_owned(),
        });
        self.prepared = prepared.ok();
    }

    /// Checks that the weights still have the shapes this cell needs (they are
    /// public through `visit_params_mut`) and returns them as slices.
    pub(crate) fn weights(&self) -> Result<CellWeights<'_>> {
        let u = self.units;
        let g = self.kind.gates() * u;
        let f = self.input_dim();
        let kernel = Mat::dense(weight_slice(&self.kernel, &[f, g])?, f, g);
        let recurrent = Mat::dense(weight_slice(&self.recurrent_kernel, &[u, g])?, u, g);
        let (input_bias, recurrent_bias) = match (&self.bias, self.kind) {
            (None, _) => (None, None),
            (Some(b), CellKind::Gru { reset_after: true }) => {
                let (input, rec) = weight_slice(b, &[2, g])?.split_at(g);
                (Some(input), Some(rec))
            }
            (Some(b), _) => (Some(weight_slice(b, &[g])?), None),
        };
        let panels = match &self.prepared {
            Some(p) if same_bits(&p.source, recurrent.data) => Cow::Borrowed(p.panels.as_slice()),
            _ => Cow::Owned(match self.kind {
                CellKind::Gru { reset_after: false } => vec![
                    Panels::pack(recurrent.columns(0, 2 * u)).map_err(internal)?,
                    Panels::pack(recurrent.columns(2 * u, u)).map_err(internal)?,
                ],
                _ => vec![Panels::pack(recurrent).map_err(internal)?],
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
            "weight `{}` has shape {:?}, but this layer needs {:?}; set weights with the shapes \
             from `weight_specs()`",
            p.name,
            p.value.shape(),
            shape
        )));
    }
    p.value.as_slice().ok_or_else(|| {
        Error::invalid(format!(
            "weight `{}` is not in standard (row-major) layout; set it from a standard array",
            p.name
        ))
    })
}
