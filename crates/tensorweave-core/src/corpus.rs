//! Corpus mode: [`Model::predict_corpus`] scores many rows of varying length
//! (a corpus of reviews, each padded to the model's length) by sorting them
//! by length, running batches of similar length on all cores, cutting off
//! the padding columns a whole batch shares when that provably changes no
//! output, and returning the outputs in the caller's order.
//!
//! The cut is decided once per model by an analysis of the graph (`TrimPlan::analyse`), from the
//! [`TimeRole`] each layer declares: padding is cut from an input only when
//! every layer its time axis reaches is per-step or a masked recurrence
//! reading a mask that is `false` at zero tokens, and no model output keeps
//! the time axis. Any other layer keeps the full length (the rows are still
//! sorted and run in parallel).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;

use ndarray::{ArrayD, Axis, Slice};

use crate::dtype::{DType, TensorSpec};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::layer::{CallContext, TimeRole};
use crate::model::Model;
use crate::plan::Plan;
use crate::value::Value;

/// How a slot relates to the time axis of the input being analysed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Timed {
    /// The input itself: zero at the padding.
    Raw,
    /// Derived per step: its values at padding steps are never read.
    Steps,
    /// A mask that is `false` at every padding step.
    MaskFalse,
}

/// Which inputs corpus mode may cut, and the slots that then carry a
/// shorter time axis.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrimPlan {
    /// One flag per model input.
    pub(crate) inputs: Vec<bool>,
    /// One flag per plan slot.
    pub(crate) slots: Vec<bool>,
}

impl TrimPlan {
    /// Works out which inputs' padding can be cut without changing any
    /// output (see the module documentation).
    pub(crate) fn analyse(graph: &Graph, plan: &Plan) -> TrimPlan {
        let specs = slot_specs(graph, plan);
        let n_inputs = plan.input_slots().len();
        let mut trim = TrimPlan {
            inputs: vec![false; n_inputs],
            slots: vec![false; plan.n_slots()],
        };
        let mut owner: Vec<Option<usize>> = vec![None; plan.n_slots()];
        for (i, &slot) in plan.input_slots().iter().enumerate() {
            let Some(timed) = timed_slots(graph, plan, &specs, slot) else {
                continue;
            };
            // Two cut inputs whose time axes meet would be cut to different
            // lengths: keep both whole.
            if timed.iter().any(|&s| owner[s].is_some()) {
                return TrimPlan {
                    inputs: vec![false; n_inputs],
                    slots: vec![false; plan.n_slots()],
                };
            }
            for &s in &timed {
                owner[s] = Some(i);
                trim.slots[s] = true;
            }
            trim.inputs[i] = true;
        }
        trim
    }

    /// Whether any input can be cut.
    pub(crate) fn cuts_any(&self) -> bool {
        self.inputs.iter().any(|&c| c)
    }
}

/// The recorded spec of every slot of `plan`.
fn slot_specs(graph: &Graph, plan: &Plan) -> Vec<Option<TensorSpec>> {
    let mut specs = vec![None; plan.n_slots()];
    for (&slot, &t) in plan.input_slots().iter().zip(graph.inputs()) {
        specs[slot] = Some(graph.spec(t).clone());
    }
    for step in plan.steps() {
        let node = graph.node(step.node());
        for (&slot, spec) in step.outputs().iter().zip(node.output_specs()) {
            specs[slot] = Some(spec.clone());
        }
    }
    specs
}

