//! Element-wise ops of one tensor on Keras tensors: math (`ops.exp`,
//! `ops.sqrt`, …), activations (`ops.relu`, `ops.gelu`, `ops.softmax`, …),
//! `ops.clip`, `ops.round`, `ops.cast` and `ops.logical_not`, as TensorFlow
//! computes them and differentiates them.

use ndarray::{ArrayD, Axis, Zip};
use serde_json::{json, Value as Json};
use tensorweave_core::registry::brief;
use tensorweave_core::{
    BackwardCall, CallContext, DType, Error, Inputs, Layer, LayerGrads, Result, TensorSpec, Value,
};

use super::operands::config_f64;
use super::NUMPY;
use crate::activations::{sigmoid, softmax_slice};
use crate::array_ops::resolve_axis;

const NN: &str = "keras.src.ops.nn";
const MATH: &str = "keras.src.ops.math";
const CORE: &str = "keras.src.ops.core";

/// Which element-wise op, with its options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Unary {
    /// `ops.abs` (class `Absolute`).
    Absolute,
    /// `-x`.
    Negative,
    /// `ops.exp`.
    Exp,
    /// `ops.expm1`.
    Expm1,
    /// `ops.log`.
    Log,
    /// `ops.log1p`.
    Log1p,
    /// `ops.sqrt`.
    Sqrt,
    /// `ops.rsqrt`: `1 / sqrt(x)`.
    Rsqrt,
    /// `ops.square`.
    Square,
    /// `ops.sign`.
    Sign,
    /// `ops.round` to `decimals` digits, halves to even.
    Round {
        /// Decimal digits.
        decimals: i32,
    },
    /// `ops.floor`.
    Floor,
    /// `ops.ceil`.
    Ceil,
    /// `ops.sin`.
    Sin,
    /// `ops.cos`.
    Cos,
    /// `ops.tanh`.
    Tanh,
    /// `ops.sigmoid`.
    Sigmoid,
    /// `ops.relu`.
    Relu,
    /// `ops.relu6`.
    Relu6,
    /// `ops.softplus`.
    Softplus,
    /// `ops.softsign`.
    Softsign,
    /// `ops.silu` (`x · sigmoid(x)`).
    Silu,
    /// `ops.gelu`, with the tanh approximation or exact (erf).
    Gelu {
        /// Whether the tanh approximation is used (Keras' default for the op).
        approximate: bool,
    },
    /// `ops.elu` with its `alpha`.
    Elu {
        /// The scale of the negative part.
        alpha: f32,
    },
    /// `ops.selu`.
    Selu,
    /// `ops.leaky_relu`.
    LeakyRelu {
        /// The slope of the negative part.
        negative_slope: f32,
    },
    /// `ops.hard_sigmoid`: `relu6(x + 3) / 6`.
    HardSigmoid,
    /// `ops.softmax` over an axis.
    Softmax {
        /// The axis; negative counts from the end.
        axis: i64,
    },
    /// `ops.log_softmax` over an axis.
    LogSoftmax {
        /// The axis; negative counts from the end.
        axis: i64,
    },
    /// `ops.clip(x, x_min, x_max)`.
    Clip {
        /// Lower bound.
        min: f32,
        /// Upper bound.
        max: f32,
    },
    /// `ops.cast` to a dtype.
    Cast {
        /// The result dtype.
        dtype: DType,
    },
    /// `ops.logical_not`.
    LogicalNot,
}

/// Every class: its name, module and a default (options read from the config).
const CLASSES: &[(&str, &str)] = &[
    ("Absolute", NUMPY),
    ("Negative", NUMPY),
    ("Exp", NUMPY),
    ("Expm1", NUMPY),
    ("Log", NUMPY),
    ("Log1p", NUMPY),
    ("Sqrt", NUMPY),
    ("Rsqrt", MATH),
    ("Square", NUMPY),
    ("Sign", NUMPY),
    ("Round", NUMPY),
    ("Floor", NUMPY),
    ("Ceil", NUMPY),
    ("Sin", NUMPY),
    ("Cos", NUMPY),
    ("Tanh", NUMPY),
    ("Sigmoid", NN),
    ("Relu", NN),
    ("Relu6", NN),
    ("Softplus", NN),
    ("Softsign", NN),
    ("Silu", NN),
    ("Gelu", NN),
    ("Elu", NN),
    ("Selu", NN),
    ("LeakyRelu", NN),
    ("HardSigmoid", NN),
    ("Softmax", NN),
    ("LogSoftmax", NN),
    ("Clip", NUMPY),
    ("Cast", CORE),
    ("LogicalNot", NUMPY),
];

