//! The recurrent Keras fixtures: each model is built with tensorweave's API as a
//! user would write it (sizes and options from the fixture's `model.json`), then
//! loaded with Keras' weights and compared with Keras' outputs.
//!
//! The Keras code each test reproduces is quoted above it (Keras 3.15.1,
//! TensorFlow backend; the fixture inputs are padded with id 0).

mod support;

use support::fixture;
use tensorweave::prelude::*;

/// `Input(shape=(10,), dtype="int32", name="tokens")` then
/// `Embedding(40, 8, mask_zero=True)`.
fn embedded_tokens() -> (Tensor, Tensor) {
    let tokens = Input::new([10]).dtype(DType::I32).name("tokens").build();
    let x = Embedding::new(40, 8).mask_zero(true).call(&tokens).unwrap();
    (tokens, x)
}

fn check(name: &str, inputs: Tensor, outputs: &[Tensor]) -> f32 {
    let model = Model::new(&[inputs], outputs).unwrap();
    fixture(name).check(&model)
}

/// ```python
/// tokens = keras.Input(shape=(10,), dtype="int32", name="tokens")
/// x = layers.Embedding(40, 8, mask_zero=True)(tokens)
/// y = layers.Bidirectional(layers.LSTM(6, return_sequences=True))(x)
/// model = keras.Model(tokens, y)
/// ```
#[test]
fn bilstm_sequences() {
    reset_names();
    let (tokens, x) = embedded_tokens();
    let y = Bidirectional::new(Lstm::new(6).return_sequences(true))
        .call(&x)
        .unwrap();
    assert_eq!(y.shape(), &vec![None, Some(10), Some(12)]);
    let model = Model::new(&[tokens], &[y]).unwrap();
    let paths: Vec<String> = model.weight_specs().into_iter().map(|w| w.0).collect();
    assert!(
        paths
            .iter()
            .any(|p| p.ends_with("forward_lstm/lstm_cell/kernel")),
        "{paths:?}"
    );
    fixture("bilstm_sequences").check(&model);
}

/// ```python
/// tokens = keras.Input(shape=(10,), dtype="int32", name="tokens")
/// x = layers.Embedding(40, 8, mask_zero=True)(tokens)
/// x = layers.Bidirectional(layers.LSTM(5))(x)
/// y = layers.Dense(3, activation="softmax")(x)
/// model = keras.Model(tokens, y)
/// ```
#[test]
fn bilstm_classifier() {
    reset_names();
    let (tokens, x) = embedded_tokens();
    let h = Bidirectional::new(Lstm::new(5)).call(&x).unwrap();
    let y = Dense::new(3)
        .activation(Activation::Softmax)
        .call(&h)
        .unwrap();
    check("bilstm_classifier", tokens, &[y]);
}

/// ```python
/// tokens = keras.Input(shape=(10,), dtype="int32", name="tokens")
/// x = layers.Embedding(40, 8, mask_zero=True)(tokens)
/// out, fh, fc, bh, bc = layers.Bidirectional(layers.LSTM(4, return_state=True))(x)
/// model = keras.Model(tokens, [out, fh, fc, bh, bc])
/// ```
#[test]
fn bilstm_return_state() {
    reset_names();
    let (tokens, x) = embedded_tokens();
    let outs = Bidirectional::new(Lstm::new(4).return_state(true))
        .call_all(&x)
        .unwrap();
    assert_eq!(outs.len(), 5);
    check("bilstm_return_state", tokens, &outs);
}

/// ```python
/// tokens = keras.Input(shape=(10,), dtype="int32", name="tokens")
/// x = layers.Embedding(40, 8, mask_zero=True)(tokens)
/// y = layers.Bidirectional(layers.GRU(4, return_sequences=True), merge_mode=MODE)(x)
/// model = keras.Model(tokens, y)
/// ```
fn bigru_merged(name: &str, mode: MergeMode) {
    reset_names();
    let (tokens, x) = embedded_tokens();
    let y = Bidirectional::new(Gru::new(4).return_sequences(true))
        .merge_mode(mode)
        .call(&x)
        .unwrap();
    assert_eq!(y.shape(), &vec![None, Some(10), Some(4)]);
    assert!(y.mask().is_some(), "the mask passes through");
    check(name, tokens, &[y]);
}

/// The Keras model above with `merge_mode="sum"`.
#[test]
fn bigru_merge_sum() {
    bigru_merged("bigru_merge_sum", MergeMode::Sum);
}

/// The Keras model above with `merge_mode="mul"`.
#[test]
fn bigru_merge_mul() {
    bigru_merged("bigru_merge_mul", MergeMode::Mul);
}

/// The Keras model above with `merge_mode="ave"`.
#[test]
fn bigru_merge_ave() {
    bigru_merged("bigru_merge_ave", MergeMode::Ave);
}

/// ```python
/// tokens = keras.Input(shape=(10,), dtype="int32", name="tokens")
/// x = layers.Embedding(40, 8, mask_zero=True)(tokens)
/// y, y_rev = layers.Bidirectional(layers.GRU(4, return_sequences=True), merge_mode=None)(x)
/// model = keras.Model(tokens, [y, y_rev])
/// ```
#[test]
fn bigru_merge_none() {
    reset_names();
    let (tokens, x) = embedded_tokens();
    let outs = Bidirectional::new(Gru::new(4).return_sequences(true))
        .merge_mode(MergeMode::None)
        .call_all(&x)
        .unwrap();
    assert_eq!(outs.len(), 2);
    assert!(outs.iter().all(|t| t.mask().is_some()));
    check("bigru_merge_none", tokens, &outs);
}

/// ```python
/// tokens = keras.Input(shape=(10,), dtype="int32", name="tokens")
/// x = layers.Embedding(40, 8)(tokens)
/// y = layers.GRU(5, return_sequences=True, reset_after=False)(x)
/// model = keras.Model(tokens, y)
/// ```
#[test]
fn gru_reset_before() {
    reset_names();
    let tokens = Input::new([10]).dtype(DType::I32).name("tokens").build();
    let x = Embedding::new(40, 8).call(&tokens).unwrap();
    let y = Gru::new(5)
        .return_sequences(true)
        .reset_after(false)
        .call(&x)
        .unwrap();
    check("gru_reset_before", tokens, &[y]);
}

/// ```python
/// series = keras.Input(shape=(10, 3), name="series")
/// y = layers.SimpleRNN(4, activation="relu", go_backwards=True, return_sequences=True)(series)
/// model = keras.Model(series, y)
/// ```
#[test]
fn simplernn_backwards() {
    reset_names();
    let series = Input::new([10, 3]).name("series").build();
    let y = SimpleRnn::new(4)
        .activation(Activation::Relu)
        .go_backwards(true)
        .return_sequences(true)
        .call(&series)
        .unwrap();
    check("simplernn_backwards", series, &[y]);
}
