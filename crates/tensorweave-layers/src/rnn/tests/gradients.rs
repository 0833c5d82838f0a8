//! The backward of every recurrent layer against central differences of its
//! training forward: the loss is `Σ_k Σ w_k · output_k` over every output
//! (sequence or last output, and the returned states) with fixed random
//! weights `w_k`, summed in f64; each input element and each weight element
//! is moved by ±`EPS` and the loss difference compared with the analytic
//! gradient. Cases: each cell (LSTM, GRU with the reset gate after and
//! before the product, SimpleRNN) × `go_backwards` × `return_sequences` ×
//! no mask / a mask (a right-padded row, an all-masked row, a row of length
//! one, a row with holes, steps where every row is masked, the last among them) / the mask with `zero_output_for_mask`; activations
//! whose derivative reads their input, softmax-like ones (applied per gate
//! block), no bias, gradients reaching the states only; `Bidirectional` in
//! every merge mode, on one thread and on two.
//!
//! The training forward itself is checked against the inference forward
//! (`call`), which `reference.rs` and the Keras fixtures check against Keras.

use ndarray::{ArrayD, IxDyn};
use tensorweave_core::{
    BackwardCall, CallContext, Inputs, IntoLayer, LayerRef, OutputGrad, Trained, Value,
};

use super::reference::Lcg;
use super::{build_for, mask};
use crate::activations::Activation;
use crate::rnn::{Bidirectional, Gru, Lstm, MergeMode, SimpleRnn};

/// The finite-difference step (the forward is float32).
const EPS: f32 = 4e-3;
/// Allowed difference: `ABS + REL·|numeric|`.
const ABS: f64 = 4e-4;
const REL: f64 = 4e-3;

const BATCH: usize = 4;
const STEPS: usize = 5;
const FEATURES: usize = 3;
const UNITS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Lstm,
    GruAfter,
    GruBefore,
    Simple,
}

const KINDS: [Kind; 4] = [Kind::Lstm, Kind::GruAfter, Kind::GruBefore, Kind::Simple];

/// One configuration of a recurrent layer.
#[derive(Clone, Copy, Debug)]
struct Config {
    kind: Kind,
    backwards: bool,
    sequences: bool,
    states: bool,
    zero_output: bool,
    use_bias: bool,
    activation: Activation,
    recurrent: Activation,
    /// `dropout` and `recurrent_dropout` (seeded, so that every training
    /// call of the probe draws the same masks).
    dropout: (f32, f32),
}

impl Config {
    fn new(kind: Kind) -> Self {
        Config {
            kind,
            backwards: false,
            sequences: false,
            states: true,
            zero_output: false,
            use_bias: true,
            activation: Activation::Tanh,
            recurrent: Activation::Sigmoid,
            dropout: (0.0, 0.0),
        }
    }

    fn gates(&self) -> usize {
        match self.kind {
            Kind::Lstm => 4,
            Kind::GruAfter | Kind::GruBefore => 3,
            Kind::Simple => 1,
        }
    }

    /// Random `kernel`, `recurrent_kernel` and (with `use_bias`) `bias`.
    fn weights(&self, rng: &mut Lcg) -> Vec<ArrayD<f32>> {
        let g = self.gates() * UNITS;
        let mut w = vec![rng.array(&[FEATURES, g], 0.9), rng.array(&[UNITS, g], 0.7)];
        if self.use_bias {
            let shape = if self.kind == Kind::GruAfter {
                vec![2, g]
            } else {
                vec![g]
            };
            w.push(rng.array(&shape, 0.5));
        }
        w
    }

