//! Keras configs to models: every fixture's `model.json` (written by Keras
//! 3.15.1) is read with `model_from_keras_config`, loaded with the fixture's
//! weights (`weights.npz`, `get_weights()` order) and compared with Keras'
//! outputs; the layers keep the file's names and order.

mod support;

use serde_json::Value;
use support::{att_layer, fixture, models};
use tensorweave::io::builtin_registry;
use tensorweave::io::keras_json::model_from_keras_config;
use tensorweave::io::registry::LayerRegistry;
use tensorweave::prelude::*;

fn registry() -> LayerRegistry {
    let mut registry = builtin_registry();
    registry.register("textclf>AttLayer", att_layer::from_config);
    registry
}

fn model_json(name: &str) -> Value {
    let path = fixture(name).dir.join("model.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn file_layer_names(json: &Value) -> Vec<String> {
    json["config"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["name"].as_str().unwrap().to_string())
        .collect()
}

fn import(name: &str) -> Model {
    let json = model_json(name);
    let model = model_from_keras_config(&json, &registry())
        .unwrap_or_else(|e| panic!("{name}: import failed: {e}"));
    let ours: Vec<String> = model
        .layers()
        .iter()
        .map(|l| l.name().to_string())
        .collect();
    assert_eq!(
        ours,
        file_layer_names(&json),
        "{name}: layer names and order"
    );
    assert_eq!(model.name(), json["config"]["name"].as_str().unwrap());
    model
}

macro_rules! import_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let model = import(stringify!($name));
            fixture(stringify!($name)).check(&model);
        }
    )*};
}

for_each_fixture!(import_tests);

#[test]
fn every_fixture_is_imported() {
    assert_eq!(models::FIXTURES.len(), 17);
}

#[test]
fn the_config_object_alone_is_accepted() {
    let json = model_json("bilstm_sequences");
    let model = model_from_keras_config(&json["config"], &registry()).unwrap();
    fixture("bilstm_sequences").check(&model);
}

#[test]
fn masks_recorded_in_the_file_are_used() {
    // The Bidirectional call records `mask` = not_equal's output: the graph uses
    // the file's `not_equal` op, not one made by the Embedding while replaying.
    let model = import("bilstm_sequences");
    let classes: Vec<String> = model
        .layers()
        .iter()
        .map(|l| l.class_name().to_string())
        .collect();
    assert_eq!(classes.iter().filter(|c| *c == "NotEqual").count(), 1);
}

#[test]
fn nested_models_keep_their_layers() {
    let model = import("timedistributed_model");
    let td = model.layer("time_distributed_1").unwrap();
    let specs: Vec<String> = td.weight_specs().into_iter().map(|w| w.0).collect();
    assert!(
        specs.iter().any(|p| p.starts_with("sentence_encoder/")),
        "{specs:?}"
    );
}

#[test]
fn unknown_user_layers_are_named_with_how_to_register_them() {
    let json = model_json("custom_attention");
    let err = model_from_keras_config(&json, &builtin_registry())
        .unwrap_err()
        .to_string();
    assert!(err.contains("AttLayer"), "{err}");
    assert!(err.contains("register_layer"), "{err}");
}

/// A case of `tests/fixtures/io` (written by `tests/fixtures/io/generate.py`
/// with Keras 3.15.1): the model, its weights, inputs and Keras' outputs.
struct IoCase {
    dir: std::path::PathBuf,
}

impl IoCase {
    fn new(name: &str) -> IoCase {
        IoCase {
            dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/io")
                .join(name),
        }
    }

