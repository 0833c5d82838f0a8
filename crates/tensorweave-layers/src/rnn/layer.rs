//! [`Recurrent`] (any of the three recurrent builders) and [`RecurrentLayer`],
//! the layer that runs one of them over a sequence.

use std::any::Any;

use ndarray::{Array, ArrayView, ArrayView2, ArrayView3, Axis, Ix2, Ix3, RemoveAxis};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::json;
use tensorweave_core::{
    format_shape, layer_rng, CallContext, Error, IntoLayer, Layer, LayerRef, ParamVisitor,
    ParamVisitorMut, Result, Tensor, TensorSpec, Value,
};

use super::cell::{Cell, CellKind};
use super::gru::Gru;
use super::lstm::Lstm;
use super::options::RnnOptions;
use super::sequence::{run_sequence, LoopOptions, RnnRun};
use super::simple_rnn::SimpleRnn;
use crate::activations::Activation;
use crate::util::{expect_float, expect_inputs, known_last_dim};
use crate::weights::assign_initial;

/// Any recurrent layer builder: what [`crate::rnn::Bidirectional`] wraps.
///
/// Serialized as Keras nests layers: `{"class_name": "LSTM", "config": {…}}`.
#[derive(Debug, Clone)]
pub enum Recurrent {
    /// An `LSTM`.
    Lstm(Lstm),
    /// A `GRU`.
    Gru(Gru),
    /// A `SimpleRNN`.
    SimpleRnn(SimpleRnn),
}

impl From<Lstm> for Recurrent {
    fn from(l: Lstm) -> Self {
        Recurrent::Lstm(l)
    }
}

impl From<Gru> for Recurrent {
    fn from(l: Gru) -> Self {
        Recurrent::Gru(l)
    }
}

impl From<SimpleRnn> for Recurrent {
    fn from(l: SimpleRnn) -> Self {
        Recurrent::SimpleRnn(l)
    }
}

impl Recurrent {
    /// The Keras class name: `LSTM`, `GRU` or `SimpleRNN`.
    pub fn class_name(&self) -> &'static str {
        match self {
            Recurrent::Lstm(_) => "LSTM",
            Recurrent::Gru(_) => "GRU",
            Recurrent::SimpleRnn(_) => "SimpleRNN",
        }
    }

    /// The options shared by every recurrent layer.
    pub fn options(&self) -> &RnnOptions {
        match self {
            Recurrent::Lstm(l) => &l.options,
            Recurrent::Gru(l) => &l.options,
            Recurrent::SimpleRnn(l) => &l.options,
        }
    }

    /// The options shared by every recurrent layer, mutably.
    pub fn options_mut(&mut self) -> &mut RnnOptions {
        match self {
            Recurrent::Lstm(l) => &mut l.options,
            Recurrent::Gru(l) => &mut l.options,
            Recurrent::SimpleRnn(l) => &mut l.options,
        }
    }

    /// The configuration as Keras' `get_config()` gives it, without `name`.
    pub fn config(&self) -> serde_json::Value {
        match self {
            Recurrent::Lstm(l) => serde_json::to_value(l),
            Recurrent::Gru(l) => serde_json::to_value(l),
            Recurrent::SimpleRnn(l) => serde_json::to_value(l),
        }
        .unwrap_or_default()
    }

    pub(crate) fn kind(&self) -> CellKind {
        match self {
            Recurrent::Lstm(_) => CellKind::Lstm,
            Recurrent::Gru(g) => CellKind::Gru {
                reset_after: g.reset_after,
            },
            Recurrent::SimpleRnn(_) => CellKind::Simple,
        }
    }

    fn recurrent_activation(&self) -> Activation {
        match self {
            Recurrent::Lstm(l) => l.recurrent_activation,
            Recurrent::Gru(g) => g.recurrent_activation,
            Recurrent::SimpleRnn(_) => Activation::Linear,
        }
    }
}

impl IntoLayer for Recurrent {
    fn into_layer(self) -> LayerRef {
        match self {
            Recurrent::Lstm(l) => l.into_layer(),
            Recurrent::Gru(l) => l.into_layer(),
            Recurrent::SimpleRnn(l) => l.into_layer(),
        }
    }
}

impl Serialize for Recurrent {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        json!({ "class_name": self.class_name(), "config": self.config() }).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Recurrent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Nested {
            class_name: String,
            config: serde_json::Value,
        }
        use serde::de::Error as _;
        let n = Nested::deserialize(d)?;
        let parsed = match n.class_name.as_str() {
            "LSTM" => serde_json::from_value(n.config).map(Recurrent::Lstm),
            "GRU" => serde_json::from_value(n.config).map(Recurrent::Gru),
            "SimpleRNN" => serde_json::from_value(n.config).map(Recurrent::SimpleRnn),
            other => {
                return Err(D::Error::custom(format!(
                    "expected a recurrent layer (LSTM, GRU, SimpleRNN), got class '{other}'"
                )))
            }
        };
        parsed.map_err(D::Error::custom)
    }
}

