//! NaN and infinities as Keras gives them. Each case in `tests/fixtures/keras_nan`
//! was written by Keras 3.15.1 (TensorFlow, `TF_ENABLE_ONEDNN_OPTS=0`) with
//! `make_nan_fixtures.py` beside it: the model as `model.keras`, the inputs, and
//! Keras' `predict` outputs. Loaded here from the archive, every output must
//! hold NaN exactly where Keras' does, the same infinities, and the finite
//! values within 1e-5.
//!
//! What the cases show (Keras' outputs, read from the files):
//! - `activations`: `relu(nan) = nan`; softmax of a row holding NaN or +inf, or
//!   of a row of -inf, is a row of NaN; `gelu(-inf)`, `swish(-inf)` are NaN.
//! - `dense_nan_bias`: a NaN bias reaches every softmax probability.
//! - `pooling_and_merges`: `MaxPooling1D` skips NaN (TensorFlow's `MaxPool`),
//!   `GlobalMaxPooling1D`, `Maximum`, `Minimum` propagate it.
//! - `masked_steps`: NaN embedding rows at masked steps never reach the RNNs.
//! - `conv_and_norm`: NaN and +inf spread through a `same` convolution's
//!   window and a LayerNormalization row.
//!
//! (With oneDNN's fused kernels on, TensorFlow's CPU `Dense + relu` maps NaN to
//! 0; the fixtures use TensorFlow's reference kernels, which Keras' semantics and
//! every other backend follow.)

use std::fs::File;
use std::path::{Path, PathBuf};

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;
use tensorweave::prelude::*;

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_nan");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn count(dir: &Path, key: &str) -> usize {
    let case: serde_json::Value =
        serde_json::from_reader(File::open(dir.join("case.json")).unwrap()).unwrap();
    case[key].as_u64().unwrap() as usize
}

fn input(path: &Path) -> Value {
    match ArrayD::<i32>::read_npy(File::open(path).unwrap()) {
        Ok(a) => Value::I32(a),
        Err(_) => Value::F32(ArrayD::<f32>::read_npy(File::open(path).unwrap()).unwrap()),
    }
}

/// Where `got` and `want` disagree: NaN against a number, different
/// infinities, or finite values further apart than 1e-5 (absolute and relative).
fn first_mismatch(got: &ArrayD<f32>, want: &ArrayD<f32>) -> Option<String> {
    if got.shape() != want.shape() {
        return Some(format!("shape {:?} != {:?}", got.shape(), want.shape()));
    }
    for ((ix, &g), &w) in got.indexed_iter().zip(want.iter()) {
        let same = if w.is_nan() || g.is_nan() {
            w.is_nan() && g.is_nan()
        } else if w.is_infinite() || g.is_infinite() {
            w == g
        } else {
            (g - w).abs() <= 1e-5 + 1e-5 * w.abs()
        };
        if !same {
            return Some(format!("at {ix:?}: got {g}, Keras {w}"));
        }
    }
    None
}

#[test]
fn nan_and_infinities_propagate_as_in_keras() {
    let dirs = cases();
    assert_eq!(dirs.len(), 5, "{dirs:?}");
    let mut nans_seen = 0;
    for dir in dirs {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let model = Model::from_keras(dir.join("model.keras"), None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let inputs: Vec<Value> = (0..count(&dir, "inputs"))
            .map(|k| input(&dir.join(format!("input_{k}.npy"))))
            .collect();
        let got = model
            .predict(&inputs)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got.len(), count(&dir, "outputs"), "{name}");
        for (k, g) in got.iter().enumerate() {
            let path = dir.join(format!("output_{k}.npy"));
            let want = ArrayD::<f32>::read_npy(File::open(&path).unwrap()).unwrap();
            nans_seen += want.iter().filter(|v| v.is_nan()).count();
            let g = g.as_f32().unwrap();
            if let Some(m) = first_mismatch(g, &want) {
                panic!("{name}, output {k}: {m}");
            }
        }
    }
    // The fixtures hold NaN to compare against (a regenerated fixture without
    // any would make this test vacuous).
    assert!(nans_seen > 50, "{nans_seen}");
}
