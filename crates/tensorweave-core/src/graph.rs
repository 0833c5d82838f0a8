//! Capture: from the recorded history of symbolic tensors to a checked DAG.
//!
//! [`Graph::capture`] walks back from the outputs the way Keras' `_build_map`
//! does (depth-first, post-order), stops at the declared inputs, collects the
//! distinct layers into a `slotmap` arena, checks names and connectivity, and
//! stores the calls as a petgraph DAG whose edges carry explicit operand slots.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use petgraph::Direction;
use slotmap::{new_key_type, SlotMap};

use crate::dtype::TensorSpec;
use crate::error::{Error, Result};
use crate::layer::LayerRef;
use crate::tensor::{Node, Tensor};

new_key_type! {
    /// Stable id of a layer inside a model's arena.
    pub struct LayerId;
}

/// What flows along a DAG edge: output `from_output` of the source call feeds
/// input `to_input` of the target call, as data or as that input's mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Edge {
    /// Output slot of the producing call.
    pub from_output: usize,
    /// Input slot of the consuming call.
    pub to_input: usize,
    /// Whether the tensor is passed as the mask of that input.
    pub is_mask: bool,
}

/// A tensor of the captured graph: output `output` of call `node`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TensorRef {
    /// The producing call.
    pub node: NodeIndex,
    /// Which of its outputs.
    pub output: usize,
}

/// One call of a layer inside a model. Its inputs are the DAG's incoming edges
/// ([`Graph::node_inputs`], [`Graph::node_masks`]).
#[derive(Debug, Clone)]
pub struct GraphNode {
    layer: LayerId,
    node_index: usize,
    call_index: usize,
    n_inputs: usize,
    list_input: bool,
    outputs: Vec<TensorSpec>,
    options: std::sync::Arc<crate::layer::CallOptions>,
}

impl GraphNode {
    /// The called layer, in the arena.
    pub fn layer(&self) -> LayerId {
        self.layer
    }

    /// Which call of this layer inside this model (Keras' re-indexed node index).
    pub fn node_index(&self) -> usize {
        self.node_index
    }

    /// Which call of its layer this is, counting every call ever made (Keras'
    /// `keras_history` node index, which summaries print).
    pub fn call_index(&self) -> usize {
        self.call_index
    }

    /// How many positional inputs the call has (0 for an `Input`).
    pub fn n_inputs(&self) -> usize {
        self.n_inputs
    }

    /// Whether the inputs were passed as one list (merge layers).
    pub fn list_input(&self) -> bool {
        self.list_input
    }

    /// The output specs.
    pub fn output_specs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// The call's keyword options (empty for most calls).
    pub fn options(&self) -> &crate::layer::CallOptions {
        &self.options
    }
}

/// The captured DAG of a model: the one copy of its structure that the plan,
/// the writers, the summary and the pictures read.
#[derive(Debug, Clone)]
pub struct Graph {
    layers: SlotMap<LayerId, LayerRef>,
    layer_order: Vec<LayerId>,
    dag: DiGraph<GraphNode, Edge>,
    order: Vec<NodeIndex>,
    inputs: Vec<TensorRef>,
    outputs: Vec<TensorRef>,
}

struct Walk<'a> {
    declared: &'a HashSet<(u64, usize)>,
    finished: HashSet<u64>,
    in_progress: HashSet<u64>,
    post_order: Vec<Arc<Node>>,
    first_reached: HashMap<u64, i64>,
    output_name: String,
}

impl Walk<'_> {
    fn visit(&mut self, tensor: &Tensor) -> Result<()> {
        let node = tensor.node();
        if self.finished.contains(&node.id()) {
            return Ok(());
        }
        if self.in_progress.contains(&node.id()) {
            return Err(Error::Graph(format!(
                "tensor {tensor:?} from layer '{}' is part of a cycle",
                node.layer().name()
            )));
        }
        let next = self.first_reached.len() as i64;
        self.first_reached.entry(node.layer().id()).or_insert(next);
        let stops_here = self.declared.contains(&tensor.key());
        if !stops_here && node.inputs().is_empty() {
            return Err(Error::Graph(format!(
                "output {} is not connected to the model's inputs: it depends on '{}' ({}), which is not among them; \
                 pass it in `inputs`",
                self.output_name,
                node.layer().name(),
                node.layer().class_name()
            )));
        }
        self.in_progress.insert(node.id());
        if !stops_here {
            for t in node.inputs().iter().chain(node.masks().iter().flatten()) {
                self.visit(t)?;
            }
        }
        self.in_progress.remove(&node.id());
        self.finished.insert(node.id());
        self.post_order.push(node.clone());
        Ok(())
    }
}

