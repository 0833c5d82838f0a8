//! Looking at a model: Keras' `model.summary()` table ([`summary`]) and
//! `plot_model` pictures ([`plot`]), kept out of the engine crate.
//!
//! [`ModelInspect`] puts them on [`Model`] as methods (it is in the
//! `tensorweave` prelude):
//!
//! ```
//! use tensorweave_core::{Input, Model};
//! use tensorweave_viz::{ModelInspect, PlotOptions};
//! let x = Input::new([4]).name("x").build();
//! let model = Model::with_name("tiny", &[x.clone()], &[x]).unwrap();
//! assert!(model.summary().starts_with("Model: \"tiny\""));
//! assert!(model.plot(&PlotOptions::default()).starts_with("<svg"));
//! ```
#![warn(missing_docs)]

pub mod plot;
pub mod summary;

pub use plot::PlotOptions;
pub use summary::SummaryOptions;

use tensorweave_core::{Model, Result};

/// `summary()` and `plot()` on a [`Model`].
pub trait ModelInspect {
    /// Keras' `model.summary()` table with Keras' default layout (see
    /// [`summary`]; for options, [`ModelInspect::summary_with`]).
    fn summary(&self) -> String;

    /// The summary with explicit options (line length, positions,
    /// `expand_nested`, `show_trainable`); fails when a column would be too
    /// narrow.
    fn summary_with(&self, options: &SummaryOptions) -> Result<String>;

    /// The model drawn as SVG, like Keras' `plot_model` (see [`plot`]).
    fn plot(&self, options: &PlotOptions) -> String;

    /// The same picture as Graphviz DOT text.
    fn to_dot(&self, options: &PlotOptions) -> String;
}

impl ModelInspect for Model {
    fn summary(&self) -> String {
        summary::summary(self)
    }

    fn summary_with(&self, options: &SummaryOptions) -> Result<String> {
        summary::summary_with(self, options)
    }

    fn plot(&self, options: &PlotOptions) -> String {
        plot::to_svg(self, options)
    }

    fn to_dot(&self, options: &PlotOptions) -> String {
        plot::to_dot(self, options)
    }
}
