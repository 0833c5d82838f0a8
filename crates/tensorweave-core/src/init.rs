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
use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "class_name", content = "config")]
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
    fn seeded_layers_repeat_their_weights() {
        let a = Initializer::GlorotUniform.sample(&[4, 4], &mut layer_rng(Some(7)));
        let b = Initializer::GlorotUniform.sample(&[4, 4], &mut layer_rng(Some(7)));
        assert_eq!(a, b);
    }
}