/// The slots that carry the time axis of the input in `input_slot`, when
/// cutting its padding provably changes no output; `None` otherwise.
fn timed_slots(
    graph: &Graph,
    plan: &Plan,
    specs: &[Option<TensorSpec>],
    input_slot: usize,
) -> Option<Vec<usize>> {
    let rank = |s: usize| specs[s].as_ref().map_or(0, |spec| spec.shape.len());
    let spec = specs[input_slot].as_ref()?;
    if spec.shape.len() < 2 || !matches!(spec.dtype, DType::I32 | DType::F32) {
        return None;
    }
    let mut state: Vec<Option<Timed>> = vec![None; plan.n_slots()];
    state[input_slot] = Some(Timed::Raw);
    for step in plan.steps() {
        let timed_in: Vec<usize> = (0..step.inputs().len())
            .filter(|&k| state[step.inputs()[k]].is_some())
            .collect();
        let timed_mask = step.masks().iter().flatten().any(|&m| state[m].is_some());
        if timed_in.is_empty() && !timed_mask {
            continue;
        }
        let outputs = step.outputs();
        match graph.layer(step.layer()).read().time_role() {
            TimeRole::Unknown => return None,
            role @ (TimeRole::PerElement | TimeRole::FalseAtZero | TimeRole::PerVector) => {
                // Every input must share the time axis (a whole-length
                // operand would no longer line up).
                if timed_in.len() != step.inputs().len() {
                    return None;
                }
                if role == TimeRole::PerVector
                    && timed_in.iter().any(|&k| rank(step.inputs()[k]) < 3)
                {
                    return None;
                }
                let from_raw = step.inputs().iter().all(|&s| state[s] == Some(Timed::Raw));
                let out = if role == TimeRole::FalseAtZero && from_raw {
                    Timed::MaskFalse
                } else {
                    Timed::Steps
                };
                for &s in outputs {
                    state[s] = Some(out);
                }
            }
            TimeRole::MaskedScan { sequences } => {
                let mask_false = step
                    .masks()
                    .first()
                    .copied()
                    .flatten()
                    .is_some_and(|m| state[m] == Some(Timed::MaskFalse));
                let other_masks = step
                    .masks()
                    .iter()
                    .skip(1)
                    .flatten()
                    .any(|&m| state[m].is_some());
                if timed_in != [0] || !mask_false || other_masks || rank(step.inputs()[0]) < 3 {
                    return None;
                }
                if sequences {
                    if let Some(&s) = outputs.first() {
                        state[s] = Some(Timed::Steps);
                    }
                }
            }
        }
    }
    if plan.output_slots().iter().any(|&s| state[s].is_some()) {
        return None;
    }
    Some(
        (0..plan.n_slots())
            .filter(|&s| state[s].is_some())
            .collect(),
    )
}

/// The columns `[first, last]` of row `r` of `a` (rank ≥ 2) holding a
/// non-zero element, or `None` for a row of zeros.
fn nonzero_span<T: PartialEq + Default>(a: &ArrayD<T>, r: usize) -> Option<(usize, usize)> {
    let row = a.index_axis(Axis(0), r);
    let zero = T::default();
    let busy = |t: usize| row.index_axis(Axis(0), t).iter().any(|x| *x != zero);
    let steps = row.shape().first().copied().unwrap_or(0);
    let first = (0..steps).find(|&t| busy(t))?;
    let last = (first..steps).rev().find(|&t| busy(t)).unwrap_or(first);
    Some((first, last))
}

/// The span of row `r` of an input along its time axis (`None`: not a
/// sequence input, or all padding).
fn row_span(v: &Value, r: usize) -> Option<(usize, usize)> {
    if v.shape().len() < 2 {
        return None;
    }
    match v {
        Value::I32(a) => nonzero_span(a, r),
        Value::F32(a) => nonzero_span(a, r),
        _ => None,
    }
}

/// Columns `lo..hi` of axis 1.
fn cut_time(v: &Value, lo: usize, hi: usize) -> Value {
    let s = Slice::from(lo..hi);
    match v {
        Value::I32(a) => Value::I32(a.slice_axis(Axis(1), s).to_owned()),
        Value::F32(a) => Value::F32(a.slice_axis(Axis(1), s).to_owned()),
        other => other.clone(),
    }
}

/// One batch of corpus mode: which rows (in the caller's numbering) and
/// the inputs to run.
struct Batch {
    rows: Vec<usize>,
    inputs: Vec<Value>,
}

