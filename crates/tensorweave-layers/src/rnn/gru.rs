//! `GRU`: gated recurrent unit, gates in Keras' order z, r, h. The builder,
//! the cell (`GRUCell`: weights and one step) and the layer type.

use serde::{Deserialize, Serialize};
use tensorweave_core::Result;
use tensorweave_derive::LayerConfig;

use super::bptt::{CellMath, CellTraining};
use super::cell::{BiasLayout, CellKind, CellWeights, Packing};
use super::options::{rnn_builder, RnnOptions};
use super::step::{
    acts, add, apply, mix, mode, recurrent, vectorized, Acts, Mode, Rows, Scratch, StepRows,
};
use crate::activations::Activation;
use crate::class::Common;
use tensorweave_kernels::cells;

/// Builder and configuration of a `GRU` layer (Keras' `layers.GRU`).
///
/// Weights: `kernel [input_dim, 3·units]`, `recurrent_kernel [units, 3·units]`
/// (gate blocks update z, reset r, candidate h) and `bias`, of shape
/// `[2, 3·units]` (input bias, recurrent bias) with `reset_after` (the default)
/// or `[3·units]` without. The new state is `h = z·h_prev + (1 − z)·hh` with
/// `hh = tanh(x_h + r·(h_prev·U_h + b_h))` when the reset gate applies after the
/// matrix product, `hh = tanh(x_h + (r·h_prev)·U_h)` before it. The shared
/// recurrent options have the setters of every recurrent builder ([`RnnOptions`]).
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let x = Input::new([10, 8]).build();
/// let y = Gru::new(5).reset_after(false).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(5)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(GruLayer)]
pub struct Gru {
    /// Options shared by every recurrent layer.
    #[serde(flatten)]
    #[config(skip)]
    pub options: RnnOptions,
    /// Activation of the update and reset gates (default exact sigmoid).
    #[config(default = Activation::Sigmoid)]
    pub recurrent_activation: Activation,
    /// Apply the reset gate after the recurrent matrix product (default true,
    /// the cuDNN convention, with separate input and recurrent biases).
    #[config(default = true)]
    pub reset_after: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

rnn_builder!(Gru {
    layer: GruLayer,
    kind: GruKind,
    cell: GruCell,
    class: "GRU",
    cell_class: "GRUCell",
});

impl CellKind for GruKind {
    const CELL_CLASS: &'static str = "GRUCell";
    const LAYER_CLASS: &'static str = "GRU";
    const CELL_NAME: &'static str = "gru_cell";
    const GATES: usize = 3;
    const STATES: usize = 1;
    type Builder = Gru;

    fn bias_layout(config: &Gru) -> BiasLayout {
        if config.reset_after {
            BiasLayout::InputAndRecurrent
        } else {
            BiasLayout::Input
        }
    }

    fn packing(config: &Gru) -> Packing {
        if config.reset_after {
            Packing::Whole
        } else {
            Packing::SplitAt2U
        }
    }

    fn reset_rows(config: &Gru, rows: usize) -> usize {
        if config.reset_after {
            0
        } else {
            rows
        }
    }

    fn training(config: &Gru) -> Option<CellTraining> {
        Some(CellTraining {
            math: if config.reset_after {
                CellMath::GruResetAfter
            } else {
                CellMath::GruResetBefore
            },
            activation: config.options.activation,
            recurrent_activation: config.recurrent_activation,
        })
    }

