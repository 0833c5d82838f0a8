//! Layers of Keras' activation, core, regularization and reshaping families
//! against Keras 3.15.1: each case of `tests/fixtures/keras_more` (written by
//! its `make_layers.py`) is `Input(shape=(5, 3))` → one layer, saved by Keras.
//! The model is loaded from Keras' `model.keras` and run on the fixture's
//! input; the outputs must equal Keras' `predict` (and, where Keras' training
//! forward is the same, `model(x, training=True)`) within `case.json`'s
//! tolerance.

use std::fs::File;
use std::path::PathBuf;

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;
use serde_json::Value as Json;
use tensorweave::prelude::*;

fn dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keras_more")
        .join(case)
}

fn npy(path: PathBuf) -> ArrayD<f32> {
    ArrayD::<f32>::read_npy(File::open(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"))).unwrap()
}

fn check(case: &str) {
    let d = dir(case);
    let info: Json = serde_json::from_reader(File::open(d.join("case.json")).unwrap()).unwrap();
    let model =
        Model::from_keras(d.join("model.keras"), None).unwrap_or_else(|e| panic!("{case}: {e}"));
    let x = npy(d.join("input_0.npy"));
    let (abs, rel) = (
        info["tolerance"]["abs"].as_f64().unwrap() as f32,
        info["tolerance"]["rel"].as_f64().unwrap() as f32,
    );
    let compare = |got: &ArrayD<f32>, want: &ArrayD<f32>, what: &str| {
        assert_eq!(got.shape(), want.shape(), "{case}: {what}");
        for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
            assert!(
                (g - w).abs() <= abs + rel * w.abs(),
                "{case}: {what}: element {i}: ours {g}, Keras {w}"
            );
        }
    };
    if let Some(want) = info["activity_penalty"].as_f64() {
        // What Keras added to `model.losses` after `model(x, training=True)`.
        let step = tensorweave::train::loss_and_gradients(
            &model,
            &[Value::F32(x.clone())],
            &[None],
            None,
            &CallContext::with_threads(1),
        )
        .unwrap();
        let got = f64::from(step.regularization);
        assert!(
            (got - want).abs() <= 1e-6 * want.abs(),
            "{case}: activity penalty {got}, Keras {want}"
        );
    }
    let out = model.predict(&[Value::F32(x.clone())]).unwrap();
    compare(
        out[0].as_f32().unwrap(),
        &npy(d.join("output_0.npy")),
        "predict",
    );
    if info["train_output_equals_predict"]
        .as_bool()
        .unwrap_or(false)
    {
        let mut run = model
            .forward_train(&[Value::F32(x)], &CallContext::with_threads(1))
            .unwrap();
        let trained = run.outputs().unwrap()[0].as_f32().unwrap().clone();
        compare(
            &trained,
            &npy(d.join("train_output_0.npy")),
            "training forward",
        );
        // The backward runs (its values are checked by tests/gradient_check.rs).
        run.backward(vec![tensorweave::core::OutputGrad::of_value(ArrayD::ones(
            trained.raw_dim(),
        ))])
        .unwrap();
    }
}

macro_rules! cases {
    ($($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                check(stringify!($case));
            }
        )*

        #[test]
        fn every_case_directory_has_a_test() {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras_more");
            let mut on_disk: Vec<String> = std::fs::read_dir(root)
                .unwrap()
                .map(|e| e.unwrap())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            on_disk.sort();
            let mut tested = vec![$(stringify!($case).to_string()),*];
            tested.sort();
            assert_eq!(on_disk, tested);
        }
    };
}

cases!(
    identity,
    activity_regularization,
    relu_layer,
    relu_default,
    leaky_relu,
    elu_layer,
    softmax_layer,
    softmax_axis1,
    zero_padding1d,
    up_sampling1d,
    prelu,
);