impl Model {
    /// Scores a corpus: all rows, `batch_size` at a time, in batches of rows
    /// of similar length run on all cores; the outputs come back in the
    /// caller's row order, as [`Model::predict_in_batches`] returns them.
    ///
    /// Rows are sorted by the span of their non-zero tokens (longest first),
    /// so a batch pads little. When the model provably ignores padding (the
    /// tokens reach only per-step layers and masked recurrences, through an
    /// `Embedding(mask_zero=True)`, and no output keeps the time axis) the
    /// columns that are zero in every row of a batch are cut off before it
    /// runs; otherwise the full length runs. The outputs equal those of
    /// [`Model::predict`] up to float rounding (the products see other
    /// row counts).
    ///
    /// A model with a stateful layer runs its rows in the caller's order
    /// instead (its states follow the row positions), as
    /// [`Model::predict_in_batches`] does. Peak memory is one batch per
    /// thread plus the joined outputs.
    ///
    /// ```
    /// use tensorweave_core::{Input, Model, Value};
    /// let x = Input::new([3]).build();
    /// let model = Model::new(&[x.clone()], &[x]).unwrap();
    /// let rows = Value::from(ndarray::Array2::<f32>::from_shape_fn((10, 3), |(r, c)| (r * c) as f32));
    /// let out = model.predict_corpus(&[rows.clone()], 4).unwrap();
    /// assert_eq!(out[0], rows); // the caller's order
    /// ```
    ///
    /// Fails as [`Model::predict_in_batches`] does; a failing batch names
    /// its rows.
    pub fn predict_corpus(&self, inputs: &[Value], batch_size: usize) -> Result<Vec<Value>> {
        self.predict_corpus_with(inputs, batch_size, &CallContext::default(), |_, _| {})
    }

