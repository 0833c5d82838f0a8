//! `.npy` files in and out: inputs converted to the dtype of the model input
//! they feed, outputs written as float32.

use std::path::Path;

use ndarray::ArrayD;
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use tensorweave_core::{DType, Value};

/// The `descr` of an `.npy` header (`<f4`, `<i8`, `|b1`, …), for messages.
fn descr(bytes: &[u8]) -> String {
    let header = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
    header
        .split("'descr':")
        .nth(1)
        .and_then(|rest| rest.split('\'').nth(1))
        .map(|d| match d {
            "<f4" => "float32".to_string(),
            "<f8" => "float64".to_string(),
            "<i4" => "int32".to_string(),
            "<i8" => "int64".to_string(),
            "|b1" => "bool".to_string(),
            other => format!("dtype '{other}'"),
        })
        .unwrap_or_else(|| "no readable .npy header".to_string())
}

fn read_as<T: ndarray_npy::ReadableElement>(bytes: &[u8]) -> Option<ArrayD<T>> {
    ArrayD::<T>::read_npy(bytes).ok()
}

/// Reads an `.npy` file for a model input of dtype `dtype`:
/// int32 inputs take int32, or int64 within int32's range; float32 inputs take
/// float32, float64 or integers (converted); bool inputs take bool.
pub fn read_input(path: &Path, dtype: DType, input: &str) -> Result<Value, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err(format!("{} is not an .npy file", path.display()));
    }
    let found = || descr(&bytes);
    match dtype {
        DType::I32 => {
            if let Some(a) = read_as::<i32>(&bytes) {
                return Ok(Value::I32(a));
            }
            if let Some(a) = read_as::<i64>(&bytes) {
                if let Some(bad) = a.iter().find(|v| i32::try_from(**v).is_err()) {
                    return Err(format!(
                        "{} holds {bad}, outside int32's range, for int32 input '{input}'",
                        path.display()
                    ));
                }
                return Ok(Value::I32(a.mapv(|v| v as i32)));
            }
            Err(format!(
                "input '{input}' is int32 but {} holds {}; save it as int32 or int64",
                path.display(),
                found()
            ))
        }
        DType::F32 => {
            if let Some(a) = read_as::<f32>(&bytes) {
                return Ok(Value::F32(a));
            }
            if let Some(a) = read_as::<f64>(&bytes) {
                return Ok(Value::F32(a.mapv(|v| v as f32)));
            }
            if let Some(a) = read_as::<i32>(&bytes) {
                return Ok(Value::F32(a.mapv(|v| v as f32)));
            }
            if let Some(a) = read_as::<i64>(&bytes) {
                return Ok(Value::F32(a.mapv(|v| v as f32)));
            }
            Err(format!(
                "input '{input}' is float32 but {} holds {}; save it as float32 or float64",
                path.display(),
                found()
            ))
        }
        DType::Bool => read_as::<bool>(&bytes).map(Value::Bool).ok_or_else(|| {
            format!(
                "input '{input}' is bool but {} holds {}",
                path.display(),
                found()
            )
        }),
    }
}

/// Writes an output as float32 `.npy`.
pub fn write_output(path: &Path, value: &ArrayD<f32>) -> Result<(), String> {
    let file = std::fs::File::create(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    value
        .write_npy(std::io::BufWriter::new(file))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
