//! `Bidirectional`: one recurrent layer reading forward, a copy reading
//! backward, outputs merged.

use std::any::Any;
use std::fmt;
use std::str::FromStr;

use ndarray::{ArrayD, ArrayView2, ArrayView3, Axis, Zip};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;
use tensorweave_core::{
    auto_name, CallContext, Error, IntoLayer, Layer, LayerRef, ParamVisitor, ParamVisitorMut,
    Result, Tensor, TensorSpec, Value,
};

use super::layer::{sequence_inputs, Recurrent, RnnCore};
use super::sequence::RnnRun;
use crate::util::expect_inputs;
use crate::weights::{assign_initial, Preset};

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
/// The wrapped builder is the configuration of two layers: `forward_<name>`,
/// and `backward_<name>` with `go_backwards` set (or the `backward_layer` given),
/// each with its own weights. `<name>` is the inner builder's name or its
/// automatic name (`lstm`, `lstm_1`, …), taken when the wrapper is created, as
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
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Bidirectional {
    /// The wrapped layer's configuration.
    pub layer: Recurrent,
    /// How the two outputs are combined (default concat).
    #[serde(default)]
    pub merge_mode: MergeMode,
    /// The backward layer, if not derived from `layer`.
    #[serde(default)]
    pub backward_layer: Option<Recurrent>,
    #[serde(skip)]
    name: Option<String>,
    #[serde(skip)]
    preset: Preset,
}

