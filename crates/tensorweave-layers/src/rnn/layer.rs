//! [`Rnn`]: the recurrent layer over any [`Cell`] (`LSTM` is `Rnn<LstmCell>`),
//! Keras' `RNN` base: shapes, masks, direction, returned sequence and states.

use ndarray::{Array2, ArrayView2, ArrayView3, Axis, Ix2, Ix3};
use tensorweave_core::{format_dims, BufferPool};
use tensorweave_core::{
    format_shape, BackwardCall, BuildContext, CallContext, Error, Layer, LayerGrads, LayerRef,
    MaskCall, Param, Recurrence, Result, Sublayer, Tensor, TensorSpec, Trained, Value,
};

use super::bptt::{self, CellDropout, CellTraining, DropoutRates, OutputGrads, SequenceTape};
use super::cell::Cell;
use super::options::RnnBuilder;
use super::sequence::{
    check_initial_states, concat_rows, join, run_sequence, split_batch, state_rows, LoopOptions,
    RnnRun, SeqSource,
};
use crate::class::{LayerBuilder, LayerClass};
use crate::class_and_config;
use crate::util::{expect_float, known_last_dim};
use tensorweave_core::Inputs;

/// A recurrent layer: the configuration of its [`Cell`] type's layer and the
/// cell itself, a sublayer (`lstm_cell`) that holds the weights
/// (`lstm/lstm_cell/kernel`, as Keras names them).
#[derive(Debug)]
pub struct Rnn<C: Cell> {
    config: C::Builder,
    cell: LayerRef,
    /// The states a stateful layer carries to its next call (none before
    /// the first call and after `reset_states`: zeros).
    carried: std::sync::Mutex<Option<Vec<Array2<f32>>>>,
    /// The embedding folded into the input product, at inference.
    fold: super::fold::Fold,
}

impl<C: Cell> Rnn<C> {
    /// The configuration.
    pub fn config(&self) -> &C::Builder {
        &self.config
    }

    /// How the sequence loop runs.
    fn loop_options(&self) -> LoopOptions {
        let o = self.config.options();
        LoopOptions {
            return_sequences: o.return_sequences,
            go_backwards: o.go_backwards,
            zero_output_for_mask: o.zero_output_for_mask,
        }
    }

