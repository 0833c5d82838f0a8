//! `Bidirectional`: a recurrent layer reading forward, a copy reading
//! backward, outputs merged. It wraps any recurrent layer, through its
//! configuration and the layer registry, as Keras' wrapper does.

use std::fmt;
use std::str::FromStr;
use tensorweave_core::format_dims;

use ndarray::{ArrayD, Axis, IxDyn, Slice, Zip};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value as Json};
use tensorweave_core::registry::{brief, truncate};
use tensorweave_core::{
    BackwardCall, BufferPool, BuildContext, CallContext, ClassIdentity, Error, IntoLayer, Layer,
    LayerGrads, LayerRef, LayerRegistry, MaskCall, Recurrence, Result, Sublayer, Tensor,
    TensorSpec, Trained, Value,
};

use super::bidirectional_train::{self, both};
use crate::class::{Common, LayerBuilder, LayerClass};
use crate::config::{parse, prepare_config};
use crate::registry::default_registry;
use tensorweave_core::Inputs;

/// How `Bidirectional` combines the forward and backward outputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MergeMode {
    /// Concatenate on the last axis, forward first (Keras' default).
    #[default]
    Concat,
    /// Element-wise sum.
    Sum,
    /// Element-wise product.
    Mul,
    /// Element-wise mean.
    Ave,
    /// No merge: the layer returns the forward and the backward outputs.
    None,
}

impl MergeMode {
    /// The Keras spelling: `"concat"`, `"sum"`, `"mul"`, `"ave"`, or none.
    pub fn keras_name(self) -> Option<&'static str> {
        match self {
            MergeMode::Concat => Some("concat"),
            MergeMode::Sum => Some("sum"),
            MergeMode::Mul => Some("mul"),
            MergeMode::Ave => Some("ave"),
            MergeMode::None => None,
        }
    }
}

impl fmt::Display for MergeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.keras_name().unwrap_or("None"))
    }
}

impl FromStr for MergeMode {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "concat" => Ok(MergeMode::Concat),
            "sum" => Ok(MergeMode::Sum),
            "mul" => Ok(MergeMode::Mul),
            "ave" => Ok(MergeMode::Ave),
            "" | "None" | "none" | "null" => Ok(MergeMode::None),
            other => Err(Error::Config(format!(
                "invalid merge mode '{other}'; expected one of concat, sum, mul, ave, None"
            ))),
        }
    }
}

impl Serialize for MergeMode {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.keras_name().serialize(s)
    }
}

