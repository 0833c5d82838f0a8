//! `Embedding`: token ids to vectors, optionally making a mask from padding zeros.

use ndarray::{ArrayD, Axis, IxDyn};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    layer_rng, BackwardCall, BuildContext, CallContext, DType, Error, Gradient, Initializer,
    IntoArray, IntoLayer, Layer, LayerGrads, MaskCall, Param, Result, Tensor, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use crate::class::Common;
use crate::class_and_config;
use crate::ops::NotEqual;
use crate::util::expect_inputs;
use tensorweave_core::Inputs;

/// Builder and configuration of an `Embedding` layer (Keras' `layers.Embedding`).
///
/// With `mask_zero(true)`, id 0 is padding: the layer records a `NotEqual` op
/// that computes the mask, which then flows to the layers that use it.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let tokens = Input::new([None]).dtype(DType::I32).build();
/// let x = Embedding::new(100, 8).mask_zero(true).call(&tokens).unwrap();
/// assert_eq!(x.shape(), &vec![None, None, Some(8)]);
/// assert!(x.mask().is_some());
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(EmbeddingLayer, class = "Embedding", custom_weights)]
pub struct Embedding {
    /// Vocabulary size: ids must lie in `0..input_dim`.
    #[config(default = 1)]
    pub input_dim: usize,
    /// Vector size.
    #[config(default = 1)]
    pub output_dim: usize,
    /// Whether id 0 is padding that masks its step.
    pub mask_zero: bool,
    /// Initializer of the table (default uniform in ±0.05).
    #[config(default = Initializer::embedding_default())]
    pub embeddings_initializer: Initializer,
    /// The table's regularizer as Keras serializes it, added to the training
    /// loss (default none).
    pub embeddings_regularizer: Option<serde_json::Value>,
    /// Keras' `activity_regularizer`: a penalty on the output, divided by
    /// the batch size, added to the training loss (default none).
    pub activity_regularizer: Option<serde_json::Value>,
    /// Whether the table is trainable (false for a frozen pretrained table).
    #[config(default = true)]
    pub trainable: bool,
    /// Name, seed and initial weights.
    #[serde(skip)]
    pub common: Common,
}

impl Embedding {
    /// A table of `input_dim` vectors of size `output_dim`.
    pub fn new(input_dim: usize, output_dim: usize) -> Self {
        Embedding {
            input_dim,
            output_dim,
            ..Default::default()
        }
    }

    /// Uses a pretrained table of shape `[input_dim, output_dim]` (e.g. GloVe
    /// vectors), as an array of any dimension type, owned or viewed.
    pub fn weights(mut self, table: impl IntoArray) -> Self {
        self.common.preset = Some(vec![table.into_array()]);
        self
    }
}

/// The `Embedding` layer itself.
#[derive(Debug, Default)]
pub struct EmbeddingLayer {
    config: Embedding,
    table: Option<Param>,
}

impl EmbeddingLayer {
    /// The table, `[input_dim, output_dim]` (`None` before the layer is built).
    pub fn table(&self) -> Option<ndarray::ArrayView2<'_, f32>> {
        let table = &self.table.as_ref()?.value;
        table.view().into_dimensionality::<ndarray::Ix2>().ok()
    }
}

impl Layer for EmbeddingLayer {
    class_and_config!();

    fn is_lookup(&self) -> bool {
        true
    }

    fn build(&mut self, _inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        let c = &self.config;
        if c.input_dim == 0 || c.output_dim == 0 {
            return Err(Error::invalid(format!(
                "input_dim and output_dim must be positive, got {} and {}",
                c.input_dim, c.output_dim
            )));
        }
        self.table = Some(ctx.add_weight(
            "embeddings",
            &[c.input_dim, c.output_dim],
            &c.embeddings_initializer,
            c.trainable,
            &mut layer_rng(c.common.seed),
        )?);
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        if inputs[0].dtype == DType::Bool {
            return Err(Error::invalid("expects integer token ids, got bool"));
        }
        let mut shape = inputs[0].shape.clone();
        shape.push(Some(self.config.output_dim));
        Ok(vec![TensorSpec::f32(shape)])
    }

