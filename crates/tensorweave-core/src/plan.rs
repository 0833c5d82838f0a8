//! The compiled plan: a fixed order of steps over numbered value slots, and for
//! each step the slots whose last use it is, so intermediates are freed as early
//! as possible (tract's flush lists).

use std::collections::HashMap;

use petgraph::graph::NodeIndex;

use crate::graph::{Graph, LayerId};
use crate::tensor::Tensor;

/// One layer call of the plan.
#[derive(Debug, Clone)]
pub struct Step {
    /// The call in the DAG.
    pub node: NodeIndex,
    /// The layer to run.
    pub layer: LayerId,
    /// Slots of the inputs, in order.
    pub inputs: Vec<usize>,
    /// Slot of each input's mask, if the call takes one.
    pub masks: Vec<Option<usize>>,
    /// Slots the outputs are written to.
    pub outputs: Vec<usize>,
    /// Slots to free once this step has run.
    pub free_after: Vec<usize>,
}

/// Execution order and slot bookkeeping of a model.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Steps in execution order.
    pub steps: Vec<Step>,
    /// Number of value slots.
    pub n_slots: usize,
    /// Slot of each declared input.
    pub input_slots: Vec<usize>,
    /// Slot of each declared output.
    pub output_slots: Vec<usize>,
}

impl Plan {
    /// Compiles the plan of a captured graph.
    pub fn compile(graph: &Graph) -> Plan {
        let mut slot_of: HashMap<(u64, usize), usize> = HashMap::new();
        let slot = |t: &Tensor, slot_of: &mut HashMap<(u64, usize), usize>| {
            let next = slot_of.len();
            *slot_of.entry(t.key()).or_insert(next)
        };
        let input_slots: Vec<usize> = graph.inputs.iter().map(|t| slot(t, &mut slot_of)).collect();
        let input_keys: std::collections::HashSet<(u64, usize)> =
            graph.inputs.iter().map(Tensor::key).collect();
        let mut steps = Vec::new();
        for &ix in &graph.order {
            let gnode = &graph.dag[ix];
            let node = &gnode.node;
            let produces_input =
                (0..node.output_specs().len()).any(|i| input_keys.contains(&(node.id(), i)));
            if produces_input || node.inputs().is_empty() {
                continue;
            }
            let inputs = node
                .inputs()
                .iter()
                .map(|t| slot(t, &mut slot_of))
                .collect();
            let masks = node
                .masks()
                .iter()
                .map(|m| m.as_ref().map(|t| slot(t, &mut slot_of)))
                .collect();
            let outputs = (0..node.output_specs().len())
                .map(|i| {
                    let next = slot_of.len();
                    *slot_of.entry((node.id(), i)).or_insert(next)
                })
                .collect();
            steps.push(Step {
                node: ix,
                layer: gnode.layer,
                inputs,
                masks,
                outputs,
                free_after: Vec::new(),
            });
        }
        let output_slots: Vec<usize> = graph
            .outputs
            .iter()
            .map(|t| slot(t, &mut slot_of))
            .collect();

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
            n_slots: slot_of.len(),
            input_slots,
            output_slots,
        }
    }
}
