//! Unit tests of the Keras JSON reader and writer.

use ndarray::{arr1, arr2};
use serde_json::json;
use tensorweave_core::{Model, Value as Array};
use tensorweave_layers::prelude::*;

use super::*;
use crate::registry::builtin_registry;

fn dense(name: &str, units: usize, activation: &str) -> serde_json::Value {
    json!({"module": "keras.layers", "class_name": "Dense",
           "config": {"name": name, "units": units, "activation": activation},
           "registered_name": null})
}

/// Sets `[k1, b1, k2, b2]` and predicts two rows.
fn run(model: &Model) -> Vec<f32> {
    model
        .set_weights(&[
            arr2(&[[1.0f32, 0.0], [0.0, 1.0], [1.0, 1.0]]).into_dyn(),
            arr1(&[0.5f32, -0.5]).into_dyn(),
            arr2(&[[2.0f32], [3.0]]).into_dyn(),
            arr1(&[1.0f32]).into_dyn(),
        ])
        .unwrap();
    let x = Array::from(arr2(&[[1.0f32, 2.0, 3.0], [-1.0, 0.5, 2.0]]));
    let y = model.predict(&[x]).unwrap();
    y[0].as_f32().unwrap().iter().copied().collect()
}

/// By hand: h = relu(x·k1 + b1); y = h·k2 + b2.
/// [1, 2, 3] → h = [1+3+0.5, 2+3-0.5] = [4.5, 4.5] → y = 9 + 13.5 + 1 = 23.5;
/// [-1, 0.5, 2] → h = [-1+2+0.5, 0.5+2-0.5] = [1.5, 2] → y = 3 + 6 + 1 = 10.
const EXPECTED: [f32; 2] = [23.5, 10.0];

#[test]
fn sequential_models_are_read() {
    // Keras 3.15.1's `Sequential([Input((3,), name="feats"), Dense(2, "relu"),
    // Dense(1)], name="seq").to_json()`, trimmed.
    let keras3 = json!({"module": "keras", "class_name": "Sequential", "config": {
    "name": "seq", "trainable": true,
    "layers": [
        {"module": "keras.layers", "class_name": "InputLayer",
         "config": {"batch_shape": [null, 3], "dtype": "float32", "sparse": false,
                    "ragged": false, "name": "feats", "optional": false},
         "registered_name": null},
        dense("d1", 2, "relu"),
        dense("d2", 1, "linear"),
    ]}});
    let model = model_from_keras_config(&keras3, &builtin_registry()).unwrap();
    assert_eq!(model.name(), "seq");
    assert_eq!(run(&model), EXPECTED);

    // Keras 2: the first layer carries `batch_input_shape`.
    let mut first = dense("d1", 2, "relu");
    first["config"]["batch_input_shape"] = json!([null, 3]);
    let keras2 = json!({"class_name": "Sequential", "config": {
        "name": "seq2", "layers": [first, dense("d2", 1, "linear")]}});
    let model = model_from_keras_config(&keras2, &builtin_registry()).unwrap();
    assert_eq!(run(&model), EXPECTED);
}

#[test]
fn functional_configs_are_read_at_both_levels() {
    let x = Input::new([3]).name("x").build();
    let h = Dense::new(2)
        .activation(Activation::Relu)
        .name("d1")
        .call(&x)
        .unwrap();
    let y = Dense::new(1).name("d2").call(&h).unwrap();
    let model = Model::with_name("f", &[x], &[y]).unwrap();
    let written = model_to_keras_config_with(&model, &builtin_registry()).unwrap();
    assert_eq!(written[FORMAT_VERSION_KEY], json!(FORMAT_VERSION));
    assert_eq!(written["config"]["input_layers"], json!(["x", 0, 0]));
    assert_eq!(written["config"]["output_layers"], json!(["d2", 0, 0]));
    for json in [&written, &written["config"]] {
        let read = model_from_keras_config(json, &builtin_registry()).unwrap();
        assert_eq!(read.name(), "f");
        assert_eq!(run(&read), EXPECTED);
    }
    assert!(model_from_keras_config(&json!([1]), &builtin_registry()).is_err());
    assert!(model_from_keras_config(&json!({"a": 1}), &builtin_registry()).is_err());
    let other = json!({"class_name": "Dense", "config": {}});
    let err = model_from_keras_config(&other, &builtin_registry()).unwrap_err();
    assert!(err.to_string().contains("'Dense'"), "{err}");
}

#[test]
fn nested_models_are_numbered_from_one_in_outputs() {
    let a = Input::new([3]).name("a").build();
    let b = Dense::new(2).name("inner_dense").call(&a).unwrap();
    let inner = Model::with_name("inner", &[a], &[b]).unwrap();
    let x = Input::new([3]).name("x").build();
    let y = inner.call(&x).unwrap();
    let outer = Model::with_name("outer", &[x], &[y]).unwrap();
    let written = model_to_keras_config_with(&outer, &builtin_registry()).unwrap();
    assert_eq!(written["config"]["output_layers"], json!(["inner", 1, 0]));
    let entry = &written["config"]["layers"][1];
    assert_eq!(entry["class_name"], json!("Functional"));
    assert_eq!(
        entry["config"]["output_layers"],
        json!(["inner_dense", 0, 0])
    );
    let read = model_from_keras_config(&written, &builtin_registry()).unwrap();
    assert_eq!(
        model_to_keras_config_with(&read, &builtin_registry()).unwrap(),
        written
    );
    let mut broken = written.clone();
    broken["config"]["output_layers"] = json!(["inner", 0, 0]);
    let err = model_from_keras_config(&broken, &builtin_registry()).unwrap_err();
    assert!(err.to_string().contains("numbered from 1"), "{err}");
}

#[test]
fn nested_sequential_models_are_read() {
    let seq = json!({"module": "keras", "class_name": "Sequential", "config": {
        "name": "mlp", "layers": [
            {"module": "keras.layers", "class_name": "InputLayer",
             "config": {"batch_shape": [null, 3], "dtype": "float32", "name": "feats"}},
            dense("d1", 2, "relu"),
            dense("d2", 1, "linear"),
        ]}, "registered_name": null, "name": "mlp",
        "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
            "shape": [null, 3], "dtype": "float32", "keras_history": ["x", 0, 0]}}],
            "kwargs": {}}]});
    let outer = json!({"class_name": "Functional", "config": {
        "name": "outer", "layers": [
            {"class_name": "InputLayer", "config": {"batch_shape": [null, 3], "name": "x"},
             "name": "x", "inbound_nodes": []},
            seq,
        ],
        "input_layers": [["x", 0, 0]], "output_layers": [["mlp", 0, 0]]}});
    let model = model_from_keras_config(&outer, &builtin_registry()).unwrap();
    assert_eq!(run(&model), EXPECTED);
}
