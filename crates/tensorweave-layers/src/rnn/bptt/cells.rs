//! The training step of each built-in cell, forward and backward, over the
//! entries of one step (see [`super::layout`]): what the forward keeps
//! ([`CellTape`]) and how the backward turns the gradient reaching the new
//! states into the gradients of the gate inputs (`dz`, one row per entry, in
//! Keras' gate order) and of the previous states.
//!
//! Each forward step is one product `h·U` on the step's rows (two for the GRU
//! with the reset gate first), each backward step one product `dz·Uᵀ` (two
//! for that GRU); the weight gradients are products over all entries, made by
//! the caller after the loop.

use std::ops::Range;

use ndarray::IxDyn;

use tensorweave_core::{Error, Result};
use tensorweave_kernels::{matmul_views, panel_product, Mat, Panels};

use super::gate::{Deriv, Gate};
use super::{CellMath, CellTraining};
use crate::rnn::cell::CellWeights;
use crate::rnn::step::{add, recurrent};
use crate::util::internal;

/// What a cell's forward keeps for its backward, one row per entry.
#[derive(Debug)]
pub(crate) enum CellTape {
    /// `h = act(z)`.
    Simple {
        /// The new state.
        y: Gate,
    },
    /// Gates i, f, candidate, o, and `act(c)` of the new cell state.
    Lstm {
        /// Input gate.
        i: Gate,
        /// Forget gate.
        f: Gate,
        /// Candidate.
        c: Gate,
        /// Output gate.
        o: Gate,
        /// `act(c_new)`.
        tc: Gate,
    },
    /// GRU, reset gate after the product.
    GruAfter {
        /// Update gate.
        z: Gate,
        /// Reset gate.
        r: Gate,
        /// Candidate.
        hh: Gate,
        /// `(h·U + b_rec)` of the candidate block, `[entries, units]`.
        rec_h: Vec<f32>,
    },
    /// GRU, reset gate first.
    GruBefore {
        /// Update gate.
        z: Gate,
        /// Reset gate.
        r: Gate,
        /// Candidate.
        hh: Gate,
        /// `r·h_prev`, `[entries, units]`.
        rh: Vec<f32>,
    },
}

/// What a forward step reads: the weights, the input projections of every
/// entry (`[entries, gates·units]`, input bias included), the previous
/// states of every entry, the recurrent dropout masks of every entry (one
/// per gate block, or none) and the step's entries.
pub(crate) struct Fwd<'a> {
    pub(crate) w: &'a CellWeights<'a>,
    pub(crate) u: usize,
    pub(crate) xp: &'a [f32],
    pub(crate) hprev: &'a [f32],
    pub(crate) cprev: &'a [f32],
    pub(crate) rmask: &'a [Vec<f32>],
    pub(crate) e: Range<usize>,
}

