//! `tensorweave predict`: run a model on `.npy` inputs, in batches, and write
//! one `.npy` per output.
//!
//! Outputs are all or nothing: each is written to a hidden temporary file in
//! the output directory, and only when every one is written are they renamed
//! to `output_0.npy`, …; `output_N.npy` files left by an earlier run with more
//! outputs are removed then, so the directory holds exactly this run's outputs.
//! A run that fails leaves the directory as it was.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ndarray::ArrayD;
use tensorweave_core::{CallContext, MemoryBudget, Model, Value};

use crate::inspect::{check_input_file, load, shorten};
use crate::npy;

/// What `predict` is asked to do.
pub struct PredictArgs {
    /// The model file.
    pub model: PathBuf,
    /// Weights replacing or completing the model file's.
    pub weights: Option<PathBuf>,
    /// One `.npy` per model input, in input order.
    pub inputs: Vec<PathBuf>,
    /// Instead of `inputs`, for a model whose one input is text: a UTF-8
    /// file, one text per line.
    pub text: Option<PathBuf>,
    /// Where `output_0.npy`, … go.
    pub out: PathBuf,
    /// Rows per batch; all rows at once when `None`.
    pub batch_size: Option<usize>,
    /// What loading the model and reading the inputs may reserve.
    pub budget: MemoryBudget,
}

/// Loads the model, runs it and writes the outputs; returns the files written.
pub fn run(args: &PredictArgs) -> Result<Vec<PathBuf>, String> {
    for input in &args.inputs {
        check_input_file(input)?;
    }
    if let Some(text) = &args.text {
        check_input_file(text)?;
    }
    let model = load(&args.model, args.weights.as_deref(), &args.budget)?;
    let inputs = match &args.text {
        Some(text) => vec![read_text_input(&model, text, &args.budget)?],
        None => read_inputs(&model, &args.inputs, &args.budget)?,
    };
    let outputs = predict_batched(&model, &inputs, args.batch_size)?;
    write_outputs(&args.out, &outputs)
}

/// Reads one `.npy` per model input, converted to that input's dtype, each
/// checked against `budget`.
pub fn read_inputs(
    model: &Model,
    paths: &[PathBuf],
    budget: &MemoryBudget,
) -> Result<Vec<Value>, String> {
    let declared = model.inputs();
    if paths.len() != declared.len() {
        let names: Vec<String> = declared
            .iter()
            .take(8)
            .map(|t| shorten(t.layer().name()))
            .collect();
        return Err(format!(
            "the model takes {} input(s) ({}), got {} --input file(s)",
            declared.len(),
            names.join(", "),
            paths.len()
        ));
    }
    declared
        .iter()
        .zip(paths)
        .map(|(t, path)| npy::read_input(path, t.dtype(), &shorten(t.layer().name()), budget))
        .collect()
}

/// Reads a text file as the batch of texts for a model whose one input is
/// text: one text per line (a last line break ends the last text, `\r\n`
/// counts as one break), shaped `[n]` or `[n, 1]` as the input declares.
pub fn read_text_input(model: &Model, path: &Path, budget: &MemoryBudget) -> Result<Value, String> {
    let declared = model.inputs();
    let [input] = declared else {
        return Err(format!(
            "--text feeds a model with one text input; this model takes {} inputs (give --input \
             files instead)",
            declared.len()
        ));
    };
    let name = shorten(input.layer().name());
    if input.dtype() != tensorweave_core::DType::String {
        return Err(format!(
            "--text feeds a text input, but input '{name}' is {} (give an --input .npy file)",
            input.dtype()
        ));
    }
    let lines = tensorweave_io::texts::read_texts(path, budget)
        .map_err(|e| npy::strip_kind(&e.to_string()))?;
    let n = lines.len();
    let shape = match input.shape().len() {
        1 => vec![n],
        2 if input.shape()[1] == Some(1) => vec![n, 1],
        _ => {
            return Err(format!(
                "--text gives one text per row, but input '{name}' has shape {}",
                tensorweave_core::format_shape(input.shape())
            ))
        }
    };
    ArrayD::from_shape_vec(shape, lines)
        .map(Value::Str)
        .map_err(|e| format!("internal: {e}"))
}

