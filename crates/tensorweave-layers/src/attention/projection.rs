//! The projections inside `MultiHeadAttention` (Keras' `EinsumDense`
//! sublayers `query`, `key`, `value`, `attention_output`): a kernel that maps
//! the last axis to `[heads, size]` (or back), with an optional bias, as one
//! matrix product over the flattened axes.

use ndarray::{Array2, ArrayD, ArrayView2, Axis, IxDyn};
use serde_json::{json, Value as Json};
use tensorweave_core::{
    layer_rng, BuildContext, CallContext, Error, Initializer, Inputs, Layer, Param, Result,
    TensorSpec, Value,
};

/// One projection's weights: `kernel` of shape `kernel_shape` (its leading
/// `in_axes` axes are contracted with the input's last ones) and `bias` of
/// shape `bias_shape`.
#[derive(Debug)]
pub struct Projection {
    kernel_shape: Vec<usize>,
    bias_shape: Option<Vec<usize>>,
    in_axes: usize,
    kernel_initializer: Initializer,
    bias_initializer: Initializer,
    trainable: bool,
    seed: Option<u64>,
    kernel: Option<Param>,
    bias: Option<Param>,
}

/// The gradients of a projection: of its input rows, kernel and bias.
pub(crate) type ProjectionGrads = (Array2<f32>, ArrayD<f32>, Option<ArrayD<f32>>);

/// What a projection is built from.
#[derive(Debug, Clone)]
pub struct ProjectionSpec {
    /// The kernel's shape.
    pub kernel_shape: Vec<usize>,
    /// The bias's shape (none without bias).
    pub bias_shape: Option<Vec<usize>>,
    /// How many leading kernel axes meet the input (1, or 2 for the output
    /// projection, which contracts heads and size).
    pub in_axes: usize,
    /// Kernel initializer.
    pub kernel_initializer: Initializer,
    /// Bias initializer.
    pub bias_initializer: Initializer,
    /// Whether the weights train.
    pub trainable: bool,
    /// Initializer seed.
    pub seed: Option<u64>,
}

impl Projection {
    /// A projection, built by [`Layer::build`] (its inputs are ignored).
    pub fn new(spec: ProjectionSpec) -> Self {
        Projection {
            kernel_shape: spec.kernel_shape,
            bias_shape: spec.bias_shape,
            in_axes: spec.in_axes,
            kernel_initializer: spec.kernel_initializer,
            bias_initializer: spec.bias_initializer,
            trainable: spec.trainable,
            seed: spec.seed,
            kernel: None,
            bias: None,
        }
    }

    fn in_size(&self) -> usize {
        self.kernel_shape[..self.in_axes].iter().product()
    }

    fn out_size(&self) -> usize {
        self.kernel_shape[self.in_axes..].iter().product()
    }

    /// The kernel as a `[in, out]` matrix.
    pub(crate) fn matrix(&self) -> Result<ArrayView2<'_, f32>> {
        let k = self
            .kernel
            .as_ref()
            .ok_or_else(|| Error::invalid("called before it was built"))?;
        k.value
            .view()
            .into_shape_with_order((self.in_size(), self.out_size()))
            .map_err(|e| Error::invalid(format!("internal: projection kernel: {e}")))
    }

    /// `x · kernel + bias` over the last `in_axes` axes of `x` (rows of
    /// `[n, in]`), as `[n, out]`.
    pub(crate) fn apply(&self, rows: ArrayView2<'_, f32>) -> Result<Array2<f32>> {
        let mut y = rows.dot(&self.matrix()?);
        if let Some(b) = &self.bias {
            let b = b
                .value
                .view()
                .into_shape_with_order(self.out_size())
                .map_err(|e| Error::invalid(format!("internal: projection bias: {e}")))?;
            y += &b;
        }
        Ok(y)
    }

    /// The gradients of `kernel` and `bias` and of the input rows, given the
    /// input rows and the gradient of the output rows.
    pub(crate) fn backward(
        &self,
        rows: ArrayView2<'_, f32>,
        g: ArrayView2<'_, f32>,
    ) -> Result<ProjectionGrads> {
        let w = self.matrix()?;
        let gx = g.dot(&w.t());
        let gk = rows
            .t()
            .dot(&g)
            .into_shape_with_order(IxDyn(&self.kernel_shape))
            .map_err(|e| Error::invalid(format!("internal: kernel gradient: {e}")))?;
        let gb = match &self.bias_shape {
            Some(shape) => Some(
                g.sum_axis(Axis(0))
                    .into_shape_with_order(IxDyn(shape))
                    .map_err(|e| Error::invalid(format!("internal: bias gradient: {e}")))?,
            ),
            None => None,
        };
        Ok((gx, gk, gb))
    }

    /// Whether the projection has a bias.
    pub(crate) fn has_bias(&self) -> bool {
        self.bias_shape.is_some()
    }
}

impl Layer for Projection {
    fn class_name(&self) -> &str {
        "EinsumDense"
    }

    fn config(&self) -> Json {
        json!({})
    }

    fn build(&mut self, _inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        let mut rng = layer_rng(self.seed);
        self.kernel = Some(ctx.add_weight(
            "kernel",
            &self.kernel_shape,
            &self.kernel_initializer,
            self.trainable,
            &mut rng,
        )?);
        self.bias = match &self.bias_shape {
            Some(shape) => Some(ctx.add_weight(
                "bias",
                shape,
                &self.bias_initializer,
                self.trainable,
                &mut rng,
            )?),
            None => None,
        };
        Ok(())
    }

    fn output_specs(&self, _inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        Err(Error::invalid(
            "a projection of MultiHeadAttention is run by its layer, not called",
        ))
    }

    fn call(&self, _inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        Err(Error::invalid(
            "a projection of MultiHeadAttention is run by its layer, not called",
        ))
    }

    crate::optional_params!(kernel, bias);
}
