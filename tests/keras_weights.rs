//! Keras weight files loaded into models built with the tensorweave API: for
//! each of the 17 fixtures, the weights inside `model.keras` (Keras'
//! `model.weights.h5` layout) and `weights.npz` (`get_weights()` order) are
//! loaded through `tensorweave::io`, compared with Keras' `get_weights()`, and
//! the model must reproduce Keras' outputs. Broken archives and weights of
//! another architecture must fail with messages that say what is wrong.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};

use support::{fixture, models};
use tensorweave::io::h5_weights::{
    keras_h5_weights, load_keras_h5_weights, load_keras_h5_weights_file,
};
use tensorweave::io::keras_archive::{read_keras_archive, KerasWeights};
use tensorweave::io::npz::load_keras_npz_weights;

fn h5_bytes(name: &str) -> Vec<u8> {
    let archive = read_keras_archive(&fixture(name).dir.join("model.keras"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(archive.keras_version(), Some("3.15.1"));
    match archive.weights {
        KerasWeights::H5(bytes) => bytes,
        KerasWeights::Npz(_) => panic!("{name}: the fixture archives hold model.weights.h5"),
    }
}

/// A scratch file under the target directory, unique per test.
fn scratch(file: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("keras_weights");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(file)
}

fn write(path: &Path, bytes: &[u8]) {
    std::fs::File::create(path)
        .and_then(|mut f| f.write_all(bytes))
        .unwrap();
}

macro_rules! fixture_tests {
    ($($name:ident),* $(,)?) => {
        mod from_keras_archive {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let case = fixture(stringify!($name));
                    let model = models::build(stringify!($name));
                    let read = keras_h5_weights(&model, &h5_bytes(stringify!($name))).unwrap();
                    assert_eq!(read, case.weights(), "the weights equal Keras' get_weights()");
                    load_keras_h5_weights(&model, &h5_bytes(stringify!($name))).unwrap();
                    case.check_loaded(&model);
                }
            )*
        }
        mod from_npz {
            use super::*;
            $(
                #[test]
                fn $name() {
                    let case = fixture(stringify!($name));
                    let model = models::build(stringify!($name));
                    load_keras_npz_weights(&model, &case.dir.join("weights.npz")).unwrap();
                    case.check_loaded(&model);
                }
            )*
        }
    };
}

for_each_fixture!(fixture_tests);

#[test]
fn every_fixture_is_covered() {
    assert_eq!(models::FIXTURES.len(), 17);
}

/// `model.save_weights("x.weights.h5")` writes the same layout as the
/// archive's `model.weights.h5` (keras-semantics.md §5), so a file on disk
/// loads the same way.
#[test]
fn weights_h5_file_on_disk() {
    let path = scratch("stacked.weights.h5");
    write(&path, &h5_bytes("stacked_bidirectional"));
    let model = models::build("stacked_bidirectional");
    load_keras_h5_weights_file(&model, &path).unwrap();
    fixture("stacked_bidirectional").check_loaded(&model);
}

#[test]
fn truncated_archive_is_an_error() {
    let bytes = std::fs::read(fixture("bilstm_classifier").dir.join("model.keras")).unwrap();
    let path = scratch("truncated.keras");
    write(&path, &bytes[..bytes.len() / 2]);
    let err = read_keras_archive(&path).unwrap_err().to_string();
    assert!(err.contains("truncated.keras"), "{err}");
    assert!(err.contains("not a valid .keras archive"), "{err}");
}

#[test]
fn missing_file_is_an_error() {
    let err = read_keras_archive(Path::new("/nonexistent/model.keras"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("/nonexistent/model.keras"), "{err}");
}

/// `weights.npz` is a zip too, but holds no Keras model.
#[test]
fn zip_without_keras_entries_is_an_error() {
    let err = read_keras_archive(&fixture("bilstm_classifier").dir.join("weights.npz"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("no config.json"), "{err}");
    assert!(err.contains("arr_0.npy"), "{err}");
}

#[test]
fn truncated_h5_is_an_error() {
    let model = models::build("bilstm_classifier");
    let before = model.get_weights();
    let bytes = h5_bytes("bilstm_classifier");
    for cut in [0, 7, 100, bytes.len() / 3, bytes.len() - 10] {
        let err = load_keras_h5_weights(&model, &bytes[..cut]);
        assert!(err.is_err(), "cut at {cut}");
    }
    assert_eq!(model.get_weights(), before, "a failed load writes nothing");
}

/// The LSTM of `bilstm_classifier` has 5 units, that of `bilstm_sequences` 6:
/// the first array that differs is named with both shapes.
#[test]
fn weights_of_another_architecture_are_refused() {
    let model = models::build("bilstm_sequences");
    let before = model.get_weights();
    let err = load_keras_h5_weights(&model, &h5_bytes("bilstm_classifier"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("layer 'bidirectional'"), "{err}");
    assert!(
        err.contains("layers/bidirectional/forward_layer/cell/vars/0"),
        "{err}"
    );
    assert!(err.contains("(8, 20)") && err.contains("(8, 24)"), "{err}");
    assert_eq!(model.get_weights(), before, "a failed load writes nothing");
}

/// `bilstm_classifier` has a Dense layer that `bilstm_sequences` lacks.
#[test]
fn extra_layers_in_the_file_are_refused() {
    let sequences = models::build("bilstm_sequences");
    let classifier_h5 = h5_bytes("bilstm_classifier");
    let err = keras_h5_weights(&sequences, &classifier_h5)
        .unwrap_err()
        .to_string();
    assert!(err.contains("different architecture"), "{err}");
}

/// `gru_reset_before` has an Embedding and a GRU; `simplernn_backwards` has
/// no Embedding: the missing group is named by its path.
#[test]
fn missing_layer_groups_are_named() {
    let model = models::build("gru_reset_before");
    let err = keras_h5_weights(&model, &h5_bytes("simplernn_backwards"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("'layers/embedding/vars'"), "{err}");
    assert!(err.contains("embeddings (40, 8)"), "{err}");
}

#[test]
fn npz_of_another_architecture_is_refused() {
    let model = models::build("bilstm_sequences");
    let err = load_keras_npz_weights(
        &model,
        &fixture("bilstm_classifier").dir.join("weights.npz"),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("expected 7 arrays") || err.contains("shape"),
        "{err}"
    );
}

#[test]
fn npz_must_be_an_npz() {
    let model = models::build("bilstm_sequences");
    let path = scratch("not.npz");
    write(&path, b"not a zip");
    let err = load_keras_npz_weights(&model, &path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a valid .npz archive"), "{err}");
}
