//! `Bidirectional`: flip and merge, states, masks, naming, weights, threads.
//!
//! Forward: a running sum (kernel 1); backward: twice the input plus the
//! previous state (kernel 2). On inputs 1, 10, 100, 1000 the backward layer
//! processes steps 3, 2, 1, 0.

use ndarray::ArrayD;
use tensorweave_core::{reset_names, DType, Input, IntoLayer, LayerRef};

use super::masking::steps;
use super::{arr, assert_close, build_for, call, mask, run, run_with};
use crate::activations::Activation;
use crate::core_layers::Embedding;
use crate::rnn::{Bidirectional, BidirectionalLayer, Gru, Lstm, MergeMode, SimpleRnn};

fn linear(return_sequences: bool) -> SimpleRnn {
    SimpleRnn::new(1)
        .activation(Activation::Linear)
        .return_sequences(return_sequences)
}

/// Forward kernel 1, backward kernel 2; recurrent 1, bias 0 for both.
fn weights() -> Vec<ArrayD<f32>> {
    vec![
        arr(&[1, 1], &[1.0]),
        arr(&[1, 1], &[1.0]),
        arr(&[1], &[0.0]),
        arr(&[1, 1], &[2.0]),
        arr(&[1, 1], &[1.0]),
        arr(&[1], &[0.0]),
    ]
}

fn bi(mode: MergeMode) -> Bidirectional {
    Bidirectional::new(linear(true))
        .merge_mode(mode)
        .weights(weights())
}

#[test]
fn backward_sequence_is_flipped_into_input_order() {
    // Forward: 1, 11, 111, 1111. Backward in processing order (steps 3..0):
    // 2000, 2200, 2220, 2222; flipped: 2222, 2220, 2200, 2000. Concat, forward first.
    let outs = run(bi(MergeMode::Concat), steps(), None);
    assert_eq!(outs[0].shape(), &[1, 4, 2]);
    assert_close(
        &outs[0],
        &[1.0, 2222.0, 11.0, 2220.0, 111.0, 2200.0, 1111.0, 2000.0],
    );
}

#[test]
fn merge_modes_with_a_right_padded_mask() {
    // Mask 1, 1, 0, 0. Bidirectional forces zero outputs at masked steps:
    // forward 1, 11, 0, 0; backward processing 3, 2 (masked) then 1, 0: 0, 0, 20, 22,
    // flipped 22, 20, 0, 0.
    let m = || Some(mask(&[&[1, 1, 0, 0]]));
    let concat = run(bi(MergeMode::Concat), steps(), m());
    assert_close(&concat[0], &[1.0, 22.0, 11.0, 20.0, 0.0, 0.0, 0.0, 0.0]);
    let sum = run(bi(MergeMode::Sum), steps(), m());
    assert_close(&sum[0], &[23.0, 31.0, 0.0, 0.0]);
    let mul = run(bi(MergeMode::Mul), steps(), m());
    assert_close(&mul[0], &[22.0, 220.0, 0.0, 0.0]);
    let ave = run(bi(MergeMode::Ave), steps(), m());
    assert_close(&ave[0], &[11.5, 15.5, 0.0, 0.0]);
    let none = run(bi(MergeMode::None), steps(), m());
    assert_eq!(none.len(), 2);
    assert_close(&none[0], &[1.0, 11.0, 0.0, 0.0]);
    assert_close(&none[1], &[22.0, 20.0, 0.0, 0.0]);
}

#[test]
fn last_outputs_and_states_come_forward_then_backward() {
    // No sequences, so no forced zeros: forward last = 11 (repeated over the
    // masked steps), backward last = 22 (after consuming step 0).
    let outs = run(
        Bidirectional::new(linear(false).return_state(true)).weights(weights()),
        steps(),
        Some(mask(&[&[1, 1, 0, 0]])),
    );
    assert_eq!(outs.len(), 3);
    assert_close(&outs[0], &[11.0, 22.0]);
    assert_close(&outs[1], &[11.0]);
    assert_close(&outs[2], &[22.0]);
}

