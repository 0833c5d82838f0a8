//! Training-mode runs and the backward pass of a model.
//!
//! [`crate::Model::forward_train`] runs the plan with [`Layer::call_train`], keeping every
//! step's outputs and saved state (a training step needs them all again, in
//! reverse). [`TrainRun::backward`] walks the steps in reverse: the gradient
//! reaching each value is summed over every step that read it (fan-out, shared
//! layers, a model called twice), handed to the producing layer's
//! [`Layer::backward`], and a step's outputs and state are freed as soon as its
//! backward has run (no earlier step reads them). Weight gradients are
//! collected by path in a [`Gradients`], never written into the layers. Masks
//! and integer values carry no gradient.
//!
//! [`Layer::call_train`]: crate::Layer::call_train
//! [`Layer::backward`]: crate::Layer::backward

use std::sync::Arc;

use ndarray::ArrayD;

use crate::error::{Error, Result};
use crate::grad::Gradients;
use crate::layer::{
    BackwardCall, CallContext, Inputs, LayerRef, Logits, OutputGrad, Saved, Trained,
};
use crate::model::ModelCore;
use crate::value::Value;
use crate::DType;

/// What one step kept for its backward.
struct StepRecord {
    saved: Saved,
    logits: Vec<Option<Logits>>,
}

/// The result of a backward pass.
#[derive(Debug, Default)]
pub struct Backprop {
    /// The gradients of the trainable weights, by path.
    pub weights: Gradients,
    /// The gradient of each model input (`None` for integer inputs).
    pub inputs: Vec<Option<ArrayD<f32>>>,
}

/// One training-mode forward pass of a model, ready for its backward.
pub struct TrainRun {
    core: Arc<ModelCore>,
    ctx: CallContext,
    slots: Vec<Option<Value>>,
    records: Vec<Option<StepRecord>>,
    /// Per slot: whether a gradient must reach it (it depends on a trainable
    /// weight or a float model input, and is float).
    wants_grad: Vec<bool>,
    activation_bytes: usize,
    updates: Vec<(String, ArrayD<f32>)>,
    /// Gradients added to intermediate values before the backward (activity
    /// regularizers), by slot.
    extra: Vec<(usize, ArrayD<f32>)>,
}

/// A layer output of a run whose layer has an activity regularizer
/// ([`crate::Layer::activity_regularizer`]).
#[derive(Debug)]
pub struct RegularizedOutput<'a> {
    /// The layer.
    pub layer: &'a LayerRef,
    /// Its activity regularizer, as Keras serializes it.
    pub regularizer: serde_json::Value,
    /// The output's value in this run.
    pub value: &'a Value,
    /// Where a gradient of the penalty goes ([`TrainRun::add_output_gradient`]).
    pub slot: OutputSlot,
}

/// The place of a layer output in a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputSlot(usize);

impl std::fmt::Debug for TrainRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrainRun")
            .field("activation_bytes", &self.activation_bytes)
            .finish_non_exhaustive()
    }
}

fn value_bytes(v: &Value) -> usize {
    let n: usize = v.shape().iter().product();
    n.saturating_mul(if v.dtype() == DType::Bool { 1 } else { 4 })
}

/// The value of `slot`, or an internal error naming the layer that needs it.
fn fetch<'a>(slots: &'a [Option<Value>], slot: usize, layer: &LayerRef) -> Result<&'a Value> {
    slots
        .get(slot)
        .and_then(Option::as_ref)
        .ok_or_else(|| missing_value(layer))
}

/// The error for a value the plan should have kept for `layer`.
fn missing_value(layer: &LayerRef) -> Error {
    Error::Graph(format!(
        "internal: a value for layer '{}' is missing",
        layer.name()
    ))
}

/// A step's input values and their masks.
type StepInputs<'a> = (Vec<&'a Value>, Vec<Option<&'a Value>>);

