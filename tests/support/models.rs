//! The 17 Keras fixture architectures, built with the tensorweave API as a user
//! would write them. Each builder quotes the Keras code it reproduces (Keras
//! 3.15.1; sizes and options from the fixture's `model.json`). Builders reset the
//! name counters first, so layer names follow Keras' rules from a fresh session.
#![allow(dead_code)]

use tensorweave::prelude::*;

use super::att_layer::AttLayer;

/// Every fixture case in `tests/fixtures/keras`.
pub const FIXTURES: [&str; 17] = [
    "bigru_merge_ave",
    "bigru_merge_mul",
    "bigru_merge_none",
    "bigru_merge_sum",
    "bilstm_classifier",
    "bilstm_return_state",
    "bilstm_sequences",
    "cnn_branches",
    "custom_attention",
    "dynamic_length",
    "gru_reset_before",
    "nested_multi_output",
    "shape_ops",
    "siamese_shared",
    "simplernn_backwards",
    "stacked_bidirectional",
    "timedistributed_model",
];

/// Builds the tensorweave model of fixture `name`.
pub fn build(name: &str) -> Model {
    reset_names();
    match name {
        "bilstm_sequences" => bilstm_sequences(),
        "bilstm_classifier" => bilstm_classifier(),
        "bilstm_return_state" => bilstm_return_state(),
        "bigru_merge_sum" => bigru_merged(MergeMode::Sum),
        "bigru_merge_mul" => bigru_merged(MergeMode::Mul),
        "bigru_merge_ave" => bigru_merged(MergeMode::Ave),
        "bigru_merge_none" => bigru_merge_none(),
        "gru_reset_before" => gru_reset_before(),
        "simplernn_backwards" => simplernn_backwards(),
        "cnn_branches" => cnn_branches(),
        "shape_ops" => shape_ops(),
        "nested_multi_output" => nested_multi_output(),
        "timedistributed_model" => timedistributed_model(),
        "siamese_shared" => siamese_shared(),
        "stacked_bidirectional" => stacked_bidirectional(),
        "dynamic_length" => dynamic_length(),
        "custom_attention" => custom_attention(),
        other => panic!("no fixture model named {other}"),
    }
}

/// `tokens = keras.Input((10,), dtype="int32", name="tokens")`, then
/// `layers.Embedding(40, 8, mask_zero=True)(tokens)`.
fn embedded_tokens() -> (Tensor, Tensor) {
    let tokens = Input::new([10]).dtype(DType::I32).name("tokens").build();
    let x = Embedding::new(40, 8).mask_zero(true).call(&tokens).unwrap();
    (tokens, x)
}

/// ```python
/// y = layers.Bidirectional(layers.LSTM(6, return_sequences=True))(embedded)
/// ```
fn bilstm_sequences() -> Model {
    let (tokens, x) = embedded_tokens();
    let y = Bidirectional::new(Lstm::new(6).return_sequences(true))
        .call(&x)
        .unwrap();
    assert_eq!(y.shape(), &vec![None, Some(10), Some(12)]);
    Model::new(&[tokens], &[y]).unwrap()
}

/// ```python
/// x = layers.Bidirectional(layers.LSTM(5))(embedded)
/// y = layers.Dense(3, activation="softmax")(x)
/// ```
fn bilstm_classifier() -> Model {
    let (tokens, x) = embedded_tokens();
    let h = Bidirectional::new(Lstm::new(5)).call(&x).unwrap();
    let y = Dense::new(3)
        .activation(Activation::Softmax)
        .call(&h)
        .unwrap();
    Model::new(&[tokens], &[y]).unwrap()
}

/// ```python
/// out, fh, fc, bh, bc = layers.Bidirectional(layers.LSTM(4, return_state=True))(embedded)
/// model = keras.Model(tokens, [out, fh, fc, bh, bc])
/// ```
fn bilstm_return_state() -> Model {
    let (tokens, x) = embedded_tokens();
    let outs = Bidirectional::new(Lstm::new(4).return_state(true))
        .call_all(&x)
        .unwrap();
    assert_eq!(outs.len(), 5);
    Model::new(&[tokens], &outs).unwrap()
}

