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
//!
//! It trains too: `backward` below is that formula differentiated by hand, and
//! `tests/gradient_check.rs` checks it against finite differences.
#![allow(dead_code)]

use ndarray::{Array1, Array2, Array3, ArrayView1, ArrayView2, Axis, Ix3};
use tensorweave::core::Inputs;
use tensorweave::core::{layer_rng, BackwardCall, BuildContext, CallContext, LayerGrads};
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
        let x = sequence(inputs)?;
        let (batch, _, d) = x.dim();
        let (w, b, u) = self.weights(d)?;
        let mask = inputs.mask(0).map(Value::as_bool).transpose()?; // [batch, time]
        let mut out = Array2::<f32>::zeros((batch, d));
        for n in 0..batch {
            let xn = x.index_axis(Axis(0), n);
            let row_mask = mask.map(|m| m.index_axis(Axis(0), n));
            let (_, weights) = attend(xn, w, b, u, row_mask);
            out.row_mut(n).assign(&weights.dot(&xn));
        }
        Ok(vec![Value::from(out)])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// The forward differentiated by hand, one sample at a time: from the
    /// gradient `g` of `out = ait · x`, back through the normalisation, `exp`,
    /// `· u`, `tanh` and `x @ W + b`.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let Some(g_out) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None]));
        };
        let x = sequence(call.inputs)?;
        let (batch, time, d) = x.dim();
        let (w, b, u) = self.weights(d)?;
        let mask = call.inputs.mask(0).map(Value::as_bool).transpose()?;
        let a = self.attention_dim;
        let (mut gx, mut gw) = (
            Array3::<f32>::zeros((batch, time, d)),
            Array2::<f32>::zeros((d, a)),
        );
        let (mut gb, mut gu) = (Array1::<f32>::zeros(a), Array1::<f32>::zeros(a));
        for n in 0..batch {
            let xn = x.index_axis(Axis(0), n);
            let g = g_out
                .index_axis(Axis(0), n)
                .into_dimensionality::<ndarray::Ix1>()
                .map_err(|e| Error::invalid(e.to_string()))?;
            let row_mask = mask.map(|m| m.index_axis(Axis(0), n));
            let (uit, weights) = attend(xn, w, b, u, row_mask);
            // out = Σ_t a_t x_t
            let g_a = xn.dot(&g); // [time]
            let mut gxn = gx.index_axis_mut(Axis(0), n);
            for t in 0..time {
                gxn.row_mut(t).scaled_add(weights[t], &g);
            }
            // a_t = e_t / (Σ e + 1e-7), e_t = exp(s_t) (0 where masked)
            let mean = g_a.dot(&weights);
            let g_s = (&g_a - mean) * &weights; // = g_e · e, since e = a · (Σ e + 1e-7)
                                                // s_t = uit_t · u, uit = tanh(x W + b)
            gu += &uit.t().dot(&g_s);
            let g_uit = outer(&g_s, &u);
            let g_z = &g_uit * &uit.mapv(|v| 1.0 - v * v);
            gw += &xn.t().dot(&g_z);
            gb += &g_z.sum_axis(Axis(0));
            gxn += &g_z.dot(&w.t());
        }
        Ok(LayerGrads::inputs(vec![Some(gx.into_dyn())])
            .param("W", gw.into_dyn())
            .param("b", gb.into_dyn())
            .param(
                "u",
                gu.into_shape_with_order((a, 1))
                    .map_err(|e| Error::invalid(e.to_string()))?
                    .into_dyn(),
            ))
    }

    fn params(&self) -> Vec<&Param> {
        self.params.iter().collect()
    }

    fn params_mut(&mut self) -> Vec<&mut Param> {
        self.params.iter_mut().collect()
    }
}

impl Attention {
    /// `W [d, a]`, `b [a]` and `u` as a vector of `a`.
    fn weights(
        &self,
        d: usize,
    ) -> Result<(
        ArrayView2<'_, f32>,
        ArrayView1<'_, f32>,
        ArrayView1<'_, f32>,
    )> {
        let a = self.attention_dim;
        let view = |i: usize| {
            self.params
                .get(i)
                .ok_or_else(|| Error::invalid("called before it was built"))
        };
        let shape_err = |e: ndarray::ShapeError| Error::invalid(e.to_string());
        Ok((
            view(0)?
                .value
                .view()
                .into_shape_with_order((d, a))
                .map_err(shape_err)?,
            view(1)?
                .value
                .view()
                .into_shape_with_order(a)
                .map_err(shape_err)?,
            view(2)?
                .value
                .view()
                .into_shape_with_order(a)
                .map_err(shape_err)?,
        ))
    }
}

/// The one input as `[batch, time, features]`.
fn sequence<'a>(inputs: &Inputs<'a>) -> Result<ndarray::ArrayView3<'a, f32>> {
    inputs
        .f32(0)?
        .view()
        .into_dimensionality::<Ix3>()
        .map_err(|e| Error::invalid(e.to_string()))
}

/// One sample's attention: `uit = tanh(x W + b)` and the weights `ait`
/// (masked and normalised by `Σ e + 1e-7`).
fn attend(
    xn: ArrayView2<'_, f32>,
    w: ArrayView2<'_, f32>,
    b: ArrayView1<'_, f32>,
    u: ArrayView1<'_, f32>,
    mask: Option<ndarray::ArrayViewD<'_, bool>>,
) -> (Array2<f32>, Array1<f32>) {
    let uit = (xn.dot(&w) + b).mapv(f32::tanh);
    let mut ait = uit.dot(&u).mapv(f32::exp);
    if let Some(mask) = mask {
        for (a, &keep) in ait.iter_mut().zip(mask.iter()) {
            if !keep {
                *a = 0.0;
            }
        }
    }
    let total = ait.sum() + 1e-7;
    ait.mapv_inplace(|v| v / total);
    (uit, ait)
}

/// `a ⊗ b`.
fn outer(a: &Array1<f32>, b: &ArrayView1<'_, f32>) -> Array2<f32> {
    Array2::from_shape_fn((a.len(), b.len()), |(i, j)| a[i] * b[j])
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
