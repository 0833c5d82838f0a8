//! Errors, not panics: bad inputs, bad options, bad weights.

use ndarray::ArrayD;
use tensorweave_core::{CallContext, DType, Input, IntoLayer, Value};

use super::{arr, build_for, run};
use crate::rnn::{Bidirectional, Gru, Lstm, MergeMode, SimpleRnn};
use tensorweave_core::Inputs;

fn err_of(result: tensorweave_core::Result<impl std::fmt::Debug>) -> String {
    result.expect_err("expected an error").to_string()
}

#[test]
fn input_must_be_a_float_sequence() {
    let flat = Input::new([5]).build();
    let msg = err_of(Lstm::new(2).name("enc").call(&flat));
    assert!(
        msg.contains("'enc'") && msg.contains("rank 3") && msg.contains("(None, 5)"),
        "{msg}"
    );

    let four = Input::new([2, 3, 4]).build();
    let msg = err_of(Bidirectional::new(Gru::new(2)).call(&four));
    assert!(
        msg.contains("rank 3") && msg.contains("(None, 2, 3, 4)"),
        "{msg}"
    );

    let ints = Input::new([5, 2]).dtype(DType::I32).build();
    let msg = err_of(SimpleRnn::new(2).call(&ints));
    assert!(msg.contains("float32") && msg.contains("int32"), "{msg}");

    let unknown = Input::new([None, None]).build();
    let msg = err_of(Lstm::new(2).call(&unknown));
    assert!(
        msg.contains("last axis") && msg.contains("(None, None, None)"),
        "{msg}"
    );
}

#[test]
fn a_built_layer_rejects_other_feature_sizes() {
    let layer = Lstm::new(2).into_layer();
    build_for(&layer, 3);
    let msg = err_of(layer.call(&Input::new([4, 5]).build()));
    assert!(
        msg.contains("3 features") && msg.contains("(None, 4, 5)"),
        "{msg}"
    );
}

#[test]
fn options_are_checked_when_built() {
    let x = Input::new([4, 2]).build();
    let msg = err_of(Gru::new(0).call(&x));
    assert!(msg.contains("units"), "{msg}");
    let msg = err_of(Lstm::new(2).dropout(1.5).call(&x));
    assert!(msg.contains("dropout") && msg.contains("1.5"), "{msg}");
    let msg = err_of(Lstm::new(2).recurrent_dropout(-0.1).call(&x));
    assert!(msg.contains("recurrent_dropout"), "{msg}");
}

#[test]
fn dropout_is_identity_at_inference() {
    let x = arr(&[1, 3, 2], &[0.1, 0.2, -0.3, 0.4, 0.5, -0.6]);
    let plain = run(Lstm::new(3).seed(1), x.clone(), None);
    let dropped = run(
        Lstm::new(3).seed(1).dropout(0.5).recurrent_dropout(0.3),
        x,
        None,
    );
    assert_eq!(plain, dropped);
}

#[test]
fn weight_counts_and_shapes_are_checked() {
    let x = Input::new([4, 2]).build();
    let msg = err_of(
        Lstm::new(3)
            .weights(vec![arr(&[2, 12], &[0.0; 24]), arr(&[3, 12], &[0.0; 36])])
            .call(&x),
    );
    assert!(
        msg.contains("3 arrays") && msg.contains("lstm_cell/bias") && msg.contains("got 2"),
        "{msg}"
    );

    let msg = err_of(
        Lstm::new(3)
            .weights(vec![
                arr(&[2, 8], &[0.0; 16]),
                arr(&[3, 12], &[0.0; 36]),
                arr(&[12], &[0.0; 12]),
            ])
            .call(&x),
    );
    assert!(
        msg.contains("lstm_cell/kernel") && msg.contains("[2, 12]") && msg.contains("[2, 8]"),
        "{msg}"
    );

    // GRU with reset_after keeps input and recurrent biases as [2, 3u].
    let msg = err_of(
        Gru::new(1)
            .weights(vec![
                arr(&[2, 3], &[0.0; 6]),
                arr(&[1, 3], &[0.0; 3]),
                arr(&[3], &[0.0; 3]),
            ])
            .call(&x),
    );
    assert!(
        msg.contains("gru_cell/bias") && msg.contains("[2, 3]"),
        "{msg}"
    );

    let layer = SimpleRnn::new(2).into_layer();
    build_for(&layer, 2);
    let msg = err_of(layer.set_weights(&[ArrayD::zeros(vec![2, 2])]));
    assert!(msg.contains("expected 3 arrays"), "{msg}");
}