#[test]
fn return_state_shapes() {
    let x = ArrayD::from_elem(vec![2, 5, 3], 0.1f32);
    let outs = run(
        Bidirectional::new(Lstm::new(4).return_sequences(true).return_state(true)).name("b"),
        x.clone(),
        None,
    );
    let shapes: Vec<&[usize]> = outs.iter().map(|a| a.shape()).collect();
    assert_eq!(shapes, [&[2, 5, 8][..], &[2, 4], &[2, 4], &[2, 4], &[2, 4]]);

    let outs = run(
        Bidirectional::new(Gru::new(3).return_state(true)).merge_mode(MergeMode::None),
        x,
        None,
    );
    let shapes: Vec<&[usize]> = outs.iter().map(|a| a.shape()).collect();
    assert_eq!(shapes, [&[2, 3][..], &[2, 3], &[2, 3], &[2, 3]]);
}

#[test]
fn symbolic_shapes_and_masks() {
    let tokens = Input::new([None]).dtype(DType::I32).build();
    let x = Embedding::new(10, 3).mask_zero(true).call(&tokens).unwrap();
    let outs = Bidirectional::new(Lstm::new(2).return_sequences(true).return_state(true))
        .call_all(&x)
        .unwrap();
    assert_eq!(outs.len(), 5);
    assert_eq!(outs[0].shape(), &vec![None, None, Some(4)]);
    assert!(outs[0].mask().is_some());
    assert!(outs[1..]
        .iter()
        .all(|s| s.mask().is_none() && s.shape() == &vec![None, Some(2)]));

    let pair = Bidirectional::new(Gru::new(2).return_sequences(true))
        .merge_mode(MergeMode::None)
        .call_all(&x)
        .unwrap();
    assert!(pair.iter().all(|t| t.mask().is_some()));

    let last = Bidirectional::new(Lstm::new(2)).call(&x).unwrap();
    assert_eq!(last.shape(), &vec![None, Some(4)]);
    assert!(last.mask().is_none());

    let plain = Gru::new(2)
        .return_sequences(true)
        .return_state(true)
        .call_all(&x)
        .unwrap();
    assert!(plain[0].mask().is_some() && plain[1].mask().is_none());
    assert!(Lstm::new(2).call(&x).unwrap().mask().is_none());
}

fn sublayer_names(layer: &LayerRef) -> (String, String) {
    let guard = layer.read();
    let bi = guard.as_any().downcast_ref::<BidirectionalLayer>().unwrap();
    let (f, b) = bi.sublayer_names();
    (f.to_string(), b.to_string())
}

#[test]
fn naming_follows_keras() {
    reset_names();
    let first = Bidirectional::new(Lstm::new(3)).into_layer();
    assert_eq!(first.name(), "bidirectional");
    assert_eq!(
        sublayer_names(&first),
        ("forward_lstm".into(), "backward_lstm".into())
    );
    build_for(&first, 5);
    let specs: Vec<(String, Vec<usize>)> = first
        .weight_specs()
        .into_iter()
        .map(|(p, s, _)| (p, s))
        .collect();
    let expected = [
        ("forward_lstm/lstm_cell/kernel", vec![5, 12]),
        ("forward_lstm/lstm_cell/recurrent_kernel", vec![3, 12]),
        ("forward_lstm/lstm_cell/bias", vec![12]),
        ("backward_lstm/lstm_cell/kernel", vec![5, 12]),
        ("backward_lstm/lstm_cell/recurrent_kernel", vec![3, 12]),
        ("backward_lstm/lstm_cell/bias", vec![12]),
    ];
    let expected: Vec<(String, Vec<usize>)> = expected
        .into_iter()
        .map(|(p, s)| (p.to_string(), s))
        .collect();
    assert_eq!(specs, expected);

    // A plain LSTM takes the next auto name; the next wrapped one `lstm_2`.
    let plain = Lstm::new(2).into_layer();
    assert_eq!(plain.name(), "lstm_1");
    build_for(&plain, 1);
    assert_eq!(plain.weight_specs()[0].0, "lstm_cell/kernel");
    let second = Bidirectional::new(Lstm::new(2)).into_layer();
    assert_eq!(second.name(), "bidirectional_1");
    assert_eq!(
        sublayer_names(&second),
        ("forward_lstm_2".into(), "backward_lstm_2".into())
    );

    // Explicit inner names; Keras strips a leading `forward_` / `backward_` first.
    let named = Bidirectional::new(Gru::new(2).name("enc"))
        .name("bi")
        .into_layer();
    assert_eq!(named.name(), "bi");
    assert_eq!(
        sublayer_names(&named),
        ("forward_enc".into(), "backward_enc".into())
    );
    build_for(&named, 1);
    assert_eq!(named.weight_specs()[2].0, "forward_enc/gru_cell/bias");
    assert_eq!(named.weight_specs()[2].1, vec![2, 6]);
    let prefixed = Bidirectional::new(Gru::new(2).name("forward_x")).into_layer();
    assert_eq!(
        sublayer_names(&prefixed),
        ("forward_x".into(), "backward_forward_x".into())
    );

    // A given backward layer keeps its own name (Keras: `lstm_1` in
    // `Bidirectional(LSTM(2), backward_layer=LSTM(2, go_backwards=True))`).
    let given = Bidirectional::new(Lstm::new(2))
        .backward_layer(Lstm::new(2).go_backwards(true))
        .into_layer();
    assert_eq!(
        sublayer_names(&given),
        ("forward_lstm_3".into(), "lstm_4".into())
    );

    let simple = SimpleRnn::new(1).into_layer();
    assert_eq!(simple.name(), "simple_rnn");
    build_for(&simple, 1);
    assert_eq!(
        simple.weight_specs()[1].0,
        "simple_rnn_cell/recurrent_kernel"
    );
}

