//! The optimized sequence loop against a plain f64 implementation of Keras'
//! formulas and masking rules (`keras/src/backend/tensorflow/rnn.py`,
//! `keras/src/layers/rnn/{lstm,gru,simple_rnn}.py`), on random weights, inputs
//! and masks of every shape: right- and left-padded, holes, all masked, none.
//! Masks make the active rows change at every step, so the state rows are
//! swapped around, the per-step product runs on one row (the packed vector
//! product) and on several, and (with the small chunks of the unit-test build)
//! the input projections span several chunks. Half the cases draw the inputs
//! from a few vectors, as embedded tokens repeat.

use super::{run, run_with};
use crate::rnn::{Gru, Lstm, SimpleRnn};
use ndarray::{ArrayD, IxDyn};
use tensorweave_core::{IntoLayer, LayerRef};

/// A small deterministic generator of values in [-1, 1).
pub(super) struct Lcg(pub(super) u64);

impl Lcg {
    pub(super) fn next(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        ((self.0 >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    pub(super) fn array(&mut self, shape: &[usize], scale: f32) -> ArrayD<f32> {
        ArrayD::from_shape_fn(IxDyn(shape), |_| self.next() * scale)
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Lstm,
    GruAfter,
    GruBefore,
    Simple,
}

pub(super) fn sig(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// `v·m` for a row vector `v` and a row-major `[v.len(), n]` matrix, columns `cols`.
pub(super) fn vecmat(v: &[f64], m: &ArrayD<f32>, cols: std::ops::Range<usize>) -> Vec<f64> {
    cols.map(|j| {
        v.iter()
            .enumerate()
            .map(|(k, &x)| x * m[[k, j]] as f64)
            .sum()
    })
    .collect()
}

/// One Keras cell step in f64; returns the new `(h, c)`.
fn cell(kind: Kind, w: &[ArrayD<f32>], x: &[f64], h: &[f64], c: &[f64]) -> (Vec<f64>, Vec<f64>) {
    let u = h.len();
    let (k, r, b) = (&w[0], &w[1], &w[2]);
    let g = k.shape()[1];
    let bias = |row: usize, j: usize| -> f64 {
        if b.ndim() == 2 {
            b[[row, j]] as f64
        } else if row == 0 {
            b[[j]] as f64
        } else {
            0.0
        }
    };
    let xw: Vec<f64> = vecmat(x, k, 0..g)
        .iter()
        .enumerate()
        .map(|(j, v)| v + bias(0, j))
        .collect();
    match kind {
        Kind::Lstm => {
            let hu = vecmat(h, r, 0..g);
            let z: Vec<f64> = xw.iter().zip(&hu).map(|(a, b)| a + b).collect();
            let mut cn = vec![0.0; u];
            let mut hn = vec![0.0; u];
            for j in 0..u {
                cn[j] = sig(z[u + j]) * c[j] + sig(z[j]) * z[2 * u + j].tanh();
                hn[j] = sig(z[3 * u + j]) * cn[j].tanh();
            }
            (hn, cn)
        }
        Kind::GruAfter => {
            let hu: Vec<f64> = vecmat(h, r, 0..g)
                .iter()
                .enumerate()
                .map(|(j, v)| v + bias(1, j))
                .collect();
            let hn = (0..u)
                .map(|j| {
                    let z = sig(xw[j] + hu[j]);
                    let rr = sig(xw[u + j] + hu[u + j]);
                    let hh = (xw[2 * u + j] + rr * hu[2 * u + j]).tanh();
                    z * h[j] + (1.0 - z) * hh
                })
                .collect();
            (hn, vec![])
        }
        Kind::GruBefore => {
            let hu = vecmat(h, r, 0..2 * u);
            let z: Vec<f64> = (0..u).map(|j| sig(xw[j] + hu[j])).collect();
            let rh: Vec<f64> = (0..u).map(|j| sig(xw[u + j] + hu[u + j]) * h[j]).collect();
            let rhu = vecmat(&rh, r, 2 * u..3 * u);
            let hn = (0..u)
                .map(|j| z[j] * h[j] + (1.0 - z[j]) * (xw[2 * u + j] + rhu[j]).tanh())
                .collect();
            (hn, vec![])
        }
        Kind::Simple => {
            let hu = vecmat(h, r, 0..g);
            ((0..u).map(|j| (xw[j] + hu[j]).tanh()).collect(), vec![])
        }
    }
}

struct Options {
    backwards: bool,
    sequences: bool,
    zero_output: bool,
}

/// Keras' loop for one row: states frozen at masked steps, whose output is
/// the previous output (zeros at first) or zeros. Returns the outputs in
/// processing order and the final `(h, c)`.
#[allow(clippy::type_complexity)]
fn reference_row(
    kind: Kind,
    w: &[ArrayD<f32>],
    x: &ArrayD<f32>,
    mask: &[bool],
    row: usize,
    o: &Options,
) -> (Vec<Vec<f64>>, Vec<f64>, Vec<f64>) {
    let u = w[1].shape()[0];
    let steps = mask.len();
    let (mut h, mut c) = (vec![0.0; u], vec![0.0; u]);
    let mut prev = vec![0.0; u];
    let mut outs = Vec::new();
    for k in 0..steps {
        let t = if o.backwards { steps - 1 - k } else { k };
        let out = if mask[t] {
            let xt: Vec<f64> = (0..x.shape()[2]).map(|f| x[[row, t, f]] as f64).collect();
            let (hn, cn) = cell(kind, w, &xt, &h, &c);
            h = hn;
            if kind == Kind::Lstm {
                c = cn;
            }
            h.clone()
        } else if o.zero_output {
            vec![0.0; u]
        } else {
            prev.clone()
        };
        prev.clone_from(&out);
        outs.push(out);
    }
    (outs, h, c)
}

fn masks(rng: &mut Lcg, batch: usize, steps: usize) -> Vec<Vec<bool>> {
    (0..batch)
        .map(|r| {
            let len = ((rng.next() + 1.0) / 2.0 * (steps + 1) as f32) as usize % (steps + 1);
            (0..steps)
                .map(|t| match r % 5 {
                    0 => t < len,                 // right-padded
                    1 => t >= steps - len,        // left-padded
                    2 => rng.next() > -0.2,       // holes
                    3 => r % 2 == 1 || t < steps, // all valid
                    _ => false,                   // all masked
                })
                .collect()
        })
        .collect()
}

fn builder(kind: Kind, units: usize, o: &Options, weights: Vec<ArrayD<f32>>) -> LayerRef {
    macro_rules! common {
        ($b:expr) => {
            $b.return_sequences(o.sequences)
                .return_state(true)
                .go_backwards(o.backwards)
                .zero_output_for_mask(o.zero_output)
                .weights(weights)
                .into_layer()
        };
    }
    match kind {
        Kind::Lstm => common!(Lstm::new(units)),
        Kind::GruAfter => common!(Gru::new(units)),
        Kind::GruBefore => common!(Gru::new(units).reset_after(false)),
        Kind::Simple => common!(SimpleRnn::new(units)),
    }
}

#[test]
fn random_masks_match_a_plain_implementation_of_keras() {
    let mut rng = Lcg(42);
    let (batch, steps, features) = (7, 11, 3);
    for kind in [Kind::Lstm, Kind::GruAfter, Kind::GruBefore, Kind::Simple] {
        for units in [1, 5, 17] {
            for variant in 0..4 {
                let o = Options {
                    backwards: variant & 1 == 1,
                    sequences: variant & 2 == 2,
                    zero_output: variant == 3,
                };
                let gates = match kind {
                    Kind::Lstm => 4,
                    Kind::GruAfter | Kind::GruBefore => 3,
                    Kind::Simple => 1,
                };
                let bias_shape = if kind == Kind::GruAfter {
                    vec![2, gates * units]
                } else {
                    vec![gates * units]
                };
                let w = vec![
                    rng.array(&[features, gates * units], 1.0),
                    rng.array(&[units, gates * units], 0.8),
                    rng.array(&bias_shape, 0.5),
                ];
                // Odd variants draw the steps from four vectors, like embedded tokens.
                let x = if variant % 2 == 1 {
                    let pool = rng.array(&[4, features], 2.0);
                    let picks: Vec<usize> = (0..batch * steps)
                        .map(|_| ((rng.next() + 1.0) * 2.0) as usize % 4)
                        .collect();
                    ArrayD::from_shape_fn(IxDyn(&[batch, steps, features]), |i| {
                        pool[[picks[i[0] * steps + i[1]], i[2]]]
                    })
                } else {
                    rng.array(&[batch, steps, features], 2.0)
                };
                let m = masks(&mut rng, batch, steps);
                let mask_arr = ArrayD::from_shape_fn(IxDyn(&[batch, steps]), |i| m[i[0]][i[1]]);
                let got = run(
                    &builder(kind, units, &o, w.clone()),
                    x.clone(),
                    Some(mask_arr),
                );
                let ctx = format!(
                    "{kind:?} units {units} backwards {} sequences {} zero {}",
                    o.backwards, o.sequences, o.zero_output
                );
                for (r, mask) in m.iter().enumerate() {
                    let (outs, h, c) = reference_row(kind, &w, &x, mask, r, &o);
                    let check = |got: f32, want: f64, what: &str| {
                        assert!(
                            (got as f64 - want).abs() < 1e-5,
                            "{ctx}: row {r} {what}: got {got}, want {want}"
                        );
                    };
                    for j in 0..units {
                        if o.sequences {
                            for (k, out) in outs.iter().enumerate() {
                                check(
                                    got[0][[r, k, j]],
                                    out[j],
                                    &format!("output step {k} unit {j}"),
                                );
                            }
                        } else {
                            let last = outs.last().map_or(0.0, |v| v[j]);
                            check(got[0][[r, j]], last, &format!("last output unit {j}"));
                        }
                        check(got[1][[r, j]], h[j], &format!("h unit {j}"));
                        if kind == Kind::Lstm {
                            check(got[2][[r, j]], c[j], &format!("c unit {j}"));
                        }
                    }
                }
            }
        }
    }
}

/// A layer with enough work runs each half of the batch on its own thread;
/// the result is the one-thread result (rows are independent).
#[test]
fn two_threads_split_the_batch_without_changing_results() {
    let mut rng = Lcg(7);
    let (batch, steps, features, units) = (5, 130, 32, 32);
    let w = vec![
        rng.array(&[features, 4 * units], 0.3),
        rng.array(&[units, 4 * units], 0.3),
        rng.array(&[4 * units], 0.3),
    ];
    let x = rng.array(&[batch, steps, features], 1.0);
    let m = masks(&mut rng, batch, steps);
    let mask = ArrayD::from_shape_fn(IxDyn(&[batch, steps]), |i| m[i[0]][i[1]]);
    let layer = || {
        Lstm::new(units)
            .return_sequences(true)
            .return_state(true)
            .weights(w.clone())
    };
    let one = run_with(layer(), x.clone(), Some(mask.clone()), 1);
    let two = run_with(layer(), x, Some(mask), 2);
    assert_eq!(one.len(), 3);
    for (a, b) in one.iter().zip(&two) {
        assert_eq!(a.shape(), b.shape());
        let err = a.iter().zip(b).fold(0f32, |e, (p, q)| e.max((p - q).abs()));
        assert!(err < 1e-6, "{err}");
    }
}

/// Weights changed in place through `visit_params_mut`, without
/// `weights_changed`, still take effect (the packed copy is checked).
#[test]
fn weights_changed_in_place_are_used() {
    let mut rng = Lcg(11);
    let (features, units) = (2, 3);
    let w = vec![
        rng.array(&[features, 4 * units], 1.0),
        rng.array(&[units, 4 * units], 1.0),
        rng.array(&[4 * units], 0.5),
    ];
    let x = rng.array(&[1, 6, features], 1.0);
    let layer = Lstm::new(units).weights(w.clone()).into_layer();
    super::build_for(&layer, features);
    let before = super::call(&layer, x.clone(), None, 1);
    // Straight into the cell's weights, without `weights_changed`.
    let cell = layer.read().sublayers()[0].layer.clone();
    for p in cell.write().params_mut() {
        if p.name == "recurrent_kernel" {
            p.value.mapv_inplace(|v| -0.5 * v);
        }
    }
    let after = super::call(&layer, x.clone(), None, 1);
    let mut changed = w;
    changed[1].mapv_inplace(|v| -0.5 * v);
    let fresh = run(Lstm::new(units).weights(changed), x, None);
    assert_ne!(before[0], after[0]);
    assert_eq!(after[0], fresh[0]);
}
