//! The user-defined layers of Keras' "Text classification with Transformer"
//! example, written as a tensorweave user would to load that model (shared by
//! the tests): `TokenAndPositionEmbedding` and `TransformerBlock`, registered
//! in Keras as `tensorweave_examples>…` (see
//! `tests/fixtures/keras_attention/make_attention.py`):
//!
//! ```python
//! class TokenAndPositionEmbedding(layers.Layer):
//!     def call(self, x):
//!         positions = ops.arange(0, ops.shape(x)[-1])
//!         return self.token_emb(x) + self.pos_emb(positions)
//!
//! class TransformerBlock(layers.Layer):
//!     def call(self, inputs):
//!         attn = self.dropout1(self.att(inputs, inputs))
//!         out1 = self.layernorm1(inputs + attn)
//!         ffn = self.dropout2(self.ffn(out1))          # Dense(ff, relu), Dense(d)
//!         return self.layernorm2(out1 + ffn)
//! ```
//!
//! Each is built from tensorweave's own layers, kept as sublayers under the
//! attribute names Keras saves their weights under (`token_emb`, `att`,
//! `ffn`, `layernorm1`, …), so the `.keras` archive's weights load by
//! Keras' own layout. They run inference (they have no backward).
#![allow(dead_code)]

use ndarray::{ArrayD, IxDyn};
use serde_json::{json, Value as Json};
use tensorweave::core::{BuildContext, CallContext, Inputs, Sublayer};
use tensorweave::prelude::*;
use tensorweave::{Error, Result};

/// Registers both layers under their Keras names (idempotent).
pub fn register() {
    register_layer(
        "tensorweave_examples>TokenAndPositionEmbedding",
        token_and_position_from_config,
    );
    register_layer(
        "tensorweave_examples>TransformerBlock",
        transformer_block_from_config,
    );
}

fn usize_of(config: &Json, key: &str, class: &str) -> Result<usize> {
    config
        .get(key)
        .and_then(Json::as_u64)
        .map(|v| v as usize)
        .ok_or_else(|| Error::Config(format!("{class}: the config needs an integer `{key}`")))
}

fn name_of(config: &Json, default: &str) -> String {
    config
        .get("name")
        .and_then(Json::as_str)
        .unwrap_or(default)
        .to_string()
}

/// Runs a sublayer on arrays.
fn run(layer: &LayerRef, inputs: &[&Value], ctx: &CallContext) -> Result<Value> {
    let mut out = layer
        .read()
        .call(&Inputs::unmasked(inputs), ctx)
        .map_err(|e| e.in_layer(layer.name(), layer.class_name()))?;
    if out.is_empty() {
        return Err(Error::invalid("a sublayer returned no output"));
    }
    Ok(out.remove(0))
}

fn add(a: &Value, b: &Value) -> Result<Value> {
    let (a, b) = (a.as_f32()?, b.as_f32()?);
    Ok(Value::F32(a + b))
}

/// The token and position embeddings, summed.
#[derive(Debug)]
pub struct TokenAndPositionEmbedding {
    maxlen: usize,
    vocab_size: usize,
    embed_dim: usize,
    token_emb: LayerRef,
    pos_emb: LayerRef,
}

/// The layer from its Keras configuration.
pub fn token_and_position_from_config(config: &Json, _: &LayerRegistry) -> Result<LayerRef> {
    let class = "TokenAndPositionEmbedding";
    let (maxlen, vocab_size, embed_dim) = (
        usize_of(config, "maxlen", class)?,
        usize_of(config, "vocab_size", class)?,
        usize_of(config, "embed_dim", class)?,
    );
    Ok(LayerRef::new(
        name_of(config, "token_and_position_embedding"),
        TokenAndPositionEmbedding {
            maxlen,
            vocab_size,
            embed_dim,
            token_emb: Embedding::new(vocab_size, embed_dim)
                .name("embedding")
                .into_layer(),
            pos_emb: Embedding::new(maxlen, embed_dim)
                .name("embedding_1")
                .into_layer(),
        },
    ))
}

impl Layer for TokenAndPositionEmbedding {
    fn class_name(&self) -> &str {
        "TokenAndPositionEmbedding"
    }

    fn config(&self) -> Json {
        json!({ "maxlen": self.maxlen, "vocab_size": self.vocab_size, "embed_dim": self.embed_dim })
    }

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        self.token_emb.build_with(inputs, ctx)?;
        self.pos_emb
            .build_with(&[TensorSpec::new(vec![Some(self.maxlen)], DType::I32)], ctx)
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let [x] = inputs else {
            return Err(Error::invalid("expects one token tensor"));
        };
        let mut shape = x.shape.clone();
        shape.push(Some(self.embed_dim));
        Ok(vec![TensorSpec::f32(shape)])
    }

    fn call(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.one()?;
        let steps = *x.shape().last().unwrap_or(&0);
        if steps > self.maxlen {
            return Err(Error::invalid(format!(
                "sequences of {steps} tokens exceed maxlen {}",
                self.maxlen
            )));
        }
        let positions = Value::I32(ArrayD::from_shape_fn(IxDyn(&[steps]), |i| i[0] as i32));
        let tokens = run(&self.token_emb, &[x], ctx)?;
        let pos = run(&self.pos_emb, &[&positions], ctx)?;
        Ok(vec![add(&tokens, &pos)?])
    }

    fn sublayers(&self) -> Vec<Sublayer> {
        vec![
            Sublayer::part("token_emb", self.token_emb.clone()),
            Sublayer::part("pos_emb", self.pos_emb.clone()),
        ]
    }
}

