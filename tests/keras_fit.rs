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
//! The per-epoch and per-batch logs must equal `history.json` (relative 1e-4:
//! a float32 loss after several optimizer steps), every final weight
//! `final_weights.npz` and every optimizer variable `optimizer_vars.npz` within
//! the case's weight tolerance (moving statistics included), `evaluate` after
//! fit `eval.json`, and `predict` after fit `predict_after*.npy`.
//!
//! The cases of `tests/fixtures/keras_train_more` (made by its
//! `make_cases.py`) add `validation_split`, `class_weight`, `validation_data`
//! and the callbacks EarlyStopping (`restore_best_weights`),
//! ReduceLROnPlateau and CSVLogger, whose file must equal Keras' byte for byte.

mod support;

use std::collections::BTreeMap;
use std::fs::File;

use ndarray::ArrayD;
use ndarray_npy::{NpzReader, ReadNpyExt};
use serde_json::Value as Json;
use support::keras_train::case_dir;
use tensorweave::prelude::*;
use tensorweave::train::{
    loss_from_config, optimizer_from_config, Callback, CsvLogger, Dataset, EarlyStopping,
    FitOptions, Logs, Mode, ReduceLROnPlateau, Trainer, VariableValue, Verbosity,
};

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
    let mut options = FitOptions {
        batch_size: train["batch_size"].as_u64().unwrap() as usize,
        epochs: train["epochs"].as_u64().unwrap() as usize,
        verbosity: Verbosity::Silent,
        validation_split: train["validation_split"].as_f64().unwrap_or(0.0),
        ..FitOptions::default()
    };
    if let Json::Object(w) = &train["class_weight"] {
        options.class_weight = Some(
            w.iter()
                .map(|(k, v)| (k.parse().unwrap(), v.as_f64().unwrap() as f32))
                .collect(),
        );
    }
    if train["validation_input_files"].is_array() {
        let vx = files("validation_input_files")
            .iter()
            .map(|p| npy_value(p))
            .collect();
        let vy = files("validation_target_files")
            .iter()
            .map(|p| npy_value(p).to_f32())
            .collect();
        options.validation_data = Some(Dataset::new(vx, vy));
    }
    let csv_path =
        std::env::temp_dir().join(format!("tensorweave-{name}-{}.csv", std::process::id()));
    let mut callbacks = callbacks_of(&train, &csv_path);
    let mut refs: Vec<&mut dyn Callback> = callbacks.iter_mut().map(Cb::as_dyn).collect();
    let history = trainer
        .fit_with(&x, &y, sample_weight.as_ref(), &options, &mut refs)
        .unwrap_or_else(|e| panic!("{name}: {e}"));

    let keras: Json =
        serde_json::from_reader(File::open(dir.join("history.json")).unwrap()).unwrap();
    for (i, batch) in keras["batches"].as_array().unwrap().iter().enumerate() {
        let (epoch, b, logs) = &history.batches[i];
        assert_eq!(
            (*epoch as u64, *b as u64),
            (
                batch["epoch"].as_u64().unwrap(),
                batch["batch"].as_u64().unwrap()
            ),
            "{name}: batch {i}"
        );
        for (key, want) in batch.as_object().unwrap() {
            if key == "epoch" || key == "batch" {
                continue;
            }
            let want = want.as_f64().unwrap() as f32;
            let got = log(logs, key).unwrap_or_else(|| panic!("{name}: batch {i}: no {key}"));
            assert!(
                (got - want).abs() <= 1e-4 * want.abs().max(1e-3),
                "{name}: batch {i}: {key}: ours {got}, Keras {want}"
            );
        }
    }
    assert_eq!(
        history.batches.len(),
        keras["batches"].as_array().unwrap().len(),
        "{name}: batches run"
    );
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
    let epochs_run = train["epochs_run"]
        .as_u64()
        .unwrap_or(options.epochs as u64) as usize;
    assert_eq!(
        trainer.optimizer().iterations() as usize,
        train["steps_per_epoch"].as_u64().unwrap() as usize * epochs_run
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

    // The optimizer's state, in Keras' order (paths may differ after reload).
    let mut npz = NpzReader::new(File::open(dir.join("optimizer_vars.npz")).unwrap()).unwrap();
    let names = npz.names().unwrap();
    let ours = trainer.optimizer().variables();
    assert_eq!(
        ours.len(),
        names.len(),
        "{name}: optimizer variables {names:?}"
    );
    for (var, key) in ours.iter().zip(&names) {
        match &var.value {
            VariableValue::Int64(n) => {
                let want: ndarray::ArrayD<i64> = npz.by_name(key).unwrap();
                assert_eq!(*n, want.iter().next().copied().unwrap(), "{name}: {key}");
            }
            VariableValue::Float32(a) => {
                let want: ArrayD<f32> = npz.by_name(key).unwrap();
                assert_eq!(a.shape(), want.shape(), "{name}: {key}");
                for (g, w) in a.iter().zip(want.iter()) {
                    assert!(
                        (g - w).abs() <= abs + rel * w.abs(),
                        "{name}: optimizer {key}: got {g}, Keras {w}"
                    );
                }
            }
        }
    }

    // evaluate and predict after fit.
    let eval: Json = serde_json::from_reader(File::open(dir.join("eval.json")).unwrap()).unwrap();
    let eval_batch = eval["batch_size"].as_u64().unwrap() as usize;
    let mut data = Dataset::new(x.clone(), y.clone());
    if eval["sample_weight"].as_bool().unwrap_or(false) {
        data.sample_weight = sample_weight.clone();
    }
    let logs = trainer.evaluate(&data, eval_batch).unwrap();
    check_logs(name, "evaluate", &logs, &eval);
    if let (Some(v), Some(want)) = (&options.validation_data, eval.get("validation")) {
        let logs = trainer.evaluate(v, eval_batch).unwrap();
        check_logs(name, "evaluate on validation", &logs, want);
    }
    let predicted = trainer.predict(&x, eval_batch).unwrap();
    for (k, out) in predicted.iter().enumerate() {
        let file = if predicted.len() == 1 && !dir.join("predict_after_0.npy").exists() {
            dir.join("predict_after.npy")
        } else {
            dir.join(format!("predict_after_{k}.npy"))
        };
        let want = ArrayD::<f32>::read_npy(File::open(&file).unwrap()).unwrap();
        let got = out.as_f32().unwrap();
        assert_eq!(got.shape(), want.shape(), "{name}: predict {k}");
        for (g, w) in got.iter().zip(want.iter()) {
            assert!(
                (g - w).abs() <= abs + rel * w.abs(),
                "{name}: predict {k}: got {g}, Keras {w}"
            );
        }
    }

    if let Some(csv) = train["csv_log_file"].as_str() {
        let want = std::fs::read_to_string(dir.join(csv)).unwrap();
        let got = std::fs::read_to_string(&csv_path).unwrap();
        let _ = std::fs::remove_file(&csv_path);
        check_csv(name, &got, &want);
    }
    if let Some(stopped) = train["stopped_epoch"].as_u64() {
        let early = callbacks_stopped(&callbacks);
        assert_eq!(
            early,
            Some((
                stopped as usize,
                train["best_epoch"].as_u64().unwrap() as usize
            )),
            "{name}"
        );
    }
    check_saved_archive(name, &trainer, &dir.join("trained.keras"), abs, rel);
    if let Some(lrs) = train["learning_rate_after_epoch"].as_array() {
        let last = lrs.last().unwrap().as_f64().unwrap() as f32;
        assert_eq!(
            trainer.optimizer().current_learning_rate(),
            last,
            "{name}: final learning rate"
        );
    }
    worst
}

