//! Files written by Keras 2 (`tf_keras` 2.21, `tests/fixtures/keras2`, made by
//! `make_keras2.py`; one case by Keras 3's legacy writer, `make_keras3_h5.py`):
//! each case loads from its single-file `model.h5` (`model.save("model.h5")`)
//! and from its `model.json` (`to_json`) with `weights.h5` (`save_weights`),
//! and both predict Keras' outputs.

mod support;

use std::path::PathBuf;

use support::{att_layer, fixture_in, suite::TempDir};
use tensorweave::io::register_layer;
use tensorweave::prelude::*;

fn check(name: &str) {
    // A Keras 2 custom layer is saved under its bare class name.
    register_layer("AttLayer", att_layer::from_config);
    let case = fixture_in("keras2", name);
    let model = Model::from_keras(case.dir.join("model.h5"), None)
        .unwrap_or_else(|e| panic!("{name}: model.h5: {e}"));
    let err = case.check_loaded(&model);
    assert!(err <= 1e-5, "{name}: model.h5: {err}");
    let json = Model::from_keras(
        case.dir.join("model.json"),
        Some(&case.dir.join("weights.h5")),
    )
    .unwrap_or_else(|e| panic!("{name}: model.json + weights.h5: {e}"));
    let err = case.check_loaded(&json);
    assert!(err <= 1e-5, "{name}: model.json + weights.h5: {err}");
    // What was loaded from Keras 2 saves as a Keras 3 archive and reloads equal.
    let dir = TempDir::new(&format!("keras2-{name}"));
    let again = dir.0.join("again.keras");
    model.save_keras(&again).unwrap();
    let reloaded = Model::from_keras(&again, None).unwrap_or_else(|e| panic!("{name}: {e}"));
    case.check_loaded(&reloaded);
}

macro_rules! keras2_cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                check(stringify!($case));
            }
        )*

        #[test]
        fn every_case_directory_has_a_test() {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras2");
            let mut on_disk: Vec<String> = std::fs::read_dir(root)
                .unwrap()
                .map(|e| e.unwrap())
                .filter(|e| e.path().join("model.h5").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            on_disk.sort();
            let mut tested = vec![$(stringify!($case).to_string()),*];
            tested.sort();
            assert_eq!(on_disk, tested);
        }
    };
}

keras2_cases!(
    bilstm_classifier,
    cnn_lstm_functional,
    gru_reset_before,
    han,
    keras224_style_emulated,
    keras3_legacy_h5,
    merge_layers,
    stacked_rnn_regularized,
);

/// Keras 2.0.8's `to_json` of a Sequential model is a bare list of layers
/// (no InputLayer, LSTM `implementation: 0`, Dropout without `noise_shape`).
#[test]
fn a_keras_2_0_sequential_config_is_a_list_of_layers() {
    let case = fixture_in("keras2", "keras224_style_emulated");
    let model = Model::from_keras(
        case.dir.join("model_2_0_8_style.json"),
        Some(&case.dir.join("weights.h5")),
    )
    .unwrap();
    let err = case.check_loaded(&model);
    assert!(err <= 1e-5, "{err}");
}

/// A Keras 2 file's `hard_sigmoid` is Keras 2's (`clip(0.2x + 0.5, 0, 1)`),
/// kept so when the model is written again: with Keras 3's the emulated
/// Keras 2.2.4 model's outputs differ from tf_keras' by 1.6e-3.
#[test]
fn keras_2_hard_sigmoid_keeps_its_meaning() {
    let case = fixture_in("keras2", "keras224_style_emulated");
    let model = Model::from_keras(case.dir.join("model.h5"), None).unwrap();
    let json = model.to_json().unwrap();
    assert!(json.contains("\"keras2_hard_sigmoid\""), "{json}");
    assert!(!json.contains("\"hard_sigmoid\""), "{json}");
    let again = Model::from_json(&json).unwrap();
    again.set_weights(&model.get_weights()).unwrap();
    case.check_loaded(&again);
}

/// Token ids for a float32 input (Keras 2's default) are converted; an
/// integer with no exact float32 is refused, naming the input.
#[test]
fn int_data_for_a_float_input_is_converted_exactly_or_refused() {
    let case = fixture_in("keras2", "bilstm_classifier");
    let model = Model::from_keras(case.dir.join("model.h5"), None).unwrap();
    let mut ids = ndarray::ArrayD::<i32>::ones(vec![1, 12]);
    model.predict(&[Value::I32(ids.clone())]).unwrap();
    ids[[0, 3]] = (1 << 24) + 1;
    let err = model.predict(&[Value::I32(ids)]).unwrap_err().to_string();
    assert!(
        err.contains("embedding_input") && err.contains("16777217"),
        "{err}"
    );
}
