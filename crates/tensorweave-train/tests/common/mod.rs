//! Shared helpers for the fixture tests: reading the JSON fixtures written by
//! `tests/fixtures/make_fixtures.py` (real Keras 3.15.1) and comparing with tolerances.
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use serde_json::Value;

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

fn shape_of(v: &Value) -> Vec<usize> {
    v["shape"]
        .as_array()
        .expect("shape")
        .iter()
        .map(|d| d.as_u64().expect("dim") as usize)
        .collect()
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
