//! End-to-end tests of the convolution, pooling, reshaping and masking layers
//! through `Model::predict`, against Keras 3.15.1 fixtures and hand-derived values.
//!
//! The complete `cnn_branches` and `shape_ops` fixtures also need `Dropout`,
//! `Concatenate` and `LSTM`; here their parts made of these layers are checked
//! against Keras' final outputs (the small concatenation and dense head of
//! `cnn_branches` is done with ndarray in the test).

mod support;

use ndarray::{array, concatenate, s, Array2, ArrayD, Axis, Ix2, Ix3};
use tensorweave::prelude::*;

/// Asserts `got` equals `expected` within the fixture tolerance; returns the max error.
fn assert_close(
    got: &ArrayD<f32>,
    expected: &ArrayD<f32>,
    (abs, rel): (f32, f32),
    what: &str,
) -> f32 {
    assert_eq!(got.shape(), expected.shape(), "{what}: shape");
    let mut max_err = 0.0f32;
    for ((idx, a), b) in got.indexed_iter().zip(expected.iter()) {
        let err = (a - b).abs();
        max_err = max_err.max(err);
        assert!(
            err <= abs + rel * b.abs(),
            "{what} at {idx:?}: got {a}, Keras {b}"
        );
    }
    max_err
}

/// `cnn_branches` up to the layers owned here: Embedding, four Conv1D branches,
/// three GlobalMaxPooling1D, MaxPooling1D and Flatten. Keras' head is
/// `Dense(2, softmax)(Concatenate([Dropout(Concatenate([g0, g1, g2])), flat]))`;
/// at inference Dropout is the identity, so the head is
/// `softmax([g0 g1 g2 flat] @ W + b)`, computed here with ndarray.
#[test]
fn cnn_branches_conv_and_pooling_match_keras() {
    let fx = support::fixture("cnn_branches");
    let w = fx.weights();
    let tokens = Input::new([16]).dtype(DType::I32).name("tokens").build();
    let embedding = Embedding::new(40, 8).into_layer();
    let x = embedding.call(&tokens).unwrap();
    let convs: Vec<LayerRef> = [2, 3, 4]
        .iter()
        .map(|&k| Conv1D::new(4, k).activation(Activation::Relu).into_layer())
        .collect();
    let mut outputs = Vec::new();
    for conv in &convs {
        outputs.push(
            GlobalMaxPooling1D::new()
                .call(&conv.call(&x).unwrap())
                .unwrap(),
        );
    }
    let conv_same = Conv1D::new(3, 3)
        .padding(Padding::Same)
        .activation(Activation::Relu)
        .into_layer();
    let pooled = MaxPooling1D::new(2)
        .call(&conv_same.call(&x).unwrap())
        .unwrap();
    assert_eq!(pooled.shape(), &vec![None, Some(8), Some(3)]);
    let flat = Flatten::new().call(&pooled).unwrap();
    assert_eq!(flat.shape(), &vec![None, Some(24)]);
    outputs.push(flat);
    let model = Model::new(&[tokens], &outputs).unwrap();

    // Keras' get_weights order: embedding, conv1d, conv1d_1, conv1d_2, conv1d_3, dense_3.
    embedding.set_weights(&w[0..1]).unwrap();
    for (i, conv) in convs.iter().enumerate() {
        conv.set_weights(&w[1 + 2 * i..3 + 2 * i]).unwrap();
    }
    conv_same.set_weights(&w[7..9]).unwrap();
    assert_eq!(model.count_params().0 + 36 * 2 + 2, fx.params());

    let got = model.predict(&fx.inputs()).unwrap();
    let parts: Vec<Array2<f32>> = got
        .into_iter()
        .map(|v| v.into_f32().unwrap().into_dimensionality::<Ix2>().unwrap())
        .collect();
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    let features = concatenate(Axis(1), &views).unwrap();
    let kernel = w[9].clone().into_dimensionality::<Ix2>().unwrap();
    let mut logits =
        features.dot(&kernel) + w[10].view().into_dimensionality::<ndarray::Ix1>().unwrap();
    for mut row in logits.rows_mut() {
        let max = row.fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    let err = assert_close(
        &logits.into_dyn(),
        &fx.outputs()[0],
        fx.tolerance(),
        "cnn_branches",
    );
    println!("cnn_branches (conv/pooling part + ndarray head): max abs error {err:.3e}");
}

/// `shape_ops`' first branch, all of it made of layers owned here plus Dense:
/// causal dilated Conv1D → strided same Conv1D → AveragePooling1D(same) →
/// Permute → Reshape(-1) → Dense → RepeatVector. It is the first two steps of
/// Keras' output (`Concatenate(axis=1)([repeat_vector, cropping1d])`). The
/// Masking branch is checked against the input: masked steps are the all-zero frames.
#[test]
fn shape_ops_conv_pool_reshape_branch_matches_keras() {
    let fx = support::fixture("shape_ops");
    let w = fx.weights();
    let frames = Input::new([10, 4]).name("frames").build();
    let conv_causal = Conv1D::new(4, 3)
        .padding(Padding::Causal)
        .dilation_rate(2)
        .activation(Activation::Tanh)
        .into_layer();
    let conv_strided = Conv1D::new(4, 2)
        .strides(2)
        .padding(Padding::Same)
        .into_layer();
    let x = conv_causal.call(&frames).unwrap();
    assert_eq!(x.shape(), &vec![None, Some(10), Some(4)]);
    let x = conv_strided.call(&x).unwrap();
    assert_eq!(x.shape(), &vec![None, Some(5), Some(4)]);
    let x = AveragePooling1D::new(2)
        .padding(Padding::Same)
        .call(&x)
        .unwrap();
    assert_eq!(x.shape(), &vec![None, Some(3), Some(4)]);
    let x = Permute::new(vec![2, 1]).call(&x).unwrap();
    let x = Reshape::new(vec![-1]).call(&x).unwrap();
    assert_eq!(x.shape(), &vec![None, Some(12)]);
    let dense = Dense::new(3).into_layer();
    let repeated = RepeatVector::new(2).call(&dense.call(&x).unwrap()).unwrap();
    let masked = Masking::new(0.0).call(&frames).unwrap();
    let mask = masked.mask().cloned().expect("Masking emits a mask");
    let model = Model::new(&[frames], &[repeated, masked, mask]).unwrap();

    // Keras' get_weights order: conv1d_4, conv1d_5, dense_8, lstm_7 (3 arrays).
    conv_causal.set_weights(&w[0..2]).unwrap();
    conv_strided.set_weights(&w[2..4]).unwrap();
    dense.set_weights(&w[4..6]).unwrap();

    let inputs = fx.inputs();
    let got = model.predict(&inputs).unwrap();
    let expected = fx.outputs()[0]
        .slice(s![.., 0..2, ..])
        .to_owned()
        .into_dyn();
    let err = assert_close(
        got[0].as_f32().unwrap(),
        &expected,
        fx.tolerance(),
        "shape_ops",
    );
    println!("shape_ops (repeat_vector branch): max abs error {err:.3e}");

    // Masking: a step is masked exactly when all its 4 features are 0; the output
    // keeps unmasked steps unchanged and zeroes the others (here they are 0 already).
    let frames = inputs[0]
        .as_f32()
        .unwrap()
        .view()
        .into_dimensionality::<Ix3>()
        .unwrap();
    let expected_mask = frames.map_axis(Axis(2), |lane| lane.iter().any(|&v| v != 0.0));
    assert_eq!(got[2], Value::Bool(expected_mask.into_dyn()));
    assert_eq!(got[1].as_f32().unwrap(), &frames.to_owned().into_dyn());
}

/// Conv1D → MaxPooling1D → Flatten through a compiled model.
#[test]
fn conv_pool_flatten_by_hand() {
    let x_in = Input::new([None, Some(1)]).build();
    // k=2 taps [1, -1], bias 0: y[t] = x[t] - x[t+1] (valid).
    let conv = Conv1D::new(1, 2).weights(vec![
        array![[[1.0f32]], [[-1.0]]].into_dyn(),
        array![0.0f32].into_dyn(),
    ]);
    let y = conv.call(&x_in).unwrap();
    assert_eq!(y.shape(), &vec![None, None, Some(1)]);
    let y = MaxPooling1D::new(2).call(&y).unwrap();
    let y = Flatten::new().call(&y).unwrap();
    assert_eq!(y.shape(), &vec![None, None]);
    let model = Model::new(&[x_in], &[y]).unwrap();
    // x = [1, 4, 2, 8, 3]: differences [-3, 2, -6, 5]; max-pool pairs: [2, 5].
    let out = model
        .predict(&[array![[[1.0f32], [4.0], [2.0], [8.0], [3.0]]].into()])
        .unwrap();
    assert_eq!(out[0], Value::F32(array![[2.0f32, 5.0]].into_dyn()));
    // Too short at run time (one step, kernel 2): an error, not a panic.
    let err = model.predict(&[array![[[1.0f32]]].into()]).unwrap_err();
    assert!(err.to_string().contains("conv1d"), "{err}");
}

/// The mask made by Masking reaches GlobalAveragePooling1D through the graph.
#[test]
fn masking_then_global_average_pooling_averages_unmasked_steps() {
    let x_in = Input::new([3, 2]).build();
    let masked = Masking::new(0.0).call(&x_in).unwrap();
    let avg = GlobalAveragePooling1D::new().call(&masked).unwrap();
    assert!(avg.mask().is_none());
    let max = GlobalMaxPooling1D::new().call(&masked).unwrap();
    assert!(max.mask().is_none());
    let model = Model::new(&[x_in], &[avg, max]).unwrap();
    // Row 0: steps [1,2], [0,0] (masked), [3,4]: mean of unmasked = [2, 3];
    //        max over all steps (GlobalMaxPooling1D ignores masks) = [3, 4].
    // Row 1: every step masked: mean 0/0 = NaN (Keras too); max = [0, 0].
    let x = array![
        [[1.0f32, 2.0], [0.0, 0.0], [3.0, 4.0]],
        [[0.0, 0.0], [0.0, 0.0], [0.0, 0.0]]
    ];
    let out = model.predict(&[x.into()]).unwrap();
    let avg = out[0].as_f32().unwrap();
    assert_eq!(avg.slice(s![0, ..]).to_vec(), vec![2.0, 3.0]);
    assert!(avg.slice(s![1, ..]).iter().all(|v| v.is_nan()));
    assert_eq!(
        out[1],
        Value::F32(array![[3.0f32, 4.0], [0.0, 0.0]].into_dyn())
    );
}

/// An Embedding mask also reaches GlobalAveragePooling1D; Conv1D and the
/// reshaping layers drop masks, as in Keras.
#[test]
fn embedding_mask_flows_to_average_and_is_dropped_by_conv() {
    let tokens = Input::new([3]).dtype(DType::I32).build();
    // Table row i = [i, 10 i].
    let table = array![[0.0f32, 0.0], [1.0, 10.0], [2.0, 20.0], [3.0, 30.0]].into_dyn();
    let x = Embedding::new(4, 2)
        .mask_zero(true)
        .weights(table)
        .call(&tokens)
        .unwrap();
    assert!(x.mask().is_some());
    assert!(Conv1D::new(1, 1).call(&x).unwrap().mask().is_none());
    assert!(Cropping1D::new((1, 0)).call(&x).unwrap().mask().is_none());
    assert!(Flatten::new().call(&x).unwrap().mask().is_none());
    let avg = GlobalAveragePooling1D::new()
        .keepdims(true)
        .call(&x)
        .unwrap();
    let model = Model::new(&[tokens], &[avg]).unwrap();
    // ids [1, 0, 3]: unmasked rows [1, 10] and [3, 30]: mean [2, 20].
    let out = model.predict(&[array![[1, 0, 3]].into()]).unwrap();
    assert_eq!(out[0], Value::F32(array![[[2.0f32, 20.0]]].into_dyn()));
}

/// Reshaping layers chained through a model, on a hand-made ramp.
#[test]
fn permute_reshape_repeat_crop_by_hand() {
    let x_in = Input::new([2, 3]).build();
    // x = [[0,1,2],[3,4,5]] -> Permute(2,1) -> [[0,3],[1,4],[2,5]] -> Reshape(-1)
    // -> [0,3,1,4,2,5] -> RepeatVector(2) -> two copies, shape (1, 2, 6)
    // -> Cropping1D((1, 0)) -> the second copy only, shape (1, 1, 6).
    let y = Permute::new(vec![2, 1]).call(&x_in).unwrap();
    let y = Reshape::new(vec![-1]).call(&y).unwrap();
    let y = RepeatVector::new(2).call(&y).unwrap();
    let y = Cropping1D::new((1, 0)).call(&y).unwrap();
    assert_eq!(y.shape(), &vec![None, Some(1), Some(6)]);
    let model = Model::new(&[x_in], &[y]).unwrap();
    let x = array![[[0.0f32, 1.0, 2.0], [3.0, 4.0, 5.0]]];
    let out = model.predict(&[x.into()]).unwrap();
    assert_eq!(
        out[0],
        Value::F32(array![[[0.0f32, 3.0, 1.0, 4.0, 2.0, 5.0]]].into_dyn())
    );
}

/// Shape errors surface when the graph is built, naming the layer.
#[test]
fn graph_time_errors_name_the_layer() {
    let x = Input::new([4, 2]).build();
    let err = MaxPooling1D::new(5).name("pool").call(&x).unwrap_err();
    assert!(
        err.to_string().contains("pool") && err.to_string().contains("pool_size=5"),
        "{err}"
    );
    let err = Reshape::new(vec![3, -1]).name("rs").call(&x).unwrap_err();
    assert!(
        err.to_string().contains("rs") && err.to_string().contains("total size"),
        "{err}"
    );
    let err = Conv1D::new(2, 2)
        .data_format(DataFormat::ChannelsFirst)
        .call(&x)
        .unwrap_err();
    assert!(err.to_string().contains("channels_first"), "{err}");
    let err = RepeatVector::new(2).call(&x).unwrap_err();
    assert!(err.to_string().contains("rank 2"), "{err}");
}
#[test]
fn fixture_cnn_branches() {
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
    let model = Model::new(&[tokens], &[probs]).unwrap();
    support::fixture("cnn_branches").check(&model);
}

/// Keras fixture `shape_ops`: causal dilated Conv1D → strided Conv1D(same) →
/// AveragePooling1D(same) → Permute → Reshape(-1) → Dense → RepeatVector(2), and
/// Masking → LSTM(3, return_sequences) → Cropping1D((8, 0)); Concatenate(axis=1).
#[test]
fn fixture_shape_ops() {
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
    let model = Model::new(&[frames], &[out]).unwrap();
    support::fixture("shape_ops").check(&model);
}
