//! Training-mode `dropout` and `recurrent_dropout` of the recurrent layers,
//! against a plain f64 implementation of Keras' cells with the same masks
//! (`keras/src/layers/rnn/{lstm,gru,simple_rnn,dropout_rnn_cell}.py`): with
//! `recurrent_dropout` other than 0 the LSTM and GRU run their
//! `implementation=1` step, one input mask and one state mask per gate
//! block, the state mask applied before the recurrent product only (the
//! carry `c` and the GRU's mix read `h` as it is); otherwise one input mask
//! serves every gate. The masks are drawn once per call and used at every
//! step, kept entries scaled by `1 / (1 - rate)`. The gradients through them
//! are checked by `gradients.rs`.

use ndarray::{Array2, ArrayD};
use tensorweave_core::{CallContext, Inputs, IntoLayer, LayerRef, Value};

use super::reference::{sig, vecmat, Lcg};
use super::{build_for, mask};
use crate::activations::Activation;
use crate::rnn::bptt::{CellDropout, CellMath, CellTraining, DropoutRates};
use crate::rnn::{Gru, Lstm, SimpleRnn};

const BATCH: usize = 3;
const STEPS: usize = 4;
const FEATURES: usize = 3;
const UNITS: usize = 2;
const SEED: u64 = 5;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Lstm,
    GruAfter,
    GruBefore,
    Simple,
}

impl Kind {
    fn math(self) -> CellMath {
        match self {
            Kind::Lstm => CellMath::Lstm,
            Kind::GruAfter => CellMath::GruResetAfter,
            Kind::GruBefore => CellMath::GruResetBefore,
            Kind::Simple => CellMath::Simple,
        }
    }

    fn gates(self) -> usize {
        match self {
            Kind::Lstm => 4,
            Kind::GruAfter | Kind::GruBefore => 3,
            Kind::Simple => 1,
        }
    }
}

/// `v ⊙ mask` (no mask: `v`).
fn times(v: &[f64], mask: Option<ndarray::ArrayView1<'_, f32>>) -> Vec<f64> {
    match mask {
        Some(m) => v.iter().zip(m).map(|(a, &b)| a * b as f64).collect(),
        None => v.to_vec(),
    }
}

/// One Keras cell step with dropout: gate block `k` sees `x ⊙ xm(k)` and,
/// in its recurrent product, `h ⊙ hm(k)`. Returns the new `(h, c)`.
#[allow(clippy::type_complexity)]
fn cell<'m>(
    kind: Kind,
    w: &[ArrayD<f32>],
    x: &[f64],
    h: &[f64],
    c: &[f64],
    xm: &dyn Fn(usize) -> Option<ndarray::ArrayView1<'m, f32>>,
    hm: &dyn Fn(usize) -> Option<ndarray::ArrayView1<'m, f32>>,
) -> (Vec<f64>, Vec<f64>) {
    let u = h.len();
    let (kernel, rec, b) = (&w[0], &w[1], &w[2]);
    let bias = |row: usize, j: usize| -> f64 {
        match (b.ndim(), row) {
            (2, _) => b[[row, j]] as f64,
            (_, 0) => b[[j]] as f64,
            _ => 0.0,
        }
    };
    let block = |k: usize| k * u..(k + 1) * u;
    // x_k·W_k + b_k and h_k·U_k (+ recurrent bias) per gate block.
    let xw: Vec<Vec<f64>> = (0..kind.gates())
        .map(|k| {
            let xs = times(x, xm(k));
            let v = vecmat(&xs, kernel, block(k));
            v.iter()
                .enumerate()
                .map(|(j, v)| v + bias(0, k * u + j))
                .collect()
        })
        .collect();
    let hu = |k: usize| -> Vec<f64> {
        let hs = times(h, hm(k));
        let v = vecmat(&hs, rec, block(k));
        v.iter()
            .enumerate()
            .map(|(j, v)| v + bias(1, k * u + j))
            .collect()
    };
    match kind {
        Kind::Lstm => {
            let z: Vec<Vec<f64>> = (0..4)
                .map(|k| xw[k].iter().zip(hu(k)).map(|(a, b)| a + b).collect())
                .collect();
            let cn: Vec<f64> = (0..u)
                .map(|j| sig(z[1][j]) * c[j] + sig(z[0][j]) * z[2][j].tanh())
                .collect();
            let hn = (0..u).map(|j| sig(z[3][j]) * cn[j].tanh()).collect();
            (hn, cn)
        }
        Kind::GruAfter => {
            let (hz, hr, hh) = (hu(0), hu(1), hu(2));
            let hn = (0..u)
                .map(|j| {
                    let z = sig(xw[0][j] + hz[j]);
                    let r = sig(xw[1][j] + hr[j]);
                    let cand = (xw[2][j] + r * hh[j]).tanh();
                    z * h[j] + (1.0 - z) * cand
                })
                .collect();
            (hn, vec![])
        }
        Kind::GruBefore => {
            let (hz, hr) = (hu(0), hu(1));
            let z: Vec<f64> = (0..u).map(|j| sig(xw[0][j] + hz[j])).collect();
            let h_h = times(h, hm(2));
            let rh: Vec<f64> = (0..u).map(|j| sig(xw[1][j] + hr[j]) * h_h[j]).collect();
            let rhu = vecmat(&rh, rec, block(2));
            let hn = (0..u)
                .map(|j| z[j] * h[j] + (1.0 - z[j]) * (xw[2][j] + rhu[j]).tanh())
                .collect();
            (hn, vec![])
        }
        Kind::Simple => {
            let hs = hu(0);
            ((0..u).map(|j| (xw[0][j] + hs[j]).tanh()).collect(), vec![])
        }
    }
}