    /// Runs the cell over `x` with an optional mask, from the states `init`
    /// (none: zeros).
    fn run(
        &self,
        cell: &C,
        x: SeqSource<'_>,
        mask: Option<ArrayView2<'_, bool>>,
        init: &[ArrayView2<'_, f32>],
        pool: Option<&BufferPool>,
    ) -> Result<RnnRun> {
        run_sequence(cell, self.loop_options(), x, mask, init, pool)
    }

    /// The states a stateful layer starts this call from (`None` when it is
    /// not stateful, or when initial states are given: they win, as in
    /// Keras), checked against the batch.
    fn carried_states(&self, batch: usize, none_given: bool) -> Result<Option<Vec<Array2<f32>>>> {
        let o = self.config.options();
        if !o.stateful || !none_given {
            return Ok(None);
        }
        let carried = self
            .carried
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match carried.as_ref() {
            Some(states) if states.iter().any(|s| s.nrows() != batch) => {
                Err(Error::invalid(format!(
                    "is stateful: it carries states of {} rows, but this call has a batch of \
                     {batch}; give every call the layer's fixed batch size (predict one batch \
                     at a time), or call reset_states() first",
                    states.first().map_or(0, Array2::nrows)
                )))
            }
            Some(states) => Ok(Some(states.clone())),
            None => Ok(None),
        }
    }

    /// Keeps a stateful layer's final states for its next call.
    fn carry(&self, states: &[Array2<f32>]) {
        if self.config.options().stateful {
            *self
                .carried
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(states.to_vec());
        }
    }

    /// Checks the inputs of a call: the sequence, then none or all of the
    /// cell's initial states (Keras' `initial_state`), each
    /// `[batch, units]` float.
    fn check_state_specs(&self, inputs: &[TensorSpec]) -> Result<()> {
        let n_states = cell_of::<C>(&*self.cell.read())?.states();
        let units = self.config.options().units;
        if inputs.is_empty() || (inputs.len() != 1 && inputs.len() != 1 + n_states) {
            return Err(Error::invalid(format!(
                "expects a sequence and, optionally, its {n_states} initial state(s)                  (`initial_state`), got {} input tensor(s)",
                inputs.len()
            )));
        }
        for (k, spec) in inputs.iter().enumerate().skip(1) {
            let fits = spec.rank() == 2
                && spec.shape[1].is_none_or(|u| u == units)
                && (spec.shape[0].is_none()
                    || inputs[0].shape[0].is_none()
                    || spec.shape[0] == inputs[0].shape[0]);
            if !fits {
                return Err(Error::invalid(format!(
                    "initial state {} must have shape (batch, {units}), got {}",
                    k - 1,
                    format_shape(&spec.shape)
                )));
            }
            expect_float(spec)?;
        }
        Ok(())
    }

    /// The dropout masks of one training call on `x`.
    fn dropout_masks(
        &self,
        t: CellTraining,
        x: &ArrayView3<'_, f32>,
        units: usize,
        ctx: &CallContext,
    ) -> CellDropout {
        let o = self.config.options();
        let rates = DropoutRates {
            input: o.dropout,
            recurrent: o.recurrent_dropout,
            seed: o.seed,
            step_seed: ctx.step_seed,
        };
        let (batch, _, features) = x.dim();
        CellDropout::draw(t, rates, batch, features, units)
    }

    /// What the cell computes for training, or why it cannot be trained.
    fn training(&self, cell: &C) -> Result<CellTraining> {
        cell.training().ok_or_else(|| {
            Error::invalid(format!(
                "its cell ({}) has no backward pass (Cell::training is None)",
                C::CELL_NAME
            ))
        })
    }

    /// [`Rnn::run`], on two threads when `threads` allows it and the work
    /// is worth a thread: each takes half of the batch (rows are independent).
    fn run_split(
        &self,
        cell: &C,
        x: SeqSource<'_>,
        mask: Option<ArrayView2<'_, bool>>,
        init: &[ArrayView2<'_, f32>],
        ctx: &CallContext,
    ) -> Result<RnnRun> {
        let (threads, pool) = (ctx.threads, ctx.pool.as_deref());
        let (batch, steps, _) = x.dim();
        let units = self.config.options().units;
        let mask_fits = mask.as_ref().is_none_or(|m| m.dim() == (batch, steps));
        let states_fit = init.iter().all(|s| s.dim() == (batch, units));
        let split = split_batch(x.dim(), cell.gates(), units, threads);
        let Some(half) = split.filter(|_| mask_fits && states_fit) else {
            return self.run(cell, x, mask, init, pool);
        };
        let (i0, i1) = (state_rows(init, 0..half), state_rows(init, half..batch));
        let (x0, x1) = x.split_rows(half);
        let (m0, m1) = match mask {
            Some(m) => {
                let (a, b) = m.split_at(Axis(0), half);
                (Some(a), Some(b))
            }
            None => (None, None),
        };
        let (a, b) = join(
            || self.run(cell, x0, m0, &i0, pool),
            || self.run(cell, x1, m1, &i1, pool),
        )?;
        let output = concat_rows(a.output.view(), b.output.view())?;
        if let Some(pool) = pool {
            pool.recycle(Value::F32(a.output));
            pool.recycle(Value::F32(b.output));
        }
        let states = a
            .states
            .iter()
            .zip(&b.states)
            .map(|(p, q)| concat_rows(p.view(), q.view()))
            .collect::<Result<Vec<_>>>()?;
        Ok(RnnRun { output, states })
    }
}

impl<C: Cell> Rnn<C> {
    /// The folded table for the ids `ids` of `lookup`, when they can take
    /// the folded path: int32 `[batch, time]` with at least one step, every
    /// id in the table (the lookup's own call reports a bad one), and the
    /// rule of [`super::fold`] satisfied.
    fn folded(&self, lookup: &LayerRef, ids: &Value) -> Option<std::sync::Arc<Vec<f32>>> {
        let Value::I32(ids) = ids else {
            return None;
        };
        if ids.ndim() != 2 || ids.shape()[1] == 0 {
            return None;
        }
        let guard = self.cell.read();
        let cell = cell_of::<C>(&*guard).ok()?;
        let w = cell.weights().ok()?;
        let table = self.fold.table(lookup, &self.cell, &w, ids.len())?;
        let vocab = table.len() / (cell.gates() * cell.units()).max(1);
        ids.iter()
            .all(|&i| i >= 0 && (i as usize) < vocab)
            .then_some(table)
    }
}

impl<C: Cell> LayerClass for Rnn<C> {
    const CLASS_NAME: &'static str = C::LAYER_CLASS;
    type Builder = C::Builder;

    fn from_builder(mut config: C::Builder) -> Self {
        // The builder's seed also seeds the dropout masks, kept in the
        // configuration as Keras keeps `seed` (copies from it drop the same).
        if config.options().seed.is_none() {
            config.options_mut().seed = config.common().seed;
        }
        let cell = LayerRef::new(C::CELL_NAME, C::from_builder(&config));
        Rnn {
            config,
            cell,
            carried: std::sync::Mutex::new(None),
            fold: Default::default(),
        }
    }
}

impl<C: Cell> Layer for Rnn<C> {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        self.config.options().validate()?;
        self.check_state_specs(inputs)?;
        let input = &inputs[0];
        check_sequence_spec(input)?;
        if self.config.options().stateful && input.shape[0].is_none() {
            return Err(Error::invalid(format!(
                "is stateful, so it needs to know its batch size; give the input a fixed batch \
                 size (Input::batch_size, Keras' batch_shape), got shape {}",
                format_shape(&input.shape)
            )));
        }
        let step = TensorSpec::f32(vec![input.shape[0], Some(known_last_dim(input)?)]);
        self.cell.build_with(&[step], ctx)
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        self.check_state_specs(inputs)?;
        let input = &inputs[0];
        check_sequence_spec(input)?;
        let guard = self.cell.read();
        let cell = cell_of::<C>(&*guard)?;
        if let Some(features) = input.last_dim() {
            if cell.input_dim() != 0 && features != cell.input_dim() {
                return Err(Error::invalid(format!(
                    "expects inputs with {} features (its kernel was built for them), got shape {}",
                    cell.input_dim(),
                    format_shape(&input.shape)
                )));
            }
        }
        let options = self.config.options();
        let (batch, time, units) = (input.shape[0], input.shape[1], Some(options.units));
        let mut specs = vec![if options.return_sequences {
            TensorSpec::f32(vec![batch, time, units])
        } else {
            TensorSpec::f32(vec![batch, units])
        }];
        if options.return_state {
            for _ in 0..cell.states() {
                specs.push(TensorSpec::f32(vec![batch, units]));
            }
        }
        Ok(specs)
    }

    fn uses_mask(&self) -> bool {
        true
    }

    fn compute_mask(&self, call: &MaskCall<'_>) -> Result<Vec<Option<Tensor>>> {
        let (masks, n_outputs) = (call.masks, call.n_outputs);
        let mut out = vec![None; n_outputs];
        if self.config.options().return_sequences {
            if let Some(first) = out.first_mut() {
                *first = masks.first().cloned().flatten();
            }
        }
        Ok(out)
    }

    fn call(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Vec<Value>> {
        let (x, mask) = sequence_inputs(inputs)?;
        let given = initial_states(inputs)?;
        let carried = self.carried_states(x.dim().0, given.is_empty())?;
        let init: Vec<ArrayView2<'_, f32>> = match &carried {
            Some(states) => states.iter().map(|s| s.view()).collect(),
            None => given,
        };
        let guard = self.cell.read();
        let cell = cell_of::<C>(&*guard)?;
        let run = self.run_split(cell, SeqSource::Dense(x), mask, &init, ctx)?;
        self.carry(&run.states);
        let mut out = vec![Value::F32(run.output)];
        if self.config.options().return_state {
            out.extend(run.states.into_iter().map(Value::from));
        }
        Ok(out)
    }

    /// Takes the ids of an `Embedding` feeding this layer when its table
    /// folds into the input product (see the `rnn::fold` module).
    fn accepts_lookup(&self, lookup: &LayerRef, ids: &Value) -> bool {
        self.folded(lookup, ids).is_some()
    }

    fn cache_bytes(&self) -> usize {
        self.fold.bytes()
    }

    fn call_on_lookup(
        &self,
        lookup: &LayerRef,
        inputs: &Inputs<'_>,
        ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let ids = inputs.value(0)?;
        let table = self
            .folded(lookup, ids)
            .ok_or_else(|| Error::invalid("internal: the folded table is gone"))?;
        let Value::I32(ids) = ids else {
            return Err(Error::invalid("internal: folded ids are not int32"));
        };
        let ids = ids
            .view()
            .into_dimensionality::<ndarray::Ix2>()
            .map_err(|_| Error::invalid("internal: folded ids are not [batch, time]"))?;
        let mask = sequence_mask(inputs)?;
        let given = initial_states(inputs)?;
        let carried = self.carried_states(ids.nrows(), given.is_empty())?;
        let init: Vec<ArrayView2<'_, f32>> = match &carried {
            Some(states) => states.iter().map(|s| s.view()).collect(),
            None => given,
        };
        let guard = self.cell.read();
        let cell = cell_of::<C>(&*guard)?;
        let source = SeqSource::Folded { ids, table: &table };
        let run = self.run_split(cell, source, mask, &init, ctx)?;
        self.carry(&run.states);
        let mut out = vec![Value::F32(run.output)];
        if self.config.options().return_state {
            out.extend(run.states.into_iter().map(Value::from));
        }
        Ok(out)
    }