impl<'de> Deserialize<'de> for MergeMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Builder of a `Bidirectional` wrapper (Keras' `layers.Bidirectional`).
///
/// The wrapped layer (any recurrent layer: `LSTM`, `GRU`, `SimpleRNN`, or a
/// user-defined one whose [`Layer::recurrence`] says it is recurrent and whose
/// class is registered) is the configuration of two layers, rebuilt from it
/// as Keras does: `forward_<name>`, and `backward_<name>` with `go_backwards`
/// set (or the `backward_layer` given), each with its own weights.
/// `<name>` is the inner layer's name, taken when the wrapper is created, as
/// Keras names the inner layer when it is constructed. Both halves output zeros
/// at masked steps when they return sequences. The backward sequence is flipped
/// back into input order before the merge. Outputs: the merged output (two with
/// [`MergeMode::None`]), then with `return_state` the forward states, then the
/// backward ones.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let tokens = Input::new([None]).dtype(DType::I32).build();
/// let x = Embedding::new(100, 8).mask_zero(true).call(&tokens).unwrap();
/// let y = Bidirectional::new(Lstm::new(4).return_sequences(true)).call(&x).unwrap();
/// assert_eq!(y.shape(), &vec![None, None, Some(8)]);
/// assert!(y.mask().is_some());
/// ```
#[derive(Debug, Clone)]
pub struct Bidirectional {
    /// The wrapped recurrent layer.
    pub layer: LayerRef,
    /// How the two outputs are combined (default concat).
    pub merge_mode: MergeMode,
    /// The backward layer, if not derived from `layer`.
    pub backward_layer: Option<LayerRef>,
    /// Name and initial weights (the forward layer's, then the backward
    /// layer's).
    pub common: Common,
}

impl Bidirectional {
    /// Wraps a recurrent layer (a builder such as `Lstm::new(64)`, or a
    /// [`LayerRef`]).
    pub fn new(layer: impl IntoLayer) -> Self {
        Bidirectional {
            layer: layer.into_layer(),
            merge_mode: MergeMode::Concat,
            backward_layer: None,
            common: Common::default(),
        }
    }

    /// Sets how the outputs are combined.
    pub fn merge_mode(mut self, merge_mode: MergeMode) -> Self {
        self.merge_mode = merge_mode;
        self
    }

    /// Uses this layer for the backward direction instead of a copy of the
    /// wrapped one. It must have the opposite `go_backwards` and the same
    /// `return_sequences` and `return_state`; it keeps its own name (explicit or
    /// automatic), as in Keras.
    pub fn backward_layer(mut self, layer: impl IntoLayer) -> Self {
        self.backward_layer = Some(layer.into_layer());
        self
    }

    /// Initial weights: the forward layer's followed by the backward layer's
    /// (`[kernel, recurrent_kernel, bias]` each for the built-in cells),
    /// checked when the layer is built.
    pub fn weights<A: tensorweave_core::IntoArray>(
        mut self,
        weights: impl IntoIterator<Item = A>,
    ) -> Self {
        self.common.preset = Some(weights.into_iter().map(|w| w.into_array()).collect());
        self
    }

    /// Names the wrapper (default `bidirectional`, `bidirectional_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.common.name = Some(name.into());
        self
    }
}

impl LayerBuilder for Bidirectional {
    fn common(&self) -> &Common {
        &self.common
    }

    fn common_mut(&mut self) -> &mut Common {
        &mut self.common
    }
}

impl IntoLayer for Bidirectional {
    fn into_layer(self) -> LayerRef {
        crate::class::into_layer::<BidirectionalLayer>(self)
    }
}

/// The registry entry that rebuilds `layer` with changed configuration keys.
fn rebuilt(
    layer: &LayerRef,
    name: &str,
    go_backwards: Option<bool>,
    zero_output: bool,
) -> Result<LayerRef> {
    let registry = default_registry();
    let class = layer.class_name();
    let registered_name = match registry.identity(class, false) {
        Some(ClassIdentity::Builtin) => Json::Null,
        Some(ClassIdentity::User { registered_name }) => Json::String(registered_name),
        _ => {
            return Err(Error::invalid(format!(
                "the wrapped layer '{}' ({}) is not a registered class, so its forward and \
                 backward copies cannot be made from its configuration; register it with \
                 `register_layer`",
                truncate(layer.name(), 80),
                truncate(class, 80)
            )))
        }
    };
    let mut config = layer.config();
    if let Json::Object(map) = &mut config {
        map.insert("name".into(), json!(name));
        map.insert("zero_output_for_mask".into(), json!(zero_output));
        if let Some(back) = go_backwards {
            map.insert("go_backwards".into(), json!(back));
        }
    }
    registry.create(&json!({
        "class_name": class,
        "config": config,
        "registered_name": registered_name,
    }))
}

/// The `Bidirectional` layer: two recurrent layers and a merge mode.
#[derive(Debug)]
pub struct BidirectionalLayer {
    /// The two directions, or why they could not be made (reported when the
    /// layer is built).
    directions: std::result::Result<(LayerRef, LayerRef), String>,
    merge_mode: MergeMode,
}

impl BidirectionalLayer {
    /// The merge mode.
    pub fn merge_mode(&self) -> MergeMode {
        self.merge_mode
    }

