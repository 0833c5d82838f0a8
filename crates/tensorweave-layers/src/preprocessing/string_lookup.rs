//! `StringLookup` (Keras' `layers.StringLookup`): strings to vocabulary
//! indices (see [`super::lookup`] for the index layout), or encoded
//! vectors; with `invert`, indices back to strings. No standardization: an
//! exact, case-sensitive match of the UTF-8 text.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tensorweave_core::{
    BuildContext, CallContext, DType, Error, Inputs, Layer, Result, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use super::encoding::{encoded_shape, OutputMode};
use super::lookup::{Lookup, LookupSpec};
use super::options::{check_dense_utf8, int_values, to_i32, vocabulary_list};
use crate::class::Common;
use crate::class_and_config;
use crate::util::expect_inputs;

/// Builder and configuration of a `StringLookup` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let words = Input::new([Some(3)]).dtype(DType::String).build();
/// let ids = StringLookup::new()
///     .vocabulary(serde_json::json!(["red", "green", "blue"]))
///     .call(&words)
///     .unwrap();
/// assert_eq!(ids.dtype(), DType::I32);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(StringLookupLayer, class = "StringLookup")]
pub struct StringLookup {
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// Map indices back to strings (int mode only).
    pub invert: bool,
    /// The largest vocabulary size, special tokens included.
    pub max_tokens: Option<usize>,
    /// How many OOV indices (default 1).
    #[config(default = 1)]
    pub num_oov_indices: usize,
    /// The OOV token (default `[UNK]`).
    #[config(default = "[UNK]".to_string())]
    pub oov_token: String,
    /// The mask token, if any (index 0 in int mode).
    pub mask_token: Option<String>,
    /// `int`, `one_hot`, `multi_hot`, `count` or `tf_idf`.
    pub output_mode: OutputMode,
    /// Pad non-int outputs to `max_tokens` wide.
    pub pad_to_max_tokens: bool,
    /// TensorFlow sparse outputs (not supported: must be false).
    pub sparse: bool,
    /// The vocabulary, a list of strings (special tokens first, or not).
    pub vocabulary: Option<Json>,
    /// The idf weights (tf_idf mode).
    pub idf_weights: Option<Vec<f32>>,
    /// The text encoding (UTF-8 only).
    #[config(default = "utf-8".to_string())]
    pub encoding: String,
    /// Name.
    #[serde(skip)]
    pub common: Common,
}

impl StringLookup {
    /// A lookup without a vocabulary yet (set one with `vocabulary`).
    pub fn new() -> Self {
        Self::default()
    }

    fn table(&self) -> Result<Lookup<String>> {
        check_dense_utf8(self.sparse, Some(&self.encoding))?;
        if self.invert && self.output_mode != OutputMode::Int {
            return Err(Error::invalid(
                "option `invert` = true needs output_mode 'int'",
            ));
        }
        let spec = LookupSpec {
            mask_token: self.mask_token.clone(),
            oov_token: self.oov_token.clone(),
            num_oov_indices: self.num_oov_indices,
            output_mode: self.output_mode,
            max_tokens: self.max_tokens,
            pad_to_max_tokens: self.pad_to_max_tokens,
        };
        let vocab = vocabulary_list(
            &self.vocabulary,
            |v| v.as_str().map(String::from),
            "a string",
        )?;
        Lookup::new(spec, vocab, self.idf_weights.clone()).map_err(Error::invalid)
    }
}

/// The `StringLookup` layer.
#[derive(Debug, Default)]
pub struct StringLookupLayer {
    config: StringLookup,
    table: Option<Lookup<String>>,
}

impl StringLookupLayer {
    fn table(&self) -> Result<&Lookup<String>> {
        self.table
            .as_ref()
            .ok_or_else(|| Error::invalid("internal: the lookup table is not built"))
    }
}

impl Layer for StringLookupLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        self.table = Some(self.config.table()?);
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        let want = if self.config.invert {
            DType::I32
        } else {
            DType::String
        };
        if x.dtype != want {
            return Err(Error::invalid(format!(
                "expects {want} input, got {}",
                x.dtype
            )));
        }
        if self.config.invert {
            return Ok(vec![TensorSpec::new(x.shape.clone(), DType::String)]);
        }
        let depth = self.config.table()?.depth();
        let mode = self.config.output_mode;
        let dtype = if mode == OutputMode::Int {
            DType::I32
        } else {
            DType::F32
        };
        Ok(vec![TensorSpec::new(
            encoded_shape(&x.shape, mode, depth)?,
            dtype,
        )])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let table = self.table()?;
        if self.config.invert {
            let ids = int_values(inputs.one()?)?;
            let vocab = table.vocabulary();
            let oov = &self.config.oov_token;
            return Ok(vec![Value::Str(ids.mapv(|i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| vocab.get(i))
                    .unwrap_or(oov)
                    .clone()
            }))]);
        }
        let x = inputs.one()?.as_str()?;
        let mut ids = ndarray::ArrayD::<i64>::zeros(x.raw_dim());
        for (o, s) in ids.iter_mut().zip(x.iter()) {
            *o = table.index(s).map_err(Error::invalid)?;
        }
        Ok(vec![match table.mode() {
            OutputMode::Int => to_i32(&ids),
            _ => Value::F32(table.encode(&ids)?),
        }])
    }
}
