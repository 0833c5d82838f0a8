//! Drawing a model, like Keras' `plot_model(show_shapes=True,
//! show_layer_names=True, expand_nested=True)`, without Graphviz.
//!
//! - [`to_svg`] lays the graph out in Rust (layers top to bottom, crossing
//!   reduction, no overlapping boxes; see the `layout` module) and writes a
//!   self-contained SVG: one box per layer with `name (Class)` and its output
//!   shape, one arrow per tensor (masks dashed and grey), nested models as
//!   dashed clusters around their own graph, `TimeDistributed` and
//!   `Bidirectional` naming the layer they wrap. A layer called several times is
//!   one box; its edges are labelled `node k` (the call they feed) and
//!   `[node][tensor]` (the call they come from), as in the summary's
//!   "Connected to".
//! - [`to_dot`] gives the same graph as Graphviz DOT text, in the shape of
//!   Keras' `model_to_dot`, for users who have Graphviz.
//!
//! ```
//! use tensorweave_viz::plot::{to_dot, to_svg, PlotOptions};
//! use tensorweave_core::{Input, Model};
//! let x = Input::new([4]).name("x").build();
//! let model = Model::with_name("tiny", &[x.clone()], &[x]).unwrap();
//! let svg = to_svg(&model, &PlotOptions::default());
//! assert!(svg.starts_with("<svg") && svg.contains("x (InputLayer)"));
//! assert!(to_dot(&model, &PlotOptions::default()).contains("\"x\" [label="));
//! ```

mod dot;
mod layout;
mod scene;
mod svg;

use tensorweave_core::model::Model;

/// What to show (Keras' `plot_model` arguments).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlotOptions {
    /// Output shapes in the boxes (default true).
    pub show_shapes: bool,
    /// Output dtypes in the boxes (default false).
    pub show_dtype: bool,
    /// Draws nested models as clusters around their own layers (default true);
    /// otherwise each is one box.
    pub expand_nested: bool,
    /// The DOT `dpi` attribute (default 200, as Keras).
    pub dpi: u32,
}

impl Default for PlotOptions {
    fn default() -> Self {
        PlotOptions {
            show_shapes: true,
            show_dtype: false,
            expand_nested: true,
            dpi: 200,
        }
    }
}

fn scene(model: &Model, options: &PlotOptions) -> scene::Block {
    scene::Block::of(model.name(), model.graph(), "", options)
}

/// The model as Graphviz DOT text. Node ids are layer names, prefixed with the
/// names of the nested models that contain them (`block/dense`).
pub fn to_dot(model: &Model, options: &PlotOptions) -> String {
    dot::render(&scene(model, options), options.dpi)
}

/// The model drawn as an SVG document (monospace text, sizes in pixels).
pub fn to_svg(model: &Model, options: &PlotOptions) -> String {
    let title = format!("{} (Functional)", model.name());
    svg::render(&scene(model, options), &title)
}
