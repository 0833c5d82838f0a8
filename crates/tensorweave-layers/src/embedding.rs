//! `Embedding`: token ids to vectors, optionally making a mask from padding zeros.

use std::any::Any;

use ndarray::{ArrayD, Axis, IxDyn};
use serde::{Deserialize, Serialize};
use tensorweave_core::{
    auto_name, layer_rng, CallContext, DType, Error, Initializer, IntoLayer, Layer, LayerRef,
    Param, ParamVisitor, ParamVisitorMut, Result, Tensor, TensorSpec, Value,
};

use crate::ops::NotEqual;
use crate::util::expect_inputs;
use crate::weights::{assign_initial, Preset};

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
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Embedding {
    /// Vocabulary size: ids must lie in `0..input_dim`.
    pub input_dim: usize,
    /// Vector size.
    pub output_dim: usize,
    /// Whether id 0 is padding that masks its step.
    pub mask_zero: bool,
    /// Initializer of the table (default uniform in ±0.05).
    pub embeddings_initializer: Initializer,
    /// Whether the table is trainable (false for a frozen pretrained table).
    pub trainable: bool,
    #[serde(skip)]
    name: Option<String>,
    #[serde(skip)]
    seed: Option<u64>,
    #[serde(skip)]
    preset: Preset,
}

impl Default for Embedding {
    fn default() -> Self {
        Embedding {
            input_dim: 1,
            output_dim: 1,
            mask_zero: false,
            embeddings_initializer: Initializer::embedding_default(),
            trainable: true,
            name: None,
            seed: None,
            preset: Preset::default(),
        }
    }
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

    /// Treats id 0 as padding and emits a mask.
    pub fn mask_zero(mut self, mask_zero: bool) -> Self {
        self.mask_zero = mask_zero;
        self
    }

    /// Uses a pretrained table of shape `[input_dim, output_dim]` (e.g. GloVe vectors).
    pub fn weights(mut self, table: ArrayD<f32>) -> Self {
        self.preset = Preset(Some(vec![table]));
        self
    }

    /// Sets the initializer.
    pub fn embeddings_initializer(mut self, init: Initializer) -> Self {
        self.embeddings_initializer = init;
        self
    }

    /// Freezes or unfreezes the table.
    pub fn trainable(mut self, trainable: bool) -> Self {
        self.trainable = trainable;
        self
    }

    /// Names the layer (default `embedding`, `embedding_1`, …).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Seeds the initializer.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }
}

impl IntoLayer for Embedding {
    fn into_layer(self) -> LayerRef {
        let name = self.name.clone().unwrap_or_else(|| auto_name("Embedding"));
        LayerRef::new(
            name,
            EmbeddingLayer {
                config: self,
                table: None,
            },
        )
    }
}

/// The `Embedding` layer itself.
#[derive(Debug)]
pub struct EmbeddingLayer {
    config: Embedding,
    table: Option<Param>,
}

impl Layer for EmbeddingLayer {
    fn class_name(&self) -> &str {
        "Embedding"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::to_value(&self.config).unwrap_or_default()
    }

    fn build(&mut self, _inputs: &[TensorSpec]) -> Result<()> {
        let c = &self.config;
        if c.input_dim == 0 || c.output_dim == 0 {
            return Err(Error::invalid(format!(
                "input_dim and output_dim must be positive, got {} and {}",
                c.input_dim, c.output_dim
            )));
        }
        let table = c
            .embeddings_initializer
            .sample(&[c.input_dim, c.output_dim], &mut layer_rng(c.seed));
        self.table = Some(Param {
            name: "embeddings".into(),
            value: table,
            trainable: c.trainable,
        });
        let preset = self.config.preset.take();
        assign_initial(self, preset)
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

    fn compute_mask(
        &self,
        inputs: &[Tensor],
        _masks: &[Option<Tensor>],
        n: usize,
    ) -> Result<Vec<Option<Tensor>>> {
        if !self.config.mask_zero {
            return Ok(vec![None; n]);
        }
        Ok(vec![Some(NotEqual::new(0.0).call(&inputs[0])?)])
    }

    fn call(
        &self,
        inputs: &[&Value],
        _masks: &[Option<&Value>],
        _ctx: &CallContext,
    ) -> Result<Vec<Value>> {
        let table = &self
            .table
            .as_ref()
            .ok_or_else(|| Error::invalid("called before it was built"))?
            .value;
        let vocab = table.shape()[0];
        let ids: Vec<i64> = match inputs[0] {
            Value::I32(a) => a.iter().map(|&v| v as i64).collect(),
            Value::F32(a) => a.iter().map(|&v| v as i64).collect(),
            Value::Bool(_) => return Err(Error::invalid("expects integer token ids, got bool")),
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
        let dim = table.shape()[1];
        let mut shape = inputs[0].shape().to_vec();
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

    fn visit_params(&self, visitor: &mut ParamVisitor<'_>) {
        if let Some(p) = &self.table {
            visitor("embeddings", p);
        }
    }

    fn visit_params_mut(&mut self, visitor: &mut ParamVisitorMut<'_>) {
        if let Some(p) = &mut self.table {
            visitor("embeddings", p);
        }
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
