//! Shared helpers for the fixture tests: reading the JSON fixtures written by
//! `tests/fixtures/make_fixtures.py` (real Keras 3.15.1) and comparing with tolerances.
#![allow(dead_code)]

use std::panic::{catch_unwind, AssertUnwindSafe};

use ndarray::{ArrayD, Ix2, IxDyn};
use serde_json::Value;
use tensorweave_train::{Gradient, Optimizer, Var};

/// Parses a fixture file from `tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    assert_eq!(
        v["keras_version"], "3.15.1",
        "{path} was not produced by Keras 3.15.1"
    );
    v
}

/// The cases of a fixture file, at least `at_least` of them (fewer means a different file than
/// the tests were written for).
pub fn cases(fx: &Value, at_least: usize) -> &[Value] {
    let cases = fx["cases"].as_array().expect("cases");
    assert!(cases.len() >= at_least);
    cases
}

/// The case with this id.
pub fn case<'a>(fx: &'a Value, id: &str) -> &'a Value {
    fx["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

/// Runs `check` on every case of a fixture file (at least `at_least` of them), catching its
/// panics, then fails listing every case that did not match Keras.
pub fn check_cases(file: &str, at_least: usize, check: impl Fn(&Value)) {
    let fx = fixture(file);
    let cases = cases(&fx, at_least);
    let mut failures = Vec::new();
    for case in cases {
        if let Err(e) = catch_unwind(AssertUnwindSafe(|| check(case))) {
            let id = case["id"].as_str().unwrap_or("?");
            failures.push(
                e.downcast_ref::<String>()
                    .cloned()
                    .unwrap_or_else(|| format!("{id}: panic")),
            );
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases of {file} differ from Keras:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

/// A list of whole numbers: a shape or indices.
pub fn dims(v: &Value) -> Vec<usize> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|d| d.as_u64().expect("a whole number") as usize)
        .collect()
}

fn shape_of(v: &Value) -> Vec<usize> {
    dims(&v["shape"])
}

/// A `{shape, data}` tensor as float32 (the fixture stores exact float32 decimals).
pub fn tensor(v: &Value) -> ArrayD<f32> {
    let data: Vec<f32> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_f64().expect("number") as f32)
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape_of(v)), data).expect("tensor shape")
}

/// A `{shape, data}` boolean tensor.
pub fn bool_tensor(v: &Value) -> ArrayD<bool> {
    let data: Vec<bool> = v["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|x| x.as_bool().expect("bool"))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape_of(v)), data).expect("tensor shape")
}

/// An optional tensor (`null` = `None`).
pub fn opt_tensor(v: &Value) -> Option<ArrayD<f32>> {
    if v.is_null() {
        None
    } else {
        Some(tensor(v))
    }
}

/// `|a - b| <= abs + rel * |b|` for every entry, with a message naming the worst entry.
pub fn assert_close(what: &str, got: &ArrayD<f32>, want: &ArrayD<f32>, abs: f32, rel: f32) {
    assert_eq!(got.shape(), want.shape(), "{what}: shape");
    let mut worst: Option<(usize, f32, f32, f32)> = None;
    for (i, (&g, &w)) in got.iter().zip(want.iter()).enumerate() {
        let err = (g - w).abs();
        let bound = abs + rel * w.abs();
        let ok = err <= bound || (g.is_nan() && w.is_nan());
        if !ok && worst.is_none_or(|(_, e, _, _)| err > e) {
            worst = Some((i, err, g, w));
        }
    }
    if let Some((i, err, g, w)) = worst {
        panic!("{what}: entry {i}: got {g}, Keras {w} (|diff| {err:e}, bound abs {abs:e} + rel {rel:e})");
    }
}

/// Scalar version of [`assert_close`].
pub fn assert_close_scalar(what: &str, got: f32, want: f32, abs: f32, rel: f32) {
    let err = (got - want).abs();
    assert!(
        err <= abs + rel * want.abs() || (got.is_nan() && want.is_nan()),
        "{what}: got {got}, Keras {want} (|diff| {err:e}, bound abs {abs:e} + rel {rel:e})"
    );
}

/// The largest `|a - b| / max(|b|, floor)` over entries, to report how close we are.
pub fn max_rel(got: &ArrayD<f32>, want: &ArrayD<f32>, floor: f32) -> f32 {
    got.iter()
        .zip(want.iter())
        .map(|(&g, &w)| (g - w).abs() / w.abs().max(floor))
        .fold(0.0, f32::max)
}

/// A gradient as the optimizer fixtures store it: `null`, `{"dense": tensor}` or
/// `{"rows": {indices, values, shape}}` (TensorFlow's `IndexedSlices`).
pub fn gradient(v: &Value) -> Option<Gradient> {
    if v.is_null() {
        return None;
    }
    if let Some(d) = v.get("dense") {
        return Some(Gradient::Dense(tensor(d)));
    }
    let rows = &v["rows"];
    let values = tensor(&rows["values"])
        .into_dimensionality::<Ix2>()
        .expect("2-D values");
    Some(Gradient::rows(dims(&rows["indices"]), values, dims(&rows["shape"])).expect("rows"))
}

/// The paths and initial values of an optimizer case's variables.
pub fn variables(case: &Value) -> (Vec<String>, Vec<ArrayD<f32>>) {
    let vars = case["variables"].as_array().expect("variables");
    let paths = vars
        .iter()
        .map(|v| v["path"].as_str().expect("path").to_string())
        .collect();
    let values = vars.iter().map(|v| tensor(&v["value"])).collect();
    (paths, values)
}

/// One optimizer step with these gradients (`None`: the variable has none).
pub fn apply(
    opt: &mut dyn Optimizer,
    paths: &[String],
    values: &mut [ArrayD<f32>],
    grads: &[Option<Gradient>],
) -> tensorweave_core::Result<()> {
    let mut vars: Vec<Var<'_>> = paths
        .iter()
        .zip(values.iter_mut())
        .zip(grads)
        .map(|((p, v), g)| Var {
            path: p,
            value: v,
            gradient: g.as_ref(),
        })
        .collect();
    opt.apply(&mut vars)
}

/// Fails unless `r` is an error whose message contains every one of `needles`.
pub fn assert_err_contains<T: std::fmt::Debug>(r: tensorweave_core::Result<T>, needles: &[&str]) {
    let e = r.unwrap_err().to_string();
    for needle in needles {
        assert!(e.contains(needle), "{needle}: {e}");
    }
}
