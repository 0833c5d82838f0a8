//! Merge layers (Keras' `keras/src/layers/merging`): `Add`, `Subtract`,
//! `Multiply`, `Average`, `Maximum`, `Minimum` and `Concatenate`, all called on
//! a list of tensors with `call_many`.
//!
//! Shapes follow Keras' `Merge` rules: the batch sizes must agree, the other
//! axes broadcast NumPy-style (aligned from the right; an axis of size 1
//! stretches; an unknown axis gives an unknown axis), and inputs of lower rank
//! get axes inserted after the batch axis.
//!
//! Masks follow Keras 3.15.1 exactly:
//! - the output mask of the element-wise layers is the `LogicalOr` of the input
//!   masks, or none as soon as one input has none (`Merge.compute_mask`);
//! - `Concatenate` fills missing masks with `OnesLike`, widens the others with
//!   `ExpandDims` + `LogicalOr` with a `ZerosLike`, concatenates them with the
//!   `Concatenate` op and reduces the last axis with `Any`;
//! - these ops are recorded as nodes of their own, like Keras does;
//! - `Add`, `Subtract`, `Average` and `Concatenate` ignore masks for values, but
//!   `Multiply`, `Maximum` and `Minimum` read them: a masked entry counts as 1 in
//!   a product (and the result is 0 where every input is masked) and as "absent"
//!   for the maximum/minimum (Keras' `_apply_merge_op_and_or_mask`). As in Keras,
//!   an input of lower rank (reshaped to the common rank) loses its mask there.

mod add;
mod average;
mod concatenate;
mod dot;
mod maximum;
mod minimum;
mod multiply;
mod subtract;

use std::fmt::Debug;
use std::marker::PhantomData;
use tensorweave_core::format_dims;

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    format_shape, BackwardCall, CallContext, DType, Error, IntoLayer, Layer, LayerGrads, MaskCall,
    Result, Shape, Tensor, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use crate::array_ops::{select, zip2};
use crate::class::{Common, LayerClass};
use crate::class_and_config;
use crate::ops::LogicalOr;
use tensorweave_core::Inputs;

pub use add::{Add, AddLayer, AddOp};
pub use average::{Average, AverageLayer, AverageOp};
pub use concatenate::{Concatenate, ConcatenateLayer};
pub use dot::{Dot, DotLayer};
pub use maximum::{Maximum, MaximumLayer, MaximumOp};
pub use minimum::{Minimum, MinimumLayer, MinimumOp};
pub use multiply::{Multiply, MultiplyLayer, MultiplyOp};
pub use subtract::{Subtract, SubtractLayer, SubtractOp};

