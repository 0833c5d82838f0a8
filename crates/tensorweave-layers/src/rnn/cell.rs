//! The recurrent cells: their weights (Keras' `LSTMCell`, `GRUCell`,
//! `SimpleRNNCell`) and their step kernels.
//!
//! A step receives the input projection `x·kernel + input_bias` of the current
//! time step (computed for all steps at once by the sequence loop), multiplies
//! the previous `h` by `recurrent_kernel` with one GEMM into a preallocated
//! buffer, then updates the states row by row in one fused pass.

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView1, ArrayView2, Axis, Ix1, Ix2};
use rand::rngs::StdRng;
use tensorweave_core::{Error, Initializer, Param, Result};

use super::options::RnnOptions;
use crate::activations::Activation;

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
}

/// The per-sequence work buffers of a step, allocated once per sequence.
#[derive(Debug)]
pub(crate) struct StepState {
    /// Hidden state `[batch, units]`; after a step, the new state.
    pub(crate) h: Array2<f32>,
    /// Cell state `[batch, units]` (LSTM only, else empty).
    pub(crate) c: Array2<f32>,
    h_new: Array2<f32>,
    c_new: Array2<f32>,
    /// `h·recurrent_kernel`, then the gate values `[batch, gates·units]`.
    gates: Array2<f32>,
    /// `r·h_prev` for the GRU with the reset gate before the product.
    reset_h: Array2<f32>,
}

impl StepState {
    /// Zero states for `batch` rows.
    pub(crate) fn new(kind: CellKind, batch: usize, units: usize) -> Self {
        let lstm = kind == CellKind::Lstm;
        let state_rows = if lstm { batch } else { 0 };
        let reset_rows = if kind == (CellKind::Gru { reset_after: false }) {
            batch
        } else {
            0
        };
        StepState {
            h: Array2::zeros((batch, units)),
            c: Array2::zeros((state_rows, units)),
            h_new: Array2::zeros((batch, units)),
            c_new: Array2::zeros((state_rows, units)),
            gates: Array2::zeros((batch, kind.gates() * units)),
            reset_h: Array2::zeros((reset_rows, units)),
        }
    }
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

