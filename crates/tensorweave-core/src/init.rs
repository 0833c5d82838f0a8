//! Weight initializers with Keras' defaults and formulas, seedable.
//!
//! Layers draw initial weights from [`layer_rng`]: a layer's own seed if it has
//! one, otherwise the thread's generator, which [`set_random_seed`] makes
//! reproducible (Keras' `keras.utils.set_random_seed`).

use std::cell::RefCell;

use ndarray::{Array2, ArrayD, IxDyn};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal, StandardNormal};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value as Json};

thread_local! {
    static THREAD_RNG: RefCell<Option<StdRng>> = const { RefCell::new(None) };
}

/// Makes every later weight initialisation on this thread reproducible.
pub fn set_random_seed(seed: u64) {
    THREAD_RNG.with(|r| *r.borrow_mut() = Some(StdRng::seed_from_u64(seed)));
}

/// The generator a layer initialises its weights from: seeded from `seed` when
/// given, else drawn from the thread's generator (see [`set_random_seed`]).
pub fn layer_rng(seed: Option<u64>) -> StdRng {
    match seed {
        Some(s) => StdRng::seed_from_u64(s),
        None => THREAD_RNG.with(|r| {
            let mut slot = r.borrow_mut();
            let rng = slot.get_or_insert_with(|| StdRng::from_rng(&mut rand::rng()));
            StdRng::seed_from_u64(rng.random())
        }),
    }
}

/// A weight initializer, named as in Keras.
///
/// Serialized as Keras 3 writes initializers:
/// `{"module": "keras.initializers", "class_name": "GlorotUniform", "config": {…},
/// "registered_name": null}`. Reads that form (ignoring `seed`, `module`,
/// `registered_name` and `shared_object_id`), Keras 2's `{"class_name", "config"}`,
/// Keras 2's `VarianceScaling` spellings of Glorot and He, and the string
/// shortcuts (`"glorot_uniform"`, `"zeros"`, …).
#[derive(Debug, Clone, PartialEq)]
pub enum Initializer {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// A constant value.
    Constant {
        /// The value.
        value: f32,
    },
    /// Uniform in `[minval, maxval)`.
    RandomUniform {
        /// Lower bound.
        minval: f32,
        /// Upper bound.
        maxval: f32,
    },
    /// Normal with the given mean and standard deviation.
    RandomNormal {
        /// Mean.
        mean: f32,
        /// Standard deviation.
        stddev: f32,
    },
    /// Uniform in `±sqrt(6 / (fan_in + fan_out))`.
    GlorotUniform,
    /// Normal, truncated at two deviations, with `stddev = sqrt(2 / (fan_in + fan_out))`.
    GlorotNormal,
    /// Uniform in `±sqrt(6 / fan_in)`.
    HeUniform,
    /// A random orthogonal matrix times `gain`.
    Orthogonal {
        /// Multiplier.
        gain: f32,
    },
}

impl Initializer {
    /// Keras' `RandomUniform()` default: `[-0.05, 0.05)`, used by `Embedding`.
    pub fn embedding_default() -> Self {
        Initializer::RandomUniform {
            minval: -0.05,
            maxval: 0.05,
        }
    }

    /// Keras' `"random_normal"`: mean 0, stddev 0.05.
    pub fn random_normal() -> Self {
        Initializer::RandomNormal {
            mean: 0.0,
            stddev: 0.05,
        }
    }

    /// Keras' `Orthogonal()` default, gain 1.
    pub fn orthogonal() -> Self {
        Initializer::Orthogonal { gain: 1.0 }
    }