impl Unary {
    /// The Keras op class.
    pub fn class_name(self) -> &'static str {
        match self {
            Unary::Absolute => "Absolute",
            Unary::Negative => "Negative",
            Unary::Exp => "Exp",
            Unary::Expm1 => "Expm1",
            Unary::Log => "Log",
            Unary::Log1p => "Log1p",
            Unary::Sqrt => "Sqrt",
            Unary::Rsqrt => "Rsqrt",
            Unary::Square => "Square",
            Unary::Sign => "Sign",
            Unary::Round { .. } => "Round",
            Unary::Floor => "Floor",
            Unary::Ceil => "Ceil",
            Unary::Sin => "Sin",
            Unary::Cos => "Cos",
            Unary::Tanh => "Tanh",
            Unary::Sigmoid => "Sigmoid",
            Unary::Relu => "Relu",
            Unary::Relu6 => "Relu6",
            Unary::Softplus => "Softplus",
            Unary::Softsign => "Softsign",
            Unary::Silu => "Silu",
            Unary::Gelu { .. } => "Gelu",
            Unary::Elu { .. } => "Elu",
            Unary::Selu => "Selu",
            Unary::LeakyRelu { .. } => "LeakyRelu",
            Unary::HardSigmoid => "HardSigmoid",
            Unary::Softmax { .. } => "Softmax",
            Unary::LogSoftmax { .. } => "LogSoftmax",
            Unary::Clip { .. } => "Clip",
            Unary::Cast { .. } => "Cast",
            Unary::LogicalNot => "LogicalNot",
        }
    }

    /// The op of class `class` from its Keras configuration.
    fn from_config(class: &str, config: &Json) -> Result<Unary> {
        let f = |key: &str, default: Option<f64>| config_f64(class, config, key, default);
        Ok(match class {
            "Absolute" => Unary::Absolute,
            "Negative" => Unary::Negative,
            "Exp" => Unary::Exp,
            "Expm1" => Unary::Expm1,
            "Log" => Unary::Log,
            "Log1p" => Unary::Log1p,
            "Sqrt" => Unary::Sqrt,
            "Rsqrt" => Unary::Rsqrt,
            "Square" => Unary::Square,
            "Sign" => Unary::Sign,
            "Round" => Unary::Round {
                decimals: f("decimals", Some(0.0))? as i32,
            },
            "Floor" => Unary::Floor,
            "Ceil" => Unary::Ceil,
            "Sin" => Unary::Sin,
            "Cos" => Unary::Cos,
            "Tanh" => Unary::Tanh,
            "Sigmoid" => Unary::Sigmoid,
            "Relu" => Unary::Relu,
            "Relu6" => Unary::Relu6,
            "Softplus" => Unary::Softplus,
            "Softsign" => Unary::Softsign,
            "Silu" => Unary::Silu,
            "Gelu" => Unary::Gelu {
                approximate: config
                    .get("approximate")
                    .and_then(Json::as_bool)
                    .unwrap_or(true),
            },
            "Elu" => Unary::Elu {
                alpha: f("alpha", Some(1.0))? as f32,
            },
            "Selu" => Unary::Selu,
            "LeakyRelu" => Unary::LeakyRelu {
                negative_slope: f("negative_slope", Some(0.2))? as f32,
            },
            "HardSigmoid" => Unary::HardSigmoid,
            "Softmax" => Unary::Softmax {
                axis: f("axis", Some(-1.0))? as i64,
            },
            "LogSoftmax" => Unary::LogSoftmax {
                axis: f("axis", Some(-1.0))? as i64,
            },
            "Clip" => Unary::Clip {
                min: f("x_min", None)? as f32,
                max: f("x_max", None)? as f32,
            },
            "Cast" => {
                let text = config.get("dtype").and_then(Json::as_str).unwrap_or("");
                let dtype = DType::from_keras_name(text).ok_or_else(|| {
                    Error::layer(
                        config.get("name").and_then(Json::as_str).unwrap_or("?"),
                        class,
                        format!(
                            "option `dtype` = {} is not supported: expected float32, int32 or \
                             bool (or a type tensorweave maps to them)",
                            brief(config.get("dtype").unwrap_or(&Json::Null))
                        ),
                    )
                })?;
                Unary::Cast { dtype }
            }
            "LogicalNot" => Unary::LogicalNot,
            other => {
                return Err(Error::Config(format!(
                    "internal: no element-wise op class '{other}'"
                )))
            }
        })
    }

    /// The options in Keras' config form.
    fn config(self) -> Json {
        match self {
            Unary::Round { decimals } => json!({ "decimals": decimals }),
            Unary::Gelu { approximate } => json!({ "approximate": approximate }),
            Unary::Elu { alpha } => json!({ "alpha": alpha }),
            Unary::LeakyRelu { negative_slope } => json!({ "negative_slope": negative_slope }),
            Unary::Softmax { axis } | Unary::LogSoftmax { axis } => json!({ "axis": axis }),
            Unary::Clip { min, max } => json!({ "x_min": min, "x_max": max }),
            Unary::Cast { dtype } => json!({ "dtype": dtype.keras_name() }),
            _ => json!({}),
        }
    }

    fn result_dtype(self, input: DType) -> DType {
        match self {
            Unary::Cast { dtype } => dtype,
            Unary::LogicalNot => DType::Bool,
            Unary::Absolute
            | Unary::Negative
            | Unary::Square
            | Unary::Sign
            | Unary::Relu
            | Unary::Clip { .. }
            | Unary::Round { .. }
                if input == DType::I32 =>
            {
                DType::I32
            }
            _ => DType::F32,
        }
    }

    /// The value at `x`.
    fn apply(self, x: f32) -> f32 {
        match self {
            Unary::Absolute => x.abs(),
            Unary::Negative => -x,
            Unary::Exp => x.exp(),
            Unary::Expm1 => x.exp_m1(),
            Unary::Log => x.ln(),
            Unary::Log1p => x.ln_1p(),
            Unary::Sqrt => x.sqrt(),
            Unary::Rsqrt => 1.0 / x.sqrt(),
            Unary::Square => x * x,
            Unary::Sign => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    x
                }
            }
            Unary::Round { decimals: 0 } => x.round_ties_even(),
            Unary::Round { decimals } => {
                let scale = 10f32.powi(decimals);
                (x * scale).round_ties_even() / scale
            }
            Unary::Floor => x.floor(),
            Unary::Ceil => x.ceil(),
            Unary::Sin => x.sin(),
            Unary::Cos => x.cos(),
            Unary::Tanh => x.tanh(),
            Unary::Sigmoid => sigmoid(x),
            Unary::Relu => {
                if x < 0.0 {
                    0.0
                } else {
                    x
                }
            }
            Unary::Relu6 => {
                if x.is_nan() {
                    x
                } else {
                    x.clamp(0.0, 6.0)
                }
            }
            Unary::Softplus => crate::activations::Activation::Softplus.scalar(x),
            Unary::Softsign => x / (1.0 + x.abs()),
            Unary::Silu => x * sigmoid(x),
            Unary::Gelu { approximate: true } => {
                let inner = GELU_C * (x + 0.044715 * x * x * x);
                0.5 * x * (1.0 + inner.tanh())
            }
            Unary::Gelu { approximate: false } => {
                0.5 * x * (1.0 + libm::erf(f64::from(x) / std::f64::consts::SQRT_2) as f32)
            }
            Unary::Elu { alpha } => {
                if x > 0.0 {
                    x
                } else {
                    alpha * x.exp_m1()
                }
            }
            Unary::Selu => crate::activations::Activation::Selu.scalar(x),
            Unary::LeakyRelu { negative_slope } => {
                if x >= 0.0 {
                    x
                } else {
                    negative_slope * x
                }
            }
            Unary::HardSigmoid => crate::activations::Activation::HardSigmoid.scalar(x),
            Unary::Clip { min, max } => {
                if x.is_nan() {
                    x
                } else {
                    x.max(min).min(max)
                }
            }
            Unary::Softmax { .. } | Unary::LogSoftmax { .. } | Unary::Cast { .. } => x,
            Unary::LogicalNot => f32::from(u8::from(x == 0.0)),
        }
    }

    /// `dy/dx` at `x` with value `y` (TensorFlow's gradients: ReLU-like
    /// kinks take the zero side, rounding and sign have none).
    fn derivative(self, x: f32, y: f32) -> f32 {
        match self {
            Unary::Absolute => {
                if x > 0.0 {
                    1.0
                } else if x < 0.0 {
                    -1.0
                } else {
                    0.0
                }
            }
            Unary::Negative => -1.0,
            Unary::Exp => y,
            Unary::Expm1 => y + 1.0,
            Unary::Log => 1.0 / x,
            Unary::Log1p => 1.0 / (1.0 + x),
            Unary::Sqrt => 0.5 / y,
            Unary::Rsqrt => -0.5 * y * y * y,
            Unary::Square => 2.0 * x,
            Unary::Sin => x.cos(),
            Unary::Cos => -x.sin(),
            Unary::Tanh => 1.0 - y * y,
            Unary::Sigmoid => y * (1.0 - y),
            Unary::Relu => f32::from(u8::from(y > 0.0)),
            Unary::Relu6 => f32::from(u8::from(x > 0.0 && x < 6.0)),
            Unary::Softplus => sigmoid(x),
            Unary::Softsign => {
                let d = 1.0 + x.abs();
                1.0 / (d * d)
            }
            Unary::Silu => {
                let s = sigmoid(x);
                s * (1.0 + x * (1.0 - s))
            }
            Unary::Gelu { approximate: true } => {
                let inner = GELU_C * (x + 0.044715 * x * x * x);
                let t = inner.tanh();
                let d_inner = GELU_C * (1.0 + 3.0 * 0.044715 * x * x);
                0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * d_inner
            }
            Unary::Gelu { approximate: false } => {
                let cdf = 0.5 * (1.0 + libm::erf(f64::from(x) / std::f64::consts::SQRT_2) as f32);
                let pdf = (-0.5 * x * x).exp() / (2.0 * std::f32::consts::PI).sqrt();
                cdf + x * pdf
            }
            Unary::Elu { alpha } => {
                if x > 0.0 {
                    1.0
                } else {
                    alpha * x.exp()
                }
            }
            Unary::Selu => {
                const ALPHA: f32 = 1.673_263_2;
                const SCALE: f32 = 1.050_701;
                if x > 0.0 {
                    SCALE
                } else {
                    SCALE * ALPHA * x.exp()
                }
            }
            Unary::LeakyRelu { negative_slope } => {
                if x > 0.0 {
                    1.0
                } else {
                    negative_slope
                }
            }
            Unary::HardSigmoid => f32::from(u8::from(x > -3.0 && x < 3.0)) / 6.0,
            Unary::Clip { min, max } => f32::from(u8::from(x >= min && x <= max)),
            Unary::Cast { dtype } => f32::from(u8::from(dtype == DType::F32)),
            Unary::Sign
            | Unary::Round { .. }
            | Unary::Floor
            | Unary::Ceil
            | Unary::LogicalNot
            | Unary::Softmax { .. }
            | Unary::LogSoftmax { .. } => 0.0,
        }
    }
}