    /// Checks that the weights still have the shapes this cell needs (they are
    /// public through `visit_params_mut`) and returns typed views of them.
    pub(crate) fn views(&self) -> Result<CellViews<'_>> {
        let u = self.units;
        let g = self.kind.gates() * u;
        let f = self.input_dim();
        let kernel = weight_view::<Ix2>(&self.kernel, &[f, g])?;
        let recurrent = weight_view::<Ix2>(&self.recurrent_kernel, &[u, g])?;
        let (input_bias, recurrent_bias) = match (&self.bias, self.kind) {
            (None, _) => (None, None),
            (Some(b), CellKind::Gru { reset_after: true }) => {
                let b = weight_view::<Ix2>(b, &[2, g])?;
                let recurrent_bias = b.row(1).to_vec();
                (Some(b.index_axis_move(Axis(0), 0)), Some(recurrent_bias))
            }
            (Some(b), _) => (Some(weight_view::<Ix1>(b, &[g])?), None),
        };
        Ok(CellViews {
            kernel,
            recurrent,
            input_bias,
            recurrent_bias,
        })
    }

    /// `x·kernel + input_bias` for every row of `x` (`[n, input_dim]`).
    pub(crate) fn project(&self, views: &CellViews<'_>, x: ArrayView2<'_, f32>) -> Array2<f32> {
        let mut out = x.dot(&views.kernel);
        if let Some(b) = &views.input_bias {
            out += b;
        }
        out
    }

    /// One step for all rows: reads the projection `xp` (`[batch, gates·units]`)
    /// and the states in `st`, leaves the new states in `st.h` / `st.c`. Rows
    /// whose `valid` flag is false keep their previous states.
    pub(crate) fn step(
        &self,
        views: &CellViews<'_>,
        xp: ArrayView2<'_, f32>,
        valid: &[bool],
        st: &mut StepState,
    ) -> Result<()> {
        let u = self.units;
        let g = self.kind.gates() * u;
        let xp = contiguous(xp)?;
        match self.kind {
            CellKind::Lstm => {
                general_mat_mul(1.0, &st.h, &views.recurrent, 0.0, &mut st.gates);
                let rows = slices(&mut st.gates)?
                    .chunks_exact_mut(g)
                    .zip(xp.chunks_exact(g))
                    .zip(slice(&st.h)?.chunks_exact(u))
                    .zip(slice(&st.c)?.chunks_exact(u))
                    .zip(slices(&mut st.h_new)?.chunks_exact_mut(u))
                    .zip(slices(&mut st.c_new)?.chunks_exact_mut(u))
                    .zip(valid);
                for ((((((z, x), h), c), h_new), c_new), &ok) in rows {
                    if ok {
                        self.lstm_row(z, x, c, h_new, c_new);
                    } else {
                        h_new.copy_from_slice(h);
                        c_new.copy_from_slice(c);
                    }
                }
                std::mem::swap(&mut st.c, &mut st.c_new);
            }
            CellKind::Gru { reset_after: true } => {
                general_mat_mul(1.0, &st.h, &views.recurrent, 0.0, &mut st.gates);
                let rb = views.recurrent_bias.as_deref();
                let rows = slices(&mut st.gates)?
                    .chunks_exact_mut(g)
                    .zip(xp.chunks_exact(g))
                    .zip(slice(&st.h)?.chunks_exact(u))
                    .zip(slices(&mut st.h_new)?.chunks_exact_mut(u))
                    .zip(valid);
                for ((((z, x), h), h_new), &ok) in rows {
                    if ok {
                        self.gru_after_row(z, x, rb, h, h_new);
                    } else {
                        h_new.copy_from_slice(h);
                    }
                }
            }
            CellKind::Gru { reset_after: false } => {
                // z and r from h·U[:, :2u]; then the candidate from (r·h)·U[:, 2u:].
                let u_zr = views.recurrent.slice(s![.., ..2 * u]);
                let u_h = views.recurrent.slice(s![.., 2 * u..]);
                general_mat_mul(
                    1.0,
                    &st.h,
                    &u_zr,
                    0.0,
                    &mut st.gates.slice_mut(s![.., ..2 * u]),
                );
                let rows = slices(&mut st.gates)?
                    .chunks_exact_mut(g)
                    .zip(xp.chunks_exact(g))
                    .zip(slice(&st.h)?.chunks_exact(u))
                    .zip(slices(&mut st.reset_h)?.chunks_exact_mut(u));
                for (((z, x), h), rh) in rows {
                    let (zr, _) = z.split_at_mut(2 * u);
                    for (v, xv) in zr.iter_mut().zip(x) {
                        *v += xv;
                    }
                    apply(self.recurrent_activation, zr);
                    for ((out, r), hv) in rh.iter_mut().zip(&zr[u..]).zip(h) {
                        *out = r * hv;
                    }
                }
                general_mat_mul(
                    1.0,
                    &st.reset_h,
                    &u_h,
                    0.0,
                    &mut st.gates.slice_mut(s![.., 2 * u..]),
                );
                let rows = slices(&mut st.gates)?
                    .chunks_exact_mut(g)
                    .zip(xp.chunks_exact(g))
                    .zip(slice(&st.h)?.chunks_exact(u))
                    .zip(slices(&mut st.h_new)?.chunks_exact_mut(u))
                    .zip(valid);
                for ((((z, x), h), h_new), &ok) in rows {
                    if !ok {
                        h_new.copy_from_slice(h);
                        continue;
                    }
                    let (zr, hh) = z.split_at_mut(2 * u);
                    for (v, xv) in hh.iter_mut().zip(&x[2 * u..]) {
                        *v += xv;
                    }
                    apply(self.activation, hh);
                    mix(&zr[..u], h, hh, h_new);
                }
            }
            CellKind::Simple => {
                general_mat_mul(1.0, &st.h, &views.recurrent, 0.0, &mut st.gates);
                let rows = slices(&mut st.gates)?
                    .chunks_exact_mut(g)
                    .zip(xp.chunks_exact(g))
                    .zip(slice(&st.h)?.chunks_exact(u))
                    .zip(slices(&mut st.h_new)?.chunks_exact_mut(u))
                    .zip(valid);
                for ((((z, x), h), h_new), &ok) in rows {
                    if ok {
                        for (v, xv) in z.iter_mut().zip(x) {
                            *v += xv;
                        }
                        apply(self.activation, z);
                        h_new.copy_from_slice(z);
                    } else {
                        h_new.copy_from_slice(h);
                    }
                }
            }
        }
        std::mem::swap(&mut st.h, &mut st.h_new);
        Ok(())
    }

    /// LSTM row: `z` holds `h·U`; adds `x` (which carries the bias), then
    /// `c' = σ(f)·c + σ(i)·act(c̃)`, `h' = σ(o)·act(c')`.
    fn lstm_row(&self, z: &mut [f32], x: &[f32], c: &[f32], h_new: &mut [f32], c_new: &mut [f32]) {
        let u = c.len();
        for (v, xv) in z.iter_mut().zip(x) {
            *v += xv;
        }
        let (i, rest) = z.split_at_mut(u);
        let (f, rest) = rest.split_at_mut(u);
        let (cand, o) = rest.split_at_mut(u);
        apply(self.recurrent_activation, i);
        apply(self.recurrent_activation, f);
        apply(self.activation, cand);
        apply(self.recurrent_activation, o);
        for ((((cn, &iv), &fv), &gv), &cv) in c_new.iter_mut().zip(&*i).zip(&*f).zip(&*cand).zip(c)
        {
            *cn = fv * cv + iv * gv;
        }
        h_new.copy_from_slice(c_new);
        apply(self.activation, h_new);
        for (hn, &ov) in h_new.iter_mut().zip(&*o) {
            *hn *= ov;
        }
    }

    /// GRU row with the reset gate after the product: `z` holds `h·U`.
    fn gru_after_row(
        &self,
        z: &mut [f32],
        x: &[f32],
        rb: Option<&[f32]>,
        h: &[f32],
        h_new: &mut [f32],
    ) {
        let u = h.len();
        if let Some(rb) = rb {
            for (v, b) in z.iter_mut().zip(rb) {
                *v += b;
            }
        }
        let (zr, rec_h) = z.split_at_mut(2 * u);
        for (v, xv) in zr.iter_mut().zip(x) {
            *v += xv;
        }
        apply(self.recurrent_activation, zr);
        let (zg, r) = zr.split_at(u);
        for ((v, &rv), xv) in rec_h.iter_mut().zip(r).zip(&x[2 * u..]) {
            *v = xv + rv * *v;
        }
        apply(self.activation, rec_h);
        mix(zg, h, rec_h, h_new);
    }
}