    /// The forward and backward layers.
    pub fn directions(&self) -> Result<(&LayerRef, &LayerRef)> {
        match &self.directions {
            Ok((f, b)) => Ok((f, b)),
            Err(e) => Err(Error::invalid(e.clone())),
        }
    }

    /// The names of the two sublayers: `(forward_…, backward_…)`.
    pub fn sublayer_names(&self) -> (&str, &str) {
        match &self.directions {
            Ok((f, b)) => (f.name(), b.name()),
            Err(_) => ("", ""),
        }
    }

    fn recurrences(&self) -> Result<(Recurrence, Recurrence)> {
        let (f, b) = self.directions()?;
        let info = |l: &LayerRef| {
            l.read().recurrence().ok_or_else(|| {
                Error::invalid(format!(
                    "wraps '{}' ({}), which is not a recurrent layer; `Bidirectional` takes \
                     LSTM, GRU, SimpleRNN or a layer whose `recurrence()` describes it",
                    truncate(l.name(), 80),
                    truncate(l.class_name(), 80)
                ))
            })
        };
        Ok((info(f)?, info(b)?))
    }

    pub(crate) fn return_sequences(&self) -> bool {
        self.recurrences().is_ok_and(|(f, _)| f.return_sequences)
    }

    pub(crate) fn return_state(&self) -> bool {
        self.recurrences().is_ok_and(|(f, _)| f.return_state)
    }

    /// Keras' `_verify_layer_config`.
    fn verify(&self) -> Result<()> {
        let (f, b) = self.recurrences()?;
        if f.go_backwards == b.go_backwards {
            return Err(Error::invalid(format!(
                "the forward and backward layers must have different `go_backwards`, got {} for \
                 both; leave `go_backwards` false on the wrapped layer",
                f.go_backwards
            )));
        }
        for (what, fv, bv) in [
            ("return_sequences", f.return_sequences, b.return_sequences),
            ("return_state", f.return_state, b.return_state),
        ] {
            if fv != bv {
                return Err(Error::invalid(format!(
                    "the forward and backward layers must have the same `{what}`, got {fv} for \
                     the forward layer and {bv} for the backward layer"
                )));
            }
        }
        if self.merge_mode != MergeMode::Concat
            && self.merge_mode != MergeMode::None
            && f.units != b.units
        {
            return Err(Error::invalid(format!(
                "merge mode {} needs equal units in both directions, got {} and {}",
                self.merge_mode, f.units, b.units
            )));
        }
        Ok(())
    }

    /// Runs both directions, on two threads when allowed.
    fn run_both(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<(Vec<Value>, Vec<Value>)> {
        let (f, b) = self.directions()?;
        let (fi, bi) = direction_inputs(inputs)?;
        let run = |l: &LayerRef, inputs: &Inputs<'_>, ctx: &CallContext| {
            l.read()
                .call(inputs, ctx)
                .map_err(|e| e.in_layer(l.name(), l.class_name()))
        };
        both(ctx, |c| run(f, &fi, c), |c| run(b, &bi, c))
    }
}

impl LayerClass for BidirectionalLayer {
    const CLASS_NAME: &'static str = "Bidirectional";
    type Builder = Bidirectional;