/// Runs the model on all rows, `batch_size` rows at a time in corpus mode
/// ([`Model::predict_corpus_with`]: sorted by length, on all cores, in the
/// caller's order), or all at once when `None`, and returns the outputs as
/// float32. A progress bar goes to stderr when batching and stderr is a
/// terminal.
pub fn predict_batched(
    model: &Model,
    inputs: &[Value],
    batch_size: Option<usize>,
) -> Result<Vec<ArrayD<f32>>, String> {
    let batch = match batch_size {
        Some(b) if b > 0 => b,
        Some(_) => return Err("--batch-size must be at least 1".to_string()),
        None => {
            let outputs = model.predict(inputs).map_err(|e| e.to_string())?;
            return Ok(outputs.iter().map(Value::to_f32).collect());
        }
    };
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{bar:40} {pos}/{len} batches [{elapsed}<{eta}]")
    {
        bar.set_style(style);
    }
    let outputs = model
        .predict_corpus_with(inputs, batch, &CallContext::default(), |done, total| {
            if total > 1 {
                bar.set_length(total as u64);
                bar.set_position(done as u64);
            }
        })
        .map_err(|e| e.to_string());
    bar.finish_and_clear();
    Ok(outputs?.iter().map(Value::to_f32).collect())
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// The index `N` of a file named `output_N.npy`.
fn output_index(name: &str) -> Option<usize> {
    name.strip_prefix("output_")?
        .strip_suffix(".npy")?
        .parse()
        .ok()
}

/// Writes `dir/output_0.npy`, … (creating `dir`) and returns their paths.
///
/// All or nothing: every output goes to a temporary file in `dir` first;
/// only when all are written are they renamed into place, after removing any
/// `output_N.npy` with `N` at or past the number of outputs (left by an
/// earlier run). On a failure the temporary files are removed and the
/// directory keeps what it had.
pub fn write_outputs(dir: &Path, outputs: &[ArrayD<f32>]) -> Result<Vec<PathBuf>, String> {
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create output directory {}: {e}", dir.display()))?;
    let mut temps: Vec<PathBuf> = Vec::with_capacity(outputs.len());
    let remove_all = |temps: &[PathBuf]| {
        for t in temps {
            let _ = std::fs::remove_file(t);
        }
    };
    for (k, out) in outputs.iter().enumerate() {
        let tmp = dir.join(format!(
            ".output_{k}.npy.tmp-{}-{}",
            std::process::id(),
            TEMP_COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        temps.push(tmp.clone());
        if let Err(e) = npy::write_output(&tmp, out) {
            remove_all(&temps);
            return Err(e);
        }
    }
    for k in 0..outputs.len() {
        let path = dir.join(format!("output_{k}.npy"));
        if path.is_dir() {
            remove_all(&temps);
            return Err(format!(
                "cannot write {}: a directory of that name is in the way",
                path.display()
            ));
        }
    }
    let stale = stale_outputs(dir, outputs.len()).inspect_err(|_| remove_all(&temps))?;
    for path in stale {
        std::fs::remove_file(&path).map_err(|e| {
            remove_all(&temps);
            format!(
                "cannot remove {}, an output of an earlier run: {e}",
                path.display()
            )
        })?;
    }
    let mut written = Vec::with_capacity(outputs.len());
    for (k, tmp) in temps.iter().enumerate() {
        let path = dir.join(format!("output_{k}.npy"));
        std::fs::rename(tmp, &path).map_err(|e| {
            remove_all(&temps[k..]);
            format!("cannot write {}: {e}", path.display())
        })?;
        written.push(path);
    }
    Ok(written)
}

/// The `output_N.npy` files in `dir` with `N >= count`.
fn stale_outputs(dir: &Path, count: usize) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot list output directory {}: {e}", dir.display()))?;
    let mut stale = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        if let Some(n) = name.to_str().and_then(output_index) {
            if n >= count {
                stale.push(entry.path());
            }
        }
    }
    Ok(stale)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, ArrayD};
    use ndarray_npy::{ReadNpyExt, WriteNpyExt};
    use tensorweave_layers::prelude::*;

    /// `y = x @ [[1, 2], [3, 4]] + [10, 20]`: row [1, 1] gives
    /// [1+3+10, 2+4+20] = [14, 26]; row [2, 0] gives [2+10, 4+20] = [12, 24].
    fn dense_model() -> Model {
        let x = Input::new([2]).name("x").build();
        let kernel = array![[1.0f32, 2.0], [3.0, 4.0]].into_dyn();
        let bias = array![10.0f32, 20.0].into_dyn();
        let y = Dense::new(2).weights(vec![kernel, bias]).call(&x).unwrap();
        Model::new(std::slice::from_ref(&x), &[y]).unwrap()
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("tensorweave-cli-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn batches_give_the_rows_in_order() {
        let model = dense_model();
        let x = Value::F32(array![[1.0f32, 1.0], [2.0, 0.0], [1.0, 1.0]].into_dyn());
        let expected: ArrayD<f32> = array![[14.0f32, 26.0], [12.0, 24.0], [14.0, 26.0]].into_dyn();
        for batch in [None, Some(1), Some(2), Some(3), Some(10)] {
            let out = predict_batched(&model, std::slice::from_ref(&x), batch).unwrap();
            assert_eq!(out, vec![expected.clone()], "batch size {batch:?}");
        }
    }

    #[test]
    fn float64_inputs_are_converted_for_float_models() {
        let model = dense_model();
        let path = scratch("x64.npy");
        array![[1.0f64, 1.0]]
            .into_dyn()
            .write_npy(std::fs::File::create(&path).unwrap())
            .unwrap();
        let inputs = read_inputs(&model, &[path], &MemoryBudget::default()).unwrap();
        let out = predict_batched(&model, &inputs, None).unwrap();
        assert_eq!(out[0], array![[14.0f32, 26.0]].into_dyn());
    }

    #[test]
    fn int64_inputs_are_range_checked_for_int_models() {
        let path = scratch("ids.npy");
        array![[1i64, 2, 3]]
            .into_dyn()
            .write_npy(std::fs::File::create(&path).unwrap())
            .unwrap();
        let v = npy::read_input(&path, DType::I32, "tokens", &MemoryBudget::default()).unwrap();
        assert_eq!(v, Value::I32(array![[1i32, 2, 3]].into_dyn()));

        array![[1i64, 1 << 40]]
            .into_dyn()
            .write_npy(std::fs::File::create(&path).unwrap())
            .unwrap();
        let err =
            npy::read_input(&path, DType::I32, "tokens", &MemoryBudget::default()).unwrap_err();
        assert!(
            err.contains("1099511627776") && err.contains("int32"),
            "{err}"
        );
    }

    #[test]
    fn float_data_for_int_inputs_is_refused() {
        let path = scratch("f.npy");
        array![[1.5f32]]
            .into_dyn()
            .write_npy(std::fs::File::create(&path).unwrap())
            .unwrap();
        let err =
            npy::read_input(&path, DType::I32, "tokens", &MemoryBudget::default()).unwrap_err();
        assert!(err.contains("float32") && err.contains("'tokens'"), "{err}");
    }

    #[test]
    fn wrong_input_count_is_refused() {
        let model = dense_model();
        let err = read_inputs(&model, &[], &MemoryBudget::default()).unwrap_err();
        assert!(err.contains("takes 1 input(s) (x), got 0"), "{err}");
    }

    #[test]
    fn mismatched_rows_are_refused() {
        let x = Input::new([1]).build();
        let y = Input::new([1]).build();
        let s = Add::new().call_many(&[&x, &y]).unwrap();
        let model = Model::new(&[x, y], &[s]).unwrap();
        let a = Value::F32(ArrayD::zeros(vec![3, 1]));
        let b = Value::F32(ArrayD::zeros(vec![2, 1]));
        let err = predict_batched(&model, &[a, b], Some(1)).unwrap_err();
        assert!(err.contains("input 0 has 3, input 1 has 2"), "{err}");
    }

    #[test]
    fn outputs_are_written_as_float32_npy() {
        let dir = scratch("outs");
        let written = write_outputs(&dir, &[array![[1.0f32]].into_dyn()]).unwrap();
        assert_eq!(written, vec![dir.join("output_0.npy")]);
        let back = ArrayD::<f32>::read_npy(std::fs::File::open(&written[0]).unwrap()).unwrap();
        assert_eq!(back, array![[1.0f32]].into_dyn());
    }

    #[test]
    fn stale_outputs_of_an_earlier_run_are_removed() {
        let dir = scratch("stale");
        let _ = std::fs::remove_dir_all(&dir);
        let three = vec![array![[1.0f32]].into_dyn(); 3];
        write_outputs(&dir, &three).unwrap();
        std::fs::write(dir.join("output_12.npy"), b"old").unwrap();
        std::fs::write(dir.join("notes.txt"), b"mine").unwrap();
        std::fs::write(dir.join("output_x.npy"), b"mine").unwrap();
        let written = write_outputs(&dir, &[array![[2.0f32]].into_dyn()]).unwrap();
        assert_eq!(written, vec![dir.join("output_0.npy")]);
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["notes.txt", "output_0.npy", "output_x.npy"]);
        let back = ArrayD::<f32>::read_npy(std::fs::File::open(&written[0]).unwrap()).unwrap();
        assert_eq!(back, array![[2.0f32]].into_dyn());
    }

    #[test]
    fn a_failed_write_leaves_the_directory_as_it_was() {
        let dir = scratch("failed");
        let _ = std::fs::remove_dir_all(&dir);
        write_outputs(&dir, &[array![[1.0f32]].into_dyn()]).unwrap();
        // output_1.npy is a directory: no file can replace it.
        std::fs::create_dir_all(dir.join("output_1.npy")).unwrap();
        let two = vec![array![[9.0f32]].into_dyn(); 2];
        let err = write_outputs(&dir, &two).unwrap_err();
        assert!(
            err.contains("output_1.npy") && err.contains("directory"),
            "{err}"
        );
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["output_0.npy", "output_1.npy"]);
        let back = ArrayD::<f32>::read_npy(std::fs::File::open(dir.join("output_0.npy")).unwrap())
            .unwrap();
        assert_eq!(
            back,
            array![[1.0f32]].into_dyn(),
            "the old output_0 was kept"
        );
    }
}
