//! Keras 3.15.1's losses: the per-entry values Keras' `Loss.call` returns with their gradient,
//! and Keras' reduction over them ([`reduce`]).
//!
//! Cross-entropies on a softmax or sigmoid output are computed, as Keras does, from the cached
//! pre-activation logits ([`Prediction::logits`], Keras' `_keras_logits`), with no clipping, and
//! the gradient is then w.r.t. those logits ([`Wrt::Logits`]). Keras uses the cached logits
//! whichever activation produced them (binary cross-entropy on a softmax output feeds the
//! softmax's logits to the sigmoid formula), and loses them when it has to reshape `y_pred`
//! (`y_true` of shape `(B, T)` against `y_pred` `(B, T, 1)`) or replace it (`ignore_class`): then
//! the probability path with clipping to `[1e-7, 1 - 1e-7]` runs, as in Keras.

mod crossentropy;
mod macros;
mod reduce;
mod regression;

use ndarray::{ArrayD, ArrayView1, ArrayViewD, ArrayViewMut1, Axis, IxDyn, Zip};
use serde_json::{Map, Value};
use tensorweave_core::Result;

pub use self::crossentropy::{
    BinaryCrossentropy, CategoricalCrossentropy, SparseCategoricalCrossentropy,
};
pub use self::reduce::{reduce, LossValue};
pub use self::regression::{
    CosineSimilarity, Hinge, Huber, KlDivergence, MeanAbsoluteError, MeanSquaredError,
};

use crate::array::{apply_change, broadcast_to, changed_shape, squeeze_or_expand, RankChange};
use crate::config::{identifier, serialized, ConfigReader, Identifier};
use crate::util::{config_err, input_err, quote, shape_str, sum_f32};

/// The activation whose input the cached logits are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `softmax` over the last axis.
    Softmax,
    /// `sigmoid`.
    Sigmoid,
}

/// A model output's pre-activation values, cached by its softmax or sigmoid activation.
///
/// Keras does not check which activation produced them: every cross-entropy uses them as its
/// own kind of logits. `activation` is recorded for the caller's backward pass and diagnostics.
#[derive(Debug, Clone)]
pub struct Logits<'a> {
    /// The activation's input, of the output's shape.
    pub values: ArrayViewD<'a, f32>,
    /// The activation applied to them.
    pub activation: Activation,
}

/// What a loss sees of a model output.
#[derive(Debug, Clone)]
pub struct Prediction<'a> {
    /// The output (after its activation).
    pub output: ArrayViewD<'a, f32>,
    /// The cached logits, when the output came from a softmax or sigmoid activation.
    pub logits: Option<Logits<'a>>,
}

impl<'a> Prediction<'a> {
    /// An output without cached logits.
    pub fn new(output: ArrayViewD<'a, f32>) -> Self {
        Prediction {
            output,
            logits: None,
        }
    }

    /// An output with the logits its activation cached.
    pub fn with_logits(
        output: ArrayViewD<'a, f32>,
        logits: ArrayViewD<'a, f32>,
        activation: Activation,
    ) -> Self {
        Prediction {
            output,
            logits: Some(Logits {
                values: logits,
                activation,
            }),
        }
    }
}

/// What a loss gradient is taken with respect to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrt {
    /// The output ([`Prediction::output`]).
    Output,
    /// The cached logits ([`Prediction::logits`]).
    Logits,
}

/// Per-entry losses (Keras' `Loss.call` result) and the gradient of each entry's loss.
#[derive(Debug, Clone)]
pub struct PerEntry {
    /// One loss per entry: the output's shape without the axes the loss averages or sums over.
    pub values: ArrayD<f32>,
    /// The gradient of each entry's loss w.r.t. the input it used ([`PerEntry::wrt`]), of that
    /// input's shape: every element belongs to exactly one entry.
    pub grad: ArrayD<f32>,
    /// What `grad` is taken with respect to.
    pub wrt: Wrt,
    /// The axes of `grad` that `values` does not have, ascending.
    pub reduced_axes: Vec<usize>,
    /// Keras' mask on the values (set by `ignore_class`); combined with the output's mask.
    pub mask: Option<ArrayD<bool>>,
}