impl Fwd<'_> {
    /// `rec[..rows·width] = h_prev·U` for the step's rows (through the
    /// recurrent dropout masks, see [`Fwd::blocks`]).
    fn recurrent(&self, rec: &mut [f32], hd: &mut [f32]) -> Result<()> {
        let b = self.w.recurrent;
        self.blocks(0..b.cols / self.u.max(1), 0, rec, b.cols, hd)
    }

    /// The gate blocks `blocks` of `h_prev·U` for the step's rows, into
    /// `rec` (row stride `width`, from its block `blocks.start`): one product
    /// with the packed `panel`, or with recurrent dropout one product per
    /// block of `(h_prev ⊙ mask_k)·U_k`, `hd` holding the masked rows.
    fn blocks(
        &self,
        blocks: Range<usize>,
        panel: usize,
        rec: &mut [f32],
        width: usize,
        hd: &mut [f32],
    ) -> Result<()> {
        let (u, e) = (self.u, &self.e);
        let (n, span) = (e.len(), e.start * u..e.end * u);
        let h = &self.hprev[span.clone()];
        let all = self.w.recurrent.columns(blocks.start * u, blocks.len() * u);
        let out = rec.get_mut(blocks.start * u..).unwrap_or_default();
        if self.rmask.is_empty() {
            return recurrent(h, n, all, self.w.panel(panel)?, out, width);
        }
        for k in blocks.clone() {
            let mask = self
                .rmask
                .get(k)
                .ok_or_else(|| Error::invalid("internal: no recurrent dropout mask for a gate"))?;
            let hd = &mut hd[..n * u];
            for ((d, &h), &m) in hd.iter_mut().zip(h).zip(&mask[span.clone()]) {
                *d = h * m;
            }
            let block = self.w.recurrent.columns(k * u, u);
            let dst = rec.get_mut(k * u..).unwrap_or_default();
            tensorweave_kernels::matmul(hd, n, block, dst, width, false).map_err(internal)?;
        }
        Ok(())
    }

    /// `h_prev` of entry `entry` as the recurrent product of gate block
    /// `block` sees it (times its dropout mask, if any), into `dst`.
    fn hprev_seen_by(&self, block: usize, entry: usize, dst: &mut [f32]) {
        let u = self.u;
        let h = &self.hprev[entry * u..(entry + 1) * u];
        match self.rmask.get(block) {
            Some(m) => {
                let m = &m[entry * u..(entry + 1) * u];
                dst.iter_mut()
                    .zip(h)
                    .zip(m)
                    .for_each(|((d, &h), &m)| *d = h * m);
            }
            None => dst.copy_from_slice(h),
        }
    }
}

/// Where a forward step writes: a `[rows, gates·units]` work buffer, the
/// new states of its rows (`[rows, units]`; `c` for the LSTM only), and
/// `[rows, units]` of work space for the masked previous states.
pub(crate) struct FwdOut<'a> {
    pub(crate) rec: &'a mut [f32],
    pub(crate) h: &'a mut [f32],
    pub(crate) c: &'a mut [f32],
    pub(crate) hd: &'a mut [f32],
}

/// What a backward step reads besides the tape: `Uᵀ` (`[gates·units,
/// units]`) and its blocks packed for one-row products (see
/// [`transposed_panels`]), the derivatives of the tape's gates, the previous
/// states and recurrent dropout masks of every entry and the step's entries.
pub(crate) struct Bwd<'a> {
    pub(crate) u: usize,
    pub(crate) ut: &'a [f32],
    pub(crate) ut_panels: &'a [Panels],
    pub(crate) derivs: &'a [Deriv],
    pub(crate) hprev: &'a [f32],
    pub(crate) cprev: &'a [f32],
    pub(crate) rmask: &'a [Vec<f32>],
    pub(crate) e: Range<usize>,
}

