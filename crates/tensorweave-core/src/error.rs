//! The one error type of tensorweave: every fallible public function returns
//! [`Result`], and every variant names what went wrong and where.

/// Errors raised while building, compiling or running a model.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A layer rejected its inputs, its configuration or its weights.
    #[error("layer '{layer}' ({class}): {message}")]
    Layer {
        /// The layer's name, e.g. `bidirectional`.
        layer: String,
        /// The layer's Keras class name, e.g. `Bidirectional`.
        class: String,
        /// What is wrong and what to do about it.
        message: String,
    },
    /// The graph between the declared inputs and outputs is not a valid model.
    #[error("graph: {0}")]
    Graph(String),
    /// The arrays given to `predict` do not fit the model's inputs.
    #[error("input: {0}")]
    Input(String),
    /// Weights given to `set_weights` do not fit the layer.
    #[error("weights of layer '{layer}': {message}")]
    Weights {
        /// The layer's name.
        layer: String,
        /// What is wrong: counts or shapes, expected and found.
        message: String,
    },
    /// A configuration names a layer class no constructor is registered for.
    #[error(
        "layer '{layer}': unknown layer class '{class}'{}; register a constructor for it before \
         loading, e.g. `register_layer(\"{}\", |config, registry| ...)` (process-wide) or \
         `LayerRegistry::register` on the registry you pass to the loader",
        registered_name.as_ref().map(|r| format!(" (registered name '{r}')")).unwrap_or_default(),
        registered_name.as_deref().unwrap_or(class)
    )]
    UnknownLayer {
        /// The layer's name in the configuration.
        layer: String,
        /// Its Keras class name.
        class: String,
        /// The name it was registered under in Keras, when that differs.
        registered_name: Option<String>,
    },
    /// A configuration value is invalid or unsupported.
    #[error("config: {0}")]
    Config(String),
    /// Reading or writing a file failed.
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// JSON could not be produced or parsed.
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
}

/// `Result` with tensorweave's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Builds an [`Error::Layer`] from a layer name, a class name and a message.
    pub fn layer(
        layer: impl Into<String>,
        class: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Layer {
            layer: layer.into(),
            class: class.into(),
            message: message.into(),
        }
    }

    /// The same error, its message prefixed with the rows of the batch it
    /// came from (used by [`Model::predict_in_batches`](crate::Model::predict_in_batches)).
    pub fn in_rows(self, start: usize, end: usize, of: usize) -> Self {
        self.with_prefix(&format!("rows {start}..{end} of {of}"))
    }

    /// The same error, its message prefixed with `prefix` and a colon (where
    /// in a larger run it happened).
    pub fn with_prefix(self, prefix: &str) -> Self {
        let at = |m: String| format!("{prefix}: {m}");
        match self {
            Error::Layer {
                layer,
                class,
                message,
            } => Error::Layer {
                layer,
                class,
                message: at(message),
            },
            Error::Input(m) => Error::Input(at(m)),
            Error::Graph(m) => Error::Graph(at(m)),
            Error::Config(m) => Error::Config(at(m)),
            Error::Weights { layer, message } => Error::Weights {
                layer,
                message: at(message),
            },
            other => other,
        }
    }
}
