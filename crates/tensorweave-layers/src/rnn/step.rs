//! One time step of a cell for the active rows: `h·recurrent_kernel` with one
//! matrix product into a reused buffer, then one fused element-wise pass that
//! adds the input projection and updates `h` (and `c`) in place.
//!
//! The active rows are the first `n` rows of the state buffers (the sequence
//! loop keeps them there); row `s` reads its input projection at `xp_off[s]`.
//! With Keras' default activations (tanh, sigmoid) the LSTM pass runs in
//! AVX-512 or AVX2 intrinsics (`lstm_avx2.rs`) and the other cells use the
//! vectorizable approximations of [`super::math`], compiled for AVX2 where the
//! CPU has it; other element-wise activations go through
//! [`Activation::scalar`], and softmax-like ones over each gate block, as Keras
//! applies them to the split gate tensors.

use super::cell::{Cell, CellKind, CellWeights};
use crate::activations::Activation;
use crate::util::internal;
use tensorweave_core::{Error, Result};
use tensorweave_kernels::{gemv, math, matmul, Mat, Panels};

/// Work buffers of a sequence, allocated once per call.
#[derive(Debug)]
pub(crate) struct Scratch {
    /// `h·U` for each active row, `[rows, gates·units]`.
    gates: Vec<f32>,
    /// `r·h` for the GRU with the reset gate first, `[rows, units]`.
    reset_h: Vec<f32>,
    /// Zeros standing in for a missing recurrent bias.
    zero_bias: Vec<f32>,
}

impl Scratch {
    /// Buffers for up to `rows` rows.
    pub(crate) fn new(kind: CellKind, rows: usize, units: usize) -> Self {
        let width = kind.gates() * units;
        let reset_rows = if kind == (CellKind::Gru { reset_after: false }) {
            rows
        } else {
            0
        };
        Scratch {
            gates: vec![0.0; rows * width],
            reset_h: vec![0.0; reset_rows * units],
            zero_bias: vec![0.0; width],
        }
    }
}

/// How a pass evaluates the activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// tanh and sigmoid by [`math`], vectorized.
    Fast,
    /// Any element-wise activation, one value at a time.
    Scalar,
    /// A softmax-like activation over each gate block.
    Block,
}

fn mode(cell: &Cell) -> Mode {
    let block = |a: Activation| matches!(a, Activation::Softmax | Activation::LogSoftmax);
    let (act, rec) = (cell.activation, cell.recurrent_activation);
    let fast_rec = rec == Activation::Sigmoid || cell.kind == CellKind::Simple;
    if block(act) || (cell.kind != CellKind::Simple && block(rec)) {
        Mode::Block
    } else if act == Activation::Tanh && fast_rec {
        Mode::Fast
    } else {
        Mode::Scalar
    }
}

/// Advances the first `n` rows of `h` (and `c` for the LSTM) by one step.
/// `xp` holds input projections (with the input bias); active row `s` reads
/// `xp[xp_off[s]..][..gates·units]`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn step(
    cell: &Cell,
    w: &CellWeights<'_>,
    n: usize,
    xp: &[f32],
    xp_off: &[usize],
    h: &mut [f32],
    c: &mut [f32],
    scratch: &mut Scratch,
) -> Result<()> {
    let u = cell.units;
    let g = cell.kind.gates() * u;
    let states = if cell.kind == CellKind::Lstm { 2 } else { 1 };
    let fits = xp_off.len() >= n
        && xp_off[..n].iter().all(|&o| o + g <= xp.len())
        && h.len() >= n * u
        && (states == 1 || c.len() >= n * u)
        && scratch.gates.len() >= n * g;
    if !fits {
        return Err(Error::invalid(
            "internal: step buffers are smaller than the active rows",
        ));
    }
    if n == 0 {
        return Ok(());
    }
    let first = w
        .panels
        .first()
        .ok_or_else(|| Error::invalid("internal: no packed kernel"))?;
    let gates = &mut scratch.gates[..n * g];
    let h = &mut h[..n * u];
    let rows = Rows {
        u,
        xp,
        xp_off: &xp_off[..n],
    };
    match cell.kind {
        CellKind::Gru { reset_after: false } => {
            let second = w
                .panels
                .get(1)
                .ok_or_else(|| Error::invalid("internal: no packed kernel"))?;
            recurrent(h, n, w.recurrent.columns(0, 2 * u), first, gates, g)?;
            let reset_h = &mut scratch.reset_h[..n * u];
            let pass = Pass::GruGates {
                gates: &mut *gates,
                h: &*h,
                reset_h: &mut *reset_h,
            };
            dispatch(mode(cell), cell, &rows, pass);
            recurrent(
                reset_h,
                n,
                w.recurrent.columns(2 * u, u),
                second,
                &mut gates[2 * u..],
                g,
            )?;
            dispatch(mode(cell), cell, &rows, Pass::GruCandidate { gates, h });
        }
        kind => {
            recurrent(h, n, w.recurrent, first, gates, g)?;
            let rb = w.recurrent_bias.unwrap_or(&scratch.zero_bias);
            let pass = match kind {
                CellKind::Lstm => Pass::Lstm {
                    gates,
                    h,
                    c: &mut c[..n * u],
                },
                CellKind::Gru { .. } => Pass::GruAfter { rb, gates, h },
                CellKind::Simple => Pass::Simple { gates, h },
            };
            dispatch(mode(cell), cell, &rows, pass);
        }
    }
    Ok(())
}