/// Keras' loss reduction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reduction {
    /// The default: the weighted sum divided by the NUMBER of entries (not the sum of weights);
    /// with a mask, valid entries are weighted `total / valid`, so the divisor is the number of
    /// valid entries.
    SumOverBatchSize,
    /// The weighted sum.
    Sum,
    /// Like `SumOverBatchSize`.
    Mean,
    /// The weighted sum divided by the sum of the (masked) sample weights.
    MeanWithSampleWeight,
    /// No reduction: not usable for training ([`reduce`] returns an error).
    None,
}

impl Reduction {
    /// Keras' name of the reduction.
    pub fn as_str(self) -> &'static str {
        match self {
            Reduction::SumOverBatchSize => "sum_over_batch_size",
            Reduction::Sum => "sum",
            Reduction::Mean => "mean",
            Reduction::MeanWithSampleWeight => "mean_with_sample_weight",
            Reduction::None => "none",
        }
    }

    /// Parses Keras' reduction names (`null` and `"none"` are [`Reduction::None`]).
    pub fn from_keras(v: Option<&str>) -> Result<Reduction> {
        Ok(match v {
            Some("sum_over_batch_size") => Reduction::SumOverBatchSize,
            Some("sum") => Reduction::Sum,
            Some("mean") => Reduction::Mean,
            Some("mean_with_sample_weight") => Reduction::MeanWithSampleWeight,
            None | Some("none") => Reduction::None,
            Some(other) => {
                return Err(config_err(format!(
                    "loss reduction {}: expected sum_over_batch_size, sum, mean, mean_with_sample_weight or none",
                    quote(other)
                )))
            }
        })
    }

    fn to_json(self) -> Value {
        match self {
            Reduction::None => Value::Null,
            r => Value::from(r.as_str()),
        }
    }
}

/// A Keras loss.
pub trait Loss: Send + Sync + std::fmt::Debug {
    /// The name Keras logs it under: `categorical_crossentropy`, `mse`, `huber_loss`, …
    fn name(&self) -> &str;

    /// The identifier Keras saves in a compile config: the string it was given, or the
    /// serialized object (`keras.losses.serialize`).
    fn config(&self) -> Value;

    /// The reduction [`Loss::compute`] applies.
    fn reduction(&self) -> Reduction;

    /// Per-entry losses and the gradient of each w.r.t. the output, or w.r.t. the logits when
    /// the loss used them.
    fn per_entry(&self, y_true: ArrayViewD<'_, f32>, pred: &Prediction<'_>) -> Result<PerEntry>;

    /// The reduced loss and its gradient: [`Loss::per_entry`] then [`reduce`] with this loss's
    /// reduction. `mask` is the output's Keras mask; `sample_weight` broadcasts as in Keras.
    fn compute(
        &self,
        y_true: ArrayViewD<'_, f32>,
        pred: &Prediction<'_>,
        sample_weight: Option<ArrayViewD<'_, f32>>,
        mask: Option<ArrayViewD<'_, bool>>,
    ) -> Result<LossValue> {
        reduce(
            self.per_entry(y_true, pred)?,
            sample_weight,
            mask,
            self.reduction(),
        )
    }
}

/// Name, reduction and config identity shared by all losses.
#[derive(Debug, Clone)]
pub(crate) struct LossBase {
    pub name: String,
    pub reduction: Reduction,
    /// The string the loss was created from (its config), if any.
    pub identifier: Option<String>,
}

impl LossBase {
    pub(crate) fn new(name: &str) -> Self {
        LossBase {
            name: name.to_string(),
            reduction: Reduction::SumOverBatchSize,
            identifier: None,
        }
    }

    /// Reads `name`, `reduction` and `dtype` (float32 only).
    pub(crate) fn read(&mut self, c: &mut ConfigReader<'_>) -> Result<()> {
        if let Some(name) = c.opt_str("name")? {
            self.name = name;
        }
        if c.contains("reduction") {
            self.reduction = Reduction::from_keras(c.opt_str("reduction")?.as_deref())?;
        }
        c.float32_dtype()
    }

    /// Keras' `Loss.get_config` entries.
    pub(crate) fn config_map(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("name".into(), Value::from(self.name.clone()));
        m.insert("reduction".into(), self.reduction.to_json());
        m
    }

