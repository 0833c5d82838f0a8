//! `tensorweave summary`, `plot` and `convert`: look at a model, draw it, and
//! save it in the native format.

use std::path::{Path, PathBuf};

use tensorweave_core::{MemoryBudget, Model};
use tensorweave_io::described::described_layers;
use tensorweave_io::ModelIo;
use tensorweave_viz::plot::{to_dot, to_svg, PlotOptions};
use tensorweave_viz::{ModelInspect, SummaryOptions};

use crate::npy::strip_kind;

/// The most characters of a name from a model file that a message repeats.
const SHOWN_CHARS: usize = 80;

/// `text` cut to [`SHOWN_CHARS`] characters with an ellipsis, control
/// characters escaped: names from model files are untrusted.
pub fn shorten(text: &str) -> String {
    tensorweave_core::registry::truncate(text, SHOWN_CHARS + 1)
}

/// Checks that `path` is a regular file before a model is loaded for it, so
/// that a missing input, a directory or a device is reported at once.
pub fn check_input_file(path: &Path) -> Result<(), String> {
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(format!("input file {} does not exist", path.display()))
        }
        Err(e) => Err(format!("input file {} cannot be read: {e}", path.display())),
        Ok(m) if m.is_dir() => Err(format!(
            "input file {} is a directory, not an .npy file",
            path.display()
        )),
        Ok(m) if !m.is_file() => Err(format!(
            "input file {} is not a regular file (a device, pipe or socket); give an .npy file",
            path.display()
        )),
        Ok(_) => Ok(()),
    }
}

/// The library's advice for an unknown layer class is Rust API advice; a user
/// of the prebuilt command gets advice they can follow.
fn cli_advice(message: &str) -> String {
    const LIBRARY_ADVICE: &str = "; register a constructor for it before loading";
    match message.find(LIBRARY_ADVICE) {
        Some(at) if message.contains("unknown layer class") => format!(
            "{}: the model uses a user-defined (custom) layer, which the prebuilt tensorweave \
             command cannot run; replace it with built-in layers and re-save the model in Keras, \
             or run the model from a Rust program that registers the layer \
             (see docs/custom-layers.md)",
            &message[..at]
        ),
        _ => message.to_string(),
    }
}

/// Loads a model file as `predict` does, within `budget`.
pub fn load(model: &Path, weights: Option<&Path>, budget: &MemoryBudget) -> Result<Model, String> {
    check_model_files(model, weights)?;
    tensorweave_io::load::load_model_with(model, weights, budget).map_err(|e| {
        format!(
            "cannot load model {}: {}",
            model.display(),
            cli_advice(&strip_kind(&e.to_string()))
        )
    })
}

/// Loads a model file to summarize or draw it: user-defined layers (and
/// Keras ops tensorweave does not implement) are rebuilt from the shapes and
/// weights the files record, and a note on stderr names them, since they
/// cannot run.
pub fn load_for_inspection(
    model: &Path,
    weights: Option<&Path>,
    budget: &MemoryBudget,
) -> Result<Model, String> {
    check_model_files(model, weights)?;
    let loaded = tensorweave_io::load::inspect_model_with(model, weights, budget).map_err(|e| {
        format!(
            "cannot load model {}: {}",
            model.display(),
            cli_advice(&strip_kind(&e.to_string()))
        )
    })?;
    let described = described_layers(&loaded);
    if !described.is_empty() {
        let names: Vec<String> = described
            .iter()
            .map(|d| {
                format!(
                    "{} ({})",
                    shorten(d.layer.name()),
                    shorten(d.layer.class_name())
                )
            })
            .collect();
        eprintln!(
            "note: {} layer(s) of {} are not built into tensorweave and are shown from what \
             the file records (shapes and weights); the model cannot run here: {}",
            names.len(),
            model.display(),
            names.join(", ")
        );
    }
    Ok(loaded)
}

/// Whether the model file and the weights file can be opened at all.
fn check_model_files(model: &Path, weights: Option<&Path>) -> Result<(), String> {
    match std::fs::metadata(model) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!("model file {} does not exist", model.display()))
        }
        Ok(m) if m.is_dir() => {
            return Err(format!(
                "model file {} is a directory, not a model file",
                model.display()
            ))
        }
        _ => {}
    }
    if let Some(w) = weights {
        if !w.exists() {
            return Err(format!("weights file {} does not exist", w.display()));
        }
    }
    Ok(())
}

/// Keras' summary table.
pub fn summary(
    model: &Path,
    weights: Option<&Path>,
    options: &SummaryOptions,
    budget: &MemoryBudget,
) -> Result<String, String> {
    load_for_inspection(model, weights, budget)?
        .summary_with(options)
        .map_err(|e| strip_kind(&e.to_string()))
}

/// Draws the model as SVG or Graphviz DOT, chosen by the output's extension.
pub fn plot(
    model: &Path,
    weights: Option<&Path>,
    out: &Path,
    expand_nested: bool,
    budget: &MemoryBudget,
) -> Result<(), String> {
    let model = load_for_inspection(model, weights, budget)?;
    let options = PlotOptions {
        expand_nested,
        ..PlotOptions::default()
    };
    let text = match out
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_lowercase)
        .as_deref()
    {
        Some("svg") => to_svg(&model, &options),
        Some("dot") | Some("gv") => to_dot(&model, &options),
        _ => {
            return Err(format!(
                "cannot tell the picture format of {}: use a .svg or .dot file name",
                out.display()
            ))
        }
    };
    std::fs::write(out, text).map_err(|e| format!("cannot write {}: {e}", out.display()))
}

/// Writes `OUT.json` and `OUT.safetensors` in the native format; returns both paths.
pub fn convert(
    model: &Path,
    weights: Option<&Path>,
    out: &Path,
    budget: &MemoryBudget,
) -> Result<(PathBuf, PathBuf), String> {
    let loaded = load(model, weights, budget)?;
    if out.extension().is_some_and(|e| e != "json") {
        return Err(format!(
            "the output must be a .json file name, got {}",
            out.display()
        ));
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    loaded
        .save(out)
        .map_err(|e| format!("cannot save {}: {e}", out.display()))?;
    Ok((
        out.with_extension("json"),
        out.with_extension("safetensors"),
    ))
}
