//! What Keras' `Attention` and `AdditiveAttention` share (their base
//! `Attention` class): scores of every query step against every key step,
//! the value mask and the causal mask applied by subtracting `1e9`, the
//! softmax over the value steps, the weighted sum of the values, and the
//! query mask zeroing masked query steps of the result (not of the
//! returned weights). The key's own mask is ignored, as in Keras.

use ndarray::{s, Array1, Array2, Array3, ArrayView1, ArrayView2, ArrayView3, Axis};
use tensorweave_core::{Error, Result};

/// How the scores are computed.
#[derive(Debug, Clone)]
pub(crate) enum Score<'a> {
    /// `q · kᵀ`, times `scale` if any.
    Dot { scale: Option<f32> },
    /// `weight · Σ tanh(scale · (q + k))` over the features.
    Concat { scale: Option<f32>, weight: f32 },
    /// `Σ scale · tanh(q + k)` over the features (`scale` per feature, or 1).
    Additive { scale: Option<ArrayView1<'a, f32>> },
}

/// One call's arrays.
#[derive(Debug, Clone)]
pub(crate) struct Call<'a> {
    pub(crate) q: ArrayView3<'a, f32>,
    pub(crate) v: ArrayView3<'a, f32>,
    pub(crate) k: ArrayView3<'a, f32>,
    pub(crate) q_mask: Option<ArrayView2<'a, bool>>,
    pub(crate) v_mask: Option<ArrayView2<'a, bool>>,
    pub(crate) causal: bool,
}

impl Call<'_> {
    pub(crate) fn check(&self) -> Result<()> {
        let (b, tq, d) = self.q.dim();
        let (bv, tv, _) = self.v.dim();
        let (bk, tk, dk) = self.k.dim();
        if bv != b || bk != b || tk != tv || dk != d {
            return Err(Error::invalid(format!(
                "query {:?}, value {:?} and key {:?}: the batch must agree, key and value have \
                 the same steps, key and query the same features",
                self.q.shape(),
                self.v.shape(),
                self.k.shape()
            )));
        }
        let fits = |m: &Option<ArrayView2<'_, bool>>, t: usize| {
            m.as_ref().is_none_or(|m| m.dim() == (b, t))
        };
        if !fits(&self.q_mask, tq) || !fits(&self.v_mask, tv) {
            return Err(Error::invalid(
                "a mask does not fit its tensor's [batch, time]",
            ));
        }
        Ok(())
    }

    fn masked(&self, bi: usize, i: usize, j: usize) -> bool {
        self.v_mask.as_ref().is_some_and(|m| !m[[bi, j]]) || (self.causal && j > i)
    }
}

/// The scores `[Tq, Tv]` of batch row `bi`.
fn scores(score: &Score<'_>, c: &Call<'_>, bi: usize) -> Array2<f32> {
    let q = c.q.index_axis(Axis(0), bi);
    let k = c.k.index_axis(Axis(0), bi);
    match score {
        Score::Dot { scale } => {
            let mut s = q.dot(&k.t());
            if let Some(sc) = scale {
                s.mapv_inplace(|x| x * sc);
            }
            s
        }
        Score::Concat { scale, weight } => {
            Array2::from_shape_fn((q.nrows(), k.nrows()), |(i, j)| {
                let sum: f32 = q
                    .row(i)
                    .iter()
                    .zip(k.row(j).iter())
                    .map(|(&a, &b)| (scale.unwrap_or(1.0) * (a + b)).tanh())
                    .sum();
                weight * sum
            })
        }
        Score::Additive { scale } => Array2::from_shape_fn((q.nrows(), k.nrows()), |(i, j)| {
            q.row(i)
                .iter()
                .zip(k.row(j).iter())
                .enumerate()
                .map(|(d, (&a, &b))| scale.as_ref().map_or(1.0, |s| s[d]) * (a + b).tanh())
                .sum()
        }),
    }
}

/// The result `[B, Tq, Dv]` and the attention weights `[B, Tq, Tv]`.
pub(crate) fn forward(score: &Score<'_>, c: &Call<'_>) -> Result<(Array3<f32>, Array3<f32>)> {
    c.check()?;
    let (b, tq, _) = c.q.dim();
    let (_, tv, dv) = c.v.dim();
    let mut weights = Array3::<f32>::zeros((b, tq, tv));
    let mut result = Array3::<f32>::zeros((b, tq, dv));
    for bi in 0..b {
        let mut w = scores(score, c, bi);
        for (i, mut row) in w.outer_iter_mut().enumerate() {
            for (j, x) in row.iter_mut().enumerate() {
                if c.masked(bi, i, j) {
                    *x -= 1e9;
                }
            }
            let mut lane = row.to_vec();
            crate::activations::softmax_slice(&mut lane, false);
            row.iter_mut().zip(lane).for_each(|(o, p)| *o = p);
        }
        let mut r = w.dot(&c.v.index_axis(Axis(0), bi));
        if let Some(m) = &c.q_mask {
            for (i, mut row) in r.outer_iter_mut().enumerate() {
                if !m[[bi, i]] {
                    row.fill(0.0);
                }
            }
        }
        weights.slice_mut(s![bi, .., ..]).assign(&w);
        result.slice_mut(s![bi, .., ..]).assign(&r);
    }
    Ok((result, weights))
}