    fn json(&self) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.dir.join("model.json")).unwrap())
            .unwrap()
    }

    fn files(&self, prefix: &str) -> Vec<std::path::PathBuf> {
        (0..)
            .map(|i| self.dir.join(format!("{prefix}_{i}.npy")))
            .take_while(|p| p.exists())
            .collect()
    }

    fn weights(&self) -> Vec<ndarray::ArrayD<f32>> {
        let file = std::fs::File::open(self.dir.join("weights.npz")).unwrap();
        let mut npz = ndarray_npy::NpzReader::new(file).unwrap();
        let n = npz.names().unwrap().len();
        (0..n)
            .map(|i| npz.by_name(&format!("arr_{i}.npy")).unwrap())
            .collect()
    }

    fn inputs(&self) -> Vec<TwValue> {
        use ndarray_npy::ReadNpyExt;
        self.files("input")
            .iter()
            .map(|p| {
                let ints: Result<ndarray::ArrayD<i32>, _> =
                    ndarray::ArrayD::<i32>::read_npy(std::fs::File::open(p).unwrap());
                match ints {
                    Ok(a) => TwValue::I32(a),
                    Err(_) => TwValue::F32(
                        ndarray::ArrayD::<f32>::read_npy(std::fs::File::open(p).unwrap()).unwrap(),
                    ),
                }
            })
            .collect()
    }

    fn outputs(&self) -> Vec<ndarray::ArrayD<f32>> {
        use ndarray_npy::ReadNpyExt;
        self.files("output")
            .iter()
            .map(|p| ndarray::ArrayD::<f32>::read_npy(std::fs::File::open(p).unwrap()).unwrap())
            .collect()
    }

    /// Loads the weights, predicts and compares with Keras (|error| ≤ 1e-5 + 1e-5·|y|).
    fn check(&self, model: &Model) -> f32 {
        model.set_weights(&self.weights()).unwrap();
        let got = model.predict(&self.inputs()).unwrap();
        let expected = self.outputs();
        assert_eq!(got.len(), expected.len());
        let mut max_err = 0.0f32;
        for (g, e) in got.iter().zip(&expected) {
            let g = g.as_f32().unwrap();
            assert_eq!(g.shape(), e.shape());
            for (a, b) in g.iter().zip(e) {
                let err = (a - b).abs();
                assert!(err <= 1e-5 + 1e-5 * b.abs(), "got {a}, Keras {b}");
                max_err = max_err.max(err);
            }
        }
        println!("{}: max abs error {max_err:.3e}", self.dir.display());
        max_err
    }
}

use tensorweave::prelude::Value as TwValue;

