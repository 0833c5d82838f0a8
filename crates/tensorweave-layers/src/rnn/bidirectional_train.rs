//! Training of [`BidirectionalLayer`]: both directions run in training mode
//! (on two threads when the context allows), their outputs merged as
//! [`tensorweave_core::Layer::call`] merges them; the backward splits the gradient of the merged
//! output by the merge mode, flips the backward direction's part into its
//! processing order, and runs each direction's own backward. The input
//! gradient is the sum of both; the weight gradients are named under each
//! direction (`forward_lstm/lstm_cell/kernel`).

use ndarray::{ArrayD, Axis, Slice};
use tensorweave_core::{
    format_dims, BackwardCall, CallContext, Error, Inputs, LayerGrads, LayerRef, OutputGrad,
    Result, Trained,
};

use super::bidirectional::{direction_inputs, merge, BidirectionalLayer, MergeMode};
use super::sequence::join;

/// What a training call keeps: each direction's training result.
pub(crate) struct BiTape {
    forward: Trained,
    backward: Trained,
}

/// Runs `fa` and `fb`, on two threads (each with half of the context's) when
/// the context has at least two.
pub(crate) fn both<A: Send, B: Send>(
    ctx: &CallContext,
    fa: impl FnOnce(&CallContext) -> Result<A> + Send,
    fb: impl FnOnce(&CallContext) -> Result<B> + Send,
) -> Result<(A, B)> {
    if ctx.threads < 2 {
        return Ok((fa(ctx)?, fb(ctx)?));
    }
    let mut half = ctx.clone();
    half.threads = (ctx.threads / 2).max(1);
    join(|| fa(&half), || fb(&half))
}

/// The backward direction's sequence in input order (it returns it in
/// processing order), or its last output as it is.
fn in_input_order(mut y: ArrayD<f32>, sequences: bool) -> ArrayD<f32> {
    if sequences {
        y.invert_axis(Axis(1));
    }
    y
}

/// The first output of a direction, as float data.
fn first_output(t: &Trained) -> Result<&ArrayD<f32>> {
    t.outputs
        .first()
        .ok_or_else(|| Error::invalid("internal: a direction returned no output"))?
        .as_f32()
}

/// [`tensorweave_core::Layer::call_train`] of a `Bidirectional`.
pub(crate) fn call_train(
    layer: &BidirectionalLayer,
    inputs: &Inputs<'_>,
    ctx: &CallContext,
) -> Result<Trained> {
    let (f, b) = layer.directions()?;
    let (fi, bi) = direction_inputs(inputs)?;
    let run = |l: &LayerRef, inputs: &Inputs<'_>, ctx: &CallContext| {
        l.read()
            .call_train(inputs, ctx)
            .map_err(|e| e.in_layer(l.name(), l.class_name()))
    };
    let (forward, backward) = both(ctx, |c| run(f, &fi, c), |c| run(b, &bi, c))?;
    let sequences = layer.return_sequences();
    let y = first_output(&forward)?.clone();
    let y_rev = in_input_order(first_output(&backward)?.clone(), sequences);
    let mut out = merge(layer.merge_mode(), y, y_rev, None)?;
    if layer.return_state() {
        out.extend(forward.outputs.iter().skip(1).cloned());
        out.extend(backward.outputs.iter().skip(1).cloned());
    }
    Ok(Trained::with_saved(out, BiTape { forward, backward }))
}

/// [`tensorweave_core::Layer::backward`] of a `Bidirectional`.
pub(crate) fn backward(layer: &BidirectionalLayer, call: &BackwardCall<'_>) -> Result<LayerGrads> {
    let tape = call.saved::<BiTape>()?;
    let (f, b) = layer.directions()?;
    let sequences = layer.return_sequences();
    let mode = layer.merge_mode();
    let merged = if mode == MergeMode::None { 2 } else { 1 };
    let y = first_output(&tape.forward)?;
    let y_rev = in_input_order(first_output(&tape.backward)?.clone(), sequences);
    let outputs: Vec<Option<&ArrayD<f32>>> = (0..merged)
        .map(|k| call.value_grad(k))
        .collect::<Result<_>>()?;
    let (gf, gb) = merge_backward(mode, &outputs, y, &y_rev)?;
    let gb = gb.map(|g| {
        in_input_order(g, sequences)
            .as_standard_layout()
            .into_owned()
    });
    let nf = tape.forward.outputs.len().saturating_sub(1);
    let nb = tape.backward.outputs.len().saturating_sub(1);
    let states = |first: usize, n: usize| -> Vec<OutputGrad> {
        (first..first + n).map(|k| call.grad(k).clone()).collect()
    };
    let with_output = |g: Option<ArrayD<f32>>, rest: Vec<OutputGrad>| {
        let mut all = vec![OutputGrad {
            value: g,
            logits: None,
        }];
        all.extend(rest);
        all
    };
    let (grads_f, grads_b) = if layer.return_state() {
        (states(merged, nf), states(merged + nf, nb))
    } else {
        (Vec::new(), Vec::new())
    };
    let (grads_f, grads_b) = (with_output(gf, grads_f), with_output(gb, grads_b));
    let (fi, bi) = direction_inputs(call.inputs)?;
    let run = |l: &LayerRef,
               inputs: &Inputs<'_>,
               t: &Trained,
               grads: &[OutputGrad],
               ctx: &CallContext| {
        let sub = BackwardCall {
            inputs,
            outputs: &t.outputs,
            saved: &*t.saved,
            grads,
            ctx,
        };
        l.read()
            .backward(&sub)
            .map_err(|e| e.in_layer(l.name(), l.class_name()))
    };
    let (rf, rb) = both(
        call.ctx,
        |c| run(f, &fi, &tape.forward, &grads_f, c),
        |c| run(b, &bi, &tape.backward, &grads_b, c),
    )?;
    combine(f, rf, b, rb)
}

