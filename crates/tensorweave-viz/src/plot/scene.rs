//! What a plot shows, independent of the drawing: one box per layer (a shared
//! layer is one box), nested models as clusters, and one edge per tensor passed
//! to a call (masks included).

use tensorweave_core::dtype::format_shape;
use tensorweave_core::graph::Graph;
use tensorweave_core::layer::LayerRef;
use tensorweave_core::model::FunctionalLayer;

use super::PlotOptions;

/// How a box is styled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An `InputLayer`.
    Input,
    /// A Keras op (`NotEqual`, `Any`, …).
    Op,
    /// A nested model drawn as one box.
    Model,
    /// Any other layer.
    Layer,
}

/// One layer's box.
#[derive(Debug, Clone)]
pub struct BoxInfo {
    /// Unique id: the layer name, prefixed by the names of enclosing nested
    /// models (`block/dense`).
    pub id: String,
    /// The layer name.
    pub name: String,
    /// The Keras class name.
    pub class_name: String,
    /// Style.
    pub kind: Kind,
    /// Body lines (wrapped layer, output shape, dtype).
    pub lines: Vec<String>,
}

/// A box or an expanded nested model.
#[derive(Debug, Clone)]
pub enum Item {
    /// One layer.
    Box(BoxInfo),
    /// A nested model drawn as a cluster around its own graph.
    Cluster(BoxInfo, Block),
}

/// One tensor passed to a call.
#[derive(Debug, Clone)]
pub struct SEdge {
    /// Producing item.
    pub src: usize,
    /// Which output of the producing item.
    pub src_output: usize,
    /// Consuming item.
    pub dst: usize,
    /// Which input of the call it is passed as.
    pub dst_input: usize,
    /// Whether it is passed as a mask.
    pub mask: bool,
    /// `[node][tensor]` of the producer, when it is shared or has several outputs.
    pub tail: Option<String>,
    /// `node k` of the consumer, when it is shared.
    pub head: Option<String>,
}

/// The graph of one model.
#[derive(Debug, Clone)]
pub struct Block {
    /// The model's name.
    pub name: String,
    /// Boxes and clusters, in `model.layers()` order.
    pub items: Vec<Item>,
    /// Tensors between them.
    pub edges: Vec<SEdge>,
    /// The item of each model input (its `InputLayer`).
    pub inputs: Vec<usize>,
    /// Each model output: (item, output index of that item).
    pub outputs: Vec<(usize, usize)>,
}

impl Block {
    /// The scene of `graph`.
    pub fn of(name: &str, graph: &Graph, prefix: &str, options: &PlotOptions) -> Block {
        let layers: Vec<LayerRef> = graph.ordered_layers().cloned().collect();
        let index = |layer: &LayerRef| layers.iter().position(|l| l == layer);
        let mut items = Vec::with_capacity(layers.len());
        for layer in &layers {
            let info = box_info(layer, graph, prefix, options);
            let nested = if options.expand_nested {
                nested_graph(layer)
            } else {
                None
            };
            items.push(match nested {
                Some(inner) => {
                    let block = Block::of(
                        layer.name(),
                        &inner,
                        &format!("{prefix}{}/", layer.name()),
                        options,
                    );
                    Item::Cluster(info, block)
                }
                None => Item::Box(info),
            });
        }
        let mut edges = Vec::new();
        for (dst, layer) in layers.iter().enumerate() {
            let Some(id) = graph.layer_id(layer) else {
                continue;
            };
            let calls = graph.nodes_of(id);
            for &ix in &calls {
                let node = graph.node(ix);
                let data = graph
                    .node_inputs(ix)
                    .into_iter()
                    .enumerate()
                    .map(|(i, t)| (i, t, false));
                let masks = graph
                    .node_masks(ix)
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, m)| m.map(|t| (i, t, true)));
                for (slot, t, mask) in data.chain(masks) {
                    let producer = graph.node(t.node);
                    let Some(src) = index(graph.node_layer(t.node)) else {
                        continue;
                    };
                    let producer_calls = graph.nodes_of(producer.layer()).len();
                    let tail = (producer_calls > 1 || producer.output_specs().len() > 1)
                        .then(|| format!("[{}][{}]", producer.call_index(), t.output));
                    let head = (calls.len() > 1).then(|| format!("node {}", node.call_index()));
                    edges.push(SEdge {
                        src,
                        src_output: t.output,
                        dst,
                        dst_input: slot,
                        mask,
                        tail,
                        head,
                    });
                }
            }
        }
        let inputs = graph
            .inputs()
            .iter()
            .filter_map(|t| index(graph.node_layer(t.node)))
            .collect();
        let outputs = graph
            .outputs()
            .iter()
            .filter_map(|t| index(graph.node_layer(t.node)).map(|i| (i, t.output)))
            .collect();
        Block {
            name: name.to_string(),
            items,
            edges,
            inputs,
            outputs,
        }
    }

    /// The box where input `input` of item `item` really enters (for a cluster,
    /// its `InputLayer`, recursively).
    pub fn entry(&self, item: usize, input: usize) -> Option<&BoxInfo> {
        match self.items.get(item)? {
            Item::Box(b) => Some(b),
            Item::Cluster(_, inner) => {
                let target = inner.inputs.get(input).or(inner.inputs.first())?;
                inner.entry(*target, 0)
            }
        }
    }

    /// The box that really produces output `output` of item `item`.
    pub fn exit(&self, item: usize, output: usize) -> Option<&BoxInfo> {
        match self.items.get(item)? {
            Item::Box(b) => Some(b),
            Item::Cluster(_, inner) => {
                let &(src, o) = inner.outputs.get(output)?;
                inner.exit(src, o)
            }
        }
    }
}