    /// The layer, with `weights` unless it is
    /// to be wrapped (a `Bidirectional` takes all weights itself).
    fn layer(&self, weights: Option<Vec<ArrayD<f32>>>) -> LayerRef {
        macro_rules! common {
            ($b:expr) => {{
                let b = $b
                    .return_sequences(self.sequences)
                    .return_state(self.states)
                    .go_backwards(self.backwards)
                    .zero_output_for_mask(self.zero_output)
                    .use_bias(self.use_bias)
                    .activation(self.activation)
                    .dropout(self.dropout.0)
                    .recurrent_dropout(self.dropout.1)
                    .seed(13);
                match weights {
                    Some(w) => b.weights(w).into_layer(),
                    None => b.into_layer(),
                }
            }};
        }
        match self.kind {
            Kind::Lstm => common!(Lstm::new(UNITS).recurrent_activation(self.recurrent)),
            Kind::GruAfter => common!(Gru::new(UNITS).recurrent_activation(self.recurrent)),
            Kind::GruBefore => common!(Gru::new(UNITS)
                .reset_after(false)
                .recurrent_activation(self.recurrent)),
            Kind::Simple => common!(SimpleRnn::new(UNITS)),
        }
    }
}

/// A right-padded row, an all-masked row, a row of length one, a row with
/// holes; no row is valid at steps 2 and 4.
fn test_mask() -> ArrayD<bool> {
    mask(&[
        &[1, 1, 0, 0, 0],
        &[0, 0, 0, 0, 0],
        &[1, 0, 0, 0, 0],
        &[0, 1, 0, 1, 0],
    ])
}

/// A layer on fixed data: what the finite differences move and measure.
struct Probe {
    layer: LayerRef,
    x: ArrayD<f32>,
    mask: Option<ArrayD<bool>>,
    /// Whether training drops (then it differs from inference).
    drops: bool,
    /// Per output: the loss weights, or `None` when no gradient reaches it.
    loss_weights: Vec<Option<ArrayD<f32>>>,
    what: String,
}

impl Probe {
    /// Builds `layer` and draws the data and the loss weights; with
    /// `states_only` the first output takes no part in the loss.
    fn new(layer: LayerRef, masked: bool, states_only: bool, rng: &mut Lcg, what: String) -> Self {
        build_for(&layer, FEATURES);
        let x = rng.array(&[BATCH, STEPS, FEATURES], 1.5);
        let mut probe = Probe {
            layer,
            x,
            drops: false,
            mask: masked.then(test_mask),
            loss_weights: Vec::new(),
            what,
        };
        let outputs = probe.train(1).outputs;
        probe.loss_weights = outputs
            .iter()
            .enumerate()
            .map(|(k, v)| (k > 0 || !states_only).then(|| rng.array(v.shape(), 1.0)))
            .collect();
        probe
    }

    fn inputs<'a>(x: &'a Value, mask: Option<&'a Value>) -> Inputs<'a> {
        Inputs::new(vec![x], vec![mask])
    }

    /// The training forward on `self.x`.
    fn train(&self, threads: usize) -> Trained {
        self.train_on(&self.x, threads)
    }

