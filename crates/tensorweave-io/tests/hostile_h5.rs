//! Keras weight files with HDF5 features Keras never writes, or that lie
//! about their sizes (made by `tests/fixtures/hostile/make_hostile_h5.py` from
//! the `simplernn_backwards` fixture's real weights): each loads exactly, or
//! fails with one line naming the feature or the disagreement.

use std::path::{Path, PathBuf};

use tensorweave_core::{MemoryBudget, Model};
use tensorweave_io::keras_archive::load_weights_file_with;
use tensorweave_io::load::load_model;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

fn model() -> Model {
    let config = fixtures().join("keras/simplernn_backwards/model.json");
    load_model(&config, Some(&fixtures().join("hostile/plain.weights.h5"))).unwrap()
}

fn load(name: &str) -> Result<Model, String> {
    let model = model();
    let before = model.get_weights();
    let path = fixtures().join("hostile").join(name);
    match load_weights_file_with(&model, &path, &MemoryBudget::default()) {
        Ok(()) => Ok(model),
        Err(e) => {
            assert_eq!(
                model.get_weights(),
                before,
                "{name}: a failed load changed weights"
            );
            Err(e.to_string())
        }
    }
}

#[test]
fn storage_variants_keras_could_read_load_exactly() {
    let plain = model().get_weights();
    for name in [
        "chunked.weights.h5",
        "shuffle.weights.h5",
        "fletcher32.weights.h5",
        "lzf.weights.h5",
    ] {
        let loaded = load(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.get_weights(), plain, "{name}");
    }
}

#[test]
fn unsupported_features_are_named() {
    for (name, needles) in [
        ("soft_link.weights.h5", &["soft link", "cell/vars"][..]),
        ("soft_link_ok.weights.h5", &["soft link"][..]),
        (
            "external_link.weights.h5",
            &["external link", "cell/vars/0"][..],
        ),
        (
            "float16.weights.h5",
            &["float16 dataset", "cell/vars/0"][..],
        ),
        ("string.weights.h5", &["string dataset"][..]),
        (
            "gzip.weights.h5",
            &["compression filter deflate (gzip) (id 1)"][..],
        ),
    ] {
        let err = load(name).expect_err(name);
        for needle in needles {
            assert!(err.contains(needle), "{name}: {err}");
        }
        assert!(!err.contains("18446744073709551615"), "{name}: {err}");
        assert!(!err.contains('\n') && err.len() < 400, "{name}: {err}");
    }
}

#[test]
fn sizes_that_disagree_with_the_file_are_named() {
    for (name, needles) in [
        (
            "lying_storage.weights.h5",
            &[
                "header disagrees with the data",
                "(3, 4)",
                "48 bytes",
                "1099511627776",
            ][..],
        ),
        (
            "address_past_end.weights.h5",
            &["truncated", "cell/vars/0"][..],
        ),
        ("truncated.weights.h5", &["truncated"][..]),
    ] {
        let err = load(name).expect_err(name);
        for needle in needles {
            assert!(err.contains(needle), "{name}: {err}");
        }
    }
}

#[test]
fn the_budget_bounds_the_file_and_each_dataset() {
    let model = model();
    let path = fixtures().join("hostile/plain.weights.h5");
    let err = load_weights_file_with(&model, &path, &MemoryBudget::new(1000))
        .unwrap_err()
        .to_string();
    assert!(err.contains("over the memory budget of 1000 B"), "{err}");
}

#[test]
fn directories_and_devices_are_not_weights() {
    let model = model();
    let err = load_weights_file_with(&model, Path::new("/dev/zero.h5"), &MemoryBudget::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
    let dir = std::env::temp_dir().join(format!("tw-dir-{}.weights.h5", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = load_weights_file_with(&model, &dir, &MemoryBudget::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("is a directory"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
