//! Optimizer API behaviour: Keras' variable naming for a real model, saving and restoring
//! state mid-training, the builders, and the errors Keras raises (or that name unsupported
//! options). Ground truth from `tests/fixtures/optimizers.json` (real Keras 3.15.1).

mod common;

use common::{
    apply, assert_close, assert_err_contains, case, dims, fixture, gradient, tensor, variables,
};
use ndarray::{Array2, ArrayD, IxDyn};
use serde_json::{json, Value};
use tensorweave_train::optimizers::schedules::{CosineDecay, ExponentialDecay};
use tensorweave_train::optimizers::{Adagrad, Adam, AdamW, Nadam, RmsProp, Sgd};
use tensorweave_train::{
    optimizer_from_config, Gradient, Optimizer, OptimizerVariable, Var, VarSpec, VariableValue,
};

fn step(opt: &mut dyn Optimizer, paths: &[String], values: &mut [ArrayD<f32>], step: &Value) {
    let grads: Vec<Option<Gradient>> = step["grads"]
        .as_array()
        .unwrap()
        .iter()
        .map(gradient)
        .collect();
    apply(opt, paths, values, &grads).unwrap();
}

/// The one variable of a single-variable step.
fn var<'a>(path: &'a str, value: &'a mut ArrayD<f32>, gradient: Option<&'a Gradient>) -> Var<'a> {
    Var {
        path,
        value,
        gradient,
    }
}