/// ```python
/// y = layers.Bidirectional(layers.GRU(4, return_sequences=True), merge_mode=MODE)(embedded)
/// ```
fn bigru_merged(mode: MergeMode) -> Model {
    let (tokens, x) = embedded_tokens();
    let y = Bidirectional::new(Gru::new(4).return_sequences(true))
        .merge_mode(mode)
        .call(&x)
        .unwrap();
    assert_eq!(y.shape(), &vec![None, Some(10), Some(4)]);
    assert!(y.mask().is_some(), "the mask passes through");
    Model::new(&[tokens], &[y]).unwrap()
}

/// ```python
/// y, y_rev = layers.Bidirectional(layers.GRU(4, return_sequences=True), merge_mode=None)(embedded)
/// model = keras.Model(tokens, [y, y_rev])
/// ```
fn bigru_merge_none() -> Model {
    let (tokens, x) = embedded_tokens();
    let outs = Bidirectional::new(Gru::new(4).return_sequences(true))
        .merge_mode(MergeMode::None)
        .call_all(&x)
        .unwrap();
    assert_eq!(outs.len(), 2);
    assert!(outs.iter().all(|t| t.mask().is_some()));
    Model::new(&[tokens], &outs).unwrap()
}

/// ```python
/// x = layers.Embedding(40, 8)(tokens)
/// y = layers.GRU(5, return_sequences=True, reset_after=False)(x)
/// ```
fn gru_reset_before() -> Model {
    let tokens = Input::new([10]).dtype(DType::I32).name("tokens").build();
    let x = Embedding::new(40, 8).call(&tokens).unwrap();
    let y = Gru::new(5)
        .return_sequences(true)
        .reset_after(false)
        .call(&x)
        .unwrap();
    Model::new(&[tokens], &[y]).unwrap()
}

/// ```python
/// series = keras.Input((10, 3), name="series")
/// y = layers.SimpleRNN(4, activation="relu", go_backwards=True, return_sequences=True)(series)
/// ```
fn simplernn_backwards() -> Model {
    let series = Input::new([10, 3]).name("series").build();
    let y = SimpleRnn::new(4)
        .activation(Activation::Relu)
        .go_backwards(true)
        .return_sequences(true)
        .call(&series)
        .unwrap();
    Model::new(&[series], &[y]).unwrap()
}

/// ```python
/// tokens = keras.Input((16,), dtype="int32", name="tokens")
/// x = layers.Embedding(40, 8)(tokens)
/// pooled = [layers.GlobalMaxPooling1D()(layers.Conv1D(4, k, activation="relu")(x)) for k in (2, 3, 4)]
/// same = layers.Conv1D(3, 3, padding="same", activation="relu")(x)
/// a = layers.Dropout(0.5)(layers.Concatenate()(pooled))
/// b = layers.Flatten()(layers.MaxPooling1D(2)(same))
/// out = layers.Dense(2, activation="softmax")(layers.Concatenate()([a, b]))
/// ```
fn cnn_branches() -> Model {
    let tokens = Input::new([16]).dtype(DType::I32).name("tokens").build();
    let x = Embedding::new(40, 8).call(&tokens).unwrap();
    let branches: Vec<Tensor> = [2, 3, 4]
        .iter()
        .map(|&k| {
            let c = Conv1D::new(4, k)
                .activation(Activation::Relu)
                .call(&x)
                .unwrap();
            GlobalMaxPooling1D::new().call(&c).unwrap()
        })
        .collect();
    let conv_same = Conv1D::new(3, 3)
        .padding(Padding::Same)
        .activation(Activation::Relu)
        .call(&x)
        .unwrap();
    let pooled = Concatenate::new()
        .axis(-1)
        .call_many(&[&branches[0], &branches[1], &branches[2]])
        .unwrap();
    let windows = MaxPooling1D::new(2).call(&conv_same).unwrap();
    let dropped = Dropout::new(0.5).call(&pooled).unwrap();
    let flat = Flatten::new().call(&windows).unwrap();
    let merged = Concatenate::new()
        .axis(-1)
        .call_many(&[&dropped, &flat])
        .unwrap();
    let probs = Dense::new(2)
        .activation(Activation::Softmax)
        .call(&merged)
        .unwrap();
    Model::new(&[tokens], &[probs]).unwrap()
}

