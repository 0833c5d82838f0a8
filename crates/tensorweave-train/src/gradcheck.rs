//! A finite-difference check of a model's backward pass, for testing layers
//! (built-in or your own) against their `Layer::backward`.
//!
//! The check takes the scalar `L = Σ_k Σ_i r_k[i] · y_k[i]` over the model's
//! outputs `y_k` in training mode, with fixed random weights `r_k` (so every
//! output entry matters), and compares the backward pass's gradient of `L`
//! with central differences `(L(w + ε) - L(w - ε)) / 2ε`, summed in f64, for
//! entries of every trainable weight and of every float input.
//!
//! ```
//! use tensorweave_core::{Input, Model, Value};
//! use tensorweave_train::gradcheck::{check_gradients, GradCheck};
//! # use tensorweave_core::{BackwardCall, CallContext, Inputs, Layer, LayerGrads, LayerRef, Param, Result, TensorSpec};
//! # #[derive(Debug)]
//! # struct Scale(Param);
//! # impl Layer for Scale {
//! #     fn class_name(&self) -> &str { "Scale" }
//! #     fn config(&self) -> serde_json::Value { serde_json::json!({}) }
//! #     fn output_specs(&self, i: &[TensorSpec]) -> Result<Vec<TensorSpec>> { Ok(i.to_vec()) }
//! #     fn call(&self, i: &Inputs<'_>, _: &CallContext) -> Result<Vec<Value>> {
//! #         Ok(vec![Value::F32(i.f32(0)? * &self.0.value)])
//! #     }
//! #     fn params(&self) -> Vec<&Param> { vec![&self.0] }
//! #     fn params_mut(&mut self) -> Vec<&mut Param> { vec![&mut self.0] }
//! #     fn has_backward(&self) -> bool { true }
//! #     fn backward(&self, c: &BackwardCall<'_>) -> Result<LayerGrads> {
//! #         let gy = c.value_grad(0)?.unwrap();
//! #         let x = c.inputs.f32(0)?;
//! #         let gw = (gy * x).sum_axis(ndarray::Axis(0)).into_dyn();
//! #         Ok(LayerGrads::inputs(vec![Some(gy * &self.0.value)]).param("factor", gw))
//! #     }
//! # }
//! // A layer `y = x * factor` (its code is hidden above), checked:
//! let x = Input::new([3]).build();
//! let scale = LayerRef::new("scale", Scale(Param::trainable("factor", ndarray::arr1(&[1.0f32, 2.0, 3.0]).into_dyn())));
//! let model = Model::new(&[x.clone()], &[scale.call(&x).unwrap()]).unwrap();
//! let input = Value::from(ndarray::array![[0.5f32, -1.0, 2.0]].into_dyn());
//! let report = check_gradients(&model, &[input], &GradCheck::default()).unwrap();
//! assert!(report.passed(), "{report}");
//! assert_eq!(report.checked, 6); // 3 weights + 3 inputs
//! ```

use std::fmt;

use ndarray::ArrayD;
use rand::{Rng, SeedableRng};
use tensorweave_core::{CallContext, Error, Model, OutputGrad, Result, Value};

/// Options of [`check_gradients`].
#[derive(Debug, Clone)]
pub struct GradCheck {
    /// The step of the central differences (default `1e-3`).
    pub epsilon: f32,
    /// Allowed absolute error (default `1e-3`).
    pub atol: f64,
    /// Allowed error relative to the larger of the two gradients (default `1e-2`).
    pub rtol: f64,
    /// At most this many entries of each weight and input are checked, spread
    /// evenly (default 64).
    pub max_entries: usize,
    /// Seed of the random output weights `r_k` (default 0).
    pub seed: u64,
}

impl Default for GradCheck {
    fn default() -> Self {
        GradCheck {
            epsilon: 1e-3,
            atol: 1e-3,
            rtol: 1e-2,
            max_entries: 64,
            seed: 0,
        }
    }
}

/// One entry whose backward gradient disagrees with the finite difference.
#[derive(Debug, Clone)]
pub struct Mismatch {
    /// `input 0` or a weight path.
    pub what: String,
    /// The flat index of the entry.
    pub index: usize,
    /// The backward pass's gradient.
    pub backward: f64,
    /// The central difference.
    pub numeric: f64,
}

/// What [`check_gradients`] found.
#[derive(Debug, Clone, Default)]
pub struct GradReport {
    /// The number of entries compared.
    pub checked: usize,
    /// The entries that disagree.
    pub mismatches: Vec<Mismatch>,
    /// The largest absolute difference seen.
    pub max_error: f64,
}

impl GradReport {
    /// Whether every checked entry agreed.
    pub fn passed(&self) -> bool {
        self.mismatches.is_empty()
    }
}