impl Bidirectional {
    /// Wraps an `Lstm`, `Gru` or `SimpleRnn` builder.
    pub fn new(layer: impl Into<Recurrent>) -> Self {
        Bidirectional {
            layer: layer.into(),
            merge_mode: MergeMode::Concat,
            backward_layer: None,
            name: None,
            preset: Preset::default(),
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
    pub fn backward_layer(mut self, layer: impl Into<Recurrent>) -> Self {
        self.backward_layer = Some(layer.into());
        self
    }

    /// Initial weights: the forward layer's followed by the backward layer's
    /// (`[kernel, recurrent_kernel, bias]` each), checked when the layer is built.
    pub fn weights(mut self, weights: Vec<ArrayD<f32>>) -> Self {
        self.preset = Preset(Some(weights));
        self
    }

    /// Names the wrapper (default `bidirectional`, `bidirectional_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl IntoLayer for Bidirectional {
    fn into_layer(self) -> LayerRef {
        // Keras constructs (and so names) the inner layers before the wrapper.
        let inner = name_of(&self.layer);
        let backward_given = self.backward_layer.map(|b| {
            let name = name_of(&b);
            (b, name)
        });
        let name = self.name.unwrap_or_else(|| auto_name("Bidirectional"));

        let mut forward = self.layer.clone();
        let mut had_inner_weights = take_name_and_preset(&mut forward);
        let forward_name = format!(
            "forward_{}",
            inner.strip_prefix("forward_").unwrap_or(&inner)
        );
        let (mut backward, backward_name) = match backward_given {
            Some((b, name)) => (b, name),
            None => {
                let mut b = self.layer;
                b.options_mut().go_backwards = true;
                let name = format!(
                    "backward_{}",
                    inner.strip_prefix("backward_").unwrap_or(&inner)
                );
                (b, name)
            }
        };
        had_inner_weights |= take_name_and_preset(&mut backward);
        for spec in [&mut forward, &mut backward] {
            let options = spec.options_mut();
            options.zero_output_for_mask = options.return_sequences;
        }
        LayerRef::new(
            name,
            BidirectionalLayer {
                forward: Direction {
                    name: forward_name,
                    core: RnnCore::new(forward),
                },
                backward: Direction {
                    name: backward_name,
                    core: RnnCore::new(backward),
                },
                merge_mode: self.merge_mode,
                preset: self.preset,
                had_inner_weights,
            },
        )
    }
}

fn name_of(spec: &Recurrent) -> String {
    spec.options()
        .explicit_name()
        .map_or_else(|| auto_name(spec.class_name()), str::to_string)
}

/// Clears a sublayer's name and preset; returns whether it had a preset.
fn take_name_and_preset(spec: &mut Recurrent) -> bool {
    let options = spec.options_mut();
    options.name = None;
    options.preset.take().is_some()
}

#[derive(Debug)]
struct Direction {
    name: String,
    core: RnnCore,
}

/// The `Bidirectional` layer: two recurrent layers and a merge mode.
#[derive(Debug)]
pub struct BidirectionalLayer {
    forward: Direction,
    backward: Direction,
    merge_mode: MergeMode,
    preset: Preset,
    had_inner_weights: bool,
}

impl BidirectionalLayer {
    /// The merge mode.
    pub fn merge_mode(&self) -> MergeMode {
        self.merge_mode
    }

    /// The names of the two sublayers: `(forward_…, backward_…)`.
    pub fn sublayer_names(&self) -> (&str, &str) {
        (&self.forward.name, &self.backward.name)
    }

    /// The configurations of the two sublayers.
    pub fn sublayers(&self) -> (&Recurrent, &Recurrent) {
        (&self.forward.core.spec, &self.backward.core.spec)
    }

    fn return_sequences(&self) -> bool {
        self.forward.core.spec.options().return_sequences
    }

    fn return_state(&self) -> bool {
        self.forward.core.spec.options().return_state
    }

    /// Keras' `_verify_layer_config`, plus the rule on inner weights.
    fn verify(&self) -> Result<()> {
        let (f, b) = (
            self.forward.core.spec.options(),
            self.backward.core.spec.options(),
        );
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
        if self.had_inner_weights {
            return Err(Error::invalid(
                "weights set on the wrapped layers are not used (Keras rebuilds them from their \
                 configuration); pass all of them to `Bidirectional::weights`, forward first",
            ));
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
    fn run_both(
        &self,
        x: ArrayView3<'_, f32>,
        mask: Option<ArrayView2<'_, bool>>,
        ctx: &CallContext,
    ) -> Result<(RnnRun, RnnRun)> {
        if ctx.threads < 2 {
            return Ok((
                self.forward.core.run(x, mask)?,
                self.backward.core.run(x, mask)?,
            ));
        }
        std::thread::scope(|scope| {
            let backward = scope.spawn(|| self.backward.core.run(x, mask));
            let forward = self.forward.core.run(x, mask);
            let backward = backward.join().map_err(|_| {
                Error::invalid("the thread running the backward direction panicked")
            })?;
            Ok((forward?, backward?))
        })
    }
}

impl Layer for BidirectionalLayer {
    fn class_name(&self) -> &str {
        "Bidirectional"
    }

    fn config(&self) -> serde_json::Value {
        let nested = |d: &Direction| {
            let mut config = d.core.spec.config();
            if let serde_json::Value::Object(map) = &mut config {
                map.insert("name".into(), json!(d.name));
            }
            json!({ "class_name": d.core.spec.class_name(), "config": config })
        };
        json!({
            "merge_mode": self.merge_mode,
            "layer": nested(&self.forward),
            "backward_layer": nested(&self.backward),
        })
    }

    fn build(&mut self, inputs: &[TensorSpec]) -> Result<()> {
        expect_inputs(inputs, 1)?;
        self.verify()?;
        self.forward.core.build(&inputs[0])?;
        self.backward.core.build(&inputs[0])?;
        let preset = self.preset.take();
        assign_initial(self, preset)
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let mut fwd = self.forward.core.output_specs(&inputs[0])?;
        let mut bwd = self.backward.core.output_specs(&inputs[0])?;
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

    fn uses_mask(&self) -> bool {
        true
    }

    fn compute_mask(
        &self,
        _inputs: &[Tensor],
        masks: &[Option<Tensor>],
        n_outputs: usize,
    ) -> Result<Vec<Option<Tensor>>> {
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

    fn call(
        &self,
        inputs: &[&Value],
        masks: &[Option<&Value>],
        ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let (x, mask) = sequence_inputs(inputs, masks)?;
        let (fwd, bwd) = self.run_both(x, mask, ctx)?;
        let (y, mut y_rev) = (fwd.output, bwd.output);
        if self.return_sequences() {
            // The backward layer returns its sequence in processing order.
            y_rev.invert_axis(Axis(1));
        }
        let mut out = merge(self.merge_mode, y, y_rev)?;
        if self.return_state() {
            out.extend(fwd.states.into_iter().map(Value::from));
            out.extend(bwd.states.into_iter().map(Value::from));
        }
        Ok(out)
    }

    fn visit_params(&self, visitor: &mut ParamVisitor<'_>) {
        for d in [&self.forward, &self.backward] {
            d.core.visit_params(&format!("{}/", d.name), visitor);
        }
    }

    fn visit_params_mut(&mut self, visitor: &mut ParamVisitorMut<'_>) {
        for d in [&mut self.forward, &mut self.backward] {
            d.core.visit_params_mut(&format!("{}/", d.name), visitor);
        }
    }

    fn weights_changed(&mut self) {
        self.forward.core.weights_changed();
        self.backward.core.weights_changed();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Keras' merge of the forward output `y` and the (re-ordered) backward output.
fn merge(mode: MergeMode, y: ArrayD<f32>, y_rev: ArrayD<f32>) -> Result<Vec<Value>> {
    if mode == MergeMode::None {
        let y_rev = y_rev.as_standard_layout().into_owned();
        return Ok(vec![Value::F32(y), Value::F32(y_rev)]);
    }
    if mode == MergeMode::Concat {
        return Ok(vec![Value::F32(concat_last(&y, &y_rev)?)]);
    }
    if y.shape() != y_rev.shape() {
        return Err(Error::invalid(format!(
            "merge mode {mode} needs outputs of equal shape, got {:?} and {:?}",
            y.shape(),
            y_rev.shape()
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
fn concat_last(a: &ArrayD<f32>, b: &ArrayD<f32>) -> Result<ArrayD<f32>> {
    let lead = |x: &ArrayD<f32>| x.shape().split_last().map(|(_, l)| l.to_vec());
    if a.ndim() != b.ndim() || lead(a) != lead(b) {
        return Err(Error::invalid(format!(
            "cannot concatenate outputs of shapes {:?} and {:?}",
            a.shape(),
            b.shape()
        )));
    }
    ndarray::concatenate(Axis(a.ndim().saturating_sub(1)), &[a.view(), b.view()])
        .map_err(|e| Error::invalid(format!("concatenation failed: {e}")))
}
