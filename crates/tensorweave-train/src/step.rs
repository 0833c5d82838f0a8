//! One training step's loss and gradients, as Keras' `train_step` computes them
//! before the optimizer: the model in training mode, each output's loss (from
//! the cached logits of a softmax or sigmoid output), the loss weights, the
//! weight regularizers' penalties, and the backward pass.

use ndarray::ArrayD;
use tensorweave_core::{
    CallContext, Error, FunctionalLayer, Gradient, Gradients, LayerRef, LogitsOf, Model,
    OutputGrad, Result, TrainRun, Value,
};

use crate::losses::{Activation, Loss, Prediction, Wrt};
use crate::regularizers::Regularizer;

/// What the loss of one output is.
#[derive(Debug)]
pub struct OutputLoss<'a> {
    /// The loss.
    pub loss: &'a dyn Loss,
    /// Its weight in the total (Keras' `loss_weights`; 1 by default).
    pub weight: f32,
    /// The targets, of the output's shape (or what the loss accepts).
    pub y_true: ArrayD<f32>,
}

/// The loss and gradients of one batch.
#[derive(Debug)]
pub struct StepGradients {
    /// The total loss: weighted output losses plus the regularization penalties.
    pub loss: f32,
    /// Each output's loss (weighted by the sample weights, not by the loss weight;
    /// `None` for an output without a loss). Keras logs these as `<output>_loss`.
    pub output_losses: Vec<Option<f32>>,
    /// The sum of the regularization penalties (part of `loss`): the weight
    /// regularizers' and the activity regularizers'.
    pub regularization: f32,
    /// The gradient of `loss` with respect to every trainable weight, by path.
    pub gradients: Gradients,
    /// Bytes of activations the forward pass kept for the backward.
    pub activation_bytes: usize,
    /// New values of non-trainable weights (moving statistics), by path, to
    /// write after the optimizer's step.
    pub state_updates: Vec<(String, ArrayD<f32>)>,
    /// The model's outputs in this (training-mode) forward pass, for metrics.
    pub outputs: Vec<Value>,
    /// Each output's Keras mask in this pass.
    pub output_masks: Vec<Option<ArrayD<bool>>>,
}

