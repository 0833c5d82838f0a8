//! Options the preprocessing layers share: checks of Keras options that
//! tensorweave does not implement, and reading token lists from configs.

use ndarray::ArrayD;
use serde_json::Value as Json;
use tensorweave_core::{Error, Result, Value};

/// Fails for `sparse: true` (TensorFlow sparse tensors) and a non-UTF-8
/// `encoding`.
pub fn check_dense_utf8(sparse: bool, encoding: Option<&str>) -> Result<()> {
    if sparse {
        return Err(Error::invalid(
            "option `sparse` = true is not supported: tensorweave outputs dense arrays; \
             save the layer with sparse=False",
        ));
    }
    match encoding {
        None => Ok(()),
        Some(e) if e.eq_ignore_ascii_case("utf-8") || e.eq_ignore_ascii_case("utf8") => Ok(()),
        Some(e) => Err(Error::invalid(format!(
            "option `encoding` = '{e}' is not supported: texts are UTF-8"
        ))),
    }
}

/// Integer input data as int64 values (int32 and float data; Keras casts).
pub fn int_values(v: &Value) -> Result<ArrayD<i64>> {
    match v {
        Value::I32(a) => Ok(a.mapv(i64::from)),
        Value::F32(a) => Ok(a.mapv(|x| x as i64)),
        Value::Bool(a) => Ok(a.mapv(i64::from)),
        Value::Str(_) => Err(Error::invalid(
            "expects integers, got strings (use StringLookup for text)",
        )),
    }
}

/// An `int32` index array from int64 indices (all fit: they index a vocabulary).
pub fn to_i32(a: &ArrayD<i64>) -> Value {
    Value::I32(a.mapv(|i| i.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32))
}

/// A vocabulary option: a list (of strings or integers, by `read`), or a
/// file path, which cannot be read here.
pub fn vocabulary_list<K>(
    vocabulary: &Option<Json>,
    read: impl Fn(&Json) -> Option<K>,
    what: &str,
) -> Result<Vec<K>> {
    match vocabulary {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                read(v).ok_or_else(|| {
                    Error::invalid(format!(
                        "option `vocabulary`: entry {i} = {} is not {what}",
                        tensorweave_core::registry::brief(v)
                    ))
                })
            })
            .collect(),
        Some(Json::String(path)) => Err(Error::invalid(format!(
            "option `vocabulary` = '{path}' names a file; give the vocabulary as a list \
             (Keras stores an adapted vocabulary in the .keras archive, which tensorweave reads)"
        ))),
        Some(other) => Err(Error::invalid(format!(
            "option `vocabulary` = {} is not a list",
            tensorweave_core::registry::brief(other)
        ))),
    }
}
