//! Corpus mode (`Model::predict_corpus`): rows sorted by length, batches of
//! similar length, padding cut where the model provably ignores it, outputs
//! back in the caller's order. Checked against Keras' fixture outputs
//! (`tests/fixtures/keras`, Keras 3.15.1) and against `Model::predict` on
//! the whole uncut input, which the fixture tests tie to Keras.

mod support;

use ndarray::{Array2, ArrayD};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::{fixture, models};
use tensorweave::prelude::*;

/// `n` rows of `steps` token ids in `1..vocab`, padded with zeros: most on
/// the right (Keras' `pad_sequences(padding="post")`), some on the left
/// (its default `"pre"`), some with zeros inside, one all padding and one
/// without any.
fn padded_rows(n: usize, steps: usize, vocab: i32, seed: u64) -> Array2<i32> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rows = Array2::<i32>::zeros((n, steps));
    for r in 0..n {
        let len = match r {
            0 => 0,
            1 => steps,
            _ => rng.random_range(1..=steps),
        };
        let start = if r % 5 == 4 { steps - len } else { 0 };
        for t in start..start + len {
            rows[[r, t]] = rng.random_range(1..vocab);
        }
        if r % 7 == 3 && len > 2 {
            rows[[r, start + len / 2]] = 0;
        }
    }
    rows
}

