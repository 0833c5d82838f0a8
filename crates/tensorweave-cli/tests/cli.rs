//! The `tensorweave` binary, run as a user would: argument and file errors
//! give one line on stderr and a non-zero exit; `predict` on the 17 Keras
//! fixtures (`.keras`, and `to_json` + `--weights` as .weights.h5 or .npz)
//! writes outputs equal to Keras' within each case's tolerance.
//!
//! The tests marked "needs Keras config import" run the command on real
//! models: they depend on `keras_json::model_from_keras_config`.

use std::path::{Path, PathBuf};
use std::process::Output;

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;
use tensorweave_io::keras_archive::{read_keras_archive, KerasWeights};

/// The fixtures whose layers are all built in (`custom_attention` uses a
/// user-defined layer, which the command cannot run).
fn runnable_fixtures() -> Vec<String> {
    support::fixture_names()
        .into_iter()
        .filter(|n| n != "custom_attention")
        .collect()
}

mod support;

use support::{fixture_dir, one_line_error, p, predict, tensorweave};

fn scratch(name: &str) -> PathBuf {
    support::scratch("cli", name)
}

/// Asserts a failure with exactly one line on stderr, containing each needle.
fn assert_one_line_error(out: &Output, needles: &[&str]) {
    one_line_error(out, needles, &[]);
}

#[test]
fn no_arguments() {
    assert_one_line_error(&tensorweave(&[]), &["subcommand"]);
}

#[test]
fn unknown_subcommand() {
    assert_one_line_error(&tensorweave(&["frobnicate"]), &["frobnicate"]);
}

#[test]
fn predict_without_inputs() {
    let out = tensorweave(&["predict", "m.keras", "--out", "d"]);
    assert_one_line_error(&out, &["--input"]);
    assert_eq!(out.status.code(), Some(2), "usage errors exit with 2");
}

#[test]
fn predict_without_out() {
    assert_one_line_error(
        &tensorweave(&["predict", "m.keras", "--input", "x.npy"]),
        &["--out"],
    );
}

#[test]
fn batch_size_must_be_positive() {
    assert_one_line_error(
        &tensorweave(&[
            "predict",
            "m.keras",
            "--input",
            "x.npy",
            "--out",
            "d",
            "--batch-size",
            "0",
        ]),
        &["--batch-size"],
    );
}

#[test]
fn help_succeeds() {
    let out = tensorweave(&["predict", "--help"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("--batch-size"));
}

#[test]
fn missing_model_file() {
    let dir = fixture_dir("bilstm_classifier");
    let out = predict(
        std::path::Path::new("/nonexistent/model.keras"),
        &dir.join("input_0.npy"),
        &scratch("missing_model"),
        &[],
    );
    assert_one_line_error(&out, &["/nonexistent/model.keras", "does not exist"]);
}

#[test]
fn missing_input_file() {
    let dir = fixture_dir("bilstm_classifier");
    let out = predict(
        &dir.join("model.keras"),
        std::path::Path::new("/nonexistent/x.npy"),
        &scratch("missing_input"),
        &[],
    );
    assert_one_line_error(&out, &["/nonexistent/x.npy"]);
}

#[test]
fn corrupt_model_archive() {
    let dir = scratch("corrupt_model");
    let bytes = std::fs::read(fixture_dir("bilstm_classifier").join("model.keras")).unwrap();
    let model = dir.join("broken.keras");
    std::fs::write(&model, &bytes[..bytes.len() / 3]).unwrap();
    let out = predict(
        &model,
        &fixture_dir("bilstm_classifier").join("input_0.npy"),
        &dir.join("out"),
        &[],
    );
    assert_one_line_error(&out, &["broken.keras", "not a valid .keras archive"]);
}

#[test]
fn json_without_weights() {
    let dir = fixture_dir("bilstm_classifier");
    let out = predict(
        &dir.join("model.json"),
        &dir.join("input_0.npy"),
        &scratch("json_without_weights"),
        &[],
    );
    assert_one_line_error(&out, &["--weights"]);
}

/// Compares `out/output_k.npy` with the fixture's Keras outputs.
fn assert_outputs_match(name: &str, out: &Path) {
    let dir = fixture_dir(name);
    let case: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("case.json")).unwrap()).unwrap();
    let abs = case["tolerance"]["abs"].as_f64().unwrap() as f32;
    let rel = case["tolerance"]["rel"].as_f64().unwrap() as f32;
    let n = case["outputs"].as_array().unwrap().len();
    for k in 0..n {
        let file = format!("output_{k}.npy");
        let expected =
            ArrayD::<f32>::read_npy(std::fs::File::open(dir.join(&file)).unwrap()).unwrap();
        let got = ArrayD::<f32>::read_npy(
            std::fs::File::open(out.join(&file))
                .unwrap_or_else(|e| panic!("{name}: {file} was not written: {e}")),
        )
        .unwrap();
        assert_eq!(got.shape(), expected.shape(), "{name}: {file}");
        for (a, b) in got.iter().zip(expected.iter()) {
            assert!(
                (a - b).abs() <= abs + rel * b.abs(),
                "{name}: {file}: {a} vs {b}"
            );
        }
    }
    assert!(
        !out.join(format!("output_{n}.npy")).exists(),
        "{name}: no extra output"
    );
}