impl Bwd<'_> {
    /// Rows `start..start + rows` of `Uᵀ`: the transpose of a block of `U`'s columns.
    fn ut(&self, start: usize, rows: usize) -> Mat<'_> {
        let u = self.u;
        Mat::dense(&self.ut[start * u..(start + rows) * u], rows, u)
    }

    /// Packed block `k` of `Uᵀ`.
    fn panel(&self, k: usize) -> Result<&Panels> {
        self.ut_panels
            .get(k)
            .ok_or_else(|| Error::invalid("internal: no packed transposed kernel"))
    }

    /// The gradient of the previous output through the recurrent product's
    /// gate blocks `blocks`, from the step's rows of `m` (`[entries,
    /// width]`, the gradients of that product): `m_blocks·U_blocksᵀ` in one
    /// product (with the packed `panel`), or with recurrent dropout
    /// `Σ_k (m_k·U_kᵀ) ⊙ mask_k`. Written to `out` (`[rows, units]`), or added
    /// to it when `add`; `tmp` (`[rows, units]`) is work space.
    #[allow(clippy::too_many_arguments)]
    fn state_grad(
        &self,
        m: &[f32],
        width: usize,
        blocks: Range<usize>,
        panel: usize,
        out: &mut [f32],
        tmp: &mut [f32],
        add: bool,
    ) -> Result<()> {
        let (u, e) = (self.u, &self.e);
        let n = e.len();
        if self.rmask.is_empty() {
            let a = block_rows(m, e, width, blocks.start * u, blocks.len() * u)?;
            let b = self.ut(blocks.start * u, blocks.len() * u);
            if !add {
                return product(a, b, self.panel(panel)?, &mut out[..n * u]);
            }
            product(a, b, self.panel(panel)?, &mut tmp[..n * u])?;
            add_into(&mut out[..n * u], &tmp[..n * u]);
            return Ok(());
        }
        if !add {
            out[..n * u].fill(0.0);
        }
        for k in blocks {
            let mask = self
                .rmask
                .get(k)
                .ok_or_else(|| Error::invalid("internal: no recurrent dropout mask for a gate"))?;
            let a = block_rows(m, e, width, k * u, u)?;
            let tmp = &mut tmp[..n * u];
            matmul_views(a, self.ut(k * u, u), tmp, u, false).map_err(internal)?;
            let mask = &mask[e.start * u..e.end * u];
            for ((o, &t), &mk) in out[..n * u].iter_mut().zip(tmp.iter()).zip(mask) {
                *o += t * mk;
            }
        }
        Ok(())
    }

    /// The recurrent dropout mask of gate block `block` for entry `entry`
    /// (`None` without recurrent dropout).
    fn mask(&self, block: usize, entry: usize) -> Option<&[f32]> {
        let u = self.u;
        self.rmask
            .get(block)
            .map(|m| &m[entry * u..(entry + 1) * u])
    }
}

/// `Uᵀ` (`[gates·units, units]`) packed for one-row products: whole, or for
/// the GRU with the reset gate first its rows of the update and reset gates
/// and those of the candidate.
pub(crate) fn transposed_panels(math: CellMath, ut: &[f32], u: usize) -> Result<Vec<Panels>> {
    let block = |start: usize, rows: usize| {
        Panels::pack(Mat::dense(&ut[start * u..(start + rows) * u], rows, u)).map_err(internal)
    };
    let g = ut.len() / u.max(1);
    if math == CellMath::GruResetBefore {
        Ok(vec![block(0, 2 * u)?, block(2 * u, u)?])
    } else {
        Ok(vec![block(0, g)?])
    }
}

/// The gradients of a backward step. In: `dh`, `dc` for the step's rows
/// (`[rows, units]`). Out: rows `e` of `dz` (gate inputs, `[entries,
/// gates·units]`) and of `drec` (the recurrent product's, GRU with the reset
/// gate after it only), and the gradients of the previous states `dh_prev`,
/// `dc_prev`. `tmp` is `[rows, units]` of work space.
pub(crate) struct StepGrads<'a> {
    pub(crate) dh: &'a [f32],
    pub(crate) dc: &'a [f32],
    pub(crate) dz: &'a mut [f32],
    pub(crate) drec: &'a mut [f32],
    pub(crate) tmp: &'a mut [f32],
    pub(crate) dh_prev: &'a mut [f32],
    pub(crate) dc_prev: &'a mut [f32],
}

impl CellTape {
    /// Room for `entries` entries of a cell of `units` units.
    pub(crate) fn new(t: CellTraining, entries: usize, units: usize) -> Self {
        let gate = |act| Gate::new(act, entries, units);
        let (act, rec) = (t.activation, t.recurrent_activation);
        match t.math {
            CellMath::Simple => CellTape::Simple { y: gate(act) },
            CellMath::Lstm => CellTape::Lstm {
                i: gate(rec),
                f: gate(rec),
                c: gate(act),
                o: gate(rec),
                tc: gate(act),
            },
            CellMath::GruResetAfter => CellTape::GruAfter {
                z: gate(rec),
                r: gate(rec),
                hh: gate(act),
                rec_h: vec![0.0; entries * units],
            },
            CellMath::GruResetBefore => CellTape::GruBefore {
                z: gate(rec),
                r: gate(rec),
                hh: gate(act),
                rh: vec![0.0; entries * units],
            },
        }
    }