fn max_abs_diff(a: &Value, b: &Value) -> f32 {
    let (a, b): (ArrayD<f32>, ArrayD<f32>) = (a.to_f32(), b.to_f32());
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Corpus mode equals `predict` on the whole batch (within float rounding:
/// the products see other row counts) for every batch size.
fn assert_corpus_equals_predict(model: &Model, rows: &Array2<i32>, expect_cut: bool) {
    assert_eq!(model.corpus_cuts_padding(), vec![expect_cut]);
    let input = Value::from(rows.clone().into_dyn());
    let whole = model.predict(std::slice::from_ref(&input)).unwrap();
    for batch in [1, 7, 16, rows.nrows()] {
        let corpus = model
            .predict_corpus(std::slice::from_ref(&input), batch)
            .unwrap();
        assert_eq!(corpus.len(), whole.len());
        for (c, w) in corpus.iter().zip(&whole) {
            let err = max_abs_diff(c, w);
            assert!(err <= 1e-5, "batch {batch}: corpus mode differs by {err}");
        }
    }
}

/// Keras (`tests/fixtures/keras/bilstm_classifier`):
/// `Embedding(40, 8, mask_zero=True) → Bidirectional(LSTM(5)) → Dense(3,
/// softmax)` on right-padded rows and an all-padding row: corpus mode cuts
/// the padding and still gives Keras' outputs.
#[test]
fn bilstm_classifier_matches_keras_with_padding_cut() {
    let case = fixture("bilstm_classifier");
    let model = models::build("bilstm_classifier");
    model.set_weights(&case.weights()).unwrap();
    assert_eq!(model.corpus_cuts_padding(), [true]);
    for batch in [1, 2, 3, 5] {
        let out = model.predict_corpus(&case.inputs(), batch).unwrap();
        case.compare(&out);
    }
}

/// Keras (`bigru_merge_sum`): left-padded rows through a Bidirectional GRU
/// that returns sequences. The output keeps the time axis, so nothing is cut,
/// and the rows still come back in order.
#[test]
fn sequence_outputs_keep_their_length() {
    let case = fixture("bigru_merge_sum");
    let model = models::build("bigru_merge_sum");
    model.set_weights(&case.weights()).unwrap();
    assert_eq!(model.corpus_cuts_padding(), [false]);
    let out = model.predict_corpus(&case.inputs(), 2).unwrap();
    case.compare(&out);
}

/// Keras (`stacked_bidirectional`): `TimeDistributed(Dense)` over stacked
/// bidirectional layers, a sequence output: not cut, equal to Keras.
#[test]
fn stacked_sequences_match_keras() {
    let case = fixture("stacked_bidirectional");
    let model = models::build("stacked_bidirectional");
    model.set_weights(&case.weights()).unwrap();
    assert_eq!(model.corpus_cuts_padding(), [false]);
    case.compare(&model.predict_corpus(&case.inputs(), 2).unwrap());
}

fn tokens(steps: usize) -> Tensor {
    Input::new([steps]).dtype(DType::I32).name("tokens").build()
}

/// The seed's classifier shape: masked embedding, dropout, a bidirectional
/// LSTM, a softmax.
#[test]
fn masked_bilstm_cuts_padding() {
    let x = tokens(60);
    let e = Embedding::new(300, 16).mask_zero(true).call(&x).unwrap();
    let d = Dropout::new(0.3).call(&e).unwrap();
    let h = Bidirectional::new(Lstm::new(12)).call(&d).unwrap();
    let y = Dense::new(3)
        .activation(Activation::Softmax)
        .call(&h)
        .unwrap();
    let model = Model::new(&[x], &[y]).unwrap();
    assert_corpus_equals_predict(&model, &padded_rows(90, 60, 300, 1), true);
}

/// Stacked masked recurrences: a GRU returning sequences, a per-step Dense,
/// then a backwards SimpleRNN and a Bidirectional GRU (`reset_after=False`)
/// on the same sequence, concatenated at the end.
#[test]
fn stacked_masked_recurrences_cut_padding() {
    let x = tokens(40);
    let e = Embedding::new(100, 8).mask_zero(true).call(&x).unwrap();
    let s = Gru::new(6).return_sequences(true).call(&e).unwrap();
    let s = Dense::new(5).activation(Activation::Tanh).call(&s).unwrap();
    let a = SimpleRnn::new(4).go_backwards(true).call(&s).unwrap();
    let b = Bidirectional::new(Gru::new(3).reset_after(false))
        .call(&s)
        .unwrap();
    let y = Concatenate::new().call_many(&[&a, &b]).unwrap();
    let model = Model::new(&[x], &[y]).unwrap();
    assert_corpus_equals_predict(&model, &padded_rows(50, 40, 100, 2), true);
}

/// Without `mask_zero` the padding is input like any other: nothing is cut.
#[test]
fn unmasked_models_keep_the_padding() {
    let x = tokens(30);
    let e = Embedding::new(50, 8).call(&x).unwrap();
    let h = Lstm::new(6).call(&e).unwrap();
    let model = Model::new(&[x], &[h]).unwrap();
    assert_corpus_equals_predict(&model, &padded_rows(40, 30, 50, 3), false);
}

/// A layer that declares no time role (a pooling over all steps) keeps the
/// full length.
#[test]
fn unknown_layers_keep_the_padding() {
    let x = tokens(20);
    let e = Embedding::new(50, 8).mask_zero(true).call(&x).unwrap();
    let s = Lstm::new(6).return_sequences(true).call(&e).unwrap();
    let p = GlobalMaxPooling1D::new().call(&s).unwrap();
    let model = Model::new(&[x], &[p]).unwrap();
    assert_corpus_equals_predict(&model, &padded_rows(30, 20, 50, 4), false);
}

/// Progress reaches every batch, on the calling thread.
#[test]
fn progress_counts_batches() {
    let x = tokens(10);
    let e = Embedding::new(20, 4).mask_zero(true).call(&x).unwrap();
    let h = Lstm::new(3).call(&e).unwrap();
    let model = Model::new(&[x], &[h]).unwrap();
    let rows = Value::from(padded_rows(25, 10, 20, 5).into_dyn());
    let mut seen = Vec::new();
    model
        .predict_corpus_with(&[rows], 4, &CallContext::with_threads(2), |done, total| {
            seen.push((done, total))
        })
        .unwrap();
    assert_eq!(seen, (1..=7).map(|d| (d, 7)).collect::<Vec<_>>());
}

/// A failing batch is named by its rows, and nothing is returned.
#[test]
fn a_failing_batch_names_its_rows() {
    let x = tokens(10);
    let e = Embedding::new(20, 4).mask_zero(true).call(&x).unwrap();
    let h = Lstm::new(3).call(&e).unwrap();
    let model = Model::new(&[x], &[h]).unwrap();
    let mut rows = padded_rows(25, 10, 20, 6);
    rows[[13, 0]] = 20; // outside the vocabulary of 20
    let err = model
        .predict_corpus(&[Value::from(rows.into_dyn())], 4)
        .unwrap_err()
        .to_string();
    assert!(err.contains("13"), "{err}");
    assert!(err.contains("of 25"), "{err}");
    let err = model
        .predict_corpus(&[Value::from(Array2::<i32>::zeros((3, 10)).into_dyn())], 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch_size must be at least 1"), "{err}");
}

/// Keras (`tests/fixtures/keras_stateful/stateful_lstm`): a stateful model
/// keeps the caller's order, its states carried from call to call.
#[test]
fn stateful_models_keep_the_callers_order() {
    use ndarray_npy::ReadNpyExt;
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keras_stateful/stateful_lstm");
    let model = Model::from_keras(dir.join("model.keras"), None).unwrap();
    for i in 0..3 {
        let chunk = ArrayD::<f32>::read_npy(
            std::fs::File::open(dir.join(format!("chunk_{i}.npy"))).unwrap(),
        )
        .unwrap();
        let rows = chunk.shape()[0];
        let out = model.predict_corpus(&[Value::F32(chunk)], rows).unwrap();
        let want = ArrayD::<f32>::read_npy(
            std::fs::File::open(dir.join(format!("output_{i}.npy"))).unwrap(),
        )
        .unwrap();
        let err = max_abs_diff(&out[0], &Value::F32(want));
        assert!(err <= 1e-5, "call {i}: {err}");
    }
}