/// The gradients a backward gives.
#[derive(Debug)]
pub(crate) struct Grads {
    pub(crate) q: Array3<f32>,
    pub(crate) v: Array3<f32>,
    pub(crate) k: Array3<f32>,
    /// Of the dot / concat scale, or the additive per-feature scale.
    pub(crate) scale: Option<Array1<f32>>,
    /// Of the concat score weight.
    pub(crate) weight: Option<f32>,
}

/// The backward of [`forward`], given its weights and the gradients of the
/// result and of the returned weights.
pub(crate) fn backward(
    score: &Score<'_>,
    c: &Call<'_>,
    weights: &Array3<f32>,
    g_result: Option<ArrayView3<'_, f32>>,
    g_weights: Option<ArrayView3<'_, f32>>,
) -> Result<Grads> {
    let (b, tq, d) = c.q.dim();
    let (_, tv, _) = c.v.dim();
    let mut grads = Grads {
        q: Array3::zeros(c.q.raw_dim()),
        v: Array3::zeros(c.v.raw_dim()),
        k: Array3::zeros(c.k.raw_dim()),
        scale: match score {
            Score::Dot { scale: Some(_) } | Score::Concat { scale: Some(_), .. } => {
                Some(Array1::zeros(1))
            }
            Score::Additive { scale: Some(s) } => Some(Array1::zeros(s.len())),
            _ => None,
        },
        weight: matches!(score, Score::Concat { .. }).then_some(0.0),
    };
    for bi in 0..b {
        let w = weights.index_axis(Axis(0), bi);
        let mut dw = Array2::<f32>::zeros((tq, tv));
        if let Some(g) = &g_result {
            let mut g = g.index_axis(Axis(0), bi).to_owned();
            if let Some(m) = &c.q_mask {
                for (i, mut row) in g.outer_iter_mut().enumerate() {
                    if !m[[bi, i]] {
                        row.fill(0.0);
                    }
                }
            }
            let v = c.v.index_axis(Axis(0), bi);
            dw += &g.dot(&v.t());
            grads.v.slice_mut(s![bi, .., ..]).assign(&w.t().dot(&g));
        }
        if let Some(g) = &g_weights {
            dw += &g.index_axis(Axis(0), bi);
        }
        // Softmax backward: ds = w (dw - Σ dw·w).
        let mut ds = Array2::<f32>::zeros((tq, tv));
        for i in 0..tq {
            let dot: f32 = (0..tv).map(|j| dw[[i, j]] * w[[i, j]]).sum();
            for j in 0..tv {
                ds[[i, j]] = w[[i, j]] * (dw[[i, j]] - dot);
            }
        }
        let q = c.q.index_axis(Axis(0), bi);
        let k = c.k.index_axis(Axis(0), bi);
        match score {
            Score::Dot { scale } => {
                let sc = scale.unwrap_or(1.0);
                if let Some(gs) = grads.scale.as_mut() {
                    let raw = q.dot(&k.t());
                    gs[0] += (&ds * &raw).sum();
                }
                grads
                    .q
                    .slice_mut(s![bi, .., ..])
                    .assign(&ds.dot(&k).mapv(|x| x * sc));
                grads
                    .k
                    .slice_mut(s![bi, .., ..])
                    .assign(&ds.t().dot(&q).mapv(|x| x * sc));
            }
            Score::Concat { scale, weight } => {
                let sc = scale.unwrap_or(1.0);
                for i in 0..tq {
                    for j in 0..tv {
                        let g = ds[[i, j]];
                        for f in 0..d {
                            let z = q[[i, f]] + k[[j, f]];
                            let t = (sc * z).tanh();
                            if let Some(gw) = grads.weight.as_mut() {
                                *gw += g * t;
                            }
                            let dz = g * weight * (1.0 - t * t);
                            if let Some(gs) = grads.scale.as_mut() {
                                gs[0] += dz * z;
                            }
                            grads.q[[bi, i, f]] += dz * sc;
                            grads.k[[bi, j, f]] += dz * sc;
                        }
                    }
                }
            }
            Score::Additive { scale } => {
                for i in 0..tq {
                    for j in 0..tv {
                        let g = ds[[i, j]];
                        for f in 0..d {
                            let t = (q[[i, f]] + k[[j, f]]).tanh();
                            let a = scale.as_ref().map_or(1.0, |s| s[f]);
                            if let Some(gs) = grads.scale.as_mut() {
                                gs[f] += g * t;
                            }
                            let dz = g * a * (1.0 - t * t);
                            grads.q[[bi, i, f]] += dz;
                            grads.k[[bi, j, f]] += dz;
                        }
                    }
                }
            }
        }
    }
    Ok(grads)
}

/// A gradient as `[batch, time, features]`.
pub(crate) fn view3(g: Option<&ndarray::ArrayD<f32>>) -> Result<Option<ArrayView3<'_, f32>>> {
    g.map(|g| {
        g.view()
            .into_dimensionality::<ndarray::Ix3>()
            .map_err(|_| Error::invalid("internal: attention gradient shape"))
    })
    .transpose()
}