/// ```python
/// frames = keras.Input((10, 4), name="frames")
/// x = layers.Conv1D(4, 3, padding="causal", dilation_rate=2, activation="tanh")(frames)
/// x = layers.Conv1D(4, 2, strides=2, padding="same")(x)
/// x = layers.AveragePooling1D(2, padding="same")(x)
/// x = layers.Reshape((-1,))(layers.Permute((2, 1))(x))
/// seq = layers.LSTM(3, return_sequences=True)(layers.Masking(0.0)(frames))
/// x = layers.RepeatVector(2)(layers.Dense(3)(x))
/// out = layers.Concatenate(axis=1)([x, layers.Cropping1D((8, 0))(seq)])
/// ```
fn shape_ops() -> Model {
    let frames = Input::new([10, 4]).name("frames").build();
    let x = Conv1D::new(4, 3)
        .padding(Padding::Causal)
        .dilation_rate(2)
        .activation(Activation::Tanh)
        .call(&frames)
        .unwrap();
    let x = Conv1D::new(4, 2)
        .strides(2)
        .padding(Padding::Same)
        .call(&x)
        .unwrap();
    let x = AveragePooling1D::new(2)
        .padding(Padding::Same)
        .call(&x)
        .unwrap();
    let x = Permute::new(vec![2, 1]).call(&x).unwrap();
    let x = Reshape::new(vec![-1]).call(&x).unwrap();
    let masked = Masking::new(0.0).call(&frames).unwrap();
    let x = Dense::new(3).call(&x).unwrap();
    let seq = Lstm::new(3).return_sequences(true).call(&masked).unwrap();
    let repeated = RepeatVector::new(2).call(&x).unwrap();
    let cropped = Cropping1D::new((8, 0)).call(&seq).unwrap();
    let out = Concatenate::new()
        .axis(1)
        .call_many(&[&repeated, &cropped])
        .unwrap();
    assert_eq!(out.shape(), &vec![None, Some(4), Some(3)]);
    Model::new(&[frames], &[out]).unwrap()
}

/// ```python
/// features = keras.Input((6,), name="features")
/// block = keras.Model(features, layers.LayerNormalization()(layers.Dense(5, activation="gelu")(features)), name="block")
/// x = keras.Input((6,), name="x")
/// a = layers.BatchNormalization()(layers.Dense(5, activation="elu")(x))
/// s = layers.Add()([block(x), a])
/// avg = layers.Average()([s, layers.Activation("silu")(s)])
/// outputs = [layers.Dense(2, activation="softplus", name="head_a")(avg),
///            layers.Dense(3, activation="selu", name="head_b")(avg)]
/// ```
fn nested_multi_output() -> Model {
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
    Model::new(&[x], &[head_a, head_b]).unwrap()
}

/// ```python
/// words = keras.Input((6,), dtype="int32", name="words")
/// encoder = keras.Model(words, layers.LSTM(4)(layers.Embedding(40, 8, mask_zero=True)(words)))
/// document = keras.Input((3, 6), dtype="int32", name="document")
/// x = layers.GlobalAveragePooling1D()(layers.TimeDistributed(encoder)(document))
/// out = layers.Dense(2, activation="softmax")(x)
/// ```
fn timedistributed_model() -> Model {
    let words = Input::new([6]).dtype(DType::I32).name("words").build();
    let e = Embedding::new(40, 8).mask_zero(true).call(&words).unwrap();
    let h = Lstm::new(4).call(&e).unwrap();
    let encoder = Model::new(&[words], &[h]).unwrap();

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
    Model::new(&[document], &[probs]).unwrap()
}

