//! [`RunState`]: the values of one run of a [`Plan`], kept apart from the plan
//! (tract's `SimplePlan` / `SimpleState`), so one compiled model serves any
//! number of concurrent runs.

use crate::budget::MemoryBudget;
use crate::dtype::{format_shape, shape_matches, TensorSpec};
use crate::error::{Error, Result};
use crate::graph::Graph;
use crate::layer::{CallContext, Inputs, LayerRef};
use crate::plan::{Plan, Step};
use crate::value::Value;

/// A value slot: an input borrowed from the caller, or a value a step made.
enum Held<'a> {
    Borrowed(&'a Value),
    Owned(Value),
}

impl Held<'_> {
    fn get(&self) -> &Value {
        match self {
            Held::Borrowed(v) => v,
            Held::Owned(v) => v,
        }
    }
}

/// The values of one run: one slot per tensor of the plan, the inputs
/// borrowed, each intermediate freed after its last use (into the run's
/// [`crate::BufferPool`], when it has one, for later steps and calls).
pub struct RunState<'a> {
    slots: Vec<Option<Held<'a>>>,
    /// Slots whose time axis (axis 1) may be shorter than recorded: corpus
    /// mode cut padding off them ([`crate::corpus`]). Empty: none.
    cut_time: Vec<bool>,
}

impl<'a> RunState<'a> {
    /// A state for `plan` with its inputs in place (checked by the caller).
    pub fn new(plan: &Plan, inputs: &[&'a Value]) -> Self {
        let mut slots: Vec<Option<Held<'a>>> = (0..plan.n_slots()).map(|_| None).collect();
        for (&slot, value) in plan.input_slots().iter().zip(inputs) {
            slots[slot] = Some(Held::Borrowed(value));
        }
        RunState {
            slots,
            cut_time: Vec::new(),
        }
    }

    /// The same state, with the slots flagged in `cut_time` (one flag per
    /// slot) allowed a time axis shorter than the graph recorded.
    pub(crate) fn with_cut_time(mut self, cut_time: Vec<bool>) -> Self {
        self.cut_time = cut_time;
        self
    }

    fn fetch(&self, slot: usize, layer: &LayerRef) -> Result<&Value> {
        self.slots
            .get(slot)
            .and_then(Option::as_ref)
            .map(Held::get)
            .ok_or_else(|| {
                Error::Graph(format!(
                    "internal: value for layer '{}' was freed too early",
                    layer.name()
                ))
            })
    }

    /// Runs every step of `plan` and returns the model's outputs.
    pub fn run(
        mut self,
        graph: &Graph,
        plan: &Plan,
        ctx: &CallContext,
        model: &str,
    ) -> Result<Vec<Value>> {
        let batch = plan
            .input_slots()
            .first()
            .and_then(|&s| self.slots[s].as_ref())
            .and_then(|h| h.get().shape().first().copied())
            .unwrap_or(0);
        for step in plan.steps() {
            if step.is_deferred() {
                // Run by its consumer, or on its behalf when it declines.
                continue;
            }
            let outputs = match step.lookup().and_then(|l| plan.steps().get(l)) {
                Some(lookup) => self.run_on_lookup(graph, lookup, step, ctx, batch)?,
                None => self.run_step(graph, step, ctx, batch)?,
            };
            for (&slot, value) in step.outputs().iter().zip(outputs) {
                self.slots[slot] = Some(Held::Owned(value));
            }
            for &slot in step.free_after() {
                if let (Some(Held::Owned(value)), Some(pool)) = (self.slots[slot].take(), &ctx.pool)
                {
                    pool.recycle(value);
                }
            }
        }
        let outputs = plan.output_slots();
        let mut results = Vec::with_capacity(outputs.len());
        for (i, &slot) in outputs.iter().enumerate() {
            let used_again = outputs[i + 1..].contains(&slot);
            let held = if used_again {
                self.slots[slot]
                    .as_ref()
                    .map(|h| Held::Owned(h.get().clone()))
            } else {
                self.slots[slot].take()
            };
            let value = match held {
                Some(Held::Owned(v)) => v,
                Some(Held::Borrowed(v)) => v.clone(),
                None => {
                    return Err(Error::Graph(format!(
                        "internal: output {i} of model '{model}' was not computed"
                    )))
                }
            };
            results.push(value);
        }
        Ok(results)
    }
}

impl RunState<'_> {
    /// Calls the layer of `step` on its inputs and checks the outputs.
    fn run_step(
        &self,
        graph: &Graph,
        step: &Step,
        ctx: &CallContext,
        batch: usize,
    ) -> Result<Vec<Value>> {
        let layer = graph.layer(step.layer());
        let node = graph.node(step.node());
        check_budget(layer, node.output_specs(), batch, ctx.budget)?;
        let outputs = {
            let ins = step
                .inputs()
                .iter()
                .map(|&s| self.fetch(s, layer))
                .collect::<Result<Vec<_>>>()?;
            let masks = step
                .masks()
                .iter()
                .map(|m| m.map(|s| self.fetch(s, layer)).transpose())
                .collect::<Result<Vec<_>>>()?;
            layer
                .read()
                .call(&Inputs::new(ins, masks).with_options(node.options()), ctx)
                .map_err(|e| e.in_layer(layer.name(), layer.class_name()))?
        };
        self.check(layer, step, node.output_specs(), &outputs)?;
        Ok(outputs)
    }