    /// Draws an array of `shape`.
    pub fn sample(&self, shape: &[usize], rng: &mut StdRng) -> ArrayD<f32> {
        let dim = IxDyn(shape);
        match *self {
            Initializer::Zeros => ArrayD::zeros(dim),
            Initializer::Ones => ArrayD::ones(dim),
            Initializer::Constant { value } => ArrayD::from_elem(dim, value),
            Initializer::RandomUniform { minval, maxval } => uniform(shape, minval, maxval, rng),
            Initializer::RandomNormal { mean, stddev } => {
                match Normal::new(mean, stddev) {
                    Ok(normal) => ArrayD::from_shape_simple_fn(dim, || normal.sample(rng)),
                    // A negative or NaN stddev: Keras would fail too; fall back to the mean.
                    Err(_) => ArrayD::from_elem(dim, mean),
                }
            }
            Initializer::GlorotUniform => {
                let (fan_in, fan_out) = fans(shape);
                let limit = (6.0 / (fan_in + fan_out).max(1.0)).sqrt();
                uniform(shape, -limit, limit, rng)
            }
            Initializer::HeUniform => {
                let (fan_in, _) = fans(shape);
                let limit = (6.0 / fan_in.max(1.0)).sqrt();
                uniform(shape, -limit, limit, rng)
            }
            Initializer::GlorotNormal => {
                let (fan_in, fan_out) = fans(shape);
                let stddev = (2.0 / (fan_in + fan_out).max(1.0)).sqrt() / 0.879_625_7;
                ArrayD::from_shape_simple_fn(dim, || loop {
                    let v: f32 = rng.sample(StandardNormal);
                    if v.abs() <= 2.0 {
                        break v * stddev;
                    }
                })
            }
            Initializer::Orthogonal { gain } => orthogonal(shape, gain, rng),
        }
    }
}

/// A float32 value written as the shortest decimal that reads back as the same
/// float32 (`0.05`, not `0.05000000074505806`), as Keras writes Python floats.
fn short_f64(v: f32) -> f64 {
    format!("{v}").parse().unwrap_or(v as f64)
}

impl Initializer {
    /// The Keras class name: `GlorotUniform`, `Zeros`, …
    pub fn class_name(&self) -> &'static str {
        match self {
            Initializer::Zeros => "Zeros",
            Initializer::Ones => "Ones",
            Initializer::Constant { .. } => "Constant",
            Initializer::RandomUniform { .. } => "RandomUniform",
            Initializer::RandomNormal { .. } => "RandomNormal",
            Initializer::GlorotUniform => "GlorotUniform",
            Initializer::GlorotNormal => "GlorotNormal",
            Initializer::HeUniform => "HeUniform",
            Initializer::Orthogonal { .. } => "Orthogonal",
        }
    }

    /// The initializer as Keras 3.15 serializes it.
    pub fn to_keras(&self) -> Json {
        let config = match *self {
            Initializer::Zeros | Initializer::Ones => json!({}),
            Initializer::Constant { value } => json!({ "value": short_f64(value) }),
            Initializer::RandomUniform { minval, maxval } => json!({
                "seed": null, "minval": short_f64(minval), "maxval": short_f64(maxval)
            }),
            Initializer::RandomNormal { mean, stddev } => json!({
                "seed": null, "mean": short_f64(mean), "stddev": short_f64(stddev)
            }),
            Initializer::GlorotUniform | Initializer::GlorotNormal | Initializer::HeUniform => {
                json!({ "seed": null, "input_axes": null, "output_axes": null })
            }
            Initializer::Orthogonal { gain } => json!({ "seed": null, "gain": short_f64(gain) }),
        };
        json!({
            "module": "keras.initializers",
            "class_name": self.class_name(),
            "config": config,
            "registered_name": null,
        })
    }

    /// Reads an initializer from any of the forms Keras writes (see [`Initializer`]).
    pub fn from_keras(value: &Json) -> std::result::Result<Initializer, String> {
        let (class, config) = match value {
            Json::String(s) => (s.as_str(), None),
            Json::Object(map) => match map.get("class_name").and_then(Json::as_str) {
                Some(class) => (class, map.get("config").filter(|c| !c.is_null())),
                None => {
                    return Err(format!(
                        "an initializer object needs a \"class_name\", got {value}"
                    ))
                }
            },
            other => return Err(format!("expected an initializer, got {other}")),
        };
        if let Some(c) = config {
            if !c.is_object() {
                return Err(format!(
                    "the config of initializer {class} must be an object, got {c}"
                ));
            }
        }
        let num = |key: &str, default: f32| -> std::result::Result<f32, String> {
            match config.and_then(|c| c.get(key)) {
                None | Some(Json::Null) => Ok(default),
                Some(v) => v.as_f64().map(|x| x as f32).ok_or_else(|| {
                    format!("initializer {class}: `{key}` must be a number, got {v}")
                }),
            }
        };
        let text = |key: &str| config.and_then(|c| c.get(key)).and_then(Json::as_str);
        for axes in ["input_axes", "output_axes"] {
            if config
                .and_then(|c| c.get(axes))
                .is_some_and(|v| !v.is_null())
            {
                return Err(format!(
                    "initializer {class}: `{axes}` is not supported (only the default fans are)"
                ));
            }
        }
        Ok(match class {
            "Zeros" | "zeros" | "zero" => Initializer::Zeros,
            "Ones" | "ones" | "one" => Initializer::Ones,
            "Constant" | "constant" => Initializer::Constant {
                value: num("value", 0.0)?,
            },
            "RandomUniform" | "random_uniform" | "uniform" => Initializer::RandomUniform {
                minval: num("minval", -0.05)?,
                maxval: num("maxval", 0.05)?,
            },
            "RandomNormal" | "random_normal" | "normal" => Initializer::RandomNormal {
                mean: num("mean", 0.0)?,
                stddev: num("stddev", 0.05)?,
            },
            "GlorotUniform" | "glorot_uniform" => Initializer::GlorotUniform,
            "GlorotNormal" | "glorot_normal" => Initializer::GlorotNormal,
            "HeUniform" | "he_uniform" => Initializer::HeUniform,
            "Orthogonal" | "orthogonal" | "OrthogonalInitializer" => Initializer::Orthogonal {
                gain: num("gain", 1.0)?,
            },
            "VarianceScaling" | "variance_scaling" => {
                let scale = num("scale", 1.0)?;
                let mode = text("mode").unwrap_or("fan_in");
                let distribution = text("distribution").unwrap_or("truncated_normal");
                match (mode, distribution) {
                    ("fan_avg", "uniform") if scale == 1.0 => Initializer::GlorotUniform,
                    ("fan_avg", "truncated_normal") if scale == 1.0 => Initializer::GlorotNormal,
                    ("fan_in", "uniform") if scale == 2.0 => Initializer::HeUniform,
                    _ => {
                        return Err(format!(
                        "VarianceScaling(scale={scale}, mode={mode}, distribution={distribution}) \
                             is not supported; supported are the Glorot uniform/normal and He \
                             uniform settings"
                    ))
                    }
                }
            }
            other => {
                return Err(format!(
                    "unsupported initializer '{other}'; supported: Zeros, Ones, Constant, \
                     RandomUniform, RandomNormal, GlorotUniform, GlorotNormal, HeUniform, \
                     Orthogonal"
                ))
            }
        })
    }
}

