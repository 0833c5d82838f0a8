//! `LayerNormalization`, `BatchNormalization` (inference), `GroupNormalization`
//! and `UnitNormalization`, with Keras 3's
//! formulas (`keras/src/ops/nn.py: _layer_normalization`, TensorFlow's
//! `tf.nn.batch_normalization`). Both pass masks through unchanged.

mod batch_normalization;
mod group_normalization;
mod layer_normalization;
mod unit_normalization;

use tensorweave_core::{format_shape, Error, Param, Result};

pub use batch_normalization::{BatchNormalization, BatchNormalizationLayer};
pub use group_normalization::{GroupNormalization, GroupNormalizationLayer};
pub use layer_normalization::{LayerNormalization, LayerNormalizationLayer};
pub(crate) use unit_normalization::{inverse_norms, normalize_backward, Floor};
pub use unit_normalization::{UnitNormalization, UnitNormalizationLayer};

/// Resolves a possibly negative axis against `rank`, or explains the problem.
pub(crate) fn resolve(axis: i64, rank: usize, shape: &[Option<usize>]) -> Result<usize> {
    let a = if axis < 0 { rank as i64 + axis } else { axis };
    if (0..rank as i64).contains(&a) {
        Ok(a as usize)
    } else {
        Err(Error::invalid(format!(
            "axis {axis} is out of bounds for input shape {}",
            format_shape(shape)
        )))
    }
}

pub(crate) fn param_vec(p: &Option<Param>) -> Option<Vec<f32>> {
    p.as_ref().map(|p| p.value.iter().copied().collect())
}

#[cfg(test)]
mod tests {
    use ndarray::{array, ArrayD, IxDyn};

    use crate::prelude::*;

    fn arr(shape: &[usize], data: &[f32]) -> ArrayD<f32> {
        ArrayD::from_shape_vec(IxDyn(shape), data.to_vec()).unwrap()
    }

    fn close(got: &Value, expected: &ArrayD<f32>) {
        let got = got.as_f32().unwrap();
        assert_eq!(got.shape(), expected.shape());
        for (g, e) in got.iter().zip(expected) {
            assert!(
                (g - e).abs() <= 1e-5 * (1.0 + e.abs()),
                "{got} vs {expected}"
            );
        }
    }

    fn run(layer: impl IntoLayer, shape: &[usize], x: ArrayD<f32>) -> Value {
        let input = Input::new(shape.to_vec()).build();
        let y = layer.call(&input).unwrap();
        let model = Model::new(&[input], &[y]).unwrap();
        model.predict(&[x.into()]).unwrap().remove(0)
    }

    /// Row `[1, 2, 3, 4]`: mean 2.5, variance 1.25, `inv = 1/sqrt(1.251)`;
    /// `y = (x - 2.5) * inv * gamma + beta`. Keras 3.15.1 gives (same weights):
    /// ```python
    /// ln = layers.LayerNormalization(); ln.build((None, 4))
    /// ln.set_weights([[1, 2, 1, .5], [0, 0, 1, -1]])
    /// ln([[1, 2, 3, 4], [-1, .5, .25, 8]])
    /// ```
    #[test]
    fn layer_normalization_matches_keras() {
        let ln = LayerNormalization::new().weights(vec![
            arr(&[4], &[1., 2., 1., 0.5]),
            arr(&[4], &[0., 0., 1., -1.]),
        ]);
        let x = arr(&[2, 4], &[1., 2., 3., 4., -1., 0.5, 0.25, 8.]);
        let expected = arr(
            &[2, 4],
            &[
                -1.341_104_3,
                -0.894_069_43,
                1.447_034_8,
                -0.329_447_87,
                -0.828_361_87,
                -0.810_737_13,
                0.524_132_55,
                -0.145_200_97,
            ],
        );
        close(&run(ln, &[4], x), &expected);
    }

    fn powers() -> ArrayD<f32> {
        ArrayD::from_shape_fn(IxDyn(&[2, 2, 3]), |i| {
            ((i[0] * 6 + i[1] * 3 + i[2]) as f32).powf(1.5)
        })
    }

