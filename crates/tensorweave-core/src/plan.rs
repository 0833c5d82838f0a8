//! The compiled plan: a fixed order of steps over numbered value slots, and for
//! each step the slots whose last use it is, so intermediates are freed as early
//! as possible (tract's flush lists). The plan is immutable and shared; the
//! values of one run live in a [`crate::run::RunState`].

use std::collections::HashMap;

use petgraph::graph::NodeIndex;

use crate::graph::{Graph, LayerId, TensorRef};

/// One layer call of the plan.
#[derive(Debug, Clone)]
pub struct Step {
    node: NodeIndex,
    layer: LayerId,
    inputs: Vec<usize>,
    masks: Vec<Option<usize>>,
    outputs: Vec<usize>,
    free_after: Vec<usize>,
    /// This step is a lookup whose one consumer may take its ids instead:
    /// it runs only if that consumer declines.
    deferred: bool,
    /// The deferred lookup step feeding input 0 of this step, if any.
    lookup: Option<usize>,
}

impl Step {
    /// The call in the graph.
    pub fn node(&self) -> NodeIndex {
        self.node
    }

    /// The layer to run.
    pub fn layer(&self) -> LayerId {
        self.layer
    }

    /// Slots of the inputs, in order.
    pub fn inputs(&self) -> &[usize] {
        &self.inputs
    }

    /// Slot of each input's mask, if the call takes one.
    pub fn masks(&self) -> &[Option<usize>] {
        &self.masks
    }

    /// Slots the outputs are written to.
    pub fn outputs(&self) -> &[usize] {
        &self.outputs
    }

    /// Slots to free once this step has run.
    pub fn free_after(&self) -> &[usize] {
        &self.free_after
    }

    /// Whether this step is a lookup ([`crate::Layer::is_lookup`]) that runs
    /// only when its consumer declines the ids
    /// ([`crate::Layer::call_on_lookup`]).
    pub fn is_deferred(&self) -> bool {
        self.deferred
    }

    /// The index of the deferred lookup step feeding input 0, if any.
    pub fn lookup(&self) -> Option<usize> {
        self.lookup
    }
}

/// Execution order and slot bookkeeping of a model.
#[derive(Debug, Clone)]
pub struct Plan {
    steps: Vec<Step>,
    n_slots: usize,
    input_slots: Vec<usize>,
    output_slots: Vec<usize>,
}

impl Plan {
    /// Compiles the plan of a captured graph.
    pub fn compile(graph: &Graph) -> Plan {
        let mut slot_of: HashMap<TensorRef, usize> = HashMap::new();
        let mut slot = |t: TensorRef| {
            let next = slot_of.len();
            *slot_of.entry(t).or_insert(next)
        };
        let input_slots: Vec<usize> = graph.inputs().iter().map(|&t| slot(t)).collect();
        let mut steps = Vec::new();
        for &ix in graph.order() {
            let node = graph.node(ix);
            let produces_input = graph.inputs().iter().any(|t| t.node == ix);
            if produces_input || node.n_inputs() == 0 {
                continue;
            }
            let inputs = graph.node_inputs(ix).into_iter().map(&mut slot).collect();
            let masks = graph
                .node_masks(ix)
                .into_iter()
                .map(|m| m.map(&mut slot))
                .collect();
            let outputs = (0..node.output_specs().len())
                .map(|output| slot(TensorRef { node: ix, output }))
                .collect();
            steps.push(Step {
                node: ix,
                layer: node.layer(),
                inputs,
                masks,
                outputs,
                free_after: Vec::new(),
                deferred: false,
                lookup: None,
            });
        }
        let output_slots: Vec<usize> = graph.outputs().iter().map(|&t| slot(t)).collect();
        let n_slots = slot_of.len();
        defer_lookups(graph, &mut steps, &output_slots);

        // Last use of each slot; model outputs are never freed.
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (i, step) in steps.iter().enumerate() {
            // A consumer of a deferred lookup reads the lookup's ids too.
            let ids = step.lookup.map(|l| steps[l].inputs[0]);
            for s in step
                .inputs
                .iter()
                .chain(step.masks.iter().flatten())
                .chain(step.outputs.iter())
                .chain(ids.iter())
            {
                last_use.insert(*s, i);
            }
        }
        for s in &output_slots {
            last_use.remove(s);
        }
        for (s, i) in last_use {
            steps[i].free_after.push(s);
        }
        for step in &mut steps {
            step.free_after.sort_unstable();
        }
        Plan {
            steps,
            n_slots,
            input_slots,
            output_slots,
        }
    }

    /// Steps in execution order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// Number of value slots.
    pub fn n_slots(&self) -> usize {
        self.n_slots
    }

    /// Slot of each declared input.
    pub fn input_slots(&self) -> &[usize] {
        &self.input_slots
    }

    /// Slot of each declared output.
    pub fn output_slots(&self) -> &[usize] {
        &self.output_slots
    }
}

/// Marks each lookup step (one input, no mask, one output that is not a
/// model output) whose output only feeds input 0 of one later step as
/// deferred to that step.
fn defer_lookups(graph: &Graph, steps: &mut [Step], output_slots: &[usize]) {
    for l in 0..steps.len() {
        let lookup = &steps[l];
        let simple = lookup.inputs.len() == 1
            && lookup.masks.iter().all(Option::is_none)
            && lookup.outputs.len() == 1
            && !output_slots.contains(&lookup.outputs[0]);
        if !simple || !graph.layer(lookup.layer).read().is_lookup() {
            continue;
        }
        let out = lookup.outputs[0];
        let uses: Vec<(usize, usize)> = steps
            .iter()
            .enumerate()
            .flat_map(|(i, s)| {
                let values = s.inputs.iter().enumerate().filter(|(_, &x)| x == out);
                let masks = s.masks.iter().flatten().filter(|&&m| m == out);
                values
                    .map(move |(k, _)| (i, k))
                    .chain(masks.map(move |_| (i, usize::MAX)))
            })
            .collect();
        if let [(consumer, 0)] = uses[..] {
            if consumer > l {
                steps[l].deferred = true;
                steps[consumer].lookup = Some(l);
            }
        }
    }
}
