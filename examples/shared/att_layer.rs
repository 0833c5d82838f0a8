//! A user-defined layer, written as a tensorweave user would (shared by the
//! `han` example and the tests): the word/sentence
//! attention of hierarchical attention networks, registered in Keras as
//! `textclf>AttLayer` (see shared/reference/custom-attention.md):
//!
//! ```python
//! uit = tanh(x @ W + b)                  # [batch, time, attention_dim]
//! ait = exp(squeeze(uit @ u, -1))        # [batch, time]
//! ait = ait * mask                       # when a mask is present
//! ait = ait / (sum(ait, axis=1) + 1e-7)
//! out = sum(x * ait[..., None], axis=1)  # [batch, d]; the mask stops here
//! ```
#![allow(dead_code)]

use ndarray::{Array2, Axis, Ix3};
use tensorweave::core::Inputs;
use tensorweave::core::{layer_rng, BuildContext, CallContext};
use tensorweave::prelude::*;
use tensorweave::{Error, Result};

/// Builder: `AttLayer::new(attention_dim)`.
#[derive(Debug, Clone)]
pub struct AttLayer {
    pub attention_dim: usize,
    pub name: Option<String>,
}

impl AttLayer {
    pub fn new(attention_dim: usize) -> Self {
        AttLayer {
            attention_dim,
            name: None,
        }
    }
}

impl IntoLayer for AttLayer {
    fn into_layer(self) -> LayerRef {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| tensorweave::core::auto_name("AttLayer"));
        LayerRef::new(
            name,
            Attention {
                attention_dim: self.attention_dim,
                params: Vec::new(),
            },
        )
    }
}

/// The layer: weights `W [d, a]`, `b [a]`, `u [a, 1]`.
#[derive(Debug)]
pub struct Attention {
    attention_dim: usize,
    params: Vec<Param>,
}

impl Layer for Attention {
    fn class_name(&self) -> &str {
        "AttLayer"
    }

    fn config(&self) -> serde_json::Value {
        serde_json::json!({ "attention_dim": self.attention_dim })
    }

    fn build(&mut self, inputs: &[TensorSpec], ctx: &mut BuildContext) -> Result<()> {
        let d = inputs[0]
            .last_dim()
            .ok_or_else(|| Error::invalid("the feature axis must be known"))?;
        let a = self.attention_dim;
        let mut rng = layer_rng(None);
        let init = Initializer::random_normal();
        // Through the context: sizes are checked against the memory budget,
        // and a model being loaded gets placeholders the file fills.
        self.params = vec![
            ctx.add_weight("W", &[d, a], &init, true, &mut rng)?,
            ctx.add_weight("b", &[a], &init, true, &mut rng)?,
            ctx.add_weight("u", &[a, 1], &init, true, &mut rng)?,
        ];
        Ok(())
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        let x = &inputs[0];
        if x.rank() != 3 {
            return Err(Error::invalid(format!(
                "expects [batch, time, features], got {x}"
            )));
        }
        Ok(vec![TensorSpec::f32(vec![x.shape[0], x.shape[2]])])
    }

    fn uses_mask(&self) -> bool {
        true
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        // One array per input, and with each the mask Keras would pass as
        // `call(x, mask=...)`: `None` when the input carries no mask.
        let x = inputs
            .f32(0)?
            .view()
            .into_dimensionality::<Ix3>()
            .map_err(|e| Error::invalid(e.to_string()))?;
        let (batch, time, d) = x.dim();
        let w = self.params[0]
            .value
            .view()
            .into_shape_with_order((d, self.attention_dim))
            .map_err(|e| Error::invalid(e.to_string()))?;
        let b = self.params[1]
            .value
            .view()
            .into_shape_with_order(self.attention_dim)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let u = self.params[2]
            .value
            .view()
            .into_shape_with_order(self.attention_dim)
            .map_err(|e| Error::invalid(e.to_string()))?;
        let mask = inputs.mask(0).map(Value::as_bool).transpose()?; // [batch, time]
        let mut out = Array2::<f32>::zeros((batch, d));
        for n in 0..batch {
            let xn = x.index_axis(Axis(0), n);
            let uit = (xn.dot(&w) + b).mapv(f32::tanh);
            let mut ait = uit.dot(&u).mapv(f32::exp);
            if let Some(mask) = mask {
                for t in 0..time {
                    if !mask[[n, t]] {
                        ait[t] = 0.0;
                    }
                }
            }
            let total = ait.sum() + 1e-7;
            ait.mapv_inplace(|v| v / total);
            out.row_mut(n).assign(&ait.dot(&xn));
        }
        Ok(vec![Value::from(out)])
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }
}

/// The registry constructor of `textclf>AttLayer`: Keras' config
/// `{"name": ..., "attention_dim": 6, "trainable": ..., "dtype": ...}`.
pub fn from_config(
    config: &serde_json::Value,
    _registry: &tensorweave::io::registry::LayerRegistry,
) -> Result<LayerRef> {
    let attention_dim = match config.get("attention_dim") {
        None => 16, // Keras' default in AttLayer.__init__
        Some(v) => v.as_u64().ok_or_else(|| {
            Error::Config(format!(
                "AttLayer: attention_dim must be a positive integer, got {v}"
            ))
        })? as usize,
    };
    tensorweave::io::registry::check_dtype_policy(
        tensorweave::io::registry::layer_name(config).unwrap_or("?"),
        "AttLayer",
        config.get("dtype"),
    )?;
    let mut builder = AttLayer::new(attention_dim);
    builder.name = tensorweave::io::registry::layer_name(config).map(String::from);
    Ok(builder.into_layer())
}