#[test]
fn mask_ops_and_masked_merges_from_keras() {
    // Concatenate's mask ops (ExpandDims, ZerosLike, LogicalOr, OnesLike, the
    // Concatenate op, Any) come from the file; masked Maximum / Minimum, whose
    // masks Keras does not record, use the masks their inputs carry.
    let case = IoCase::new("masked_merges");
    let json = case.json();
    let model = model_from_keras_config(&json, &registry()).unwrap();
    let names: Vec<String> = model
        .layers()
        .iter()
        .map(|l| l.name().to_string())
        .collect();
    for name in file_layer_names(&json) {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    case.check(&model);
}

#[test]
fn shared_layers_nested_models_and_dict_inputs_from_keras() {
    // `shared` is called three times (once on its own output), the nested model
    // `inner` twice; the outputs are `["inner", 1, 0]` and `["inner", 2, 0]`
    // (Keras counts a nested model's calls from 1 there); the dict inputs
    // {"x", "w"} are taken in sorted key order: w, x.
    let case = IoCase::new("shared_nested");
    let json = case.json();
    assert_eq!(
        json["config"]["output_layers"][0],
        serde_json::json!(["inner", 1, 0])
    );
    let model = model_from_keras_config(&json, &registry()).unwrap();
    let inputs: Vec<&str> = model.inputs().iter().map(|t| t.layer().name()).collect();
    assert_eq!(inputs, ["w", "x"]);
    case.check(&model);
}

#[test]
fn imported_models_write_what_they_read() {
    // After one import, writing and reading again is a fixed point.
    use tensorweave::io::keras_json::model_to_keras_config_with;
    for name in ["masked_merges", "shared_nested"] {
        let case = IoCase::new(name);
        let first = model_from_keras_config(&case.json(), &registry()).unwrap();
        let written = model_to_keras_config_with(&first, &registry()).unwrap();
        let second = model_from_keras_config(&written, &registry()).unwrap();
        assert_eq!(
            model_to_keras_config_with(&second, &registry()).unwrap(),
            written,
            "{name}"
        );
        case.check(&second);
    }
}

#[test]
fn keras_2_configs_are_read() {
    // The layout of tf.keras 2.x `model.to_json()`: no `module`, `batch_input_shape`,
    // string dtypes, Keras 2 initializer objects, regularizers, `time_major` and
    // `implementation` on the LSTM, and calls as `[[layer, node, tensor, {}]]`.
    let lstm = serde_json::json!({"class_name": "LSTM", "config": {
        "name": "lstm", "trainable": true, "dtype": "float32", "return_sequences": false,
        "return_state": false, "go_backwards": false, "stateful": false, "unroll": false,
        "time_major": false, "units": 2, "activation": "tanh",
        "recurrent_activation": "sigmoid", "use_bias": true,
        "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}},
        "recurrent_initializer": {"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": null}},
        "bias_initializer": {"class_name": "Zeros", "config": {}},
        "unit_forget_bias": true, "kernel_regularizer": null, "recurrent_regularizer": null,
        "bias_regularizer": null, "activity_regularizer": null, "kernel_constraint": null,
        "recurrent_constraint": null, "bias_constraint": null, "dropout": 0.0,
        "recurrent_dropout": 0.0, "implementation": 2}});
    let json = serde_json::json!({"class_name": "Functional", "config": {
        "name": "model", "layers": [
            {"class_name": "InputLayer", "config": {"batch_input_shape": [null, 5],
                "dtype": "int32", "sparse": false, "ragged": false, "name": "tokens"},
             "name": "tokens", "inbound_nodes": []},
            {"class_name": "Embedding", "config": {"name": "embedding", "trainable": true,
                "batch_input_shape": [null, 5], "dtype": "float32", "input_dim": 10,
                "output_dim": 3, "embeddings_initializer": {"class_name": "RandomUniform",
                "config": {"minval": -0.05, "maxval": 0.05, "seed": null}},
                "embeddings_regularizer": null, "activity_regularizer": null,
                "embeddings_constraint": null, "mask_zero": true, "input_length": 5},
             "name": "embedding", "inbound_nodes": [[["tokens", 0, 0, {}]]]},
            {"class_name": "Bidirectional", "config": {"name": "bidirectional",
                "trainable": true, "dtype": "float32", "layer": lstm, "merge_mode": "concat"},
             "name": "bidirectional", "inbound_nodes": [[["embedding", 0, 0, {}]]]},
            {"class_name": "GlobalAveragePooling1D", "config": {"name": "pool",
                "trainable": true, "dtype": "float32", "data_format": "channels_last",
                "keepdims": false},
             "name": "pool", "inbound_nodes": [[["embedding", 0, 0, {}]]]},
            {"class_name": "Concatenate", "config": {"name": "concat", "trainable": true,
                "dtype": "float32", "axis": -1},
             "name": "concat",
             "inbound_nodes": [[["bidirectional", 0, 0, {}], ["pool", 0, 0, {}]]]},
            {"class_name": "Dense", "config": {"name": "dense", "trainable": true,
                "dtype": "float32", "units": 1, "activation": "sigmoid", "use_bias": true,
                "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": null}},
                "bias_initializer": {"class_name": "Zeros", "config": {}},
                "kernel_regularizer": {"class_name": "L2", "config": {"l2": 0.01}},
                "bias_regularizer": null, "activity_regularizer": null,
                "kernel_constraint": null, "bias_constraint": null},
             "name": "dense", "inbound_nodes": [[["concat", 0, 0, {}]]]}
        ],
        "input_layers": [["tokens", 0, 0]], "output_layers": [["dense", 0, 0]]},
        "keras_version": "2.12.0", "backend": "tensorflow"});
    let loaded = model_from_keras_config(&json, &registry()).unwrap();
    let paths: Vec<String> = loaded.weight_specs().into_iter().map(|w| w.0).collect();
    assert_eq!(paths[1], "bidirectional/forward_lstm/lstm_cell/kernel");
    assert_eq!(paths[4], "bidirectional/backward_lstm/lstm_cell/kernel");

    // The same model with the API computes the same, with the same weights.
    reset_names();
    let tokens = Input::new([5]).dtype(DType::I32).name("tokens").build();
    let e = Embedding::new(10, 3).mask_zero(true).call(&tokens).unwrap();
    let b = Bidirectional::new(Lstm::new(2)).call(&e).unwrap();
    let p = GlobalAveragePooling1D::new().call(&e).unwrap();
    let c = Concatenate::new().call_many(&[&b, &p]).unwrap();
    let y = Dense::new(1)
        .activation(Activation::Sigmoid)
        .call(&c)
        .unwrap();
    let built = Model::new(&[tokens], &[y]).unwrap();
    built.set_weights(&loaded.get_weights()).unwrap();
    let ids = TwValue::from(ndarray::arr2(&[[1, 2, 3, 0, 0], [4, 0, 0, 0, 0]]));
    let (a, b) = (
        loaded.predict(std::slice::from_ref(&ids)).unwrap(),
        built.predict(&[ids]).unwrap(),
    );
    assert_eq!(a[0].as_f32().unwrap(), b[0].as_f32().unwrap());
}
