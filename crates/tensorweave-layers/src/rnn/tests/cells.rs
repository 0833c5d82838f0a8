//! One- and two-step values of each cell, derived by hand from Keras' formulas
//! (`keras/src/layers/rnn/{lstm,gru,simple_rnn}.py`).

use super::{arr, assert_close, run, sigmoid};
use crate::activations::Activation;
use crate::rnn::{Gru, Lstm, SimpleRnn};

/// LSTM, 1 unit, 1 feature, inputs x = [1, 0]. Gate blocks i, f, c, o:
/// kernel = [ln 3, 0, ln 2, ln 3], recurrent = [0.5, -0.5, 1, 0.25],
/// bias = [0, 1, 0, 0] (Keras' unit_forget_bias layout).
///
/// Step 1 (h0 = c0 = 0): i = σ(ln 3) = 3/4, f = σ(1), c̃ = tanh(ln 2) = 3/5,
/// o = σ(ln 3) = 3/4, so c1 = f·0 + 3/4·3/5 = 0.45 and h1 = 3/4·tanh(0.45).
/// Step 2 (x = 0): i = σ(0.5 h1), f = σ(1 − 0.5 h1), c̃ = tanh(h1), o = σ(0.25 h1),
/// c2 = f·0.45 + i·c̃, h2 = o·tanh(c2).
#[test]
fn lstm_two_steps_by_hand() {
    let (ln2, ln3) = (2f32.ln(), 3f32.ln());
    let outs = run(
        Lstm::new(1)
            .return_sequences(true)
            .return_state(true)
            .weights(vec![
                arr(&[1, 4], &[ln3, 0.0, ln2, ln3]),
                arr(&[1, 4], &[0.5, -0.5, 1.0, 0.25]),
                arr(&[4], &[0.0, 1.0, 0.0, 0.0]),
            ]),
        arr(&[1, 2, 1], &[1.0, 0.0]),
        None,
    );
    let c1 = 0.45f64;
    let h1 = 0.75 * c1.tanh();
    let c2 = sigmoid(1.0 - 0.5 * h1) * c1 + sigmoid(0.5 * h1) * h1.tanh();
    let h2 = sigmoid(0.25 * h1) * c2.tanh();
    assert_eq!(outs.len(), 3, "output, h, c");
    assert_close(&outs[0], &[h1, h2]);
    assert_close(&outs[1], &[h2]);
    assert_close(&outs[2], &[c2]);
}

/// The default LSTM bias is `[zeros(u), ones(u), zeros(2u)]`.
#[test]
fn lstm_unit_forget_bias_layout() {
    let layer = tensorweave_core::IntoLayer::into_layer(Lstm::new(2));
    super::build_for(&layer, 3);
    let weights = layer.get_weights();
    assert_eq!(weights[0].shape(), &[3, 8]);
    assert_eq!(weights[1].shape(), &[2, 8]);
    assert_close(&weights[2], &[0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0]);
}

/// GRU (reset_after, the default), 1 unit, x = [1, 0]. Blocks z, r, h:
/// kernel = [0, 1, ln 2], recurrent = [1, 0.5, 2], bias = [[0, 0, 0], [0, −1, 0.5]].
///
/// Step 1 (h0 = 0): z = σ(0) = 1/2, r = σ(1 − 1) = 1/2,
/// hh = tanh(ln 2 + r·(0 + 0.5)) = tanh(ln 2 + 0.25), h1 = (1 − z)·hh = hh/2.
/// Step 2 (x = 0): z = σ(h1), r = σ(0.5 h1 − 1), hh = tanh(r·(2 h1 + 0.5)),
/// h2 = z·h1 + (1 − z)·hh.
#[test]
fn gru_reset_after_two_steps_by_hand() {
    let outs = run(
        Gru::new(1).return_sequences(true).weights(vec![
            arr(&[1, 3], &[0.0, 1.0, 2f32.ln()]),
            arr(&[1, 3], &[1.0, 0.5, 2.0]),
            arr(&[2, 3], &[0.0, 0.0, 0.0, 0.0, -1.0, 0.5]),
        ]),
        arr(&[1, 2, 1], &[1.0, 0.0]),
        None,
    );
    let h1 = (2f64.ln() + 0.25).tanh() / 2.0;
    let z = sigmoid(h1);
    let r = sigmoid(0.5 * h1 - 1.0);
    let hh = (r * (2.0 * h1 + 0.5)).tanh();
    let h2 = z * h1 + (1.0 - z) * hh;
    assert_close(&outs[0], &[h1, h2]);
}

