//! Text in, as Keras 3.15.1 saves it (`tests/fixtures/keras_text`, written by
//! `make_text.py`): `TextVectorization` in every standardization, split,
//! n-gram and output mode on texts with accents, `ß`, `İ`, Greek, Japanese
//! and emoji; `StringLookup`, `IntegerLookup`, `Hashing`, `CategoryEncoding`;
//! and the end-to-end text classifier. Vocabularies come from the archive's
//! assets, idf weights from its weights file. Each model predicts Keras'
//! outputs from the fixture's texts, and saves as a Keras archive and
//! natively and loads back to the same outputs.

mod support;

use support::fixture_in;
use support::suite::Order;
use tensorweave::prelude::*;

fixture_cases!(
    "keras_text",
    Order::WithOps,
    [
        category_encoding,
        string_lookup,
        text_classifier_end_to_end,
        tv_count,
        tv_fixed_vocab,
        tv_int_default,
        tv_lower_only_chars,
        tv_multi_hot,
        tv_none_whitespace,
        tv_strip_punct_ngrams,
        tv_tf_idf,
    ],
    others = ["tv_custom_standardize_refused", "hashing", "integer_lookup"]
);

/// A Python `standardize` function is saved by name only: the model is
/// refused, naming the layer, the option and the function.
#[test]
fn tv_custom_standardize_refused() {
    let case = fixture_in("keras_text", "tv_custom_standardize_refused");
    let err = Model::from_keras(case.dir.join("model.keras"), None)
        .unwrap_err()
        .to_string();
    for needle in [
        "text_vectorization",
        "standardize",
        "keras_text_fixtures>digits_to_hash",
    ] {
        assert!(err.contains(needle), "{needle}: {err}");
    }
}

/// `predict` on a batch of `&str`: the end-to-end classifier on the
/// fixture's texts, given as Rust strings, equals Keras.
#[test]
fn predict_on_rust_strings() {
    let case = fixture_in("keras_text", "text_classifier_end_to_end");
    let model = Model::from_keras(case.dir.join("model.keras"), None).unwrap();
    let texts: Vec<String> = case.inputs()[0].as_str().unwrap().iter().cloned().collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let batch = Value::texts(&refs)
        .as_str()
        .unwrap()
        .clone()
        .into_shape_with_order(vec![refs.len(), 1])
        .unwrap();
    let got = model.predict(&[Value::Str(batch)]).unwrap();
    assert!(case.compare(&got) <= 1e-5);
}

/// Rows `rows` of every array of `values` (first axis).
fn rows_of(values: &[Value], rows: &[usize]) -> Vec<Value> {
    values
        .iter()
        .map(|v| {
            let parts: Vec<Value> = rows
                .iter()
                .map(|&r| v.slice_rows(r, r + 1).unwrap())
                .collect();
            Value::concat_rows(&parts).unwrap()
        })
        .collect()
}

/// A case whose integer input holds int64 values beyond int32 (tensorweave's
/// integer type): the rows within int32 equal Keras, and the whole input is
/// refused, naming the value.
fn check_int64_case(name: &str, int_input: usize) {
    use ndarray::ArrayD;
    use ndarray_npy::ReadNpyExt;
    let case = fixture_in("keras_text", name);
    let model = Model::from_keras(case.dir.join("model.keras"), None).unwrap();
    case.check_layer_order(&model);
    let path = case.dir.join(format!("input_{int_input}.npy"));
    let wide: ArrayD<i64> = ArrayD::read_npy(std::fs::File::open(&path).unwrap()).unwrap();
    let err = Value::from_i64(&wide).unwrap_err().to_string();
    assert!(err.contains("outside int32's range"), "{err}");
    let fits: Vec<usize> = wide
        .outer_iter()
        .enumerate()
        .filter(|(_, row)| row.iter().all(|&v| i32::try_from(v).is_ok()))
        .map(|(r, _)| r)
        .collect();
    assert!(
        fits.len() + 2 >= wide.shape()[0],
        "{name}: most rows fit int32"
    );
    let mut inputs = Vec::new();
    for (i, _) in case.case["inputs"].as_array().unwrap().iter().enumerate() {
        inputs.push(if i == int_input {
            Value::from_i64(&wide.select(ndarray::Axis(0), &fits)).unwrap()
        } else {
            rows_of(&[case.input(i)], &fits).remove(0)
        });
    }
    let got = model.predict(&inputs).unwrap();
    let want = case.outputs();
    let mut max_err = 0.0f32;
    for (g, w) in got.iter().zip(&want) {
        let w = w.select(ndarray::Axis(0), &fits);
        let g = g.to_f32();
        assert_eq!(g.shape(), w.shape(), "{name}");
        for (a, b) in g.iter().zip(w.iter()) {
            max_err = max_err.max((a - b).abs());
        }
    }
    println!(
        "fixture {name}: max abs error {max_err:.3e} on {} rows",
        fits.len()
    );
    assert_eq!(max_err, 0.0, "{name}");
}