    fn has_backward(&self) -> bool {
        cell_of::<C>(&*self.cell.read()).is_ok_and(|c| c.training().is_some())
    }

    /// The training forward, keeping each valid step's previous states and
    /// gates for the backward (each half of the batch on its own thread when
    /// the context allows it and the work is worth it).
    fn call_train(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Trained> {
        let (x, mask) = sequence_inputs(inputs)?;
        let given = initial_states(inputs)?;
        let carried = self.carried_states(x.dim().0, given.is_empty())?;
        let init: Vec<ArrayView2<'_, f32>> = match &carried {
            Some(states) => states.iter().map(|s| s.view()).collect(),
            None => given,
        };
        let guard = self.cell.read();
        let cell = cell_of::<C>(&*guard)?;
        let training = self.training(cell)?;
        let w = cell.weights()?;
        let opts = self.loop_options();
        let drop = self.dropout_masks(training, &x, cell.units(), ctx);
        check_initial_states(&init, cell.states(), x.dim().0, cell.units())?;
        let sequence = bptt::Sequence {
            x,
            mask,
            init: &init,
        };
        let (run, tape) = bptt::forward_split(
            training,
            &w,
            cell.units(),
            opts,
            sequence,
            drop,
            ctx.threads,
        )?;
        self.carry(&run.states);
        let mut out = vec![Value::F32(run.output)];
        if self.config.options().return_state {
            out.extend(run.states.into_iter().map(Value::from));
        }
        Ok(Trained::with_saved(out, tape))
    }

