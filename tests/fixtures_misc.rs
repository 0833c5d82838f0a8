//! Keras fixtures built with tensorweave's API as a user would write them:
//! a nested `Model` with normalisation and merge layers and two heads, and a
//! sentence-encoder `Model` wrapped in `TimeDistributed`.

mod support;

use support::fixture;
use tensorweave::prelude::*;

/// `nested_multi_output/model.json`: an inner model `block`
/// (`features` -> Dense(5, gelu) -> LayerNormalization) called on the outer
/// input, a Dense(5, elu) -> BatchNormalization branch, `Add`, an `Activation`
/// (silu), `Average` of the sum and its activation, and two Dense heads.
#[test]
fn nested_multi_output_matches_keras() {
    reset_names();
    let features = Input::new([6]).name("features").build();
    let h = Dense::new(5)
        .activation(Activation::Gelu)
        .call(&features)
        .unwrap();
    let h = LayerNormalization::new().call(&h).unwrap();
    let block = Model::with_name("block", &[features], &[h]).unwrap();

    let x = Input::new([6]).name("x").build();
    let a = Dense::new(5).activation(Activation::Elu).call(&x).unwrap();
    let b = block.call(&x).unwrap();
    let a = BatchNormalization::new().call(&a).unwrap();
    let sum = Add::new().call_many(&[&b, &a]).unwrap();
    let act = ActivationLayer::new(Activation::Silu).call(&sum).unwrap();
    let avg = Average::new().call_many(&[&sum, &act]).unwrap();
    let head_a = Dense::new(2)
        .activation(Activation::Softplus)
        .name("head_a")
        .call(&avg)
        .unwrap();
    let head_b = Dense::new(3)
        .activation(Activation::Selu)
        .name("head_b")
        .call(&avg)
        .unwrap();
    let model = Model::new(&[x], &[head_a, head_b]).unwrap();

    let names: Vec<String> = model
        .layers()
        .iter()
        .map(|l| l.name().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "x",
            "dense_1",
            "block",
            "batch_normalization",
            "add",
            "activation",
            "average",
            "head_a",
            "head_b"
        ]
    );
    let err = fixture("nested_multi_output").check(&model);
    assert!(err < 1e-5);
}

/// `timedistributed_model/model.json`: a sentence encoder
/// (`words` -> Embedding(40, 8, mask_zero) -> LSTM(4)), named
/// `sentence_encoder`, applied to each of the 3 sentences of a `document` by
/// `TimeDistributed`, then GlobalAveragePooling1D and Dense(2, softmax).
#[test]
fn timedistributed_model_matches_keras() {
    reset_names();
    let words = Input::new([6]).dtype(DType::I32).name("words").build();
    let e = Embedding::new(40, 8).mask_zero(true).call(&words).unwrap();
    let h = Lstm::new(4).call(&e).unwrap();
    let encoder = Model::with_name("sentence_encoder", &[words], &[h]).unwrap();

    let document = Input::new([3, 6])
        .dtype(DType::I32)
        .name("document")
        .build();
    let sentences = TimeDistributed::new(&encoder).call(&document).unwrap();
    assert_eq!(sentences.shape(), &vec![None, Some(3), Some(4)]);
    let pooled = GlobalAveragePooling1D::new().call(&sentences).unwrap();
    let probs = Dense::new(2)
        .activation(Activation::Softmax)
        .call(&pooled)
        .unwrap();
    let model = Model::new(&[document], &[probs]).unwrap();

    let err = fixture("timedistributed_model").check(&model);
    assert!(err < 1e-5);
}