impl Graph {
    /// Captures the part of the recorded history between `inputs` and `outputs`.
    pub fn capture(inputs: &[Tensor], outputs: &[Tensor]) -> Result<Graph> {
        if inputs.is_empty() {
            return Err(Error::Graph("a model needs at least one input".into()));
        }
        if outputs.is_empty() {
            return Err(Error::Graph("a model needs at least one output".into()));
        }
        let declared: HashSet<(u64, usize)> = inputs.iter().map(Tensor::key).collect();
        if declared.len() != inputs.len() {
            return Err(Error::Graph(
                "the same tensor is given twice in `inputs`".into(),
            ));
        }
        for t in inputs {
            if !t.node().is_input() {
                return Err(Error::Graph(format!(
                    "input {t:?} is not made by `Input`: a model starts from `Input` tensors; to run part of a \
                     graph, call its layers on a new `Input` of the same shape"
                )));
            }
        }
        let mut walk = Walk {
            declared: &declared,
            finished: HashSet::new(),
            in_progress: HashSet::new(),
            post_order: Vec::new(),
            first_reached: HashMap::new(),
            output_name: String::new(),
        };
        for (i, t) in outputs.iter().enumerate() {
            walk.output_name = format!("{i} ({t:?})");
            walk.visit(t)?;
        }
        // Declared inputs that reach no output are still part of the model.
        for t in inputs {
            if !walk.finished.contains(&t.node().id()) {
                walk.finished.insert(t.node().id());
                walk.post_order.insert(0, t.node().clone());
                walk.first_reached.entry(t.layer().id()).or_insert(-1);
            }
        }
        let Walk {
            post_order,
            first_reached,
            ..
        } = walk;

        // Arena of distinct layers, and unique names.
        let mut layers: SlotMap<LayerId, LayerRef> = SlotMap::with_key();
        let mut by_layer: HashMap<u64, LayerId> = HashMap::new();
        for node in &post_order {
            by_layer
                .entry(node.layer().id())
                .or_insert_with(|| layers.insert(node.layer().clone()));
        }
        let mut names: HashMap<&str, usize> = HashMap::new();
        for layer in layers.values() {
            *names.entry(layer.name()).or_insert(0) += 1;
            if layer.name().contains('/') {
                return Err(Error::Graph(format!(
                    "layer name '{}' contains '/', which separates weight paths; rename the layer",
                    layer.name()
                )));
            }
        }
        if let Some((name, n)) = names.iter().find(|(_, &n)| n > 1) {
            return Err(Error::Graph(format!(
                "the name \"{name}\" is used {n} times in the model; all layer names must be unique (set `.name(...)`)"
            )));
        }

        // Node index of each call within its layer, counting only this model's calls.
        let mut calls_of: HashMap<LayerId, Vec<usize>> = HashMap::new();
        for node in &post_order {
            calls_of
                .entry(by_layer[&node.layer().id()])
                .or_default()
                .push(node.call_index());
        }
        for calls in calls_of.values_mut() {
            calls.sort_unstable();
        }

        // The DAG, with explicit operand slots on the edges.
        let mut dag: DiGraph<GraphNode, Edge> = DiGraph::new();
        let mut index_of: HashMap<u64, NodeIndex> = HashMap::new();
        for node in &post_order {
            let layer = by_layer[&node.layer().id()];
            let node_index = calls_of[&layer]
                .binary_search(&node.call_index())
                .unwrap_or(0);
            let ix = dag.add_node(GraphNode {
                layer,
                node_index,
                call_index: node.call_index(),
                n_inputs: node.inputs().len(),
                list_input: node.list_input(),
                outputs: node.output_specs().to_vec(),
                options: node.options().clone(),
            });
            index_of.insert(node.id(), ix);
        }
        for node in &post_order {
            let target = index_of[&node.id()];
            let is_declared_input = node.outputs.len() == 1 && declared.contains(&(node.id(), 0));
            if is_declared_input {
                continue;
            }
            let values = node.inputs().iter().enumerate().map(|(s, t)| (s, t, false));
            let masks = node.masks().iter().enumerate();
            let masks = masks.filter_map(|(s, m)| m.as_ref().map(|t| (s, t, true)));
            for (slot, t, is_mask) in values.chain(masks) {
                dag.add_edge(
                    index_of[&t.node().id()],
                    target,
                    Edge {
                        from_output: t.output_index(),
                        to_input: slot,
                        is_mask,
                    },
                );
            }
        }
        let order: Vec<NodeIndex> = post_order.iter().map(|n| index_of[&n.id()]).collect();
        if petgraph::algo::is_cyclic_directed(&dag) {
            return Err(Error::Graph("the recorded calls form a cycle".into()));
        }

        let first_reached: HashMap<LayerId, i64> = first_reached
            .iter()
            .filter_map(|(id, &rank)| by_layer.get(id).map(|&l| (l, rank)))
            .collect();
        let layer_order = keras_layer_order(&dag, &order, &first_reached);
        let refs = |tensors: &[Tensor]| {
            tensors
                .iter()
                .map(|t| TensorRef {
                    node: index_of[&t.node().id()],
                    output: t.output_index(),
                })
                .collect()
        };
        Ok(Graph {
            layers,
            layer_order,
            dag,
            order,
            inputs: refs(inputs),
            outputs: refs(outputs),
        })
    }

    /// The distinct layers (a shared layer once), in arena order.
    pub fn layers(&self) -> impl Iterator<Item = (LayerId, &LayerRef)> {
        self.layers.iter()
    }

