//! Regularizers and learning-rate schedules against Keras 3.15.1
//! (`tests/fixtures/regularizers.json`, `schedules.json`, written by `make_fixtures.py`).
//!
//! Tolerance: 1e-6 relative (a few float32 ulps: our sums are correctly rounded, TensorFlow's
//! blocked; `pow`/`cos` from libm vs Eigen).

mod common;

use common::{assert_close, assert_close_scalar, cases, fixture, tensor};
use tensorweave_train::optimizers::Schedule;
use tensorweave_train::Regularizer;

#[test]
fn regularizers_match_keras_penalty_and_gradient() {
    let fx = fixture("regularizers.json");
    for c in cases(&fx, 9) {
        let r = Regularizer::from_config(&c["identifier"]).unwrap();
        assert_eq!(r.config(), c["config"], "config of {}", c["identifier"]);
        let x = tensor(&c["x"]);
        let want = c["penalty"].as_f64().unwrap() as f32;
        assert_close_scalar(
            &format!("penalty of {}", c["identifier"]),
            r.penalty(&x),
            want,
            1e-9,
            1e-6,
        );
        assert_close(
            &format!("gradient of {}", c["identifier"]),
            &r.gradient(&x),
            &tensor(&c["grad"]),
            1e-9,
            1e-6,
        );
    }
}

#[test]
fn schedules_match_keras_at_every_step() {
    let fx = fixture("schedules.json");
    for c in cases(&fx, 10) {
        let s = Schedule::from_config(&c["config"]).unwrap();
        assert_eq!(s.config(), c["config"]);
        let class = c["config"]["class_name"].as_str().unwrap();
        for (step, want) in c["steps"]
            .as_array()
            .unwrap()
            .iter()
            .zip(c["values"].as_array().unwrap())
        {
            let step = step.as_i64().unwrap();
            let want = want.as_f64().unwrap() as f32;
            assert_close_scalar(
                &format!("{class} {} at step {step}", c["config"]["config"]),
                s.value(step),
                want,
                1e-9,
                1e-6,
            );
        }
    }
}
