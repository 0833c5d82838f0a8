//! The model-independent half of training, matching Keras 3.15.1 (TensorFlow backend)
//! numerically: [`losses`] with their gradients, [regularizers](Regularizer),
//! [`optimizers`] with learning-rate [schedules](optimizers::schedules) and gradient
//! clipping, and [`metrics`].
//!
//! A training step with these pieces (the model's forward and backward passes live elsewhere):
//!
//! ```
//! use ndarray::{array, ArrayD};
//! use tensorweave_train::losses::{Activation, Prediction};
//! use tensorweave_train::optimizers::Adam;
//! use tensorweave_train::{loss_from_config, metric_from_config, Gradient, Mean, Optimizer, Var, Wrt};
//!
//! # fn main() -> tensorweave_core::Result<()> {
//! let loss = loss_from_config(&serde_json::json!("categorical_crossentropy"))?;
//! let mut opt = Adam::new(1e-2).clipnorm(1.0);
//! let mut accuracy = metric_from_config(&serde_json::json!("accuracy"), &[2, 3], &[2, 3])?;
//! let mut running_loss = Mean::new("loss");
//!
//! // The model's output for a batch of 2: softmax probabilities and the logits they came from.
//! let logits = array![[1.0f32, 0.5, -1.0], [0.1, 0.2, 0.3]].into_dyn();
//! let probs = logits.map_axis(ndarray::Axis(1), |z| {
//!     let e: Vec<f32> = z.iter().map(|x| x.exp()).collect();
//!     let s: f32 = e.iter().sum();
//!     e.into_iter().map(|x| x / s).collect::<Vec<_>>()
//! });
//! let probs = ArrayD::from_shape_vec(vec![2, 3], probs.into_iter().flatten().collect()).unwrap();
//! let y_true = array![[1.0f32, 0.0, 0.0], [0.0, 0.0, 1.0]].into_dyn();
//!
//! let pred = Prediction::with_logits(probs.view(), logits.view(), Activation::Softmax);
//! let out = loss.compute(y_true.view(), &pred, None, None)?;
//! assert_eq!(out.wrt, Wrt::Logits); // Keras uses the cached logits of a softmax output
//! running_loss.update_scalar(out.value, 2.0);
//! accuracy.update(y_true.view(), probs.view(), None, None)?;
//!
//! // ... backpropagate out.grad through the model to get the weights' gradients ...
//! let mut kernel = ArrayD::<f32>::zeros(vec![4, 3]);
//! let g = Gradient::Dense(ArrayD::from_elem(vec![4, 3], 0.1));
//! opt.apply(&mut [Var { path: "dense/kernel", value: &mut kernel, gradient: Some(&g) }])?;
//! assert_eq!(opt.iterations(), 1);
//! assert_eq!(opt.variables()[2].path, "adam/dense_kernel_momentum");
//! # Ok(())
//! # }
//! ```
//!
//! # Keras behaviour reproduced here (some of it surprising)
//!
//! Losses ([`losses`]):
//! * `sum_over_batch_size` divides the weighted sum by the number of entries, not by the sum
//!   of the sample weights. With a Keras mask, each valid entry is weighted `entries / valid`
//!   first, so the loss is `sum(loss·mask·sw) / sum(mask)` (0 if nothing is valid).
//! * Cross-entropy on a softmax/sigmoid output uses the cached logits (no clipping), and Keras
//!   does not check which activation cached them: binary cross-entropy on a softmax output
//!   feeds the softmax's logits to the sigmoid formula; categorical on a sigmoid output feeds
//!   sigmoid logits to softmax.
//! * The logits are lost, and the clipped-probability path runs, when Keras reshapes `y_pred`
//!   (`y_true (B, T)` against `y_pred (B, T, 1)`) or replaces it (`ignore_class`).
//! * TensorFlow's softmax cross-entropy gradient is `softmax - labels` even when the labels do
//!   not sum to 1 (the true gradient would be `softmax·sum(labels) - labels`).
//! * Categorical label smoothing divides by the size of the LAST axis even when `axis` is
//!   another one.
//! * A per-entry loss that is already a scalar (a rank-1 output with `mse`) is not divided.
//! * Sample weights of shape `(B,)` cannot be combined with a `(B, T)` mask: Keras fails with
//!   "Incompatible shapes" (so does [`reduce`]); give `(B, T)` weights.
//! * `Huber.get_config` drops `delta` and `CosineSimilarity.get_config` drops `axis`; the
//!   configs here mirror that (a reloaded loss has the defaults).
//!
//! Optimizers ([`optimizers`]):
//! * Hyperparameters are Python floats meeting float32 tensors: `1 - beta_1` is computed in
//!   float64 then rounded for Adam, but in float32 for Nadam (which casts beta_1 first); the
//!   learning rate is a float32 variable (0.1 is 0.10000000149011612 in the config).
//! * Adam adds epsilon to the uncorrected `sqrt(v)`; RMSprop and Adagrad add it inside the
//!   square root.
//! * Embedding gradients ([`Gradient::Rows`], TensorFlow's `IndexedSlices`): second moments get
//!   `sum(g_occ²)` per row, not `(sum g_occ)²`; `clipvalue` clips each occurrence; `clipnorm`
//!   takes the norm over the occurrences; but `global_clipnorm` DENSIFIES the gradient (scaling
//!   an `IndexedSlices` is not a sparse op), so after it the moments see the summed gradient.
//! * Weight decay (`w -= w·wd·lr`) applies to every variable that has a gradient, before the
//!   update; a variable whose gradient is `None` is skipped entirely.
//! * With a schedule there is no `learning_rate` variable in `optimizer.variables`, and the
//!   learning rate cannot be set (Keras raises TypeError).
//! * `CosineDecay` ignores `warmup_steps` unless `warmup_target` is set; with a warmup it decays
//!   from `warmup_target`.
//! * Slot order: one `add_optimizer_variables` call per slot kind group, variables in order
//!   within it: Adam interleaves `momentum, velocity` per variable and appends all
//!   `velocity_hat`s after them (amsgrad); RMSprop lists all velocities, then all momentums,
//!   then all average gradients; Nadam's momentum cache is a float32 scalar named
//!   `<name>/variable` AFTER all slots. Default names are Keras' snake case: `rm_sprop`,
//!   `adam_w`.
//!
//! Metrics ([`metrics`]):
//! * `"accuracy"`/`"acc"` resolve from the shapes only (Keras 3 ignores the loss).
//! * `BinaryAccuracy` uses threshold 0.5 even on logits; `TopK` counts ties at the boundary as
//!   in the top k (TensorFlow's `in_top_k`).
//! * Mean-wrapped metrics weight by the mask as 0/1 and reduce per sample:
//!   `count += mean over steps of the weight`; Precision, Recall and AUC ignore the mask.
//! * AUC with evenly spaced thresholds (the default) buckets predictions by
//!   `ceil(p·(n-1)) - 1` instead of comparing with each threshold.
#![warn(missing_docs)]

mod array;
pub mod callbacks;
mod config;
pub mod fit;
pub mod gradcheck;
pub mod gradient;
pub mod losses;
pub mod metrics;
pub mod optimizers;
mod progress;
pub mod regularizers;
pub mod step;
mod util;

pub use callbacks::{
    Callback, Control, CsvLogger, EarlyStopping, Mode, ModelCheckpoint, ReduceLROnPlateau,
    TerminateOnNaN,
};
pub use fit::{Dataset, FitOptions, History, Logs, Trainer};
pub use gradient::Gradient;
pub use losses::{
    loss_for_shapes, loss_from_config, reduce, Loss, LossValue, PerEntry, Prediction, Reduction,
    Wrt,
};
pub use metrics::{metric_from_config, Mean, Metric};
pub use optimizers::{
    optimizer_from_config, Optimizer, OptimizerVariable, Var, VarSpec, VariableValue,
};
pub use progress::Verbosity;
pub use regularizers::Regularizer;
pub use step::{loss_and_gradients, regularization_penalty, OutputLoss, StepGradients};
