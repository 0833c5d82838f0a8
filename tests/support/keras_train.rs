//! The first-batch gradient check against `tests/fixtures/keras_train` (see
//! `tests/keras_gradients.rs` for what it reproduces), shared by the gradient tests.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, Axis};
use ndarray_npy::{NpzReader, ReadNpyExt};
use serde_json::Value as Json;
use tensorweave::prelude::*;
use tensorweave::train::{loss_and_gradients, loss_from_config, OutputLoss};

/// The directory of a case: the copied ground truth (`keras_train`) or the
/// cases made by `tests/fixtures/keras_train_more/make_cases.py`.
pub fn case_dir(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let copied = root.join("keras_train").join(name);
    if copied.is_dir() {
        copied
    } else {
        root.join("keras_train_more").join(name)
    }
}

fn npy_value(path: &Path) -> Value {
    match ArrayD::<i32>::read_npy(File::open(path).unwrap()) {
        Ok(a) => Value::I32(a),
        Err(_) => Value::F32(ArrayD::<f32>::read_npy(File::open(path).unwrap()).unwrap()),
    }
}

fn first_rows(v: &Value, n: usize) -> Value {
    v.slice_rows(0, n.min(v.rows().unwrap())).unwrap()
}

/// Runs the first batch of `name` and compares loss and gradients with Keras';
/// returns the largest absolute gradient error.
pub fn check_case(name: &str) -> f32 {
    let dir = case_dir(name);
    let train: Json = serde_json::from_reader(File::open(dir.join("train.json")).unwrap()).unwrap();
    let model =
        Model::from_keras(dir.join("model.keras"), None).unwrap_or_else(|e| panic!("{name}: {e}"));
    let batch = train["batch_size"].as_u64().unwrap() as usize;
    let inputs: Vec<Value> = train["input_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| first_rows(&npy_value(&dir.join(f.as_str().unwrap())), batch))
        .collect();
    let targets: Vec<ArrayD<f32>> = train["target_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| first_rows(&npy_value(&dir.join(f.as_str().unwrap())), batch).to_f32())
        .collect();
    let outputs: Vec<String> = train["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    // One loss for all outputs, or one per output name.
    let loss_of = |k: usize| -> Json {
        match &train["loss"] {
            Json::Object(m) if m.contains_key(&outputs[k]) => m[&outputs[k]].clone(),
            other => other.clone(),
        }
    };
    let weight_of = |k: usize| -> f32 {
        match &train["loss_weights"] {
            Json::Object(m) => m[&outputs[k]].as_f64().unwrap() as f32,
            Json::Array(a) => a[k].as_f64().unwrap() as f32,
            _ => 1.0,
        }
    };
    let losses: Vec<_> = (0..outputs.len())
        .map(|k| loss_from_config(&loss_of(k)).unwrap())
        .collect();
    let specs: Vec<Option<OutputLoss<'_>>> = losses
        .iter()
        .enumerate()
        .map(|(k, l)| {
            Some(OutputLoss {
                loss: l.as_ref(),
                weight: weight_of(k),
                y_true: targets[k].clone(),
            })
        })
        .collect();
    // Sample weights, or those Keras derives from `class_weight`.
    let weights_file = match train["class_sample_weight_file"].as_str() {
        Some(f) => Some(f.to_string()),
        None => train["sample_weight"]
            .as_bool()
            .unwrap()
            .then(|| "sample_weight.npy".to_string()),
    };
    let sample_weight = weights_file.map(|f| {
        let w = ArrayD::<f32>::read_npy(File::open(dir.join(f)).unwrap()).unwrap();
        w.slice_axis(Axis(0), (0..batch).into()).to_owned()
    });
    let step = loss_and_gradients(
        &model,
        &inputs,
        &specs,
        sample_weight.as_ref(),
        &CallContext::with_threads(1),
    )
    .unwrap_or_else(|e| panic!("{name}: {e}"));

    let tol = &train["tolerance"];
    let loss_rel = tol["loss"]["rel"].as_f64().unwrap() as f32;
    let first_loss = train["first_loss"].as_f64().unwrap() as f32;
    assert!(
        (step.loss - first_loss).abs() <= loss_rel * first_loss.abs(),
        "{name}: loss {} != Keras {first_loss}",
        step.loss
    );
    let reg = train["first_loss_regularization"].as_f64().unwrap_or(0.0) as f32;
    assert!(
        (step.regularization - reg).abs() <= 1e-6 + loss_rel * reg.abs(),
        "{name}: regularization {} != {reg}",
        step.regularization
    );

    let (abs, rel) = (
        tol["grads"]["abs"].as_f64().unwrap() as f32,
        tol["grads"]["rel"].as_f64().unwrap() as f32,
    );
    let keras_paths: Vec<String> = train["trainable_paths"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    let ours: Vec<String> = model
        .weight_specs()
        .into_iter()
        .filter(|(_, _, trainable)| *trainable)
        .map(|(p, _, _)| p)
        .collect();
    assert_eq!(
        ours.len(),
        keras_paths.len(),
        "{name}: trainable weights {ours:?} vs Keras {keras_paths:?}"
    );
    let mut npz = NpzReader::new(File::open(dir.join("grads.npz")).unwrap()).unwrap();
    let mut worst = 0f32;
    for (keras_path, our_path) in keras_paths.iter().zip(&ours) {
        let want: ArrayD<f32> = npz.by_name(&format!("{keras_path}.npy")).unwrap();
        let got = step
            .gradients
            .get(our_path)
            .unwrap_or_else(|| panic!("{name}: no gradient for {our_path}"))
            .to_dense()
            .unwrap();
        assert_eq!(got.shape(), want.shape(), "{name}: {our_path}");
        for (g, w) in got.iter().zip(want.iter()) {
            let err = (g - w).abs();
            worst = worst.max(err);
            assert!(
                err <= abs + rel * w.abs(),
                "{name}: {our_path}: got {g}, Keras {w}"
            );
        }
    }
    worst
}
