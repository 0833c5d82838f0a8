//! `CategoryEncoding` (Keras' `layers.CategoryEncoding`): integer
//! categories `0..num_tokens` to `multi_hot` (default), `one_hot` or
//! `count` vectors (see [`super::encoding`]). As in TensorFlow, a value at
//! or above `num_tokens` adds nothing, and a negative value in `multi_hot`
//! or `count` mode is an error.

use serde::{Deserialize, Serialize};
use tensorweave_core::{
    BuildContext, CallContext, DType, Error, Inputs, Layer, Result, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use super::encoding::{encode, encoded_shape, OutputMode};
use super::options::{check_dense_utf8, int_values};
use crate::class::Common;
use crate::class_and_config;
use crate::util::expect_inputs;

/// Builder and configuration of a `CategoryEncoding` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let codes = Input::new([Some(4)]).dtype(DType::I32).build();
/// let hot = CategoryEncoding::new(6).call(&codes).unwrap();
/// assert_eq!(hot.shape(), &[None, Some(6)]);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(CategoryEncodingLayer, class = "CategoryEncoding")]
pub struct CategoryEncoding {
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// The number of categories (the output width).
    pub num_tokens: Option<usize>,
    /// `multi_hot` (default), `one_hot` or `count`.
    #[config(default = OutputMode::MultiHot)]
    pub output_mode: OutputMode,
    /// TensorFlow sparse outputs (not supported: must be false).
    pub sparse: bool,
    /// Name.
    #[serde(skip)]
    pub common: Common,
}

impl CategoryEncoding {
    /// `multi_hot` encoding of `num_tokens` categories.
    pub fn new(num_tokens: usize) -> Self {
        CategoryEncoding {
            num_tokens: Some(num_tokens),
            ..Self::default()
        }
    }

    fn depth(&self) -> Result<usize> {
        check_dense_utf8(self.sparse, None)?;
        if matches!(self.output_mode, OutputMode::Int | OutputMode::TfIdf) {
            return Err(Error::invalid(format!(
                "option `output_mode` = '{}' is not a CategoryEncoding mode \
                 (multi_hot, one_hot, count)",
                self.output_mode.name()
            )));
        }
        self.num_tokens
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::invalid("option `num_tokens` must be a positive integer"))
    }
}

/// The `CategoryEncoding` layer.
#[derive(Debug, Default)]
pub struct CategoryEncodingLayer {
    config: CategoryEncoding,
}

impl Layer for CategoryEncodingLayer {
    class_and_config!();

    fn build(&mut self, inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        if inputs.len() != 1 {
            return Err(Error::invalid(format!(
                "takes 1 input (count_weights are not supported), got {}",
                inputs.len()
            )));
        }
        self.config.depth().map(|_| ())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        let depth = self.config.depth()?;
        if inputs[0].dtype == DType::String {
            return Err(Error::invalid(
                "expects integer categories, got strings (use StringLookup first)",
            ));
        }
        let shape = encoded_shape(&inputs[0].shape, self.config.output_mode, depth)?;
        Ok(vec![TensorSpec::new(shape, DType::F32)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let depth = self.config.depth()?;
        let x = int_values(inputs.one()?)?;
        if self.config.output_mode != OutputMode::OneHot {
            if let Some((pos, v)) = x.iter().enumerate().find(|(_, &v)| v < 0) {
                return Err(Error::invalid(format!(
                    "category {v} at flat position {pos} is negative; categories are \
                     0..{depth}"
                )));
            }
        }
        Ok(vec![Value::F32(encode(
            &x,
            self.config.output_mode,
            depth,
            None,
        )?)])
    }
}
