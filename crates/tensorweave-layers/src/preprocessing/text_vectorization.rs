//! `TextVectorization` (Keras' `layers.TextVectorization`): each text
//! standardized, split, extended with n-grams (see [`super::text`] for
//! exactly what TensorFlow does), then looked up in a `StringLookup` table
//! with mask `""` and OOV `[UNK]` (see [`super::lookup`]).
//!
//! Input `[B]` or `[B, 1]` strings. In `int` mode the output is `[B, L]`
//! token indices (0 = padding, 1 = `[UNK]`), cut or right-padded with 0 to
//! `output_sequence_length`, or to the longest row of the batch without it;
//! in `multi_hot`, `count` and `tf_idf` modes it is `[B, V]` float32 (Keras'
//! symbolic dtype; its `predict` returns int64 for `multi_hot` and `count`).

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tensorweave_core::registry::brief;
use tensorweave_core::{
    BuildContext, CallContext, DType, Error, Inputs, Layer, Result, Shape, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use super::encoding::{encoded_shape, OutputMode};
use super::lookup::{Lookup, LookupSpec};
use super::options::{check_dense_utf8, to_i32, vocabulary_list};
use super::text::{lower_ascii, ngrams, split_characters, split_whitespace, strip_punctuation};
use crate::class::Common;
use crate::class_and_config;
use crate::util::expect_inputs;

/// Builder and configuration of a `TextVectorization` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let text = Input::texts().build();
/// let ids = TextVectorization::new()
///     .vocabulary(serde_json::json!(["the", "cat", "sat"]))
///     .output_sequence_length(4)
///     .call(&text)
///     .unwrap();
/// assert_eq!(ids.shape(), &[None, Some(4)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(TextVectorizationLayer, class = "TextVectorization")]
pub struct TextVectorization {
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// The largest vocabulary size, special tokens included.
    pub max_tokens: Option<usize>,
    /// `lower_and_strip_punctuation` (default), `lower`, `strip_punctuation`
    /// or null (none).
    #[config(default = Json::from("lower_and_strip_punctuation"))]
    pub standardize: Json,
    /// `whitespace` (default), `character` or null (the whole text is one token).
    #[config(default = Json::from("whitespace"))]
    pub split: Json,
    /// null, an integer `n` (widths 1..=n) or a list of widths.
    pub ngrams: Json,
    /// `int`, `multi_hot`, `count` or `tf_idf`.
    pub output_mode: OutputMode,
    /// int mode: the output length (cut or padded with 0).
    pub output_sequence_length: Option<usize>,
    /// Pad non-int outputs to `max_tokens` wide.
    pub pad_to_max_tokens: bool,
    /// TensorFlow sparse outputs (not supported: must be false).
    pub sparse: bool,
    /// Ragged outputs (not supported: must be false).
    pub ragged: bool,
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

impl TextVectorization {
    /// Keras' defaults; set the vocabulary with `vocabulary`.
    pub fn new() -> Self {
        Self::default()
    }
}

/// A built-in standardization.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum Standardize {
    #[default]
    None,
    Lower,
    StripPunctuation,
    LowerAndStripPunctuation,
}

/// How texts are split.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
enum Split {
    #[default]
    None,
    Whitespace,
    Character,
}

/// The checked options.
#[derive(Debug, Clone)]
struct Plan {
    standardize: Standardize,
    split: Split,
    widths: Vec<usize>,
    table: Lookup<String>,
}

fn python_callable(option: &str, v: &Json) -> Error {
    let name = v
        .get("config")
        .and_then(Json::as_str)
        .map(|s| format!(" '{s}'"))
        .unwrap_or_default();
    Error::invalid(format!(
        "option `{option}` is the Python function{name}, whose code is not in the file and \
         cannot run here; rebuild the model with a built-in {option} (or {option}=None and \
         texts prepared before the model) and save it again"
    ))
}

impl TextVectorization {
    fn plan(&self) -> Result<Plan> {
        check_dense_utf8(self.sparse, Some(&self.encoding))?;
        if self.ragged {
            return Err(Error::invalid(
                "option `ragged` = true is not supported: outputs are padded arrays",
            ));
        }
        let standardize = match &self.standardize {
            Json::Null => Standardize::None,
            Json::String(s) => match s.as_str() {
                "lower_and_strip_punctuation" => Standardize::LowerAndStripPunctuation,
                "lower" => Standardize::Lower,
                "strip_punctuation" => Standardize::StripPunctuation,
                other => {
                    return Err(Error::invalid(format!(
                        "option `standardize` = '{other}' is not one of \
                         lower_and_strip_punctuation, lower, strip_punctuation, None"
                    )))
                }
            },
            other @ Json::Object(_) => return Err(python_callable("standardize", other)),
            other => {
                return Err(Error::invalid(format!(
                    "option `standardize` = {} is not a standardization",
                    brief(other)
                )))
            }
        };
        let split = match &self.split {
            Json::Null => Split::None,
            Json::String(s) if s == "whitespace" => Split::Whitespace,
            Json::String(s) if s == "character" => Split::Character,
            other @ Json::Object(_) => return Err(python_callable("split", other)),
            other => {
                return Err(Error::invalid(format!(
                    "option `split` = {} is not whitespace, character or None",
                    brief(other)
                )))
            }
        };
        let widths: Vec<usize> = match &self.ngrams {
            Json::Null => Vec::new(),
            Json::Number(n) => match n.as_u64() {
                Some(n) if (1..=64).contains(&n) => (1..=n as usize).collect(),
                _ => {
                    return Err(Error::invalid(format!(
                        "option `ngrams` = {n} is not 1..64"
                    )))
                }
            },
            Json::Array(items) => items
                .iter()
                .map(|v| {
                    v.as_u64()
                        .filter(|&w| (1..=64).contains(&w))
                        .map(|w| w as usize)
                        .ok_or_else(|| {
                            Error::invalid(format!(
                                "option `ngrams`: width {} is not 1..64",
                                brief(v)
                            ))
                        })
                })
                .collect::<Result<_>>()?,
            other => {
                return Err(Error::invalid(format!(
                    "option `ngrams` = {} is not an integer or a list of widths",
                    brief(other)
                )))
            }
        };
        if !widths.is_empty() && split == Split::None {
            return Err(Error::invalid("option `ngrams` needs a `split`"));
        }
        match self.output_mode {
            OutputMode::OneHot => {
                return Err(Error::invalid(
                    "option `output_mode` = 'one_hot' is not a TextVectorization mode \
                     (int, multi_hot, count, tf_idf)",
                ))
            }
            OutputMode::Int => {}
            _ if self.output_sequence_length.is_some() => {
                return Err(Error::invalid(
                    "option `output_sequence_length` applies to output_mode 'int' only",
                ))
            }
            _ => {}
        }
        let spec = LookupSpec {
            mask_token: Some(String::new()),
            oov_token: "[UNK]".to_string(),
            num_oov_indices: 1,
            output_mode: self.output_mode,
            max_tokens: self.max_tokens,
            pad_to_max_tokens: self.pad_to_max_tokens,
        };
        let vocab = vocabulary_list(
            &self.vocabulary,
            |v| v.as_str().map(String::from),
            "a string",
        )?;
        let table = Lookup::new(spec, vocab, self.idf_weights.clone()).map_err(Error::invalid)?;
        Ok(Plan {
            standardize,
            split,
            widths,
            table,
        })
    }
}

impl Plan {
    /// The tokens of one text.
    fn tokens(&self, text: &str) -> Vec<String> {
        let text = match self.standardize {
            Standardize::None => text.to_string(),
            Standardize::Lower => lower_ascii(text),
            Standardize::StripPunctuation => strip_punctuation(text),
            Standardize::LowerAndStripPunctuation => strip_punctuation(&lower_ascii(text)),
        };
        let tokens = match self.split {
            Split::None => vec![text],
            Split::Whitespace => split_whitespace(&text),
            Split::Character => split_characters(&text),
        };
        if self.widths.is_empty() {
            tokens
        } else {
            ngrams(&tokens, &self.widths)
        }
    }
}

/// The `TextVectorization` layer.
#[derive(Debug, Default)]
pub struct TextVectorizationLayer {
    config: TextVectorization,
    plan: Option<Plan>,
}

impl Layer for TextVectorizationLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        self.plan = Some(self.config.plan()?);
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let x = &inputs[0];
        if x.dtype != DType::String {
            return Err(Error::invalid(format!(
                "expects string input (texts), got {}",
                x.dtype
            )));
        }
        let rows_only = x.rank() == 1 || (x.rank() == 2 && x.shape[1] == Some(1));
        if !rows_only {
            return Err(Error::invalid(format!(
                "expects one text per row, shape (batch,) or (batch, 1), got {}",
                tensorweave_core::format_shape(&x.shape)
            )));
        }
        let batch = x.shape[0];
        if self.config.output_mode == OutputMode::Int {
            let len = self.config.output_sequence_length;
            return Ok(vec![TensorSpec::new(vec![batch, len], DType::I32)]);
        }
        let depth = self.config.plan()?.table.depth();
        let shape = encoded_shape(
            &Shape::from(vec![batch, None]),
            self.config.output_mode,
            depth,
        )?;
        Ok(vec![TensorSpec::new(shape, DType::F32)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let plan = self
            .plan
            .as_ref()
            .ok_or_else(|| Error::invalid("internal: TextVectorization is not built"))?;
        let texts = inputs.one()?.as_str()?;
        let rows: Vec<Vec<i64>> = texts
            .iter()
            .map(|t| {
                plan.tokens(t)
                    .iter()
                    .map(|tok| plan.table.index(tok).map_err(Error::invalid))
                    .collect::<Result<Vec<i64>>>()
            })
            .collect::<Result<_>>()?;
        let width = match self.config.output_mode {
            OutputMode::Int => self
                .config
                .output_sequence_length
                .unwrap_or_else(|| rows.iter().map(Vec::len).max().unwrap_or(0)),
            // Every row's tokens; -1 (no index) pads the shorter rows.
            _ => rows.iter().map(Vec::len).max().unwrap_or(0),
        };
        let pad = if self.config.output_mode == OutputMode::Int {
            0
        } else {
            -1
        };
        let mut ids = ndarray::Array2::<i64>::from_elem((rows.len(), width), pad);
        for (mut out, row) in ids.rows_mut().into_iter().zip(&rows) {
            for (o, &i) in out.iter_mut().zip(row) {
                *o = i;
            }
        }
        let ids = ids.into_dyn();
        Ok(vec![match self.config.output_mode {
            OutputMode::Int => to_i32(&ids),
            _ => Value::F32(plan.table.encode(&ids)?),
        }])
    }
}