/// A recurrent layer's configuration and, once built, its cell: what
/// [`RecurrentLayer`] and each direction of a `Bidirectional` hold.
#[derive(Debug)]
pub(crate) struct RnnCore {
    pub(crate) spec: Recurrent,
    pub(crate) cell: Option<Cell>,
}

impl RnnCore {
    pub(crate) fn new(spec: Recurrent) -> Self {
        RnnCore { spec, cell: None }
    }

    /// Validates the options and the input, and creates the weights.
    pub(crate) fn build(&mut self, input: &TensorSpec) -> Result<()> {
        let options = self.spec.options();
        options.validate()?;
        check_sequence_spec(input)?;
        let input_dim = known_last_dim(input)?;
        let unit_forget_bias = match &self.spec {
            Recurrent::Lstm(l) => l.unit_forget_bias,
            _ => false,
        };
        let mut rng = layer_rng(options.seed);
        let mut cell = Cell::init(
            self.spec.kind(),
            options,
            self.spec.recurrent_activation(),
            unit_forget_bias,
            input_dim,
            &mut rng,
        );
        cell.prepare();
        self.cell = Some(cell);
        Ok(())
    }

    /// Rebuilds what the kernels derive from the weights.
    pub(crate) fn weights_changed(&mut self) {
        if let Some(cell) = &mut self.cell {
            cell.prepare();
        }
    }

    /// `[output, states…]` specs for a `[batch, time, features]` input.
    pub(crate) fn output_specs(&self, input: &TensorSpec) -> Result<Vec<TensorSpec>> {
        check_sequence_spec(input)?;
        if let (Some(cell), Some(features)) = (&self.cell, input.last_dim()) {
            if features != cell.input_dim() {
                return Err(Error::invalid(format!(
                    "expects inputs with {} features (its kernel was built for them), got shape {}",
                    cell.input_dim(),
                    format_shape(&input.shape)
                )));
            }
        }
        let options = self.spec.options();
        let (batch, time, units) = (input.shape[0], input.shape[1], Some(options.units));
        let mut specs = vec![if options.return_sequences {
            TensorSpec::f32(vec![batch, time, units])
        } else {
            TensorSpec::f32(vec![batch, units])
        }];
        if options.return_state {
            for _ in 0..self.spec.kind().n_states() {
                specs.push(TensorSpec::f32(vec![batch, units]));
            }
        }
        Ok(specs)
    }

    /// Runs the layer on `x` with an optional mask.
    pub(crate) fn run(
        &self,
        x: ArrayView3<'_, f32>,
        mask: Option<ArrayView2<'_, bool>>,
    ) -> Result<RnnRun> {
        let cell = self
            .cell
            .as_ref()
            .ok_or_else(|| Error::invalid("called before it was built"))?;
        let o = self.spec.options();
        let opts = LoopOptions {
            return_sequences: o.return_sequences,
            go_backwards: o.go_backwards,
            zero_output_for_mask: o.zero_output_for_mask,
        };
        run_sequence(cell, opts, x, mask)
    }