    /// The gates, in the order of [`CellTape::derivatives`].
    fn gates(&self) -> Vec<&Gate> {
        match self {
            CellTape::Simple { y } => vec![y],
            CellTape::Lstm { i, f, c, o, tc } => vec![i, f, c, o, tc],
            CellTape::GruAfter { z, r, hh, .. } | CellTape::GruBefore { z, r, hh, .. } => {
                vec![z, r, hh]
            }
        }
    }

    /// The derivative of every gate, for all entries.
    pub(crate) fn derivatives(&self) -> Result<Vec<Deriv>> {
        let gates = self.gates();
        let Some(first) = gates.first() else {
            return Ok(Vec::new());
        };
        let ones = ndarray::ArrayD::from_elem(IxDyn(&[first.entries(), first.units()]), 1.0f32);
        gates.into_iter().map(|g| g.derivative(&ones)).collect()
    }

    /// One forward step.
    pub(crate) fn forward(&mut self, f: &Fwd<'_>, out: FwdOut<'_>) -> Result<()> {
        match self {
            CellTape::Simple { y } => simple_forward(y, f, out),
            CellTape::Lstm { i, f: fg, c, o, tc } => lstm_forward([i, fg, c, o, tc], f, out),
            CellTape::GruAfter { z, r, hh, rec_h } => gru_after_forward([z, r, hh], rec_h, f, out),
            CellTape::GruBefore { z, r, hh, rh } => gru_before_forward([z, r, hh], rh, f, out),
        }
    }

    /// One backward step.
    pub(crate) fn backward(&self, b: &Bwd<'_>, g: StepGrads<'_>) -> Result<()> {
        match self {
            CellTape::Simple { y } => simple_backward(y, b, g),
            CellTape::Lstm { i, f, c, o, tc } => lstm_backward([i, f, c, o, tc], b, g),
            CellTape::GruAfter { z, r, hh, rec_h } => gru_after_backward([z, r, hh], rec_h, b, g),
            CellTape::GruBefore { z, r, hh, .. } => gru_before_backward([z, r, hh], b, g),
        }
    }
}

/// `out = a·b` (row stride `b.cols`); `panels` is `b` packed, for the
/// vector product of a single row and the panel product of a dense batch.
fn product(a: Mat<'_>, b: Mat<'_>, panels: &Panels, out: &mut [f32]) -> Result<()> {
    if (a.rows == 1 || a.stride == a.cols) && panels.dim() == (b.rows, b.cols) {
        panel_product(a.data, a.rows, panels, out, b.cols).map_err(internal)
    } else {
        matmul_views(a, b, out, b.cols, false).map_err(internal)
    }
}

/// `acc += v`.
fn add_into(acc: &mut [f32], v: &[f32]) {
    acc.iter_mut().zip(v).for_each(|(a, v)| *a += v);
}

/// Writes `x + rec` of gate block `block` into the gate's rows for each entry.
fn gate_inputs(gate: &mut Gate, block: usize, f: &Fwd<'_>, rec: &[f32], width: usize) {
    let u = f.u;
    for (s, e) in f.e.clone().enumerate() {
        let x = &f.xp[e * width + block * u..][..u];
        let z = &rec[s * width + block * u..][..u];
        for ((d, &xv), &zv) in gate.row_mut(e).iter_mut().zip(x).zip(z) {
            *d = xv + zv;
        }
    }
}

fn simple_forward(y: &mut Gate, f: &Fwd<'_>, out: FwdOut<'_>) -> Result<()> {
    let (u, e) = (f.u, f.e.clone());
    let n = e.len();
    f.recurrent(out.rec, out.hd)?;
    gate_inputs(y, 0, f, out.rec, u);
    y.activate(e.clone());
    out.h[..n * u].copy_from_slice(y.rows(e));
    Ok(())
}