/// The input gradient summed over both directions, then the gradients of
/// the forward and the backward initial states; the weight gradients under
/// each direction's name.
fn combine(f: &LayerRef, rf: LayerGrads, b: &LayerRef, rb: LayerGrads) -> Result<LayerGrads> {
    let first = |g: &LayerGrads| g.inputs.first().cloned().flatten();
    let mut gx = first(&rf);
    if let Some(g) = first(&rb) {
        tensorweave_core::layer::add_into(&mut gx, g)?;
    }
    let mut inputs = vec![gx];
    inputs.extend(rf.inputs.iter().skip(1).cloned());
    inputs.extend(rb.inputs.iter().skip(1).cloned());
    let mut out = LayerGrads::inputs(inputs);
    for (l, r) in [(f, rf), (b, rb)] {
        out.params.extend(
            r.params
                .into_iter()
                .map(|(path, g)| (format!("{}/{path}", l.name()), g)),
        );
    }
    Ok(out)
}

/// The gradients of the forward output `y` and of the backward output in
/// input order `y_rev`, from those of the merged output(s) `g`.
#[allow(clippy::type_complexity)]
fn merge_backward(
    mode: MergeMode,
    g: &[Option<&ArrayD<f32>>],
    y: &ArrayD<f32>,
    y_rev: &ArrayD<f32>,
) -> Result<(Option<ArrayD<f32>>, Option<ArrayD<f32>>)> {
    if mode == MergeMode::None {
        let at = |k: usize| g.get(k).copied().flatten().cloned();
        return Ok((at(0), at(1)));
    }
    let Some(g) = g.first().copied().flatten() else {
        return Ok((None, None));
    };
    match mode {
        MergeMode::Concat => split_last(g, y, y_rev).map(|(a, b)| (Some(a), Some(b))),
        MergeMode::Sum => Ok((Some(g.clone()), Some(g.clone()))),
        MergeMode::Ave => {
            let half = g.mapv(|v| v * 0.5);
            Ok((Some(half.clone()), Some(half)))
        }
        _ => {
            if g.shape() != y.shape() || g.shape() != y_rev.shape() {
                return Err(Error::invalid(format!(
                    "got a gradient of shape {} for outputs of shape {}",
                    format_dims(g.shape()),
                    format_dims(y.shape())
                )));
            }
            Ok((Some(g * y_rev), Some(g * y)))
        }
    }
}

/// A gradient of the concatenation of `y` and `y_rev` split into theirs.
fn split_last(
    g: &ArrayD<f32>,
    y: &ArrayD<f32>,
    y_rev: &ArrayD<f32>,
) -> Result<(ArrayD<f32>, ArrayD<f32>)> {
    let last = Axis(g.ndim().saturating_sub(1));
    let (uf, ub) = (
        y.shape().last().copied().unwrap_or(0),
        y_rev.shape().last().copied().unwrap_or(0),
    );
    let lead = |a: &ArrayD<f32>| a.shape().split_last().map(|(_, l)| l.to_vec());
    if g.ndim() != y.ndim() || lead(g) != lead(y) || g.shape().last() != Some(&(uf + ub)) {
        return Err(Error::invalid(format!(
            "got a gradient of shape {} for the concatenation of outputs of shapes {} and {}",
            format_dims(g.shape()),
            format_dims(y.shape()),
            format_dims(y_rev.shape())
        )));
    }
    let a = g.slice_axis(last, Slice::from(..uf)).to_owned();
    let b = g.slice_axis(last, Slice::from(uf..)).to_owned();
    Ok((a, b))
}