    /// Backpropagation through time; the weight gradients are named by the
    /// cell (`lstm_cell/kernel`).
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let tape = call.saved::<SequenceTape>()?;
        let (x, _) = sequence_inputs(call.inputs)?;
        let state = |k: usize| {
            if self.config.options().return_state {
                call.value_grad(k)
            } else {
                Ok(None)
            }
        };
        let grads = OutputGrads {
            output: call.value_grad(0)?,
            h: state(1)?,
            c: state(2)?,
        };
        let n_inputs = call.inputs.len();
        if grads.output.is_none() && grads.h.is_none() && grads.c.is_none() {
            return Ok(LayerGrads::inputs(vec![None; n_inputs]));
        }
        let guard = self.cell.read();
        let cell = cell_of::<C>(&*guard)?;
        let training = self.training(cell)?;
        let w = cell.weights()?;
        let g = bptt::backward_split(training, &w, self.loop_options(), tape, x, grads)?;
        let name = self.cell.name();
        // The initial states' gradients, for the state inputs given.
        let mut inputs = vec![Some(g.x)];
        inputs.extend(
            g.states
                .into_iter()
                .take(n_inputs.saturating_sub(1))
                .map(|s| Some(s.into_dyn())),
        );
        let mut out = LayerGrads::inputs(inputs)
            .param(&format!("{name}/kernel"), g.kernel.into_dyn())
            .param(&format!("{name}/recurrent_kernel"), g.recurrent.into_dyn());
        if let Some(bias) = g.bias {
            out = out.param(&format!("{name}/bias"), bias);
        }
        Ok(out)
    }

    fn params(&self) -> Vec<&Param> {
        Vec::new()
    }

    fn sublayers(&self) -> Vec<Sublayer> {
        vec![Sublayer::part("cell", self.cell.clone())]
    }

    fn activity_regularizer(&self) -> Option<serde_json::Value> {
        self.config.options().activity_regularizer.clone()
    }

    /// The regularizers of the cell's weights (`lstm_cell/kernel`, …).
    fn weight_regularizers(&self) -> Vec<(String, serde_json::Value)> {
        let o = self.config.options();
        let cell = self.cell.name();
        crate::util::regularizers(&[
            (&format!("{cell}/kernel"), &o.kernel_regularizer),
            (
                &format!("{cell}/recurrent_kernel"),
                &o.recurrent_regularizer,
            ),
            (&format!("{cell}/bias"), &o.bias_regularizer),
        ])
    }

    fn takes_initial_state(&self) -> bool {
        true
    }

    fn reset_states(&self) {
        *self
            .carried
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }

    fn time_role(&self) -> tensorweave_core::TimeRole {
        // The loop skips masked steps: they change no state.
        tensorweave_core::TimeRole::MaskedScan {
            sequences: self.config.options().return_sequences,
        }
    }

    fn carries_state(&self) -> bool {
        self.config.options().stateful
    }

    fn recurrence(&self) -> Option<Recurrence> {
        let o = self.config.options();
        let states = cell_of::<C>(&*self.cell.read()).map_or(1, |c| c.states());
        Some(Recurrence {
            units: o.units,
            states,
            return_sequences: o.return_sequences,
            return_state: o.return_state,
            go_backwards: o.go_backwards,
        })
    }
}