/// What an element-wise merge layer computes, and its Keras class.
pub trait MergeOp: Debug + Clone + Default + Send + Sync + 'static {
    /// The Keras class name (`Add`).
    const CLASS_NAME: &'static str;
    /// Whether Keras reads the input masks when computing the values.
    const READS_MASKS: bool = false;
    /// The number of inputs the layer takes, when it is fixed.
    const EXACT_INPUTS: Option<usize> = None;
    /// Merges the inputs (broadcast to a common rank); `masks` has one entry
    /// per input, `Some` only when [`MergeOp::READS_MASKS`].
    fn merge(xs: &[ArrayViewD<'_, f32>], masks: &[Option<&ArrayD<bool>>]) -> Result<ArrayD<f32>>;
    /// The gradient reaching each input, in the output's (broadcast) shape,
    /// given the gradient `gy` of the output (the layer sums it back to each
    /// input's shape).
    fn grad(
        xs: &[ArrayViewD<'_, f32>],
        masks: &[Option<&ArrayD<bool>>],
        gy: &ArrayD<f32>,
    ) -> Result<Vec<ArrayD<f32>>>;
}

/// Declares an element-wise merge class: its [`MergeOp`] (`$op`, named
/// `$class` in Keras, with its consts), and the builder and layer types
/// (`$builder`, `$layer`) documented with the given doc comments.
macro_rules! merge_class {
    (
        $(#[$doc:meta])*
        $builder:ident, $layer:ident, $op:ident = $class:literal $(, $konst:ident = $value:expr)*;
        |$xs:ident, $masks:ident| $body:expr;
        grad |$gxs:ident, $gmasks:ident, $gy:ident| $gbody:expr
    ) => {
        #[doc = concat!("What `", $class, "` computes.")]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $op;

        impl $crate::merging::MergeOp for $op {
            const CLASS_NAME: &'static str = $class;
            $(const $konst: $crate::merging::merge_const_type!($konst) = $value;)*

            fn merge(
                $xs: &[ndarray::ArrayViewD<'_, f32>],
                $masks: &[Option<&ndarray::ArrayD<bool>>],
            ) -> tensorweave_core::Result<ndarray::ArrayD<f32>> {
                let _ = &$masks;
                $body
            }

            fn grad(
                $gxs: &[ndarray::ArrayViewD<'_, f32>],
                $gmasks: &[Option<&ndarray::ArrayD<bool>>],
                $gy: &ndarray::ArrayD<f32>,
            ) -> tensorweave_core::Result<Vec<ndarray::ArrayD<f32>>> {
                let _ = (&$gxs, &$gmasks);
                $gbody
            }
        }

        $(#[$doc])*
        pub type $builder = $crate::merging::Merge<$op>;

        #[doc = concat!("The `", $class, "` layer.")]
        pub type $layer = $crate::merging::MergeLayer<$op>;
    };
}

/// The type of a [`MergeOp`] const, for [`merge_class!`].
macro_rules! merge_const_type {
    (READS_MASKS) => {
        bool
    };
    (EXACT_INPUTS) => {
        Option<usize>
    };
}

pub(crate) use {merge_class, merge_const_type};

/// Builder and configuration of an element-wise merge layer ([`Add`],
/// [`Subtract`], [`Multiply`], [`Average`], [`Maximum`], [`Minimum`]); it has
/// no options.
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default, bound = "")]
#[layer(MergeLayer<Op>)]
pub struct Merge<Op: MergeOp> {
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Name and initial weights.
    #[serde(skip)]
    pub common: Common,
    #[serde(skip)]
    #[config(skip)]
    op: PhantomData<Op>,
}

impl<Op: MergeOp> Merge<Op> {
    /// The layer with Keras' defaults (it has no options).
    pub fn new() -> Self {
        Self::default()
    }
}

/// An element-wise merge layer.
#[derive(Debug, Clone)]
pub struct MergeLayer<Op: MergeOp> {
    config: Merge<Op>,
}

impl<Op: MergeOp> LayerClass for MergeLayer<Op> {
    const CLASS_NAME: &'static str = Op::CLASS_NAME;
    type Builder = Merge<Op>;

    fn from_builder(config: Merge<Op>) -> Self {
        MergeLayer { config }
    }
}

pub(crate) fn list_shapes(inputs: &[TensorSpec]) -> String {
    let shapes: Vec<String> = inputs.iter().map(|s| format_shape(&s.shape)).collect();
    format!("[{}]", shapes.join(", "))
}

pub(crate) fn expect_float_inputs(inputs: &[TensorSpec]) -> Result<()> {
    for (i, s) in inputs.iter().enumerate() {
        if s.dtype != DType::F32 {
            return Err(Error::invalid(format!(
                "expects float32 inputs, input {i} is {} {}",
                format_shape(&s.shape),
                s.dtype
            )));
        }
    }
    Ok(())
}

/// Keras' `Merge._compute_elemwise_op_output_shape` (shapes without the batch axis).
fn elemwise_shape(a: &[Option<usize>], b: &[Option<usize>], all: &str) -> Result<Shape> {
    if a.len() < b.len() {
        return elemwise_shape(b, a, all);
    }
    let lead = a.len() - b.len();
    let mut out: Shape = Shape::from(&a[..lead]);
    for (&i, &j) in a[lead..].iter().zip(b) {
        out.push(match (i, j) {
            (None, _) | (_, None) => None,
            (Some(1), _) => j,
            (_, Some(1)) => i,
            (Some(x), Some(y)) if x == y => i,
            _ => {
                return Err(Error::invalid(format!(
                    "inputs have incompatible shapes: {} and {} do not broadcast \
                     (all input shapes, batch axis first: {all}); make the axes equal or 1",
                    format_shape(a),
                    format_shape(b)
                )))
            }
        });
    }
    Ok(out)
}

impl<Op: MergeOp> Layer for MergeLayer<Op> {
    class_and_config!();

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let all = list_shapes(inputs);
        if inputs.is_empty() {
            return Err(Error::invalid(
                "a merge layer must be called on a list of at least 1 input, got 0",
            ));
        }
        if let Some(n) = Op::EXACT_INPUTS.filter(|&n| n != inputs.len()) {
            return Err(Error::invalid(format!(
                "a `{}` layer must be called on exactly {n} inputs, got {}: {all}",
                Op::CLASS_NAME,
                inputs.len()
            )));
        }
        expect_float_inputs(inputs)?;
        let mut batch = None;
        for s in inputs {
            if let Some(Some(b)) = s.shape.first() {
                if batch.is_some_and(|prev| prev != *b) {
                    return Err(Error::invalid(format!(
                        "cannot merge tensors with different batch sizes: {all}"
                    )));
                }
                batch = Some(*b);
            }
        }
        let tail = |s: &TensorSpec| s.shape.get(1..).unwrap_or(&[]).to_vec();
        let mut out = tail(&inputs[0]);
        for s in &inputs[1..] {
            out = elemwise_shape(&out, &tail(s), &all)?.into_vec();
        }
        let mut shape = vec![batch];
        shape.extend(out);
        Ok(vec![TensorSpec::f32(shape)])
    }

    fn uses_mask(&self) -> bool {
        Op::READS_MASKS
    }

    fn compute_mask(&self, call: &MaskCall<'_>) -> Result<Vec<Option<Tensor>>> {
        let (masks, n_outputs) = (call.masks, call.n_outputs);
        Ok(vec![or_masks(masks)?; n_outputs])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let (views, masks) = aligned::<Op>(inputs)?;
        let out = Op::merge(&views, &masks)?;
        Ok(vec![Value::F32(out)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(gy) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None; call.inputs.len()]));
        };
        let (views, masks) = aligned::<Op>(call.inputs)?;
        let grads = Op::grad(&views, &masks, gy)?;
        let grads = grads
            .into_iter()
            .zip(call.inputs.values())
            .map(|(g, x)| unbroadcast(g, x.shape()).map(Some))
            .collect::<Result<Vec<_>>>()?;
        Ok(LayerGrads::inputs(grads))
    }
}

/// The gradient `g` of a broadcast value summed back to `shape` (the input's
/// own shape, possibly of lower rank with axes inserted after the batch axis).
pub(crate) fn unbroadcast(g: ArrayD<f32>, shape: &[usize]) -> Result<ArrayD<f32>> {
    let mut g = g;
    // Axes inserted after the batch axis (lower-rank inputs), then broadcast ones.
    while g.ndim() > shape.len().max(1) {
        g = g.sum_axis(Axis(1.min(g.ndim() - 1)));
    }
    for (axis, &d) in shape.iter().enumerate() {
        if d == 1 && g.shape().get(axis).is_some_and(|&n| n != 1) {
            g = g.sum_axis(Axis(axis)).insert_axis(Axis(axis));
        }
    }
    if g.shape() != shape {
        return Err(Error::invalid(format!(
            "internal: a merge gradient of shape {} does not fit its input of shape {}",
            format_dims(g.shape()),
            format_dims(shape)
        )));
    }
    Ok(g)
}

/// Rank-aligned input views and the masks a merge op reads.
type Aligned<'a> = (Vec<ArrayViewD<'a, f32>>, Vec<Option<&'a ArrayD<bool>>>);

/// The inputs as float views of one rank (Keras inserts axes after the batch
/// axis of lower-rank inputs; those lose their masks), and the masks the op reads.
fn aligned<'a, Op: MergeOp>(inputs: &'a Inputs<'a>) -> Result<Aligned<'a>> {
    {
        let masks = inputs.masks();
        let xs = inputs
            .values()
            .iter()
            .map(|v| v.as_f32())
            .collect::<Result<Vec<_>>>()?;
        let max_rank = xs.iter().map(|x| x.ndim()).max().unwrap_or(0);
        // Keras inserts axes after the batch axis of the lower-rank inputs until
        // the ranks agree; those reshaped tensors lose their masks.
        let views: Vec<ArrayViewD<'_, f32>> = xs
            .iter()
            .map(|x| {
                let mut v = x.view();
                while v.ndim() < max_rank {
                    let at = Axis(1.min(v.ndim()));
                    v = v.insert_axis(at);
                }
                v
            })
            .collect();
        let masks: Vec<Option<&ArrayD<bool>>> = (0..xs.len())
            .map(|i| match masks.get(i).copied().flatten() {
                Some(m) if Op::READS_MASKS && xs[i].ndim() == max_rank => m.as_bool().map(Some),
                _ => Ok(None),
            })
            .collect::<Result<_>>()?;
        Ok((views, masks))
    }
}

/// `Merge.compute_mask`: none if any input has no mask, else the `LogicalOr`
/// chain of the masks, recorded as op nodes.
fn or_masks(masks: &[Option<Tensor>]) -> Result<Option<Tensor>> {
    let Some(all) = masks.iter().cloned().collect::<Option<Vec<Tensor>>>() else {
        return Ok(None);
    };
    let mut iter = all.into_iter();
    let Some(mut out) = iter.next() else {
        return Ok(None);
    };
    for m in iter {
        out = LogicalOr::new().call_many(&[&out, &m])?;
    }
    Ok(Some(out))
}

/// Left fold of a binary operation over the inputs, in input order.
pub(crate) fn fold(
    xs: &[ArrayViewD<'_, f32>],
    f: impl Fn(f32, f32) -> f32 + Copy,
) -> Result<ArrayD<f32>> {
    let (first, rest) = xs
        .split_first()
        .ok_or_else(|| Error::invalid("a merge layer needs at least 1 input, got 0"))?;
    let mut out = first.to_owned();
    for x in rest {
        out = zip2(out.view(), x.view(), f)?;
    }
    Ok(out)
}

/// Keras' `broadcast_to(expand_dims(mask, -1), shape(x))`.
pub(crate) fn expand_mask(mask: &ArrayD<bool>, shape: &[usize]) -> Result<ArrayD<bool>> {
    let expanded = mask.view().insert_axis(Axis(mask.ndim()));
    expanded
        .broadcast(IxDyn(shape))
        .map(|v| v.to_owned())
        .ok_or_else(|| {
            Error::invalid(format!(
                "the mask of shape {} does not fit its input of shape {shape:?}",
                format_dims(mask.shape())
            ))
        })
}

/// The gradient of [`extremum_masked`]: its fold replayed step by step, then
/// walked back. At each step TensorFlow's rule splits the gradient of
/// `op(acc, x)` (`maximum` gives it to its first operand where that is `>=`
/// the second, `minimum` where `<=`), and the selects that replace masked
/// entries route it to whichever value was selected.
pub(crate) fn extremum_grad(
    xs: &[ArrayViewD<'_, f32>],
    masks: &[Option<&ArrayD<bool>>],
    gy: &ArrayD<f32>,
    op: fn(f32, f32) -> f32,
    first_wins: fn(f32, f32) -> bool,
) -> Result<Vec<ArrayD<f32>>> {
    /// One step of the fold, as the forward ran it.
    struct Step {
        acc_shape: Vec<usize>,
        acc_mask: Option<ArrayD<bool>>,
        mask: Option<ArrayD<bool>>,
        acc_sel: ArrayD<f32>,
        x_sel: ArrayD<f32>,
    }
    let Some((first, rest)) = xs.split_first() else {
        return Err(Error::invalid("a merge layer needs at least 1 input"));
    };
    let expand = |i: usize, x: &ArrayViewD<'_, f32>| -> Result<Option<ArrayD<bool>>> {
        masks
            .get(i)
            .copied()
            .flatten()
            .map(|m| expand_mask(m, x.shape()))
            .transpose()
    };
    let mut acc = first.to_owned();
    let mut acc_mask = expand(0, first)?;
    let mut steps = Vec::with_capacity(rest.len());
    for (i, x) in rest.iter().enumerate() {
        let mask = expand(i + 1, x)?;
        let x_sel = match &mask {
            Some(m) => select(m.view(), x.view(), acc.view())?,
            None => x.to_owned(),
        };
        let acc_sel = match &acc_mask {
            Some(om) => select(om.view(), acc.view(), x_sel.view())?,
            None => acc.clone(),
        };
        let next_mask = match (&acc_mask, &mask) {
            (Some(om), Some(m)) => Some(zip2(om.view(), m.view(), |p, q| p || q)?),
            _ => None,
        };
        let next = zip2(acc_sel.view(), x_sel.view(), op)?;
        steps.push(Step {
            acc_shape: acc.shape().to_vec(),
            acc_mask: acc_mask.take(),
            mask,
            acc_sel,
            x_sel,
        });
        acc = next;
        acc_mask = next_mask;
    }
    let route = |keep: &ArrayD<bool>, g: &ArrayD<f32>, when: bool| {
        zip2(
            keep.view(),
            g.view(),
            move |k, g| if k == when { g } else { 0.0 },
        )
    };
    let mut grads: Vec<ArrayD<f32>> = vec![ArrayD::zeros(IxDyn(&[])); xs.len()];
    let mut g = gy.clone();
    for (i, step) in steps.iter().enumerate().rev() {
        let wins = zip2(step.acc_sel.view(), step.x_sel.view(), first_wins)?;
        let g_acc_sel = route(&wins, &g, true)?;
        let mut g_x_sel = route(&wins, &g, false)?;
        let mut g_acc = match &step.acc_mask {
            Some(om) => {
                g_x_sel = &g_x_sel + &route(om, &g_acc_sel, false)?;
                route(om, &g_acc_sel, true)?
            }
            None => g_acc_sel,
        };
        grads[i + 1] = match &step.mask {
            Some(m) => {
                g_acc = &g_acc + &route(m, &g_x_sel, false)?;
                route(m, &g_x_sel, true)?
            }
            None => g_x_sel,
        };
        g = unbroadcast(g_acc, &step.acc_shape)?;
    }
    grads[0] = g;
    Ok(grads)
}

/// The greater of two values, NaN if either is (TensorFlow's `maximum`;
/// `f32::max` would drop the NaN).
pub(crate) fn max_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.max(b)
    }
}