    fn train_on(&self, x: &ArrayD<f32>, threads: usize) -> Trained {
        let (x, mask) = (Value::F32(x.clone()), self.mask.clone().map(Value::Bool));
        self.layer
            .read()
            .call_train(
                &Self::inputs(&x, mask.as_ref()),
                &CallContext::with_threads(threads),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", self.what))
    }

    /// The loss of the training forward on `x`.
    fn loss(&self, x: &ArrayD<f32>) -> f64 {
        let outputs = self.train_on(x, 1).outputs;
        outputs
            .iter()
            .zip(&self.loss_weights)
            .filter_map(|(v, w)| w.as_ref().map(|w| (v.as_f32().unwrap(), w)))
            .map(|(v, w)| {
                v.iter()
                    .zip(w)
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum::<f64>()
            })
            .sum()
    }

    /// The analytic gradients: of the input, and of each weight by path.
    fn analytic(&self, threads: usize) -> (ArrayD<f32>, Vec<(String, ArrayD<f32>)>) {
        let trained = self.train(threads);
        let grads: Vec<OutputGrad> = self
            .loss_weights
            .iter()
            .map(|w| w.clone().map(OutputGrad::of_value).unwrap_or_default())
            .collect();
        let (x, mask) = (
            Value::F32(self.x.clone()),
            self.mask.clone().map(Value::Bool),
        );
        let inputs = Self::inputs(&x, mask.as_ref());
        let ctx = CallContext::with_threads(threads);
        let call = BackwardCall {
            inputs: &inputs,
            outputs: &trained.outputs,
            saved: &*trained.saved,
            grads: &grads,
            ctx: &ctx,
        };
        let g = self
            .layer
            .read()
            .backward(&call)
            .unwrap_or_else(|e| panic!("{}: {e}", self.what));
        let gx = g.inputs[0].clone().expect("an input gradient");
        let params = g
            .params
            .into_iter()
            .map(|(p, g)| (p, g.to_dense().unwrap()))
            .collect();
        (gx, params)
    }

    /// Central differences of the loss over the input's elements.
    fn numeric_input(&self) -> ArrayD<f32> {
        let mut x = self.x.clone();
        let mut out = ArrayD::zeros(x.raw_dim());
        for i in 0..x.len() {
            let v = x.as_slice().unwrap()[i];
            x.as_slice_mut().unwrap()[i] = v + EPS;
            let up = self.loss(&x);
            x.as_slice_mut().unwrap()[i] = v - EPS;
            let down = self.loss(&x);
            x.as_slice_mut().unwrap()[i] = v;
            out.as_slice_mut().unwrap()[i] = ((up - down) / (2.0 * EPS as f64)) as f32;
        }
        out
    }

    /// Element `i` of the weight at `path`.
    fn weight(&self, path: &str, i: usize) -> f32 {
        let mut value = f32::NAN;
        self.layer.visit_params(&mut |p, param| {
            if p == path {
                value = param.value.as_slice().unwrap()[i];
            }
        });
        value
    }

    /// Sets element `i` of the weight at `path`.
    fn set_weight(&self, path: &str, i: usize, value: f32) {
        self.layer.visit_params_mut(&mut |p, param| {
            if p == path {
                param.value.as_slice_mut().unwrap()[i] = value;
            }
        });
    }

    /// Central differences of the loss over the elements of the weight at `path`.
    fn numeric_weight(&self, path: &str, shape: &[usize]) -> ArrayD<f32> {
        let mut out = ArrayD::zeros(IxDyn(shape));
        for i in 0..out.len() {
            let v = self.weight(path, i);
            self.set_weight(path, i, v + EPS);
            let up = self.loss(&self.x);
            self.set_weight(path, i, v - EPS);
            let down = self.loss(&self.x);
            self.set_weight(path, i, v);
            out.as_slice_mut().unwrap()[i] = ((up - down) / (2.0 * EPS as f64)) as f32;
        }
        out
    }

    /// Checks every gradient against central differences, and the training
    /// forward against the inference forward.
    fn check(&self) {
        if !self.drops {
            self.check_forward();
        }
        let (gx, params) = self.analytic(1);
        compare(&format!("{}: input", self.what), &gx, &self.numeric_input());
        if let Some(m) = &self.mask {
            for (idx, &valid) in m.indexed_iter() {
                let row = gx.slice(ndarray::s![idx[0], idx[1], ..]);
                assert!(
                    valid || row.iter().all(|&v| v == 0.0),
                    "{}: masked step {idx:?} got gradient {row}",
                    self.what
                );
            }
        }
        let specs = self.layer.weight_specs();
        let trainable: Vec<_> = specs.iter().filter(|s| s.2).collect();
        assert_eq!(
            params.len(),
            trainable.len(),
            "{}: gradients for {:?}, weights {trainable:?}",
            self.what,
            params.iter().map(|p| &p.0).collect::<Vec<_>>()
        );
        for (path, shape, _) in trainable {
            let got = &params
                .iter()
                .find(|(p, _)| p == path)
                .unwrap_or_else(|| panic!("{}: no gradient for {path}", self.what))
                .1;
            let want = self.numeric_weight(path, shape);
            compare(&format!("{}: {path}", self.what), got, &want);
        }
    }

    /// The training forward's outputs equal the inference forward's.
    fn check_forward(&self) {
        let (x, mask) = (
            Value::F32(self.x.clone()),
            self.mask.clone().map(Value::Bool),
        );
        let inferred = self
            .layer
            .read()
            .call(
                &Self::inputs(&x, mask.as_ref()),
                &CallContext::with_threads(1),
            )
            .unwrap();
        let trained = self.train(1).outputs;
        assert_eq!(inferred.len(), trained.len(), "{}", self.what);
        for (k, (a, b)) in inferred.iter().zip(&trained).enumerate() {
            let (a, b) = (a.as_f32().unwrap(), b.as_f32().unwrap());
            assert_eq!(a.shape(), b.shape(), "{}: output {k}", self.what);
            for (p, q) in a.iter().zip(b) {
                assert!(
                    (p - q).abs() < 1e-5,
                    "{}: output {k}: inference {p}, training {q}",
                    self.what
                );
            }
        }
    }
}

/// Asserts `got` (analytic) within tolerance of `want` (numeric), and that
/// the gradient is not trivially zero everywhere.
fn compare(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>) {
    assert_eq!(got.shape(), want.shape(), "{what}");
    for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
        let err = (g as f64 - w as f64).abs();
        assert!(
            err <= ABS + REL * (w as f64).abs(),
            "{what}: element {i}: analytic {g}, numeric {w}"
        );
    }
}