    fn time_role(&self) -> tensorweave_core::TimeRole {
        // One row of the table per token.
        tensorweave_core::TimeRole::PerElement
    }

    fn compute_mask(&self, call: &MaskCall<'_>) -> Result<Vec<Option<Tensor>>> {
        let (inputs, n) = (call.inputs, call.n_outputs);
        if !self.config.mask_zero {
            return Ok(vec![None; n]);
        }
        Ok(vec![Some(NotEqual::new(0.0).call(&inputs[0])?)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let table = &self
            .table
            .as_ref()
            .ok_or_else(|| Error::invalid("called before it was built"))?
            .value;
        let vocab = table.shape()[0];
        let ids = token_ids(inputs.value(0)?, vocab)?;
        let dim = table.shape()[1];
        let mut shape = inputs.value(0)?.shape().to_vec();
        shape.push(dim);
        let mut out = Vec::with_capacity(ids.len() * dim);
        let rows = table
            .view()
            .into_shape_with_order((vocab, dim))
            .map_err(|e| Error::invalid(e.to_string()))?;
        for &id in &ids {
            out.extend(rows.index_axis(Axis(0), id as usize).iter());
        }
        let out = ArrayD::from_shape_vec(IxDyn(&shape), out)
            .map_err(|e| Error::invalid(e.to_string()))?;
        Ok(vec![Value::F32(out)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn activity_regularizer(&self) -> Option<serde_json::Value> {
        self.config.activity_regularizer.clone()
    }

    fn weight_regularizers(&self) -> Vec<(String, serde_json::Value)> {
        let r = self.config.embeddings_regularizer.clone();
        r.map(|r| vec![("embeddings".to_string(), r)])
            .unwrap_or_default()
    }

    /// The table's gradient as TensorFlow hands it to Keras (`IndexedSlices`):
    /// one row per token occurrence, in order, duplicates not summed. Token ids
    /// get no gradient.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(gy) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let table = &self
            .table
            .as_ref()
            .ok_or_else(|| Error::invalid("called before it was built"))?
            .value;
        let (vocab, dim) = (table.shape()[0], table.shape()[1]);
        let ids = token_ids(call.inputs.value(0)?, vocab)?;
        let values = crate::util::rows_of(gy)?;
        let indices = ids.into_iter().map(|id| id as usize).collect();
        let g = Gradient::rows(indices, values, vec![vocab, dim])?;
        Ok(LayerGrads {
            inputs: vec![None],
            params: vec![("embeddings".to_string(), g)],
        })
    }

    fn params(&self) -> Vec<&Param> {
        self.table.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.table.iter_mut().collect()
    }
}

/// The token ids of `v`, each checked against the vocabulary size.
fn token_ids(v: &Value, vocab: usize) -> Result<Vec<i64>> {
    let ids: Vec<i64> = match v {
        Value::I32(a) => a.iter().map(|&v| v as i64).collect(),
        Value::F32(a) => a.iter().map(|&v| v as i64).collect(),
        Value::Bool(_) => return Err(Error::invalid("expects integer token ids, got bool")),
        Value::Str(_) => {
            return Err(Error::invalid(
                "expects integer token ids, got strings; turn text into ids first \
                 (TextVectorization or StringLookup)",
            ))
        }
    };
    if let Some((pos, bad)) = ids
        .iter()
        .enumerate()
        .find(|(_, &id)| id < 0 || id as usize >= vocab)
    {
        return Err(Error::invalid(format!(
            "token id {bad} at flat position {pos} is outside the vocabulary 0..{vocab}; \
             map unknown words to an id below {vocab}"
        )));
    }
    Ok(ids)
}
