//! Symbolic tensors and the nodes that record layer calls.
//!
//! A [`Tensor`] knows its spec, the node that produced it (Keras'
//! `_keras_history`) and its mask, itself a symbolic tensor. A node holds the
//! called layer and its ordered inputs. Tensors only point backwards, so the
//! recorded history is acyclic by construction; `Model::new` walks it back from
//! the outputs and captures it as a petgraph DAG.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::dtype::{format_shape, DType, Shape, TensorSpec};
use crate::error::Result;
use crate::layer::{CallOptions, LayerRef, MaskCall};

static NEXT_NODE_ID: AtomicU64 = AtomicU64::new(1);

/// One call of a layer: Keras' `Node`.
#[derive(Debug)]
pub struct Node {
    pub(crate) id: u64,
    pub(crate) layer: LayerRef,
    /// The n-th call of this layer, counting every call ever made.
    pub(crate) call_index: usize,
    /// Positional inputs, in order.
    pub(crate) inputs: Vec<Tensor>,
    /// One entry per input: its mask, recorded when the layer uses masks.
    pub(crate) masks: Vec<Option<Tensor>>,
    /// Whether the inputs were passed as a list (merge layers, multi-input models).
    pub(crate) list_input: bool,
    /// Output specs.
    pub(crate) outputs: Vec<TensorSpec>,
    /// The call's keyword options (empty for most calls).
    pub(crate) options: Arc<CallOptions>,
}

impl Node {
    /// The called layer.
    pub fn layer(&self) -> &LayerRef {
        &self.layer
    }

    /// The positional inputs, in order.
    pub fn inputs(&self) -> &[Tensor] {
        &self.inputs
    }

    /// One entry per input: the mask passed to the layer with it.
    pub fn masks(&self) -> &[Option<Tensor>] {
        &self.masks
    }

    /// Whether the inputs were passed as one list.
    pub fn list_input(&self) -> bool {
        self.list_input
    }

    /// The output specs.
    pub fn output_specs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// The call's keyword options.
    pub fn options(&self) -> &Arc<CallOptions> {
        &self.options
    }

    /// Process-unique id of this node.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Which call of its layer this node is (0 for the first call).
    pub fn call_index(&self) -> usize {
        self.call_index
    }

    /// Whether the node is an `Input` (a node without inputs).
    pub fn is_input(&self) -> bool {
        self.inputs.is_empty() && self.layer.class_name() == "InputLayer"
    }
}

struct TensorData {
    spec: TensorSpec,
    node: Arc<Node>,
    index: usize,
    mask: Option<Tensor>,
}

/// A symbolic tensor: the output of an `Input` or of a layer call. It holds no
/// data; calling layers on it records the graph that a `Model` compiles.
#[derive(Clone)]
pub struct Tensor(Arc<TensorData>);

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tensor({}[{}][{}], shape={}, dtype={})",
            self.0.node.layer.name(),
            self.0.node.call_index,
            self.0.index,
            format_shape(&self.0.spec.shape),
            self.0.spec.dtype
        )
    }
}

impl PartialEq for Tensor {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Tensor {}

impl Tensor {
    /// Shape, batch axis first; `None` is unknown.
    pub fn shape(&self) -> &Shape {
        &self.0.spec.shape
    }

    /// Element type.
    pub fn dtype(&self) -> DType {
        self.0.spec.dtype
    }

    /// Shape and dtype.
    pub fn spec(&self) -> &TensorSpec {
        &self.0.spec
    }

    /// The mask that travels with this tensor, if any (a boolean tensor).
    pub fn mask(&self) -> Option<&Tensor> {
        self.0.mask.as_ref()
    }

    /// The node that produced this tensor.
    pub fn node(&self) -> &Arc<Node> {
        &self.0.node
    }

    /// Which output of its node this tensor is.
    pub fn output_index(&self) -> usize {
        self.0.index
    }

    /// The layer that produced this tensor.
    pub fn layer(&self) -> &LayerRef {
        &self.0.node.layer
    }

    /// Identity: (producing node id, output index).
    pub fn key(&self) -> (u64, usize) {
        (self.0.node.id, self.0.index)
    }