fn simple_backward(y: &Gate, b: &Bwd<'_>, g: StepGrads<'_>) -> Result<()> {
    let (u, e) = (b.u, b.e.clone());
    let n = e.len();
    let dz = &mut g.dz[e.start * u..e.end * u];
    dz.copy_from_slice(&g.dh[..n * u]);
    for (s, entry) in e.enumerate() {
        y.backprop(&b.derivs[0], entry, &mut dz[s * u..(s + 1) * u])?;
    }
    b.state_grad(g.dz, u, 0..1, 0, g.dh_prev, g.tmp, false)
}

/// LSTM: `c = f·c_prev + i·cand`, `h = o·act(c)`.
fn lstm_forward(gates: [&mut Gate; 5], f: &Fwd<'_>, out: FwdOut<'_>) -> Result<()> {
    let (u, e) = (f.u, f.e.clone());
    let width = 4 * u;
    let [i, fg, c, o, tc] = gates;
    f.recurrent(out.rec, out.hd)?;
    for (block, gate) in [&mut *i, &mut *fg, &mut *c, &mut *o]
        .into_iter()
        .enumerate()
    {
        gate_inputs(gate, block, f, out.rec, width);
        gate.activate(e.clone());
    }
    for (s, entry) in e.clone().enumerate() {
        let cp = &f.cprev[entry * u..(entry + 1) * u];
        let (iv, fv, cv) = (i.row(entry), fg.row(entry), c.row(entry));
        let cn = &mut out.c[s * u..(s + 1) * u];
        for j in 0..u {
            cn[j] = fv[j] * cp[j] + iv[j] * cv[j];
        }
        tc.row_mut(entry).copy_from_slice(cn);
    }
    tc.activate(e.clone());
    for (s, entry) in e.enumerate() {
        let h = &mut out.h[s * u..(s + 1) * u];
        for ((h, &ov), &tv) in h.iter_mut().zip(o.row(entry)).zip(tc.row(entry)) {
            *h = ov * tv;
        }
    }
    Ok(())
}

fn lstm_backward(gates: [&Gate; 5], b: &Bwd<'_>, g: StepGrads<'_>) -> Result<()> {
    let (u, e) = (b.u, b.e.clone());
    let width = 4 * u;
    let [i, f, c, o, tc] = gates;
    let d = b.derivs;
    for (s, entry) in e.clone().enumerate() {
        let rows = s * u..(s + 1) * u;
        let (dh, dc) = (&g.dh[rows.clone()], &g.dc[rows.clone()]);
        // d act(c) = dh·o, into dc_prev's row as work space, then through act.
        let dtc = &mut g.dc_prev[rows];
        for ((t, &dhv), &ov) in dtc.iter_mut().zip(dh).zip(o.row(entry)) {
            *t = dhv * ov;
        }
        tc.backprop(&d[4], entry, dtc)?;
        let dz = &mut g.dz[entry * width..(entry + 1) * width];
        let (iv, fv, cv, tv) = (i.row(entry), f.row(entry), c.row(entry), tc.row(entry));
        let cp = &b.cprev[entry * u..(entry + 1) * u];
        for j in 0..u {
            let dcn = dc[j] + dtc[j];
            dz[j] = dcn * cv[j];
            dz[u + j] = dcn * cp[j];
            dz[2 * u + j] = dcn * iv[j];
            dz[3 * u + j] = dh[j] * tv[j];
            dtc[j] = dcn * fv[j];
        }
        for (block, gate) in [i, f, c, o].into_iter().enumerate() {
            gate.backprop(&d[block], entry, &mut dz[block * u..(block + 1) * u])?;
        }
    }
    b.state_grad(g.dz, width, 0..4, 0, g.dh_prev, g.tmp, false)
}

