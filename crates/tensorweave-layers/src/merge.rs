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

use std::any::Any as StdAny;

use ndarray::{ArrayD, ArrayViewD, Axis, IxDyn};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tensorweave_core::{
    auto_name, format_shape, CallContext, DType, Error, IntoLayer, Layer, LayerRef, Result, Shape,
    Tensor, TensorSpec, Value,
};

use crate::ops::AnyOp;

pub use mask_ops::{ConcatenateOp, ExpandDims, LogicalOr, OnesLike, ZerosLike};

/// The element-wise merge operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MergeKind {
    /// Sum of the inputs.
    Add,
    /// First input minus the second (exactly two inputs).
    Subtract,
    /// Product of the inputs.
    Multiply,
    /// Mean of the inputs.
    Average,
    /// Element-wise maximum.
    Maximum,
    /// Element-wise minimum.
    Minimum,
}

impl MergeKind {
    /// The Keras class name.
    pub fn class_name(self) -> &'static str {
        match self {
            MergeKind::Add => "Add",
            MergeKind::Subtract => "Subtract",
            MergeKind::Multiply => "Multiply",
            MergeKind::Average => "Average",
            MergeKind::Maximum => "Maximum",
            MergeKind::Minimum => "Minimum",
        }
    }

    /// Whether Keras reads the input masks when computing the values.
    fn reads_masks(self) -> bool {
        matches!(
            self,
            MergeKind::Multiply | MergeKind::Maximum | MergeKind::Minimum
        )
    }
}

