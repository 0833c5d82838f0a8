//! Element-wise activations with Keras 3's names and formulas.

use std::fmt;
use std::str::FromStr;

use ndarray::{ArrayD, Axis};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tensorweave_core::{Error, Result};

/// An activation function, spelled in configs as Keras does (`"tanh"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Activation {
    /// Identity.
    #[default]
    Linear,
    /// `max(x, 0)`; NaN stays NaN (TensorFlow's `relu`).
    Relu,
    /// `min(max(x, 0), 6)`.
    Relu6,
    /// The exact logistic `1 / (1 + exp(-x))`.
    Sigmoid,
    /// Hyperbolic tangent.
    Tanh,
    /// Softmax over the last axis.
    Softmax,
    /// Log of softmax over the last axis.
    LogSoftmax,
    /// Exact GELU: `x/2 · (1 + erf(x/√2))` (Keras' default, `approximate=False`).
    Gelu,
    /// `x` for `x > 0`, else `exp(x) - 1`.
    Elu,
    /// Scaled ELU with Keras' constants.
    Selu,
    /// `log(1 + exp(x))`.
    Softplus,
    /// `x / (1 + |x|)`.
    Softsign,
    /// `x · sigmoid(x)`, spelled `swish`.
    Swish,
    /// `x · sigmoid(x)`, spelled `silu`.
    Silu,
    /// Keras 3's `clip(x/6 + 1/2, 0, 1)` (not Keras 2's `0.2x + 0.5`).
    HardSigmoid,
    /// `x · hard_sigmoid(x)`.
    HardSilu,
    /// `x` for `x ≥ 0`, else `0.2 x` (Keras 3's default slope).
    LeakyRelu,
    /// `exp(x)`.
    Exponential,
    /// `x · tanh(softplus(x))`.
    Mish,
}

const NAMES: &[(&str, Activation)] = &[
    ("linear", Activation::Linear),
    ("relu", Activation::Relu),
    ("relu6", Activation::Relu6),
    ("sigmoid", Activation::Sigmoid),
    ("tanh", Activation::Tanh),
    ("softmax", Activation::Softmax),
    ("log_softmax", Activation::LogSoftmax),
    ("gelu", Activation::Gelu),
    ("elu", Activation::Elu),
    ("selu", Activation::Selu),
    ("softplus", Activation::Softplus),
    ("softsign", Activation::Softsign),
    ("swish", Activation::Swish),
    ("silu", Activation::Silu),
    ("hard_sigmoid", Activation::HardSigmoid),
    ("hard_silu", Activation::HardSilu),
    ("leaky_relu", Activation::LeakyRelu),
    ("exponential", Activation::Exponential),
    ("mish", Activation::Mish),
];

impl Activation {
    /// The Keras name.
    pub fn name(self) -> &'static str {
        NAMES
            .iter()
            .find(|(_, a)| *a == self)
            .map_or("linear", |(n, _)| n)
    }

    /// Applies the activation to one scalar. Not defined for softmax-like
    /// activations, which need the whole last axis: those return `x`.
    #[inline]
    pub fn scalar(self, x: f32) -> f32 {
        match self {
            Activation::Linear | Activation::Softmax | Activation::LogSoftmax => x,
            // Not `x.max(0.0)`, which turns NaN into 0.
            Activation::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Gelu => {
                0.5 * x * (1.0 + libm::erf(x as f64 / std::f64::consts::SQRT_2) as f32)
            }
            Activation::Elu => {
                if x > 0.0 {
                    x
                } else {
                    x.exp_m1()
                }
            }
            Activation::Selu => {
                const ALPHA: f32 = 1.673_263_2;
                const SCALE: f32 = 1.050_701;
                if x > 0.0 {
                    SCALE * x
                } else {
                    SCALE * ALPHA * x.exp_m1()
                }
            }
            Activation::Softplus => softplus(x),
            Activation::Softsign => x / (1.0 + x.abs()),
            Activation::Swish | Activation::Silu => x * sigmoid(x),
            Activation::HardSigmoid => hard_sigmoid(x),
            Activation::HardSilu => x * hard_sigmoid(x),
            Activation::LeakyRelu => {
                if x >= 0.0 {
                    x
                } else {
                    0.2 * x
                }
            }
            Activation::Exponential => x.exp(),
            Activation::Mish => x * softplus(x).tanh(),
        }
    }

    /// Applies the activation in place; softmax and log-softmax work over the last axis.
    pub fn apply_inplace(self, x: &mut ArrayD<f32>) {
        match self {
            Activation::Linear => {}
            Activation::Softmax | Activation::LogSoftmax => {
                let last = Axis(x.ndim().saturating_sub(1));
                if x.ndim() == 0 {
                    return;
                }
                let log = self == Activation::LogSoftmax;
                for mut lane in x.lanes_mut(last) {
                    match lane.as_slice_mut() {
                        Some(v) => softmax_slice(v, log),
                        None => {
                            let mut v = lane.to_vec();
                            softmax_slice(&mut v, log);
                            lane.iter_mut().zip(v).for_each(|(o, n)| *o = n);
                        }
                    }
                }
            }
            other => x.mapv_inplace(|v| other.scalar(v)),
        }
    }
}

