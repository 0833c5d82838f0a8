//! tensorweave's native format: JSON in Keras' functional layout plus
//! safetensors weights. For every fixture architecture (built with the API) and
//! for random graphs: `to_json` → `from_json` → `to_json` gives the same bytes,
//! and `save` → `load` gives bitwise identical predictions. Corrupt, truncated
//! and newer-version files are errors, never panics.

mod support;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use support::{att_layer, fixture, models};
use tensorweave::io::native::ModelIo;
use tensorweave::io::registry::register_layer;
use tensorweave::prelude::*;

/// A fresh directory under the system temp dir, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tensorweave-native-{tag}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn register_user_layers() {
    register_layer("textclf>AttLayer", att_layer::from_config);
}

fn assert_bitwise_equal(a: &[Value], b: &[Value], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: number of outputs");
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        let (x, y) = (x.as_f32().unwrap(), y.as_f32().unwrap());
        assert_eq!(x.shape(), y.shape(), "{what}: output {k} shape");
        for (p, q) in x.iter().zip(y.iter()) {
            assert_eq!(p.to_bits(), q.to_bits(), "{what}: output {k}: {p} vs {q}");
        }
    }
}

/// JSON round trip, then save/load round trip with the fixture's weights.
fn round_trip(name: &str) {
    register_user_layers();
    let model = models::build(name);
    let json = model.to_json().unwrap();
    let again = Model::from_json(&json).unwrap_or_else(|e| panic!("{name}: from_json: {e}"));
    assert_eq!(
        again.to_json().unwrap(),
        json,
        "{name}: to_json after from_json"
    );

    let case = fixture(name);
    model.set_weights(&case.weights()).unwrap();
    let dir = TempDir::new(name);
    model.save(dir.path(name)).unwrap();
    let loaded = Model::load(dir.path(name)).unwrap_or_else(|e| panic!("{name}: load: {e}"));
    let inputs = case.inputs();
    assert_bitwise_equal(
        &model.predict(&inputs).unwrap(),
        &loaded.predict(&inputs).unwrap(),
        name,
    );
    assert_eq!(
        loaded.to_json().unwrap(),
        json,
        "{name}: to_json after load"
    );
}

macro_rules! round_trip_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            round_trip(stringify!($name));
        }
    )*};
}

for_each_fixture!(round_trip_tests);

// ---------------------------------------------------------------------------
// Random graphs of built-in layers.

mod random_graphs {
    use super::*;
    use proptest::prelude::*;

    /// Every tensor of a random graph has width `W` (Concatenate is followed by
    /// a Dense back to `W`), so any two can be merged.
    const W: usize = 3;

    #[derive(Debug, Clone)]
    enum Step {
        Dense { src: usize, act: usize },
        Activation { src: usize, act: usize },
        Dropout { src: usize },
        LayerNorm { src: usize },
        Merge { a: usize, b: usize, kind: usize },
        Concat { a: usize, b: usize },
        Shared { layer: usize, src: usize },
        Nested { src: usize, again: Option<usize> },
    }

    fn step() -> impl Strategy<Value = Step> {
        let i = 0usize..64;
        prop_oneof![
            (i.clone(), 0usize..4).prop_map(|(src, act)| Step::Dense { src, act }),
            (i.clone(), 0usize..4).prop_map(|(src, act)| Step::Activation { src, act }),
            i.clone().prop_map(|src| Step::Dropout { src }),
            i.clone().prop_map(|src| Step::LayerNorm { src }),
            (i.clone(), i.clone(), 0usize..6).prop_map(|(a, b, kind)| Step::Merge { a, b, kind }),
            (i.clone(), i.clone()).prop_map(|(a, b)| Step::Concat { a, b }),
            (i.clone(), i.clone()).prop_map(|(layer, src)| Step::Shared { layer, src }),
            (i.clone(), proptest::option::of(i))
                .prop_map(|(src, again)| Step::Nested { src, again }),
        ]
    }

    fn activation(i: usize) -> Activation {
        [
            Activation::Linear,
            Activation::Tanh,
            Activation::Relu,
            Activation::Sigmoid,
        ][i % 4]
    }