    /// The layer with arena id `id`.
    pub fn layer(&self, id: LayerId) -> &LayerRef {
        &self.layers[id]
    }

    /// The layers in Keras' `model.layers` order (depth, then traversal order).
    pub fn ordered_layers(&self) -> impl Iterator<Item = &LayerRef> {
        self.layer_order.iter().map(|id| &self.layers[*id])
    }

    /// The arena ids in Keras' `model.layers` order.
    pub fn layer_order(&self) -> &[LayerId] {
        &self.layer_order
    }

    /// The calls in execution order (topological: every call after its inputs).
    pub fn order(&self) -> &[NodeIndex] {
        &self.order
    }

    /// One call.
    pub fn node(&self, ix: NodeIndex) -> &GraphNode {
        &self.dag[ix]
    }

    /// The layer a call calls.
    pub fn node_layer(&self, ix: NodeIndex) -> &LayerRef {
        &self.layers[self.dag[ix].layer]
    }

    /// All calls, in no particular order.
    pub fn nodes(&self) -> impl Iterator<Item = NodeIndex> + '_ {
        self.dag.node_indices()
    }

    /// The declared inputs.
    pub fn inputs(&self) -> &[TensorRef] {
        &self.inputs
    }

    /// The declared outputs.
    pub fn outputs(&self) -> &[TensorRef] {
        &self.outputs
    }

    /// The spec of a tensor.
    pub fn spec(&self, t: TensorRef) -> &TensorSpec {
        &self.dag[t.node].outputs[t.output]
    }

    /// The positional inputs of a call, in order.
    pub fn node_inputs(&self, ix: NodeIndex) -> Vec<TensorRef> {
        let mut inputs: Vec<Option<TensorRef>> = vec![None; self.dag[ix].n_inputs];
        for e in self.dag.edges_directed(ix, Direction::Incoming) {
            let w = e.weight();
            if !w.is_mask {
                if let Some(slot) = inputs.get_mut(w.to_input) {
                    *slot = Some(TensorRef {
                        node: e.source(),
                        output: w.from_output,
                    });
                }
            }
        }
        inputs.into_iter().flatten().collect()
    }

    /// One entry per positional input of a call: the mask passed with it.
    pub fn node_masks(&self, ix: NodeIndex) -> Vec<Option<TensorRef>> {
        let mut masks: Vec<Option<TensorRef>> = vec![None; self.dag[ix].n_inputs];
        for e in self.dag.edges_directed(ix, Direction::Incoming) {
            let w = e.weight();
            if w.is_mask {
                if let Some(slot) = masks.get_mut(w.to_input) {
                    *slot = Some(TensorRef {
                        node: e.source(),
                        output: w.from_output,
                    });
                }
            }
        }
        masks
    }

    /// The calls whose outputs a call reads (data or masks), each once.
    pub fn parents(&self, ix: NodeIndex) -> Vec<NodeIndex> {
        let mut parents: Vec<NodeIndex> = self
            .dag
            .neighbors_directed(ix, Direction::Incoming)
            .collect();
        parents.sort_unstable();
        parents.dedup();
        parents
    }

    /// The calls of layer `layer`, in node-index order.
    pub fn nodes_of(&self, layer: LayerId) -> Vec<NodeIndex> {
        let mut nodes: Vec<NodeIndex> = self
            .dag
            .node_indices()
            .filter(|&i| self.dag[i].layer == layer)
            .collect();
        nodes.sort_by_key(|&i| self.dag[i].node_index);
        nodes
    }

    /// The arena id of a layer of this graph.
    pub fn layer_id(&self, layer: &LayerRef) -> Option<LayerId> {
        self.layers
            .iter()
            .find(|(_, l)| *l == layer)
            .map(|(id, _)| id)
    }
}

/// Keras' `map_graph` depth rule: walking from the outputs, a call's depth is at
/// least its consumers' depth + 1, a shared layer takes the largest depth of its
/// calls, and layers are listed by decreasing depth, ties by first traversal.
fn keras_layer_order(
    dag: &DiGraph<GraphNode, Edge>,
    order: &[NodeIndex],
    first_reached: &HashMap<LayerId, i64>,
) -> Vec<LayerId> {
    let mut node_depth: HashMap<NodeIndex, usize> = HashMap::new();
    let mut layer_depth: HashMap<LayerId, usize> = HashMap::new();
    for &ix in order.iter().rev() {
        let mut depth = *node_depth.entry(ix).or_insert(0);
        let layer = dag[ix].layer;
        depth = depth.max(layer_depth.get(&layer).copied().unwrap_or(0));
        layer_depth.insert(layer, depth);
        node_depth.insert(ix, depth);
        for parent in dag.neighbors_directed(ix, Direction::Incoming) {
            let d = node_depth.entry(parent).or_insert(0);
            *d = (*d).max(depth + 1);
        }
    }
    let mut ids: Vec<(LayerId, usize, i64)> = layer_depth
        .iter()
        .map(|(&id, &d)| (id, d, first_reached.get(&id).copied().unwrap_or(i64::MAX)))
        .collect();
    ids.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    ids.into_iter().map(|(id, _, _)| id).collect()
}