    /// The config: the original string, or the serialized object.
    pub(crate) fn config(&self, class_name: &str, extra: Map<String, Value>) -> Value {
        match &self.identifier {
            Some(s) => Value::from(s.clone()),
            None => {
                let mut m = self.config_map();
                m.extend(extra);
                serialized("keras.losses", class_name, m)
            }
        }
    }
}

/// How a built-in loss type is created from a Keras config or identifier (written by
/// [`loss!`](macros::loss)).
pub(crate) trait Builtin: Loss + Sized + 'static {
    /// The Keras class name.
    const CLASS_NAME: &'static str;
    /// The name an instance of the class logs under by default.
    const DEFAULT_NAME: &'static str;
    /// An instance with this base and Keras' defaults for the options.
    fn with_base(base: LossBase) -> Self;
    /// Reads the base entries and the options of a serialized loss.
    fn from_reader(c: &mut ConfigReader<'_>) -> Result<Self>;
}

/// Keras' `call` of a built-in loss (what each loss file writes).
pub(crate) trait Call {
    /// The per-entry losses and their gradient, on `y_true` and `y_pred` after Keras' rank
    /// alignment.
    fn call(&self, a: Aligned) -> Result<PerEntry>;

    /// Checks the config entries that are neither options nor base entries (by default there
    /// are none).
    fn check_config(_c: &mut ConfigReader<'_>) -> Result<()> {
        Ok(())
    }
}

/// `y_true` and `y_pred` after Keras' `squeeze_or_expand_to_same_rank` (which
/// `LossFunctionWrapper.call` applies before every loss function).
pub(crate) struct Aligned {
    /// The loss' name for messages.
    pub what: &'static str,
    pub y_true: ArrayD<f32>,
    pub y_pred: ArrayD<f32>,
    /// The cached logits, kept only when `y_pred` was not reshaped.
    pub logits: Option<ArrayD<f32>>,
    pred_change: RankChange,
    pred_shape: Vec<usize>,
}

impl Aligned {
    /// The input a cross-entropy uses: the cached logits if any, else `y_pred` (logits only
    /// when `from_logits`).
    pub(crate) fn ce_input(&self, from_logits: bool) -> (&ArrayD<f32>, bool, Wrt) {
        match &self.logits {
            Some(l) => (l, true, Wrt::Logits),
            None => (&self.y_pred, from_logits, Wrt::Output),
        }
    }

    /// `y_true` broadcast to `y_pred`'s shape (regression losses subtract them).
    pub(crate) fn y_true_like_pred(&self) -> Result<ArrayD<f32>> {
        if self.y_true.shape() == self.y_pred.shape() {
            Ok(self.y_true.clone())
        } else {
            broadcast_to(self.y_true.view(), self.y_pred.shape(), self.what)
        }
    }

    /// Element losses and their gradients averaged over `axis`: the per-entry result.
    pub(crate) fn mean_over(
        &self,
        elem: ArrayD<f32>,
        grad: ArrayD<f32>,
        axis: usize,
        wrt: Wrt,
    ) -> Result<PerEntry> {
        let n = elem.shape()[axis] as f32;
        let values = elem.map_axis(Axis(axis), |lane| sum_f32(lane.iter().copied()) / n);
        let grad = grad.mapv(|g| g * (1.0 / n));
        self.finish(values, grad, wrt, vec![axis], None)
    }

    /// Maps a result computed on the aligned arrays back to the caller's shapes.
    pub(crate) fn finish(
        &self,
        values: ArrayD<f32>,
        grad: ArrayD<f32>,
        wrt: Wrt,
        mut reduced: Vec<usize>,
        mask: Option<ArrayD<bool>>,
    ) -> Result<PerEntry> {
        let grad = if wrt == Wrt::Output && self.pred_change != RankChange::None {
            let aligned_rank = grad.ndim();
            match self.pred_change {
                RankChange::SqueezedLast => reduced.push(aligned_rank),
                RankChange::ExpandedLast => {
                    let last = aligned_rank - 1;
                    if !reduced.contains(&last) {
                        return Err(input_err(format!(
                            "{}: y_pred of shape {} was expanded to match y_true but the loss does not reduce the added axis; give y_true and y_pred the same rank",
                            self.what,
                            shape_str(&self.pred_shape)
                        )));
                    }
                    reduced.retain(|&a| a != last);
                }
                RankChange::None => {}
            }
            grad.into_shape_with_order(ndarray::IxDyn(&self.pred_shape))
                .map_err(|e| input_err(format!("{}: reshaping the gradient: {e}", self.what)))?
        } else {
            grad
        };
        reduced.sort_unstable();
        Ok(PerEntry {
            values,
            grad,
            wrt,
            reduced_axes: reduced,
            mask,
        })
    }
}