    /// Axes `[-1, 1]`: Keras sorts them to `[-1, 1]`, so gamma has shape
    /// `(3, 2)`, and reshapes it row-major onto axes (1, 2). Keras 3.15.1:
    /// ```python
    /// x = np.arange(12, dtype="float32").reshape(2, 2, 3) ** 1.5
    /// ln = layers.LayerNormalization(axis=[-1, 1], epsilon=0.01); ln.build((None, 2, 3))
    /// ln.set_weights([np.arange(1, 7).reshape(3, 2) / 4, np.arange(6).reshape(3, 2) / 10])
    /// ```
    #[test]
    fn layer_normalization_over_several_axes_matches_keras() {
        let gamma = ArrayD::from_shape_fn(IxDyn(&[3, 2]), |i| (i[0] * 2 + i[1] + 1) as f32 / 4.0);
        let beta = ArrayD::from_shape_fn(IxDyn(&[3, 2]), |i| (i[0] * 2 + i[1]) as f32 / 10.0);
        let ln = LayerNormalization::new()
            .axes(vec![1, -1])
            .epsilon(0.01)
            .weights(vec![gamma, beta]);
        let expected = arr(
            &[2, 2, 3],
            &[
                -0.299_350_5,
                -0.371_340_04,
                -0.157_704_71,
                0.426_172_08,
                1.450_466_9,
                2.975_713_7,
                -0.350_854_16,
                -0.345_256_45,
                -0.054_648_876,
                0.547_056_44,
                1.484_010_7,
                2.778_795_7,
            ],
        );
        close(&run(ln, &[2, 3], powers()), &expected);
    }

    /// Keras' deprecated `rms_scaling=True`: only gamma, `y = x / sqrt(var + eps) * gamma`.
    /// Keras 3.15.1 on the rows of the first test, gamma `[1, 2, 1, .5]`.
    #[test]
    fn rms_scaling_matches_keras() {
        let ln = LayerNormalization::new()
            .rms_scaling(true)
            .weights(vec![arr(&[4], &[1., 2., 1., 0.5])]);
        let x = arr(&[2, 4], &[1., 2., 3., 4., -1., 0.5, 0.25, 8.]);
        let expected = arr(
            &[2, 4],
            &[
                0.894_069_6,
                3.576_278_4,
                2.682_208_8,
                1.788_139_2,
                -0.281_995_53,
                0.281_995_53,
                0.070_498_88,
                1.127_982_1,
            ],
        );
        close(&run(ln, &[4], x), &expected);
    }

    /// `axis=1` on `[B, 2, 3]`: features along axis 1. For feature 0
    /// (gamma 2, beta 1, mean 1, var 3): `y = (x - 1) / sqrt(3.001) * 2 + 1`,
    /// so x = 0 gives `1 - 2/1.732339 = -0.154508`. Keras 3.15.1:
    /// ```python
    /// bn = layers.BatchNormalization(axis=1); bn.build((None, 2, 3))
    /// bn.set_weights([[2, .5], [1, -1], [1, 2], [3, .999]])
    /// bn(np.arange(12).reshape(2, 2, 3) ** 1.5, training=False)
    /// ```
    #[test]
    fn batch_normalization_matches_keras() {
        let bn = BatchNormalization::new().axis(1).weights(vec![
            array![2.0f32, 0.5].into_dyn(),
            array![1.0f32, -1.0].into_dyn(),
            array![1.0f32, 2.0].into_dyn(),
            array![3.0f32, 0.999].into_dyn(),
        ]);
        let expected = arr(
            &[2, 2, 3],
            &[
                -0.154_508_23,
                1.0,
                3.110_934_3,
                0.598_076_34,
                2.0,
                3.590_17,
                16.813_229,
                21.227_282,
                25.969_03,
                11.5,
                13.811_388,
                16.241_436,
            ],
        );
        close(&run(bn, &[2, 3], powers()), &expected);
    }

