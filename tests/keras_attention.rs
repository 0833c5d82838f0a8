//! Attention layers as Keras 3.15.1 saves them (`tests/fixtures/keras_attention`,
//! written by `make_attention.py`): `MultiHeadAttention` (self and cross
//! attention, `value_dim`, `output_shape`, no bias, causal and explicit
//! masks, returned scores, inference dropout), `Attention` (dot and concat
//! scores, scaled, causal, masked) and `AdditiveAttention`, and the Keras
//! time-series transformer (both versions of the example). Each model loads
//! from its `.keras` archive and predicts Keras' outputs; it saves as a Keras
//! archive and natively and loads back to the same outputs.

mod support;

use support::fixture_in;
use support::suite::Order;
use tensorweave::prelude::*;

/// `MultiHeadAttention` with implicit query and value masks, two layers on
/// the same masked tensors. Keras 3.15.1's `MultiHeadAttention.call` removes
/// the masks from its input tensors while running, so of two layers reading
/// the same tensors, the one Keras runs second runs unmasked (which one
/// depends on the order of the model's outputs). tensorweave applies the
/// masks to both: the outputs of the layer Keras ran first match Keras'; those
/// of the other match a twin of the model without `mask_zero`, which is what
/// Keras computed for it.
fn check_mha_masks(name: &str, masked: &[usize], unmasked: &[usize]) {
    use tensorweave::io::keras_archive::{read_keras_archive, KerasWeights};
    let case = fixture_in("keras_attention", name);
    let path = case.dir.join("model.keras");
    let model = Model::from_keras(&path, None).unwrap_or_else(|e| panic!("{name}: {e}"));
    let keras = case.outputs();
    let inputs = case.inputs();
    let (abs, rel) = case.tolerance();
    let close = |got: &Value, want: &ndarray::ArrayD<f32>, what: String| {
        let got = got.as_f32().unwrap();
        assert_eq!(got.shape(), want.shape(), "{what}");
        for (g, w) in got.iter().zip(want.iter()) {
            assert!(
                (g - w).abs() <= abs + rel * w.abs(),
                "{what}: ours {g}, Keras {w}"
            );
        }
    };
    let ours = model.predict(&inputs).unwrap();
    for &k in masked {
        close(&ours[k], &keras[k], format!("{name}: masked output {k}"));
    }
    // The twin without the embeddings' masks, with the same weights.
    let archive = read_keras_archive(&path).unwrap();
    let mut config = archive.config.clone();
    for layer in config["config"]["layers"].as_array_mut().unwrap() {
        if layer["class_name"] == "Embedding" {
            layer["config"]["mask_zero"] = serde_json::Value::Bool(false);
        }
    }
    let twin =
        tensorweave::io::model_from_keras_config(&config, &tensorweave::io::default_registry())
            .unwrap();
    let KerasWeights::H5(h5) = &archive.weights else {
        panic!("{name}: expected HDF5 weights")
    };
    tensorweave::io::h5_weights::load_keras_h5_weights(&twin, h5).unwrap();
    let unmasked_out = twin.predict(&inputs).unwrap();
    for &k in unmasked {
        close(
            &unmasked_out[k],
            &keras[k],
            format!("{name}: unmasked output {k}"),
        );
        // And it differs from the masked computation tensorweave does.
        assert_ne!(
            ours[k].as_f32().unwrap(),
            unmasked_out[k].as_f32().unwrap(),
            "{name}: output {k} should depend on the masks"
        );
    }
}

/// The Keras example's transformer text classifier: the user-defined
/// `TokenAndPositionEmbedding` and `TransformerBlock` (built on
/// `MultiHeadAttention`), registered from `examples/shared`, load from the
/// archive by Keras' weight layout and give Keras' outputs.
#[test]
fn transformer_text_classifier() {
    support::transformer_layers::register();
    support::suite::check_case(
        "keras_attention",
        "transformer_text_classifier",
        Order::LayersOnly,
    );
}

/// Keras runs `mha_b` (outputs 1, 2) first: `mha_a` (output 0) runs unmasked.
#[test]
fn mha_masks() {
    check_mha_masks("mha_masks", &[1, 2], &[0]);
}

/// The outputs in the other order (`[out_b, scores_b, out_a]`): Keras runs
/// `mha_a` first, `mha_b` unmasked but for its causal mask.
#[test]
fn mha_masks_reversed_outputs() {
    check_mha_masks("mha_masks_reversed_outputs", &[2], &[0, 1]);
}

fixture_cases!(
    "keras_attention",
    Order::LayersOnly,
    [
        mha_self,
        mha_cross_value_dim_output_shape,
        mha_no_bias_causal,
        mha_attention_mask,
        mha_dropout_inference,
        attention_dot,
        attention_concat_causal,
        additive_attention,
        timeseries_transformer,
        timeseries_transformer_postnorm,
    ],
    others = [
        "mha_masks",
        "mha_masks_reversed_outputs",
        "transformer_text_classifier"
    ]
);
