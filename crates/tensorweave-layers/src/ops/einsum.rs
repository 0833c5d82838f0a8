//! `Einsum` (Keras' `ops.einsum`) for explicit subscripts such as
//! `"bij,bkj->bik"`: every letter names an axis, letters missing from the
//! output are summed. Evaluated directly over the index space (no
//! broadcasting of size-1 axes, no `...`, no repeated letter in one operand).

use std::collections::BTreeMap;

use ndarray::{ArrayD, IxDyn};
use serde_json::{json, Value as Json};
use tensorweave_core::registry::brief;
use tensorweave_core::{
    format_dims, BackwardCall, CallContext, DType, Error, Inputs, Layer, LayerGrads, Result,
    TensorSpec, Value,
};

use crate::registry::OpClass;

/// Parsed subscripts: each operand's letters and the output's.
#[derive(Debug, Clone, PartialEq)]
struct Subscripts {
    inputs: Vec<Vec<char>>,
    output: Vec<char>,
}

impl Subscripts {
    fn parse(text: &str) -> Result<Subscripts> {
        let bad = |why: &str| {
            Error::invalid(format!(
                "einsum subscripts '{text}' are not supported: {why} (explicit subscripts such \
                 as \"bij,bkj->bik\" are)"
            ))
        };
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let (lhs, rhs) = compact.split_once("->").ok_or_else(|| bad("no '->'"))?;
        let letters = |s: &str| -> Result<Vec<char>> {
            let v: Vec<char> = s.chars().collect();
            if v.iter().any(|c| !c.is_ascii_alphabetic()) {
                return Err(bad("only letters name axes"));
            }
            let mut sorted = v.clone();
            sorted.sort_unstable();
            sorted.dedup();
            if sorted.len() != v.len() {
                return Err(bad("a letter repeats within one term"));
            }
            Ok(v)
        };
        let inputs = lhs.split(',').map(letters).collect::<Result<Vec<_>>>()?;
        let output = letters(rhs)?;
        if output.iter().any(|c| !inputs.iter().any(|i| i.contains(c))) {
            return Err(bad("an output letter appears in no operand"));
        }
        Ok(Subscripts { inputs, output })
    }
}

/// `Σ Π operands` over the letters missing from `out` (see the module docs).
fn contract(
    terms: &[&[char]],
    arrays: &[&ArrayD<f32>],
    out: &[char],
    sizes: &BTreeMap<char, usize>,
) -> ArrayD<f32> {
    let summed: Vec<char> = sizes.keys().copied().filter(|c| !out.contains(c)).collect();
    let order: Vec<char> = out.iter().chain(&summed).copied().collect();
    let dims: Vec<usize> = order.iter().map(|c| sizes[c]).collect();
    let out_dims: Vec<usize> = out.iter().map(|c| sizes[c]).collect();
    let n_out: usize = out_dims.iter().product();
    let n_sum: usize = dims[out.len()..].iter().product();
    // Each operand's stride for each letter of `order` (0 if absent).
    let std: Vec<ArrayD<f32>> = arrays
        .iter()
        .map(|a| a.as_standard_layout().into_owned())
        .collect();
    let strides: Vec<Vec<usize>> = terms
        .iter()
        .zip(&std)
        .map(|(term, a)| {
            let own: Vec<usize> = {
                let mut s = vec![0; term.len()];
                let mut acc = 1;
                for i in (0..term.len()).rev() {
                    s[i] = acc;
                    acc *= a.shape()[i];
                }
                s
            };
            order
                .iter()
                .map(|c| term.iter().position(|t| t == c).map_or(0, |i| own[i]))
                .collect()
        })
        .collect();
    let data: Vec<&[f32]> = std.iter().map(|a| a.as_slice().unwrap_or(&[])).collect();
    let mut result = vec![0f32; n_out];
    let mut index = vec![0usize; order.len()];
    for (o, slot) in result.iter_mut().enumerate() {
        let mut rest = o;
        for i in (0..out.len()).rev() {
            index[i] = rest % dims[i];
            rest /= dims[i];
        }
        let mut acc = 0f64;
        for s in 0..n_sum {
            let mut rest = s;
            for i in (out.len()..order.len()).rev() {
                index[i] = rest % dims[i];
                rest /= dims[i];
            }
            let mut p = 1f64;
            for (d, st) in data.iter().zip(&strides) {
                let off: usize = index.iter().zip(st).map(|(i, s)| i * s).sum();
                p *= f64::from(d[off]);
            }
            acc += p;
        }
        *slot = acc as f32;
    }
    ArrayD::from_shape_vec(IxDyn(&out_dims), result).unwrap_or_else(|_| ArrayD::zeros(IxDyn(&[0])))
}

/// Keras' `ops.einsum` with explicit subscripts.
#[derive(Debug, Clone, PartialEq)]
pub struct EinsumOp {
    subscripts: String,
    parsed: Subscripts,
    name: Option<String>,
}

super::named_op!(EinsumOp, |_: &EinsumOp| "Einsum");

impl EinsumOp {
    /// The contraction `subscripts` (`"bij,bkj->bik"`).
    pub fn new(subscripts: &str) -> Result<Self> {
        Ok(EinsumOp {
            subscripts: subscripts.to_string(),
            parsed: Subscripts::parse(subscripts)?,
            name: None,
        })
    }