/// `h = z·h_prev + (1 − z)·hh` for the step's rows.
fn mix_into(z: &Gate, hh: &Gate, f: &Fwd<'_>, h: &mut [f32]) {
    let u = f.u;
    for (s, e) in f.e.clone().enumerate() {
        let hp = &f.hprev[e * u..(e + 1) * u];
        let out = &mut h[s * u..(s + 1) * u];
        for (((o, &zv), &hv), &cand) in out.iter_mut().zip(z.row(e)).zip(hp).zip(hh.row(e)) {
            *o = zv * hv + (1.0 - zv) * cand;
        }
    }
}

/// GRU, reset gate after the product: `rec = h·U + b_rec`,
/// `hh = act(x_h + r·rec_h)`.
fn gru_after_forward(
    gates: [&mut Gate; 3],
    rec_h: &mut [f32],
    f: &Fwd<'_>,
    out: FwdOut<'_>,
) -> Result<()> {
    let (u, e) = (f.u, f.e.clone());
    let (n, width) = (e.len(), 3 * u);
    let [z, r, hh] = gates;
    f.recurrent(out.rec, out.hd)?;
    if let Some(bias) = f.w.recurrent_bias {
        out.rec[..n * width]
            .chunks_exact_mut(width)
            .for_each(|row| add(row, bias));
    }
    for (block, gate) in [&mut *z, &mut *r].into_iter().enumerate() {
        gate_inputs(gate, block, f, out.rec, width);
        gate.activate(e.clone());
    }
    for (s, entry) in e.clone().enumerate() {
        let rh = &mut rec_h[entry * u..(entry + 1) * u];
        rh.copy_from_slice(&out.rec[s * width + 2 * u..(s + 1) * width]);
        let x = &f.xp[entry * width + 2 * u..(entry + 1) * width];
        let rv = r.row(entry);
        for (j, d) in hh.row_mut(entry).iter_mut().enumerate() {
            *d = x[j] + rv[j] * rh[j];
        }
    }
    hh.activate(e);
    mix_into(z, hh, f, out.h);
    Ok(())
}

/// The GRU's common start of a backward step: the update gate's and the
/// candidate's input gradients into `dz` (blocks 0 and 2), `dh·z` into
/// `dh_prev`.
fn gru_mix_backward(z: &Gate, hh: &Gate, b: &Bwd<'_>, g: &mut StepGrads<'_>) -> Result<()> {
    let u = b.u;
    for (s, entry) in b.e.clone().enumerate() {
        let rows = s * u..(s + 1) * u;
        let dh = &g.dh[rows.clone()];
        let hp = &b.hprev[entry * u..(entry + 1) * u];
        let dz = &mut g.dz[entry * 3 * u..(entry + 1) * 3 * u];
        let dhp = &mut g.dh_prev[rows];
        let (zv, hv) = (z.row(entry), hh.row(entry));
        for j in 0..u {
            dz[j] = dh[j] * (hp[j] - hv[j]);
            dz[2 * u + j] = dh[j] * (1.0 - zv[j]);
            dhp[j] = dh[j] * zv[j];
        }
        z.backprop(&b.derivs[0], entry, &mut dz[..u])?;
        hh.backprop(&b.derivs[2], entry, &mut dz[2 * u..])?;
    }
    Ok(())
}

fn gru_after_backward(
    gates: [&Gate; 3],
    rec_h: &[f32],
    b: &Bwd<'_>,
    mut g: StepGrads<'_>,
) -> Result<()> {
    let (u, e) = (b.u, b.e.clone());
    let width = 3 * u;
    let [z, r, hh] = gates;
    gru_mix_backward(z, hh, b, &mut g)?;
    for entry in e {
        let span = entry * width..(entry + 1) * width;
        let (dz, drec) = (&mut g.dz[span.clone()], &mut g.drec[span]);
        let (rv, rh) = (r.row(entry), &rec_h[entry * u..(entry + 1) * u]);
        for j in 0..u {
            let dpre_h = dz[2 * u + j];
            drec[2 * u + j] = dpre_h * rv[j];
            dz[u + j] = dpre_h * rh[j];
        }
        r.backprop(&b.derivs[1], entry, &mut dz[u..2 * u])?;
        drec[..2 * u].copy_from_slice(&dz[..2 * u]);
    }
    b.state_grad(g.drec, width, 0..3, 0, g.dh_prev, g.tmp, true)
}