    /// [`Model::predict_corpus`] with explicit run options (`ctx.threads`
    /// batches run at once); `progress` is called on the calling thread after
    /// each batch with (batches done, batches in all).
    pub fn predict_corpus_with(
        &self,
        inputs: &[Value],
        batch_size: usize,
        ctx: &CallContext,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Value>> {
        if self.layers().iter().any(|l| l.read().carries_state()) {
            return self.predict_in_batches_with(inputs, batch_size, ctx, progress);
        }
        let n = self.common_rows(inputs, batch_size)?;
        if n == 0 {
            let outs = self.predict_with(inputs, ctx)?;
            progress(1, 1);
            return Ok(outs);
        }
        let core = self.core();
        let trim = TrimPlan::analyse(core.graph(), core.plan());
        let spans: Vec<Vec<Option<(usize, usize)>>> = (0..n)
            .map(|r| inputs.iter().map(|v| row_span(v, r)).collect())
            .collect();
        let length = |r: usize| -> usize {
            spans[r]
                .iter()
                .flatten()
                .map(|&(first, last)| last - first + 1)
                .sum()
        };
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&r| std::cmp::Reverse(length(r)));
        let batches: Vec<&[usize]> = order.chunks(batch_size).collect();
        let make_batch = |rows: &[usize]| -> Result<Batch> {
            let mut batch_inputs = Vec::with_capacity(inputs.len());
            for (i, v) in inputs.iter().enumerate() {
                let picked = v.select_rows(rows)?;
                let cut = if trim.inputs.get(i).copied().unwrap_or(false) {
                    let steps = v.shape()[1];
                    let lo = rows.iter().filter_map(|&r| spans[r][i]).map(|s| s.0).min();
                    let hi = rows
                        .iter()
                        .filter_map(|&r| spans[r][i])
                        .map(|s| s.1 + 1)
                        .max();
                    // All padding: one (masked) step keeps every shape valid.
                    let (lo, hi) = match (lo, hi) {
                        (Some(lo), Some(hi)) => (lo, hi),
                        _ => (0, 1.min(steps)),
                    };
                    if (lo, hi) == (0, steps) {
                        picked
                    } else {
                        cut_time(&picked, lo, hi)
                    }
                } else {
                    picked
                };
                batch_inputs.push(cut);
            }
            Ok(Batch {
                rows: rows.to_vec(),
                inputs: batch_inputs,
            })
        };
        let workers = ctx.threads.max(1).min(batches.len());
        let inner = CallContext {
            threads: (ctx.threads / workers).max(1),
            ..ctx.clone()
        };
        let run_batch = |b: &Batch| -> Result<Vec<Value>> {
            let refs: Vec<&Value> = b.inputs.iter().collect();
            if trim.cuts_any() {
                core.run_cut(&refs, &inner, self.name(), &trim.inputs, trim.slots.clone())
            } else {
                core.run(&refs, &inner, self.name())
            }
        };
        let total = batches.len();
        let mut results: Vec<Option<Vec<Value>>> = (0..total).map(|_| None).collect();
        let next = AtomicUsize::new(0);
        let abort = AtomicBool::new(false);
        let (send, receive) = mpsc::channel::<(usize, Result<Vec<Value>>)>();
        let mut failure: Option<Error> = None;
        std::thread::scope(|scope| {
            for _ in 0..workers {
                let send = send.clone();
                let (next, abort, batches) = (&next, &abort, &batches);
                let (make_batch, run_batch) = (&make_batch, &run_batch);
                scope.spawn(move || loop {
                    let b = next.fetch_add(1, Ordering::Relaxed);
                    if b >= batches.len() || abort.load(Ordering::Relaxed) {
                        break;
                    }
                    let out = make_batch(batches[b]).and_then(|batch| {
                        run_batch(&batch).map_err(|e| e.with_prefix(&describe_rows(&batch.rows, n)))
                    });
                    if out.is_err() {
                        abort.store(true, Ordering::Relaxed);
                    }
                    if send.send((b, out)).is_err() {
                        break;
                    }
                });
            }
            drop(send);
            let mut done = 0;
            for (b, out) in receive {
                match out {
                    Ok(outs) => {
                        results[b] = Some(outs);
                        done += 1;
                        progress(done, total);
                    }
                    Err(e) => {
                        if failure.is_none() {
                            failure = Some(e);
                        }
                    }
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        let results: Vec<Vec<Value>> = results
            .into_iter()
            .map(|r| r.ok_or_else(|| Error::Graph("internal: a corpus batch did not run".into())))
            .collect::<Result<_>>()?;
        // Joined in sorted order, then each row put back at its place.
        let mut position = vec![0usize; n];
        for (p, &r) in order.iter().enumerate() {
            position[r] = p;
        }
        let n_outputs = results.first().map_or(0, Vec::len);
        (0..n_outputs)
            .map(|k| {
                let parts: Vec<Value> = results.iter().map(|outs| outs[k].clone()).collect();
                Value::concat_rows(&parts)?.select_rows(&position)
            })
            .collect()
    }

    /// The number of rows all inputs share, checked as
    /// [`Model::predict_in_batches`] checks it.
    pub(crate) fn common_rows(&self, inputs: &[Value], batch_size: usize) -> Result<usize> {
        if batch_size == 0 {
            return Err(Error::Input(format!(
                "model '{}': batch_size must be at least 1",
                self.name()
            )));
        }
        let mut n = None;
        for (k, v) in inputs.iter().enumerate() {
            let rows = v.rows().ok_or_else(|| {
                Error::Input(format!(
                    "input {k} of model '{}' is a scalar; every input needs a batch axis",
                    self.name()
                ))
            })?;
            match n {
                Some(first) if first != rows => {
                    return Err(Error::Input(format!(
                        "inputs of model '{}' disagree on the number of rows: input 0 has {first}, input {k} has {rows}",
                        self.name()
                    )))
                }
                _ => n = Some(rows),
            }
        }
        Ok(n.unwrap_or(0))
    }
}

/// "rows 3, 17, 40 … (32 rows) of 1000": a corpus batch, for error messages.
fn describe_rows(rows: &[usize], of: usize) -> String {
    let mut sorted = rows.to_vec();
    sorted.sort_unstable();
    let shown: Vec<String> = sorted.iter().take(8).map(usize::to_string).collect();
    let more = if sorted.len() > 8 { " …" } else { "" };
    format!(
        "rows {}{more} ({} rows) of {of}",
        shown.join(", "),
        sorted.len()
    )
}

impl Model {
    /// Which inputs [`Model::predict_corpus`] cuts padding columns from (one
    /// flag per input): those whose time axis reaches only layers that
    /// provably ignore padding (see [`TimeRole`]).
    pub fn corpus_cuts_padding(&self) -> Vec<bool> {
        let core = self.core();
        TrimPlan::analyse(core.graph(), core.plan()).inputs
    }
}