fn input_args(name: &str) -> Vec<String> {
    let dir = fixture_dir(name);
    let mut args = Vec::new();
    for i in 0.. {
        let f = dir.join(format!("input_{i}.npy"));
        if !f.exists() {
            break;
        }
        args.push("--input".to_string());
        args.push(f.to_string_lossy().into_owned());
    }
    args
}

fn run_predict(model: &Path, extra: &[String], name: &str, out: &Path) {
    let mut args = vec!["predict".to_string(), model.to_string_lossy().into_owned()];
    args.extend(extra.iter().cloned());
    args.extend(input_args(name));
    args.push("--out".to_string());
    args.push(out.to_string_lossy().into_owned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = tensorweave(&refs);
    assert!(
        result.status.success(),
        "{name}: {}",
        String::from_utf8_lossy(&result.stderr)
    );
    assert!(
        result.stdout.is_empty() && result.stderr.is_empty(),
        "{name}: quiet when not a terminal"
    );
}

/// Needs Keras config import (`keras_json::model_from_keras_config`).
#[test]
fn predict_keras_archives() {
    for name in &runnable_fixtures() {
        let out = scratch(&format!("keras_{name}"));
        run_predict(&fixture_dir(name).join("model.keras"), &[], name, &out);
        assert_outputs_match(name, &out);
    }
}

/// Needs Keras config import. Batches of 1 and 3 rows give the same outputs.
#[test]
fn predict_in_batches() {
    for (name, batch) in [("bilstm_classifier", "1"), ("siamese_shared", "3")] {
        let out = scratch(&format!("batches_{name}"));
        let extra = vec!["--batch-size".to_string(), batch.to_string()];
        run_predict(&fixture_dir(name).join("model.keras"), &extra, name, &out);
        assert_outputs_match(name, &out);
    }
}

/// Needs Keras config import: `model.json` (`to_json`) with `--weights` given as
/// the archive's `model.weights.h5` written to disk, and as `weights.npz`.
#[test]
fn predict_to_json_with_weights() {
    for name in ["nested_multi_output", "timedistributed_model", "shape_ops"] {
        let dir = fixture_dir(name);
        let scratch_dir = scratch(&format!("json_{name}"));
        let h5 = scratch_dir.join("model.weights.h5");
        match read_keras_archive(&dir.join("model.keras"))
            .unwrap()
            .weights
        {
            KerasWeights::H5(bytes) => std::fs::write(&h5, bytes).unwrap(),
            KerasWeights::Npz(_) => panic!("{name}: fixture archives hold model.weights.h5"),
        }
        for weights in [h5.clone(), dir.join("weights.npz")] {
            let out = scratch_dir.join("out");
            let _ = std::fs::remove_dir_all(&out);
            let extra = vec![
                "--weights".to_string(),
                weights.to_string_lossy().into_owned(),
            ];
            run_predict(&dir.join("model.json"), &extra, name, &out);
            assert_outputs_match(name, &out);
        }
    }
}

/// Keras wrote each fixture's `summary.txt` with `model.summary(line_length=120)`;
/// `summary --line-length 120` prints the same bytes, for every fixture,
/// `custom_attention` included: its user-defined `AttLayer` is shown from the
/// shapes and weights the `.keras` file records (and named on stderr).
#[test]
fn summary_equals_keras_for_every_fixture() {
    for name in &support::fixture_names() {
        let keras = fixture_dir(name).join("model.keras");
        let out = tensorweave(&["summary", p(&keras), "--line-length", "120"]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = std::fs::read_to_string(fixture_dir(name).join("summary.txt")).unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim_end(),
            expected.trim_end(),
            "{name}"
        );
        let note = String::from_utf8_lossy(&out.stderr);
        if name == "custom_attention" {
            assert!(
                note.contains("att_layer (AttLayer)") && note.contains("cannot run"),
                "{note}"
            );
        } else {
            assert!(note.is_empty(), "{name}: {note}");
        }
    }
}

/// A file with a user-defined layer is drawn from what it records; weights
/// by position (`.npz`) cannot be attributed to such a layer, which is said.
#[test]
fn user_defined_layers_are_drawn_from_what_the_file_records() {
    let dir = fixture_dir("custom_attention");
    let svg = scratch("user_layer_plot").join("model.svg");
    let out = tensorweave(&["plot", p(&dir.join("model.keras")), "-o", p(&svg)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let drawing = std::fs::read_to_string(&svg).unwrap();
    for layer in keras_layer_names("custom_attention") {
        assert!(
            drawing.contains(&format!(">{layer} (")),
            "{layer} not drawn"
        );
    }
    assert!(drawing.contains("AttLayer"));

    let out = tensorweave(&[
        "summary",
        p(&dir.join("model.json")),
        "--weights",
        p(&dir.join("weights.npz")),
    ]);
    assert_one_line_error(
        &out,
        &["by position", "'att_layer' (AttLayer)", ".weights.h5"],
    );
}

/// Layer names of a fixture, from Keras' own `model.json` (nested models included).
fn keras_layer_names(name: &str) -> Vec<String> {
    fn walk(config: &serde_json::Value, out: &mut Vec<String>) {
        for layer in config["config"]["layers"].as_array().into_iter().flatten() {
            out.push(layer["config"]["name"].as_str().unwrap().to_string());
            if layer["class_name"] == "Functional" {
                walk(layer, out);
            }
        }
    }
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixture_dir(name).join("model.json")).unwrap())
            .unwrap();
    let mut names = Vec::new();
    walk(&json, &mut names);
    names
}

/// `summary` prints Keras' totals; `plot` names every layer; `convert` then
/// `predict` on the native files reproduces Keras' outputs.
#[test]
fn summary_plot_and_convert_every_fixture() {
    for name in &runnable_fixtures() {
        let keras = fixture_dir(name).join("model.keras");
        let out = tensorweave(&["summary", p(&keras)]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let table = String::from_utf8_lossy(&out.stdout).into_owned();
        let expected = std::fs::read_to_string(fixture_dir(name).join("summary.txt")).unwrap();
        let total = expected
            .lines()
            .find(|l| l.contains("Total params:"))
            .unwrap();
        assert!(
            table.contains(total.trim()),
            "{name}: {total} not in\n{table}"
        );

        let dir = scratch(&format!("inspect_{name}"));
        let svg = dir.join("model.svg");
        let out = tensorweave(&["plot", p(&keras), "-o", p(&svg)]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let drawing = std::fs::read_to_string(&svg).unwrap();
        assert!(drawing.starts_with("<svg"), "{name}");
        for layer in keras_layer_names(name) {
            assert!(
                drawing.contains(&format!(">{layer} (")),
                "{name}: {layer} not drawn"
            );
        }
        let dot = dir.join("model.dot");
        assert!(tensorweave(&["plot", p(&keras), "-o", p(&dot)])
            .status
            .success());
        assert!(std::fs::read_to_string(&dot)
            .unwrap()
            .starts_with("digraph"));

        let native = dir.join("native.json");
        let out = tensorweave(&["convert", p(&keras), "-o", p(&native)]);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(dir.join("native.safetensors").is_file());
        let predictions = dir.join("out");
        run_predict(&native, &[], name, &predictions);
        assert_outputs_match(name, &predictions);
    }
}

#[test]
fn bench_prints_one_json_line() {
    let name = "bilstm_classifier";
    let keras = fixture_dir(name).join("model.keras");
    let mut args = vec![
        "bench".to_string(),
        p(&keras).to_string(),
        "--iters".into(),
        "3".into(),
        "--warmup".into(),
        "1".into(),
    ];
    args.extend(input_args(name));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = tensorweave(&refs);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let line: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    for key in [
        "median_ms",
        "min_ms",
        "max_ms",
        "model_mb",
        // The classifier's embedding folds into its LSTMs on the first call
        // (50 tokens, vocabulary 40): the tables are reported.
        "folded_mb",
    ] {
        assert!(line[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {line}");
    }
    // With the embedding folded, a call's extra heap is a few KB (0.00 MB).
    assert!(
        line["predict_peak_mb"].as_f64().is_some_and(|v| v >= 0.0),
        "{line}"
    );
    assert!(line["min_ms"].as_f64() <= line["median_ms"].as_f64());
    assert!(line["median_ms"].as_f64() <= line["max_ms"].as_f64());
    assert_eq!(line["batch"], 5);
    assert!(line["threads"].as_u64().is_some_and(|t| t >= 1));
}

#[test]
fn plot_needs_a_known_picture_format() {
    let keras = fixture_dir("bilstm_classifier").join("model.keras");
    let out = tensorweave(&["plot", p(&keras), "-o", "/tmp/model.png"]);
    assert_one_line_error(&out, &[".svg or .dot"]);
}

/// The end-to-end text classifier (`tests/fixtures/keras_text`): texts given
/// with `--text` (one per line) and as a NumPy `str` array with `--input`
/// give Keras' outputs; `--text` on a model without a text input is refused.
#[test]
fn predict_texts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/keras_text/text_classifier_end_to_end");
    let model = dir.join("model.keras");
    let expected =
        ArrayD::<f32>::read_npy(std::fs::File::open(dir.join("output_0.npy")).unwrap()).unwrap();
    for (tag, flag, file) in [
        ("lines", "--text", dir.join("texts.txt")),
        ("npy", "--input", dir.join("input_0.npy")),
    ] {
        let out = scratch(&format!("texts_{tag}"));
        let result = tensorweave(&["predict", p(&model), flag, p(&file), "--out", p(&out)]);
        assert!(
            result.status.success(),
            "{tag}: {}",
            String::from_utf8_lossy(&result.stderr)
        );
        let got = ArrayD::<f32>::read_npy(std::fs::File::open(out.join("output_0.npy")).unwrap())
            .unwrap();
        assert_eq!(got.shape(), expected.shape(), "{tag}");
        let err = got
            .iter()
            .zip(expected.iter())
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(err <= 1e-5, "{tag}: {err}");
    }
    let numeric = fixture_dir("bilstm_classifier").join("model.keras");
    let out = tensorweave(&[
        "predict",
        p(&numeric),
        "--text",
        p(&dir.join("texts.txt")),
        "--out",
        p(&scratch("texts_refused")),
    ]);
    assert_one_line_error(&out, &["--text", "int32"]);
}

/// Keras' width rule (`tests/fixtures/keras_summary/make_narrow.py`): with
/// `COLUMNS=N`, `summary` prints what Keras prints, its default width capped
/// at N - 4.
#[test]
fn summary_follows_the_terminal_width_as_keras() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/keras_summary/functional_adam_trained");
    for columns in ["100", "60"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_tensorweave"))
            .args(["summary", p(&dir.join("model.keras"))])
            .env("COLUMNS", columns)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected =
            std::fs::read_to_string(dir.join(format!("loaded_summary_columns_{columns}.txt")))
                .unwrap();
        let got = String::from_utf8_lossy(&out.stdout);
        assert_eq!(got.trim_end(), expected.trim_end(), "COLUMNS={columns}");
    }
}
