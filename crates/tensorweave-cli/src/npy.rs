//! `.npy` files in and out: inputs checked (header against data, memory
//! budget) and converted to the dtype of the model input they feed, outputs
//! written as float32.

use std::io::Write;
use std::path::Path;

use ndarray::ArrayD;
use ndarray_npy::WriteNpyExt;
use tensorweave_core::{DType, MemoryBudget, Value};
use tensorweave_io::npy::Npy;

/// Reads an `.npy` file for the model input `input` of dtype `dtype`:
/// int32 inputs take any integer type within int32's range; float32 inputs
/// take float32, float64 or integers (converted); bool inputs take bool;
/// string inputs take NumPy `str` arrays.
///
/// Every size in the header is checked against the file's real size and
/// `budget` before memory is reserved; the error says which input and why.
pub fn read_input(
    path: &Path,
    dtype: DType,
    input: &str,
    budget: &MemoryBudget,
) -> Result<Value, String> {
    let npy = Npy::read(path, budget)
        .map_err(|e| format!("input '{input}': {}", strip_kind(&e.to_string())))?;
    let converted = match dtype {
        DType::I32 => npy.to_i32().map(Value::I32),
        DType::F32 => npy.to_f32().map(Value::F32),
        DType::Bool => npy.to_bool().map(Value::Bool),
        DType::String => npy.to_strings().map(Value::Str),
    };
    converted.map_err(|e| {
        format!(
            "input '{input}' is {}, but {}",
            dtype_name(dtype),
            strip_kind(&e.to_string())
        )
    })
}

fn dtype_name(dtype: DType) -> &'static str {
    match dtype {
        DType::I32 => "int32",
        DType::F32 => "float32",
        DType::Bool => "bool",
        DType::String => "string",
    }
}

/// A library error without its `io: ` / `config: ` prefix, which says nothing
/// to a command-line user.
pub fn strip_kind(message: &str) -> String {
    for prefix in ["io: ", "config: "] {
        if let Some(rest) = message.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    message.to_string()
}

/// Writes an output as float32 `.npy` at `path`, flushed to disk.
pub fn write_output(path: &Path, value: &ArrayD<f32>) -> Result<(), String> {
    let file = std::fs::File::create(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    let mut writer = std::io::BufWriter::new(file);
    value
        .write_npy(&mut writer)
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    writer
        .flush()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    writer
        .get_ref()
        .sync_all()
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}
