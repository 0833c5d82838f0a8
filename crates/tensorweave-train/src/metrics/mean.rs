//! Keras' `Mean` metric and the sample-wise reduction (`reduce_to_samplewise_values`) every
//! `MeanMetricWrapper` metric goes through.

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use tensorweave_core::Result;

use crate::array::{apply_change, broadcast_to, mul_broadcast, squeeze_or_expand};
use crate::util::{div_no_nan, sum_f32};

/// Keras' `Mean` metric: a float32 `total` and `count`, `result = total / count`.
///
/// The training loop's running loss is one: each batch adds `loss * batch_size` to the total
/// and `batch_size` to the count ([`Mean::update_scalar`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Mean {
    name: String,
    total: f32,
    count: f32,
}

/// The float32 `reduce_mean` of `a` over the axes from `from` on: sum, then divide.
pub(crate) fn reduce_mean_trailing(a: &ArrayD<f32>, from: usize) -> ArrayD<f32> {
    if a.ndim() <= from {
        return a.clone();
    }
    let lead: Vec<usize> = a.shape()[..from].to_vec();
    let outer: usize = lead.iter().product();
    let inner: usize = a.shape()[from..].iter().product();
    let means: Vec<f32> = if inner == 0 {
        vec![f32::NAN; outer]
    } else {
        let data: Vec<f32> = a.iter().copied().collect();
        data.chunks(inner)
            .map(|c| sum_f32(c.iter().copied()) / inner as f32)
            .collect()
    };
    ArrayD::from_shape_vec(IxDyn(&lead), means).unwrap_or_else(|_| ArrayD::zeros(IxDyn(&lead)))
}

impl Mean {
    /// An empty mean called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Mean {
            name: name.into(),
            total: 0.0,
            count: 0.0,
        }
    }

    /// The metric's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds `value` with weight `weight` (e.g. a batch's loss and its batch size).
    pub fn update_scalar(&mut self, value: f32, weight: f32) {
        self.total += value * weight;
        self.count += weight;
    }

    /// Keras' `Mean.update_state(values, sample_weight)`: values are first reduced to one per
    /// sample (the mean over the axes the weights do not have), weighted, and summed; the count
    /// grows by the sum of the weights (or the number of samples without weights).
    pub fn update(
        &mut self,
        values: ArrayViewD<'_, f32>,
        sample_weight: Option<ArrayViewD<'_, f32>>,
    ) -> Result<()> {
        let (values, sw) = samplewise(values.to_owned(), sample_weight.map(|s| s.to_owned()))?;
        let total = sum_f32(values.iter().copied());
        let count = match &sw {
            Some(s) => sum_f32(s.iter().copied()),
            None if values.ndim() >= 1 => values.shape()[0] as f32,
            None => 1.0,
        };
        self.total += total;
        self.count += count;
        Ok(())
    }

    /// `total / count` (0 before any update).
    pub fn result(&self) -> f32 {
        div_no_nan(self.total, self.count)
    }

    /// Back to empty.
    pub fn reset(&mut self) {
        self.total = 0.0;
        self.count = 0.0;
    }
}

/// Keras' `reduce_to_samplewise_values(values, sample_weight, reduce_fn=mean)`.
pub(crate) fn samplewise(
    values: ArrayD<f32>,
    sample_weight: Option<ArrayD<f32>>,
) -> Result<(ArrayD<f32>, Option<ArrayD<f32>>)> {
    let mut values = values;
    let mut sw_out = None;
    if let Some(sw) = sample_weight {
        let (cv, cs) = squeeze_or_expand(values.shape(), sw.shape(), true);
        values = apply_change(values, cv);
        let sw = apply_change(sw, cs);
        let weight_ndim = sw.ndim();
        if values.ndim() > weight_ndim {
            values = reduce_mean_trailing(&values, weight_ndim);
        }
        let sw = broadcast_to(sw.view(), values.shape(), "metric: sample_weight")?;
        values = mul_broadcast(values.view(), sw.view(), "metric: values * sample_weight")?;
        let sw = if weight_ndim > 1 {
            reduce_mean_trailing(&sw, 1)
        } else {
            sw
        };
        sw_out = Some(sw);
    }
    if values.ndim() > 1 {
        values = reduce_mean_trailing(&values, 1);
    }
    Ok((values, sw_out))
}

/// Keras' `apply_mask(sample_weight, mask, reduction="sum")`: the mask as 0/1 weights,
/// multiplied into the sample weights.
pub(crate) fn masked_weights(
    sample_weight: Option<ArrayViewD<'_, f32>>,
    mask: Option<ArrayViewD<'_, bool>>,
) -> Result<Option<ArrayD<f32>>> {
    let Some(mask) = mask else {
        return Ok(sample_weight.map(|s| s.to_owned()));
    };
    let float_mask = mask.mapv(|m| if m { 1.0f32 } else { 0.0 });
    Ok(Some(match sample_weight {
        Some(sw) => {
            let (cm, cs) = squeeze_or_expand(float_mask.shape(), sw.shape(), true);
            let fm = apply_change(float_mask, cm);
            let sw = apply_change(sw.to_owned(), cs);
            mul_broadcast(sw.view(), fm.view(), "metric: sample_weight * mask")?
        }
        None => float_mask,
    }))
}
