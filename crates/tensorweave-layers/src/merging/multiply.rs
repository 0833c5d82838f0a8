//! `Multiply` (Keras' `layers.Multiply`).

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use tensorweave_core::{Error, Result};

use super::{expand_mask, merge_class};
use crate::array_ops::{select, zip2};

merge_class! {
    /// Builder of a `Multiply` layer (Keras' `layers.Multiply`): the product of
    /// its inputs. Masked entries count as 1; where every input is masked the
    /// result is 0 (when every input has a mask).
    ///
    /// ```
    /// use tensorweave_layers::prelude::*;
    /// let a = Input::new([3, 4]).build();
    /// let b = Input::new([1, 4]).build();
    /// let y = Multiply::new().call_many(&[&a, &b]).unwrap();
    /// assert_eq!(y.shape(), &vec![None, Some(3), Some(4)]);
    /// ```
    Multiply, MultiplyLayer, MultiplyOp = "Multiply", READS_MASKS = true;
    |xs, masks| multiply_masked(xs, masks);
    grad |xs, masks, gy| multiply_grad(xs, masks, gy)
}

/// `Multiply._merge_function`: masked entries become 1; when every input has a
/// mask, entries masked in every input become 0.
fn multiply_masked(
    xs: &[ArrayViewD<'_, f32>],
    masks: &[Option<&ArrayD<bool>>],
) -> Result<ArrayD<f32>> {
    let has_output_mask = !masks.is_empty() && masks.iter().all(Option::is_some);
    let mut output: Option<ArrayD<f32>> = None;
    let mut output_mask: Option<ArrayD<bool>> = None;
    for (x, mask) in xs.iter().zip(masks) {
        let x = match mask {
            Some(m) => {
                let m = expand_mask(m, x.shape())?;
                let x = ndarray::Zip::from(&m)
                    .and(x)
                    .map_collect(|&keep, &v| if keep { v } else { 1.0 });
                if has_output_mask {
                    output_mask = Some(match output_mask {
                        None => m,
                        Some(om) => zip2(om.view(), m.view(), |p, q| p || q)?,
                    });
                }
                x
            }
            None => x.to_owned(),
        };
        output = Some(match output {
            None => x,
            Some(o) => zip2(o.view(), x.view(), |p, q| p * q)?,
        });
    }
    let output = output.ok_or_else(|| Error::invalid("a merge layer needs at least 1 input"))?;
    match output_mask {
        Some(m) if has_output_mask => {
            let zeros = ArrayD::<f32>::zeros(IxDyn(&[]));
            select(m.view(), output.view(), zeros.view())
        }
        _ => Ok(output),
    }
}

/// The gradient of [`multiply_masked`]: masked entries were replaced by 1 (no
/// gradient reaches them), entries where every input is masked were set to 0
/// (no gradient flows there); elsewhere input `i` gets `gy` times the product
/// of the other (replaced) inputs.
fn multiply_grad(
    xs: &[ArrayViewD<'_, f32>],
    masks: &[Option<&ArrayD<bool>>],
    gy: &ArrayD<f32>,
) -> Result<Vec<ArrayD<f32>>> {
    let has_output_mask = !masks.is_empty() && masks.iter().all(Option::is_some);
    let mut replaced = Vec::with_capacity(xs.len());
    let mut keeps = Vec::with_capacity(xs.len());
    for (i, x) in xs.iter().enumerate() {
        match masks.get(i).copied().flatten() {
            Some(m) => {
                let m = expand_mask(m, x.shape())?;
                replaced.push(ndarray::Zip::from(&m).and(x).map_collect(|&keep, &v| {
                    if keep {
                        v
                    } else {
                        1.0
                    }
                }));
                keeps.push(Some(m));
            }
            None => {
                replaced.push(x.to_owned());
                keeps.push(None);
            }
        }
    }
    let gy = if has_output_mask {
        let mut any: Option<ArrayD<bool>> = None;
        for m in keeps.iter().flatten() {
            any = Some(match any {
                None => m.clone(),
                Some(a) => zip2(a.view(), m.view(), |p, q| p || q)?,
            });
        }
        match any {
            Some(a) => zip2(a.view(), gy.view(), |keep, g| if keep { g } else { 0.0 })?,
            None => gy.clone(),
        }
    } else {
        gy.clone()
    };
    let mut grads = Vec::with_capacity(xs.len());
    for (i, keep) in keeps.iter().enumerate() {
        let mut g = gy.clone();
        for (j, r) in replaced.iter().enumerate() {
            if j != i {
                g = zip2(g.view(), r.view(), |a, b| a * b)?;
            }
        }
        if let Some(m) = keep {
            g = zip2(m.view(), g.view(), |keep, v| if keep { v } else { 0.0 })?;
        }
        grads.push(g);
    }
    Ok(grads)
}