    /// Every letter's size, checked across operands.
    fn sizes(&self, shapes: &[&[usize]]) -> Result<BTreeMap<char, usize>> {
        if shapes.len() != self.parsed.inputs.len() {
            return Err(Error::invalid(format!(
                "'{}' takes {} operands, got {}",
                self.subscripts,
                self.parsed.inputs.len(),
                shapes.len()
            )));
        }
        let mut sizes = BTreeMap::new();
        for (term, shape) in self.parsed.inputs.iter().zip(shapes) {
            if term.len() != shape.len() {
                return Err(Error::invalid(format!(
                    "'{}': operand of shape {} for the term '{}'",
                    self.subscripts,
                    format_dims(shape),
                    term.iter().collect::<String>()
                )));
            }
            for (c, &d) in term.iter().zip(shape.iter()) {
                if let Some(&e) = sizes.get(c) {
                    if e != d {
                        return Err(Error::invalid(format!(
                            "'{}': axis '{c}' has sizes {e} and {d}",
                            self.subscripts
                        )));
                    }
                }
                sizes.insert(*c, d);
            }
        }
        Ok(sizes)
    }
}

impl OpClass for EinsumOp {
    const CLASS_NAME: &'static str = "Einsum";

    fn read(config: &Json) -> Result<Self> {
        let text = config
            .get("subscripts")
            .and_then(Json::as_str)
            .ok_or_else(|| {
                Error::layer(
                    config.get("name").and_then(Json::as_str).unwrap_or("?"),
                    Self::CLASS_NAME,
                    format!(
                        "option `subscripts` = {} must be a string",
                        brief(config.get("subscripts").unwrap_or(&Json::Null))
                    ),
                )
            })?;
        EinsumOp::new(text)
    }
}

impl Layer for EinsumOp {
    fn is_op(&self) -> bool {
        true
    }

    fn class_name(&self) -> &str {
        Self::CLASS_NAME
    }

    fn config(&self) -> Json {
        json!({ "subscripts": self.subscripts })
    }

    fn output_specs(&self, inputs: &[TensorSpec]) -> Result<Vec<TensorSpec>> {
        super::numeric(inputs)?;
        if inputs.len() != self.parsed.inputs.len() {
            return Err(Error::invalid(format!(
                "'{}' takes {} operands, got {}",
                self.subscripts,
                self.parsed.inputs.len(),
                inputs.len()
            )));
        }
        let mut sizes: BTreeMap<char, Option<usize>> = BTreeMap::new();
        for (term, spec) in self.parsed.inputs.iter().zip(inputs) {
            if spec.dtype != DType::F32 || term.len() != spec.rank() {
                return Err(Error::invalid(format!(
                    "'{}': operand of shape {:?} ({:?}) for the term '{}'",
                    self.subscripts,
                    spec.shape,
                    spec.dtype,
                    term.iter().collect::<String>()
                )));
            }
            for (c, d) in term.iter().zip(spec.shape.iter()) {
                let e = sizes.entry(*c).or_insert(*d);
                if e.is_none() {
                    *e = *d;
                }
            }
        }
        let shape: Vec<Option<usize>> = self.parsed.output.iter().map(|c| sizes[c]).collect();
        Ok(vec![TensorSpec::new(shape, DType::F32)])
    }

    fn call(&self, inputs: &Inputs<'_>, _ctx: &CallContext) -> Result<Vec<Value>> {
        let arrays = (0..inputs.len())
            .map(|i| inputs.f32(i))
            .collect::<Result<Vec<_>>>()?;
        let shapes: Vec<&[usize]> = arrays.iter().map(|a| a.shape()).collect();
        let sizes = self.sizes(&shapes)?;
        let terms: Vec<&[char]> = self.parsed.inputs.iter().map(Vec::as_slice).collect();
        Ok(vec![Value::F32(contract(
            &terms,
            &arrays,
            &self.parsed.output,
            &sizes,
        ))])
    }

    fn has_backward(&self) -> bool {
        true
    }

    /// Each operand's gradient is the einsum of the output gradient with the
    /// other operands into that operand's term.
    fn backward(&self, call: &BackwardCall<'_>) -> Result<LayerGrads> {
        let n = call.inputs.len();
        let Some(g) = call.value_grad(0)? else {
            return Ok(LayerGrads::inputs(vec![None; n]));
        };
        let arrays = (0..n)
            .map(|i| call.inputs.f32(i))
            .collect::<Result<Vec<_>>>()?;
        let shapes: Vec<&[usize]> = arrays.iter().map(|a| a.shape()).collect();
        let sizes = self.sizes(&shapes)?;
        let mut grads = Vec::with_capacity(n);
        for k in 0..n {
            let mut terms: Vec<&[char]> = vec![&self.parsed.output];
            let mut operands: Vec<&ArrayD<f32>> = vec![g];
            for (j, term) in self.parsed.inputs.iter().enumerate() {
                if j != k {
                    terms.push(term);
                    operands.push(arrays[j]);
                }
            }
            let want = &self.parsed.inputs[k];
            let sub: BTreeMap<char, usize> = sizes
                .iter()
                .filter(|(c, _)| terms.iter().any(|t| t.contains(c)) || want.contains(c))
                .map(|(c, d)| (*c, *d))
                .collect();
            grads.push(Some(contract(&terms, &operands, want, &sub)));
        }
        Ok(LayerGrads::inputs(grads))
    }
}
