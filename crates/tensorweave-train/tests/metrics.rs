//! Metrics against Keras 3.15.1 (`tests/fixtures/metrics.json`, written by `make_fixtures.py`):
//! the metric `compile` resolves from each identifier and `result()` after every update
//! (several batches, sample weights, Keras masks, a reset).
//!
//! Tolerance: 1e-6 relative + 1e-7 absolute. Metric state is float32 as in Keras; the sums
//! within a batch are correctly rounded here and blocked in TensorFlow, a few ulps apart.

mod common;

use common::{assert_close_scalar, bool_tensor, check_cases, dims, fixture, opt_tensor, tensor};
use tensorweave_train::{metric_from_config, Mean};

#[test]
fn metrics_match_keras_after_every_update() {
    check_cases("metrics.json", 30, |case| {
        let id = case["id"].as_str().unwrap();
        let mut m = metric_from_config(
            &case["metric"],
            &dims(&case["y_true_shape"]),
            &dims(&case["y_pred_shape"]),
        )
        .unwrap_or_else(|e| panic!("{id}: {e}"));
        assert_eq!(m.name(), case["name"].as_str().unwrap(), "{id}: name");
        for (i, u) in case["updates"].as_array().unwrap().iter().enumerate() {
            if u["reset_before"].as_bool().unwrap() {
                m.reset();
            }
            let yt = tensor(&u["y_true"]);
            let yp = tensor(&u["y_pred"]);
            let sw = opt_tensor(&u["sample_weight"]);
            let mask = if u["mask"].is_null() {
                None
            } else {
                Some(bool_tensor(&u["mask"]))
            };
            let res = m.update(
                yt.view(),
                yp.view(),
                sw.as_ref().map(|s| s.view()),
                mask.as_ref().map(|s| s.view()),
            );
            if !u["error"].is_null() {
                assert!(
                    res.is_err(),
                    "{id}: update {i}: Keras fails ({}), we accepted it",
                    u["error"]
                );
                continue;
            }
            res.unwrap_or_else(|e| panic!("{id}: update {i}: {e}"));
            let want = u["result"].as_f64().unwrap() as f32;
            assert_close_scalar(
                &format!("{id}: result after update {i}"),
                m.result(),
                want,
                1e-7,
                1e-6,
            );
        }
    });
}

#[test]
fn mean_matches_keras() {
    let fx = fixture("metrics.json");
    for case in fx["mean_cases"].as_array().unwrap() {
        let mut m = Mean::new("loss");
        for (i, u) in case["updates"].as_array().unwrap().iter().enumerate() {
            let values = tensor(&u["values"]);
            let sw = opt_tensor(&u["sample_weight"]);
            m.update(values.view(), sw.as_ref().map(|s| s.view()))
                .unwrap();
            let want = u["result"].as_f64().unwrap() as f32;
            assert_close_scalar(
                &format!("{}: update {i}", case["id"]),
                m.result(),
                want,
                1e-7,
                1e-6,
            );
        }
    }
    // The loss tracker's form: value * batch size, count += batch size.
    let case = &fx["mean_cases"][0];
    let mut m = Mean::new("loss");
    for u in case["updates"].as_array().unwrap() {
        let v = tensor(&u["values"]).iter().next().copied().unwrap();
        let w = tensor(&u["sample_weight"]).iter().next().copied().unwrap();
        m.update_scalar(v, w);
        assert_eq!(m.result(), u["result"].as_f64().unwrap() as f32);
    }
}