/// `Hashing` on strings (FarmHash `Fingerprint64`, SipHash-2-4 with a salt, a
/// mask value) and on integers (hashed as decimal text).
#[test]
fn hashing() {
    check_int64_case("hashing", 1);
}

/// `IntegerLookup`: one and two OOV indices (`floormod`), a mask, and an
/// adapted vocabulary from the archive's assets.
#[test]
fn integer_lookup() {
    check_int64_case("integer_lookup", 0);
}

/// A text classifier built in Rust trains on raw texts: the vocabulary layer
/// has no gradient and needs none, the layers after it learn (the loss
/// falls), and the trained model saves and reloads to the same predictions.
#[test]
fn a_text_model_trains_on_raw_texts() {
    use tensorweave::train::{
        loss_from_config, optimizer_from_config, FitOptions, Trainer, Verbosity,
    };
    let text = Input::texts().build();
    let ids = TextVectorization::new()
        .vocabulary(serde_json::json!([
            "good", "bad", "film", "plot", "great", "awful"
        ]))
        .output_sequence_length(5)
        .call(&text)
        .unwrap();
    let e = Embedding::new(8, 4).seed(3).call(&ids).unwrap();
    let pooled = GlobalAveragePooling1D::new().call(&e).unwrap();
    let y = Dense::new(1)
        .activation(Activation::Sigmoid)
        .seed(4)
        .call(&pooled)
        .unwrap();
    let model = Model::new(&[text], &[y]).unwrap();
    let texts = Value::texts(&[
        "Good film, great plot!",
        "Bad film. Awful plot.",
        "GREAT good",
        "awful, bad",
    ]);
    let labels = ndarray::array![[1.0f32], [0.0], [1.0], [0.0]].into_dyn();
    let opt = optimizer_from_config(&serde_json::json!({
        "class_name": "Adam", "config": {"learning_rate": 0.05}
    }))
    .unwrap();
    let loss = loss_from_config(&serde_json::json!("binary_crossentropy")).unwrap();
    let mut trainer = Trainer::new(&model, opt, vec![Some(loss)])
        .unwrap()
        .threads(1);
    let options = FitOptions {
        batch_size: 4,
        epochs: 30,
        verbosity: Verbosity::Silent,
        ..FitOptions::default()
    };
    let history = trainer
        .fit(std::slice::from_ref(&texts), &[labels], None, &options)
        .unwrap();
    let losses = history.epoch_values("loss");
    assert!(
        losses.last().unwrap() < &(losses[0] * 0.5),
        "loss did not fall: {losses:?}"
    );
    let before = model.predict(std::slice::from_ref(&texts)).unwrap();
    let dir = support::suite::TempDir::new("text-train");
    model.save_keras(dir.0.join("m.keras")).unwrap();
    let again = Model::from_keras(dir.0.join("m.keras"), None).unwrap();
    assert_eq!(again.predict(&[texts]).unwrap(), before);
}