/// `out = a·b` for `n` rows of `a`: a vector product on packed panels for one
/// row, the general product otherwise.
fn recurrent(
    a: &[f32],
    n: usize,
    b: Mat<'_>,
    panels: &Panels,
    out: &mut [f32],
    out_stride: usize,
) -> Result<()> {
    if n == 1 && panels.dim() == (b.rows, b.cols) {
        gemv(a, panels, out).map_err(internal)
    } else {
        matmul(a, n, b, out, out_stride, false).map_err(internal)
    }
}

/// Where the active rows find their input projections.
struct Rows<'a> {
    u: usize,
    xp: &'a [f32],
    xp_off: &'a [usize],
}

impl Rows<'_> {
    fn x(&self, s: usize, width: usize) -> &[f32] {
        let o = self.xp_off[s];
        &self.xp[o..o + width]
    }
}

/// One element-wise pass over the active rows, with its buffers.
enum Pass<'a> {
    Lstm {
        gates: &'a mut [f32],
        h: &'a mut [f32],
        c: &'a mut [f32],
    },
    GruAfter {
        rb: &'a [f32],
        gates: &'a mut [f32],
        h: &'a mut [f32],
    },
    GruGates {
        gates: &'a mut [f32],
        h: &'a [f32],
        reset_h: &'a mut [f32],
    },
    GruCandidate {
        gates: &'a mut [f32],
        h: &'a mut [f32],
    },
    Simple {
        gates: &'a mut [f32],
        h: &'a mut [f32],
    },
}

/// Runs a pass in `mode`; the fast mode is compiled for AVX2 when available.
fn dispatch(mode: Mode, cell: &Cell, rows: &Rows<'_>, pass: Pass<'_>) {
    let pass = match pass {
        Pass::Lstm { gates, h, c }
            if mode == Mode::Fast && tensorweave_kernels::lstm::available() =>
        {
            let u = rows.u;
            let rows_iter = gates
                .chunks_exact(4 * u)
                .zip(h.chunks_exact_mut(u))
                .zip(c.chunks_exact_mut(u));
            for (s, ((z, h), c)) in rows_iter.enumerate() {
                tensorweave_kernels::lstm::lstm_row(z, rows.x(s, 4 * u), c, h);
            }
            return;
        }
        other => other,
    };
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    if mode == Mode::Fast && tensorweave_kernels::cpu().avx2_fma {
        // SAFETY: the CPU supports AVX2, the only feature `run_avx2` enables.
        unsafe { run_avx2(mode, cell, rows, pass) };
        return;
    }
    run(mode, cell, rows, pass)
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
unsafe fn run_avx2(mode: Mode, cell: &Cell, rows: &Rows<'_>, pass: Pass<'_>) {
    run(mode, cell, rows, pass)
}

#[inline(always)]
fn run(mode: Mode, cell: &Cell, rows: &Rows<'_>, pass: Pass<'_>) {
    match pass {
        Pass::Lstm { gates, h, c } => lstm(mode, cell, rows, gates, h, c),
        Pass::GruAfter { rb, gates, h } => gru_after(mode, cell, rows, rb, gates, h),
        Pass::GruGates { gates, h, reset_h } => gru_gates(mode, cell, rows, gates, h, reset_h),
        Pass::GruCandidate { gates, h } => gru_candidate(mode, cell, rows, gates, h),
        Pass::Simple { gates, h } => simple(mode, cell, rows, gates, h),
    }
}

/// The two activations of a pass as plain functions of one value.
#[inline(always)]
fn acts(mode: Mode, cell: &Cell) -> (impl Fn(f32) -> f32 + Copy, impl Fn(f32) -> f32 + Copy) {
    let (act, rec) = (cell.activation, cell.recurrent_activation);
    let fast = mode == Mode::Fast;
    (
        move |v: f32| if fast { math::tanh(v) } else { act.scalar(v) },
        move |v: f32| {
            if fast {
                math::sigmoid(v)
            } else {
                rec.scalar(v)
            }
        },
    )
}

/// LSTM: `z = x + h·U`; `c = σ(z_f)·c + σ(z_i)·tanh(z_c)`; `h = σ(z_o)·tanh(c)`.
#[inline(always)]
fn lstm(mode: Mode, cell: &Cell, rows: &Rows<'_>, gates: &mut [f32], h: &mut [f32], c: &mut [f32]) {
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
                (&mut *i, cell.recurrent_activation),
                (&mut *f, cell.recurrent_activation),
                (&mut *cand, cell.activation),
                (&mut *o, cell.recurrent_activation),
            ] {
                apply(a, block);
            }
            for (((cv, &iv), &fv), g) in c.iter_mut().zip(&*i).zip(&*f).zip(cand.iter_mut()) {
                *cv = fv * *cv + iv * *g;
                *g = *cv;
            }
            apply(cell.activation, cand);
            for ((hv, &ov), &tc) in h.iter_mut().zip(&*o).zip(&*cand) {
                *hv = ov * tc;
            }
        }
        return;
    }
    let (act, sig) = acts(mode, cell);
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

