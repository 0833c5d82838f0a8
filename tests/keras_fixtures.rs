//! The 17 Keras fixtures (`tests/fixtures/keras`, written by Keras 3.15.1): each
//! model is built with the tensorweave API (`support/models.rs`, which quotes the
//! Keras code), loaded with Keras' `get_weights()`, run on the fixture input and
//! compared with Keras' outputs within `case.json`'s tolerance. Parameter counts
//! and the order of `model.layers()` must equal Keras' too.

mod support;

use support::{fixture, models};

macro_rules! fixture_tests {
    ($($name:ident),* $(,)?) => {$(
        #[test]
        fn $name() {
            let case = fixture(stringify!($name));
            let model = models::build(stringify!($name));
            case.check_layer_order(&model);
            case.check(&model);
        }
    )*};
}

for_each_fixture!(fixture_tests);

#[test]
fn every_fixture_directory_has_a_test() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras");
    let mut on_disk: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    assert_eq!(on_disk, models::FIXTURES);
}

#[test]
fn dynamic_length_runs_any_number_of_steps() {
    let model = models::build("dynamic_length");
    for steps in [1usize, 3, 12] {
        let ids = ndarray::Array2::<i32>::from_elem((2, steps), 5);
        let out = model.predict(&[ids.into()]).unwrap();
        assert_eq!(out[0].shape(), &[2, 8]);
    }
}

#[test]
fn bilstm_weight_paths_follow_keras() {
    let model = models::build("bilstm_sequences");
    let paths: Vec<String> = model.weight_specs().into_iter().map(|w| w.0).collect();
    assert_eq!(
        paths,
        [
            "embedding/embeddings",
            "bidirectional/forward_lstm/lstm_cell/kernel",
            "bidirectional/forward_lstm/lstm_cell/recurrent_kernel",
            "bidirectional/forward_lstm/lstm_cell/bias",
            "bidirectional/backward_lstm/lstm_cell/kernel",
            "bidirectional/backward_lstm/lstm_cell/recurrent_kernel",
            "bidirectional/backward_lstm/lstm_cell/bias",
        ]
    );
}

/// Keras: `model.predict(x, batch_size=2)` on the 5 fixture rows (batches of
/// 2, 2 and 1) gives the same outputs as one batch; so must ours, for masked
/// BiLSTM/BiGRU, several outputs and two inputs.
#[test]
fn predict_in_batches_matches_keras() {
    for name in [
        "bilstm_classifier",
        "bigru_merge_none",
        "bilstm_return_state",
        "siamese_shared",
        "dynamic_length",
    ] {
        let case = fixture(name);
        let model = models::build(name);
        model.set_weights(&case.weights()).unwrap();
        for batch_size in [1, 2, 4, 5, 32] {
            let mut seen = Vec::new();
            let got = model
                .predict_in_batches_with(
                    &case.inputs(),
                    batch_size,
                    &tensorweave::CallContext::default(),
                    |done, total| seen.push((done, total)),
                )
                .unwrap_or_else(|e| panic!("{name}, batch_size {batch_size}: {e}"));
            let batches = 5usize.div_ceil(batch_size);
            assert_eq!(seen.last(), Some(&(batches, batches)), "{name}: progress");
            assert_eq!(seen.len(), batches, "{name}: one progress call per batch");
            case.compare(&got);
        }
    }
}

#[test]
fn predict_in_batches_rejects_what_it_cannot_split() {
    let case = fixture("siamese_shared");
    let model = models::build("siamese_shared");
    let inputs = case.inputs();
    let err = model
        .predict_in_batches(&inputs, 0)
        .unwrap_err()
        .to_string();
    assert!(err.contains("batch_size must be at least 1"), "{err}");
    let short = vec![inputs[0].clone(), inputs[1].slice_rows(0, 3).unwrap()];
    let err = model.predict_in_batches(&short, 2).unwrap_err().to_string();
    assert!(
        err.contains("input 0 has 5, input 1 has 3"),
        "the row counts are named: {err}"
    );
    let ids = ndarray::Array2::<i32>::from_elem((5, 10), 1).into_dyn();
    let bad = vec![
        ids.into(),
        tensorweave::Value::F32(ndarray::ArrayD::zeros(vec![5, 10])),
    ];
    let err = model.predict_in_batches(&bad, 2).unwrap_err().to_string();
    assert!(
        err.contains("rows 0..2 of 5"),
        "the failing batch is named: {err}"
    );
}