/// Typed views of a cell's weights, checked once per call.
#[derive(Debug)]
pub(crate) struct CellViews<'a> {
    kernel: ArrayView2<'a, f32>,
    recurrent: ArrayView2<'a, f32>,
    input_bias: Option<ArrayView1<'a, f32>>,
    /// A copy, so that the row kernel can read it as a slice.
    recurrent_bias: Option<Vec<f32>>,
}

/// `h' = z·h + (1 − z)·hh`.
#[inline]
fn mix(z: &[f32], h: &[f32], hh: &[f32], h_new: &mut [f32]) {
    for (((out, &zv), &hv), &cand) in h_new.iter_mut().zip(z).zip(h).zip(hh) {
        *out = zv * hv + (1.0 - zv) * cand;
    }
}

/// Applies an activation to one gate block (softmax-like ones over the block,
/// as Keras applies them to the split gate tensor).
#[inline]
fn apply(act: Activation, v: &mut [f32]) {
    match act {
        Activation::Linear => {}
        Activation::Softmax | Activation::LogSoftmax => {
            let max = v.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
            v.iter_mut().for_each(|x| *x = (*x - max).exp());
            let sum: f32 = v.iter().sum();
            if act == Activation::Softmax {
                v.iter_mut().for_each(|x| *x /= sum);
            } else {
                let log_sum = sum.ln();
                v.iter_mut().for_each(|x| *x = x.ln() - log_sum);
            }
        }
        other => v.iter_mut().for_each(|x| *x = other.scalar(*x)),
    }
}

fn weight_view<'a, D: ndarray::Dimension>(
    p: &'a Param,
    shape: &[usize],
) -> Result<ndarray::ArrayView<'a, f32, D>> {
    if p.value.shape() != shape {
        return Err(Error::invalid(format!(
            "weight `{}` has shape {:?}, but this layer needs {:?}; set weights with the shapes \
             from `weight_specs()`",
            p.name,
            p.value.shape(),
            shape
        )));
    }
    p.value
        .view()
        .into_dimensionality::<D>()
        .map_err(|e| Error::invalid(format!("weight `{}`: {e}", p.name)))
}

fn contiguous<'a>(v: ArrayView2<'a, f32>) -> Result<&'a [f32]> {
    v.to_slice()
        .ok_or_else(|| Error::invalid("internal: step input is not contiguous"))
}

fn slice(a: &Array2<f32>) -> Result<&[f32]> {
    a.as_slice()
        .ok_or_else(|| Error::invalid("internal: state buffer is not contiguous"))
}

fn slices(a: &mut Array2<f32>) -> Result<&mut [f32]> {
    a.as_slice_mut()
        .ok_or_else(|| Error::invalid("internal: state buffer is not contiguous"))
}