/// The input values and masks of `step`, from `slots`.
fn step_inputs<'a>(
    slots: &'a [Option<Value>],
    step: &crate::plan::Step,
    layer: &LayerRef,
) -> Result<StepInputs<'a>> {
    let ins = step
        .inputs()
        .iter()
        .map(|&s| fetch(slots, s, layer))
        .collect::<Result<Vec<_>>>()?;
    let masks = step
        .masks()
        .iter()
        .map(|m| m.map(|s| fetch(slots, s, layer)).transpose())
        .collect::<Result<Vec<_>>>()?;
    Ok((ins, masks))
}

fn has_trainable_weights(layer: &LayerRef) -> bool {
    let mut any = false;
    layer.visit_params(&mut |_, p| any |= p.trainable);
    any
}

impl TrainRun {
    /// Runs `core`'s plan in training mode on `inputs` (checked as `predict`
    /// checks them). `input_grads` says, per input, whether its gradient is
    /// wanted (a nested model's inputs); a model's own inputs need none.
    pub(crate) fn forward(
        core: Arc<ModelCore>,
        inputs: &[&Value],
        input_grads: &[bool],
        ctx: &CallContext,
        model: &str,
    ) -> Result<TrainRun> {
        Self::run_plan(core, inputs, input_grads, ctx, model, true)
    }

    /// Runs `core`'s plan in inference mode (each layer's `call`), keeping
    /// every value and mask: what evaluation reads (outputs and their
    /// masks). Its backward has nothing to work from.
    pub(crate) fn inference(
        core: Arc<ModelCore>,
        inputs: &[&Value],
        ctx: &CallContext,
        model: &str,
    ) -> Result<TrainRun> {
        Self::run_plan(core, inputs, &[], ctx, model, false)
    }

    fn run_plan(
        core: Arc<ModelCore>,
        inputs: &[&Value],
        input_grads: &[bool],
        ctx: &CallContext,
        model: &str,
        training: bool,
    ) -> Result<TrainRun> {
        let inputs = core.conform_inputs(inputs, model)?;
        let inputs: Vec<&Value> = inputs.iter().map(|v| v.as_ref()).collect();
        core.check_inputs(&inputs, model)?;
        let plan = core.plan();
        let graph = core.graph();
        let mut slots: Vec<Option<Value>> = vec![None; plan.n_slots()];
        let mut wants_grad = vec![false; plan.n_slots()];
        for (i, (&slot, value)) in plan.input_slots().iter().zip(inputs).enumerate() {
            slots[slot] = Some((*value).clone());
            wants_grad[slot] =
                input_grads.get(i).copied().unwrap_or(false) && value.dtype() == DType::F32;
        }
        let mut records = Vec::with_capacity(plan.steps().len());
        let mut updates = Vec::new();
        for step in plan.steps() {
            let layer = graph.layer(step.layer());
            let flows_in = step.inputs().iter().any(|&s| wants_grad[s]);
            let needed = training && (flows_in || has_trainable_weights(layer));
            if needed && !layer.read().has_backward() {
                return Err(Error::layer(
                    layer.name(),
                    layer.class_name(),
                    "has no backward pass, so the model cannot be trained through it; \
                     implement Layer::backward (and has_backward), or make the layers before \
                     it and its own weights non-trainable",
                ));
            }
            let trained = {
                let (ins, masks) = step_inputs(&slots, step, layer)?;
                let inputs =
                    Inputs::new(ins, masks).with_options(graph.node(step.node()).options());
                let guard = layer.read();
                let called = if training {
                    guard.call_train(&inputs, ctx)
                } else {
                    guard.call(&inputs, ctx).map(Trained::new)
                };
                called.map_err(|e| e.in_layer(layer.name(), layer.class_name()))?
            };
            crate::run::check_outputs(
                layer,
                graph.node(step.node()).output_specs(),
                &trained.outputs,
            )?;
            for (weight, value) in trained.updates {
                updates.push((format!("{}/{weight}", layer.name()), value));
            }
            for (&slot, value) in step.outputs().iter().zip(trained.outputs) {
                wants_grad[slot] = needed && value.dtype() == DType::F32;
                slots[slot] = Some(value);
            }
            records.push(Some(StepRecord {
                saved: trained.saved,
                logits: trained.logits,
            }));
        }
        let activation_bytes = slots
            .iter()
            .flatten()
            .map(value_bytes)
            .chain(records.iter().flatten().flat_map(|r| {
                r.logits
                    .iter()
                    .flatten()
                    .map(|l| l.values.len().saturating_mul(4))
            }))
            .sum();
        Ok(TrainRun {
            core,
            ctx: ctx.clone(),
            slots,
            records,
            wants_grad,
            activation_bytes,
            updates,
            extra: Vec::new(),
        })
    }