    fn step(
        config: &Gru,
        w: &CellWeights<'_>,
        rows: StepRows<'_>,
        scratch: &mut Scratch,
    ) -> Result<()> {
        let (n, xp, xp_off, ahead, h, c) = rows.parts();
        let u = config.options.units;
        let g = 3 * u;
        let first = w.panel(0)?;
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
        let _ = c;
        let Scratch {
            gates,
            reset_h,
            zero_bias,
        } = scratch;
        let gates = &mut gates[..n * g];
        let h = &mut h[..n * u];
        let fused = mode == Mode::Fast && cells::available();
        if config.reset_after {
            recurrent(h, n, w.recurrent, first, gates, g)?;
            let rb = w.recurrent_bias.unwrap_or(zero_bias);
            if fused {
                for (s, (z, h)) in gates.chunks_exact(g).zip(h.chunks_exact_mut(u)).enumerate() {
                    cells::gru_row(z, rows.x(s, g), rb, h);
                    rows.prefetch_ahead(s, g);
                }
            } else {
                vectorized(mode, || gru_after(mode, &a, &rows, rb, gates, h));
            }
            return Ok(());
        }
        let second = w.panel(1)?;
        recurrent(h, n, w.recurrent.columns(0, 2 * u), first, gates, g)?;
        let reset_h = &mut reset_h[..n * u];
        if fused {
            let rows_iter = gates
                .chunks_exact_mut(g)
                .zip(h.chunks_exact(u))
                .zip(reset_h.chunks_exact_mut(u));
            for (s, ((z, h), rh)) in rows_iter.enumerate() {
                cells::gru_gates_row(z, rows.x(s, g), h, rh);
            }
        } else {
            vectorized(mode, || gru_gates(mode, &a, &rows, gates, h, reset_h));
        }
        recurrent(
            reset_h,
            n,
            w.recurrent.columns(2 * u, u),
            second,
            &mut gates[2 * u..],
            g,
        )?;
        if fused {
            for (s, (z, h)) in gates.chunks_exact(g).zip(h.chunks_exact_mut(u)).enumerate() {
                cells::gru_candidate_row(z, rows.x(s, g), h);
                rows.prefetch_ahead(s, g);
            }
        } else {
            vectorized(mode, || gru_candidate(mode, &a, &rows, gates, h));
        }
        Ok(())
    }
}

/// GRU, reset gate after the product: `z = σ(x_z + r_z)`, `r = σ(x_r + r_r)`,
/// `hh = tanh(x_h + r·r_h)` where `r_* = (h·U + b_rec)_*`; `h = z·h + (1 − z)·hh`.
#[inline(always)]
fn gru_after(mode: Mode, a: &Acts, rows: &Rows<'_>, rb: &[f32], gates: &mut [f32], h: &mut [f32]) {
    let u = rows.u;
    let rows_iter = gates
        .chunks_exact_mut(3 * u)
        .zip(h.chunks_exact_mut(u))
        .enumerate();
    if mode == Mode::Block {
        for (s, (z, h)) in rows_iter {
            let x = rows.x(s, 3 * u);
            add(z, rb);
            let (zr, rec_h) = z.split_at_mut(2 * u);
            add(zr, &x[..2 * u]);
            let (zg, r) = zr.split_at_mut(u);
            apply(a.recurrent, zg);
            apply(a.recurrent, r);
            for ((v, &rv), xv) in rec_h.iter_mut().zip(&*r).zip(&x[2 * u..]) {
                *v = xv + rv * *v;
            }
            apply(a.activation, rec_h);
            mix(zg, h, rec_h);
        }
        return;
    }
    let (act, sig) = acts(mode, a.activation, a.recurrent);
    let (bz, br, bh) = (&rb[..u], &rb[u..2 * u], &rb[2 * u..3 * u]);
    for (s, (z, h)) in rows_iter {
        let x = rows.x(s, 3 * u);
        let (rz, rr, rh) = (&z[..u], &z[u..2 * u], &z[2 * u..3 * u]);
        let (xz, xr, xh) = (&x[..u], &x[u..2 * u], &x[2 * u..3 * u]);
        for j in 0..u {
            let zg = sig((rz[j] + bz[j]) + xz[j]);
            let r = sig((rr[j] + br[j]) + xr[j]);
            let hh = act(xh[j] + r * (rh[j] + bh[j]));
            h[j] = zg * h[j] + (1.0 - zg) * hh;
        }
    }
}

/// GRU, reset gate first, part 1: `z, r = σ(x_zr + h·U_zr)` (kept in `gates`)
/// and `r·h` into `reset_h`.
#[inline(always)]
fn gru_gates(
    mode: Mode,
    a: &Acts,
    rows: &Rows<'_>,
    gates: &mut [f32],
    h: &[f32],
    reset_h: &mut [f32],
) {
    let u = rows.u;
    let (_, sig) = acts(mode, a.activation, a.recurrent);
    let rows_iter = gates
        .chunks_exact_mut(3 * u)
        .zip(h.chunks_exact(u))
        .zip(reset_h.chunks_exact_mut(u))
        .enumerate();
    for (s, ((z, h), rh)) in rows_iter {
        let x = rows.x(s, 3 * u);
        let zr = &mut z[..2 * u];
        add(zr, &x[..2 * u]);
        if mode == Mode::Block {
            let (zg, r) = zr.split_at_mut(u);
            apply(a.recurrent, zg);
            apply(a.recurrent, r);
        } else {
            zr.iter_mut().for_each(|v| *v = sig(*v));
        }
        for ((out, &r), &hv) in rh.iter_mut().zip(&zr[u..]).zip(h) {
            *out = r * hv;
        }
    }
}

/// GRU, reset gate first, part 2: `hh = tanh(x_h + (r·h)·U_h)`,
/// `h = z·h + (1 − z)·hh`.
#[inline(always)]
fn gru_candidate(mode: Mode, a: &Acts, rows: &Rows<'_>, gates: &mut [f32], h: &mut [f32]) {
    let u = rows.u;
    let (act, _) = acts(mode, a.activation, a.recurrent);
    let rows_iter = gates
        .chunks_exact_mut(3 * u)
        .zip(h.chunks_exact_mut(u))
        .enumerate();
    for (s, (z, h)) in rows_iter {
        let x = rows.x(s, 3 * u);
        let (zg, hh) = z.split_at_mut(2 * u);
        add(hh, &x[2 * u..]);
        if mode == Mode::Block {
            apply(a.activation, hh);
        } else {
            hh.iter_mut().for_each(|v| *v = act(*v));
        }
        mix(&zg[..u], h, hh);
    }
}