#[test]
fn config_nests_both_layers_like_keras() {
    reset_names();
    let layer = Bidirectional::new(Lstm::new(3).return_sequences(true)).into_layer();
    let config = layer.config();
    assert_eq!(config["name"], "bidirectional");
    assert_eq!(config["merge_mode"], "concat");
    assert_eq!(config["layer"]["class_name"], "LSTM");
    assert_eq!(config["layer"]["config"]["name"], "forward_lstm");
    assert_eq!(config["layer"]["config"]["zero_output_for_mask"], true);
    assert_eq!(config["layer"]["config"]["units"], 3);
    assert_eq!(config["backward_layer"]["config"]["name"], "backward_lstm");
    assert_eq!(config["backward_layer"]["config"]["go_backwards"], true);
    let none = Bidirectional::new(Gru::new(1))
        .merge_mode(MergeMode::None)
        .into_layer();
    assert!(none.config()["merge_mode"].is_null());
    assert_eq!(none.config()["layer"]["config"]["reset_after"], true);
    assert_eq!(
        none.config()["layer"]["config"]["zero_output_for_mask"],
        false
    );
}

#[test]
fn merge_mode_spellings() {
    for mode in [
        MergeMode::Concat,
        MergeMode::Sum,
        MergeMode::Mul,
        MergeMode::Ave,
        MergeMode::None,
    ] {
        let json = serde_json::to_value(mode).unwrap();
        assert_eq!(serde_json::from_value::<MergeMode>(json).unwrap(), mode);
    }
    assert!("max".parse::<MergeMode>().is_err());
}

#[test]
fn two_threads_give_the_same_result() {
    let data: Vec<f32> = (0..2 * 6 * 3)
        .map(|i| ((i * 7 % 11) as f32 - 5.0) / 5.0)
        .collect();
    let x = arr(&[2, 6, 3], &data);
    let m = mask(&[&[1, 1, 1, 1, 0, 0], &[0, 1, 1, 1, 1, 1]]);
    let layer = Bidirectional::new(Lstm::new(4).return_sequences(true).seed(3)).into_layer();
    build_for(&layer, 3);
    let one = call(&layer, x.clone(), Some(m.clone()), 1);
    let two = call(&layer, x.clone(), Some(m.clone()), 2);
    assert_eq!(one, two);
    // And the halves equal the plain layers with the same weights.
    let w = layer.get_weights();
    let fwd = run_with(
        Lstm::new(4)
            .return_sequences(true)
            .zero_output_for_mask(true)
            .weights(w[..3].to_vec()),
        x.clone(),
        Some(m.clone()),
        1,
    );
    let bwd = run_with(
        Lstm::new(4)
            .return_sequences(true)
            .zero_output_for_mask(true)
            .go_backwards(true)
            .weights(w[3..].to_vec()),
        x,
        Some(m),
        1,
    );
    let mut bwd = bwd[0].clone();
    bwd.invert_axis(ndarray::Axis(1));
    let expected = ndarray::concatenate(ndarray::Axis(2), &[fwd[0].view(), bwd.view()]).unwrap();
    assert_eq!(one[0], expected);
}