    /// Every output of a layer with an activity regularizer, in the order
    /// the layers ran (a layer called twice gives both calls' outputs).
    pub fn regularized_outputs(&self) -> Result<Vec<RegularizedOutput<'_>>> {
        let graph = self.core.graph();
        let mut out = Vec::new();
        for step in self.core.plan().steps() {
            let layer = graph.layer(step.layer());
            let Some(regularizer) = layer.read().activity_regularizer() else {
                continue;
            };
            for &slot in step.outputs() {
                let value = self.slots[slot]
                    .as_ref()
                    .ok_or_else(|| missing_value(layer))?;
                out.push(RegularizedOutput {
                    layer,
                    regularizer: regularizer.clone(),
                    value,
                    slot: OutputSlot(slot),
                });
            }
        }
        Ok(out)
    }

    /// Adds `gradient` to the gradient reaching a layer output in the coming
    /// backward (an activity penalty's); ignored when no trainable weight
    /// lies before the output.
    pub fn add_output_gradient(&mut self, slot: OutputSlot, gradient: ArrayD<f32>) {
        if self.wants_grad.get(slot.0).copied().unwrap_or(false) {
            self.extra.push((slot.0, gradient));
        }
    }

    /// The new values of non-trainable weights this run computed (moving
    /// statistics), by weight path, in the order the layers ran: what a
    /// training step writes into the model after the optimizer's update.
    pub fn state_updates(&self) -> &[(String, ArrayD<f32>)] {
        &self.updates
    }

    /// The model's outputs of this run (training mode), in output order.
    pub fn outputs(&self) -> Result<Vec<&Value>> {
        self.core
            .plan()
            .output_slots()
            .iter()
            .enumerate()
            .map(|(k, &s)| {
                self.slots[s].as_ref().ok_or_else(|| {
                    Error::Graph(format!("internal: output {k} of this run is gone"))
                })
            })
            .collect()
    }

    /// The logits output `k` was made from, when a softmax or sigmoid made it
    /// (what Keras' cross-entropies use instead of the probabilities).
    pub fn output_logits(&self, k: usize) -> Option<&Logits> {
        let plan = self.core.plan();
        let slot = *plan.output_slots().get(k)?;
        plan.steps().iter().enumerate().find_map(|(i, step)| {
            let j = step.outputs().iter().position(|&s| s == slot)?;
            self.records[i].as_ref()?.logits.get(j)?.as_ref()
        })
    }

    /// The Keras mask of output `k` in this run (a loss over a masked
    /// sequence averages over its valid steps only), if the output has one.
    pub fn output_mask(&self, k: usize) -> Result<Option<&Value>> {
        let Some(mask) = self.core.outputs().get(k).and_then(|t| t.mask()) else {
            return Ok(None);
        };
        let graph = self.core.graph();
        let missing = || {
            Error::Graph(format!(
                "output {k} has a mask that the model's graph does not compute"
            ))
        };
        let layer = graph.layer_id(mask.layer()).ok_or_else(missing)?;
        let call = mask.node().call_index();
        let slot = self
            .core
            .plan()
            .steps()
            .iter()
            .find(|s| {
                let node = graph.node(s.node());
                node.layer() == layer && node.call_index() == call
            })
            .and_then(|s| s.outputs().get(mask.output_index()).copied())
            .ok_or_else(missing)?;
        self.slots[slot].as_ref().map(Some).ok_or_else(missing)
    }

    /// Bytes held for the backward after the forward pass: every step's
    /// outputs, the inputs and the cached logits (the peak of a training step's
    /// activations; the layers' saved state comes on top).
    pub fn activation_bytes(&self) -> usize {
        self.activation_bytes
    }

    /// Backpropagates `grads` (one per model output; an empty [`OutputGrad`]
    /// for an output the loss does not use) and returns the gradients of the
    /// trainable weights and of the inputs. Frees each step's values once its
    /// backward has run, so it can run once.
    pub fn backward(&mut self, grads: Vec<OutputGrad>) -> Result<Backprop> {
        let core = Arc::clone(&self.core);
        let plan = core.plan();
        let graph = core.graph();
        if grads.len() != plan.output_slots().len() {
            return Err(Error::Input(format!(
                "backward: the model has {} output(s), got {} gradient(s)",
                plan.output_slots().len(),
                grads.len()
            )));
        }
        let mut pending: Vec<OutputGrad> = vec![OutputGrad::default(); plan.n_slots()];
        for (slot, g) in std::mem::take(&mut self.extra) {
            pending[slot].add_value(g)?;
        }
        for (&slot, g) in plan.output_slots().iter().zip(grads) {
            if let Some(v) = g.value {
                pending[slot].add_value(v)?;
            }
            if let Some(l) = g.logits {
                pending[slot].add_logits(l)?;
            }
        }
        let mut weights = Gradients::new();
        for (i, step) in plan.steps().iter().enumerate().rev() {
            let layer = graph.layer(step.layer());
            let record = self.records[i].take().ok_or_else(|| {
                Error::Graph("backward: this run was already backpropagated".into())
            })?;
            let out_grads: Vec<OutputGrad> = step
                .outputs()
                .iter()
                .map(|&s| std::mem::take(&mut pending[s]))
                .collect();
            if out_grads.iter().all(OutputGrad::is_none) {
                for &s in step.outputs() {
                    self.slots[s] = None;
                }
                continue;
            }
            // The step's outputs are taken out of their slots (no earlier step
            // reads them); the model's own outputs go back after the backward.
            let outputs = step
                .outputs()
                .iter()
                .map(|&s| {
                    let taken = self.slots.get_mut(s).and_then(Option::take);
                    taken.ok_or_else(|| missing_value(layer))
                })
                .collect::<Result<Vec<_>>>()?;
            let result = {
                let (ins, masks) = step_inputs(&self.slots, step, layer)?;
                let inputs =
                    Inputs::new(ins, masks).with_options(graph.node(step.node()).options());
                let call = BackwardCall {
                    inputs: &inputs,
                    outputs: &outputs,
                    saved: record.saved.as_ref(),
                    grads: &out_grads,
                    ctx: &self.ctx,
                };
                layer
                    .read()
                    .backward(&call)
                    .map_err(|e| e.in_layer(layer.name(), layer.class_name()))?
            };
            for (&slot, g) in step.inputs().iter().zip(result.inputs) {
                if let (Some(g), true) = (g, self.wants_grad[slot]) {
                    pending[slot]
                        .add_value(g)
                        .map_err(|e| e.in_layer(layer.name(), layer.class_name()))?;
                }
            }
            for (path, g) in result.params {
                weights.add(format!("{}/{path}", layer.name()), g)?;
            }
            for (&s, value) in step.outputs().iter().zip(outputs) {
                if plan.output_slots().contains(&s) {
                    self.slots[s] = Some(value);
                }
            }
        }
        let trainable = core.trainable_paths();
        weights.retain(|p| trainable.contains(p));
        let inputs = plan
            .input_slots()
            .iter()
            .map(|&s| std::mem::take(&mut pending[s]).value)
            .collect();
        Ok(Backprop { weights, inputs })
    }
}