/// The files of a `.keras` archive.
fn archive(path: &std::path::Path) -> (Json, Vec<u8>) {
    let mut zip = zip::ZipArchive::new(File::open(path).unwrap()).unwrap();
    let mut read = |name: &str| {
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name(name).unwrap(), &mut bytes).unwrap();
        bytes
    };
    let config = serde_json::from_slice(&read("config.json")).unwrap();
    (config, read("model.weights.h5"))
}

/// Every group (with its `name` attribute) and dataset (shape, and values as
/// f64) of an HDF5 file, by path.
#[allow(clippy::type_complexity)]
fn h5_tree(bytes: Vec<u8>) -> BTreeMap<String, (Option<String>, Option<(Vec<u64>, Vec<f64>)>)> {
    fn walk(
        file: &hdf5_pure::File,
        path: &str,
        out: &mut BTreeMap<String, (Option<String>, Option<(Vec<u64>, Vec<f64>)>)>,
    ) {
        let group = if path.is_empty() {
            file.root()
        } else {
            file.group(path).unwrap()
        };
        let name = match group.attrs().unwrap().get("name") {
            Some(hdf5_pure::AttrValue::VarLenString(s)) => Some(s.clone()),
            _ => None,
        };
        out.insert(format!("{path}/"), (name, None));
        for d in group.datasets().unwrap() {
            let full = if path.is_empty() {
                d.clone()
            } else {
                format!("{path}/{d}")
            };
            let ds = file.dataset(&full).unwrap();
            let values: Vec<f64> = match ds.read_f32() {
                Ok(v) => v.into_iter().map(f64::from).collect(),
                Err(_) => ds
                    .read_i64()
                    .unwrap()
                    .into_iter()
                    .map(|v| v as f64)
                    .collect(),
            };
            out.insert(full, (None, Some((ds.shape().unwrap(), values))));
        }
        for g in group.groups().unwrap() {
            let full = if path.is_empty() {
                g
            } else {
                format!("{path}/{g}")
            };
            walk(file, &full, out);
        }
    }
    let file = hdf5_pure::File::from_bytes(bytes).unwrap();
    let mut out = BTreeMap::new();
    walk(&file, "", &mut out);
    out
}

