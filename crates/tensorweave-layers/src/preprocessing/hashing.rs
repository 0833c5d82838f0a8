//! `Hashing` (Keras' `layers.Hashing`): each string (or integer, hashed as
//! its decimal text) to a bin `hash % num_bins`, with FarmHash's
//! `Fingerprint64`, or SipHash-2-4 keyed by `salt` (an integer `s` is the
//! key `(s, s)`). With `mask_value`, that value goes to bin 0 and the rest to
//! `1 + hash % (num_bins - 1)`. Non-int output modes encode the bins
//! `num_bins` wide.

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;
use tensorweave_core::registry::brief;
use tensorweave_core::{
    BuildContext, CallContext, DType, Error, Inputs, Layer, Result, TensorSpec, Value,
};
use tensorweave_derive::LayerConfig;

use super::encoding::{encode, encoded_shape, OutputMode};
use super::hash::{fingerprint64, siphash24};
use super::options::{check_dense_utf8, to_i32};
use crate::class::Common;
use crate::util::expect_inputs;

/// Builder and configuration of a `Hashing` layer.
///
/// ```
/// use tensorweave_layers::prelude::*;
/// let words = Input::texts().build();
/// let bins = Hashing::new(16).call(&words).unwrap();
/// assert_eq!(bins.dtype(), DType::I32);
/// ```
#[derive(Debug, Clone, Serialize, Deserialize, LayerConfig)]
#[serde(default)]
#[layer(HashingLayer, class = "Hashing")]
pub struct Hashing {
    /// Keras' `trainable` flag (the layer has no weights).
    #[config(default = true)]
    pub trainable: bool,
    /// The number of bins (at least 1; at least 2 with a `mask_value`).
    pub num_bins: usize,
    /// The value sent to bin 0 (a string, or an integer for integer input).
    pub mask_value: Option<Json>,
    /// An integer or a pair of integers: SipHash-2-4 with that key.
    pub salt: Option<Json>,
    /// `int`, `one_hot`, `multi_hot` or `count`.
    pub output_mode: OutputMode,
    /// TensorFlow sparse outputs (not supported: must be false).
    pub sparse: bool,
    /// Name.
    #[serde(skip)]
    pub common: Common,
}

impl Hashing {
    /// Hashing into `num_bins` bins.
    pub fn new(num_bins: usize) -> Self {
        Hashing {
            num_bins,
            ..Self::default()
        }
    }

    fn key(&self) -> Result<Option<[u64; 2]>> {
        let word = |v: &Json| {
            v.as_i64()
                .map(|x| x as u64)
                .or_else(|| v.as_u64())
                .ok_or_else(|| {
                    Error::invalid(format!("option `salt`: {} is not an integer", brief(v)))
                })
        };
        match &self.salt {
            None | Some(Json::Null) => Ok(None),
            Some(v @ Json::Number(_)) => {
                let s = word(v)?;
                Ok(Some([s, s]))
            }
            Some(Json::Array(items)) if items.len() == 2 => {
                Ok(Some([word(&items[0])?, word(&items[1])?]))
            }
            Some(other) => Err(Error::invalid(format!(
                "option `salt` = {} is not an integer or a pair of integers",
                brief(other)
            ))),
        }
    }

    fn check(&self) -> Result<()> {
        check_dense_utf8(self.sparse, None)?;
        self.key()?;
        if self.output_mode == OutputMode::TfIdf {
            return Err(Error::invalid(
                "option `output_mode` = 'tf_idf' is not a Hashing mode",
            ));
        }
        let least = if self.mask_value.as_ref().is_some_and(|m| !m.is_null()) {
            2
        } else {
            1
        };
        if self.num_bins < least {
            return Err(Error::invalid(format!(
                "option `num_bins` = {} must be at least {least}",
                self.num_bins
            )));
        }
        Ok(())
    }
}

/// The `Hashing` layer.
#[derive(Debug, Default)]
pub struct HashingLayer {
    config: Hashing,
}

impl HashingLayer {
    fn bin(&self, text: &str, masked: bool, key: Option<[u64; 2]>) -> i64 {
        let c = &self.config;
        let hash = match key {
            None => fingerprint64(text.as_bytes()),
            Some(k) => siphash24(text.as_bytes(), k),
        };
        if masked {
            0
        } else if c.mask_value.as_ref().is_some_and(|m| !m.is_null()) {
            1 + (hash % (c.num_bins as u64 - 1)) as i64
        } else {
            (hash % c.num_bins as u64) as i64
        }
    }
}

impl Layer for HashingLayer {
    fn class_name(&self) -> &str {
        <Self as crate::LayerClass>::CLASS_NAME
    }

    /// The builder's keys, and in int mode Keras' `dtype` of the bins
    /// (`int64`: Keras refuses a float dtype for int output).
    fn config(&self) -> Json {
        let mut config = crate::__private::to_json(&self.config);
        if self.config.output_mode == OutputMode::Int {
            if let Json::Object(map) = &mut config {
                map.insert("dtype".into(), Json::from("int64"));
            }
        }
        config
    }

    fn build(&mut self, inputs: &[TensorSpec], _ctx: &mut BuildContext) -> Result<()> {
        expect_inputs(inputs, 1)?;
        self.config.check()
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        expect_inputs(inputs, 1)?;
        self.config.check()?;
        let x = &inputs[0];
        if x.dtype == DType::F32 || x.dtype == DType::Bool {
            return Err(Error::invalid(format!(
                "hashes strings or integers, got {}",
                x.dtype
            )));
        }
        let mode = self.config.output_mode;
        let dtype = if mode == OutputMode::Int {
            DType::I32
        } else {
            DType::F32
        };
        let shape = encoded_shape(&x.shape, mode, self.config.num_bins)?;
        Ok(vec![TensorSpec::new(shape, dtype)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let key = self.config.key()?;
        let mask = self.config.mask_value.as_ref().filter(|m| !m.is_null());
        let bins = match inputs.one()? {
            Value::Str(a) => {
                let mask = mask.and_then(Json::as_str);
                a.mapv(|s| self.bin(&s, mask == Some(s.as_str()), key))
            }
            Value::I32(a) => {
                let mask = mask.and_then(Json::as_i64);
                a.mapv(|v| self.bin(&v.to_string(), mask == Some(i64::from(v)), key))
            }
            other => {
                return Err(Error::invalid(format!(
                    "hashes strings or integers, got {}",
                    other.dtype()
                )))
            }
        };
        Ok(vec![match self.config.output_mode {
            OutputMode::Int => to_i32(&bins),
            mode => Value::F32(encode(&bins, mode, self.config.num_bins, None)?),
        }])
    }
}