    fn build(n_inputs: usize, steps: &[Step]) -> Model {
        let inputs: Vec<Tensor> = (0..n_inputs)
            .map(|i| Input::new([W]).name(format!("in_{i}")).build())
            .collect();
        let mut tensors = inputs.clone();
        let mut dense: Vec<LayerRef> = Vec::new();
        let pick = |tensors: &[Tensor], i: usize| tensors[i % tensors.len()].clone();
        for step in steps {
            let out = match *step {
                Step::Dense { src, act } => {
                    let layer = Dense::new(W).activation(activation(act)).into_layer();
                    dense.push(layer.clone());
                    layer.call(&pick(&tensors, src))
                }
                Step::Activation { src, act } => {
                    ActivationLayer::new(activation(act)).call(&pick(&tensors, src))
                }
                Step::Dropout { src } => Dropout::new(0.25).call(&pick(&tensors, src)),
                Step::LayerNorm { src } => LayerNormalization::new().call(&pick(&tensors, src)),
                Step::Merge { a, b, kind } => {
                    let (a, b) = (pick(&tensors, a), pick(&tensors, b));
                    let pair = [&a, &b];
                    match kind {
                        0 => Add::new().call_many(&pair),
                        1 => Subtract::new().call_many(&pair),
                        2 => Multiply::new().call_many(&pair),
                        3 => Average::new().call_many(&pair),
                        4 => Maximum::new().call_many(&pair),
                        _ => Minimum::new().call_many(&pair),
                    }
                }
                Step::Concat { a, b } => {
                    let (a, b) = (pick(&tensors, a), pick(&tensors, b));
                    let wide = Concatenate::new().call_many(&[&a, &b]).unwrap();
                    Dense::new(W).call(&wide)
                }
                Step::Shared { layer, src } if !dense.is_empty() => {
                    dense[layer % dense.len()].call(&pick(&tensors, src))
                }
                Step::Shared { src, .. } => Dense::new(W).call(&pick(&tensors, src)),
                Step::Nested { src, again } => {
                    let x = Input::new([W]).build();
                    let h = Dense::new(W).call(&x).unwrap();
                    let h = ActivationLayer::new(Activation::Tanh).call(&h).unwrap();
                    let inner = Model::new(&[x], &[h]).unwrap();
                    if let Some(again) = again {
                        let first = inner.call(&pick(&tensors, again)).unwrap();
                        tensors.push(first);
                    }
                    inner.call(&pick(&tensors, src))
                }
            };
            tensors.push(out.unwrap());
        }
        let mut outputs = vec![tensors[tensors.len() - 1].clone()];
        let middle = tensors[tensors.len() / 2].clone();
        if !outputs.contains(&middle) {
            outputs.push(middle);
        }
        Model::new(&inputs, &outputs).unwrap()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn random_graphs_round_trip(
            n_inputs in 1usize..3,
            steps in proptest::collection::vec(step(), 1..9),
            seed in 0u64..1000,
        ) {
            set_random_seed(seed);
            let model = build(n_inputs, &steps);
            let json = model.to_json().unwrap();
            let again = Model::from_json(&json).unwrap();
            prop_assert_eq!(again.to_json().unwrap(), json.clone());

            let dir = TempDir::new("random");
            model.save(dir.path("model.json")).unwrap();
            let loaded = Model::load(dir.path("model")).unwrap();
            prop_assert_eq!(loaded.to_json().unwrap(), json);
            let inputs: Vec<Value> = (0..n_inputs)
                .map(|i| {
                    Value::from(ndarray::Array2::<f32>::from_shape_fn((2, W), |(r, c)| {
                        ((seed as usize + 7 * i + 3 * r + c) % 11) as f32 / 5.0 - 1.0
                    }))
                })
                .collect();
            assert_bitwise_equal(
                &model.predict(&inputs).unwrap(),
                &loaded.predict(&inputs).unwrap(),
                "random graph",
            );
        }
    }
}

// ---------------------------------------------------------------------------
// Masks of calls on lists of tensors, which Keras does not record.