/// A transformer encoder block: self-attention and a feed-forward network,
/// each with a residual connection and layer normalization.
#[derive(Debug)]
pub struct TransformerBlock {
    embed_dim: usize,
    num_heads: usize,
    ff_dim: usize,
    rate: f64,
    att: LayerRef,
    ffn: LayerRef,
    layernorm1: LayerRef,
    layernorm2: LayerRef,
    dropout1: LayerRef,
    dropout2: LayerRef,
}

/// The layer from its Keras configuration.
pub fn transformer_block_from_config(config: &Json, _: &LayerRegistry) -> Result<LayerRef> {
    let class = "TransformerBlock";
    let (embed_dim, num_heads, ff_dim) = (
        usize_of(config, "embed_dim", class)?,
        usize_of(config, "num_heads", class)?,
        usize_of(config, "ff_dim", class)?,
    );
    let rate = config.get("rate").and_then(Json::as_f64).unwrap_or(0.1);
    let ffn_in = Input::new([None, Some(embed_dim)]).build();
    let hidden = Dense::new(ff_dim)
        .activation(Activation::Relu)
        .name("dense")
        .call(&ffn_in)?;
    let ffn_out = Dense::new(embed_dim).name("dense_1").call(&hidden)?;
    let ffn = Model::with_name("sequential", &[ffn_in], &[ffn_out])?;
    Ok(LayerRef::new(
        name_of(config, "transformer_block"),
        TransformerBlock {
            embed_dim,
            num_heads,
            ff_dim,
            rate,
            att: MultiHeadAttention::new(num_heads, embed_dim)
                .name("multi_head_attention")
                .into_layer(),
            ffn: ffn.into_layer(),
            layernorm1: LayerNormalization::new()
                .epsilon(1e-6)
                .name("layer_normalization")
                .into_layer(),
            layernorm2: LayerNormalization::new()
                .epsilon(1e-6)
                .name("layer_normalization_1")
                .into_layer(),
            dropout1: Dropout::new(rate).name("dropout").into_layer(),
            dropout2: Dropout::new(rate).name("dropout_1").into_layer(),
        },
    ))
}

impl Layer for TransformerBlock {
    fn class_name(&self) -> &str {
        "TransformerBlock"
    }

    fn config(&self) -> Json {
        json!({
            "embed_dim": self.embed_dim, "num_heads": self.num_heads,
            "ff_dim": self.ff_dim, "rate": self.rate,
        })
    }

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        let [x] = inputs else {
            return Err(Error::invalid("expects one sequence"));
        };
        self.att.build_with(&[x.clone(), x.clone()], ctx)?;
        self.layernorm1.build_with(inputs, ctx)?;
        self.layernorm2.build_with(inputs, ctx)?;
        self.dropout1.build_with(inputs, ctx)?;
        self.dropout2.build_with(inputs, ctx)
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let [x] = inputs else {
            return Err(Error::invalid("expects one sequence"));
        };
        if x.rank() != 3 || x.last_dim() != Some(self.embed_dim) {
            return Err(Error::invalid(format!(
                "expects [batch, time, {}], got {:?}",
                self.embed_dim, x.shape
            )));
        }
        Ok(vec![x.clone()])
    }

    fn call(&self, inputs: &Inputs<'_>, ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.one()?;
        let attn = run(&self.att, &[x, x], ctx)?;
        let attn = run(&self.dropout1, &[&attn], ctx)?;
        let out1 = run(&self.layernorm1, &[&add(x, &attn)?], ctx)?;
        let ffn = run(&self.ffn, &[&out1], ctx)?;
        let ffn = run(&self.dropout2, &[&ffn], ctx)?;
        Ok(vec![run(&self.layernorm2, &[&add(&out1, &ffn)?], ctx)?])
    }

    fn sublayers(&self) -> Vec<Sublayer> {
        vec![
            Sublayer::part("att", self.att.clone()),
            Sublayer::part("ffn", self.ffn.clone()),
            Sublayer::part("layernorm1", self.layernorm1.clone()),
            Sublayer::part("layernorm2", self.layernorm2.clone()),
            Sublayer::part("dropout1", self.dropout1.clone()),
            Sublayer::part("dropout2", self.dropout2.clone()),
        ]
    }
}