/// Softmax (or log-softmax) of `v` in place, as Keras computes it: `exp(v - max)`
/// normalised. A NaN or +inf in `v`, or a row of -inf, gives a row of NaN, as in
/// TensorFlow.
pub fn softmax_slice(v: &mut [f32], log: bool) {
    let max = v.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    v.iter_mut().for_each(|x| *x = (*x - max).exp());
    let sum: f32 = v.iter().sum();
    if log {
        let log_sum = sum.ln();
        v.iter_mut().for_each(|x| *x = x.ln() - log_sum);
    } else {
        v.iter_mut().for_each(|x| *x /= sum);
    }
}

/// The exact logistic function.
#[inline]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

#[inline]
fn softplus(x: f32) -> f32 {
    x.max(0.0) + (-x.abs()).exp().ln_1p()
}

#[inline]
fn hard_sigmoid(x: f32) -> f32 {
    (x / 6.0 + 0.5).clamp(0.0, 1.0)
}

impl FromStr for Activation {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let key = if s.is_empty() || s == "None" {
            "linear"
        } else {
            s
        };
        NAMES
            .iter()
            .find(|(n, _)| *n == key)
            .map(|(_, a)| *a)
            .ok_or_else(|| {
                let known: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                Error::Config(format!(
                    "unknown activation '{s}'; known: {}",
                    known.join(", ")
                ))
            })
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Serialize for Activation {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Activation {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = Option::<String>::deserialize(d)?.unwrap_or_default();
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for (name, act) in NAMES {
            assert_eq!(name.parse::<Activation>().unwrap(), *act);
            assert_eq!(act.name(), *name);
        }
        assert!("relu7".parse::<Activation>().is_err());
    }

    #[test]
    fn formulas_match_keras_reference_values() {
        // Closed-form values of Keras 3's definitions (keras/src/activations).
        let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
        assert!(close(Activation::HardSigmoid.scalar(1.0), 0.666_666_7));
        assert!(close(Activation::HardSigmoid.scalar(-4.0), 0.0));
        assert!(close(Activation::Gelu.scalar(1.0), 0.841_344_7));
        assert!(close(Activation::Selu.scalar(-1.0), -1.111_330_7));
        assert!(close(Activation::Softplus.scalar(2.0), 2.126_928));
        assert!(close(Activation::LeakyRelu.scalar(-1.0), -0.2));
        assert!(close(Activation::Silu.scalar(1.0), 0.731_058_6));
        assert!(close(Activation::Elu.scalar(-1.0), -0.632_120_56));
    }

    #[test]
    fn softmax_normalises_the_last_axis() {
        let mut x = ArrayD::from_shape_vec(vec![2, 3], vec![1.0, 2.0, 3.0, 0.0, 0.0, 0.0]).unwrap();
        Activation::Softmax.apply_inplace(&mut x);
        assert!((x[[0, 2]] - 0.665_240_9).abs() < 1e-6);
        assert!((x[[1, 0]] - 1.0 / 3.0).abs() < 1e-6);
    }
}
