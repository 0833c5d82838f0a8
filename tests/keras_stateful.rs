//! Stateful recurrent layers as Keras 3.15.1 runs them
//! (`tests/fixtures/keras_stateful`, written by `make_stateful.py`): each
//! `predict` call starts from the states the previous one ended with, and
//! `reset_states` starts afresh. An LSTM, and a masked Bidirectional GRU
//! (masked rows keep their states across steps and calls).

use std::fs::File;
use std::path::PathBuf;

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;
use tensorweave::prelude::*;

fn dir(case: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/keras_stateful")
        .join(case)
}

fn npy_f32(path: PathBuf) -> ArrayD<f32> {
    ArrayD::read_npy(File::open(path).unwrap()).unwrap()
}

fn chunk(case: &str, i: usize) -> Value {
    let path = dir(case).join(format!("chunk_{i}.npy"));
    match ArrayD::<i32>::read_npy(File::open(&path).unwrap()) {
        Ok(a) => Value::I32(a),
        Err(_) => Value::F32(npy_f32(path)),
    }
}

fn assert_close(got: &Value, want: &ArrayD<f32>, what: &str) {
    let got = got.as_f32().unwrap();
    assert_eq!(got.shape(), want.shape(), "{what}");
    let err = got
        .iter()
        .zip(want.iter())
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!("{what}: max abs error {err:.3e}");
    assert!(err <= 1e-5, "{what}: max error {err}");
}

fn check(case: &str) {
    let model = Model::from_keras(dir(case).join("model.keras"), None)
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    for i in 0..3 {
        let out = model.predict(&[chunk(case, i)]).unwrap();
        let want = npy_f32(dir(case).join(format!("output_{i}.npy")));
        assert_close(&out[0], &want, &format!("{case}: call {i}"));
    }
    model.reset_states();
    let again = model.predict(&[chunk(case, 0)]).unwrap();
    assert_close(
        &again[0],
        &npy_f32(dir(case).join("after_reset.npy")),
        &format!("{case}: after reset_states"),
    );
}

#[test]
fn stateful_lstm() {
    check("stateful_lstm");
}

#[test]
fn stateful_bigru_masked() {
    check("stateful_bigru_masked");
}

#[test]
fn stateful_layers_need_a_fixed_batch_size_and_keep_it() {
    let x = Input::new([Some(4), Some(2)]).build();
    let err = Lstm::new(3)
        .stateful(true)
        .call(&x)
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch size"), "{err}");

    let x = Input::new([Some(4), Some(2)]).batch_size(2).build();
    let y = Gru::new(3).stateful(true).seed(1).call(&x).unwrap();
    let model = Model::new(&[x], &[y]).unwrap();
    let batch = |rows: usize| Value::F32(ArrayD::from_elem(vec![rows, 4, 2], 0.5));
    let first = model.predict(&[batch(2)]).unwrap();
    let second = model.predict(&[batch(2)]).unwrap();
    assert_ne!(first, second, "the carried state changes the next call");
    // The fixed batch size is checked at the model's input.
    let err = model.predict(&[batch(3)]).unwrap_err().to_string();
    assert!(err.contains("(2, 4, 2)"), "{err}");
    model.reset_states();
    assert_eq!(model.predict(&[batch(2)]).unwrap(), first);
}
