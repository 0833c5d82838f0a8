//! Keras' `reduce_weighted_values` and `apply_mask`, with the gradient of the result.

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn, Zip};
use tensorweave_core::Result;

use super::{PerEntry, Reduction, Wrt};
use crate::array::{
    apply_change, broadcast_both, broadcast_to, mul_broadcast, squeeze_or_expand, sum_to_shape,
};
use crate::util::{div_no_nan, input_err, shape_str, sum_f32};

/// A reduced loss and its gradient.
#[derive(Debug, Clone)]
pub struct LossValue {
    /// The scalar loss.
    pub value: f32,
    /// What `grad` is taken with respect to.
    pub wrt: Wrt,
    /// The gradient of `value` w.r.t. the output or the logits.
    pub grad: ArrayD<f32>,
}

/// `mask1 & mask2` with broadcasting.
fn and_masks(a: ArrayD<bool>, b: ArrayViewD<'_, bool>) -> Result<ArrayD<bool>> {
    let what = "loss: the loss' own mask and the output's mask";
    let (a, b) = broadcast_both(a.view(), b, what)?;
    Ok(Zip::from(&a).and(&b).map_collect(|&x, &y| x && y))
}

/// Keras' reduction of per-entry losses, with optional sample weights (broadcast as Keras
/// does: ranks are aligned by `squeeze_or_expand_to_same_rank`, then NumPy broadcasting) and
/// an optional mask over the entries (the output's Keras mask). Returns the scalar loss and its
/// gradient w.r.t. the output or the logits (whichever [`PerEntry::wrt`] says).
///
/// `sum_over_batch_size` divides the weighted sum by the number of entries, not by the sum of
/// the weights; with a mask, each valid entry is weighted `entries / valid` first, so the result
/// is `sum(loss * mask * sw) / sum(mask)` (0 when nothing is valid).
pub fn reduce(
    per_entry: PerEntry,
    sample_weight: Option<ArrayViewD<'_, f32>>,
    mask: Option<ArrayViewD<'_, bool>>,
    reduction: Reduction,
) -> Result<LossValue> {
    if reduction == Reduction::None {
        return Err(input_err(
            "loss: reduction 'none' gives one loss per entry, not a scalar to train on; use sum_over_batch_size or sum",
        ));
    }
    let PerEntry {
        values,
        grad,
        wrt,
        reduced_axes,
        mask: out_mask,
    } = per_entry;
    check_layout(&values, &grad, &reduced_axes)?;
    let mask = match (mask, out_mask) {
        (Some(m), Some(o)) => Some(and_masks(o, m)?),
        (Some(m), None) => Some(m.to_owned()),
        (None, Some(o)) => Some(o),
        (None, None) => None,
    };

    // apply_mask
    let mut sw: Option<ArrayD<f32>> = sample_weight.map(|s| s.to_owned());
    if let Some(mask) = mask {
        let float_mask = if matches!(reduction, Reduction::Mean | Reduction::SumOverBatchSize) {
            let total = mask.len() as f32;
            let valid = mask.iter().filter(|&&m| m).count() as f32;
            let w = div_no_nan(total, valid);
            mask.mapv(|m| if m { w } else { 0.0 })
        } else {
            mask.mapv(|m| if m { 1.0 } else { 0.0 })
        };
        sw = Some(match sw {
            Some(s) => {
                let (cm, cs) = squeeze_or_expand(float_mask.shape(), s.shape(), true);
                let fm = apply_change(float_mask, cm);
                let s = apply_change(s, cs);
                mul_broadcast(s.view(), fm.view(), "loss: sample_weight * mask")?
            }
            None => float_mask,
        });
    }

    // reduce_weighted_values
    let values_shape = values.shape().to_vec();
    let (aligned_values, aligned_sw, weighted) = match sw {
        Some(s) => {
            let (cv, cs) = squeeze_or_expand(values.shape(), s.shape(), true);
            let v = apply_change(values, cv);
            let s = apply_change(s, cs);
            let weighted = mul_broadcast(v.view(), s.view(), "loss: values * sample_weight")?;
            (v, Some(s), weighted)
        }
        None => (values.clone(), None, values),
    };
    if weighted.ndim() == 1 && weighted.is_empty() {
        return Err(input_err(
            "loss: there are no entries to reduce (an empty batch)",
        ));
    }
    let (value, dweighted) = if weighted.ndim() == 0 {
        // Keras returns a scalar loss as it is, without dividing.
        (weighted.iter().next().copied().unwrap_or(0.0), 1.0f32)
    } else {
        let total = sum_f32(weighted.iter().copied());
        match reduction {
            Reduction::Sum => (total, 1.0),
            Reduction::MeanWithSampleWeight if aligned_sw.is_some() => {
                let d = sum_f32(aligned_sw.iter().flat_map(|s| s.iter().copied()));
                (div_no_nan(total, d), div_no_nan(1.0, d))
            }
            _ => {
                let d = weighted.len() as f32;
                (div_no_nan(total, d), div_no_nan(1.0, d))
            }
        }
    };

    // d value / d values: the weights (broadcast), summed back to the values' shape.
    let coef: ArrayD<f32> = match &aligned_sw {
        Some(s) => {
            let full =
                broadcast_to(s.view(), weighted.shape(), "loss gradient")?.mapv(|w| w * dweighted);
            sum_to_shape(full, aligned_values.shape())
        }
        None => ArrayD::from_elem(IxDyn(aligned_values.shape()), dweighted),
    };
    let coef = coef
        .into_shape_with_order(IxDyn(&values_shape))
        .map_err(|e| input_err(format!("loss: reshaping the loss gradient: {e}")))?;
    let mut expanded = coef;
    for &axis in &reduced_axes {
        expanded = expanded.insert_axis(Axis(axis));
    }
    let expanded = broadcast_to(expanded.view(), grad.shape(), "loss gradient")?;
    let grad = grad * &expanded;
    Ok(LossValue { value, wrt, grad })
}

fn check_layout(values: &ArrayD<f32>, grad: &ArrayD<f32>, reduced: &[usize]) -> Result<()> {
    let kept: Vec<usize> = grad
        .shape()
        .iter()
        .enumerate()
        .filter(|(i, _)| !reduced.contains(i))
        .map(|(_, &d)| d)
        .collect();
    if kept != values.shape()
        || reduced.windows(2).any(|w| w[0] >= w[1])
        || reduced.iter().any(|&a| a >= grad.ndim())
    {
        return Err(input_err(format!(
            "loss: per-entry values {} do not match the gradient {} without axes {:?}",
            shape_str(values.shape()),
            shape_str(grad.shape()),
            reduced
        )));
    }
    Ok(())
}
