//! `Trainer::fit` equal to Keras' `model.fit`, step for step. For each case of
//! `tests/fixtures/keras_train` (written by Keras 3.15.1; see its README) whose
//! layers train here: the model before training (`model.keras`) is compiled as
//! `train.json` says (loss or losses, loss weights, optimizer config, metrics
//! and weighted metrics) and fitted with its batch size, epochs and
//! `shuffle=False`:
//!
//! ```python
//! model.compile(optimizer=..., loss=..., loss_weights=..., metrics=..., weighted_metrics=...)
//! history = model.fit(x, y, sample_weight=..., batch_size=B, epochs=E, shuffle=False)
//! np.savez("final_weights.npz", *model.get_weights())
//! ```
//!
//! The per-epoch logs must equal `history.json` (relative 1e-4: a float32 loss
//! after several optimizer steps), and every final weight `final_weights.npz`
//! within the case's weight tolerance, moving statistics included.

mod support;

use std::fs::File;

use ndarray::ArrayD;
use ndarray_npy::{NpzReader, ReadNpyExt};
use serde_json::Value as Json;
use support::keras_train::case_dir;
use tensorweave::prelude::*;
use tensorweave::train::{loss_from_config, optimizer_from_config, FitOptions, Trainer};

fn npy_value(path: &std::path::Path) -> Value {
    match ArrayD::<i32>::read_npy(File::open(path).unwrap()) {
        Ok(a) => Value::I32(a),
        Err(_) => Value::F32(ArrayD::<f32>::read_npy(File::open(path).unwrap()).unwrap()),
    }
}

/// The metric identifiers of output `name` in a Keras `metrics=` value (a
/// list for every output, or a dict by output name).
fn metrics_of(v: &Json, name: &str) -> Vec<Json> {
    match v {
        Json::Array(a) => a.clone(),
        Json::Object(m) => m
            .get(name)
            .and_then(Json::as_array)
            .cloned()
            .unwrap_or_default(),
        _ => Vec::new(),
    }
}

fn fit_case(name: &str) -> f32 {
    let dir = case_dir(name);
    let train: Json = serde_json::from_reader(File::open(dir.join("train.json")).unwrap()).unwrap();
    let model =
        Model::from_keras(dir.join("model.keras"), None).unwrap_or_else(|e| panic!("{name}: {e}"));
    let files = |key: &str| -> Vec<std::path::PathBuf> {
        train[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| dir.join(f.as_str().unwrap()))
            .collect()
    };
    let x: Vec<Value> = files("input_files").iter().map(|p| npy_value(p)).collect();
    let y: Vec<ArrayD<f32>> = files("target_files")
        .iter()
        .map(|p| npy_value(p).to_f32())
        .collect();
    let outputs: Vec<String> = train["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o.as_str().unwrap().to_string())
        .collect();
    let losses = (0..outputs.len())
        .map(|k| {
            let v = match &train["loss"] {
                Json::Object(m) if m.contains_key(&outputs[k]) => m[&outputs[k]].clone(),
                other => other.clone(),
            };
            Some(loss_from_config(&v).unwrap())
        })
        .collect();
    let optimizer = optimizer_from_config(&train["optimizer"]).unwrap();
    let mut trainer = Trainer::new(&model, optimizer, losses).unwrap().threads(1);
    if let Json::Object(w) = &train["loss_weights"] {
        let weights = outputs
            .iter()
            .map(|o| w[o].as_f64().unwrap() as f32)
            .collect();
        trainer = trainer.loss_weights(weights).unwrap();
    }
    for (k, out) in outputs.iter().enumerate() {
        for m in metrics_of(&train["metrics"], out) {
            trainer = trainer.metric(k, m, false);
        }
        for m in metrics_of(&train["weighted_metrics"], out) {
            trainer = trainer.metric(k, m, true);
        }
    }
    let sample_weight = train["sample_weight"].as_bool().unwrap().then(|| {
        ArrayD::<f32>::read_npy(File::open(dir.join("sample_weight.npy")).unwrap()).unwrap()
    });
    let options = FitOptions {
        batch_size: train["batch_size"].as_u64().unwrap() as usize,
        epochs: train["epochs"].as_u64().unwrap() as usize,
    };
    let history = trainer
        .fit(&x, &y, sample_weight.as_ref(), &options)
        .unwrap_or_else(|e| panic!("{name}: {e}"));

    let keras: Json =
        serde_json::from_reader(File::open(dir.join("history.json")).unwrap()).unwrap();
    for (key, values) in keras["epochs"].as_object().unwrap() {
        let ours = history.epoch_values(key);
        let want: Vec<f32> = values
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        assert_eq!(
            ours.len(),
            want.len(),
            "{name}: epochs of {key}: {:?}",
            history.epochs
        );
        for (o, w) in ours.iter().zip(&want) {
            assert!(
                (o - w).abs() <= 1e-4 * w.abs().max(1e-3),
                "{name}: {key}: ours {ours:?}, Keras {want:?}"
            );
        }
    }
    assert_eq!(
        trainer.optimizer().iterations() as usize,
        train["steps_per_epoch"].as_u64().unwrap() as usize * options.epochs
    );

    let tol = &train["tolerance"]["weights"];
    let (abs, rel) = (
        tol["abs"].as_f64().unwrap() as f32,
        tol["rel"].as_f64().unwrap() as f32,
    );
    let mut npz = NpzReader::new(File::open(dir.join("final_weights.npz")).unwrap()).unwrap();
    let ours = model.get_weights();
    let mut worst = 0f32;
    for (i, got) in ours.iter().enumerate() {
        let want: ArrayD<f32> = npz.by_name(&format!("arr_{i}.npy")).unwrap();
        assert_eq!(got.shape(), want.shape(), "{name}: weight {i}");
        for (g, w) in got.iter().zip(want.iter()) {
            let err = (g - w).abs();
            worst = worst.max(err);
            assert!(
                err <= abs + rel * w.abs(),
                "{name}: weight {i}: got {g}, Keras {w}"
            );
        }
    }
    worst
}

macro_rules! fit_tests {
    ($($case:ident),* $(,)?) => {$(
        #[test]
        fn $case() {
            support::att_layer_registered();
            let worst = fit_case(stringify!($case));
            eprintln!("{}: max final-weight error {worst:e}", stringify!($case));
        }
    )*};
}

fit_tests!(
    mlp_sgd,
    cnn_binary_adamw,
    bn_ln_two_outputs,
    bigru_attention_rmsprop,
    stacked_rnn_mse_adagrad,
    seq_tagging_masked_loss,
    bilstm_seed_adam,
    siamese_shared_lstm,
);