    /// [`RnnCore::run`], on two threads when `threads` allows it and the work
    /// is worth a thread: each takes half of the batch (rows are independent).
    pub(crate) fn run_split(
        &self,
        x: ArrayView3<'_, f32>,
        mask: Option<ArrayView2<'_, bool>>,
        threads: usize,
    ) -> Result<RnnRun> {
        /// Multiply-adds below which a second thread costs more than it saves.
        const MIN_WORK: usize = 1 << 22;
        let (batch, steps, features) = x.dim();
        let units = self.spec.options().units;
        let work = batch
            .saturating_mul(steps)
            .saturating_mul(self.spec.kind().gates() * units)
            .saturating_mul(features + units);
        let mask_fits = mask.as_ref().is_none_or(|m| m.dim() == (batch, steps));
        if threads < 2 || batch < 2 || work < MIN_WORK || !mask_fits {
            return self.run(x, mask);
        }
        let half = batch.div_ceil(2);
        let (x0, x1) = x.split_at(Axis(0), half);
        let (m0, m1) = match mask {
            Some(m) => {
                let (a, b) = m.split_at(Axis(0), half);
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        let (a, b) = std::thread::scope(|scope| {
            let second = scope.spawn(|| self.run(x1, m1));
            let first = self.run(x0, m0);
            let second = second
                .join()
                .map_err(|_| Error::invalid("the thread running half of the batch panicked"))?;
            Ok::<_, Error>((first?, second?))
        })?;
        let output = concat_rows(a.output.view(), b.output.view())?;
        let states = a
            .states
            .iter()
            .zip(&b.states)
            .map(|(p, q)| concat_rows(p.view(), q.view()))
            .collect::<Result<Vec<_>>>()?;
        Ok(RnnRun { output, states })
    }

    /// Visits the weights as `{prefix}{cell}/{name}`.
    pub(crate) fn visit_params(&self, prefix: &str, visitor: &mut ParamVisitor<'_>) {
        if let Some(cell) = &self.cell {
            let cell_name = cell.kind.cell_name();
            for p in cell.params() {
                visitor(&format!("{prefix}{cell_name}/{}", p.name), p);
            }
        }
    }

    /// Visits the weights mutably, in the same order.
    pub(crate) fn visit_params_mut(&mut self, prefix: &str, visitor: &mut ParamVisitorMut<'_>) {
        if let Some(cell) = &mut self.cell {
            let cell_name = cell.kind.cell_name();
            for p in cell.params_mut() {
                let path = format!("{prefix}{cell_name}/{}", p.name);
                visitor(&path, p);
            }
        }
    }
}

/// Stacks two arrays on the batch axis.
fn concat_rows<D: RemoveAxis>(
    p: ArrayView<'_, f32, D>,
    q: ArrayView<'_, f32, D>,
) -> Result<Array<f32, D>> {
    ndarray::concatenate(Axis(0), &[p, q])
        .map_err(|e| Error::invalid(format!("internal: joining the batch halves: {e}")))
}

/// Checks that an input is a float sequence `[batch, time, features]`.
pub(crate) fn check_sequence_spec(input: &TensorSpec) -> Result<()> {
    if input.rank() != 3 {
        return Err(Error::invalid(format!(
            "expects a sequence of shape [batch, time, features] (rank 3), got shape {} (rank {})",
            format_shape(&input.shape),
            input.rank()
        )));
    }
    expect_float(input)
}

/// The input array as `[batch, time, features]` and the mask as `[batch, time]`.
pub(crate) fn sequence_inputs<'a>(
    inputs: &[&'a Value],
    masks: &[Option<&'a Value>],
) -> Result<(ArrayView3<'a, f32>, Option<ArrayView2<'a, bool>>)> {
    let x = inputs
        .first()
        .ok_or_else(|| Error::invalid("expects 1 input tensor, got 0"))?
        .as_f32()?;
    let x = x.view().into_dimensionality::<Ix3>().map_err(|_| {
        Error::invalid(format!(
            "expects a sequence of shape [batch, time, features] (rank 3), got an array of shape {:?}",
            x.shape()
        ))
    })?;
    let mask = match masks.first().copied().flatten() {
        None => None,
        Some(m) => {
            let m = m.as_bool()?;
            let m = m.view().into_dimensionality::<Ix2>().map_err(|_| {
                Error::invalid(format!(
                    "the mask must have shape [batch, time], got {:?}",
                    m.shape()
                ))
            })?;
            Some(m)
        }
    };
    Ok((x, mask))
}

/// An `LSTM`, `GRU` or `SimpleRNN` layer: its configuration and, once built, its cell.
#[derive(Debug)]
pub struct RecurrentLayer {
    core: RnnCore,
}

impl RecurrentLayer {
    /// A layer for the given builder (built on its first call).
    pub fn new(spec: Recurrent) -> Self {
        RecurrentLayer {
            core: RnnCore::new(spec),
        }
    }

    /// The configuration.
    pub fn spec(&self) -> &Recurrent {
        &self.core.spec
    }
}

impl Layer for RecurrentLayer {
    fn class_name(&self) -> &str {
        self.core.spec.class_name()
    }

    fn config(&self) -> serde_json::Value {
        self.core.spec.config()
    }

    fn build(&mut self, inputs: &[TensorSpec]) -> Result<()> {
        expect_inputs(inputs, 1)?;
        self.core.build(&inputs[0])?;
        let preset = self.core.spec.options_mut().preset.take();
        assign_initial(self, preset)
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        self.core.output_specs(&inputs[0])
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
        if self.core.spec.options().return_sequences {
            if let Some(first) = out.first_mut() {
                *first = masks.first().cloned().flatten();
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
        let run = self.core.run_split(x, mask, ctx.threads)?;
        let mut out = vec![Value::F32(run.output)];
        if self.core.spec.options().return_state {
            out.extend(run.states.into_iter().map(Value::from));
        }
        Ok(out)
    }

    fn visit_params(&self, visitor: &mut ParamVisitor<'_>) {
        self.core.visit_params("", visitor);
    }

    fn visit_params_mut(&mut self, visitor: &mut ParamVisitorMut<'_>) {
        self.core.visit_params_mut("", visitor);
    }

    fn weights_changed(&mut self) {
        self.core.weights_changed();
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
