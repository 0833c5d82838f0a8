//! Masking and direction, on a linear SimpleRNN with kernel 1, recurrent 1 and
//! bias 0: `h_t = x_t + h_{t−1}`, a running sum, so every expected value is a
//! sum of the inputs 1, 10, 100, 1000.

use super::{arr, assert_close, mask, run};
use crate::activations::Activation;
use crate::rnn::{Lstm, SimpleRnn};

/// `h_t = x_t + h_{t-1}`.
pub(super) fn running_sum() -> SimpleRnn {
    SimpleRnn::new(1)
        .activation(Activation::Linear)
        .weights(vec![
            arr(&[1, 1], &[1.0]),
            arr(&[1, 1], &[1.0]),
            arr(&[1], &[0.0]),
        ])
}

pub(super) fn steps() -> ndarray::ArrayD<f32> {
    arr(&[1, 4, 1], &[1.0, 10.0, 100.0, 1000.0])
}

#[test]
fn right_padding_repeats_the_last_output() {
    // Steps 2 and 3 masked: the state stays 1 + 10 = 11, and so does the output.
    let m = mask(&[&[1, 1, 0, 0]]);
    let outs = run(
        running_sum().return_sequences(true).return_state(true),
        steps(),
        Some(m.clone()),
    );
    assert_close(&outs[0], &[1.0, 11.0, 11.0, 11.0]);
    assert_close(&outs[1], &[11.0]);
    let last = run(running_sum(), steps(), Some(m));
    assert_close(&last[0], &[11.0]);
}

#[test]
fn left_padding_outputs_zeros_first() {
    // Nothing valid before step 2: outputs 0, 0, then 100, 1100.
    let outs = run(
        running_sum().return_sequences(true),
        steps(),
        Some(mask(&[&[0, 0, 1, 1]])),
    );
    assert_close(&outs[0], &[0.0, 0.0, 100.0, 1100.0]);
}

#[test]
fn a_masked_step_in_the_middle_is_skipped() {
    // 1, (10 skipped) 1, 1 + 100, 101 + 1000.
    let outs = run(
        running_sum().return_sequences(true),
        steps(),
        Some(mask(&[&[1, 0, 1, 1]])),
    );
    assert_close(&outs[0], &[1.0, 1.0, 101.0, 1101.0]);
}

#[test]
fn zero_output_for_mask_zeroes_outputs_but_keeps_states() {
    let m = mask(&[&[1, 1, 0, 0]]);
    let outs = run(
        running_sum()
            .return_sequences(true)
            .zero_output_for_mask(true)
            .return_state(true),
        steps(),
        Some(m.clone()),
    );
    assert_close(&outs[0], &[1.0, 11.0, 0.0, 0.0]);
    assert_close(&outs[1], &[11.0]);
    // The last output is the (zeroed) output of the last step; the state is 11.
    let outs = run(
        running_sum().zero_output_for_mask(true).return_state(true),
        steps(),
        Some(m),
    );
    assert_close(&outs[0], &[0.0]);
    assert_close(&outs[1], &[11.0]);
}

#[test]
fn rows_are_masked_independently() {
    let x = arr(
        &[2, 4, 1],
        &[1.0, 10.0, 100.0, 1000.0, 1.0, 10.0, 100.0, 1000.0],
    );
    let outs = run(
        running_sum().return_sequences(true),
        x,
        Some(mask(&[&[1, 1, 1, 0], &[0, 1, 1, 1]])),
    );
    assert_close(
        &outs[0],
        &[1.0, 11.0, 111.0, 111.0, 0.0, 10.0, 110.0, 1110.0],
    );
}

#[test]
fn lstm_keeps_both_states_at_masked_steps() {
    // A masked last step leaves h and c exactly as after the valid steps.
    let x = arr(&[1, 3, 2], &[0.5, -1.0, 0.25, 0.75, 9.0, 9.0]);
    let layer = || Lstm::new(3).return_state(true).seed(7);
    let masked = run(layer(), x.clone(), Some(mask(&[&[1, 1, 0]])));
    let short = run(layer(), arr(&[1, 2, 2], &[0.5, -1.0, 0.25, 0.75]), None);
    for (m, s) in masked.iter().zip(&short) {
        assert_eq!(m, s);
    }
}

#[test]
fn go_backwards_returns_processing_order() {
    // Steps 3, 2, 1, 0: 1000, 1100, 1110, 1111; the last output has consumed step 0.
    let outs = run(
        running_sum().go_backwards(true).return_sequences(true),
        steps(),
        None,
    );
    assert_close(&outs[0], &[1000.0, 1100.0, 1110.0, 1111.0]);
    let last = run(running_sum().go_backwards(true), steps(), None);
    assert_close(&last[0], &[1111.0]);
}

#[test]
fn go_backwards_with_right_padding_starts_with_zeros() {
    // Processing 3 (masked), 2 (masked), 1, 0: 0, 0, 10, 11.
    let outs = run(
        running_sum().go_backwards(true).return_sequences(true),
        steps(),
        Some(mask(&[&[1, 1, 0, 0]])),
    );
    assert_close(&outs[0], &[0.0, 0.0, 10.0, 11.0]);
}

/// Keras (TensorFlow) fails on a sequence of 0 steps (`slice index 0 of dimension
/// 1 out of bounds`); so do we, with a message that says what to do.
#[test]
fn sequences_of_zero_steps_are_refused() {
    use tensorweave_core::{CallContext, Inputs, IntoLayer, Value};
    let layer = running_sum().return_state(true).into_layer();
    super::build_for(&layer, 1);
    let x = Value::F32(arr(&[2, 0, 1], &[]));
    let err = layer
        .read()
        .call(
            &Inputs::new(vec![&x], vec![None]),
            &CallContext::with_threads(1),
        )
        .unwrap_err()
        .to_string();
    assert!(err.contains("0 time steps, shape (2, 0, 1)"), "{err}");
}