/// `sqrt(2 / pi)`, the tanh approximation's scale.
const GELU_C: f32 = 0.797_884_6;

/// An element-wise op of one tensor (Keras' `ops.exp`, `ops.relu`, …).
#[derive(Debug, Clone, PartialEq)]
pub struct UnaryOp {
    kind: Unary,
    name: Option<String>,
}

super::named_op!(UnaryOp, |op: &UnaryOp| op.kind.class_name());

impl UnaryOp {
    /// The op.
    pub fn new(kind: Unary) -> Self {
        UnaryOp { kind, name: None }
    }

    /// Which op.
    pub fn kind(&self) -> Unary {
        self.kind
    }

    fn softmax_axis(&self, rank: usize) -> Result<Option<(usize, bool)>> {
        match self.kind {
            Unary::Softmax { axis } | Unary::LogSoftmax { axis } => {
                let a = resolve_axis(axis, rank).ok_or_else(|| {
                    Error::invalid(format!("axis {axis} is out of range for rank {rank}"))
                })?;
                Ok(Some((a, matches!(self.kind, Unary::LogSoftmax { .. }))))
            }
            _ => Ok(None),
        }
    }
}

/// Registers every element-wise op class.
pub(crate) fn register(registry: &mut tensorweave_core::LayerRegistry) {
    for &(class, module) in CLASSES {
        registry.register_op(class, module, move |config, _| {
            let name = super::op_name(class, config)?;
            let mut op = UnaryOp::new(Unary::from_config(class, config)?);
            op.name = name;
            Ok(op.into_op())
        });
    }
}