/// Row `r` of gate block `k`'s mask (of the only mask when one serves all).
fn pick(m: &[Array2<f32>], k: usize, r: usize) -> Option<ndarray::ArrayView1<'_, f32>> {
    match m {
        [] => None,
        [one] => Some(one.row(r)),
        all => Some(all[k].row(r)),
    }
}

fn weights(kind: Kind, rng: &mut Lcg) -> Vec<ArrayD<f32>> {
    let g = kind.gates() * UNITS;
    let bias = if kind == Kind::GruAfter {
        rng.array(&[2, g], 0.5)
    } else {
        rng.array(&[g], 0.5)
    };
    vec![
        rng.array(&[FEATURES, g], 0.9),
        rng.array(&[UNITS, g], 0.8),
        bias,
    ]
}

fn layer(kind: Kind, rates: (f32, f32), w: Vec<ArrayD<f32>>) -> LayerRef {
    macro_rules! common {
        ($b:expr) => {
            $b.return_sequences(true)
                .return_state(true)
                .dropout(rates.0)
                .recurrent_dropout(rates.1)
                .seed(SEED)
                .weights(w)
                .into_layer()
        };
    }
    match kind {
        Kind::Lstm => common!(Lstm::new(UNITS)),
        Kind::GruAfter => common!(Gru::new(UNITS)),
        Kind::GruBefore => common!(Gru::new(UNITS).reset_after(false)),
        Kind::Simple => common!(SimpleRnn::new(UNITS)),
    }
}

fn draw(kind: Kind, rates: (f32, f32), step_seed: u64, batch: usize) -> CellDropout {
    let t = CellTraining {
        math: kind.math(),
        activation: Activation::Tanh,
        recurrent_activation: Activation::Sigmoid,
    };
    let rates = DropoutRates {
        input: rates.0,
        recurrent: rates.1,
        seed: Some(SEED),
        step_seed,
    };
    CellDropout::draw(t, rates, batch, FEATURES, UNITS)
}

fn train(layer: &LayerRef, x: &ArrayD<f32>, m: &ArrayD<bool>, step_seed: u64) -> Vec<ArrayD<f32>> {
    let (x, m) = (Value::F32(x.clone()), Value::Bool(m.clone()));
    let mut ctx = CallContext::with_threads(1);
    ctx.step_seed = step_seed;
    layer
        .read()
        .call_train(&Inputs::new(vec![&x], vec![Some(&m)]), &ctx)
        .unwrap()
        .outputs
        .into_iter()
        .map(|v| v.into_f32().unwrap())
        .collect()
}