    fn from_builder(b: Bidirectional) -> Self {
        let directions = (|| {
            if b.layer.take_preset().is_some() {
                return Err(
                    "weights set on the wrapped layers are not used (Keras rebuilds them from \
                     their configuration); pass all of them to `Bidirectional::weights`, forward \
                     first"
                        .to_string(),
                );
            }
            let info = b.layer.read().recurrence();
            let return_sequences = info.is_some_and(|r| r.return_sequences);
            let inner = b.layer.name();
            let forward_name = format!(
                "forward_{}",
                inner.strip_prefix("forward_").unwrap_or(inner)
            );
            let forward = rebuilt(&b.layer, &forward_name, None, return_sequences)
                .map_err(|e| e.to_string())?;
            let backward = match &b.backward_layer {
                Some(given) => {
                    if given.take_preset().is_some() {
                        return Err(
                            "weights set on the backward layer are not used; pass all of \
                                    them to `Bidirectional::weights`, forward first"
                                .to_string(),
                        );
                    }
                    rebuilt(given, given.name(), None, return_sequences)
                }
                None => {
                    let name = format!(
                        "backward_{}",
                        inner.strip_prefix("backward_").unwrap_or(inner)
                    );
                    // Keras 3.15.1 sets `go_backwards=True` (it does not flip it).
                    rebuilt(&b.layer, &name, Some(true), return_sequences)
                }
            }
            .map_err(|e| e.to_string())?;
            Ok((forward, backward))
        })();
        BidirectionalLayer {
            directions,
            merge_mode: b.merge_mode,
        }
    }

    /// `layer` and `backward_layer` are nested layer objects (the forward
    /// layer named `forward_…`), created through the registry.
    fn from_config(config: &Json, registry: &LayerRegistry) -> Result<LayerRef> {
        let (name, config) = prepare_config("Bidirectional", config)?;
        let shown = name.as_deref().unwrap_or("?");
        let nested = |key: &str| -> Result<Option<LayerRef>> {
            match config.get(key).filter(|v| !v.is_null()) {
                None => Ok(None),
                Some(entry) => registry.create(entry).map(Some).map_err(|e| {
                    Error::layer(
                        shown,
                        "Bidirectional",
                        format!("`{key}` = {}: {e}", brief(entry)),
                    )
                }),
            }
        };
        let layer = nested("layer")?.ok_or_else(|| {
            Error::layer(shown, "Bidirectional", "the config has no `layer` to wrap")
        })?;
        let mut builder = Bidirectional::new(&layer);
        if let Some(backward) = nested("backward_layer")? {
            builder = builder.backward_layer(&backward);
        }
        if let Some(mode) = config.get("merge_mode") {
            let mode: MergeMode = parse("Bidirectional", name.as_deref(), mode.clone())?;
            builder = builder.merge_mode(mode);
        }
        builder.common.name = name;
        Ok(builder.into_layer())
    }
}

impl Layer for BidirectionalLayer {
    fn class_name(&self) -> &str {
        Self::CLASS_NAME
    }