/// Softmax (or log-softmax) of every lane of `x` along `axis`.
fn softmax_along(x: &ArrayD<f32>, axis: usize, log: bool) -> ArrayD<f32> {
    let mut y = x.clone();
    for mut lane in y.lanes_mut(Axis(axis)) {
        let mut v = lane.to_vec();
        softmax_slice(&mut v, log);
        lane.iter_mut().zip(v).for_each(|(o, n)| *o = n);
    }
    y
}

impl Layer for UnaryOp {
    fn is_op(&self) -> bool {
        true
    }

    fn class_name(&self) -> &str {
        self.kind.class_name()
    }

    fn config(&self) -> Json {
        self.kind.config()
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        super::numeric(inputs)?;
        let [x] = inputs else {
            return Err(Error::invalid(format!(
                "expects 1 input tensor, got {}",
                inputs.len()
            )));
        };
        self.softmax_axis(x.rank())?;
        Ok(vec![TensorSpec::new(
            x.shape.clone(),
            self.kind.result_dtype(x.dtype),
        )])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let x = inputs.one()?;
        let kind = self.kind;
        let out = match (kind, kind.result_dtype(x.dtype())) {
            (Unary::Cast { dtype }, _) => cast(x, dtype),
            (Unary::LogicalNot, _) => Value::Bool(super::to_bool(x).mapv(|b| !b)),
            (_, DType::I32) => {
                let a = x.as_i32()?;
                Value::I32(a.mapv(|v| kind.apply(v as f32) as i32))
            }
            _ => {
                let a = x.to_f32();
                match self.softmax_axis(a.ndim())? {
                    Some((axis, log)) => Value::F32(softmax_along(&a, axis, log)),
                    None => Value::F32(a.mapv(|v| kind.apply(v))),
                }
            }
        };
        Ok(vec![out])
    }

