//! Unit tests of the recurrent layers: hand-derived cell steps, masking,
//! direction, `Bidirectional`, naming and errors.

mod bidirectional;
mod cells;
mod dropout;
mod errors;
mod gradients;
mod masking;
mod reference;

use ndarray::{ArrayD, IxDyn};
use tensorweave_core::Inputs;
use tensorweave_core::{CallContext, Input, IntoLayer, LayerRef, Value};

/// An `f32` array of `shape`.
pub(super) fn arr(shape: &[usize], data: &[f32]) -> ArrayD<f32> {
    ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).unwrap()
}

/// A bool mask `[batch, time]` from 0/1 rows.
pub(super) fn mask(rows: &[&[u8]]) -> ArrayD<bool> {
    let t = rows[0].len();
    let data: Vec<bool> = rows
        .iter()
        .flat_map(|r| r.iter().map(|&v| v == 1))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&[rows.len(), t]), data).unwrap()
}

/// Creates the layer, builds it on a `[None, time?, features]` input and runs it
/// directly on `x` with `threads` threads.
pub(super) fn run_with(
    builder: impl IntoLayer,
    x: ArrayD<f32>,
    mask: Option<ArrayD<bool>>,
    threads: usize,
) -> Vec<ArrayD<f32>> {
    let layer = builder.into_layer();
    build_for(&layer, x.shape()[2]);
    call(&layer, x, mask, threads)
}

/// [`run_with`] on one thread.
pub(super) fn run(
    builder: impl IntoLayer,
    x: ArrayD<f32>,
    mask: Option<ArrayD<bool>>,
) -> Vec<ArrayD<f32>> {
    run_with(builder, x, mask, 1)
}

/// Builds `layer` by calling it on a symbolic `[None, None, features]` input.
pub(super) fn build_for(layer: &LayerRef, features: usize) {
    let input = Input::new([None, Some(features)]).build();
    layer.call_all(&input).unwrap();
}

/// Runs a built layer on arrays.
pub(super) fn call(
    layer: &LayerRef,
    x: ArrayD<f32>,
    mask: Option<ArrayD<bool>>,
    threads: usize,
) -> Vec<ArrayD<f32>> {
    let x = Value::F32(x);
    let mask = mask.map(Value::Bool);
    layer
        .read()
        .call(
            &Inputs::new(vec![&x], vec![mask.as_ref()]),
            &CallContext::with_threads(threads),
        )
        .unwrap()
        .into_iter()
        .map(|v| v.into_f32().unwrap())
        .collect()
}

/// Asserts element-wise closeness to f64 expectations.
pub(super) fn assert_close(got: &ArrayD<f32>, expected: &[f64]) {
    assert_eq!(
        got.len(),
        expected.len(),
        "got {got:?}, expected {expected:?}"
    );
    for (i, (g, e)) in got.iter().zip(expected).enumerate() {
        assert!(
            (*g as f64 - e).abs() < 1e-6,
            "element {i}: got {g}, expected {e} (all: {got:?})"
        );
    }
}

pub(super) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}
