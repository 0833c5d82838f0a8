//! End-to-end tests of the convolution, pooling, reshaping and masking layers
//! through `Model::predict`, against hand-derived values (the Keras fixtures
//! `cnn_branches` and `shape_ops` are in `keras_fixtures.rs`).

use ndarray::{array, s};
use tensorweave::prelude::*;

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