    fn has_backward(&self) -> bool {
        true
    }

    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let x = call.inputs.value(0)?;
        let (Some(gy), Value::F32(xa)) = (call.value_grad(0)?, x) else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let kind = self.kind;
        if let Unary::Cast { dtype } = kind {
            return Ok(LayerGrads::inputs(vec![
                (dtype == DType::F32).then(|| gy.clone())
            ]));
        }
        let y = call.output(0)?;
        let g = match self.softmax_axis(xa.ndim())? {
            Some((axis, log)) => {
                let mut g = gy.clone();
                for (mut gl, yl) in g.lanes_mut(Axis(axis)).into_iter().zip(y.lanes(Axis(axis))) {
                    if log {
                        let sum: f32 = gl.sum();
                        gl.zip_mut_with(&yl, |g, &y| *g -= y.exp() * sum);
                    } else {
                        let dot: f32 = gl.iter().zip(yl.iter()).map(|(g, y)| g * y).sum();
                        gl.zip_mut_with(&yl, |g, &y| *g = y * (*g - dot));
                    }
                }
                g
            }
            None => Zip::from(gy)
                .and(xa)
                .and(y)
                .map_collect(|&g, &x, &y| g * kind.derivative(x, y)),
        };
        Ok(LayerGrads::inputs(vec![Some(g)]))
    }
}

/// `ops.cast`: floats to integers truncate toward zero (as TensorFlow);
/// anything to bool is `!= 0`.
fn cast(x: &Value, dtype: DType) -> Value {
    match dtype {
        DType::F32 => Value::F32(x.to_f32()),
        DType::I32 => match x {
            Value::I32(a) => Value::I32(a.clone()),
            Value::F32(a) => Value::I32(a.mapv(|v| v as i32)),
            Value::Bool(a) => Value::I32(a.mapv(i32::from)),
            Value::Str(a) => Value::I32(a.mapv(|_| 0)),
        },
        DType::Bool => Value::Bool(super::to_bool(x)),
        // Refused when the op is built (`numeric`).
        DType::String => x.clone(),
    }
}