/// The cell of type `C` behind a sublayer's handle.
fn cell_of<C: Cell>(layer: &dyn Layer) -> Result<&C> {
    layer
        .as_any()
        .downcast_ref::<C>()
        .ok_or_else(|| Error::invalid(format!("internal: the cell is not a {}", C::CELL_NAME)))
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

/// The initial states given after the sequence (none: zeros), as
/// `[batch, units]` views.
pub(crate) fn initial_states<'a>(inputs: &Inputs<'a>) -> Result<Vec<ArrayView2<'a, f32>>> {
    (1..inputs.len())
        .map(|k| {
            let s = inputs.f32(k)?;
            s.view().into_dimensionality::<Ix2>().map_err(|_| {
                Error::invalid(format!(
                    "initial state {} must have shape [batch, units], got an array of shape {}",
                    k - 1,
                    format_dims(s.shape())
                ))
            })
        })
        .collect()
}

/// The input array as `[batch, time, features]` and the mask as `[batch, time]`.
pub(crate) fn sequence_inputs<'a>(
    inputs: &Inputs<'a>,
) -> Result<(ArrayView3<'a, f32>, Option<ArrayView2<'a, bool>>)> {
    let x = inputs.f32(0)?;
    let x = x.view().into_dimensionality::<Ix3>().map_err(|_| {
        Error::invalid(format!(
            "expects a sequence of shape [batch, time, features] (rank 3), got an array of shape {}",
            format_dims(x.shape())
        ))
    })?;
    if x.dim().1 == 0 {
        // Keras (TensorFlow) fails on the first step's slice: an RNN needs a step.
        return Err(Error::invalid(format!(
            "got a sequence of 0 time steps, shape {}; a recurrent layer needs at least one \
             step (Keras fails too): leave empty rows out, or give each at least one (padding) step",
            format_dims(x.shape())
        )));
    }
    Ok((x, sequence_mask(inputs)?))
}

/// The mask of input 0 as `[batch, time]`, if any.
fn sequence_mask<'a>(inputs: &Inputs<'a>) -> Result<Option<ArrayView2<'a, bool>>> {
    let mask = match inputs.mask(0) {
        None => None,
        Some(m) => {
            let m = m.as_bool()?;
            let m = m.view().into_dimensionality::<Ix2>().map_err(|_| {
                Error::invalid(format!(
                    "the mask must have shape [batch, time], got {}",
                    format_dims(m.shape())
                ))
            })?;
            Some(m)
        }
    };
    Ok(mask)
}
