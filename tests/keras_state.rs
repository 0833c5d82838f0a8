//! Recurrent layers started from `initial_state`, as Keras 3.15.1 saves them
//! (`tests/fixtures/keras_state`, written by `make_state.py`): the seq2seq
//! encoder–decoder and its inference decoder, GRU / SimpleRNN / LSTM and
//! `Bidirectional` fed states from inputs or from other layers, with and
//! without an explicit `mask=`. Each model loads from its `.keras` archive and
//! predicts Keras' outputs; it saves as a Keras archive and natively and loads
//! back to the same outputs.
//!
//! Keras 3.15.1 applies no implicit mask to an RNN called with
//! `initial_state` (the `*_explicit_mask` twins pass one with `mask=`, and
//! the masked steps before a row's first valid step output zeros there).

mod support;

use support::fixture_in;
use support::suite::Order;
use tensorweave::prelude::*;

fixture_cases!(
    "keras_state",
    Order::WithOps,
    [
        seq2seq_lstm,
        seq2seq_lstm_explicit_mask,
        seq2seq_inference_decoder,
        seq2seq_inference_decoder_explicit_mask,
        gru_initial_state,
        gru_initial_state_explicit_mask,
        gru_reset_before_initial_state,
        simplernn_initial_state,
        lstm_initial_state_masked_last,
        lstm_initial_state_masked_last_explicit_mask,
        bidirectional_lstm_initial_state,
        bidirectional_lstm_initial_state_explicit_mask,
        bidirectional_gru_initial_state,
        encoder_states_to_bidirectional,
        encoder_states_to_bidirectional_explicit_mask,
    ],
    others = []
);

/// The seq2seq training model written with the Rust API the way the Keras
/// example writes it, with the fixture's weights: Keras' outputs.
#[test]
fn seq2seq_from_the_rust_api() {
    let case = fixture_in("keras_state", "seq2seq_lstm");
    let enc_in = Input::new([None])
        .dtype(DType::I32)
        .name("encoder_tokens")
        .build();
    let enc = Embedding::new(20, 8)
        .mask_zero(true)
        .name("encoder_embedding")
        .call(&enc_in)
        .unwrap();
    let encoded = Lstm::new(16)
        .return_state(true)
        .name("encoder_lstm")
        .call_all(&enc)
        .unwrap();
    let dec_in = Input::new([None])
        .dtype(DType::I32)
        .name("decoder_tokens")
        .build();
    let dec = Embedding::new(20, 8)
        .mask_zero(true)
        .name("decoder_embedding")
        .call(&dec_in)
        .unwrap();
    let decoded = Lstm::new(16)
        .return_sequences(true)
        .return_state(true)
        .name("decoder_lstm")
        .call_with_initial_state(&dec, &[&encoded[1], &encoded[2]])
        .unwrap();
    // The decoder's output still carries the decoder mask, as in Keras.
    assert!(decoded[0].mask().is_some());
    let out = Dense::new(20)
        .activation(Activation::Softmax)
        .name("decoder_dense")
        .call(&decoded[0])
        .unwrap();
    let model = Model::new(&[enc_in, dec_in], &[out]).unwrap();
    case.check(&model);
}

#[test]
fn wrong_initial_states_are_named() {
    let x = Input::new([Some(4), Some(3)]).build();
    let h = Input::new([Some(5)]).build();
    let err = Lstm::new(5)
        .call_with_initial_state(&x, &[&h])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("2 initial state") || err.contains("initial state"),
        "{err}"
    );
    let wide = Input::new([Some(6)]).build();
    let err = Gru::new(5)
        .call_with_initial_state(&x, &[&wide])
        .unwrap_err()
        .to_string();
    assert!(err.contains("(batch, 5)") && err.contains("6"), "{err}");
    let err = Dense::new(2)
        .call_with_initial_state(&x, &[&h])
        .unwrap_err()
        .to_string();
    assert!(err.contains("takes no initial state"), "{err}");
    let err = Bidirectional::new(Gru::new(5))
        .call_with_initial_state(&x, &[&h])
        .unwrap_err()
        .to_string();
    assert!(err.contains("even number"), "{err}");
}

/// An explicit mask with initial states: the masked steps before a row's
/// first valid step output zeros, a fully masked row returns its initial
/// state and outputs zeros (what the `_explicit_mask` fixtures show Keras
/// does), checked on arrays here.
#[test]
fn explicit_mask_with_initial_states_keeps_keras_rules() {
    let x = Input::new([Some(3), Some(2)]).build();
    let h0 = Input::new([Some(2)]).build();
    let c0 = Input::new([Some(2)]).build();
    let mask = Input::new([Some(3)]).dtype(DType::Bool).build();
    let outs = Lstm::new(2)
        .return_sequences(true)
        .return_state(true)
        .seed(3)
        .call_with_initial_state_masked(&x, &[&h0, &c0], &mask)
        .unwrap();
    let model = Model::new(&[x, h0, c0, mask], &outs).unwrap();
    let xs = ndarray::Array3::from_shape_fn((2, 3, 2), |(b, t, f)| (b + t + f) as f32 * 0.3 - 0.4)
        .into_dyn();
    let h = ndarray::array![[0.5f32, -0.5], [0.25, 0.75]].into_dyn();
    let c = ndarray::array![[1.0f32, -1.0], [0.5, 0.5]].into_dyn();
    // Row 0: left-padded by one step; row 1: fully masked.
    let m = ndarray::array![[false, true, true], [false, false, false]].into_dyn();
    let got = model
        .predict(&[
            Value::F32(xs),
            Value::F32(h.clone()),
            Value::F32(c.clone()),
            Value::Bool(m),
        ])
        .unwrap();
    let seq = got[0].as_f32().unwrap();
    assert!(seq.slice(ndarray::s![0, 0, ..]).iter().all(|&v| v == 0.0));
    assert!(seq.slice(ndarray::s![0, 1, ..]).iter().any(|&v| v != 0.0));
    assert!(seq.slice(ndarray::s![1, .., ..]).iter().all(|&v| v == 0.0));
    let (h_out, c_out) = (got[1].as_f32().unwrap(), got[2].as_f32().unwrap());
    assert_eq!(h_out.slice(ndarray::s![1, ..]), h.slice(ndarray::s![1, ..]));
    assert_eq!(c_out.slice(ndarray::s![1, ..]), c.slice(ndarray::s![1, ..]));
}
