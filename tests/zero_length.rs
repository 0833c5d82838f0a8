//! Zero-length axes: a sequence of 0 steps, an empty batch, a dimension of 0.
//!
//! Keras 3.15.1 (TensorFlow) on a `(2, 0, 4)` input to a dynamic-length model:
//!
//! ```python
//! x = keras.Input((None, 4))
//! keras.Model(x, layers.LSTM(3)(x)).predict(np.zeros((2, 0, 4)))
//! # ValueError: Exception encountered when calling LSTM.call(): slice index 0 of
//! #   dimension 1 out of bounds (GRU, SimpleRNN and Bidirectional the same)
//! keras.Model(x, layers.Conv1D(2, 3, padding="same")(x))(np.zeros((2, 0, 4)))
//! # InvalidArgumentError: Incompatible shapes: [2,0,4] vs. [1,1,2]
//! keras.Model(x, layers.GlobalAveragePooling1D()(x)).predict(...)  # (2, 4) of nan
//! keras.Model(x, layers.GlobalMaxPooling1D()(x)).predict(...)      # (2, 4) of -inf
//! keras.Model(x, layers.Dense(2)(x)).predict(...)                  # shape (2, 0, 2)
//! ```
use ndarray::{Array2, Array3};
use tensorweave::prelude::*;

fn model_of(layer: impl FnOnce(&Tensor) -> Tensor) -> Model {
    let x = Input::new([None, Some(4)]).name("x").build();
    let y = layer(&x);
    Model::new(&[x], &[y]).unwrap()
}

fn zero_steps() -> Value {
    Array3::<f32>::zeros((2, 0, 4)).into()
}

#[test]
fn recurrent_layers_refuse_zero_steps_with_a_clear_error() {
    let cases: Vec<(&str, Model)> = vec![
        (
            "lstm",
            model_of(|x| Lstm::new(3).name("lstm").call(x).unwrap()),
        ),
        (
            "gru",
            model_of(|x| Gru::new(3).name("gru").call(x).unwrap()),
        ),
        (
            "simple_rnn",
            model_of(|x| SimpleRnn::new(3).name("simple_rnn").call(x).unwrap()),
        ),
        (
            "bidirectional",
            model_of(|x| {
                Bidirectional::new(Lstm::new(3).return_sequences(true))
                    .name("bidirectional")
                    .call(x)
                    .unwrap()
            }),
        ),
    ];
    for (name, model) in cases {
        let err = model.predict(&[zero_steps()]).unwrap_err().to_string();
        assert!(err.contains(&format!("layer '{name}")), "{err}");
        assert!(
            err.contains("0 time steps") && err.contains("(2, 0, 4)"),
            "{err}"
        );
        assert!(!err.contains('\n'), "{err}");
    }
}

#[test]
fn conv1d_refuses_zero_steps() {
    let model = model_of(|x| {
        Conv1D::new(2, 3)
            .padding(Padding::Same)
            .name("conv")
            .call(x)
            .unwrap()
    });
    let err = model.predict(&[zero_steps()]).unwrap_err().to_string();
    assert!(
        err.contains("'conv'") && err.contains("0 time steps"),
        "{err}"
    );
}

#[test]
fn pooling_and_dense_follow_keras_on_zero_steps() {
    let avg = model_of(|x| GlobalAveragePooling1D::new().call(x).unwrap());
    let out = avg.predict(&[zero_steps()]).unwrap();
    let out = out[0].as_f32().unwrap();
    assert_eq!(out.shape(), &[2, 4]);
    assert!(out.iter().all(|v| v.is_nan()));

    let max = model_of(|x| GlobalMaxPooling1D::new().call(x).unwrap());
    let out = max.predict(&[zero_steps()]).unwrap();
    let out = out[0].as_f32().unwrap();
    assert_eq!(out.shape(), &[2, 4]);
    assert!(out.iter().all(|&v| v == f32::NEG_INFINITY));

    let dense = model_of(|x| Dense::new(2).call(x).unwrap());
    let out = dense.predict(&[zero_steps()]).unwrap();
    assert_eq!(out[0].shape(), &[2, 0, 2]);
}

/// An empty batch gives empty outputs (Keras' `predict` fails on one with an
/// internal `UnboundLocalError`; calling the model gives the empty result).
#[test]
fn an_empty_batch_gives_empty_outputs() {
    let tokens = Input::new([Some(5)])
        .dtype(DType::I32)
        .name("tokens")
        .build();
    let e = Embedding::new(10, 4).mask_zero(true).call(&tokens).unwrap();
    let h = Bidirectional::new(Lstm::new(3)).call(&e).unwrap();
    let y = Dense::new(2)
        .activation(Activation::Softmax)
        .call(&h)
        .unwrap();
    let model = Model::new(&[tokens], &[y]).unwrap();
    let out = model
        .predict(&[Array2::<i32>::zeros((0, 5)).into()])
        .unwrap();
    assert_eq!(out[0].shape(), &[0, 2]);
    let batched = model
        .predict_in_batches(&[Array2::<i32>::zeros((0, 5)).into()], 4)
        .unwrap();
    assert_eq!(batched[0].shape(), &[0, 2]);
}
