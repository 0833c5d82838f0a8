//! Loads a Keras fixture (`tests/fixtures/keras/NAME`): weights in `get_weights()`
//! order, inputs, Keras' outputs and `case.json`, and checks a model against them.
#![allow(dead_code)]

#[path = "../../examples/shared/att_layer.rs"]
pub mod att_layer;
pub mod keras_train;
pub mod suite;
#[path = "../../examples/shared/transformer_layers.rs"]
pub mod transformer_layers;

/// Registers the examples' `textclf>AttLayer` (idempotent).
pub fn att_layer_registered() {
    tensorweave::io::register_layer("textclf>AttLayer", att_layer::from_config);
}
pub mod models;

/// Invokes `$tests!` with the names of the 17 Keras fixtures (one test per
/// fixture in each suite).
#[macro_export]
macro_rules! for_each_fixture {
    ($tests:ident) => {
        $tests!(
            bigru_merge_ave,
            bigru_merge_mul,
            bigru_merge_none,
            bigru_merge_sum,
            bilstm_classifier,
            bilstm_return_state,
            bilstm_sequences,
            cnn_branches,
            custom_attention,
            dynamic_length,
            gru_reset_before,
            nested_multi_output,
            shape_ops,
            siamese_shared,
            simplernn_backwards,
            stacked_bidirectional,
            timedistributed_model,
        );
    };
}

use std::fs::File;
use std::path::PathBuf;

use ndarray::ArrayD;
use ndarray_npy::NpzReader;
use tensorweave::io::npy::{Npy, NpyDtype};
use tensorweave::prelude::*;

