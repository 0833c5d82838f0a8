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
    /// Keras 2's `hard_sigmoid`, `clip(0.2x + 0.5, 0, 1)`: what a file written
    /// by Keras 2 means by `"hard_sigmoid"` (the Keras 2 loaders read it so);
    /// named `keras2_hard_sigmoid` in tensorweave's configs. Keras 3 has no
    /// such activation, so a Keras 3 archive holding it does not load in Keras.
    HardSigmoidKeras2,
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
    ("keras2_hard_sigmoid", Activation::HardSigmoidKeras2),
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
            Activation::HardSigmoidKeras2 => (0.2 * x + 0.5).clamp(0.0, 1.0),
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

impl Activation {
    /// Whether the derivative needs the activation's input (`z`), not only
    /// its output.
    pub fn grad_needs_input(self) -> bool {
        !matches!(
            self,
            Activation::Linear
                | Activation::Relu
                | Activation::Sigmoid
                | Activation::Tanh
                | Activation::Softmax
                | Activation::LogSoftmax
                | Activation::Elu
                | Activation::Selu
                | Activation::Exponential
        )
    }

    /// The cached logits Keras' cross-entropies use for an output of this
    /// activation (softmax and sigmoid outputs).
    pub fn logits_of(self) -> Option<tensorweave_core::LogitsOf> {
        match self {
            Activation::Softmax => Some(tensorweave_core::LogitsOf::Softmax),
            Activation::Sigmoid => Some(tensorweave_core::LogitsOf::Sigmoid),
            _ => None,
        }
    }

    /// The gradient with respect to the activation's input `z`, given its
    /// output `y` and the gradient `gy` reaching `y`, as TensorFlow's
    /// gradients define it (ReLU's derivative is 0 at 0, ELU and SELU read the
    /// output). `z` may be `None` when [`Activation::grad_needs_input`] is false.
    pub fn grad(
        self,
        z: Option<&ArrayD<f32>>,
        y: &ArrayD<f32>,
        gy: &ArrayD<f32>,
    ) -> Result<ArrayD<f32>> {
        if gy.shape() != y.shape() {
            return Err(Error::invalid(format!(
                "internal: activation gradient of shape {:?} for an output of shape {:?}",
                gy.shape(),
                y.shape()
            )));
        }
        let by_output = |f: fn(f32, f32) -> f32| {
            let mut g = gy.clone();
            g.zip_mut_with(y, |g, &y| *g = f(*g, y));
            Ok(g)
        };
        match self {
            Activation::Linear => Ok(gy.clone()),
            Activation::Relu => by_output(|g, y| if y > 0.0 { g } else { 0.0 }),
            Activation::Sigmoid => by_output(|g, y| g * y * (1.0 - y)),
            Activation::Tanh => by_output(|g, y| g * (1.0 - y * y)),
            Activation::Elu => by_output(|g, y| if y > 0.0 { g } else { g * (y + 1.0) }),
            Activation::Selu => {
                const ALPHA: f32 = 1.673_263_2;
                const SCALE: f32 = 1.050_701;
                by_output(|g, y| {
                    if y > 0.0 {
                        g * SCALE
                    } else {
                        g * (y + SCALE * ALPHA)
                    }
                })
            }
            Activation::Exponential => by_output(|g, y| g * y),
            Activation::Softmax | Activation::LogSoftmax => {
                let mut g = gy.clone();
                let last = Axis(y.ndim().saturating_sub(1));
                if y.ndim() == 0 {
                    return Ok(g);
                }
                for (mut gl, yl) in g.lanes_mut(last).into_iter().zip(y.lanes(last)) {
                    if self == Activation::Softmax {
                        // dz = y * (gy - sum(gy * y))
                        let dot: f32 = gl.iter().zip(yl.iter()).map(|(g, y)| g * y).sum();
                        gl.zip_mut_with(&yl, |g, &y| *g = y * (*g - dot));
                    } else {
                        // dz = gy - exp(y) * sum(gy)
                        let sum: f32 = gl.sum();
                        gl.zip_mut_with(&yl, |g, &y| *g -= y.exp() * sum);
                    }
                }
                Ok(g)
            }
            other => {
                let z = z.ok_or_else(|| {
                    Error::invalid(format!(
                        "internal: the gradient of {other} needs the activation's input"
                    ))
                })?;
                let mut g = gy.clone();
                g.zip_mut_with(z, |g, &z| *g *= other.derivative(z));
                Ok(g)
            }
        }
    }

