//! Keras' weight regularizers `L1`, `L2` and `L1L2`: penalty and gradient.
//!
//! The penalty is `l1·sum(|w|) + l2·sum(w²)` (no 1/2), added once per batch to the loss, not
//! divided by the batch size. Keras keeps `L1`'s factor as a float32 tensor (its config shows
//! the float32 value, e.g. 0.009999999776482582) but `L2`'s and `L1L2`'s as Python floats;
//! [`Regularizer`] keeps the same precision so that configs match.

use ndarray::ArrayD;
use serde_json::{Map, Value};
use tensorweave_core::Result;

use crate::config::{identifier, num, serialized, ConfigReader, Identifier};
use crate::util::{config_err, quote, sum_f32, tf_sign};

/// A weight penalty.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Regularizer {
    /// `l1·sum(|w|)`.
    L1(f32),
    /// `l2·sum(w²)`.
    L2(f64),
    /// `l1·sum(|w|) + l2·sum(w²)` (a zero factor skips its term).
    L1L2 {
        /// The L1 factor.
        l1: f64,
        /// The L2 factor.
        l2: f64,
    },
}

impl Regularizer {
    /// The penalty for a weight.
    pub fn penalty(&self, w: &ArrayD<f32>) -> f32 {
        let abs_sum = || sum_f32(w.iter().map(|x| x.abs()));
        let sq_sum = || sum_f32(w.iter().map(|x| x * x));
        match *self {
            Regularizer::L1(l1) => l1 * abs_sum(),
            Regularizer::L2(l2) => (l2 as f32) * sq_sum(),
            Regularizer::L1L2 { l1, l2 } => {
                let mut r = 0.0f32;
                if l1 != 0.0 {
                    r += (l1 as f32) * abs_sum();
                }
                if l2 != 0.0 {
                    r += (l2 as f32) * sq_sum();
                }
                r
            }
        }
    }

    /// The gradient of the penalty w.r.t. the weight: `l1·sign(w) + l2·2w`.
    pub fn gradient(&self, w: &ArrayD<f32>) -> ArrayD<f32> {
        let (l1, l2) = match *self {
            Regularizer::L1(l1) => (l1, 0.0),
            Regularizer::L2(l2) => (0.0, l2 as f32),
            Regularizer::L1L2 { l1, l2 } => (l1 as f32, l2 as f32),
        };
        w.mapv(|x| {
            let mut g = 0.0f32;
            if l1 != 0.0 {
                g += l1 * tf_sign(x);
            }
            if l2 != 0.0 {
                g += l2 * (2.0 * x);
            }
            g
        })
    }

    /// Keras' serialized regularizer (`keras.regularizers.serialize`).
    pub fn config(&self) -> Value {
        let mut m = Map::new();
        let class = match *self {
            Regularizer::L1(l1) => {
                m.insert("l1".into(), num(f64::from(l1)));
                "L1"
            }
            Regularizer::L2(l2) => {
                m.insert("l2".into(), num(l2));
                "L2"
            }
            Regularizer::L1L2 { l1, l2 } => {
                m.insert("l1".into(), num(l1));
                m.insert("l2".into(), num(l2));
                "L1L2"
            }
        };
        serialized("keras.regularizers", class, m)
    }

    /// Reads a Keras regularizer: `"l1"` (0.01), `"l2"` (0.01), `"l1l2"` (both 0, as in Keras),
    /// the class names, or a serialized object.
    pub fn from_config(v: &Value) -> Result<Regularizer> {
        match identifier(v, "regularizer")? {
            Identifier::Name(name) => match name {
                "l1" | "L1" => Ok(Regularizer::L1(0.01)),
                "l2" | "L2" => Ok(Regularizer::L2(0.01)),
                "l1l2" | "L1L2" => Ok(Regularizer::L1L2 { l1: 0.0, l2: 0.0 }),
                other => Err(unsupported(other)),
            },
            Identifier::Object {
                class_name,
                mut config,
            } => {
                let r = match class_name {
                    "L1" => Regularizer::L1(factor(&mut config, "l1", 0.01)? as f32),
                    "L2" => Regularizer::L2(factor(&mut config, "l2", 0.01)?),
                    "L1L2" => Regularizer::L1L2 {
                        l1: factor(&mut config, "l1", 0.0)?,
                        l2: factor(&mut config, "l2", 0.0)?,
                    },
                    other => return Err(unsupported(other)),
                };
                config.finish()?;
                Ok(r)
            }
        }
    }
}

fn factor(c: &mut ConfigReader<'_>, key: &str, default: f64) -> Result<f64> {
    let x = c.f64_or(key, default)?;
    if !x.is_finite() || x < 0.0 {
        return Err(config_err(format!(
            "{}: '{key}' must be a non-negative float, got {x}",
            c.what()
        )));
    }
    Ok(x)
}

fn unsupported(name: &str) -> tensorweave_core::Error {
    config_err(format!(
        "regularizer {}: not supported; use L1, L2 or L1L2",
        quote(name)
    ))
}
