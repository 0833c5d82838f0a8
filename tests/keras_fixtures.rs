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
