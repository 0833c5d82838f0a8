//! The embedding folded into the recurrent layer's input product
//! (`crates/tensorweave-layers/src/rnn/fold.rs`): an `Embedding` feeding a
//! recurrent layer becomes a table `embedding · kernel + bias` once enough
//! tokens were looked up, and the outputs stay Keras' (`tests/fixtures/keras`,
//! Keras 3.15.1), also after the weights change.

mod support;

use ndarray::{Array2, ArrayD};
use support::{fixture, models};
use tensorweave::prelude::*;

/// Keras: `Embedding(40, 8, mask_zero=True) → Bidirectional(LSTM(5)) →
/// Dense(3, softmax)`. The first call looks up 50 tokens, more than half of
/// the vocabulary of 40: both directions fold (40 × 20 floats each), and
/// every call after gives Keras' outputs.
#[test]
fn bilstm_classifier_folds_and_matches_keras() {
    let case = fixture("bilstm_classifier");
    let model = models::build("bilstm_classifier");
    model.set_weights(&case.weights()).unwrap();
    assert_eq!(model.cache_bytes(), 0);
    for _ in 0..3 {
        case.compare(&model.predict(&case.inputs()).unwrap());
        assert_eq!(model.cache_bytes(), 2 * 40 * 20 * 4);
    }
}

/// New weights drop the folded tables: after a call with other weights,
/// loading Keras' weights again gives Keras' outputs.
#[test]
fn new_weights_refold() {
    let case = fixture("bilstm_classifier");
    let model = models::build("bilstm_classifier");
    let keras = case.weights();
    let other: Vec<ArrayD<f32>> = keras.iter().map(|w| w.mapv(|v| v * 0.5 + 0.01)).collect();
    model.set_weights(&other).unwrap();
    let first = model.predict(&case.inputs()).unwrap();
    model.set_weights(&keras).unwrap();
    case.compare(&model.predict(&case.inputs()).unwrap());
    // And back: the other weights' outputs again, not Keras' cached ones.
    model.set_weights(&other).unwrap();
    let again = model.predict(&case.inputs()).unwrap();
    assert_eq!(first, again);
    // Only the embedding changes: the table is rebuilt too.
    let mut weights = keras.clone();
    weights[0] = keras[0].mapv(|v| -v);
    model.set_weights(&weights).unwrap();
    let flipped = model.predict(&case.inputs()).unwrap();
    assert_close(&flipped[0], &unfolded(&weights, &case.inputs()), 1e-6);
}

/// The same classifier with its embedding's output also a model output, so
/// that the plan cannot defer the lookup: the plain route.
fn unfolded(weights: &[ArrayD<f32>], inputs: &[Value]) -> Value {
    let tokens = Input::new([10]).dtype(DType::I32).build();
    let x = Embedding::new(40, 8).mask_zero(true).call(&tokens).unwrap();
    let h = Bidirectional::new(Lstm::new(5)).call(&x).unwrap();
    let y = Dense::new(3)
        .activation(Activation::Softmax)
        .call(&h)
        .unwrap();
    let plain = Model::new(&[tokens], &[y, x]).unwrap();
    plain.set_weights(weights).unwrap();
    let out = plain.predict(inputs).unwrap();
    assert_eq!(plain.cache_bytes(), 0, "the reference must not fold");
    out[0].clone()
}

fn assert_close(a: &Value, b: &Value, tol: f32) {
    let (a, b) = (a.to_f32(), b.to_f32());
    assert_eq!(a.shape(), b.shape());
    let err = a
        .iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0f32, f32::max);
    assert!(err <= tol, "max abs difference {err}");
}

/// A large vocabulary and a short call: the table is not built until the
/// calls have looked up half as many tokens as the vocabulary has.
#[test]
fn folding_waits_until_it_pays() {
    let x = Input::new([None]).dtype(DType::I32).build();
    let e = Embedding::new(1000, 4).mask_zero(true).call(&x).unwrap();
    let y = Bidirectional::new(Gru::new(3)).call(&e).unwrap();
    let model = Model::new(&[x], &[y]).unwrap();
    let ids = Value::from(
        Array2::from_shape_fn((2, 50), |(r, t)| ((r * 50 + t) % 999 + 1) as i32).into_dyn(),
    );
    let mut outs = Vec::new();
    for call in 1..=6 {
        outs.push(model.predict(std::slice::from_ref(&ids)).unwrap());
        // 100 tokens a call: the fold is due at the fifth (500 of 1000), in
        // both directions at once.
        let expected = if call >= 5 { 2 * 1000 * 9 * 4 } else { 0 };
        assert_eq!(model.cache_bytes(), expected, "call {call}");
    }
    assert_eq!(model.cache_bytes(), 2 * 1000 * 9 * 4);
    for out in &outs[1..] {
        assert_close(&out[0], &outs[0][0], 1e-6);
    }
}