macro_rules! merge_builder {
    ($(#[$doc:meta])* $builder:ident, $kind:expr, $auto:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
        pub struct $builder {
            #[serde(skip)]
            name: Option<String>,
        }

        impl $builder {
            /// The layer with Keras' defaults (it has no options).
            pub fn new() -> Self {
                Self::default()
            }

            #[doc = concat!("Names the layer (default `", $auto, "`, `", $auto, "_1`, …).")]
            pub fn name(mut self, name: impl Into<String>) -> Self {
                self.name = Some(name.into());
                self
            }
        }

        impl IntoLayer for $builder {
            fn into_layer(self) -> LayerRef {
                let kind: MergeKind = $kind;
                let name = self.name.unwrap_or_else(|| auto_name(kind.class_name()));
                LayerRef::new(name, MergeLayer { kind })
            }
        }
    };
}

merge_builder!(
    /// Builder of an `Add` layer (Keras' `layers.Add`): the sum of its inputs.
    ///
    /// ```
    /// use tensorweave_layers::prelude::*;
    /// let a = Input::new([4]).build();
    /// let b = Input::new([4]).build();
    /// let y = Add::new().call_many(&[&a, &b]).unwrap();
    /// assert_eq!(y.shape(), &vec![None, Some(4)]);
    /// ```
    Add,
    MergeKind::Add,
    "add"
);

merge_builder!(
    /// Builder of a `Subtract` layer (Keras' `layers.Subtract`): the first of
    /// exactly two inputs minus the second.
    ///
    /// ```
    /// use tensorweave_layers::prelude::*;
    /// let a = Input::new([4]).build();
    /// let b = Input::new([4]).build();
    /// let y = Subtract::new().call_many(&[&a, &b]).unwrap();
    /// assert_eq!(y.shape(), &vec![None, Some(4)]);
    /// assert!(Subtract::new().call_many(&[&a, &b, &a]).is_err());
    /// ```
    Subtract,
    MergeKind::Subtract,
    "subtract"
);

merge_builder!(
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
    Multiply,
    MergeKind::Multiply,
    "multiply"
);

merge_builder!(
    /// Builder of an `Average` layer (Keras' `layers.Average`): the mean of its
    /// inputs.
    ///
    /// ```
    /// use tensorweave_layers::prelude::*;
    /// let a = Input::new([4]).build();
    /// let b = Input::new([4]).build();
    /// let y = Average::new().call_many(&[&a, &b]).unwrap();
    /// assert_eq!(y.shape(), &vec![None, Some(4)]);
    /// ```
    Average,
    MergeKind::Average,
    "average"
);

merge_builder!(
    /// Builder of a `Maximum` layer (Keras' `layers.Maximum`): the element-wise
    /// maximum of its inputs; a masked entry is replaced by the other input's.
    ///
    /// ```
    /// use tensorweave_layers::prelude::*;
    /// let a = Input::new([4]).build();
    /// let b = Input::new([4]).build();
    /// let y = Maximum::new().call_many(&[&a, &b]).unwrap();
    /// assert_eq!(y.shape(), &vec![None, Some(4)]);
    /// ```
    Maximum,
    MergeKind::Maximum,
    "maximum"
);

merge_builder!(
    /// Builder of a `Minimum` layer (Keras' `layers.Minimum`): the element-wise
    /// minimum of its inputs; a masked entry is replaced by the other input's.
    ///
    /// ```
    /// use tensorweave_layers::prelude::*;
    /// let a = Input::new([4]).build();
    /// let b = Input::new([4]).build();
    /// let y = Minimum::new().call_many(&[&a, &b]).unwrap();
    /// assert_eq!(y.shape(), &vec![None, Some(4)]);
    /// ```
    Minimum,
    MergeKind::Minimum,
    "minimum"
);

/// An element-wise merge layer (`Add`, `Subtract`, `Multiply`, `Average`,
/// `Maximum`, `Minimum`).
#[derive(Debug, Clone)]
pub struct MergeLayer {
    kind: MergeKind,
}

impl MergeLayer {
    /// Which merge this is.
    pub fn kind(&self) -> MergeKind {
        self.kind
    }
}

fn list_shapes(inputs: &[TensorSpec]) -> String {
    let shapes: Vec<String> = inputs.iter().map(|s| format_shape(&s.shape)).collect();
    format!("[{}]", shapes.join(", "))
}

fn expect_float_inputs(inputs: &[TensorSpec]) -> Result<()> {
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
    let mut out: Shape = a[..lead].to_vec();
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

impl Layer for MergeLayer {
    fn class_name(&self) -> &str {
        self.kind.class_name()
    }

    fn config(&self) -> serde_json::Value {
        json!({ "trainable": true })
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let all = list_shapes(inputs);
        if inputs.is_empty() {
            return Err(Error::invalid(
                "a merge layer must be called on a list of at least 1 input, got 0",
            ));
        }
        if self.kind == MergeKind::Subtract && inputs.len() != 2 {
            return Err(Error::invalid(format!(
                "a `Subtract` layer must be called on exactly 2 inputs, got {}: {all}",
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
            out = elemwise_shape(&out, &tail(s), &all)?;
        }
        let mut shape = vec![batch];
        shape.extend(out);
        Ok(vec![TensorSpec::f32(shape)])
    }

    fn uses_mask(&self) -> bool {
        self.kind.reads_masks()
    }

    fn compute_mask(
        &self,
        _inputs: &[Tensor],
        masks: &[Option<Tensor>],
        n_outputs: usize,
    ) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![or_masks(masks)?; n_outputs])
    }

    fn call(
        &self,
        inputs: &[&Value],
        masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let xs = inputs
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
                Some(m) if self.kind.reads_masks() && xs[i].ndim() == max_rank => {
                    m.as_bool().map(Some)
                }
                _ => Ok(None),
            })
            .collect::<Result<_>>()?;
        let out = match self.kind {
            MergeKind::Add => fold(&views, |a, b| a + b)?,
            MergeKind::Subtract => match views.as_slice() {
                [a, b] => zip2(a.view(), b.view(), |x, y| x - y)?,
                _ => {
                    return Err(Error::invalid(format!(
                        "a `Subtract` layer must be called on exactly 2 inputs, got {}",
                        views.len()
                    )))
                }
            },
            MergeKind::Average => {
                let n = views.len() as f32;
                fold(&views, |a, b| a + b)?.mapv_into(|v| v / n)
            }
            MergeKind::Multiply => multiply_masked(&views, &masks)?,
            MergeKind::Maximum => extremum_masked(&views, &masks, f32::max)?,
            MergeKind::Minimum => extremum_masked(&views, &masks, f32::min)?,
        };
        Ok(vec![Value::F32(out)])
    }

    fn as_any(&self) -> &dyn StdAny {
        self
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

/// The shape two concrete shapes broadcast to (NumPy rules), or an error naming both.
fn broadcast_shape(a: &[usize], b: &[usize]) -> Result<Vec<usize>> {
    let rank = a.len().max(b.len());
    let pad = |s: &[usize]| {
        let mut v = vec![1; rank - s.len()];
        v.extend_from_slice(s);
        v
    };
    let (pa, pb) = (pad(a), pad(b));
    pa.iter()
        .zip(&pb)
        .map(|(&x, &y)| match (x, y) {
            _ if x == y => Ok(x),
            (1, _) => Ok(y),
            (_, 1) => Ok(x),
            _ => Err(Error::invalid(format!(
                "arrays of shapes {a:?} and {b:?} do not broadcast together"
            ))),
        })
        .collect()
}

fn broadcast_view<'a, A>(x: &'a ArrayViewD<'_, A>, shape: &[usize]) -> Result<ArrayViewD<'a, A>> {
    x.broadcast(IxDyn(shape)).ok_or_else(|| {
        Error::invalid(format!(
            "an array of shape {:?} does not broadcast to {shape:?}",
            x.shape()
        ))
    })
}

/// Applies `f` element-wise to two broadcast arrays.
fn zip2<A: Copy, B: Copy, C>(
    a: ArrayViewD<'_, A>,
    b: ArrayViewD<'_, B>,
    f: impl Fn(A, B) -> C,
) -> Result<ArrayD<C>> {
    let shape = broadcast_shape(a.shape(), b.shape())?;
    let (a, b) = (broadcast_view(&a, &shape)?, broadcast_view(&b, &shape)?);
    Ok(ndarray::Zip::from(&a).and(&b).map_collect(|&x, &y| f(x, y)))
}

/// `where(cond, a, b)` with broadcasting (Keras' `ops.where`).
fn select(
    cond: ArrayViewD<'_, bool>,
    a: ArrayViewD<'_, f32>,
    b: ArrayViewD<'_, f32>,
) -> Result<ArrayD<f32>> {
    let shape = broadcast_shape(&broadcast_shape(cond.shape(), a.shape())?, b.shape())?;
    let (c, a, b) = (
        broadcast_view(&cond, &shape)?,
        broadcast_view(&a, &shape)?,
        broadcast_view(&b, &shape)?,
    );
    Ok(ndarray::Zip::from(&c)
        .and(&a)
        .and(&b)
        .map_collect(|&c, &x, &y| if c { x } else { y }))
}

/// Left fold of a binary operation over the inputs, in input order.
fn fold(xs: &[ArrayViewD<'_, f32>], f: impl Fn(f32, f32) -> f32 + Copy) -> Result<ArrayD<f32>> {
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
fn expand_mask(mask: &ArrayD<bool>, shape: &[usize]) -> Result<ArrayD<bool>> {
    let expanded = mask.view().insert_axis(Axis(mask.ndim()));
    expanded
        .broadcast(IxDyn(shape))
        .map(|v| v.to_owned())
        .ok_or_else(|| {
            Error::invalid(format!(
                "the mask of shape {:?} does not fit its input of shape {shape:?}",
                mask.shape()
            ))
        })
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

/// `Merge._apply_merge_op_and_or_mask` (used by `Maximum` and `Minimum`): a
/// masked entry takes the other operand's value before `op` is applied.
fn extremum_masked(
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

/// Builder and configuration of a `Concatenate` layer (Keras'
/// `layers.Concatenate`): joins its inputs along `axis` (default -1, the last).
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let a = Input::new([5, 3]).build();
/// let b = Input::new([2, 3]).build();
/// let y = Concatenate::new().axis(1).call_many(&[&a, &b]).unwrap();
/// assert_eq!(y.shape(), &vec![None, Some(7), Some(3)]);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Concatenate {
    /// The axis to join along; negative counts from the end (default -1).
    pub axis: i64,
    #[serde(skip)]
    name: Option<String>,
}

impl Default for Concatenate {
    fn default() -> Self {
        Concatenate {
            axis: -1,
            name: None,
        }
    }
}

impl Concatenate {
    /// Concatenation along the last axis.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the axis (negative counts from the end; 0 is the batch axis).
    pub fn axis(mut self, axis: i64) -> Self {
        self.axis = axis;
        self
    }

    /// Names the layer (default `concatenate`, `concatenate_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
}

impl IntoLayer for Concatenate {
    fn into_layer(self) -> LayerRef {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| auto_name("Concatenate"));
        LayerRef::new(name, ConcatenateLayer { config: self })
    }
}

/// The `Concatenate` layer itself.
#[derive(Debug, Clone)]
pub struct ConcatenateLayer {
    config: Concatenate,
}

impl ConcatenateLayer {
    /// The configuration.
    pub fn config(&self) -> &Concatenate {
        &self.config
    }
}

/// Resolves a possibly negative axis for a tensor of rank `rank`.
fn resolve_axis(axis: i64, rank: usize) -> Option<usize> {
    let a = if axis < 0 { rank as i64 + axis } else { axis };
    (0..rank as i64).contains(&a).then_some(a as usize)
}

impl Layer for ConcatenateLayer {
    fn class_name(&self) -> &str {
        "Concatenate"
    }

    fn config(&self) -> serde_json::Value {
        json!({ "axis": self.config.axis, "trainable": true })
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let all = list_shapes(inputs);
        if inputs.is_empty() {
            return Err(Error::invalid(
                "a `Concatenate` layer must be called on a list of at least 1 input, got 0",
            ));
        }
        expect_float_inputs(inputs)?;
        let axis = self.config.axis;
        let mut axes = Vec::with_capacity(inputs.len());
        for (i, s) in inputs.iter().enumerate() {
            axes.push(resolve_axis(axis, s.rank()).ok_or_else(|| {
                Error::invalid(format!(
                    "axis {axis} is out of range for input {i} of shape {} (all input shapes: {all})",
                    format_shape(&s.shape)
                ))
            })?);
        }
        // Keras' build: the shapes without the concatenation axis must agree
        // where known.
        let mismatch = || {
            Error::invalid(format!(
                "a `Concatenate` layer requires inputs with matching shapes except for the \
                 concatenation axis {axis}; got {all}"
            ))
        };
        let rank = inputs[0].rank();
        if inputs.iter().any(|s| s.rank() != rank) {
            return Err(mismatch());
        }
        let concat_axis = axes[0];
        for d in (0..rank).filter(|&d| d != concat_axis) {
            let mut known = inputs.iter().filter_map(|s| s.shape[d]);
            if let Some(first) = known.next() {
                if known.any(|k| k != first) {
                    return Err(mismatch());
                }
            }
        }
        // Keras' compute_output_shape: the first input's shape, with the sizes
        // along the axis added up (unknown if any is unknown).
        let mut shape = inputs[0].shape.clone();
        shape[concat_axis] = inputs
            .iter()
            .map(|s| s.shape[concat_axis])
            .sum::<Option<usize>>();
        Ok(vec![TensorSpec::f32(shape)])
    }

    fn compute_mask(
        &self,
        inputs: &[Tensor],
        masks: &[Option<Tensor>],
        n_outputs: usize,
    ) -> Result<Vec<Option<Tensor>>> {
        if masks.iter().all(Option::is_none) {
            return Ok(vec![None; n_outputs]);
        }
        let mut full = Vec::with_capacity(inputs.len());
        for (input, mask) in inputs.iter().zip(masks) {
            full.push(match mask {
                None => OnesLike::new(DType::Bool).call(input)?,
                Some(m) if m.shape().len() < input.shape().len() => {
                    let expanded = ExpandDims::new(-1).call(m)?;
                    let zeros = ZerosLike::new(DType::Bool).call(input)?;
                    LogicalOr::new().call_many(&[&expanded, &zeros])?
                }
                Some(m) => m.clone(),
            });
        }
        let refs: Vec<&Tensor> = full.iter().collect();
        let joined = ConcatenateOp::new(self.config.axis).call_many(&refs)?;
        let any = AnyOp::new(-1).call(&joined)?;
        Ok(vec![Some(any); n_outputs])
    }

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let xs = inputs
            .iter()
            .map(|v| v.as_f32())
            .collect::<Result<Vec<_>>>()?;
        let views: Vec<ArrayViewD<'_, f32>> = xs.iter().map(|x| x.view()).collect();
        Ok(vec![Value::F32(concat(&views, self.config.axis)?)])
    }

    fn as_any(&self) -> &dyn StdAny {
        self
    }
}

/// Concatenates arrays along `axis` (negative counts from the end), or explains
/// which shapes do not fit.
fn concat<A: Clone>(views: &[ArrayViewD<'_, A>], axis: i64) -> Result<ArrayD<A>> {
    let rank = views.first().map_or(0, |v| v.ndim());
    let a = resolve_axis(axis, rank)
        .ok_or_else(|| Error::invalid(format!("axis {axis} is out of range for rank {rank}")))?;
    ndarray::concatenate(Axis(a), views).map_err(|_| {
        let shapes: Vec<String> = views.iter().map(|v| format!("{:?}", v.shape())).collect();
        Error::invalid(format!(
            "cannot concatenate arrays of shapes [{}] along axis {axis}: every other axis must agree",
            shapes.join(", ")
        ))
    })
}

/// The weightless ops Keras records while computing merged masks. Each is a
/// layer whose class name is the Keras op class (`LogicalOr`, `ExpandDims`,
/// `ZerosLike`, `OnesLike`, `Concatenate`), named automatically like Keras ops
/// (`logical_or`, `expand_dims_1`, …).
pub mod mask_ops {
    use super::*;

    macro_rules! op_into_layer {
        ($ty:ident, $class:literal) => {
            impl IntoLayer for $ty {
                fn into_layer(self) -> LayerRef {
                    let name = self.name.clone().unwrap_or_else(|| auto_name($class));
                    let layer = LayerRef::new(name, self);
                    layer.mark_built();
                    layer
                }
            }
        };
    }

    fn to_bool(v: &Value) -> ArrayD<bool> {
        match v {
            Value::Bool(a) => a.clone(),
            Value::F32(a) => a.mapv(|x| x != 0.0),
            Value::I32(a) => a.mapv(|x| x != 0),
        }
    }

    /// Keras' `operation_utils.broadcast_shapes` on symbolic shapes.
    fn broadcast_symbolic(a: &[Option<usize>], b: &[Option<usize>]) -> Result<Shape> {
        let rank = a.len().max(b.len());
        let pad = |s: &[Option<usize>]| {
            let mut v = vec![Some(1); rank - s.len()];
            v.extend_from_slice(s);
            v
        };
        let (pa, pb) = (pad(a), pad(b));
        pa.iter()
            .zip(&pb)
            .map(|(&x, &y)| match (x, y) {
                (Some(1), _) => Ok(y),
                (None, Some(1)) => Ok(None),
                (None, _) => Ok(y),
                (Some(_), Some(1)) | (Some(_), None) => Ok(x),
                (Some(p), Some(q)) if p == q => Ok(x),
                _ => Err(Error::invalid(format!(
                    "shapes {} and {} do not broadcast together",
                    format_shape(a),
                    format_shape(b)
                ))),
            })
            .collect()
    }

    /// Element-wise logical or of two tensors, broadcasting (Keras' `ops.logical_or`).
    #[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
    pub struct LogicalOr {
        #[serde(skip)]
        name: Option<String>,
    }

    impl LogicalOr {
        /// The op.
        pub fn new() -> Self {
            Self::default()
        }

        /// Names the op (default `logical_or`, `logical_or_1`, …).
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.name = Some(name.into());
            self
        }
    }

    op_into_layer!(LogicalOr, "LogicalOr");

    impl Layer for LogicalOr {
        fn is_op(&self) -> bool {
            true
        }
        fn class_name(&self) -> &str {
            "LogicalOr"
        }

        fn config(&self) -> serde_json::Value {
            json!({})
        }

        fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
            let [a, b] = inputs else {
                return Err(Error::invalid(format!(
                    "expects 2 input tensors, got {}",
                    inputs.len()
                )));
            };
            let shape = broadcast_symbolic(&a.shape, &b.shape)?;
            Ok(vec![TensorSpec::new(shape, DType::Bool)])
        }

        fn call(
            &self,
            inputs: &[&Value],
            _masks: &[Option<&Value>],
            _ctx: &CallContext,
        ) -> Result<Vec<Value>> {
            let [a, b] = inputs else {
                return Err(Error::invalid(format!(
                    "expects 2 input arrays, got {}",
                    inputs.len()
                )));
            };
            let (a, b) = (to_bool(a), to_bool(b));
            Ok(vec![Value::Bool(zip2(a.view(), b.view(), |p, q| p || q)?)])
        }

        fn as_any(&self) -> &dyn StdAny {
            self
        }
    }

    /// Inserts an axis of size 1 (Keras' `ops.expand_dims`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ExpandDims {
        /// Where the new axis goes in the output; negative counts from the end.
        pub axis: i64,
        #[serde(skip)]
        name: Option<String>,
    }

    impl ExpandDims {
        /// Inserts an axis at `axis` of the output (-1: a new last axis).
        pub fn new(axis: i64) -> Self {
            ExpandDims { axis, name: None }
        }

        /// Names the op (default `expand_dims`, `expand_dims_1`, …).
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.name = Some(name.into());
            self
        }

        fn out_axis(&self, in_rank: usize) -> Result<usize> {
            resolve_axis(self.axis, in_rank + 1).ok_or_else(|| {
                Error::invalid(format!(
                    "axis {} is out of range for an input of rank {in_rank}",
                    self.axis
                ))
            })
        }
    }

    op_into_layer!(ExpandDims, "ExpandDims");

    impl Layer for ExpandDims {
        fn is_op(&self) -> bool {
            true
        }
        fn class_name(&self) -> &str {
            "ExpandDims"
        }

        fn config(&self) -> serde_json::Value {
            json!({ "axis": self.axis })
        }

        fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
            let [x] = inputs else {
                return Err(Error::invalid(format!(
                    "expects 1 input tensor, got {}",
                    inputs.len()
                )));
            };
            let mut shape = x.shape.clone();
            shape.insert(self.out_axis(x.rank())?, Some(1));
            Ok(vec![TensorSpec::new(shape, x.dtype)])
        }

        fn call(
            &self,
            inputs: &[&Value],
            _masks: &[Option<&Value>],
            _ctx: &CallContext,
        ) -> Result<Vec<Value>> {
            let [x] = inputs else {
                return Err(Error::invalid("expects 1 input array"));
            };
            let axis = Axis(self.out_axis(x.shape().len())?);
            Ok(vec![match x {
                Value::F32(a) => Value::F32(a.clone().insert_axis(axis)),
                Value::I32(a) => Value::I32(a.clone().insert_axis(axis)),
                Value::Bool(a) => Value::Bool(a.clone().insert_axis(axis)),
            }])
        }

        fn as_any(&self) -> &dyn StdAny {
            self
        }
    }

    fn filled(shape: &[usize], dtype: DType, one: bool) -> Value {
        let dim = IxDyn(shape);
        match dtype {
            DType::F32 => Value::F32(ArrayD::from_elem(dim, if one { 1.0 } else { 0.0 })),
            DType::I32 => Value::I32(ArrayD::from_elem(dim, i32::from(one))),
            DType::Bool => Value::Bool(ArrayD::from_elem(dim, one)),
        }
    }

    macro_rules! fill_like {
        ($(#[$doc:meta])* $ty:ident, $class:literal, $one:expr, $auto:literal) => {
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
            pub struct $ty {
                /// The element type of the result.
                pub dtype: DType,
                #[serde(skip)]
                name: Option<String>,
            }

            impl $ty {
                /// The op, giving `dtype` elements.
                pub fn new(dtype: DType) -> Self {
                    $ty { dtype, name: None }
                }

                #[doc = concat!("Names the op (default `", $auto, "`, `", $auto, "_1`, …).")]
                pub fn name(mut self, name: impl Into<String>) -> Self {
                    self.name = Some(name.into());
                    self
                }
            }

            op_into_layer!($ty, $class);

            impl Layer for $ty {
                fn is_op(&self) -> bool {
                    true
                }
                fn class_name(&self) -> &str {
                    $class
                }

                fn config(&self) -> serde_json::Value {
                    json!({ "dtype": self.dtype.keras_name() })
                }

                fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
                    let [x] = inputs else {
                        return Err(Error::invalid(format!(
                            "expects 1 input tensor, got {}",
                            inputs.len()
                        )));
                    };
                    Ok(vec![TensorSpec::new(x.shape.clone(), self.dtype)])
                }

                fn call(
                    &self,
                    inputs: &[&Value],
                    _masks: &[Option<&Value>],
                    _ctx: &CallContext,
                ) -> Result<Vec<Value>> {
                    let [x] = inputs else {
                        return Err(Error::invalid("expects 1 input array"));
                    };
                    Ok(vec![filled(x.shape(), self.dtype, $one)])
                }

                fn as_any(&self) -> &dyn StdAny {
                    self
                }
            }
        };
    }

    fill_like!(
        /// A tensor of ones with the input's shape (Keras' `ops.ones_like`).
        OnesLike,
        "OnesLike",
        true,
        "ones_like"
    );

    fill_like!(
        /// A tensor of zeros with the input's shape (Keras' `ops.zeros_like`).
        ZerosLike,
        "ZerosLike",
        false,
        "zeros_like"
    );

    /// Joins tensors along an axis (Keras' `ops.concatenate`, an op, unlike the
    /// `Concatenate` layer; both have the Keras class name `Concatenate`).
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    pub struct ConcatenateOp {
        /// The axis to join along; negative counts from the end.
        pub axis: i64,
        #[serde(skip)]
        name: Option<String>,
    }

    impl ConcatenateOp {
        /// Joins along `axis`.
        pub fn new(axis: i64) -> Self {
            ConcatenateOp { axis, name: None }
        }

        /// Names the op (default `concatenate`, `concatenate_1`, …, the same
        /// counter as the `Concatenate` layer, as in Keras).
        pub fn name(mut self, name: impl Into<String>) -> Self {
            self.name = Some(name.into());
            self
        }
    }

    op_into_layer!(ConcatenateOp, "Concatenate");

    impl Layer for ConcatenateOp {
        fn is_op(&self) -> bool {
            true
        }
        fn class_name(&self) -> &str {
            "Concatenate"
        }

        fn config(&self) -> serde_json::Value {
            json!({ "axis": self.axis })
        }

        fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
            let first = inputs
                .first()
                .ok_or_else(|| Error::invalid("expects at least 1 input tensor, got 0"))?;
            let axis = resolve_axis(self.axis, first.rank()).ok_or_else(|| {
                Error::invalid(format!(
                    "axis {} is out of range for shape {}",
                    self.axis,
                    format_shape(&first.shape)
                ))
            })?;
            for x in inputs {
                let fits = x.rank() == first.rank()
                    && x.dtype == first.dtype
                    && x.shape
                        .iter()
                        .zip(&first.shape)
                        .enumerate()
                        .all(|(d, (p, q))| d == axis || p.is_none() || q.is_none() || p == q);
                if !fits {
                    return Err(Error::invalid(format!(
                        "every input must have the same dtype and shape except on axis {}; \
                         got {} {} and {} {}",
                        self.axis,
                        format_shape(&first.shape),
                        first.dtype,
                        format_shape(&x.shape),
                        x.dtype
                    )));
                }
            }
            let mut shape = first.shape.clone();
            shape[axis] = inputs.iter().map(|s| s.shape[axis]).sum::<Option<usize>>();
            Ok(vec![TensorSpec::new(shape, first.dtype)])
        }

        fn call(
            &self,
            inputs: &[&Value],
            _masks: &[Option<&Value>],
            _ctx: &CallContext,
        ) -> Result<Vec<Value>> {
            let dtype = inputs
                .first()
                .map(|v| v.dtype())
                .ok_or_else(|| Error::invalid("expects at least 1 input array"))?;
            Ok(vec![match dtype {
                DType::F32 => {
                    let xs = inputs
                        .iter()
                        .map(|v| v.as_f32())
                        .collect::<Result<Vec<_>>>()?;
                    let views: Vec<_> = xs.iter().map(|x| x.view()).collect();
                    Value::F32(concat(&views, self.axis)?)
                }
                DType::I32 => {
                    let xs = inputs
                        .iter()
                        .map(|v| v.as_i32())
                        .collect::<Result<Vec<_>>>()?;
                    let views: Vec<_> = xs.iter().map(|x| x.view()).collect();
                    Value::I32(concat(&views, self.axis)?)
                }
                DType::Bool => {
                    let xs = inputs
                        .iter()
                        .map(|v| v.as_bool())
                        .collect::<Result<Vec<_>>>()?;
                    let views: Vec<_> = xs.iter().map(|x| x.view()).collect();
                    Value::Bool(concat(&views, self.axis)?)
                }
            }])
        }

        fn as_any(&self) -> &dyn StdAny {
            self
        }
    }
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
        assert!(err.contains("[1, 2]") && err.contains("[1, 3]"), "{err}");
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