/// `shape` without `axis`.
pub(crate) fn shape_without(shape: &[usize], axis: usize) -> Vec<usize> {
    shape
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != axis)
        .map(|(_, &d)| d)
        .collect()
}

/// Per-lane losses along `axis` of `x` and `t` (of the same shape): `f(x lane, t lane, gradient
/// lane)` returns the lane's loss and writes its gradient.
pub(crate) fn per_lane(
    x: &ArrayD<f32>,
    t: &ArrayD<f32>,
    axis: usize,
    mut f: impl FnMut(ArrayView1<'_, f32>, ArrayView1<'_, f32>, ArrayViewMut1<'_, f32>) -> f32,
) -> (ArrayD<f32>, ArrayD<f32>) {
    let mut values = ArrayD::<f32>::zeros(IxDyn(&shape_without(x.shape(), axis)));
    let mut grad = ArrayD::<f32>::zeros(IxDyn(x.shape()));
    Zip::from(&mut values)
        .and(x.lanes(Axis(axis)))
        .and(t.lanes(Axis(axis)))
        .and(grad.lanes_mut(Axis(axis)))
        .for_each(|v, x, t, g| *v = f(x, t, g));
    (values, grad)
}

/// Applies Keras' rank alignment of `y_true` and `y_pred`.
pub(crate) fn align(
    y_true: ArrayViewD<'_, f32>,
    pred: &Prediction<'_>,
    what: &'static str,
) -> Result<Aligned> {
    if let Some(l) = &pred.logits {
        if l.values.shape() != pred.output.shape() {
            return Err(input_err(format!(
                "{what}: logits of shape {} do not match the output's shape {}",
                shape_str(l.values.shape()),
                shape_str(pred.output.shape())
            )));
        }
    }
    let (ct, cp) = squeeze_or_expand(y_true.shape(), pred.output.shape(), true);
    let y_true = apply_change(y_true.to_owned(), ct);
    let pred_shape = pred.output.shape().to_vec();
    let y_pred = apply_change(pred.output.to_owned(), cp);
    debug_assert_eq!(y_pred.shape(), changed_shape(&pred_shape, cp).as_slice());
    let logits = if cp == RankChange::None {
        pred.logits.as_ref().map(|l| l.values.to_owned())
    } else {
        None
    };
    Ok(Aligned {
        what,
        y_true,
        y_pred,
        logits,
        pred_change: cp,
        pred_shape,
    })
}

/// Builds a loss from a Keras identifier: a name (`"mse"`, `"categorical_crossentropy"`,
/// `"CategoricalCrossentropy"`, …) or a serialized loss. `"crossentropy"`/`"ce"` depend on the
/// shapes: use [`loss_for_shapes`].
pub fn loss_from_config(v: &Value) -> Result<Box<dyn Loss>> {
    match identifier(v, "loss")? {
        Identifier::Name(name) => loss_from_name(name),
        Identifier::Object {
            class_name,
            mut config,
        } => {
            let entry = builtins()
                .into_iter()
                .find(|e| e.class == class_name)
                .ok_or_else(|| unsupported(class_name))?;
            let loss = (entry.read)(&mut config)?;
            config.finish()?;
            Ok(loss)
        }
    }
}

/// Like [`loss_from_config`], and also resolves `"crossentropy"`/`"ce"` from the shapes as
/// Keras' `compile` does: binary if `y_pred`'s last axis is 1, sparse if `y_true` has a lower
/// rank (or a last axis of 1 against more classes), else categorical.
pub fn loss_for_shapes(
    v: &Value,
    y_true_shape: &[usize],
    y_pred_shape: &[usize],
) -> Result<Box<dyn Loss>> {
    if let Some(name) = v.as_str() {
        if name.eq_ignore_ascii_case("crossentropy") || name.eq_ignore_ascii_case("ce") {
            let (binary, sparse) = binary_or_sparse(y_true_shape, y_pred_shape);
            let base = LossBase {
                name: name.to_string(),
                reduction: Reduction::SumOverBatchSize,
                identifier: Some(name.to_string()),
            };
            return Ok(if binary {
                Box::new(BinaryCrossentropy::with_base(base))
            } else if sparse {
                Box::new(SparseCategoricalCrossentropy::with_base(base))
            } else {
                Box::new(CategoricalCrossentropy::with_base(base))
            });
        }
    }
    loss_from_config(v)
}

/// Keras' `is_binary_or_sparse_categorical`.
pub(crate) fn binary_or_sparse(y_true_shape: &[usize], y_pred_shape: &[usize]) -> (bool, bool) {
    let t_last = y_true_shape.last().copied();
    let p_last = y_pred_shape.last().copied();
    let binary = p_last == Some(1);
    let sparse = y_true_shape.len() < y_pred_shape.len()
        || (t_last == Some(1) && p_last.is_some_and(|p| p > 1));
    (binary, sparse)
}

fn unsupported(name: &str) -> tensorweave_core::Error {
    config_err(format!(
        "loss {}: not supported; use categorical_crossentropy, sparse_categorical_crossentropy, binary_crossentropy, mse, mae, huber, kl_divergence, hinge or cosine_similarity (or their classes)",
        quote(name)
    ))
}

/// A built-in loss class: how a config or a name creates it, and the names `compile` accepts
/// for it besides the class name (Keras' function names and aliases).
struct Entry {
    class: &'static str,
    default_name: &'static str,
    names: &'static [&'static str],
    read: fn(&mut ConfigReader<'_>) -> Result<Box<dyn Loss>>,
    with_base: fn(LossBase) -> Box<dyn Loss>,
}

impl Entry {
    fn of<T: Builtin>(names: &'static [&'static str]) -> Entry {
        Entry {
            class: T::CLASS_NAME,
            default_name: T::DEFAULT_NAME,
            names,
            read: |c| Ok(Box::new(T::from_reader(c)?)),
            with_base: |base| Box::new(T::with_base(base)),
        }
    }
}