impl fmt::Display for GradReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} entries checked, {} mismatches, max error {:e}",
            self.checked,
            self.mismatches.len(),
            self.max_error
        )?;
        for m in self.mismatches.iter().take(5) {
            write!(
                f,
                "; {}[{}]: backward {:e}, numeric {:e}",
                m.what, m.index, m.backward, m.numeric
            )?;
        }
        Ok(())
    }
}

/// Checks `model`'s backward pass on `inputs` (see the module docs).
///
/// The model's weights are changed by ±ε one entry at a time and restored
/// exactly, so do not run the model elsewhere during the check. Random
/// layers must be seeded (each evaluation draws the same masks).
pub fn check_gradients(model: &Model, inputs: &[Value], opts: &GradCheck) -> Result<GradReport> {
    let ctx = CallContext::with_threads(1);
    let mut run = model.forward_train_wrt_inputs(inputs, &ctx)?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(opts.seed);
    let projections: Vec<ArrayD<f32>> = run
        .outputs()?
        .iter()
        .map(|y| ArrayD::from_shape_fn(y.shape(), |_| rng.random_range(-1.0f32..1.0)))
        .collect();
    let grads = projections
        .iter()
        .map(|r| OutputGrad::of_value(r.clone()))
        .collect();
    let backprop = run.backward(grads)?;
    let loss = |inputs: &[Value]| -> Result<f64> {
        let run = model.forward_train(inputs, &ctx)?;
        let mut total = 0.0f64;
        for (y, r) in run.outputs()?.iter().zip(&projections) {
            if let Ok(y) = y.as_f32() {
                total += y
                    .iter()
                    .zip(r)
                    .map(|(&a, &b)| a as f64 * b as f64)
                    .sum::<f64>();
            }
        }
        Ok(total)
    };
    let eps = opts.epsilon;
    let mut report = GradReport::default();
    let mut compare = |what: &str, index: usize, backward: f64, numeric: f64| {
        let err = (backward - numeric).abs();
        report.checked += 1;
        report.max_error = report.max_error.max(err);
        if err > opts.atol + opts.rtol * backward.abs().max(numeric.abs()) {
            report.mismatches.push(Mismatch {
                what: what.to_string(),
                index,
                backward,
                numeric,
            });
        }
    };

    // Inputs.
    for (k, input) in inputs.iter().enumerate() {
        let Ok(x) = input.as_f32() else { continue };
        let g = backprop.inputs.get(k).cloned().flatten();
        let what = format!("input {k}");
        for i in spread(x.len(), opts.max_entries) {
            let at = |delta: f32| -> Result<f64> {
                let mut moved = inputs.to_vec();
                if let Value::F32(a) = &mut moved[k] {
                    if let Some(v) = a.iter_mut().nth(i) {
                        *v += delta;
                    }
                }
                loss(&moved)
            };
            let numeric = (at(eps)? - at(-eps)?) / (2.0 * eps as f64);
            let backward = g
                .as_ref()
                .and_then(|g| g.iter().nth(i))
                .map_or(0.0, |&v| v as f64);
            compare(&what, i, backward, numeric);
        }
    }

    // Trainable weights.
    for (path, shape, trainable) in model.weight_specs() {
        if !trainable {
            continue;
        }
        let n: usize = shape.iter().product();
        let g = match backprop.weights.get(&path) {
            Some(g) => Some(g.to_dense()?),
            None => None,
        };
        for i in spread(n, opts.max_entries) {
            let numeric = {
                let plus = nudge(model, &path, i, eps, || loss(inputs))?;
                let minus = nudge(model, &path, i, -eps, || loss(inputs))?;
                (plus - minus) / (2.0 * eps as f64)
            };
            let backward = g
                .as_ref()
                .and_then(|g| g.iter().nth(i))
                .map_or(0.0, |&v| v as f64);
            compare(&path, i, backward, numeric);
        }
    }
    Ok(report)
}

/// At most `max` indices below `n`, evenly spread.
fn spread(n: usize, max: usize) -> Vec<usize> {
    if n <= max {
        return (0..n).collect();
    }
    (0..max).map(|k| k * n / max).collect()
}

/// Runs `f` with entry `i` of the weight `path` moved by `delta`, then puts
/// the exact old value back.
fn nudge(
    model: &Model,
    path: &str,
    i: usize,
    delta: f32,
    f: impl FnOnce() -> Result<f64>,
) -> Result<f64> {
    let mut old = None;
    let set = |value: Option<f32>, old: &mut Option<f32>| {
        model.as_layer().visit_params_mut(&mut |p, param| {
            if p == path {
                if let Some(v) = param.value.iter_mut().nth(i) {
                    match value {
                        None => {
                            *old = Some(*v);
                            *v += delta;
                        }
                        Some(orig) => *v = orig,
                    }
                }
            }
        });
    };
    set(None, &mut old);
    let orig = old.ok_or_else(|| Error::Input(format!("gradient check: no weight {path}")))?;
    let result = f();
    set(Some(orig), &mut None);
    result
}
