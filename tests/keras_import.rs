//! `Model::from_keras` on every fixture's `model.keras`, written by Keras 3.15.1:
//! the graph comes from the archive's `config.json`, the weights from its
//! `model.weights.h5` (read in pure Rust), and the outputs must equal Keras'.
//! The user-defined attention layer is registered under its Keras name first.

mod support;

use support::{att_layer, fixture, models};
use tensorweave::io::builtin_registry;
use tensorweave::prelude::*;

fn keras_file(name: &str) -> std::path::PathBuf {
    fixture(name).dir.join("model.keras")
}

#[test]
fn every_fixture_loads_from_its_keras_archive_and_matches_keras() {
    register_layer("textclf>AttLayer", att_layer::from_config);
    for name in models::FIXTURES {
        let model =
            Model::from_keras(keras_file(name), None).unwrap_or_else(|e| panic!("{name}: {e}"));
        let case = fixture(name);
        case.check_layer_order(&model);
        let err = case.check_loaded(&model);
        assert!(err <= 1e-5, "{name}: {err}");
    }
}

#[test]
fn a_keras_to_json_file_loads_with_npz_weights() {
    let case = fixture("bilstm_classifier");
    let model = Model::from_keras(
        case.dir.join("model.json"),
        Some(&case.dir.join("weights.npz")),
    )
    .unwrap();
    case.check_loaded(&model);
}

#[test]
fn an_unregistered_user_layer_is_named_with_a_fix() {
    // A fresh registry without the user layer, as in a program that forgot to register it.
    let archive =
        tensorweave::io::keras_archive::read_keras_archive(&keras_file("custom_attention"))
            .unwrap();
    let err = tensorweave::io::model_from_keras_config(&archive.config, &builtin_registry())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("AttLayer") && err.contains("register"),
        "{err}"
    );
}
