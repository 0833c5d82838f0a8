//! Initial weights given to a builder (Keras' `weights=` argument), applied when
//! the layer is built.

use ndarray::ArrayD;
use tensorweave_core::{Error, Layer, Result};

/// Weights set on a builder, waiting for the layer to be built. Not part of the
/// serialized configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Preset(pub Option<Vec<ArrayD<f32>>>);

impl Preset {
    /// Takes the weights out, leaving nothing behind.
    pub fn take(&mut self) -> Option<Vec<ArrayD<f32>>> {
        self.0.take()
    }
}

/// Replaces a freshly built layer's weights with `preset`, if any, checking count
/// and shapes first.
pub fn assign_initial(layer: &mut dyn Layer, preset: Option<Vec<ArrayD<f32>>>) -> Result<()> {
    let Some(weights) = preset else { return Ok(()) };
    let mut expected = Vec::new();
    layer.visit_params(&mut |path, p| expected.push((path.to_string(), p.value.shape().to_vec())));
    if expected.len() != weights.len() {
        let names: Vec<&str> = expected.iter().map(|(n, _)| n.as_str()).collect();
        return Err(Error::invalid(format!(
            "`weights` must hold {} arrays ({}), got {}",
            expected.len(),
            names.join(", "),
            weights.len()
        )));
    }
    for ((path, shape), w) in expected.iter().zip(&weights) {
        if shape.as_slice() != w.shape() {
            return Err(Error::invalid(format!(
                "`weights`: {path} must have shape {shape:?} for this input, got {:?}",
                w.shape()
            )));
        }
    }
    let mut i = 0;
    layer.visit_params_mut(&mut |_, p| {
        p.value = weights[i].clone();
        i += 1;
    });
    layer.weights_changed();
    Ok(())
}
