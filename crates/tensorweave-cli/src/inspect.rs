//! `tensorweave summary`, `plot` and `convert`: look at a model, draw it, and
//! save it in the native format.

use std::path::{Path, PathBuf};

use tensorweave_core::Model;
use tensorweave_io::ModelIo;
use tensorweave_viz::plot::{to_dot, to_svg, PlotOptions};
use tensorweave_viz::ModelInspect;

/// Loads a model file as `predict` does.
pub fn load(model: &Path, weights: Option<&Path>) -> Result<Model, String> {
    if !model.exists() {
        return Err(format!("model file {} does not exist", model.display()));
    }
    tensorweave_io::load::load_model(model, weights)
        .map_err(|e| format!("cannot load model {}: {e}", model.display()))
}

/// Keras' summary table.
pub fn summary(model: &Path, weights: Option<&Path>) -> Result<String, String> {
    Ok(load(model, weights)?.summary())
}

/// Draws the model as SVG or Graphviz DOT, chosen by the output's extension.
pub fn plot(
    model: &Path,
    weights: Option<&Path>,
    out: &Path,
    expand_nested: bool,
) -> Result<(), String> {
    let model = load(model, weights)?;
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
) -> Result<(PathBuf, PathBuf), String> {
    let loaded = load(model, weights)?;
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