/// Runs `model` in training mode on `inputs`, takes the loss of each output
/// (one entry per output, `None` for an output without a loss), adds the
/// regularization penalties, and backpropagates: Keras' `train_step` up to the
/// optimizer. `sample_weight` (one weight per sample) applies to every loss.
pub fn loss_and_gradients(
    model: &Model,
    inputs: &[Value],
    losses: &[Option<OutputLoss<'_>>],
    sample_weight: Option<&ArrayD<f32>>,
    ctx: &CallContext,
) -> Result<StepGradients> {
    let n_outputs = model.outputs().len();
    if losses.len() != n_outputs {
        return Err(Error::Input(format!(
            "model '{}' has {n_outputs} output(s), got {} loss entries",
            model.name(),
            losses.len()
        )));
    }
    check_activity_regularizers(model)?;
    let mut run = model.forward_train(inputs, ctx)?;
    let mut total = 0.0f32;
    let mut output_losses = Vec::with_capacity(n_outputs);
    let mut grads = Vec::with_capacity(n_outputs);
    {
        let outputs = run.outputs()?;
        for (k, spec) in losses.iter().enumerate() {
            let Some(spec) = spec else {
                output_losses.push(None);
                grads.push(OutputGrad::default());
                continue;
            };
            let output = outputs[k].as_f32()?;
            let pred = match run.output_logits(k) {
                Some(l) => Prediction::with_logits(
                    output.view(),
                    l.values.view(),
                    match l.activation {
                        LogitsOf::Softmax => Activation::Softmax,
                        LogitsOf::Sigmoid => Activation::Sigmoid,
                    },
                ),
                None => Prediction::new(output.view()),
            };
            let mask = match run.output_mask(k)? {
                Some(m) => Some(m.as_bool()?),
                None => None,
            };
            let value = spec.loss.compute(
                spec.y_true.view(),
                &pred,
                sample_weight.map(|w| w.view()),
                mask.map(|m| m.view()),
            )?;
            total += spec.weight * value.value;
            output_losses.push(Some(value.value));
            let g = value.grad.mapv(|g| g * spec.weight);
            grads.push(match value.wrt {
                Wrt::Output => OutputGrad::of_value(g),
                Wrt::Logits => OutputGrad::of_logits(g),
            });
        }
    }
    let outputs: Vec<Value> = run.outputs()?.into_iter().cloned().collect();
    let output_masks = (0..n_outputs)
        .map(|k| match run.output_mask(k)? {
            Some(m) => Ok(Some(m.as_bool()?.clone())),
            None => Ok(None),
        })
        .collect::<Result<Vec<_>>>()?;
    let activation_bytes = run.activation_bytes();
    let state_updates = run.state_updates().to_vec();
    let mut regularization = activity_penalties(&mut run, true)?;
    let mut gradients = run.backward(grads)?.weights;
    for layer in model.layers() {
        add_penalties(&layer, "", &mut regularization, &mut gradients)?;
    }
    total += regularization;
    Ok(StepGradients {
        loss: total,
        output_losses,
        regularization,
        gradients,
        activation_bytes,
        state_updates,
        outputs,
        output_masks,
    })
}

/// Adds the penalties of `layer`'s regularized weights (and of its sublayers')
/// to `total`, and their gradients to `gradients`.
fn add_penalties(
    layer: &LayerRef,
    prefix: &str,
    total: &mut f32,
    gradients: &mut Gradients,
) -> Result<()> {
    let path = format!("{prefix}{}", layer.name());
    let (regularizers, subs) = {
        let guard = layer.read();
        (guard.weight_regularizers(), guard.sublayers())
    };
    for (weight, config) in regularizers {
        let reg = Regularizer::from_config(&config)
            .map_err(|e| Error::layer(layer.name(), layer.class_name(), e.to_string()))?;
        let mut found = None;
        layer.visit_params(&mut |p, param| {
            if p == weight {
                found = Some((
                    param.trainable,
                    reg.penalty(&param.value),
                    reg.gradient(&param.value),
                ));
            }
        });
        let Some((trainable, penalty, gradient)) = found else {
            return Err(Error::layer(
                layer.name(),
                layer.class_name(),
                format!("has a regularizer for the weight '{weight}', which it does not have"),
            ));
        };
        if trainable {
            *total += penalty;
            gradients.add(format!("{path}/{weight}"), Gradient::Dense(gradient))?;
        }
    }
    for sub in subs {
        add_penalties(&sub.layer, &format!("{path}/"), total, gradients)?;
    }
    Ok(())
}

/// The sum of the model's weight regularization penalties at its current
/// weights (what Keras adds to the loss in `evaluate` too).
pub fn regularization_penalty(model: &Model) -> Result<f32> {
    let mut total = 0.0f32;
    let mut unused = Gradients::default();
    for layer in model.layers() {
        add_penalties(&layer, "", &mut total, &mut unused)?;
    }
    Ok(total)
}

/// Keras' activity penalties of a run: for each output of a layer with an
/// activity regularizer, the regularizer's penalty of the output divided by
/// the batch size (Keras 3.15.1's rule). With `gradients`, each penalty's
/// gradient is added to its output for the coming backward.
pub(crate) fn activity_penalties(run: &mut TrainRun, gradients: bool) -> Result<f32> {
    let mut total = 0.0f32;
    let mut grads = Vec::new();
    for out in run.regularized_outputs()? {
        let reg = Regularizer::from_config(&out.regularizer)
            .map_err(|e| Error::layer(out.layer.name(), out.layer.class_name(), e.to_string()))?;
        let Ok(value) = out.value.as_f32() else {
            continue; // Keras regularizes tensors; an integer output has no gradient.
        };
        let batch = if value.ndim() > 0 {
            value.shape()[0] as f32
        } else {
            1.0
        };
        if batch == 0.0 {
            continue; // divide_no_nan
        }
        total += reg.penalty(value) / batch;
        if gradients {
            grads.push((out.slot, reg.gradient(value).mapv(|g| g / batch)));
        }
    }
    for (slot, g) in grads {
        run.add_output_gradient(slot, g);
    }
    Ok(total)
}

/// Refuses activity regularizers this runner cannot apply: on the layers of
/// a nested model or on a sublayer (a `Bidirectional`'s directions, a
/// `TimeDistributed`'s layer), where Keras would add them too.
pub(crate) fn check_activity_regularizers(model: &Model) -> Result<()> {
    fn inner(layer: &LayerRef, top: bool) -> Result<()> {
        let guard = layer.read();
        if !top && guard.activity_regularizer().is_some() {
            return Err(Error::layer(
                layer.name(),
                layer.class_name(),
                "has an activity_regularizer inside another layer or a nested model, which \
                 training does not apply yet; move the layer to the top-level model, or add \
                 the penalty as an explicit ActivityRegularization after the wrapper",
            ));
        }
        if let Some(f) = guard.as_any().downcast_ref::<FunctionalLayer>() {
            for l in f.graph().ordered_layers() {
                inner(l, false)?;
            }
        }
        for sub in guard.sublayers() {
            inner(&sub.layer, false)?;
        }
        Ok(())
    }
    for layer in model.layers() {
        inner(&layer, true)?;
    }
    Ok(())
}