fn probe(c: Config, masked: bool, states_only: bool, rng: &mut Lcg) -> Probe {
    let layer = c.layer(Some(c.weights(rng)));
    let what = format!("{c:?} masked {masked} states_only {states_only}");
    let mut p = Probe::new(layer, masked, states_only, rng, what);
    p.drops = c.dropout != (0.0, 0.0);
    p
}

#[test]
fn every_cell_direction_and_mask_rule_matches_finite_differences() {
    let mut rng = Lcg(2024);
    for kind in KINDS {
        for backwards in [false, true] {
            for sequences in [false, true] {
                // No mask, a mask, a mask with zero outputs at masked steps.
                for masking in 0..3 {
                    let c = Config {
                        backwards,
                        sequences,
                        states: masking != 1 || backwards,
                        zero_output: masking == 2,
                        ..Config::new(kind)
                    };
                    probe(c, masking > 0, false, &mut rng).check();
                }
            }
        }
    }
}

#[test]
fn other_activations_no_bias_and_state_gradients_match_finite_differences() {
    let mut rng = Lcg(77);
    for kind in KINDS {
        let base = Config {
            backwards: true,
            sequences: true,
            ..Config::new(kind)
        };
        let cases = [
            // Derivatives that read the activation's input.
            Config {
                activation: Activation::Gelu,
                recurrent: Activation::Swish,
                ..base
            },
            // Softmax over each gate block, as Keras applies it.
            Config {
                activation: Activation::Softmax,
                recurrent: Activation::Softsign,
                ..base
            },
            Config {
                recurrent: Activation::Softmax,
                zero_output: true,
                ..base
            },
            Config {
                use_bias: false,
                sequences: false,
                ..base
            },
        ];
        for c in cases {
            probe(c, true, false, &mut rng).check();
        }
        // Only the returned states reach the loss.
        probe(Config::new(kind), true, true, &mut rng).check();
    }
}

#[test]
fn bidirectional_merge_modes_match_finite_differences() {
    let modes = [
        MergeMode::Concat,
        MergeMode::Sum,
        MergeMode::Mul,
        MergeMode::Ave,
        MergeMode::None,
    ];
    let mut rng = Lcg(5);
    for kind in KINDS {
        for (m, mode) in modes.into_iter().enumerate() {
            let c = Config {
                sequences: m % 2 == 0,
                ..Config::new(kind)
            };
            let weights: Vec<_> = [c.weights(&mut rng), c.weights(&mut rng)].concat();
            let layer = Bidirectional::new(&c.layer(None))
                .merge_mode(mode)
                .weights(weights)
                .into_layer();
            let what = format!("Bidirectional {mode} over {c:?}");
            let p = Probe::new(layer, true, false, &mut rng, what);
            p.check();
            // Two threads (one per direction) give the one-thread gradients.
            let (one, two) = (p.analytic(1), p.analytic(2));
            assert_eq!(one.0, two.0, "{}", p.what);
            assert_eq!(one.1, two.1, "{}", p.what);
        }
    }
}