/// The lesser of two values, NaN if either is (TensorFlow's `minimum`).
pub(crate) fn min_nan(a: f32, b: f32) -> f32 {
    if a.is_nan() || b.is_nan() {
        f32::NAN
    } else {
        a.min(b)
    }
}

/// `Merge._apply_merge_op_and_or_mask` (used by `Maximum` and `Minimum`): a
/// masked entry takes the other operand's value before `op` is applied.
pub(crate) fn extremum_masked(
    xs: &[ArrayViewD<'_, f32>],
    masks: &[Option<&ArrayD<bool>>],
    op: fn(f32, f32) -> f32,
) -> Result<ArrayD<f32>> {
    let mut output: Option<ArrayD<f32>> = None;
    let mut output_mask: Option<ArrayD<bool>> = None;
    for (x, mask) in xs.iter().zip(masks) {
        let mask = mask.map(|m| expand_mask(m, x.shape())).transpose()?;
        let Some(mut out) = output.take() else {
            output = Some(x.to_owned());
            output_mask = mask;
            continue;
        };
        let x = match &mask {
            Some(m) => select(m.view(), x.view(), out.view())?,
            None => x.to_owned(),
        };
        if let Some(om) = &output_mask {
            out = select(om.view(), out.view(), x.view())?;
        }
        output_mask = match (output_mask, mask) {
            (Some(om), Some(m)) => Some(zip2(om.view(), m.view(), |p, q| p || q)?),
            _ => None,
        };
        output = Some(zip2(out.view(), x.view(), op)?);
    }
    output.ok_or_else(|| Error::invalid("a merge layer needs at least 1 input"))
}

#[cfg(test)]
mod tests {
    use ndarray::{array, ArrayD, IxDyn};

    use crate::prelude::*;

    fn f32_out(v: &Value) -> ArrayD<f32> {
        v.as_f32().unwrap().clone()
    }

    fn arr(shape: &[usize], data: &[f32]) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).unwrap()
    }

    /// Two token inputs through one shared `Embedding(5, 2, mask_zero)` with the
    /// table `E`, and a float input `c` without mask.
    struct Masked {
        a: Tensor,
        b: Tensor,
        c: Tensor,
        ea: Tensor,
        eb: Tensor,
    }

    fn masked() -> Masked {
        let a = Input::new([4]).dtype(DType::I32).name("a").build();
        let b = Input::new([4]).dtype(DType::I32).name("b").build();
        let c = Input::new([4, 2]).name("c").build();
        let table = arr(&[5, 2], &[9., -9., 1., -1., 2., 3., -4., 5., 6., -7.]);
        let emb = Embedding::new(5, 2)
            .mask_zero(true)
            .weights(table)
            .into_layer();
        let (ea, eb) = (emb.call(&a).unwrap(), emb.call(&b).unwrap());
        Masked { a, b, c, ea, eb }
    }

    fn feeds() -> Vec<Value> {
        vec![
            array![[1, 0, 3, 0]].into(),
            array![[2, 4, 0, 0]].into(),
            ArrayD::from_elem(IxDyn(&[1, 4, 2]), 0.5f32).into(),
        ]
    }

    /// Reference values from Keras 3.15.1 (TensorFlow backend):
    /// ```python
    /// E = np.array([[9,-9],[1,-1],[2,3],[-4,5],[6,-7]], "float32")
    /// emb = layers.Embedding(5, 2, mask_zero=True, weights=[E])
    /// ea, eb = emb(a), emb(b)   # a = [[1,0,3,0]], b = [[2,4,0,0]], c = full((1,4,2), .5)
    /// outs = [Add()([ea,eb]), Subtract()([ea,eb]), Multiply()([ea,eb]), Maximum()([ea,eb]),
    ///         Minimum()([ea,eb]), Average()([ea,eb]), Concatenate()([ea,eb]),
    ///         Multiply()([ea,c]), Maximum()([ea,c]), Minimum()([ea,c]), Maximum()([c,ea])]
    /// keras.Model([a,b,c], outs).predict([A,B,C])
    /// ```
    #[test]
    fn values_match_keras_including_masked_entries() {
        reset_names();
        let m = masked();
        let (ea, eb, c) = (&m.ea, &m.eb, &m.c);
        let outs = vec![
            Add::new().call_many(&[ea, eb]).unwrap(),
            Subtract::new().call_many(&[ea, eb]).unwrap(),
            Multiply::new().call_many(&[ea, eb]).unwrap(),
            Maximum::new().call_many(&[ea, eb]).unwrap(),
            Minimum::new().call_many(&[ea, eb]).unwrap(),
            Average::new().call_many(&[ea, eb]).unwrap(),
            Concatenate::new().call_many(&[ea, eb]).unwrap(),
            Multiply::new().call_many(&[ea, c]).unwrap(),
            Maximum::new().call_many(&[ea, c]).unwrap(),
            Minimum::new().call_many(&[ea, c]).unwrap(),
            Maximum::new().call_many(&[c, ea]).unwrap(),
        ];
        let model = Model::new(&[m.a, m.b, m.c.clone()], &outs).unwrap();
        let got = model.predict(&feeds()).unwrap();
        let expected: Vec<ArrayD<f32>> = vec![
            arr(&[1, 4, 2], &[3., 2., 15., -16., 5., -4., 18., -18.]),
            arr(&[1, 4, 2], &[-1., -4., 3., -2., -13., 14., 0., 0.]),
            arr(&[1, 4, 2], &[2., -3., 6., -7., -4., 5., 0., 0.]),
            arr(&[1, 4, 2], &[2., 3., 6., -7., -4., 5., 9., -9.]),
            arr(&[1, 4, 2], &[1., -1., 6., -7., -4., 5., 9., -9.]),
            arr(&[1, 4, 2], &[1.5, 1., 7.5, -8., 2.5, -2., 9., -9.]),
            arr(
                &[1, 4, 4],
                &[
                    1., -1., 2., 3., 9., -9., 6., -7., -4., 5., 9., -9., 9., -9., 9., -9.,
                ],
            ),
            arr(&[1, 4, 2], &[0.5, -0.5, 0.5, 0.5, -2., 2.5, 0.5, 0.5]),
            arr(&[1, 4, 2], &[1., 0.5, 0.5, 0.5, 0.5, 5., 0.5, 0.5]),
            arr(&[1, 4, 2], &[0.5, -1., 0.5, 0.5, -4., 0.5, 0.5, 0.5]),
            arr(&[1, 4, 2], &[1., 0.5, 0.5, 0.5, 0.5, 5., 0.5, 0.5]),
        ];
        for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(&f32_out(g), e, "output {k}");
        }
    }

    /// Keras 3.15.1: `Multiply()([ea, eb, ea])`, `Maximum()([ea, c, eb])` and
    /// `Maximum()([ea, d])` with `d = [[0.5, -0.5]]` of lower rank (its reshape
    /// drops nothing from `ea`, whose mask still counts):
    /// `[[2,3],[6,-7],[16,25],[0,0]]`, `[[2,3],[6,.5],[.5,5],[.5,.5]]`,
    /// `[[1,-.5],[.5,-.5],[.5,5],[.5,-.5]]`.
    #[test]
    fn three_inputs_and_lower_rank_inputs_follow_keras() {
        reset_names();
        let m = masked();
        let d = Input::new([2]).name("d").build();
        let outs = vec![
            Multiply::new().call_many(&[&m.ea, &m.eb, &m.ea]).unwrap(),
            Maximum::new().call_many(&[&m.ea, &m.c, &m.eb]).unwrap(),
            Maximum::new().call_many(&[&m.ea, &d]).unwrap(),
        ];
        assert_eq!(outs[2].shape(), &vec![None, Some(4), Some(2)]);
        assert!(outs[2].mask().is_none());
        let model = Model::new(&[m.a, m.b, m.c, d], &outs).unwrap();
        let mut inputs = feeds();
        inputs.push(array![[0.5f32, -0.5]].into());
        let got = model.predict(&inputs).unwrap();
        let expected = [
            arr(&[1, 4, 2], &[2., 3., 6., -7., 16., 25., 0., 0.]),
            arr(&[1, 4, 2], &[2., 3., 6., 0.5, 0.5, 5., 0.5, 0.5]),
            arr(&[1, 4, 2], &[1., -0.5, 0.5, -0.5, 0.5, 5., 0.5, -0.5]),
        ];
        for (k, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(&f32_out(g), e, "output {k}");
        }
    }

    /// The recorded mask graph has Keras' ops and names (checked against
    /// `model.to_json()` of the same Keras model), and computes Keras' masks:
    /// `Add`: `a|b = [T,T,T,F]`; `Concatenate` with `c` unmasked: all true;
    /// `Concatenate(axis=1)`: `[T,F,T,F,T,T,F,F]`.
    #[test]
    fn masks_are_recorded_as_keras_ops() {
        reset_names();
        let m = masked();
        let sum = Add::new().call_many(&[&m.ea, &m.eb]).unwrap();
        let sum_mask = sum.mask().unwrap().clone();
        assert_eq!(sum_mask.layer().class_name(), "LogicalOr");
        assert_eq!(sum_mask.layer().name(), "logical_or");
        assert_eq!(sum_mask.shape(), &vec![None, Some(4)]);

        let cat = Concatenate::new().call_many(&[&m.ea, &m.c]).unwrap();
        assert_eq!(cat.layer().name(), "concatenate");
        let any = cat.mask().unwrap().clone();
        assert_eq!(
            (any.layer().class_name(), any.layer().name()),
            ("Any", "any")
        );
        let joined = &any.node().inputs()[0];
        assert_eq!(joined.layer().class_name(), "Concatenate");
        assert_eq!(joined.layer().name(), "concatenate_1");
        assert_eq!(joined.shape(), &vec![None, Some(4), Some(4)]);
        let parts: Vec<&str> = joined
            .node()
            .inputs()
            .iter()
            .map(|t| t.layer().class_name())
            .collect();
        assert_eq!(parts, ["LogicalOr", "OnesLike"]);
        let widened: Vec<&str> = joined.node().inputs()[0]
            .node()
            .inputs()
            .iter()
            .map(|t| t.layer().name())
            .collect();
        assert_eq!(widened, ["expand_dims", "zeros_like"]);

        let cat1 = Concatenate::new()
            .axis(1)
            .call_many(&[&m.ea, &m.eb])
            .unwrap();
        let cat1_mask = cat1.mask().unwrap().clone();
        assert_eq!(cat1_mask.shape(), &vec![None, Some(8)]);

        let model = Model::new(&[m.a, m.b, m.c], &[sum_mask, any, cat1_mask]).unwrap();
        let got = model.predict(&feeds()).unwrap();
        assert_eq!(
            got[0],
            Value::Bool(array![[true, true, true, false]].into_dyn())
        );
        assert_eq!(
            got[1],
            Value::Bool(array![[true, true, true, true]].into_dyn())
        );
        assert_eq!(
            got[2],
            Value::Bool(array![[true, false, true, false, true, true, false, false]].into_dyn())
        );
    }

    #[test]
    fn a_missing_mask_gives_no_mask_except_for_concatenate() {
        reset_names();
        let m = masked();
        assert!(Add::new()
            .call_many(&[&m.ea, &m.c])
            .unwrap()
            .mask()
            .is_none());
        assert!(Maximum::new()
            .call_many(&[&m.c, &m.ea])
            .unwrap()
            .mask()
            .is_none());
        let c2 = Input::new([4, 2]).build();
        assert!(Concatenate::new()
            .call_many(&[&m.c, &c2])
            .unwrap()
            .mask()
            .is_none());
        assert!(Concatenate::new()
            .call_many(&[&m.c, &m.ea])
            .unwrap()
            .mask()
            .is_some());
    }

    #[test]
    fn shapes_broadcast_like_keras() {
        let a = Input::new([3, 4]).build();
        let b = Input::new([1, 4]).build();
        let c = Input::new([4]).build();
        let u = Input::new([None, Some(4)]).build();
        let s = |t: Tensor| t.shape().clone();
        assert_eq!(
            s(Add::new().call_many(&[&a, &b]).unwrap()),
            vec![None, Some(3), Some(4)]
        );
        // Lower ranks gain axes after the batch axis.
        assert_eq!(
            s(Add::new().call_many(&[&c, &a]).unwrap()),
            vec![None, Some(3), Some(4)]
        );
        // An unknown axis stays unknown (Keras' `_compute_elemwise_op_output_shape`).
        assert_eq!(
            s(Multiply::new().call_many(&[&a, &u]).unwrap()),
            vec![None, None, Some(4)]
        );
        // Concatenate: the first input's shape with the axis sizes added.
        assert_eq!(
            s(Concatenate::new().axis(-2).call_many(&[&a, &u]).unwrap()),
            vec![None, None, Some(4)]
        );
    }

    /// `[[1, 2]] + [[[10, 20], [30, 40]]]`: the rank-2 input becomes `[1, 1, 2]`
    /// and broadcasts over axis 1: `[[[11, 22], [31, 42]]]`.
    #[test]
    fn lower_rank_inputs_broadcast_at_run_time() {
        let c = Input::new([2]).build();
        let a = Input::new([2, 2]).build();
        let y = Add::new().call_many(&[&c, &a]).unwrap();
        let model = Model::new(&[c, a], &[y]).unwrap();
        let got = model
            .predict(&[
                array![[1.0f32, 2.0]].into(),
                array![[[10.0f32, 20.0], [30.0, 40.0]]].into(),
            ])
            .unwrap();
        assert_eq!(f32_out(&got[0]), arr(&[1, 2, 2], &[11., 22., 31., 42.]));
    }

    #[test]
    fn mismatched_shapes_are_errors_naming_every_shape() {
        let a = Input::new([3]).build();
        let b = Input::new([4]).build();
        let err = Add::new().call_many(&[&a, &b]).unwrap_err().to_string();
        assert!(
            err.contains("(None, 3)") && err.contains("(None, 4)"),
            "{err}"
        );
        assert!(err.contains("add"), "{err}");

        let err = Subtract::new()
            .call_many(&[&a, &a, &a])
            .unwrap_err()
            .to_string();
        assert!(err.contains("exactly 2 inputs, got 3"), "{err}");

        let x = Input::new([2, 3]).build();
        let y = Input::new([2, 4]).build();
        let err = Concatenate::new()
            .axis(1)
            .call_many(&[&x, &y])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("(None, 2, 3)") && err.contains("(None, 2, 4)"),
            "{err}"
        );
        assert!(Concatenate::new().call_many(&[&x, &a]).is_err());
        assert!(Concatenate::new().axis(3).call_many(&[&x, &y]).is_err());
        assert!(Add::new().call_many(&[]).is_err());

        let p = Input::new([3]).batch_size(2).build();
        let q = Input::new([3]).batch_size(5).build();
        let err = Average::new().call_many(&[&p, &q]).unwrap_err().to_string();
        assert!(err.contains("different batch sizes"), "{err}");

        let ids = Input::new([3]).dtype(DType::I32).build();
        assert!(Maximum::new().call_many(&[&a, &ids]).is_err());
    }

    #[test]
    fn run_time_shape_clashes_are_errors() {
        let a = Input::new([None]).build();
        let b = Input::new([None]).build();
        let y = Add::new().call_many(&[&a, &b]).unwrap();
        let model = Model::new(&[a, b], &[y]).unwrap();
        let err = model
            .predict(&[
                array![[1.0f32, 2.0]].into(),
                array![[1.0f32, 2.0, 3.0]].into(),
            ])
            .unwrap_err()
            .to_string();
        assert!(err.contains("(1, 2)") && err.contains("(1, 3)"), "{err}");
    }

    #[test]
    fn configs_and_names_follow_keras() {
        reset_names();
        let a = Input::new([3]).build();
        let y = Concatenate::new().axis(1).call_many(&[&a, &a]).unwrap();
        assert_eq!(y.layer().config()["axis"], 1);
        assert_eq!(y.layer().name(), "concatenate");
        let z = Minimum::new().name("low").call_many(&[&a, &a]).unwrap();
        assert_eq!(z.layer().name(), "low");
        assert_eq!(z.layer().class_name(), "Minimum");
        assert_eq!(z.layer().count_params(), (0, 0));
    }
}