    fn config(&self) -> Json {
        json!({ "trainable": true, "merge_mode": self.merge_mode })
    }

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        self.verify()?;
        let (fi, bi) = split_states(inputs)?;
        let (f, b) = self.directions()?;
        f.build_with(&fi, ctx)?;
        b.build_with(&bi, ctx)
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let (fi, bi) = split_states(inputs)?;
        let (f, b) = self.directions()?;
        let mut fwd = f.read().output_specs(&fi)?;
        let mut bwd = b.read().output_specs(&bi)?;
        if fwd.is_empty() || bwd.is_empty() {
            return Err(Error::invalid("internal: a direction has no output"));
        }
        let (y, y_rev) = (fwd.remove(0), bwd.remove(0));
        let mut out = match self.merge_mode {
            MergeMode::None => vec![y, y_rev],
            MergeMode::Concat => {
                let mut shape = y.shape.clone();
                if let (Some(last), Some(a), Some(b)) =
                    (shape.last_mut(), y.last_dim(), y_rev.last_dim())
                {
                    *last = Some(a + b);
                }
                vec![TensorSpec::f32(shape)]
            }
            _ => vec![y],
        };
        out.extend(fwd);
        out.extend(bwd);
        Ok(out)
    }

    fn time_role(&self) -> tensorweave_core::TimeRole {
        use tensorweave_core::TimeRole;
        let scans = |l: &LayerRef| matches!(l.read().time_role(), TimeRole::MaskedScan { .. });
        match self.directions() {
            Ok((f, b)) if scans(f) && scans(b) => TimeRole::MaskedScan {
                sequences: self.return_sequences(),
            },
            _ => TimeRole::Unknown,
        }
    }

    fn uses_mask(&self) -> bool {
        true
    }

    fn compute_mask(&self, call: &MaskCall<'_>) -> Result<Vec<Option<Tensor>>> {
        let (masks, n_outputs) = (call.masks, call.n_outputs);
        let mut out = vec![None; n_outputs];
        if self.return_sequences() {
            let mask = masks.first().cloned().flatten();
            let n_sequences = if self.merge_mode == MergeMode::None {
                2
            } else {
                1
            };
            for slot in out.iter_mut().take(n_sequences) {
                slot.clone_from(&mask);
            }
        }
        Ok(out)
    }

    fn call(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Vec<Value>> {
        let (fwd, bwd) = self.run_both(inputs, ctx)?;
        self.merged(fwd, bwd, ctx.pool.as_deref())
    }

    /// Both directions take the ids when each folds the embedding.
    fn accepts_lookup(&self, lookup: &LayerRef, ids: &Value) -> bool {
        // Both are asked, so that their fold rules see the same calls.
        self.directions().is_ok_and(|(f, b)| {
            let forward = f.read().accepts_lookup(lookup, ids);
            let backward = b.read().accepts_lookup(lookup, ids);
            forward && backward
        })
    }

    fn call_on_lookup(
        &self,
        lookup: &LayerRef,
        inputs: &Inputs<'_>,
        ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let (f, b) = self.directions()?;
        let (fi, bi) = direction_inputs(inputs)?;
        let run = |l: &LayerRef, inputs: &Inputs<'_>, ctx: &CallContext| {
            l.read()
                .call_on_lookup(lookup, inputs, ctx)
                .map_err(|e| e.in_layer(l.name(), l.class_name()))
        };
        let (fwd, bwd) = both(ctx, |c| run(f, &fi, c), |c| run(b, &bi, c))?;
        self.merged(fwd, bwd, ctx.pool.as_deref())
    }

    fn takes_initial_state(&self) -> bool {
        true
    }

    fn has_backward(&self) -> bool {
        self.directions()
            .is_ok_and(|(f, b)| f.read().has_backward() && b.read().has_backward())
    }

    fn call_train(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Trained> {
        bidirectional_train::call_train(self, inputs, ctx)
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        bidirectional_train::backward(self, call)
    }

    fn sublayers(&self) -> Vec<Sublayer> {
        match &self.directions {
            Ok((f, b)) => vec![
                Sublayer {
                    attribute: "forward_layer",
                    config_key: Some("layer"),
                    layer: f.clone(),
                },
                Sublayer::nested("backward_layer", b.clone()),
            ],
            Err(_) => Vec::new(),
        }
    }
}

impl BidirectionalLayer {
    /// The output from both directions' outputs: the merged sequences or
    /// last outputs, then the states when asked for.
    fn merged(
        &self,
        mut fwd: Vec<Value>,
        mut bwd: Vec<Value>,
        pool: Option<&BufferPool>,
    ) -> Result<Vec<Value>> {
        if fwd.is_empty() || bwd.is_empty() {
            return Err(Error::invalid("internal: a direction returned no output"));
        }
        let y = fwd.remove(0).into_f32()?;
        let mut y_rev = bwd.remove(0).into_f32()?;
        if self.return_sequences() {
            // The backward layer returns its sequence in processing order.
            y_rev.invert_axis(Axis(1));
        }
        let mut out = merge(self.merge_mode, y, y_rev, pool)?;
        if self.return_state() {
            out.extend(fwd);
            out.extend(bwd);
        }
        Ok(out)
    }
}