/// With enough work and two threads, each half of the batch trains on its
/// own thread; outputs and gradients are the one-thread ones (up to the order
/// of the weight gradients' sums).
#[test]
fn two_threads_split_the_batch_without_changing_gradients() {
    let mut rng = Lcg(31);
    let (batch, steps, features, units) = (16, 64, 32, 32);
    for (k, kind) in KINDS.into_iter().enumerate() {
        let (sequences, backwards) = (k % 2 == 0, k % 3 == 0);
        let g = Config::new(kind).gates() * units;
        let bias = if kind == Kind::GruAfter {
            vec![2, g]
        } else {
            vec![g]
        };
        let w = vec![
            rng.array(&[features, g], 0.3),
            rng.array(&[units, g], 0.3),
            rng.array(&bias, 0.3),
        ];
        macro_rules! made {
            ($b:expr) => {
                $b.return_sequences(sequences)
                    .go_backwards(backwards)
                    // Seeded dropout: both halves take their rows' masks.
                    .dropout(0.2)
                    .recurrent_dropout(0.3)
                    .seed(4)
                    .weights(w)
                    .into_layer()
            };
        }
        let layer = match kind {
            Kind::Lstm => made!(Lstm::new(units)),
            Kind::GruAfter => made!(Gru::new(units)),
            Kind::GruBefore => made!(Gru::new(units).reset_after(false)),
            Kind::Simple => made!(SimpleRnn::new(units)),
        };
        build_for(&layer, features);
        let lengths: Vec<usize> = (0..batch).map(|r| (r * 7) % (steps + 1)).collect();
        let m = ArrayD::from_shape_fn(IxDyn(&[batch, steps]), |i| i[1] < lengths[i[0]]);
        let mut probe = Probe {
            layer,
            x: rng.array(&[batch, steps, features], 1.0),
            mask: Some(m),
            drops: true,
            loss_weights: Vec::new(),
            what: format!("{kind:?} on two threads"),
        };
        let close = |a: &ArrayD<f32>, b: &ArrayD<f32>, what: &str| {
            assert_eq!(a.shape(), b.shape(), "{}: {what}", probe.what);
            for (p, q) in a.iter().zip(b) {
                let ok = (p - q).abs() <= 1e-5 + 1e-5 * p.abs();
                assert!(ok, "{}: {what}: {p} vs {q}", probe.what);
            }
        };
        // A step's rows may take the one-row product in a half and the
        // general one in the whole batch: equal up to the order of sums.
        let (one, two) = (probe.train(1).outputs, probe.train(2).outputs);
        for (a, b) in one.iter().zip(&two) {
            close(a.as_f32().unwrap(), b.as_f32().unwrap(), "output");
        }
        probe.loss_weights = vec![Some(rng.array(one[0].shape(), 1.0))];
        let ((x1, p1), (x2, p2)) = (probe.analytic(1), probe.analytic(2));
        close(&x1, &x2, "input");
        assert_eq!(p1.len(), p2.len());
        for ((n1, a), (n2, b)) in p1.iter().zip(&p2) {
            assert_eq!(n1, n2);
            close(a, b, n1);
        }
    }
}

#[test]
fn dropout_and_recurrent_dropout_match_finite_differences() {
    let mut rng = Lcg(31);
    for kind in KINDS {
        for dropout in [(0.4, 0.0), (0.0, 0.5), (0.3, 0.4)] {
            for (backwards, masked) in [(false, false), (true, true)] {
                let c = Config {
                    backwards,
                    sequences: masked,
                    dropout,
                    ..Config::new(kind)
                };
                probe(c, masked, false, &mut rng).check();
            }
        }
    }
}

#[test]
fn bidirectional_with_dropout_matches_finite_differences() {
    let mut rng = Lcg(32);
    for kind in [Kind::Lstm, Kind::GruAfter] {
        let c = Config {
            sequences: true,
            states: false,
            dropout: (0.3, 0.3),
            ..Config::new(kind)
        };
        let weights: Vec<_> = [c.weights(&mut rng), c.weights(&mut rng)].concat();
        let layer = Bidirectional::new(&c.layer(None))
            .weights(weights)
            .into_layer();
        let what = format!("Bidirectional {c:?} with dropout");
        let mut p = Probe::new(layer, true, false, &mut rng, what);
        p.drops = true;
        p.check();
    }
}