impl Serialize for Initializer {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_keras().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Initializer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let value = Json::deserialize(d)?;
        Initializer::from_keras(&value).map_err(serde::de::Error::custom)
    }
}

fn uniform(shape: &[usize], lo: f32, hi: f32, rng: &mut StdRng) -> ArrayD<f32> {
    ArrayD::from_shape_simple_fn(IxDyn(shape), || lo + (hi - lo) * rng.random::<f32>())
}

/// Keras' `compute_fans`: for kernels of rank > 2 the leading axes are the
/// receptive field.
fn fans(shape: &[usize]) -> (f32, f32) {
    match shape.len() {
        0 => (1.0, 1.0),
        1 => (shape[0] as f32, shape[0] as f32),
        2 => (shape[0] as f32, shape[1] as f32),
        n => {
            let receptive: usize = shape[..n - 2].iter().product();
            (
                (receptive * shape[n - 2]) as f32,
                (receptive * shape[n - 1]) as f32,
            )
        }
    }
}

/// Keras' `Orthogonal`: QR of a normal matrix of shape `(prod(shape[:-1]), shape[-1])`,
/// with the signs of `diag(R)` folded into `Q`.
fn orthogonal(shape: &[usize], gain: f32, rng: &mut StdRng) -> ArrayD<f32> {
    let cols = shape.last().copied().unwrap_or(1);
    let rows: usize = shape[..shape.len().saturating_sub(1)]
        .iter()
        .product::<usize>()
        .max(1);
    let (m, n) = if rows < cols {
        (cols, rows)
    } else {
        (rows, cols)
    };
    let a = Array2::<f64>::from_shape_simple_fn((m, n), || rng.sample::<f64, _>(StandardNormal));
    let mut q = thin_q(a);
    if rows < cols {
        q = q.reversed_axes();
    }
    // `iter` walks in logical row-major order, so the flat data has `shape`'s layout;
    // the element count is `rows * cols` by construction.
    let data: Vec<f32> = q.iter().map(|&v| (v as f32) * gain).collect();
    ArrayD::from_shape_vec(IxDyn(shape), data).unwrap_or_else(|_| ArrayD::zeros(IxDyn(shape)))
}