/// The inputs of each direction: the sequence, and the first half of the
/// initial states for the forward layer, the second half for the backward
/// one (Keras' split of `initial_state`).
pub(crate) fn split_states<T: Clone>(inputs: &[T]) -> Result<(Vec<T>, Vec<T>)> {
    let Some((x, states)) = inputs.split_first() else {
        return Err(Error::invalid("expects a sequence, got no input tensor"));
    };
    if states.len() % 2 != 0 {
        return Err(Error::invalid(format!(
            "got {} initial states; a Bidirectional layer takes the forward layer's states, \
             then as many for the backward layer (an even number)",
            states.len()
        )));
    }
    let half = states.len() / 2;
    let with = |part: &[T]| {
        let mut v = vec![x.clone()];
        v.extend_from_slice(part);
        v
    };
    Ok((with(&states[..half]), with(&states[half..])))
}

/// [`split_states`] of a call's arrays; only the sequence carries a mask.
pub(crate) fn direction_inputs<'a>(inputs: &Inputs<'a>) -> Result<(Inputs<'a>, Inputs<'a>)> {
    let (f, b) = split_states(inputs.values())?;
    let masks = vec![inputs.mask(0)];
    Ok((Inputs::new(f, masks.clone()), Inputs::new(b, masks)))
}

/// Keras' merge of the forward output `y` and the (re-ordered) backward output;
/// a concatenation writes into a buffer of `pool` and leaves the two
/// directions' buffers there.
pub(crate) fn merge(
    mode: MergeMode,
    y: ArrayD<f32>,
    y_rev: ArrayD<f32>,
    pool: Option<&BufferPool>,
) -> Result<Vec<Value>> {
    if mode == MergeMode::None {
        let y_rev = y_rev.as_standard_layout().into_owned();
        return Ok(vec![Value::F32(y), Value::F32(y_rev)]);
    }
    if mode == MergeMode::Concat {
        let out = concat_last(&y, &y_rev, pool)?;
        if let Some(pool) = pool {
            pool.recycle(Value::F32(y));
            pool.recycle(Value::F32(y_rev));
        }
        return Ok(vec![Value::F32(out)]);
    }
    if y.shape() != y_rev.shape() {
        return Err(Error::invalid(format!(
            "merge mode {mode} needs outputs of equal shape, got {} and {}",
            format_dims(y.shape()),
            format_dims(y_rev.shape())
        )));
    }
    let mut out = y;
    let op: fn(&mut f32, f32) = match mode {
        MergeMode::Sum => |a, b| *a += b,
        MergeMode::Mul => |a, b| *a *= b,
        _ => |a, b| *a = (*a + b) / 2.0,
    };
    Zip::from(&mut out).and(&y_rev).for_each(|a, &b| op(a, b));
    Ok(vec![Value::F32(out)])
}

/// Concatenates two arrays of equal leading axes on the last axis.
fn concat_last(a: &ArrayD<f32>, b: &ArrayD<f32>, pool: Option<&BufferPool>) -> Result<ArrayD<f32>> {
    let lead = |x: &ArrayD<f32>| x.shape().split_last().map(|(_, l)| l.to_vec());
    if a.ndim() != b.ndim() || lead(a) != lead(b) {
        return Err(Error::invalid(format!(
            "cannot concatenate outputs of shapes {} and {}",
            format_dims(a.shape()),
            format_dims(b.shape())
        )));
    }
    let (Some(&wa), Some(&wb)) = (a.shape().last(), b.shape().last()) else {
        return Err(Error::invalid("cannot concatenate scalar outputs"));
    };
    let mut shape = a.shape().to_vec();
    let last = shape.len() - 1;
    shape[last] = wa + wb;
    let len = shape.iter().product();
    let buffer = BufferPool::f32_zeros_in(pool, len);
    let mut out = ArrayD::from_shape_vec(IxDyn(&shape), buffer)
        .map_err(|e| Error::invalid(format!("internal: concatenation shape: {e}")))?;
    out.slice_axis_mut(Axis(last), Slice::from(0..wa)).assign(a);
    out.slice_axis_mut(Axis(last), Slice::from(wa..)).assign(b);
    Ok(out)
}