    /// A new tensor for output `index` of `node`.
    pub(crate) fn new(node: Arc<Node>, index: usize, mask: Option<Tensor>) -> Tensor {
        let spec = node.outputs[index].clone();
        Tensor(Arc::new(TensorData {
            spec,
            node,
            index,
            mask,
        }))
    }
}

/// Records a call of `layer` on `inputs`: infers shapes (building the layer on
/// its first call), creates the node, then the output tensors with their masks.
pub(crate) fn record_call(
    layer: &LayerRef,
    inputs: &[Tensor],
    list_input: bool,
) -> Result<Vec<Tensor>> {
    let masks: Vec<Option<Tensor>> = inputs.iter().map(|t| t.mask().cloned()).collect();
    record_call_with_masks(layer, inputs, &masks, list_input)
}

/// Records a call whose input masks are given explicitly (one entry per input),
/// as a Keras graph does when a node's `mask` argument names a tensor: used by
/// loaders that rebuild a recorded graph.
pub(crate) fn record_call_with_masks(
    layer: &LayerRef,
    inputs: &[Tensor],
    input_masks: &[Option<Tensor>],
    list_input: bool,
) -> Result<Vec<Tensor>> {
    record_call_split_masks(layer, inputs, input_masks, input_masks, list_input)
}

/// Records a call whose layer receives `call_masks` while its output masks
/// are computed from `input_masks` (Keras passes no mask to a call with
/// several tensor arguments, such as an RNN given `initial_state`, yet sets
/// the output masks from the first argument's).
pub(crate) fn record_call_split_masks(
    layer: &LayerRef,
    inputs: &[Tensor],
    call_masks: &[Option<Tensor>],
    input_masks: &[Option<Tensor>],
    list_input: bool,
) -> Result<Vec<Tensor>> {
    record_call_with_options(
        layer,
        inputs,
        call_masks,
        input_masks,
        list_input,
        CallOptions::new(),
    )
}

/// [`record_call_split_masks`] of a call with keyword options.
pub(crate) fn record_call_with_options(
    layer: &LayerRef,
    inputs: &[Tensor],
    call_masks: &[Option<Tensor>],
    input_masks: &[Option<Tensor>],
    list_input: bool,
    options: CallOptions,
) -> Result<Vec<Tensor>> {
    if call_masks.len() != inputs.len() {
        return Err(crate::error::Error::layer(
            layer.name(),
            layer.class_name(),
            format!(
                "got {} call masks for {} inputs",
                call_masks.len(),
                inputs.len()
            ),
        ));
    }
    if input_masks.len() != inputs.len() {
        return Err(crate::error::Error::layer(
            layer.name(),
            layer.class_name(),
            format!(
                "got {} masks for {} inputs",
                input_masks.len(),
                inputs.len()
            ),
        ));
    }
    let specs: Vec<TensorSpec> = inputs.iter().map(|t| t.spec().clone()).collect();
    let outputs = layer.infer_with(&specs, &options)?;
    let (uses_mask, n_outputs) = (layer.read().uses_mask(), outputs.len());
    let masks: Vec<Option<Tensor>> = call_masks
        .iter()
        .map(|m| if uses_mask { m.clone() } else { None })
        .collect();
    let node = Arc::new(Node {
        id: NEXT_NODE_ID.fetch_add(1, Ordering::Relaxed),
        layer: layer.clone(),
        call_index: layer.next_call_index(),
        inputs: inputs.to_vec(),
        masks,
        list_input,
        outputs,
        options: Arc::new(options),
    });
    let out_masks = layer
        .read()
        .compute_mask(&MaskCall {
            inputs,
            masks: input_masks,
            n_outputs,
        })
        .map_err(|e| e.in_layer(layer.name(), layer.class_name()))?;
    Ok((0..n_outputs)
        .map(|i| Tensor::new(node.clone(), i, out_masks.get(i).cloned().flatten()))
        .collect())
}

/// Records a node without inputs (an `Input`).
pub(crate) fn record_source(layer: &LayerRef, spec: TensorSpec) -> Tensor {
    let node = Arc::new(Node {
        id: NEXT_NODE_ID.fetch_add(1, Ordering::Relaxed),
        layer: layer.clone(),
        call_index: layer.next_call_index(),
        inputs: Vec::new(),
        masks: Vec::new(),
        list_input: false,
        outputs: vec![spec],
        options: Arc::new(CallOptions::new()),
    });
    Tensor::new(node, 0, None)
}