/// The `m × n` (m ≥ n) orthonormal factor of a thin QR decomposition by modified
/// Gram–Schmidt, with columns signed so that `diag(R)` is positive.
fn thin_q(mut a: Array2<f64>) -> Array2<f64> {
    let n = a.ncols();
    for j in 0..n {
        for k in 0..j {
            let dot = a.column(k).dot(&a.column(j));
            let qk = a.column(k).to_owned();
            a.column_mut(j).scaled_add(-dot, &qk);
        }
        let norm = a.column(j).dot(&a.column(j)).sqrt();
        if norm > 0.0 {
            a.column_mut(j).mapv_inplace(|v| v / norm);
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orthogonal_columns_are_orthonormal() {
        let mut rng = StdRng::seed_from_u64(3);
        for shape in [[6usize, 6], [8, 24], [24, 8]] {
            let w = Initializer::orthogonal().sample(&shape, &mut rng);
            let w = w.into_dimensionality::<ndarray::Ix2>().unwrap();
            let gram = if shape[0] >= shape[1] {
                w.t().dot(&w)
            } else {
                w.dot(&w.t())
            };
            for ((i, j), v) in gram.indexed_iter() {
                let expected = if i == j { 1.0 } else { 0.0 };
                assert!((v - expected).abs() < 1e-4, "{shape:?} gram[{i},{j}] = {v}");
            }
        }
    }

    #[test]
    fn glorot_uniform_stays_within_its_limit() {
        let mut rng = StdRng::seed_from_u64(1);
        let w = Initializer::GlorotUniform.sample(&[10, 30], &mut rng);
        let limit = (6.0f32 / 40.0).sqrt();
        assert!(w.iter().all(|v| v.abs() <= limit));
        assert!(w.iter().any(|v| v.abs() > limit / 2.0));
    }

    #[test]
    fn initializers_serialize_as_keras_does() {
        // Keras 3.15.1: serialize_keras_object(RandomUniform()) gives
        // {"module": "keras.initializers", "class_name": "RandomUniform",
        //  "config": {"seed": None, "minval": -0.05, "maxval": 0.05}, "registered_name": None}
        let v = serde_json::to_value(Initializer::embedding_default()).unwrap();
        assert_eq!(
            v,
            json!({"module": "keras.initializers", "class_name": "RandomUniform",
                   "config": {"seed": null, "minval": -0.05, "maxval": 0.05},
                   "registered_name": null})
        );
        for init in [
            Initializer::Zeros,
            Initializer::Ones,
            Initializer::Constant { value: 0.1 },
            Initializer::embedding_default(),
            Initializer::random_normal(),
            Initializer::GlorotUniform,
            Initializer::GlorotNormal,
            Initializer::HeUniform,
            Initializer::Orthogonal { gain: 1.5 },
        ] {
            let back: Initializer = serde_json::from_value(init.to_keras()).unwrap();
            assert_eq!(back, init);
        }
    }

    #[test]
    fn initializers_read_keras_2_and_string_forms() {
        let read = |v: Json| serde_json::from_value::<Initializer>(v);
        assert_eq!(
            read(json!("glorot_uniform")).unwrap(),
            Initializer::GlorotUniform
        );
        assert_eq!(
            read(json!("orthogonal")).unwrap(),
            Initializer::orthogonal()
        );
        assert_eq!(
            read(json!({"class_name": "Orthogonal", "config": {"gain": 1.0, "seed": null}, "shared_object_id": 7}))
                .unwrap(),
            Initializer::orthogonal()
        );
        // Keras 2's glorot_uniform: VarianceScaling(1.0, "fan_avg", "uniform").
        assert_eq!(
            read(json!({"class_name": "VarianceScaling",
                        "config": {"scale": 1.0, "mode": "fan_avg", "distribution": "uniform", "seed": null}}))
            .unwrap(),
            Initializer::GlorotUniform
        );
        let err = read(json!({"class_name": "TruncatedNormal", "config": {}})).unwrap_err();
        assert!(err.to_string().contains("TruncatedNormal"), "{err}");
        assert!(read(json!(3)).is_err());
        assert!(read(json!({"config": {}})).is_err());
    }

    #[test]
    fn seeded_layers_repeat_their_weights() {
        let a = Initializer::GlorotUniform.sample(&[4, 4], &mut layer_rng(Some(7)));
        let b = Initializer::GlorotUniform.sample(&[4, 4], &mut layer_rng(Some(7)));
        assert_eq!(a, b);
    }
}