/// Embedding masks flowing into masked Maximum / Multiply (which read masks
/// of list inputs) and into Concatenate (whose mask ops are recorded).
fn masked_merges() -> Model {
    reset_names();
    let a = Input::new([5]).dtype(DType::I32).name("a").build();
    let b = Input::new([5]).dtype(DType::I32).name("b").build();
    let ea = Embedding::new(20, 4).mask_zero(true).call(&a).unwrap();
    let eb = Embedding::new(20, 4).call(&b).unwrap();
    let projected = Dense::new(4).call(&ea).unwrap();
    let m = Maximum::new().call_many(&[&ea, &projected]).unwrap();
    let p = Multiply::new().call_many(&[&m, &ea]).unwrap();
    let c = Concatenate::new().call_many(&[&p, &eb]).unwrap();
    let y = Lstm::new(3).call(&c).unwrap();
    let z = GlobalAveragePooling1D::new().call(&p).unwrap();
    Model::new(&[a, b], &[y, z]).unwrap()
}

#[test]
fn masks_of_list_calls_survive_the_round_trip() {
    let model = masked_merges();
    let json = model.to_json().unwrap();
    assert!(
        json.contains("\"tensorweave_masks\""),
        "the Maximum call's masks are written"
    );
    let again = Model::from_json(&json).unwrap();
    assert_eq!(again.to_json().unwrap(), json);
    let names = |m: &Model| {
        m.layers()
            .iter()
            .map(|l| l.name().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(names(&again), names(&model));

    let dir = TempDir::new("masked");
    model.save(dir.path("masked")).unwrap();
    let loaded = Model::load(dir.path("masked")).unwrap();
    let ids = |rows: [[i32; 5]; 2]| Value::from(ndarray::arr2(&rows));
    let inputs = [
        ids([[3, 4, 0, 0, 0], [0, 0, 7, 8, 9]]),
        ids([[1, 2, 3, 4, 5], [6, 7, 8, 9, 0]]),
    ];
    assert_bitwise_equal(
        &model.predict(&inputs).unwrap(),
        &loaded.predict(&inputs).unwrap(),
        "masked merges",
    );
}

// ---------------------------------------------------------------------------
// Errors.

fn small_model() -> Model {
    let x = Input::new([4]).name("x").build();
    let h = Dense::new(3).name("hidden").call(&x).unwrap();
    let y = Dense::new(2).name("out").call(&h).unwrap();
    Model::with_name("small", &[x], &[y]).unwrap()
}

fn json_of(model: &Model) -> serde_json::Value {
    serde_json::from_str(&model.to_json().unwrap()).unwrap()
}

fn error_of(json: &serde_json::Value) -> String {
    match Model::from_json(&json.to_string()) {
        Ok(_) => panic!("expected an error for {json}"),
        Err(e) => {
            println!("error: {e}");
            e.to_string()
        }
    }
}

#[test]
fn unknown_classes_say_how_to_register_them() {
    let mut json = json_of(&small_model());
    json["config"]["layers"][1]["class_name"] = "FancyLayer".into();
    json["config"]["layers"][1]["module"] = serde_json::Value::Null;
    json["config"]["layers"][1]["registered_name"] = "mylib>FancyLayer".into();
    let err = error_of(&json);
    assert!(
        err.contains("FancyLayer") && err.contains("hidden"),
        "{err}"
    );
    assert!(err.contains("register_layer(\"mylib>FancyLayer\""), "{err}");

    let mut json = json_of(&small_model());
    json["config"]["layers"][1]["module"] = "keras.src.ops.numpy".into();
    json["config"]["layers"][1]["class_name"] = "Fft2".into();
    let err = error_of(&json);
    assert!(err.contains("op 'Fft2'") || err.contains("'Fft2'"), "{err}");
}

#[test]
fn newer_format_versions_are_refused() {
    let mut json = json_of(&small_model());
    json["tensorweave_format_version"] = 2.into();
    let err = error_of(&json);
    assert!(err.contains("newer") && err.contains('2'), "{err}");
    json["tensorweave_format_version"] = "one".into();
    assert!(error_of(&json).contains("tensorweave_format_version"));
    // Keras' own files have no version: accepted.
    let mut json = json_of(&small_model());
    json.as_object_mut()
        .unwrap()
        .remove("tensorweave_format_version");
    assert!(Model::from_json(&json.to_string()).is_ok());
}

#[test]
fn unsupported_options_name_layer_option_and_value() {
    let cases: &[(&str, serde_json::Value, &[&str])] = &[
        (
            "dtype",
            serde_json::json!({"module": "keras", "class_name": "DTypePolicy",
            "config": {"name": "mixed_float16"}, "registered_name": null}),
            &["hidden", "dtype", "mixed_float16"],
        ),
        (
            "quantization_config",
            serde_json::json!({"mode": "int8"}),
            &["hidden", "quantization_config", "int8"],
        ),
        (
            "units",
            serde_json::json!("three"),
            &["hidden", "invalid configuration"],
        ),
    ];
    for (key, value, expected) in cases {
        let mut json = json_of(&small_model());
        json["config"]["layers"][1]["config"][*key] = value.clone();
        let err = error_of(&json);
        for part in *expected {
            assert!(err.contains(part), "{key}: {err}");
        }
    }

    // time_major=True inside a Bidirectional; channels_first on a Conv1D.
    reset_names();
    let x = Input::new([6, 2]).name("x").build();
    let y = Bidirectional::new(Lstm::new(2)).call(&x).unwrap();
    let c = Conv1D::new(2, 3).name("conv").call(&x).unwrap();
    let model = Model::new(&[x], &[y, c]).unwrap();
    let mut json = json_of(&model);
    let layers = json["config"]["layers"].as_array_mut().unwrap();
    let bi = layers
        .iter_mut()
        .find(|l| l["class_name"] == "Bidirectional")
        .unwrap();
    bi["config"]["layer"]["config"]["time_major"] = true.into();
    let err = error_of(&json);
    assert!(
        err.contains("forward_lstm") && err.contains("time_major") && err.contains("true"),
        "{err}"
    );

    let mut json = json_of(&model);
    let layers = json["config"]["layers"].as_array_mut().unwrap();
    let conv = layers
        .iter_mut()
        .find(|l| l["class_name"] == "Conv1D")
        .unwrap();
    conv["config"]["data_format"] = "channels_first".into();
    let err = error_of(&json);
    assert!(
        err.contains("conv") && err.contains("channels_first"),
        "{err}"
    );
}

#[test]
fn tolerated_keys_are_ignored() {
    let mut json = json_of(&small_model());
    let layer = &mut json["config"]["layers"][1];
    layer["shared_object_id"] = 3.into();
    layer["config"]["kernel_regularizer"] =
        serde_json::json!({"class_name": "L2", "config": {"l2": 0.01}});
    layer["config"]["bias_constraint"] = serde_json::json!({"class_name": "NonNeg", "config": {}});
    layer["config"]["batch_input_shape"] = serde_json::json!([null, 4]);
    layer["config"]["something_new"] = "ignored".into();
    layer["config"]["kernel_initializer"]["shared_object_id"] = 5.into();
    assert!(Model::from_json(&json.to_string()).is_ok());
}

#[test]
fn broken_graphs_are_errors() {
    // Two calls waiting for each other.
    let mut json = json_of(&small_model());
    json["config"]["layers"][1]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] =
        serde_json::json!(["out", 0, 0]);
    let err = error_of(&json);
    assert!(err.contains("loops or disconnected"), "{err}");

    // A call naming a layer the model does not have.
    let mut json = json_of(&small_model());
    json["config"]["layers"][2]["inbound_nodes"][0]["args"][0]["config"]["keras_history"] =
        serde_json::json!(["nowhere", 0, 0]);
    assert!(error_of(&json).contains("nowhere"));

    // An output naming a call that was never made.
    let mut json = json_of(&small_model());
    json["config"]["output_layers"] = serde_json::json!(["out", 3, 0]);
    assert!(error_of(&json).contains("out"));
}

#[test]
fn truncated_and_mangled_json_is_an_error_not_a_panic() {
    let json = masked_merges().to_json().unwrap();
    let step = (json.len() / 150).max(1);
    for cut in (0..json.len()).step_by(step) {
        if let Some(prefix) = json.get(..cut) {
            assert!(Model::from_json(prefix).is_err(), "cut at {cut}");
        }
    }
    // Every value of every layer entry and of its config replaced in turn.
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let n_layers = value["config"]["layers"].as_array().unwrap().len();
    let replacements = [
        serde_json::Value::Null,
        serde_json::json!(7),
        serde_json::json!("x"),
        serde_json::json!([]),
        serde_json::json!({}),
        serde_json::json!([[["a", 0]]]),
    ];
    for i in 0..n_layers {
        for part in ["entry", "config"] {
            let keys: Vec<String> = {
                let target = if part == "entry" {
                    &value["config"]["layers"][i]
                } else {
                    &value["config"]["layers"][i]["config"]
                };
                target
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default()
            };
            for key in keys {
                for r in &replacements {
                    let mut broken = value.clone();
                    let target = if part == "entry" {
                        &mut broken["config"]["layers"][i]
                    } else {
                        &mut broken["config"]["layers"][i]["config"]
                    };
                    target[key.as_str()] = r.clone();
                    let _ = Model::from_json(&broken.to_string());
                }
            }
        }
    }
    for key in ["input_layers", "output_layers", "layers", "name"] {
        for r in &replacements {
            let mut broken = value.clone();
            broken["config"][key] = r.clone();
            let _ = Model::from_json(&broken.to_string());
        }
    }
}

#[test]
fn truncated_or_corrupt_weights_are_errors() {
    let model = small_model();
    let dir = TempDir::new("weights");
    let path = dir.path("w.safetensors");
    model.save_weights_safetensors(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let broken = dir.path("broken.safetensors");
    for cut in 0..bytes.len() {
        std::fs::write(&broken, &bytes[..cut]).unwrap();
        assert!(
            model.load_weights_safetensors(&broken).is_err(),
            "cut at {cut}"
        );
    }
    for i in 0..bytes.len().min(200) {
        let mut flipped = bytes.clone();
        flipped[i] ^= 0xA5;
        std::fs::write(&broken, &flipped).unwrap();
        let _ = model.load_weights_safetensors(&broken);
    }
    // The model keeps working with its old weights after the failures.
    let before = model.get_weights();
    assert!(model
        .load_weights_safetensors(dir.path("absent.safetensors"))
        .is_err());
    assert_eq!(model.get_weights(), before);
}

#[test]
fn weights_are_matched_by_name() {
    let dir = TempDir::new("names");
    let path = dir.path("w.safetensors");
    small_model().save_weights_safetensors(&path).unwrap();

    // Another name for the first layer: one weight missing, one unexpected.
    let x = Input::new([4]).name("x").build();
    let h = Dense::new(3).name("renamed").call(&x).unwrap();
    let y = Dense::new(2).name("out").call(&h).unwrap();
    let other = Model::new(&[x], &[y]).unwrap();
    let err = other
        .load_weights_safetensors(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("missing weight 'renamed/kernel'"), "{err}");
    assert!(err.contains("unexpected weight 'hidden/kernel'"), "{err}");

    // Same names, other shapes.
    let x = Input::new([4]).name("x").build();
    let h = Dense::new(5).name("hidden").call(&x).unwrap();
    let y = Dense::new(2).name("out").call(&h).unwrap();
    let wider = Model::new(&[x], &[y]).unwrap();
    let before = wider.get_weights();
    let err = wider
        .load_weights_safetensors(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("'hidden/kernel' has shape (4, 3)"), "{err}");
    assert_eq!(wider.get_weights(), before, "nothing is written on error");
}

#[test]
fn a_failed_save_keeps_the_existing_files() {
    let dir = TempDir::new("atomic");
    let first = small_model();
    first.save(dir.path("model")).unwrap();
    let json_before = std::fs::read_to_string(dir.path("model.json")).unwrap();

    // The weights file cannot be replaced (a non-empty directory is in the way).
    std::fs::remove_file(dir.path("model.safetensors")).unwrap();
    std::fs::create_dir(dir.path("model.safetensors")).unwrap();
    std::fs::write(dir.path("model.safetensors").join("keep"), b"x").unwrap();
    let x = Input::new([4]).name("x").build();
    let y = Dense::new(7).name("other").call(&x).unwrap();
    let second = Model::with_name("second", &[x], &[y]).unwrap();
    assert!(second.save(dir.path("model")).is_err());
    assert_eq!(
        std::fs::read_to_string(dir.path("model.json")).unwrap(),
        json_before
    );
    let leftovers: Vec<String> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn loading_missing_files_is_an_error() {
    let dir = TempDir::new("missing");
    let err = Model::load(dir.path("nothing")).unwrap_err().to_string();
    assert!(err.contains("nothing.json"), "{err}");
}