    /// Runs `step`, whose input 0 is the output of the deferred `lookup`:
    /// gives the layer the lookup's ids when it accepts them
    /// ([`crate::Layer::accepts_lookup`]); otherwise runs the lookup and then
    /// the step as usual.
    fn run_on_lookup(
        &mut self,
        graph: &Graph,
        lookup: &Step,
        step: &Step,
        ctx: &CallContext,
        batch: usize,
    ) -> Result<Vec<Value>> {
        let layer = graph.layer(step.layer());
        let node = graph.node(step.node());
        let lookup_layer = graph.layer(lookup.layer());
        let ids = match lookup.inputs().first() {
            Some(&ids) => Some(self.fetch(ids, layer)?),
            None => None,
        };
        let accepted = ids.filter(|ids| layer.read().accepts_lookup(lookup_layer, ids));
        let Some(ids) = accepted else {
            let looked_up = self.run_step(graph, lookup, ctx, batch)?;
            for (&slot, value) in lookup.outputs().iter().zip(looked_up) {
                self.slots[slot] = Some(Held::Owned(value));
            }
            return self.run_step(graph, step, ctx, batch);
        };
        check_budget(layer, node.output_specs(), batch, ctx.budget)?;
        let mut ins = vec![ids];
        for &s in step.inputs().iter().skip(1) {
            ins.push(self.fetch(s, layer)?);
        }
        let masks = step
            .masks()
            .iter()
            .map(|m| m.map(|s| self.fetch(s, layer)).transpose())
            .collect::<Result<Vec<_>>>()?;
        let inputs = Inputs::new(ins, masks).with_options(node.options());
        let outputs = layer
            .read()
            .call_on_lookup(lookup_layer, &inputs, ctx)
            .map_err(|e| e.in_layer(layer.name(), layer.class_name()))?;
        self.check(layer, step, node.output_specs(), &outputs)?;
        Ok(outputs)
    }

    /// [`check_outputs`], the outputs corpus mode cut allowed a shorter
    /// time axis.
    fn check(
        &self,
        layer: &LayerRef,
        step: &Step,
        specs: &[TensorSpec],
        outputs: &[Value],
    ) -> Result<()> {
        let cut = |i: usize| {
            step.outputs()
                .get(i)
                .is_some_and(|&s| self.cut_time.get(s).copied().unwrap_or(false))
        };
        check_outputs_cut(layer, specs, outputs, cut)
    }
}

/// Refuses a step whose outputs would exceed the memory budget, judged from
/// the recorded specs with the batch size filled in (other unknown axes count
/// as 1, so the check never refuses a step that fits).
fn check_budget(
    layer: &LayerRef,
    specs: &[TensorSpec],
    batch: usize,
    budget: MemoryBudget,
) -> Result<()> {
    let mut total: u64 = 0;
    for spec in specs {
        let dims: Vec<usize> = spec
            .shape
            .iter()
            .enumerate()
            .map(|(i, d)| d.unwrap_or(if i == 0 { batch } else { 1 }))
            .collect();
        let what = format!("the output {}", format_shape(&spec.shape));
        total = total.saturating_add(MemoryBudget::bytes_for(&what, &dims, 4)?);
    }
    budget
        .check("its outputs", total)
        .map_err(|e| Error::layer(layer.name(), layer.class_name(), e.to_string()))
}

pub(crate) fn check_outputs(
    layer: &LayerRef,
    specs: &[TensorSpec],
    outputs: &[Value],
) -> Result<()> {
    check_outputs_cut(layer, specs, outputs, |_| false)
}

/// [`check_outputs`], output `i` allowed any length along axis 1 when
/// `cut(i)` (corpus mode cut its padding).
fn check_outputs_cut(
    layer: &LayerRef,
    specs: &[TensorSpec],
    outputs: &[Value],
    cut: impl Fn(usize) -> bool,
) -> Result<()> {
    if specs.len() != outputs.len() {
        return Err(Error::layer(
            layer.name(),
            layer.class_name(),
            format!(
                "returned {} outputs, its call recorded {}",
                outputs.len(),
                specs.len()
            ),
        ));
    }
    for (i, (spec, v)) in specs.iter().zip(outputs).enumerate() {
        let shape_ok = if cut(i) {
            shape_matches(&free_time_axis(&spec.shape), v.shape())
        } else {
            shape_matches(&spec.shape, v.shape())
        };
        if spec.dtype != v.dtype() || !shape_ok {
            return Err(Error::layer(
                layer.name(),
                layer.class_name(),
                format!(
                    "output {i} is {:?} {}, but the graph expects {} {}; the input arrays do not fit this model",
                    v.shape(),
                    v.dtype(),
                    format_shape(&spec.shape),
                    spec.dtype
                ),
            ));
        }
    }
    Ok(())
}

/// `shape` with axis 1 (time) left open.
pub(crate) fn free_time_axis(shape: &[Option<usize>]) -> Vec<Option<usize>> {
    let mut open = shape.to_vec();
    if let Some(t) = open.get_mut(1) {
        *t = None;
    }
    open
}
