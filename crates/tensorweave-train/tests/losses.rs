//! Losses against Keras 3.15.1 (`tests/fixtures/losses.json`, written by `make_fixtures.py`):
//! Keras' `call` result (per-entry losses), the reduced value with sample weights and masks,
//! and `tape.gradient` of it w.r.t. the output or, when Keras used the cached logits, w.r.t.
//! the logits.
//!
//! Tolerance: values |diff| <= 1e-6·|Keras| + 1e-7 (about 8 float32 ulps; TensorFlow's blocked
//! float32 reductions differ from our correctly rounded sums by a few ulps). Gradients: each
//! entry within 1e-6·|Keras| + 1e-6·max|Keras gradient| (entries near zero come out of
//! cancellations such as `softmax - label`, where only the tensor's scale is meaningful).

mod common;

use common::{
    assert_close, assert_close_scalar, bool_tensor, check_cases, fixture, opt_tensor, tensor,
};
use tensorweave_train::loss_for_shapes;
use tensorweave_train::losses::{Activation, Prediction, Wrt};

#[test]
fn losses_match_keras_value_and_gradient() {
    check_cases("losses.json", 45, |case| {
        let id = case["id"].as_str().unwrap();
        let y_true = tensor(&case["y_true"]);
        let output = tensor(&case["output"]);
        let logits = opt_tensor(&case["logits"]);
        let sw = opt_tensor(&case["sample_weight"]);
        let mask = if case["mask"].is_null() {
            None
        } else {
            Some(bool_tensor(&case["mask"]))
        };
        let loss = loss_for_shapes(&case["loss"], y_true.shape(), output.shape())
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        let pred = match (&logits, case["activation"].as_str()) {
            (Some(z), Some(act)) => {
                let act = if act == "softmax" {
                    Activation::Softmax
                } else {
                    Activation::Sigmoid
                };
                Prediction::with_logits(output.view(), z.view(), act)
            }
            _ => Prediction::new(output.view()),
        };
        let result = loss.compute(
            y_true.view(),
            &pred,
            sw.as_ref().map(|s| s.view()),
            mask.as_ref().map(|m| m.view()),
        );
        if let Some(err) = case.get("error") {
            assert!(
                result.is_err(),
                "{id}: Keras fails ({}), we returned {:?}",
                err,
                result.map(|r| r.value)
            );
            return;
        }
        let result = result.unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(loss.name(), case["name"].as_str().unwrap(), "{id}: name");
        assert_eq!(loss.config(), case["config"], "{id}: config");
        assert_eq!(
            loss.reduction().as_str(),
            case["reduction"].as_str().unwrap(),
            "{id}: reduction"
        );

        let per = loss.per_entry(y_true.view(), &pred).unwrap();
        let want_per = tensor(&case["per_entry"]);
        assert_close(
            &format!("{id}: per-entry losses"),
            &per.values,
            &want_per,
            1e-7,
            1e-6,
        );
        match (&per.mask, case["per_entry_mask"].is_null()) {
            (None, true) => {}
            (Some(m), false) => assert_eq!(
                m,
                &bool_tensor(&case["per_entry_mask"]),
                "{id}: per-entry mask"
            ),
            (m, _) => panic!(
                "{id}: per-entry mask {m:?} vs Keras {}",
                case["per_entry_mask"]
            ),
        }

        let want_value = case["value"].as_f64().unwrap() as f32;
        assert_close_scalar(
            &format!("{id}: value"),
            result.value,
            want_value,
            1e-7,
            1e-6,
        );
        let want_wrt = if case["wrt"] == "logits" {
            Wrt::Logits
        } else {
            Wrt::Output
        };
        assert_eq!(result.wrt, want_wrt, "{id}: gradient taken w.r.t.");
        let want_grad = tensor(&case["grad"]);
        let scale = want_grad.iter().fold(0.0f32, |m, &x| m.max(x.abs()));
        assert_close(
            &format!("{id}: gradient"),
            &result.grad,
            &want_grad,
            1e-6 * scale,
            1e-6,
        );
    });
}

#[test]
fn loss_configs_round_trip_like_keras() {
    let fx = fixture("losses.json");
    for c in fx["configs"].as_array().unwrap() {
        let loss = tensorweave_train::loss_from_config(&c["config"]).unwrap();
        assert_eq!(loss.config(), c["config"]);
        assert_eq!(loss.name(), c["name"].as_str().unwrap());
    }
}