/// Every built-in loss.
fn builtins() -> [Entry; 9] {
    [
        Entry::of::<CategoricalCrossentropy>(&["categorical_crossentropy"]),
        Entry::of::<SparseCategoricalCrossentropy>(&["sparse_categorical_crossentropy"]),
        Entry::of::<BinaryCrossentropy>(&["binary_crossentropy", "bce", "BCE"]),
        Entry::of::<MeanSquaredError>(&["mean_squared_error", "mse", "MSE"]),
        Entry::of::<MeanAbsoluteError>(&["mean_absolute_error", "mae", "MAE"]),
        Entry::of::<Huber>(&["huber"]),
        Entry::of::<KlDivergence>(&["kl_divergence", "kld", "KLD"]),
        Entry::of::<Hinge>(&["hinge"]),
        Entry::of::<CosineSimilarity>(&["cosine_similarity"]),
    ]
}

fn loss_from_name(name: &str) -> Result<Box<dyn Loss>> {
    if name == "crossentropy" || name == "ce" {
        return Err(config_err(format!(
            "loss {}: depends on the shapes of y_true and y_pred; resolve it with loss_for_shapes",
            quote(name)
        )));
    }
    let entry = builtins()
        .into_iter()
        .find(|e| e.class == name || e.names.contains(&name))
        .ok_or_else(|| unsupported(name))?;
    // A class name gives an instance with the class' default name; function names and aliases
    // are wrapped under the string itself, as `compile` does.
    let log_name = if name == entry.class {
        entry.default_name
    } else {
        name
    };
    Ok((entry.with_base)(LossBase {
        name: log_name.to_string(),
        reduction: Reduction::SumOverBatchSize,
        identifier: Some(name.to_string()),
    }))
}