#[test]
fn slot_names_and_order_match_keras_for_a_bidirectional_model() {
    let fx = fixture("optimizers.json");
    let specs: Vec<VarSpec> = fx["model_trainable"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| VarSpec {
            path: v["path"].as_str().unwrap().into(),
            shape: dims(&v["shape"]),
        })
        .collect();
    for n in fx["model_naming"].as_array().unwrap() {
        let mut opt = optimizer_from_config(&n["config"]).unwrap();
        opt.build(&specs).unwrap();
        let got = opt.variables();
        let want = n["optimizer_variables"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{}", n["config"]["class_name"]);
        for (g, w) in got.iter().zip(want) {
            assert_eq!(g.path, w["path"].as_str().unwrap());
            assert_eq!(g.dtype(), w["dtype"].as_str().unwrap());
            assert_eq!(g.shape(), dims(&w["shape"]), "{}", g.path);
        }
    }
}

/// Three steps, save `variables()`, restore into a fresh optimizer, two more steps: the result
/// must still be Keras' (iterations, schedules, Nadam's momentum cache and every slot restored).
#[test]
fn restored_state_continues_exactly_like_keras() {
    let fx = fixture("optimizers.json");
    for c in fx["cases"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let (paths, mut values) = variables(c);
        let steps = c["steps"].as_array().unwrap();
        let mut a = optimizer_from_config(&c["config"]).unwrap();
        for s in &steps[..3] {
            step(a.as_mut(), &paths, &mut values, s);
        }
        let saved = a.variables();
        let mut b = optimizer_from_config(&c["config"]).unwrap();
        let specs: Vec<VarSpec> = paths
            .iter()
            .zip(&values)
            .map(|(p, v)| VarSpec {
                path: p.clone(),
                shape: v.shape().to_vec(),
            })
            .collect();
        b.build(&specs).unwrap();
        b.load_variables(&saved).unwrap();
        assert_eq!(b.iterations(), 3, "{id}");
        for (k, s) in steps[3..].iter().enumerate() {
            step(b.as_mut(), &paths, &mut values, s);
            for (i, want) in s["weights_after"].as_array().unwrap().iter().enumerate() {
                assert_close(
                    &format!("{id}: restored, step {}: {}", k + 3, paths[i]),
                    &values[i],
                    &tensor(want),
                    1e-6,
                    1e-5,
                );
            }
        }
    }
}

#[test]
fn builders_give_the_configs_keras_gives() {
    let fx = fixture("optimizers.json");
    let built: Vec<(&str, Box<dyn Optimizer>)> = vec![
        ("sgd_plain", Box::new(Sgd::new(0.1))),
        (
            "sgd_nesterov_clipvalue",
            Box::new(Sgd::new(0.05).momentum(0.9).nesterov(true).clipvalue(0.5)),
        ),
        (
            "sgd_weight_decay_none_grad",
            Box::new(Sgd::new(0.1).momentum(0.3).weight_decay(0.2)),
        ),
        ("adam_default", Box::new(Adam::default())),
        (
            "adam_amsgrad_clipnorm",
            Box::new(Adam::new(0.01).amsgrad(true).clipnorm(1.0)),
        ),
        (
            "adam_betas_epsilon",
            Box::new(Adam::new(0.02).beta_1(0.8).beta_2(0.95).epsilon(1e-4)),
        ),
        (
            "adam_expdecay_global_clipnorm",
            Box::new(
                Adam::default()
                    .schedule(ExponentialDecay::new(0.05, 2.0, 0.5).staircase(true))
                    .global_clipnorm(0.8),
            ),
        ),
        (
            "adamw_default",
            Box::new(AdamW::new(0.01).weight_decay(0.05)),
        ),
        (
            "adamw_cosine_warmup_amsgrad",
            Box::new(
                AdamW::default()
                    .schedule(CosineDecay::new(0.0, 3.0).alpha(0.1).warmup(0.02, 2.0))
                    .weight_decay(0.1)
                    .amsgrad(true),
            ),
        ),
        (
            "rmsprop_centered_momentum_clipvalue",
            Box::new(
                RmsProp::new(0.01)
                    .rho(0.8)
                    .momentum(0.5)
                    .centered(true)
                    .clipvalue(0.7),
            ),
        ),
        (
            "adagrad_initial_accumulator_clipnorm",
            Box::new(
                Adagrad::new(0.05)
                    .initial_accumulator_value(0.5)
                    .epsilon(1e-3)
                    .clipnorm(0.9),
            ),
        ),
        ("nadam_default", Box::new(Nadam::new(0.01))),
    ];
    for (id, opt) in built {
        assert_eq!(opt.config(), case(&fx, id)["config"], "{id}");
    }
}

#[test]
fn learning_rate_is_settable_only_without_a_schedule() {
    let mut adam = Adam::new(0.01);
    adam.set_learning_rate(0.5).unwrap();
    assert_eq!(adam.current_learning_rate(), 0.5);
    assert_eq!(adam.config()["config"]["learning_rate"], json!(0.5));
    let mut scheduled = Adam::default().schedule(CosineDecay::new(0.1, 10.0));
    assert_err_contains(scheduled.set_learning_rate(0.5), &["schedule"]);
}

#[test]
fn unsupported_options_are_errors_naming_the_option() {
    for (key, value) in [
        ("use_ema", json!(true)),
        ("gradient_accumulation_steps", json!(4)),
        ("loss_scale_factor", json!(128.0)),
        ("ema_overwrite_frequency", json!(10)),
        ("not_an_option", json!(1)),
    ] {
        let cfg = json!({"class_name": "Adam", "config": {key: value}});
        assert_err_contains(optimizer_from_config(&cfg), &[key]);
    }
    for (cfg, needle) in [
        (
            json!({"class_name": "SGD", "config": {"clipnorm": 1.0, "clipvalue": 0.5}}),
            "only one of",
        ),
        (json!("Adadelta"), "Adadelta"),
        (
            json!({"class_name": "AdamW", "config": {"weight_decay": null}}),
            "weight_decay",
        ),
        (
            json!({"class_name": "SGD", "config": {"momentum": 1.5}}),
            "momentum",
        ),
    ] {
        assert_err_contains(optimizer_from_config(&cfg), &[needle]);
    }
    // Keras ignores the legacy `decay` argument (with a warning).
    optimizer_from_config(&json!({"class_name": "Adam", "config": {"decay": 0.0}})).unwrap();
}

#[test]
fn misuse_is_reported_not_panicked() {
    let mut w = ArrayD::<f32>::zeros(IxDyn(&[2, 2]));
    let g = Gradient::Dense(ArrayD::ones(IxDyn(&[2, 2])));
    let mut opt = Adam::new(0.1);
    opt.apply(&mut [var("dense/kernel", &mut w, Some(&g))])
        .unwrap();
    // Unknown variable after build.
    let mut other = ArrayD::<f32>::zeros(IxDyn(&[2, 2]));
    let unknown = opt.apply(&mut [var("dense_1/kernel", &mut other, Some(&g))]);
    assert_err_contains(unknown, &["dense_1/kernel"]);
    // Wrong gradient shape.
    let bad = Gradient::Dense(ArrayD::ones(IxDyn(&[3])));
    let wrong_shape = opt.apply(&mut [var("dense/kernel", &mut w, Some(&bad))]);
    assert_err_contains(wrong_shape, &["(3,)"]);
    // No gradient at all.
    let no_gradient = opt.apply(&mut [var("dense/kernel", &mut w, None)]);
    assert_err_contains(no_gradient, &["no gradients"]);
    // An empty step does nothing (Keras does not even count it).
    opt.apply(&mut []).unwrap();
    assert_eq!(opt.iterations(), 1);
    // Loading state of the wrong size or shape.
    let state = opt.variables();
    let mut fresh = Adam::new(0.1);
    assert_err_contains(fresh.load_variables(&state), &["build"]);
    fresh
        .build(&[VarSpec {
            path: "dense/kernel".into(),
            shape: vec![2, 2],
        }])
        .unwrap();
    let mut wrong = state.clone();
    wrong[2] = OptimizerVariable {
        path: wrong[2].path.clone(),
        value: VariableValue::Float32(ArrayD::zeros(IxDyn(&[4]))),
    };
    assert_err_contains(fresh.load_variables(&wrong), &["(4,)", "(2, 2)"]);
    fresh.load_variables(&state).unwrap();
    assert_eq!(fresh.variables(), state);
    // A row gradient out of range is caught when it is built.
    assert!(Gradient::rows(vec![5], Array2::zeros((1, 2)), vec![2, 2]).is_err());
}
