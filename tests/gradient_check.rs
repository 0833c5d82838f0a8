//! The public gradient checker (`train::gradcheck`) on every built-in layer,
//! the recurrent ones included (behind a masking embedding, with seeded
//! dropout; `tensorweave-layers`' rnn tests check every recurrent option
//! element by element): random shapes and options drawn by proptest from a
//! fixed seed, so a run checks the same cases every time.
//!
//! Each case builds a one-layer model on random inputs (and random weights
//! from the layer's initializers) and compares the backward pass with central
//! differences of `Σ r·y` in f64.

use ndarray::ArrayD;
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand::{Rng, SeedableRng};
use tensorweave::prelude::*;
use tensorweave::train::gradcheck::{check_gradients, GradCheck};

fn random_input(shape: &[usize], seed: u64) -> ArrayD<f32> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Away from 0, where ReLU-like activations have a kink.
    ArrayD::from_shape_fn(shape, |_| {
        let v: f32 = rng.random_range(0.1..1.5);
        if rng.random::<bool>() {
            v
        } else {
            -v
        }
    })
}

fn options() -> GradCheck {
    GradCheck {
        epsilon: 5e-3,
        atol: 2e-3,
        rtol: 2e-2,
        max_entries: 48,
        seed: 1,
    }
}

/// Checks the model made by `layer` on one float input of `shape`.
fn check_one(
    shape: &[usize],
    seed: u64,
    layer: impl FnOnce(&Tensor) -> tensorweave::Result<Tensor>,
) {
    let dims: Vec<Option<usize>> = shape[1..].iter().map(|&d| Some(d)).collect();
    let x = Input::new(dims).build();
    let y = layer(&x).unwrap();
    let model = Model::new(&[x], &[y]).unwrap();
    let input = Value::F32(random_input(shape, seed));
    let report = check_gradients(&model, &[input], &options()).unwrap();
    assert!(
        report.passed(),
        "{}: {report}",
        model.layers().last().unwrap().class_name()
    );
    assert!(report.checked > 0);
}

/// Checks a merge layer on two inputs of `shape`.
fn check_merge(
    shape: &[usize],
    seed: u64,
    layer: impl FnOnce(&Tensor, &Tensor) -> tensorweave::Result<Tensor>,
) {
    let dims: Vec<Option<usize>> = shape[1..].iter().map(|&d| Some(d)).collect();
    let (a, b) = (Input::new(dims.clone()).build(), Input::new(dims).build());
    let y = layer(&a, &b).unwrap();
    let model = Model::new(&[a, b], &[y]).unwrap();
    let inputs = [
        Value::F32(random_input(shape, seed)),
        Value::F32(random_input(shape, seed + 1)),
    ];
    let report = check_gradients(&model, &inputs, &options()).unwrap();
    assert!(report.passed(), "{report}");
}

const SMOOTH: [Activation; 12] = [
    Activation::Linear,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Softmax,
    Activation::LogSoftmax,
    Activation::Gelu,
    Activation::Softplus,
    Activation::Softsign,
    Activation::Swish,
    Activation::Mish,
    Activation::Exponential,
    Activation::Selu,
];

const ALL: [Activation; 19] = [
    Activation::Linear,
    Activation::Relu,
    Activation::Relu6,
    Activation::Sigmoid,
    Activation::Tanh,
    Activation::Softmax,
    Activation::LogSoftmax,
    Activation::Gelu,
    Activation::Elu,
    Activation::Selu,
    Activation::Softplus,
    Activation::Softsign,
    Activation::Swish,
    Activation::Silu,
    Activation::HardSigmoid,
    Activation::HardSilu,
    Activation::LeakyRelu,
    Activation::Exponential,
    Activation::Mish,
];