fn read_npy(path: &std::path::Path) -> Npy {
    Npy::read(path, &Default::default()).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One Keras fixture case.
pub struct Fixture {
    pub name: String,
    pub dir: PathBuf,
    pub case: serde_json::Value,
}

pub fn fixture(name: &str) -> Fixture {
    fixture_in("keras", name)
}

/// A case of `tests/fixtures/<set>/<name>` in the layout of `tests/fixtures/keras`.
pub fn fixture_in(set: &str, name: &str) -> Fixture {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(set)
        .join(name);
    let case: serde_json::Value =
        serde_json::from_reader(File::open(dir.join("case.json")).expect("case.json"))
            .expect("case.json parses");
    Fixture {
        name: name.to_string(),
        dir,
        case,
    }
}

impl Fixture {
    /// Weights in Keras' `model.get_weights()` order (`arr_0`, `arr_1`, …).
    pub fn weights(&self) -> Vec<ArrayD<f32>> {
        let mut npz =
            NpzReader::new(File::open(self.dir.join("weights.npz")).expect("weights.npz"))
                .expect("npz");
        let n = npz.names().expect("npz names").len();
        (0..n)
            .map(|i| npz.by_name(&format!("arr_{i}.npy")).expect("weight array"))
            .collect()
    }

    /// The inputs `input_K.npy` ([`Fixture::input`] each).
    pub fn inputs(&self) -> Vec<Value> {
        let n = self.case["inputs"].as_array().expect("inputs").len();
        (0..n).map(|i| self.input(i)).collect()
    }

    /// Input `i` as the dtype it was saved in: NumPy `str` as text, integers
    /// as int32, bool, floats as float32.
    pub fn input(&self, i: usize) -> Value {
        let npy = read_npy(&self.dir.join(format!("input_{i}.npy")));
        match npy.dtype() {
            NpyDtype::Unicode(_) => Value::Str(npy.to_strings().expect("text input")),
            NpyDtype::Bool => Value::Bool(npy.to_bool().expect("bool input")),
            d if d.is_integer() => Value::I32(npy.to_i32().expect("int input")),
            _ => Value::F32(npy.to_f32().expect("float input")),
        }
    }

    /// Keras' outputs `output_K.npy` as float32 (integers and bools converted).
    pub fn outputs(&self) -> Vec<ArrayD<f32>> {
        let n = self.case["outputs"].as_array().expect("outputs").len();
        (0..n)
            .map(|i| {
                let npy = read_npy(&self.dir.join(format!("output_{i}.npy")));
                match npy.dtype() {
                    NpyDtype::Bool => {
                        npy.to_bool()
                            .expect("bool output")
                            .mapv(|b| if b { 1.0 } else { 0.0 })
                    }
                    _ => npy.to_f32().expect("numeric output"),
                }
            })
            .collect()
    }

    /// Class names of the top-level layers and ops, in the order of Keras'
    /// `model.json` (which is Keras' `model._operations` order).
    pub fn keras_classes(&self) -> Vec<String> {
        let json: serde_json::Value =
            serde_json::from_reader(File::open(self.dir.join("model.json")).expect("model.json"))
                .expect("json");
        json["config"]["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .map(|l| l["class_name"].as_str().expect("class_name").to_string())
            .collect()
    }

    /// Asserts that `model.layers()` lists the same classes in the same order as Keras.
    pub fn check_layer_order(&self, model: &Model) {
        let ours: Vec<String> = model
            .layers()
            .iter()
            .map(|l| l.class_name().to_string())
            .collect();
        assert_eq!(ours, self.keras_classes(), "{}: layer order", self.name);
    }

    /// Like [`Fixture::check_layer_order`] for the layers only (not the
    /// ops): Keras does not record the mask ops of a call whose masks are
    /// implicit and come as a list (`Attention([q, v])`), which tensorweave's
    /// graph holds as op nodes.
    pub fn check_layer_order_without_ops(&self, model: &Model) {
        let ours: Vec<String> = model
            .layers()
            .iter()
            .filter(|l| !l.read().is_op())
            .map(|l| l.class_name().to_string())
            .collect();
        let json: serde_json::Value =
            serde_json::from_reader(File::open(self.dir.join("model.json")).expect("model.json"))
                .expect("json");
        let keras: Vec<String> = json["config"]["layers"]
            .as_array()
            .expect("layers")
            .iter()
            .filter(|l| {
                !l["module"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("keras.src.ops"))
            })
            .map(|l| l["class_name"].as_str().expect("class_name").to_string())
            .collect();
        assert_eq!(ours, keras, "{}: layer order", self.name);
    }

    pub fn params(&self) -> usize {
        self.case["params"].as_u64().expect("params") as usize
    }

    pub fn trainable_params(&self) -> usize {
        self.case["trainable_params"]
            .as_u64()
            .expect("trainable_params") as usize
    }

    pub fn tolerance(&self) -> (f32, f32) {
        let t = &self.case["tolerance"];
        (
            t["abs"].as_f64().expect("abs") as f32,
            t["rel"].as_f64().expect("rel") as f32,
        )
    }

    /// Loads the fixture's weights into `model`, checks parameter counts, predicts
    /// the fixture's inputs and compares every output with Keras' within
    /// `case.json`'s tolerance. Returns the largest absolute error.
    pub fn check(&self, model: &Model) -> f32 {
        model
            .set_weights(&self.weights())
            .unwrap_or_else(|e| panic!("{}: set_weights: {e}", self.name));
        self.check_loaded(model)
    }

    /// Like [`Fixture::check`] for a model whose weights are already loaded (from
    /// a `.keras` file, a native save, …).
    pub fn check_loaded(&self, model: &Model) -> f32 {
        let (trainable, frozen) = model.count_params();
        assert_eq!(
            trainable + frozen,
            self.params(),
            "{}: total parameter count",
            self.name
        );
        if self.case.get("trainable_params").is_some() {
            assert_eq!(
                trainable,
                self.trainable_params(),
                "{}: trainable parameter count",
                self.name
            );
        }
        let got = model
            .predict(&self.inputs())
            .unwrap_or_else(|e| panic!("{}: predict: {e}", self.name));
        self.compare(&got)
    }

    /// Compares outputs computed from the fixture's inputs with Keras' within
    /// `case.json`'s tolerance. Returns the largest absolute error.
    pub fn compare(&self, got: &[Value]) -> f32 {
        let expected = self.outputs();
        assert_eq!(
            got.len(),
            expected.len(),
            "{}: number of outputs",
            self.name
        );
        let (abs, rel) = self.tolerance();
        let mut max_err = 0.0f32;
        for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
            // Bool and integer outputs (comparisons, argmax) as Keras' fixtures
            // store them: converted to float32.
            let g = &g.to_f32();
            assert_eq!(g.shape(), e.shape(), "{}: output {k} shape", self.name);
            for ((idx, a), b) in g.indexed_iter().zip(e.iter()) {
                let err = (a - b).abs();
                max_err = max_err.max(err);
                assert!(
                    err <= abs + rel * b.abs(),
                    "{}: output {k} at {idx:?}: got {a}, Keras {b} (error {err})",
                    self.name
                );
            }
        }
        println!("fixture {}: max abs error {max_err:.3e}", self.name);
        max_err
    }
}