/// GRU, reset gate first: `rec_zr = h·U_zr`, `hh = act(x_h + (r·h)·U_h)`.
fn gru_before_forward(
    gates: [&mut Gate; 3],
    rh: &mut [f32],
    f: &Fwd<'_>,
    out: FwdOut<'_>,
) -> Result<()> {
    let (u, e) = (f.u, f.e.clone());
    let (n, width) = (e.len(), 3 * u);
    let [z, r, hh] = gates;
    f.blocks(0..2, 0, out.rec, width, out.hd)?;
    for (block, gate) in [&mut *z, &mut *r].into_iter().enumerate() {
        gate_inputs(gate, block, f, out.rec, width);
        gate.activate(e.clone());
    }
    for entry in e.clone() {
        let span = entry * u..(entry + 1) * u;
        let rh = &mut rh[span];
        f.hprev_seen_by(2, entry, rh);
        rh.iter_mut()
            .zip(r.row(entry))
            .for_each(|(d, &rv)| *d *= rv);
    }
    let uh = f.w.recurrent.columns(2 * u, u);
    let rh_rows = &rh[e.start * u..e.end * u];
    recurrent(rh_rows, n, uh, f.w.panel(1)?, &mut out.rec[2 * u..], width)?;
    gate_inputs(hh, 2, f, out.rec, width);
    hh.activate(e);
    mix_into(z, hh, f, out.h);
    Ok(())
}

fn gru_before_backward(gates: [&Gate; 3], b: &Bwd<'_>, mut g: StepGrads<'_>) -> Result<()> {
    let (u, e) = (b.u, b.e.clone());
    let (n, width) = (e.len(), 3 * u);
    let [z, r, hh] = gates;
    gru_mix_backward(z, hh, b, &mut g)?;
    // d(r·h) = dz_h·U_hᵀ.
    let d_rh = &mut g.tmp[..n * u];
    product(
        block_rows(g.dz, &e, width, 2 * u, u)?,
        b.ut(2 * u, u),
        b.panel(1)?,
        d_rh,
    )?;
    for (s, entry) in e.clone().enumerate() {
        let rows = s * u..(s + 1) * u;
        let hp = &b.hprev[entry * u..(entry + 1) * u];
        let dz = &mut g.dz[entry * width + u..entry * width + 2 * u];
        let (drh, dhp, rv) = (&d_rh[rows.clone()], &mut g.dh_prev[rows], r.row(entry));
        match b.mask(2, entry) {
            None => {
                for j in 0..u {
                    dz[j] = drh[j] * hp[j];
                    dhp[j] += drh[j] * rv[j];
                }
            }
            Some(m) => {
                for j in 0..u {
                    dz[j] = drh[j] * hp[j] * m[j];
                    dhp[j] += drh[j] * rv[j] * m[j];
                }
            }
        }
        r.backprop(&b.derivs[1], entry, dz)?;
    }
    b.state_grad(g.dz, width, 0..2, 0, g.dh_prev, g.tmp, true)
}

/// Columns `start..start + cols` of the rows `e` of `m` (`[entries, width]`).
fn block_rows<'a>(
    m: &'a [f32],
    e: &Range<usize>,
    width: usize,
    start: usize,
    cols: usize,
) -> Result<Mat<'a>> {
    let data = if e.is_empty() {
        &[]
    } else {
        m.get(e.start * width + start..)
            .ok_or_else(|| Error::invalid("internal: gradient buffer too small"))?
    };
    Ok(Mat {
        data,
        rows: e.len(),
        cols,
        stride: width,
    })
}