    #[test]
    fn batch_normalization_weights_order_and_trainability() {
        let x = Input::new([5]).build();
        let y = BatchNormalization::new().call(&x).unwrap();
        let specs = y.layer().weight_specs();
        let names: Vec<(&str, bool)> = specs.iter().map(|(n, _, t)| (n.as_str(), *t)).collect();
        assert_eq!(
            names,
            [
                ("gamma", true),
                ("beta", true),
                ("moving_mean", false),
                ("moving_variance", false)
            ]
        );
        assert_eq!(y.layer().count_params(), (10, 10));
        // Without center and scale only the moving statistics remain.
        let y2 = BatchNormalization::new()
            .center(false)
            .scale(false)
            .call(&x)
            .unwrap();
        assert_eq!(y2.layer().weight_specs().len(), 2);
        let config = y.layer().config();
        assert_eq!(config["momentum"], 0.99);
        assert_eq!(config["epsilon"], 0.001);
        assert_eq!(config["axis"], -1);
    }

    #[test]
    fn weight_count_and_shape_errors() {
        let x = Input::new([5]).build();
        let err = BatchNormalization::new()
            .weights(vec![ArrayD::zeros(IxDyn(&[5])); 3])
            .call(&x)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("4 arrays (gamma, beta, moving_mean, moving_variance), got 3"),
            "{err}"
        );
        let err = BatchNormalization::new()
            .weights(vec![ArrayD::zeros(IxDyn(&[4])); 4])
            .call(&x)
            .unwrap_err()
            .to_string();
        assert!(err.contains("gamma must have shape (5,)"), "{err}");

        let bn = BatchNormalization::new().into_layer();
        bn.call(&x).unwrap();
        assert!(bn.set_weights(&[ArrayD::zeros(IxDyn(&[5]))]).is_err());
        let other = Input::new([6]).build();
        let err = bn.call(&other).unwrap_err().to_string();
        assert!(err.contains("(None, 6)"), "{err}");

        let err = LayerNormalization::new()
            .weights(vec![ArrayD::zeros(IxDyn(&[5]))])
            .call(&x)
            .unwrap_err()
            .to_string();
        assert!(err.contains("2 arrays (gamma, beta), got 1"), "{err}");
    }

    #[test]
    fn axis_errors_name_the_shape() {
        let x = Input::new([5]).build();
        let err = LayerNormalization::new()
            .axis(2)
            .call(&x)
            .unwrap_err()
            .to_string();
        assert!(err.contains("axis 2") && err.contains("(None, 5)"), "{err}");
        let err = BatchNormalization::new()
            .axis(0)
            .call(&x)
            .unwrap_err()
            .to_string();
        assert!(err.contains("must be known"), "{err}");
        let err = LayerNormalization::new()
            .axes(vec![1, -1])
            .call(&x)
            .unwrap_err()
            .to_string();
        assert!(err.contains("twice"), "{err}");
        let ids = Input::new([5]).dtype(DType::I32).build();
        assert!(LayerNormalization::new().call(&ids).is_err());
    }

    #[test]
    fn masks_pass_through_both_normalizations() {
        let tokens = Input::new([3]).dtype(DType::I32).build();
        let e = Embedding::new(4, 2).mask_zero(true).call(&tokens).unwrap();
        let ln = LayerNormalization::new().call(&e).unwrap();
        let bn = BatchNormalization::new().call(&ln).unwrap();
        assert_eq!(ln.mask(), e.mask());
        assert_eq!(bn.mask(), e.mask());
        // BatchNormalization takes the mask (Keras' `call(..., mask=None)`).
        assert_eq!(bn.node().masks()[0].as_ref(), e.mask());
        let model = Model::new(&[tokens], &[bn]).unwrap();
        assert!(model.predict(&[array![[1, 0, 3]].into()]).is_ok());
    }

    #[test]
    fn config_sorts_layer_normalization_axes_when_built() {
        let x = Input::new([2, 3]).build();
        let y = LayerNormalization::new().axes(vec![2, 1]).call(&x).unwrap();
        assert_eq!(y.layer().config()["axis"], serde_json::json!([1, 2]));
        assert_eq!(y.layer().weight_specs()[0].1, vec![2, 3]);
    }
}
