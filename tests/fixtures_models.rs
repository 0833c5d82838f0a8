//! Keras fixtures that combine several layer families: a siamese encoder, stacked
//! bidirectional layers, a variable-length input, and a user-defined layer. Each
//! test builds the architecture with the tensorweave API as a user would, loads
//! Keras' weights and compares with Keras' outputs (`tests/fixtures/keras`).

mod support;

#[path = "support/att_layer.rs"]
mod att_layer;

use att_layer::AttLayer;
use support::fixture;
use tensorweave::prelude::*;

/// ```python
/// left = keras.Input((10,), dtype="int32", name="left")
/// right = keras.Input((10,), dtype="int32", name="right")
/// embed = layers.Embedding(40, 8, mask_zero=True)
/// encoder = layers.Bidirectional(layers.LSTM(4))
/// a, b = encoder(embed(left)), encoder(embed(right))
/// merged = layers.Concatenate()([a, b, layers.Subtract()([a, b]), layers.Multiply()([a, b])])
/// out = layers.Dense(1, activation="sigmoid")(merged)
/// ```
#[test]
fn siamese_shared_matches_keras() {
    reset_names();
    let left = Input::new([10]).dtype(DType::I32).name("left").build();
    let right = Input::new([10]).dtype(DType::I32).name("right").build();
    let embed = Embedding::new(40, 8).mask_zero(true).into_layer();
    let encoder = Bidirectional::new(Lstm::new(4)).into_layer();
    let a = encoder.call(&embed.call(&left).unwrap()).unwrap();
    let b = encoder.call(&embed.call(&right).unwrap()).unwrap();
    let diff = Subtract::new().call_many(&[&a, &b]).unwrap();
    let prod = Multiply::new().call_many(&[&a, &b]).unwrap();
    let merged = Concatenate::new()
        .call_many(&[&a, &b, &diff, &prod])
        .unwrap();
    let out = Dense::new(1)
        .activation(Activation::Sigmoid)
        .call(&merged)
        .unwrap();
    let model = Model::new(&[left, right], &[out]).unwrap();

    let f = fixture("siamese_shared");
    f.check_layer_order(&model);
    assert_eq!(
        b.node().call_index(),
        1,
        "the second call is node 1 of the shared encoder"
    );
    f.check(&model);
}

/// ```python
/// x = layers.Embedding(40, 8, mask_zero=True)(tokens)
/// x = layers.Bidirectional(layers.LSTM(4, return_sequences=True))(x)
/// x = layers.Bidirectional(layers.GRU(3, return_sequences=True), merge_mode="ave")(x)
/// out = layers.TimeDistributed(layers.Dense(2, activation="tanh"))(x)
/// ```
#[test]
fn stacked_bidirectional_matches_keras() {
    reset_names();
    let tokens = Input::new([10]).dtype(DType::I32).name("tokens").build();
    let x = Embedding::new(40, 8).mask_zero(true).call(&tokens).unwrap();
    let x = Bidirectional::new(Lstm::new(4).return_sequences(true))
        .call(&x)
        .unwrap();
    let x = Bidirectional::new(Gru::new(3).return_sequences(true))
        .merge_mode(MergeMode::Ave)
        .call(&x)
        .unwrap();
    assert!(x.mask().is_some(), "sequences keep the mask");
    let out = TimeDistributed::new(Dense::new(2).activation(Activation::Tanh))
        .call(&x)
        .unwrap();
    let model = Model::new(&[tokens], &[out]).unwrap();

    let f = fixture("stacked_bidirectional");
    f.check_layer_order(&model);
    f.check(&model);
}

/// ```python
/// tokens = keras.Input((None,), dtype="int32", name="tokens")
/// x = layers.Embedding(40, 8, mask_zero=True)(tokens)
/// x = layers.Bidirectional(layers.LSTM(4, return_sequences=True))(x)
/// out = layers.GlobalAveragePooling1D()(x)   # averages only the unmasked steps
/// ```
#[test]
fn dynamic_length_matches_keras() {
    reset_names();
    let tokens = Input::new([None]).dtype(DType::I32).name("tokens").build();
    let x = Embedding::new(40, 8).mask_zero(true).call(&tokens).unwrap();
    let x = Bidirectional::new(Lstm::new(4).return_sequences(true))
        .call(&x)
        .unwrap();
    assert_eq!(x.shape(), &vec![None, None, Some(8)]);
    let out = GlobalAveragePooling1D::new().call(&x).unwrap();
    let model = Model::new(&[tokens], &[out]).unwrap();

    let f = fixture("dynamic_length");
    f.check_layer_order(&model);
    f.check(&model);
    // Any length runs: the fixture's 7 steps, and 3 or 12 steps too.
    for steps in [3usize, 12] {
        let ids = ndarray::Array2::<i32>::from_elem((2, steps), 5);
        let out = model.predict(&[ids.into()]).unwrap();
        assert_eq!(out[0].shape(), &[2, 8]);
    }
}

/// The user-defined attention layer of the hierarchical attention network
/// (`textclf>AttLayer`, see `shared/reference/custom-attention.md`):
///
/// ```python
/// x = layers.Embedding(40, 8, mask_zero=True)(tokens)
/// x = layers.Bidirectional(layers.GRU(4, return_sequences=True))(x)
/// x = AttLayer(attention_dim=6)(x)      # uses the mask, then drops it
/// out = layers.Dense(2, activation="softmax")(x)
/// ```
#[test]
fn custom_attention_matches_keras() {
    reset_names();
    let tokens = Input::new([10]).dtype(DType::I32).name("tokens").build();
    let x = Embedding::new(40, 8).mask_zero(true).call(&tokens).unwrap();
    let x = Bidirectional::new(Gru::new(4).return_sequences(true))
        .call(&x)
        .unwrap();
    let attended = AttLayer::new(6).call(&x).unwrap();
    assert!(
        attended.mask().is_none(),
        "the attention layer consumes the mask"
    );
    assert_eq!(attended.node().masks().len(), 1);
    assert!(
        attended.node().masks()[0].is_some(),
        "the mask reaches the attention layer"
    );
    let out = Dense::new(2)
        .activation(Activation::Softmax)
        .call(&attended)
        .unwrap();
    let model = Model::new(&[tokens], &[out]).unwrap();

    let f = fixture("custom_attention");
    f.check_layer_order(&model);
    f.check(&model);
}
