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
            });
        }
        let output_slots: Vec<usize> = graph.outputs().iter().map(|&t| slot(t)).collect();
        let n_slots = slot_of.len();

        // Last use of each slot; model outputs are never freed.
        let mut last_use: HashMap<usize, usize> = HashMap::new();
        for (i, step) in steps.iter().enumerate() {
            for s in step
                .inputs
                .iter()
                .chain(step.masks.iter().flatten())
                .chain(step.outputs.iter())
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