/// A bad id is reported by the embedding, folded or not.
#[test]
fn bad_ids_are_reported_by_the_embedding() {
    let case = fixture("bilstm_classifier");
    let model = models::build("bilstm_classifier");
    model.set_weights(&case.weights()).unwrap();
    model.predict(&case.inputs()).unwrap();
    assert!(model.cache_bytes() > 0);
    let mut bad = Array2::<i32>::ones((2, 10));
    bad[[1, 3]] = 40;
    let err = model
        .predict(&[bad.into_dyn().into()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("token id 40"), "{err}");
    assert!(err.contains("embedding"), "{err}");
}

/// Keras (`tests/fixtures/keras_fold/make_fold.py`): `Embedding(30, 8,
/// mask_zero=True) → Dense(6, tanh) → GRU(4) → Dense(2, softmax)`, outputs
/// the Dense(6) sequence and the softmax. The 72 tokens of the first call
/// are more than half of the vocabulary: the Dense becomes a gather from a
/// 30 × 6 table (with its weights' copy), and the outputs stay Keras'.
#[test]
fn dense_after_an_embedding_folds_and_matches_keras() {
    let case = support::fixture_in("keras_fold", "embedding_dense");
    let model = Model::from_keras(case.dir.join("model.keras"), None).unwrap();
    assert_eq!(model.cache_bytes(), 0);
    for _ in 0..3 {
        case.compare(&model.predict(&case.inputs()).unwrap());
        assert_eq!(model.cache_bytes(), (30 * 6 + 8 * 6 + 6) * 4);
    }
    // New Dense weights: the table is rebuilt from them, as the unfolded
    // route (the embedding also a model output) computes.
    let mut weights = case.weights();
    weights[1] = weights[1].mapv(|v| v * -0.5);
    model.set_weights(&weights).unwrap();
    let folded = model.predict(&case.inputs()).unwrap();
    let plain = with_embedding_output("embedding_dense");
    plain.set_weights(&weights).unwrap();
    let reference = plain.predict(&case.inputs()).unwrap();
    assert_eq!(plain.cache_bytes(), 0, "the reference must not fold");
    assert_close(&folded[0], &reference[0], 1e-6);
    assert_close(&folded[1], &reference[1], 1e-6);
}

/// Keras: `Embedding(30, 8) → TimeDistributed(Dense(5, relu)) → Flatten →
/// Dense(3)`; the TimeDistributed folds into a 30 × 5 table.
#[test]
fn time_distributed_dense_after_an_embedding_folds_and_matches_keras() {
    let case = support::fixture_in("keras_fold", "embedding_timedistributed");
    let model = Model::from_keras(case.dir.join("model.keras"), None).unwrap();
    for _ in 0..2 {
        case.compare(&model.predict(&case.inputs()).unwrap());
        assert_eq!(model.cache_bytes(), 30 * 5 * 4);
    }
    let mut weights = case.weights();
    weights[1] = weights[1].mapv(|v| v + 0.25);
    model.set_weights(&weights).unwrap();
    let folded = model.predict(&case.inputs()).unwrap();
    let plain = with_embedding_output("embedding_timedistributed");
    plain.set_weights(&weights).unwrap();
    let reference = plain.predict(&case.inputs()).unwrap();
    assert_eq!(plain.cache_bytes(), 0, "the reference must not fold");
    assert_close(&folded[0], &reference[0], 1e-6);
    assert_close(&folded[1], &reference[1], 1e-6);
}

/// The two fixtures' models built here with the embedding's output also a
/// model output, so that the plan cannot defer the lookup (the plain
/// route); the outputs are the fixture's two and then the embedding.
fn with_embedding_output(name: &str) -> Model {
    let tokens = Input::new([12]).dtype(DType::I32).build();
    if name == "embedding_dense" {
        let x = Embedding::new(30, 8).mask_zero(true).call(&tokens).unwrap();
        let d = Dense::new(6).activation(Activation::Tanh).call(&x).unwrap();
        let h = Gru::new(4).call(&d).unwrap();
        let y = Dense::new(2)
            .activation(Activation::Softmax)
            .call(&h)
            .unwrap();
        Model::new(&[tokens], &[d, y, x]).unwrap()
    } else {
        let x = Embedding::new(30, 8).call(&tokens).unwrap();
        let d = TimeDistributed::new(&Dense::new(5).activation(Activation::Relu).into_layer())
            .call(&x)
            .unwrap();
        let f = Flatten::new().call(&d).unwrap();
        let y = Dense::new(3).call(&f).unwrap();
        Model::new(&[tokens], &[d, y, x]).unwrap()
    }
}