fn config() -> Config {
    Config {
        cases: 24,
        rng_seed: RngSeed::Fixed(20261202),
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn dense(batch in 1usize..4, steps in 0usize..3, features in 1usize..5, units in 1usize..5,
             act in 0usize..12, bias: bool, seed: u64) {
        let mut shape = vec![batch];
        if steps > 0 { shape.push(steps); }
        shape.push(features);
        check_one(&shape, seed, |x| Dense::new(units).activation(SMOOTH[act]).use_bias(bias).seed(seed).call(x));
    }

    #[test]
    fn activation_layer(batch in 1usize..3, features in 2usize..6, act in 0usize..19, seed: u64) {
        check_one(&[batch, features], seed, |x| ActivationLayer::new(ALL[act]).call(x));
    }

    #[test]
    fn conv1d(batch in 1usize..3, steps in 4usize..9, channels in 1usize..4, filters in 1usize..4,
              kernel in 1usize..4, stride in 1usize..3, dilation in 1usize..3, pad in 0usize..3,
              act in 0usize..12, seed: u64) {
        let padding = [Padding::Valid, Padding::Same, Padding::Causal][pad];
        // Keras refuses strides > 1 together with dilation > 1.
        let dilation = if stride > 1 { 1 } else { dilation };
        check_one(&[batch, steps, channels], seed, |x| {
            Conv1D::new(filters, kernel).strides(stride).dilation_rate(dilation)
                .padding(padding).activation(SMOOTH[act]).seed(seed).call(x)
        });
    }

    #[test]
    fn pooling(batch in 1usize..3, steps in 3usize..8, channels in 1usize..4, pool in 1usize..4,
               same: bool, kind in 0usize..4, seed: u64) {
        let padding = if same { Padding::Same } else { Padding::Valid };
        check_one(&[batch, steps, channels], seed, |x| match kind {
            0 => MaxPooling1D::new(pool).padding(padding).call(x),
            1 => AveragePooling1D::new(pool).padding(padding).call(x),
            2 => GlobalMaxPooling1D::new().call(x),
            _ => GlobalAveragePooling1D::new().call(x),
        });
    }

    #[test]
    fn merges(batch in 1usize..3, steps in 1usize..4, features in 1usize..4, kind in 0usize..7, seed: u64) {
        check_merge(&[batch, steps, features], seed, |a, b| match kind {
            0 => Add::new().call_many(&[a, b]),
            1 => Subtract::new().call_many(&[a, b]),
            2 => Multiply::new().call_many(&[a, b]),
            3 => Average::new().call_many(&[a, b]),
            4 => Maximum::new().call_many(&[a, b]),
            5 => Minimum::new().call_many(&[a, b]),
            _ => Concatenate::new().call_many(&[a, b]),
        });
    }

    #[test]
    fn reshaping(batch in 1usize..3, steps in 3usize..6, features in 1usize..4, kind in 0usize..5, seed: u64) {
        let shape = [batch, steps, features];
        match kind {
            0 => check_one(&shape, seed, |x| Flatten::new().call(x)),
            1 => check_one(&shape, seed, |x| Reshape::new([features as i64, -1]).call(x)),
            2 => check_one(&shape, seed, |x| Permute::new([2, 1]).call(x)),
            3 => check_one(&[batch, features], seed, |x| RepeatVector::new(steps).call(x)),
            _ => check_one(&shape, seed, |x| Cropping1D::new((1, 1)).call(x)),
        }
    }

    #[test]
    fn normalization(batch in 2usize..5, steps in 1usize..4, features in 2usize..5, kind in 0usize..4, seed: u64) {
        let shape = [batch, steps, features];
        match kind {
            0 => check_one(&shape, seed, |x| BatchNormalization::new().call(x)),
            1 => check_one(&shape, seed, |x| LayerNormalization::new().call(x)),
            2 => check_one(&shape, seed, |x| LayerNormalization::new().rms_scaling(true).call(x)),
            _ => check_one(&shape, seed, |x| LayerNormalization::new().center(false).axes([1, 2]).call(x)),
        }
    }

    #[test]
    fn keras_layers_more(batch in 1usize..3, steps in 2usize..5, features in 1usize..4, kind in 0usize..9, seed: u64) {
        let shape = [batch, steps, features];
        // Inputs lie in ±[0.1, 1.5]: away from the kinks at 0 and at 6.
        match kind {
            0 => check_one(&shape, seed, |x| Relu::new().max_value(6.0).negative_slope(0.1).call(x)),
            1 => check_one(&shape, seed, |x| LeakyRelu::new(0.2).call(x)),
            2 => check_one(&shape, seed, |x| Elu::new(0.7).call(x)),
            3 => check_one(&shape, seed, |x| Softmax::new().axis(1).call(x)),
            4 => check_one(&shape, seed, |x| Identity::new().call(x)),
            5 => check_one(&shape, seed, |x| ActivityRegularization::new(0.01, 0.02).call(x)),
            6 => check_one(&shape, seed, |x| ZeroPadding1D::new((1, 2)).call(x)),
            7 => check_one(&shape, seed, |x| {
                let init = Initializer::RandomUniform { minval: -0.5, maxval: 0.5 };
                Prelu::new().alpha_initializer(init).shared_axes(vec![1]).call(x)
            }),
            _ => check_one(&shape, seed, |x| UpSampling1D::new(3).call(x)),
        }
    }

    #[test]
    fn recurrent(kind in 0usize..5, sequences: bool, backwards: bool, dropout in 0usize..3, steps in 2usize..6, seed in 0u64..1000) {
        check_recurrent(kind, sequences, backwards, dropout, steps, seed);
    }

    #[test]
    fn recurrent_initial_state(kind in 0usize..5, sequences: bool, backwards: bool, return_state: bool, steps in 2usize..6, seed in 0u64..1000) {
        check_initial_state(kind, sequences, backwards, return_state, steps, seed);
    }

    #[test]
    fn dropout_is_checked_with_its_mask(batch in 1usize..3, features in 2usize..6, spatial: bool, seed: u64) {
        if spatial {
            check_one(&[batch, 3, features], seed, |x| SpatialDropout1D::new(0.4).seed(seed).call(x));
        } else {
            check_one(&[batch, features], seed, |x| Dropout::new(0.4).seed(seed).call(x));
        }
    }
}

/// A recurrent layer (LSTM, GRU with the reset gate after and before the
/// product, SimpleRNN, or a Bidirectional LSTM) behind an embedding with
/// `mask_zero`: padded and holed rows, so masked steps are skipped.
fn check_recurrent(
    kind: usize,
    sequences: bool,
    backwards: bool,
    dropout: usize,
    steps: usize,
    seed: u64,
) {
    let (rate, recurrent_rate) = [(0.0, 0.0), (0.3, 0.0), (0.2, 0.4)][dropout];
    let tokens = Input::new([Some(steps)]).dtype(DType::I32).build();
    let embedded = Embedding::new(7, 3)
        .mask_zero(true)
        .seed(seed)
        .call(&tokens)
        .unwrap();
    macro_rules! configured {
        ($b:expr) => {
            $b.return_sequences(sequences)
                .go_backwards(backwards)
                .dropout(rate)
                .recurrent_dropout(recurrent_rate)
                .seed(seed + 1)
        };
    }
    let y = match kind {
        0 => configured!(Lstm::new(3)).call(&embedded),
        1 => configured!(Gru::new(3)).call(&embedded),
        2 => configured!(Gru::new(3).reset_after(false)).call(&embedded),
        3 => configured!(SimpleRnn::new(3)).call(&embedded),
        _ => Bidirectional::new(configured!(Lstm::new(2)).go_backwards(false)).call(&embedded),
    }
    .unwrap();
    let model = Model::new(&[tokens], &[y]).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    // Row 0 right-padded, row 1 with a hole, row 2 unmasked.
    let ids = ArrayD::from_shape_fn(vec![3, steps], |ix| {
        let padded = (ix[0] == 0 && ix[1] + 1 == steps) || (ix[0] == 1 && ix[1] == 1);
        if padded {
            0
        } else {
            rng.random_range(1..7)
        }
    });
    let report = check_gradients(&model, &[Value::I32(ids)], &options()).unwrap();
    assert!(report.passed(), "recurrent kind {kind}: {report}");
    assert!(report.checked > 0);
}

/// A recurrent layer started from initial states that are model inputs (the
/// inference decoder of a seq2seq model), behind a masking embedding: row 0
/// right-padded, row 1 left-padded (its first outputs are zeros, not the
/// state), row 2 fully masked (its states pass through), row 3 unmasked. The
/// states' gradients are checked as those of float inputs.
fn check_initial_state(
    kind: usize,
    sequences: bool,
    backwards: bool,
    return_state: bool,
    steps: usize,
    seed: u64,
) {
    let units = 3;
    let tokens = Input::new([Some(steps)]).dtype(DType::I32).build();
    let embedded = Embedding::new(7, 2)
        .mask_zero(true)
        .seed(seed)
        .call(&tokens)
        .unwrap();
    let n_states = match kind {
        0 => 2,
        4 => 4,
        _ => 1,
    };
    let states: Vec<Tensor> = (0..n_states)
        .map(|_| Input::new([Some(units)]).build())
        .collect();
    let refs: Vec<&Tensor> = states.iter().collect();
    macro_rules! configured {
        ($b:expr) => {
            $b.return_sequences(sequences)
                .return_state(return_state)
                .go_backwards(backwards)
                .seed(seed + 1)
        };
    }
    let outputs = match kind {
        0 => configured!(Lstm::new(units)).call_with_initial_state(&embedded, &refs),
        1 => configured!(Gru::new(units)).call_with_initial_state(&embedded, &refs),
        2 => configured!(Gru::new(units).reset_after(false))
            .call_with_initial_state(&embedded, &refs),
        3 => configured!(SimpleRnn::new(units)).call_with_initial_state(&embedded, &refs),
        _ => Bidirectional::new(configured!(Lstm::new(units)).go_backwards(false))
            .call_with_initial_state(&embedded, &refs),
    }
    .unwrap();
    let mut inputs = vec![tokens];
    inputs.extend(states);
    let model = Model::new(&inputs, &outputs).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let ids = ArrayD::from_shape_fn(vec![4, steps], |ix| {
        let padded = (ix[0] == 0 && ix[1] + 1 == steps) || (ix[0] == 1 && ix[1] == 0) || ix[0] == 2;
        if padded {
            0
        } else {
            rng.random_range(1..7)
        }
    });
    let mut values = vec![Value::I32(ids)];
    for k in 0..n_states {
        values.push(Value::F32(random_input(&[4, units], seed + 10 + k as u64)));
    }
    let report = check_gradients(&model, &values, &options()).unwrap();
    assert!(report.passed(), "initial state, kind {kind}: {report}");
    assert!(report.checked > 0);
}

/// The embedding's table gradient (one row per token occurrence, summed when
/// densified) against finite differences.
#[test]
fn embedding_table() {
    let tokens = Input::new([Some(5)]).dtype(DType::I32).build();
    let y = Embedding::new(7, 3).seed(3).call(&tokens).unwrap();
    let model = Model::new(&[tokens], &[y]).unwrap();
    let ids = ndarray::array![[1, 2, 2, 0, 6], [3, 3, 3, 5, 1]].into_dyn();
    let report = check_gradients(&model, &[Value::I32(ids)], &options()).unwrap();
    assert!(report.passed(), "{report}");
    assert_eq!(report.checked, 21);
}

/// A wrong backward is caught: a layer whose backward doubles the gradient.
#[test]
fn the_checker_finds_a_wrong_backward() {
    use tensorweave::core::{
        BackwardCall, CallContext, Inputs, Layer, LayerGrads, LayerRef, TensorSpec,
    };
    #[derive(Debug)]
    struct Wrong;
    impl Layer for Wrong {
        fn class_name(&self) -> &str {
            "Wrong"
        }
        fn config(&self) -> serde_json::Value {
            serde_json::json!({})
        }
        fn output_specs(&self, i: &[TensorSpec]) -> tensorweave::Result<Vec<TensorSpec>> {
            Ok(i.to_vec())
        }
        fn call(&self, i: &Inputs<'_>, _: &CallContext) -> tensorweave::Result<Vec<Value>> {
            Ok(vec![Value::F32(i.f32(0)?.mapv(|v| v * v))])
        }
        fn has_backward(&self) -> bool {
            true
        }
        fn backward(&self, c: &BackwardCall<'_>) -> tensorweave::Result<LayerGrads> {
            let (x, gy) = (c.inputs.f32(0)?, c.value_grad(0)?.unwrap());
            Ok(LayerGrads::inputs(vec![Some(gy * &x.mapv(|v| 4.0 * v))]))
        }
    }
    let x = Input::new([3]).build();
    let y = LayerRef::new("wrong", Wrong).call(&x).unwrap();
    let model = Model::new(&[x], &[y]).unwrap();
    let report =
        check_gradients(&model, &[Value::F32(random_input(&[2, 3], 0))], &options()).unwrap();
    assert_eq!(report.mismatches.len(), 6, "{report}");
}

/// TimeDistributed over a Dense and over a whole model (a sentence encoder
/// applied to every sentence, as in the hierarchical attention network).
#[test]
fn time_distributed_layer_and_model() {
    check_one(&[2, 3, 4], 7, |x| {
        TimeDistributed::new(Dense::new(3).activation(Activation::Tanh).seed(1)).call(x)
    });
    let inner_in = Input::new([4]).build();
    let h = Dense::new(5)
        .activation(Activation::Tanh)
        .seed(2)
        .call(&inner_in)
        .unwrap();
    let h = Dense::new(2).seed(3).call(&h).unwrap();
    let inner = Model::with_name("encoder", &[inner_in], &[h]).unwrap();
    check_one(&[2, 3, 4], 8, |x| TimeDistributed::new(&inner).call(x));
}

/// A model used twice as a layer: the gradients of its shared weights sum.
#[test]
fn a_model_called_twice_sums_its_gradients() {
    let inner_in = Input::new([3]).build();
    let h = Dense::new(3)
        .activation(Activation::Tanh)
        .seed(4)
        .call(&inner_in)
        .unwrap();
    let inner = Model::with_name("shared", &[inner_in], &[h]).unwrap();
    let (a, b) = (Input::new([3]).build(), Input::new([3]).build());
    let (ya, yb) = (inner.call(&a).unwrap(), inner.call(&b).unwrap());
    let y = Add::new().call_many(&[&ya, &yb]).unwrap();
    let model = Model::new(&[a, b], &[y]).unwrap();
    let inputs = [
        Value::F32(random_input(&[2, 3], 1)),
        Value::F32(random_input(&[2, 3], 2)),
    ];
    let report = check_gradients(&model, &inputs, &options()).unwrap();
    assert!(report.passed(), "{report}");
}

/// The user-defined attention layer of the examples (`examples/shared/att_layer.rs`),
/// its backward written by hand, behind a masking Embedding: masked steps get
/// no weight and no gradient.
#[test]
fn the_examples_attention_layer() {
    #[path = "../examples/shared/att_layer.rs"]
    mod att_layer;
    let tokens = Input::new([Some(6)]).dtype(DType::I32).build();
    let e = Embedding::new(9, 4)
        .mask_zero(true)
        .seed(5)
        .call(&tokens)
        .unwrap();
    let y = att_layer::AttLayer::new(3).call(&e).unwrap();
    let model = Model::new(&[tokens], &[y]).unwrap();
    let ids = ndarray::array![[3, 1, 4, 1, 0, 0], [5, 8, 2, 6, 5, 3]].into_dyn();
    let report = check_gradients(&model, &[Value::I32(ids)], &options()).unwrap();
    assert!(report.passed(), "{report}");
}

/// Maximum, Minimum and Multiply read their inputs' masks (a masked entry is
/// replaced before the operation); their backward routes the gradient the
/// same way. Two masking Embeddings feed each merge, and a masked average
/// pools the result.
#[test]
fn masked_merges() {
    for kind in 0..3 {
        let a = Input::new([Some(5)]).dtype(DType::I32).build();
        let b = Input::new([Some(5)]).dtype(DType::I32).build();
        // Tables whose entries differ by at least 0.03 between the two (and
        // from 0), so that ±ε never crosses a tie of the maximum.
        let table = |p: f32, s: f32, m: usize, k: usize| {
            ArrayD::from_shape_fn(vec![9, 3], |ix| {
                ((ix[0] * m + ix[1] * k) % (m + 4)) as f32 * p + s
            })
        };
        let ea = Embedding::new(9, 3)
            .mask_zero(true)
            .weights(table(0.19, -1.07, 7, 3))
            .call(&a)
            .unwrap();
        let eb = Embedding::new(9, 3)
            .mask_zero(true)
            .weights(table(0.29, -1.03, 5, 2))
            .call(&b)
            .unwrap();
        let m = match kind {
            0 => Maximum::new().call_many(&[&ea, &eb]),
            1 => Minimum::new().call_many(&[&ea, &eb]),
            _ => Multiply::new().call_many(&[&ea, &eb]),
        }
        .unwrap();
        let y = GlobalAveragePooling1D::new().call(&m).unwrap();
        let model = Model::new(&[a, b], &[y]).unwrap();
        let ta = ndarray::array![[1, 2, 0, 4, 0], [3, 0, 0, 5, 6]].into_dyn();
        let tb = ndarray::array![[7, 0, 0, 8, 2], [0, 0, 1, 5, 4]].into_dyn();
        let report =
            check_gradients(&model, &[Value::I32(ta), Value::I32(tb)], &options()).unwrap();
        assert!(report.passed(), "merge {kind}: {report}");
    }
}

/// Distinct values in ±[0.1, 1.4], none within 0.03 of a kink (0, ±0.5, the
/// bounds the op cases clip to), so that central differences see smooth
/// functions and maxima have no ties.
fn smooth_input(shape: &[usize], salt: usize) -> ArrayD<f32> {
    let mut i = salt;
    ArrayD::from_shape_fn(shape, |_| {
        i += 1;
        let frac = (i as f32 * 0.618_034).fract();
        let mut v = 0.1 + 1.3 * frac;
        if (v - 0.5).abs() < 0.03 {
            v += 0.06;
        }
        if i.is_multiple_of(2) {
            -v
        } else {
            v
        }
    })
}

/// The ops on Keras tensors (`tensorweave::ops`): each case a small model on
/// `a` `[2, 3, 4]` and `b` `[2, 1, 4]` (broadcast against `a`), constants
/// mixed in; every float input's gradient is checked.
#[test]
fn ops_on_tensors() {
    use tensorweave::ops;
    type Case = fn(&Tensor, &Tensor) -> tensorweave::Result<Tensor>;
    let cases: Vec<(&str, Case)> = vec![
        ("add", |a, b| ops::add(a, b)),
        ("subtract", |a, b| ops::subtract(b, a)),
        ("multiply", |a, b| ops::multiply(a, b)),
        ("scalar", |a, _| ops::subtract(1.0, &ops::multiply(2.0, a)?)),
        ("divide", |a, b| {
            ops::true_divide(a, &ops::add(&ops::square(b)?, 1.0)?)
        }),
        ("power", |a, b| {
            ops::power(&ops::add(&ops::abs(a)?, 0.5)?, &ops::add(b, 2.0)?)
        }),
        ("maximum", |a, b| ops::maximum(a, b)),
        ("minimum", |a, _| ops::minimum(a, 0.25)),
        ("where", |a, b| ops::where_(&ops::greater(a, b)?, a, b)),
        ("where_scalar", |a, _| {
            ops::where_(&ops::less(a, 0.0)?, 0.5, a)
        }),
        ("exp_log", |a, _| ops::log(&ops::add(&ops::exp(a)?, 1.0)?)),
        ("sqrt_rsqrt", |a, _| {
            let p = ops::add(&ops::abs(a)?, 0.5)?;
            ops::add(&ops::sqrt(&p)?, &ops::rsqrt(&p)?)
        }),
        ("log1p_expm1", |a, _| {
            ops::add(&ops::log1p(&ops::abs(a)?)?, &ops::expm1(a)?)
        }),
        ("trig", |a, _| ops::multiply(&ops::sin(a)?, &ops::cos(a)?)),
        ("activations", |a, _| {
            let mut y = ops::tanh(a)?;
            for f in [
                ops::sigmoid,
                ops::relu,
                ops::softplus,
                ops::silu,
                ops::softsign,
                ops::selu,
                ops::hard_sigmoid,
            ] {
                y = ops::add(&y, &f(a)?)?;
            }
            y = ops::add(&y, &ops::gelu(a, true)?)?;
            y = ops::add(&y, &ops::gelu(a, false)?)?;
            y = ops::add(&y, &ops::elu(a, 0.7)?)?;
            ops::add(&y, &ops::leaky_relu(a, 0.2)?)
        }),
        ("clip_relu6", |a, _| {
            ops::add(
                &ops::clip(a, -0.5, 0.5)?,
                &ops::relu6(&ops::multiply(a, 5.0)?)?,
            )
        }),
        ("softmax", |a, _| {
            ops::multiply(&ops::softmax(a, 1)?, &ops::log_softmax(a, -1)?)
        }),
        ("sum_mean", |a, _| {
            ops::add(
                &ops::sum(a, Some(&[1]), true)?,
                &ops::mean(a, Some(&[1, 2]), true)?,
            )
        }),
        ("max_min", |a, _| {
            ops::add(
                &ops::max(a, Some(&[-1]), false)?,
                &ops::min(a, Some(&[-1]), false)?,
            )
        }),
        ("prod_logsumexp", |a, _| {
            ops::add(
                &ops::prod(a, Some(&[2]), false)?,
                &ops::logsumexp(a, Some(&[2]), false)?,
            )
        }),
        ("reshape_transpose", |a, _| {
            let t = ops::transpose(&ops::reshape(a, &[-1, 4, 3])?, Some(&[0, 2, 1]))?;
            ops::multiply(&t, &ops::squeeze(&ops::expand_dims(&t, 1)?, Some(&[1]))?)
        }),
        ("stack_concatenate_repeat", |a, b| {
            let b3 = ops::repeat(b, 3, 1)?;
            let s = ops::stack(&[a, &b3], 1)?;
            ops::multiply(&ops::concatenate(&[&s, &s], -1)?, 0.5)
        }),
        ("get_item", |a, _| {
            use tensorweave::ops::Index;
            let x = ops::get_item(a, &[Index::ALL, Index::At(-1)])?;
            let y = ops::get_item(a, &[Index::Ellipsis, Index::Slice(Some(1), None, Some(2))])?;
            let z = ops::get_item(
                a,
                &[
                    Index::ALL,
                    Index::Slice(None, None, Some(-1)),
                    Index::NewAxis,
                ],
            )?;
            let x = ops::sum(&ops::multiply(&x, &x)?, Some(&[1]), false)?;
            let y = ops::sum(&y, Some(&[1, 2]), false)?;
            let z = ops::sum(&ops::multiply(&z, &z)?, Some(&[1, 2, 3]), false)?;
            ops::add(&x, &ops::add(&y, &z)?)
        }),
        ("take", |a, _| {
            let t = ops::take_constant(a, &[2, 0, 2, -1], Some(1))?;
            ops::multiply(&t, &t)
        }),
        ("matmul", |a, b| {
            ops::matmul(
                a,
                &ops::transpose(&ops::repeat(b, 3, 1)?, Some(&[0, 2, 1]))?,
            )
        }),
        ("einsum", |a, b| ops::einsum("bij,bkj->bik", &[a, b])),
    ];
    for (name, case) in cases {
        let a = Input::new([Some(3), Some(4)]).build();
        let b = Input::new([Some(1), Some(4)]).build();
        let y = case(&a, &b).unwrap_or_else(|e| panic!("{name}: {e}"));
        let model = Model::new(&[a, b], &[y]).unwrap();
        let inputs = [
            Value::F32(smooth_input(&[2, 3, 4], 0)),
            Value::F32(smooth_input(&[2, 1, 4], 100)),
        ];
        let report = check_gradients(&model, &inputs, &options()).unwrap();
        assert!(report.passed(), "op case {name}: {report}");
        assert!(report.checked > 0, "{name}");
    }
}

/// `ops.take` and `ops.take_along_axis` by index tensors: the gradient of
/// `x` sums over repeated indices.
#[test]
fn ops_take_by_index_tensors() {
    use tensorweave::ops;
    let x = Input::new([Some(5), Some(3)]).build();
    let idx = Input::new([Some(4)]).dtype(DType::I32).build();
    let taken = ops::take(&x, &idx, Some(1)).unwrap();
    let along = ops::take_along_axis(&x, &ops::expand_dims(&idx, -1).unwrap(), 1).unwrap();
    let y = ops::add(
        &ops::sum(&taken, Some(&[1, 2, 3]), false).unwrap(),
        &ops::sum(&along, Some(&[1, 2]), false).unwrap(),
    )
    .unwrap();
    let y = ops::multiply(&y, &y).unwrap();
    let model = Model::new(&[x, idx], &[y]).unwrap();
    let ids = ndarray::array![[0, 4, 4, -2], [1, 1, 2, 3]].into_dyn();
    let report = check_gradients(
        &model,
        &[Value::F32(smooth_input(&[2, 5, 3], 7)), Value::I32(ids)],
        &options(),
    )
    .unwrap();
    assert!(report.passed(), "{report}");
}

/// The attention layers' backward: `MultiHeadAttention` (self attention,
/// cross attention with a key, value_dim and output_shape, causal, returned
/// scores, no bias), `Attention` (dot, scaled, concat, causal) and
/// `AdditiveAttention`, on masked embeddings (padding and a fully padded
/// value row) and on float inputs.
#[test]
fn attention_layers() {
    use tensorweave::layers::attention::{AttentionArgs, AttentionOptions};
    type Case = fn(&Tensor, &Tensor, &Tensor) -> tensorweave::Result<Vec<Tensor>>;
    let cases: Vec<(&str, Case)> = vec![
        ("mha_self", |q, _, _| {
            MultiHeadAttention::new(2, 3)
                .seed(1)
                .into_layer()
                .call_many(&[q, q])
                .map(|t| vec![t])
        }),
        ("mha_cross_key", |q, v, k| {
            let layer = MultiHeadAttention::new(2, 2)
                .value_dim(3)
                .output_shape(serde_json::json!(5))
                .seed(2)
                .into_layer();
            AttentionArgs {
                key: Some(k),
                return_attention_scores: true,
                ..Default::default()
            }
            .call(&layer, q, v)
        }),
        ("mha_causal_no_bias", |q, v, _| {
            let layer = MultiHeadAttention::new(1, 4)
                .use_bias(false)
                .seed(3)
                .into_layer();
            AttentionArgs {
                use_causal_mask: true,
                return_attention_scores: true,
                ..Default::default()
            }
            .call(&layer, q, v)
        }),
        ("attention_dot", |q, v, _| {
            Attention::new()
                .use_scale(true)
                .seed(4)
                .into_layer()
                .call_many(&[q, v])
                .map(|t| vec![t])
        }),
        ("attention_concat_causal", |q, v, k| {
            let layer = Attention::new()
                .score_mode("concat".to_string())
                .use_scale(true)
                .into_layer();
            AttentionOptions {
                return_attention_scores: true,
                use_causal_mask: true,
            }
            .call(&layer, &[q, v, k])
        }),
        ("additive", |q, v, k| {
            AdditiveAttention::new()
                .seed(5)
                .into_layer()
                .call_many(&[q, v, k])
                .map(|t| vec![t])
        }),
        ("additive_no_scale", |q, v, _| {
            AdditiveAttention::new()
                .use_scale(false)
                .into_layer()
                .call_many(&[q, v])
                .map(|t| vec![t])
        }),
    ];
    for (name, case) in cases {
        for masked in [false, true] {
            let (qt, vt, kt) = (
                Input::new([Some(4)]).dtype(DType::I32).build(),
                Input::new([Some(4)]).dtype(DType::I32).build(),
                Input::new([Some(4)]).dtype(DType::I32).build(),
            );
            let embed = |t: &Tensor, seed: u64| {
                Embedding::new(9, 4)
                    .mask_zero(masked)
                    .seed(seed)
                    .call(t)
                    .unwrap()
            };
            let (q, v, k) = (embed(&qt, 11), embed(&vt, 12), embed(&kt, 13));
            let outputs = case(&q, &v, &k).unwrap_or_else(|e| panic!("{name}: {e}"));
            let model = Model::new(&[qt, vt, kt], &outputs).unwrap();
            // Row 0 right-padded, row 1 left-padded (the value row of batch 1
            // is padded except its last step).
            let q_ids = ndarray::array![[1, 2, 3, 0], [0, 4, 5, 6]].into_dyn();
            // For the single-head layers every value row starts valid: a row
            // with no visible value (Keras subtracts 1e9 from all its scores)
            // has a softmax that float32 makes flat, whose TensorFlow gradient
            // finite differences cannot see.
            let (v_ids, k_ids) = if name.starts_with("mha") {
                (
                    ndarray::array![[7, 8, 0, 0], [0, 0, 0, 2]].into_dyn(),
                    ndarray::array![[3, 1, 0, 0], [0, 0, 0, 8]].into_dyn(),
                )
            } else {
                (
                    ndarray::array![[7, 8, 0, 0], [2, 0, 5, 0]].into_dyn(),
                    ndarray::array![[3, 1, 0, 0], [6, 0, 4, 0]].into_dyn(),
                )
            };
            let report = check_gradients(
                &model,
                &[Value::I32(q_ids), Value::I32(v_ids), Value::I32(k_ids)],
                &options(),
            )
            .unwrap();
            assert!(report.passed(), "{name} (masked {masked}): {report}");
            assert!(report.checked > 0, "{name}");
        }
    }
}

/// The noise layers in training (seeded, so the finite differences see the
/// same noise), `UnitNormalization`, `GroupNormalization`, `DepthwiseConv1D`,
/// `SeparableConv1D`, `Conv1DTranspose`, the 2-D convolution and poolings, and
/// `Dot` (plain and normalized, on sequences and
/// vectors).
#[test]
fn noise_normalization_and_dot_layers() {
    check_one(&[2, 3, 4], 3, |x| GaussianNoise::new(0.3).seed(2).call(x));
    check_one(&[2, 3, 4], 4, |x| GaussianDropout::new(0.3).seed(2).call(x));
    check_one(&[2, 3, 4], 5, |x| AlphaDropout::new(0.2).seed(2).call(x));
    check_one(&[2, 3, 4], 6, |x| UnitNormalization::new().call(x));
    check_one(&[2, 3, 4], 7, |x| {
        UnitNormalization::new()
            .axis(serde_json::json!([1, 2]))
            .call(x)
    });
    check_one(&[2, 3, 8], 8, |x| {
        GroupNormalization::new(4).seed(3).call(x)
    });
    check_one(&[2, 3, 8], 9, |x| {
        GroupNormalization::new(2).center(false).seed(3).call(x)
    });
    check_one(&[2, 7, 3], 10, |x| {
        DepthwiseConv1D::new(3)
            .depth_multiplier(2)
            .padding(Padding::Same)
            .seed(4)
            .call(x)
    });
    check_one(&[2, 7, 3], 11, |x| {
        SeparableConv1D::new(4, 2)
            .depth_multiplier(2)
            .strides(2)
            .activation(Activation::Tanh)
            .seed(5)
            .call(x)
    });
    check_one(&[2, 5, 3], 12, |x| {
        Conv1DTranspose::new(4, 3)
            .strides(2)
            .padding(Padding::Same)
            .seed(6)
            .call(x)
    });
    check_one(&[2, 4, 3], 13, |x| {
        Conv1DTranspose::new(2, 4)
            .strides(3)
            .output_padding(vec![1])
            .activation(Activation::Tanh)
            .seed(7)
            .call(x)
    });
    check_one(&[2, 5, 4, 2], 14, |x| {
        Conv2D::new(3, [3, 2])
            .strides([2, 1])
            .padding(Padding::Same)
            .activation(Activation::Tanh)
            .seed(8)
            .call(x)
    });
    // Distinct values (no ties for the maxima).
    for (name, layer) in [("max", 0), ("global", 1)] {
        let x = Input::new([Some(4), Some(3), Some(2)]).build();
        let y = if layer == 0 {
            MaxPooling2D::new([2, 2])
                .padding(Padding::Same)
                .call(&x)
                .unwrap()
        } else {
            GlobalMaxPooling2D::new().call(&x).unwrap()
        };
        let model = Model::new(&[x], &[y]).unwrap();
        let report = check_gradients(
            &model,
            &[Value::F32(smooth_input(&[2, 4, 3, 2], 20))],
            &options(),
        )
        .unwrap();
        assert!(report.passed(), "{name} pooling 2-D: {report}");
    }
    for normalize in [false, true] {
        let a = Input::new([Some(3), Some(4)]).build();
        let b = Input::new([Some(5), Some(4)]).build();
        let y = Dot::new(serde_json::json!([2, 2]))
            .normalize(normalize)
            .call_many(&[&a, &b])
            .unwrap();
        let v = Input::new([Some(4)]).build();
        let w = Input::new([Some(4)]).build();
        let z = Dot::new(serde_json::json!(1))
            .normalize(normalize)
            .call_many(&[&v, &w])
            .unwrap();
        let model = Model::new(&[a, b, v, w], &[y, z]).unwrap();
        let inputs = [
            Value::F32(smooth_input(&[2, 3, 4], 1)),
            Value::F32(smooth_input(&[2, 5, 4], 2)),
            Value::F32(smooth_input(&[2, 4], 3)),
            Value::F32(smooth_input(&[2, 4], 4)),
        ];
        let report = check_gradients(&model, &inputs, &options()).unwrap();
        assert!(report.passed(), "Dot (normalize {normalize}): {report}");
    }
}