#[test]
fn training_outputs_match_keras_cells_with_the_same_masks() {
    let mut rng = Lcg(77);
    let valid = mask(&[&[1, 1, 1, 1], &[1, 1, 0, 0], &[1, 0, 1, 1]]);
    for kind in [Kind::Lstm, Kind::GruAfter, Kind::GruBefore, Kind::Simple] {
        for rates in [(0.4, 0.0), (0.0, 0.5), (0.3, 0.6)] {
            let w = weights(kind, &mut rng);
            let l = layer(kind, rates, w.clone());
            build_for(&l, FEATURES);
            let x = rng.array(&[BATCH, STEPS, FEATURES], 1.2);
            let got = train(&l, &x, &valid, 9);
            let drop = draw(kind, rates, 9, BATCH);
            let per_gate = kind != Kind::Simple && rates.1 != 0.0;
            assert_eq!(
                drop.input.len(),
                usize::from(rates.0 > 0.0) * if per_gate { kind.gates() } else { 1 }
            );
            for r in 0..BATCH {
                let xm = |k: usize| pick(&drop.input, k, r);
                let hm = |k: usize| pick(&drop.recurrent, k, r);
                let (mut h, mut c) = (vec![0.0; UNITS], vec![0.0; UNITS]);
                for t in 0..STEPS {
                    if valid[[r, t]] {
                        let xt: Vec<f64> = (0..FEATURES).map(|f| x[[r, t, f]] as f64).collect();
                        let (hn, cn) = cell(kind, &w, &xt, &h, &c, &xm, &hm);
                        h = hn;
                        if kind == Kind::Lstm {
                            c = cn;
                        }
                    }
                    for j in 0..UNITS {
                        let (g, e) = (got[0][[r, t, j]] as f64, h[j]);
                        assert!(
                            (g - e).abs() < 1e-5,
                            "{kind:?} {rates:?} row {r} step {t}: {g} vs {e}"
                        );
                    }
                }
                for j in 0..UNITS {
                    assert!(
                        (got[1][[r, j]] as f64 - h[j]).abs() < 1e-5,
                        "{kind:?} final h"
                    );
                    if kind == Kind::Lstm {
                        assert!(
                            (got[2][[r, j]] as f64 - c[j]).abs() < 1e-5,
                            "{kind:?} final c"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn masks_are_inverted_dropout_drawn_once_per_call_and_seeded() {
    let drop = draw(Kind::Lstm, (0.3, 0.25), 1, 2000);
    assert_eq!((drop.input.len(), drop.recurrent.len()), (4, 4));
    for (masks, rate, cols) in [(&drop.input, 0.3, FEATURES), (&drop.recurrent, 0.25, UNITS)] {
        for m in masks {
            assert_eq!(m.dim(), (2000, cols));
            let zeros = m.iter().filter(|&&v| v == 0.0).count() as f64 / m.len() as f64;
            assert!(
                (zeros - rate).abs() < 0.03,
                "dropped fraction {zeros} for rate {rate}"
            );
            let scale = 1.0 / (1.0 - rate as f32);
            assert!(m.iter().all(|&v| v == 0.0 || (v - scale).abs() < 1e-6));
        }
        assert_ne!(masks[0], masks[1], "each gate block draws its own mask");
    }
    // Without recurrent dropout, one input mask for every gate (Keras'
    // implementation 2); SimpleRNN always has one.
    assert_eq!(draw(Kind::GruAfter, (0.3, 0.0), 1, 8).input.len(), 1);
    assert_eq!(draw(Kind::Simple, (0.3, 0.3), 1, 8).input.len(), 1);
    // Keras applies a rate only when 0 < rate < 1.
    let none = draw(Kind::Lstm, (1.0, 0.0), 1, 8);
    assert!(none.input.is_empty() && none.recurrent.is_empty());
    // The same step draws the same masks; the next step new ones.
    assert_eq!(
        draw(Kind::Lstm, (0.5, 0.5), 3, 8).input,
        draw(Kind::Lstm, (0.5, 0.5), 3, 8).input
    );
    assert_ne!(
        draw(Kind::Lstm, (0.5, 0.5), 3, 8).input,
        draw(Kind::Lstm, (0.5, 0.5), 4, 8).input
    );
}

#[test]
fn dropout_is_the_identity_at_inference() {
    let mut rng = Lcg(3);
    let w = weights(Kind::Lstm, &mut rng);
    let plain = layer(Kind::Lstm, (0.0, 0.0), w.clone());
    let dropped = layer(Kind::Lstm, (0.5, 0.5), w);
    let x = rng.array(&[BATCH, STEPS, FEATURES], 1.0);
    let all = mask(&[&[1, 1, 1, 1], &[1, 1, 1, 1], &[1, 1, 1, 1]]);
    let outputs = |l: &LayerRef| {
        build_for(l, FEATURES);
        super::call(l, x.clone(), Some(all.clone()), 1)
    };
    assert_eq!(outputs(&plain), outputs(&dropped));
    assert_ne!(
        train(&dropped, &x, &all, 0)[0],
        outputs(&plain)[0],
        "training drops"
    );
}