/// The trained model saved here has the tree of Keras' own `trained.keras`
/// (same groups, saved names, datasets and shapes; values within the
/// weights' tolerance), Keras' compile config, and loads back with the
/// trained weights.
fn check_saved_archive(name: &str, trainer: &Trainer, keras: &std::path::Path, abs: f32, rel: f32) {
    let ours_path =
        std::env::temp_dir().join(format!("tensorweave-{name}-{}.keras", std::process::id()));
    trainer
        .save_keras(&ours_path)
        .unwrap_or_else(|e| panic!("{name}: save: {e}"));
    let (ours_config, ours_h5) = archive(&ours_path);
    let (keras_config, keras_h5) = archive(keras);
    let (ours, want) = (h5_tree(ours_h5), h5_tree(keras_h5));
    let keys = |t: &BTreeMap<String, _>| t.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        keys(&ours),
        keys(&want),
        "{name}: the saved HDF5 tree differs from Keras'"
    );
    for (path, (saved_name, data)) in &want {
        let (our_name, our_data) = &ours[path];
        assert_eq!(our_name, saved_name, "{name}: name of {path}");
        if let (Some((shape, values)), Some((our_shape, our_values))) = (data, our_data) {
            assert_eq!(our_shape, shape, "{name}: shape of {path}");
            for (g, w) in our_values.iter().zip(values) {
                assert!(
                    (g - w).abs() <= f64::from(abs) + f64::from(rel) * w.abs(),
                    "{name}: {path}: ours {g}, Keras {w}"
                );
            }
        }
    }
    let (ours_compile, keras_compile) = (
        &ours_config["compile_config"],
        &keras_config["compile_config"],
    );
    assert_eq!(
        ours_compile["optimizer"]["class_name"], keras_compile["optimizer"]["class_name"],
        "{name}: optimizer"
    );
    for (key, want) in keras_compile["optimizer"]["config"].as_object().unwrap() {
        let got = &ours_compile["optimizer"]["config"][key];
        match (got.as_f64(), want.as_f64()) {
            (Some(g), Some(w)) => assert!(
                (g - w).abs() <= 1e-6 * w.abs().max(1e-6),
                "{name}: optimizer {key}: {g} vs {w}"
            ),
            _ => assert_eq!(got, want, "{name}: optimizer {key}"),
        }
    }
    let reloaded =
        Model::from_keras(&ours_path, None).unwrap_or_else(|e| panic!("{name}: reload: {e}"));
    assert_eq!(
        reloaded.get_weights(),
        trainer.model().get_weights(),
        "{name}: reloaded weights"
    );
    // `tests/fixtures/keras_train_more/open_in_keras.py` opens the kept
    // archives with Keras itself.
    match std::env::var_os("TENSORWEAVE_KEEP_ARCHIVES") {
        Some(dir) => {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::rename(
                &ours_path,
                std::path::Path::new(&dir).join(format!("{name}.keras")),
            )
            .unwrap();
        }
        None => {
            let _ = std::fs::remove_file(&ours_path);
        }
    }
}

fn log(logs: &Logs, key: &str) -> Option<f32> {
    logs.iter().find(|(n, _)| n == key).map(|(_, v)| *v)
}