/// GRU with the reset gate before the product, 2 units: with two units
/// `(r·h)·U_h` differs from `r·(h·U_h)`, so this checks the separate product.
/// Reference from Keras 3.15.1:
///
/// ```python
/// g = layers.GRU(2, reset_after=False, return_sequences=True); g.build((1, 3, 1))
/// g.set_weights([k, r, b])   # the arrays below
/// g(np.array([[[1.0], [0.5], [-1.0]]], "float32"))
/// # [[[ 0.225061, -0.21825884], [ 0.32176018, -0.27854818], [-0.15410966, -0.09270264]]]
/// ```
///
/// Step 1 by hand (h0 = 0): z = σ([0.5, −0.3] + [0.1, 0]) = σ([0.6, −0.3]),
/// hh = tanh([0.7, −0.4] + [0.05, 0]) = tanh([0.75, −0.4]), h1 = (1 − z)·hh.
#[test]
fn gru_reset_before_matches_keras() {
    let outs = run(
        Gru::new(2)
            .reset_after(false)
            .return_sequences(true)
            .weights(vec![
                arr(&[1, 6], &[0.5, -0.3, 0.2, 0.1, 0.7, -0.4]),
                arr(
                    &[2, 6],
                    &[
                        0.3, 0.1, -0.2, 0.4, 0.6, -0.5, 0.2, -0.6, 0.5, 0.1, -0.3, 0.8,
                    ],
                ),
                arr(&[6], &[0.1, 0.0, -0.1, 0.2, 0.05, 0.0]),
            ]),
        arr(&[1, 3, 1], &[1.0, 0.5, -1.0]),
        None,
    );
    let h1 = [
        (1.0 - sigmoid(0.6)) * 0.75f64.tanh(),
        (1.0 - sigmoid(-0.3)) * (-0.4f64).tanh(),
    ];
    assert!((h1[0] - 0.225061).abs() < 1e-6 && (h1[1] + 0.21825884).abs() < 1e-6);
    assert_close(
        &outs[0],
        &[
            0.225061,
            -0.21825884,
            0.32176018,
            -0.27854818,
            -0.15410966,
            -0.09270264,
        ],
    );
}

/// SimpleRNN, 1 unit: kernel 2, recurrent 0.5, bias 0.1, x = [0.3, −0.2].
/// h1 = tanh(2·0.3 + 0.1) = tanh(0.7); h2 = tanh(2·(−0.2) + 0.1 + 0.5·h1).
#[test]
fn simple_rnn_two_steps_by_hand() {
    let weights = vec![
        arr(&[1, 1], &[2.0]),
        arr(&[1, 1], &[0.5]),
        arr(&[1], &[0.1]),
    ];
    let x = arr(&[1, 2, 1], &[0.3, -0.2]);
    let outs = run(
        SimpleRnn::new(1)
            .return_sequences(true)
            .weights(weights.clone()),
        x.clone(),
        None,
    );
    let h1 = 0.7f64.tanh();
    let h2 = (-0.3 + 0.5 * h1).tanh();
    assert_close(&outs[0], &[h1, h2]);

    // relu: h1 = 0.7, h2 = max(−0.3 + 0.35, 0) = 0.05.
    let outs = run(
        SimpleRnn::new(1)
            .activation(Activation::Relu)
            .weights(weights),
        x,
        None,
    );
    assert_close(&outs[0], &[0.05]);
}

/// Without bias there is no bias weight: [kernel, recurrent_kernel].
#[test]
fn no_bias_means_two_weights() {
    let outs = run(
        SimpleRnn::new(1)
            .use_bias(false)
            .activation(Activation::Linear)
            .weights(vec![arr(&[1, 1], &[1.0]), arr(&[1, 1], &[1.0])]),
        arr(&[1, 3, 1], &[1.0, 2.0, 3.0]),
        None,
    );
    // Running sum: 1 + 2 + 3.
    assert_close(&outs[0], &[6.0]);
}
