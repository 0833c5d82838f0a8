//! What every cell's step shares: the work buffers, the recurrent product
//! (a packed vector product for one row, the general product otherwise), the
//! choice of activation code (vectorizable approximations of tanh and sigmoid,
//! compiled for AVX2 where the CPU has it; any element-wise activation one
//! value at a time; softmax-like ones over each gate block, as Keras applies
//! them to the split gate tensors) and small element-wise helpers. Each cell's
//! own update lives in its file (`lstm.rs`, `gru.rs`, `simple_rnn.rs`).

use tensorweave_core::Result;
use tensorweave_kernels::{math, matmul, panel_product, Mat, Panels};

use crate::activations::Activation;
use crate::util::internal;

/// The rows one step advances: the first `n` rows of `h` (and `c` for the
/// LSTM); active row `s` reads its input projection (with the input bias) at
/// `xp[xp_off[s]..][..gates·units]`.
#[derive(Debug)]
pub struct StepRows<'a> {
    /// Number of active rows.
    pub n: usize,
    /// Input projections.
    pub xp: &'a [f32],
    /// Where each active row's projection starts in `xp`.
    pub xp_off: &'a [usize],
    /// Where each active row's projection of the next step starts in `xp`,
    /// for the cell to prefetch once the row is updated (a folded table far
    /// bigger than the caches); empty when there is nothing to prefetch.
    pub ahead: &'a [usize],
    /// Hidden states, `[rows, units]`, updated in place.
    pub h: &'a mut [f32],
    /// Cell states (LSTM), `[rows, units]`, updated in place.
    pub c: &'a mut [f32],
}

impl<'a> StepRows<'a> {
    /// The fields, in declaration order: `(n, xp, xp_off, ahead, h, c)`.
    #[allow(clippy::type_complexity)]
    pub fn parts(
        self,
    ) -> (
        usize,
        &'a [f32],
        &'a [usize],
        &'a [usize],
        &'a mut [f32],
        &'a mut [f32],
    ) {
        (self.n, self.xp, self.xp_off, self.ahead, self.h, self.c)
    }
}

/// Work buffers of a sequence, allocated once per call.
#[derive(Debug)]
pub struct Scratch {
    /// `h·U` for each active row, `[rows, gates·units]`.
    pub(crate) gates: Vec<f32>,
    /// `r·h` for the GRU with the reset gate first, `[rows, units]`.
    pub(crate) reset_h: Vec<f32>,
    /// Zeros standing in for a missing recurrent bias.
    pub(crate) zero_bias: Vec<f32>,
}

impl Scratch {
    /// Buffers for up to `rows` rows of `width` gate values, with `reset_rows`
    /// rows of `units` for a reset product.
    pub fn new(rows: usize, width: usize, reset_rows: usize, units: usize) -> Self {
        Scratch {
            gates: vec![0.0; rows * width],
            reset_h: vec![0.0; reset_rows * units],
            zero_bias: vec![0.0; width],
        }
    }
}

/// How a pass evaluates the activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// tanh and sigmoid by [`math`], vectorized.
    Fast,
    /// Any element-wise activation, one value at a time.
    Scalar,
    /// A softmax-like activation over each gate block.
    Block,
}

pub(crate) fn mode(activation: Activation, recurrent_activation: Activation, simple: bool) -> Mode {
    let block = |a: Activation| matches!(a, Activation::Softmax | Activation::LogSoftmax);
    let (act, rec) = (activation, recurrent_activation);
    let fast_rec = rec == Activation::Sigmoid || simple;
    if block(act) || (!simple && block(rec)) {
        Mode::Block
    } else if act == Activation::Tanh && fast_rec {
        Mode::Fast
    } else {
        Mode::Scalar
    }
}

/// `out = a·b` for `n` rows of `a` on the packed panels of `b`: the vector
/// product for one row, the panel product for a batch (faster than the
/// general product on these shapes, and it allocates nothing, so a step
/// loop makes no allocation per step); the general product only if the
/// panels do not match `b`.
pub(crate) fn recurrent(
    a: &[f32],
    n: usize,
    b: Mat<'_>,
    panels: &Panels,
    out: &mut [f32],
    out_stride: usize,
) -> Result<()> {
    if panels.dim() == (b.rows, b.cols) {
        panel_product(a, n, panels, out, out_stride).map_err(internal)
    } else {
        matmul(a, n, b, out, out_stride, false).map_err(internal)
    }
}

/// Where the active rows find their input projections.
pub(crate) struct Rows<'a> {
    pub(crate) u: usize,
    pub(crate) xp: &'a [f32],
    pub(crate) xp_off: &'a [usize],
    /// As [`StepRows::ahead`].
    pub(crate) ahead: &'a [usize],
}

impl Rows<'_> {
    pub(crate) fn x(&self, s: usize, width: usize) -> &[f32] {
        let o = self.xp_off[s];
        &self.xp[o..o + width]
    }

    /// Asks for active row `s`'s next projection (`width` values) to be
    /// brought into L2. Issued row by row between the updates, the
    /// prefetches overlap their computation and the next step's product;
    /// issued all at once for 32 rows they filled the miss buffers and
    /// stalled the loop for a tenth of its time.
    #[inline]
    pub(crate) fn prefetch_ahead(&self, s: usize, width: usize) {
        if let Some(&o) = self.ahead.get(s) {
            if let Some(next) = self.xp.get(o..o + width) {
                tensorweave_kernels::cells::prefetch_l2(next);
            }
        }
    }
}

/// The two activations of a cell.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Acts {
    /// Of the candidate state and the output.
    pub(crate) activation: Activation,
    /// Of the gates.
    pub(crate) recurrent: Activation,
}

/// Runs `pass`, compiled for AVX2 when the activations are the vectorizable
/// ones and the CPU has it (detected once, in `tensorweave-kernels`).
#[inline(always)]
pub(crate) fn vectorized(mode: Mode, pass: impl FnOnce()) {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    if mode == Mode::Fast && tensorweave_kernels::cpu().avx2_fma {
        // SAFETY: the CPU supports AVX2, the only feature `with_avx2` enables.
        unsafe { with_avx2(pass) };
        return;
    }
    let _ = mode;
    pass()
}

#[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
unsafe fn with_avx2(pass: impl FnOnce()) {
    pass()
}

/// The two activations of a pass as plain functions of one value.
#[inline(always)]
pub(crate) fn acts(
    mode: Mode,
    act: Activation,
    rec: Activation,
) -> (impl Fn(f32) -> f32 + Copy, impl Fn(f32) -> f32 + Copy) {
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

#[inline(always)]
pub(crate) fn add(v: &mut [f32], x: &[f32]) {
    v.iter_mut().zip(x).for_each(|(v, x)| *v += x);
}

/// `h = z·h + (1 − z)·hh`.
#[inline(always)]
pub(crate) fn mix(z: &[f32], h: &mut [f32], hh: &[f32]) {
    for ((hv, &zv), &cand) in h.iter_mut().zip(z).zip(hh) {
        *hv = zv * *hv + (1.0 - zv) * cand;
    }
}

/// Applies an activation to one gate block (softmax-like ones over the block,
/// as Keras applies them to the split gate tensor).
pub(crate) fn apply(act: Activation, v: &mut [f32]) {
    match act {
        Activation::Linear => {}
        Activation::Softmax | Activation::LogSoftmax => {
            crate::activations::softmax_slice(v, act == Activation::LogSoftmax)
        }
        other => v.iter_mut().for_each(|x| *x = other.scalar(*x)),
    }
}