/// The graph drawn inside `layer`'s cluster: a nested model's own, or that of a
/// model wrapped by it (`TimeDistributed(model)`).
fn nested_graph(layer: &LayerRef) -> Option<Graph> {
    let guard = layer.read();
    if let Some(f) = guard.as_any().downcast_ref::<FunctionalLayer>() {
        return Some(f.graph().clone());
    }
    let wrapped = configured_sublayers(&*guard);
    drop(guard);
    match wrapped.as_slice() {
        [inner] => inner
            .read()
            .as_any()
            .downcast_ref::<FunctionalLayer>()
            .map(|f| f.graph().clone()),
        _ => None,
    }
}

fn box_info(layer: &LayerRef, graph: &Graph, prefix: &str, options: &PlotOptions) -> BoxInfo {
    let class_name = layer.class_name().to_string();
    let is_op = layer.read().is_op();
    let kind = if class_name == "InputLayer" {
        Kind::Input
    } else if class_name == "Functional" {
        Kind::Model
    } else if is_op {
        Kind::Op
    } else {
        Kind::Layer
    };
    let mut lines = Vec::new();
    if let Some(wrapped) = wrapped_layer(layer) {
        lines.push(wrapped);
    }
    let calls = graph
        .layer_id(layer)
        .map(|id| graph.nodes_of(id))
        .unwrap_or_default();
    if options.show_shapes || options.show_dtype {
        let per_call: Vec<(usize, String, String)> = calls
            .iter()
            .map(|&ix| {
                let node = graph.node(ix);
                let specs = node.output_specs();
                let shapes: Vec<String> = specs.iter().map(|s| format_shape(&s.shape)).collect();
                let dtypes: Vec<String> = specs.iter().map(|s| s.dtype.to_string()).collect();
                (node.call_index(), list(&shapes), list(&dtypes))
            })
            .collect();
        let all_same = |f: fn(&(usize, String, String)) -> &String| {
            per_call.windows(2).all(|w| f(&w[0]) == f(&w[1]))
        };
        if options.show_shapes {
            if all_same(|c| &c.1) {
                if let Some(c) = per_call.first() {
                    lines.extend(wrap(&format!("Output shape: {}", c.1)));
                }
            } else {
                for c in &per_call {
                    lines.extend(wrap(&format!("node {}: {}", c.0, c.1)));
                }
            }
        }
        if options.show_dtype {
            if let Some(c) = per_call.first() {
                lines.push(format!("Output dtype: {}", c.2));
            }
        }
    }
    BoxInfo {
        id: format!("{prefix}{}", layer.name()),
        name: layer.name().to_string(),
        class_name,
        kind,
        lines,
    }
}

fn list(items: &[String]) -> String {
    if items.len() == 1 {
        items[0].clone()
    } else {
        format!("[{}]", items.join(", "))
    }
}

/// The sublayers a layer's configuration names (what a wrapper wraps).
fn configured_sublayers(layer: &dyn tensorweave_core::layer::Layer) -> Vec<LayerRef> {
    let subs = layer.sublayers().into_iter();
    subs.filter(|s| s.config_key.is_some())
        .map(|s| s.layer)
        .collect()
}

/// The layers a wrapper wraps (its sublayers with a configuration key): one
/// gives `wraps name (Class)`; several (a `Bidirectional`) give
/// `Class: forward + backward`, with the wrapper's `merge_mode` if it has one.
fn wrapped_layer(layer: &LayerRef) -> Option<String> {
    let (wrapped, config) = {
        let guard = layer.read();
        (configured_sublayers(&*guard), guard.config())
    };
    match wrapped.as_slice() {
        [] => None,
        [one] => Some(format!("wraps {} ({})", one.name(), one.class_name())),
        [first, rest @ ..] => {
            let names: Vec<&str> = std::iter::once(first.name())
                .chain(rest.iter().map(|l| l.name()))
                .collect();
            let mut line = format!("{}: {}", first.class_name(), names.join(" + "));
            if let Some(mode) = config.get("merge_mode") {
                let merge = match mode {
                    serde_json::Value::String(m) => m.clone(),
                    serde_json::Value::Null => "None".to_string(),
                    other => other.to_string(),
                };
                line.push_str(&format!(", merge_mode={merge}"));
            }
            Some(line)
        }
    }
}

/// Breaks a long line between the shapes of a list (after `), `) so that boxes
/// stay narrow.
fn wrap(line: &str) -> Vec<String> {
    const MAX: usize = 44;
    if line.chars().count() <= MAX {
        return vec![line.to_string()];
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for piece in line.split_inclusive("), ") {
        let len = current.chars().count() + piece.chars().count();
        if !current.is_empty() && len > MAX {
            out.push(current.trim_end().to_string());
            current = String::from("  ");
        }
        current.push_str(piece);
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}
