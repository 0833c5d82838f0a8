//! Legacy single-file HDF5 models (`model.save("model.h5")`: the format of
//! Keras 2 and of Keras 3's legacy writer; `tests/fixtures/keras_legacy_h5`,
//! written by `make_legacy_h5.py`): the configuration from the `model_config`
//! attribute, the weights matched by layer name from `model_weights`.

use std::fs::File;
use std::path::PathBuf;

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;
use tensorweave::prelude::*;

fn check(case: &str) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keras_legacy_h5")
        .join(case);
    let model =
        Model::from_keras(dir.join("model.h5"), None).unwrap_or_else(|e| panic!("{case}: {e}"));
    let x: ArrayD<i32> = ArrayD::read_npy(File::open(dir.join("input_0.npy")).unwrap()).unwrap();
    let want: ArrayD<f32> =
        ArrayD::read_npy(File::open(dir.join("output_0.npy")).unwrap()).unwrap();
    let info: serde_json::Value =
        serde_json::from_reader(File::open(dir.join("case.json")).unwrap()).unwrap();
    let (trainable, frozen) = model.count_params();
    assert_eq!(
        trainable + frozen,
        info["params"].as_u64().unwrap() as usize,
        "{case}"
    );
    let got = model.predict(&[Value::I32(x)]).unwrap();
    let got = got[0].as_f32().unwrap();
    assert_eq!(got.shape(), want.shape(), "{case}");
    let err = got
        .iter()
        .zip(want.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!("{case}: max abs error {err:.3e}");
    assert!(err <= 1e-5, "{case}: {err}");
}

#[test]
fn bilstm_sequential() {
    check("bilstm_sequential");
}

#[test]
fn gru_functional() {
    check("gru_functional");
}

#[test]
fn a_file_without_a_model_config_is_named() {
    let dir = std::env::temp_dir().join(format!("tensorweave-legacy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A Keras 3 weights file is HDF5 without a model configuration.
    let x = Input::new([Some(3)]).build();
    let y = Dense::new(2).call(&x).unwrap();
    let model = Model::new(&[x], &[y]).unwrap();
    let archive = dir.join("m.keras");
    model.save_keras(&archive).unwrap();
    let weights = dir.join("w.h5");
    let h5 = match tensorweave::io::keras_archive::read_keras_archive(&archive)
        .unwrap()
        .weights
    {
        tensorweave::io::keras_archive::KerasWeights::H5(b) => b,
        other => panic!("expected HDF5 weights, got {other:?}"),
    };
    std::fs::write(&weights, h5).unwrap();
    let err = Model::from_keras(&weights, None).unwrap_err().to_string();
    assert!(err.contains("without a model configuration"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