    /// `d activation / dz` at `z`, for the activations whose derivative reads
    /// their input.
    fn derivative(self, z: f32) -> f32 {
        match self {
            Activation::Relu6 => {
                if z > 0.0 && z < 6.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::Gelu => {
                let cdf = 0.5 * (1.0 + libm::erf(z as f64 / std::f64::consts::SQRT_2) as f32);
                let pdf = (-0.5 * z * z).exp() / (2.0 * std::f32::consts::PI).sqrt();
                cdf + z * pdf
            }
            Activation::Softplus => sigmoid(z),
            Activation::Softsign => {
                let d = 1.0 + z.abs();
                1.0 / (d * d)
            }
            Activation::Swish | Activation::Silu => {
                let s = sigmoid(z);
                s * (1.0 + z * (1.0 - s))
            }
            Activation::HardSigmoid => {
                if z > -3.0 && z < 3.0 {
                    1.0 / 6.0
                } else {
                    0.0
                }
            }
            Activation::HardSigmoidKeras2 => {
                if z > -2.5 && z < 2.5 {
                    0.2
                } else {
                    0.0
                }
            }
            Activation::HardSilu => {
                let inner = if z > -3.0 && z < 3.0 { 1.0 / 6.0 } else { 0.0 };
                hard_sigmoid(z) + z * inner
            }
            Activation::LeakyRelu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.2
                }
            }
            Activation::Mish => {
                let t = softplus(z).tanh();
                t + z * (1.0 - t * t) * sigmoid(z)
            }
            // Handled from the output in `grad`.
            _ => 1.0,
        }
    }
}

/// The training-mode output of a layer that ends in `act(z)`: the output, `z`
/// kept when the derivative needs it, and `z` as the output's logits for a
/// softmax or sigmoid (what Keras' cross-entropies use).
pub fn activated_for_training(act: Activation, z: ArrayD<f32>) -> tensorweave_core::Trained {
    let mut y = z.clone();
    act.apply_inplace(&mut y);
    let logits = act.logits_of().map(|activation| tensorweave_core::Logits {
        values: z.clone(),
        activation,
    });
    let saved = act.grad_needs_input().then_some(z);
    tensorweave_core::Trained::with_saved(vec![tensorweave_core::Value::F32(y)], saved)
        .logits(0, logits)
}

/// The gradient with respect to `z` of a layer that ends in `act(z)` and ran
/// [`activated_for_training`]: the gradient reaching its output through the
/// activation, plus the one reaching its logits. `None` when none reaches it.
pub fn pre_activation_grad(
    act: Activation,
    call: &tensorweave_core::BackwardCall<'_>,
) -> Result<Option<ArrayD<f32>>> {
    let z = call.saved::<Option<ArrayD<f32>>>()?.as_ref();
    let g = call.grad(0);
    let mut gz = match &g.value {
        Some(gy) => Some(act.grad(z, call.output(0)?, gy)?),
        None => None,
    };
    if let Some(gl) = &g.logits {
        tensorweave_core::layer::add_into(&mut gz, gl.clone())?;
    }
    Ok(gz)
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
        // tf_keras 2.21: hard_sigmoid(1.0) = 0.7, hard_sigmoid(-3.0) = 0.
        assert!(close(Activation::HardSigmoidKeras2.scalar(1.0), 0.7));
        assert!(close(Activation::HardSigmoidKeras2.scalar(-3.0), 0.0));
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