/// Every numeric entry of Keras' `want` (besides the batch size) equals our log of that name.
fn check_logs(name: &str, what: &str, logs: &Logs, want: &Json) {
    for (key, v) in want.as_object().unwrap() {
        let Some(w) = v.as_f64().filter(|_| key != "batch_size") else {
            continue;
        };
        let w = w as f32;
        let got = log(logs, key).unwrap_or_else(|| panic!("{name}: {what}: no {key} in {logs:?}"));
        assert!(
            (got - w).abs() <= 1e-4 * w.abs().max(1e-3),
            "{name}: {what}: {key}: ours {got}, Keras {w}"
        );
    }
}

/// The same header and epochs as Keras' CSV, values within 1e-4 relative
/// (they are float32 results printed as Python prints floats).
fn check_csv(name: &str, got: &str, want: &str) {
    assert!(
        got.ends_with("\r\n"),
        "{name}: CSV lines end with \\r\\n: {got:?}"
    );
    let rows = |t: &str| -> Vec<Vec<String>> {
        t.split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| l.split(',').map(str::to_string).collect())
            .collect()
    };
    let (g, w) = (rows(got), rows(want));
    assert_eq!(g.len(), w.len(), "{name}: CSV rows:\n{got}\nKeras:\n{want}");
    assert_eq!(g[0], w[0], "{name}: CSV header");
    for (gr, wr) in g.iter().zip(&w).skip(1) {
        assert_eq!(gr[0], wr[0], "{name}: CSV epoch");
        for (a, b) in gr.iter().zip(wr).skip(1) {
            let (a, b): (f64, f64) = (a.parse().unwrap(), b.parse().unwrap());
            assert!(
                (a - b).abs() <= 1e-4 * b.abs().max(1e-3),
                "{name}: CSV {a} vs Keras {b}"
            );
        }
    }
}

/// The callbacks of `train.json` (Keras' `{class_name, config}`); a CSVLogger
/// writes to `csv`.
fn callbacks_of(train: &Json, csv: &std::path::Path) -> Vec<Cb> {
    let Some(list) = train["callbacks"].as_array() else {
        return Vec::new();
    };
    let mode = |c: &Json| match c["mode"].as_str().unwrap_or("auto") {
        "min" => Mode::Min,
        "max" => Mode::Max,
        _ => Mode::Auto,
    };
    list.iter()
        .map(|cb| {
            let c = &cb["config"];
            match cb["class_name"].as_str().unwrap() {
                "EarlyStopping" => Cb::Early(
                    EarlyStopping::new(c["monitor"].as_str().unwrap())
                        .patience(c["patience"].as_u64().unwrap() as usize)
                        .min_delta(c["min_delta"].as_f64().unwrap())
                        .mode(mode(c))
                        .restore_best_weights(c["restore_best_weights"].as_bool().unwrap())
                        .start_from_epoch(c["start_from_epoch"].as_u64().unwrap() as usize),
                ),
                "ReduceLROnPlateau" => Cb::Reduce(
                    ReduceLROnPlateau::new(c["monitor"].as_str().unwrap())
                        .factor(c["factor"].as_f64().unwrap())
                        .patience(c["patience"].as_u64().unwrap() as usize)
                        .min_delta(c["min_delta"].as_f64().unwrap())
                        .cooldown(c["cooldown"].as_u64().unwrap() as usize)
                        .min_lr(c["min_lr"].as_f64().unwrap())
                        .mode(mode(c)),
                ),
                "CSVLogger" => Cb::Csv(CsvLogger::new(csv)),
                other => panic!("no callback {other}"),
            }
        })
        .collect()
}

/// A callback of the fixtures, kept by type to read its state after fit.
enum Cb {
    Early(EarlyStopping),
    Reduce(ReduceLROnPlateau),
    Csv(CsvLogger),
}

impl Cb {
    fn as_dyn(&mut self) -> &mut dyn Callback {
        match self {
            Cb::Early(c) => c,
            Cb::Reduce(c) => c,
            Cb::Csv(c) => c,
        }
    }
}

/// The stopped and best epochs of the EarlyStopping among `callbacks`.
fn callbacks_stopped(callbacks: &[Cb]) -> Option<(usize, usize)> {
    callbacks.iter().find_map(|c| match c {
        Cb::Early(e) => Some((e.stopped_epoch, e.best_epoch)),
        _ => None,
    })
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
    activity_regularized,
    regularized_rnn_sgd,
    fit_validation_class_weight,
    fit_callbacks,
    mlp_sgd,
    cnn_binary_adamw,
    bn_ln_two_outputs,
    bigru_attention_rmsprop,
    stacked_rnn_mse_adagrad,
    seq_tagging_masked_loss,
    bilstm_seed_adam,
    siamese_shared_lstm,
);