/// ```python
/// left = keras.Input((10,), dtype="int32", name="left")
/// right = keras.Input((10,), dtype="int32", name="right")
/// embed = layers.Embedding(40, 8, mask_zero=True)
/// encoder = layers.Bidirectional(layers.LSTM(4))
/// a, b = encoder(embed(left)), encoder(embed(right))
/// merged = layers.Concatenate()([a, b, layers.Subtract()([a, b]), layers.Multiply()([a, b])])
/// out = layers.Dense(1, activation="sigmoid")(merged)
/// ```
fn siamese_shared() -> Model {
    let left = Input::new([10]).dtype(DType::I32).name("left").build();
    let right = Input::new([10]).dtype(DType::I32).name("right").build();
    let embed = Embedding::new(40, 8).mask_zero(true).into_layer();
    let encoder = Bidirectional::new(Lstm::new(4)).into_layer();
    let a = encoder.call(&embed.call(&left).unwrap()).unwrap();
    let b = encoder.call(&embed.call(&right).unwrap()).unwrap();
    assert_eq!(
        b.node().call_index(),
        1,
        "the second call is node 1 of the shared encoder"
    );
    let diff = Subtract::new().call_many(&[&a, &b]).unwrap();
    let prod = Multiply::new().call_many(&[&a, &b]).unwrap();
    let merged = Concatenate::new()
        .call_many(&[&a, &b, &diff, &prod])
        .unwrap();
    let out = Dense::new(1)
        .activation(Activation::Sigmoid)
        .call(&merged)
        .unwrap();
    Model::new(&[left, right], &[out]).unwrap()
}

/// ```python
/// x = layers.Bidirectional(layers.LSTM(4, return_sequences=True))(embedded)
/// x = layers.Bidirectional(layers.GRU(3, return_sequences=True), merge_mode="ave")(x)
/// out = layers.TimeDistributed(layers.Dense(2, activation="tanh"))(x)
/// ```
fn stacked_bidirectional() -> Model {
    let (tokens, x) = embedded_tokens();
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
    Model::new(&[tokens], &[out]).unwrap()
}

/// ```python
/// tokens = keras.Input((None,), dtype="int32", name="tokens")
/// x = layers.Embedding(40, 8, mask_zero=True)(tokens)
/// x = layers.Bidirectional(layers.LSTM(4, return_sequences=True))(x)
/// out = layers.GlobalAveragePooling1D()(x)   # averages only the unmasked steps
/// ```
fn dynamic_length() -> Model {
    let tokens = Input::new([None]).dtype(DType::I32).name("tokens").build();
    let x = Embedding::new(40, 8).mask_zero(true).call(&tokens).unwrap();
    let x = Bidirectional::new(Lstm::new(4).return_sequences(true))
        .call(&x)
        .unwrap();
    assert_eq!(x.shape(), &vec![None, None, Some(8)]);
    let out = GlobalAveragePooling1D::new().call(&x).unwrap();
    Model::new(&[tokens], &[out]).unwrap()
}

/// The user-defined attention layer of the hierarchical attention network:
///
/// ```python
/// x = layers.Bidirectional(layers.GRU(4, return_sequences=True))(embedded)
/// x = AttLayer(attention_dim=6)(x)      # uses the mask, then drops it
/// out = layers.Dense(2, activation="softmax")(x)
/// ```
fn custom_attention() -> Model {
    let (tokens, x) = embedded_tokens();
    let x = Bidirectional::new(Gru::new(4).return_sequences(true))
        .call(&x)
        .unwrap();
    let attended = AttLayer::new(6).call(&x).unwrap();
    assert!(
        attended.mask().is_none(),
        "the attention layer consumes the mask"
    );
    assert!(
        attended.node().masks()[0].is_some(),
        "the mask reaches the attention layer"
    );
    let out = Dense::new(2)
        .activation(Activation::Softmax)
        .call(&attended)
        .unwrap();
    Model::new(&[tokens], &[out]).unwrap()
}