/// GRU, reset gate after the product: `z = σ(x_z + r_z)`, `r = σ(x_r + r_r)`,
/// `hh = tanh(x_h + r·r_h)` where `r_* = (h·U + b_rec)_*`; `h = z·h + (1 − z)·hh`.
#[inline(always)]
fn gru_after(
    mode: Mode,
    cell: &Cell,
    rows: &Rows<'_>,
    rb: &[f32],
    gates: &mut [f32],
    h: &mut [f32],
) {
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
            apply(cell.recurrent_activation, zg);
            apply(cell.recurrent_activation, r);
            for ((v, &rv), xv) in rec_h.iter_mut().zip(&*r).zip(&x[2 * u..]) {
                *v = xv + rv * *v;
            }
            apply(cell.activation, rec_h);
            mix(zg, h, rec_h);
        }
        return;
    }
    let (act, sig) = acts(mode, cell);
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
    cell: &Cell,
    rows: &Rows<'_>,
    gates: &mut [f32],
    h: &[f32],
    reset_h: &mut [f32],
) {
    let u = rows.u;
    let (_, sig) = acts(mode, cell);
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
            apply(cell.recurrent_activation, zg);
            apply(cell.recurrent_activation, r);
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
fn gru_candidate(mode: Mode, cell: &Cell, rows: &Rows<'_>, gates: &mut [f32], h: &mut [f32]) {
    let u = rows.u;
    let (act, _) = acts(mode, cell);
    let rows_iter = gates
        .chunks_exact_mut(3 * u)
        .zip(h.chunks_exact_mut(u))
        .enumerate();
    for (s, (z, h)) in rows_iter {
        let x = rows.x(s, 3 * u);
        let (zg, hh) = z.split_at_mut(2 * u);
        add(hh, &x[2 * u..]);
        if mode == Mode::Block {
            apply(cell.activation, hh);
        } else {
            hh.iter_mut().for_each(|v| *v = act(*v));
        }
        mix(&zg[..u], h, hh);
    }
}

/// SimpleRNN: `h = tanh(x + h·U)`.
#[inline(always)]
fn simple(mode: Mode, cell: &Cell, rows: &Rows<'_>, gates: &mut [f32], h: &mut [f32]) {
    let u = rows.u;
    let (act, _) = acts(mode, cell);
    for (s, (z, h)) in gates
        .chunks_exact_mut(u)
        .zip(h.chunks_exact_mut(u))
        .enumerate()
    {
        add(z, rows.x(s, u));
        if mode == Mode::Block {
            apply(cell.activation, z);
        } else {
            z.iter_mut().for_each(|v| *v = act(*v));
        }
        h.copy_from_slice(z);
    }
}

#[inline(always)]
fn add(v: &mut [f32], x: &[f32]) {
    v.iter_mut().zip(x).for_each(|(v, x)| *v += x);
}

/// `h = z·h + (1 − z)·hh`.
#[inline(always)]
fn mix(z: &[f32], h: &mut [f32], hh: &[f32]) {
    for ((hv, &zv), &cand) in h.iter_mut().zip(z).zip(hh) {
        *hv = zv * *hv + (1.0 - zv) * cand;
    }
}

/// Applies an activation to one gate block (softmax-like ones over the block,
/// as Keras applies them to the split gate tensor).
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