#[test]
fn bidirectional_checks_its_halves() {
    let x = Input::new([4, 2]).build();
    let msg = err_of(Bidirectional::new(Lstm::new(2).go_backwards(true)).call(&x));
    assert!(msg.contains("go_backwards"), "{msg}");

    let msg = err_of(
        Bidirectional::new(Lstm::new(2))
            .backward_layer(Lstm::new(2).go_backwards(true).return_sequences(true))
            .call(&x),
    );
    assert!(msg.contains("return_sequences"), "{msg}");

    let msg = err_of(
        Bidirectional::new(Gru::new(2))
            .backward_layer(Gru::new(3).go_backwards(true))
            .merge_mode(MergeMode::Sum)
            .call(&x),
    );
    assert!(
        msg.contains("equal units") && msg.contains("2 and 3"),
        "{msg}"
    );

    let msg = err_of(
        Bidirectional::new(SimpleRnn::new(1).weights(vec![ArrayD::zeros(vec![2, 1])])).call(&x),
    );
    assert!(msg.contains("Bidirectional::weights"), "{msg}");

    let msg = err_of(
        Bidirectional::new(SimpleRnn::new(1))
            .weights(vec![ArrayD::zeros(vec![2, 1]); 3])
            .call(&x),
    );
    assert!(
        msg.contains("6 arrays") && msg.contains("backward_simple_rnn"),
        "{msg}"
    );

    // A given backward layer of another kind works with concat.
    let y = Bidirectional::new(Lstm::new(2))
        .backward_layer(Gru::new(3).go_backwards(true))
        .call(&x)
        .unwrap();
    assert_eq!(y.shape(), &vec![None, Some(5)]);
}

#[test]
fn run_time_arrays_are_checked() {
    let layer = Lstm::new(2).into_layer();
    build_for(&layer, 3);
    let ctx = CallContext::with_threads(1);
    let guard = layer.read();
    let flat = Value::F32(ArrayD::zeros(vec![2, 3]));
    let msg = err_of(guard.call(&Inputs::new(vec![&flat], vec![None]), &ctx));
    assert!(msg.contains("rank 3") && msg.contains("[2, 3]"), "{msg}");

    let wide = Value::F32(ArrayD::zeros(vec![2, 4, 5]));
    let msg = err_of(guard.call(&Inputs::new(vec![&wide], vec![None]), &ctx));
    assert!(
        msg.contains("3 features") && msg.contains("[2, 4, 5]"),
        "{msg}"
    );

    let x = Value::F32(ArrayD::zeros(vec![2, 4, 3]));
    let bad_mask = Value::Bool(ArrayD::from_elem(vec![2, 5], true));
    let msg = err_of(guard.call(&Inputs::new(vec![&x], vec![Some(&bad_mask)]), &ctx));
    assert!(
        msg.contains("mask") && msg.contains("[2, 4]") && msg.contains("[2, 5]"),
        "{msg}"
    );

    let float_mask = Value::F32(ArrayD::zeros(vec![2, 4]));
    let msg = err_of(guard.call(&Inputs::new(vec![&x], vec![Some(&float_mask)]), &ctx));
    assert!(msg.contains("bool"), "{msg}");
}

#[test]
fn weights_replaced_with_wrong_shapes_are_an_error_not_a_panic() {
    let layer = SimpleRnn::new(2).into_layer();
    build_for(&layer, 3);
    layer.visit_params_mut(&mut |path, p| {
        if path.ends_with("recurrent_kernel") {
            p.value = ArrayD::zeros(vec![3, 3]);
        }
    });
    let x = Value::F32(ArrayD::zeros(vec![1, 2, 3]));
    let msg = err_of(layer.read().call(
        &Inputs::new(vec![&x], vec![None]),
        &CallContext::with_threads(1),
    ));
    assert!(
        msg.contains("recurrent_kernel") && msg.contains("[2, 2]"),
        "{msg}"
    );
}
