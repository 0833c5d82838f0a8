//! The `tensorweave` command.
//!
//! `tensorweave predict MODEL [--weights FILE] --input X.npy [--input X2.npy ...] --out DIR [--batch-size N]`
//! runs a model (a Keras `.keras` archive, a Keras `to_json` file with
//! `--weights`, or a tensorweave model `.json` with its `.safetensors`) on
//! `.npy` inputs and writes `DIR/output_0.npy`, … (float32) in output order.
//! `tensorweave predict MODEL --text FILE --out DIR` feeds a model whose one
//! input is text the lines of FILE (UTF-8, one text per line).
//!
//! `tensorweave bench MODEL --input X.npy [--iters N] [--warmup W] [--threads T]`
//! times `predict` and prints one JSON line (with the peak heap use of a run); `tensorweave summary MODEL` prints
//! Keras' summary table; `tensorweave plot MODEL -o FILE.svg|.dot` draws the
//! graph; `tensorweave convert MODEL -o OUT.json` writes the native format
//! (`OUT.json` + `OUT.safetensors`).
//!
//! `--max-memory SIZE` (default 16G) bounds what loading a model and reading
//! its inputs may reserve for sizes read from files.
//!
//! Any failure prints one line on stderr and exits non-zero.

mod bench;
mod inspect;
mod npy;
mod peak_alloc;
mod predict;

#[global_allocator]
static ALLOCATOR: peak_alloc::CountingAlloc = peak_alloc::CountingAlloc;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tensorweave_core::MemoryBudget;
use tensorweave_viz::SummaryOptions;

/// What a memory-budget error tells a command-line user.
const BUDGET_HINT: &str = "raise it with --max-memory SIZE (e.g. --max-memory 32G)";

/// Parses `--max-memory`.
fn parse_budget(text: &str) -> Result<MemoryBudget, String> {
    text.parse::<MemoryBudget>()
        .map(|b| b.with_hint(BUDGET_HINT))
        .map_err(|e| npy::strip_kind(&e.to_string()))
}

/// The longest error line printed, in characters.
const MAX_LINE: usize = 600;
/// The longest run of characters without a space kept in an error line.
const MAX_WORD: usize = 160;

/// `line` with every over-long word cut (with an ellipsis) and the whole cut
/// at [`MAX_LINE`] characters: a last guard, so that a hostile name that slipped
/// through unshortened cannot make a line of megabytes.
fn bounded(line: &str) -> String {
    let mut out = String::new();
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if word.chars().count() > MAX_WORD {
            out.extend(word.chars().take(MAX_WORD - 1));
            out.push('…');
        } else {
            out.push_str(word);
        }
        if out.chars().count() > MAX_LINE {
            let cut: String = out.chars().take(MAX_LINE - 1).collect();
            return format!("{cut}…");
        }
    }
    out
}

/// Keras-compatible model runner.
#[derive(Parser)]
#[command(name = "tensorweave", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The model file every command starts from.
#[derive(clap::Args)]
struct ModelSource {
    /// The model: NAME.keras, a Keras to_json NAME.json (with --weights), or a
    /// tensorweave NAME.json with NAME.safetensors beside it.
    model: PathBuf,
    /// Weights file: a Keras .weights.h5, or an .npz in get_weights() order.
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
    /// The most memory loading the model and reading inputs may take for
    /// sizes read from files, e.g. 8G or 500M (default 16G).
    #[arg(long, value_name = "SIZE", value_parser = parse_budget, default_value = "16G")]
    max_memory: MemoryBudget,
}

impl ModelSource {
    fn weights(&self) -> Option<&std::path::Path> {
        self.weights.as_deref()
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run a model on .npy inputs and write its outputs as .npy files.
    Predict {
        #[command(flatten)]
        source: ModelSource,
        /// One .npy per model input, in the model's input order (repeat the option).
        #[arg(long = "input", value_name = "X.npy", required_unless_present = "text")]
        inputs: Vec<PathBuf>,
        /// For a model whose one input is text: a UTF-8 file, one text per line.
        #[arg(long, value_name = "FILE", conflicts_with = "inputs")]
        text: Option<PathBuf>,
        /// Directory for output_0.npy, output_1.npy, … (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Rows per batch, in corpus mode: rows sorted by length, batches of
        /// similar length on all cores, padding cut where the model ignores it,
        /// outputs in the input's order (a progress bar shows on a terminal).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        batch_size: Option<u64>,
    },
    /// Time predict on .npy inputs; prints one JSON line (median, min, max ms).
    Bench {
        #[command(flatten)]
        source: ModelSource,
        /// One .npy per model input, in the model's input order.
        #[arg(long = "input", value_name = "X.npy", required = true)]
        inputs: Vec<PathBuf>,
        /// Timed runs.
        #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..))]
        iters: u64,
        /// Untimed runs before timing.
        #[arg(long, default_value_t = 2)]
        warmup: u64,
        /// Threads (default: all cores).
        #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
        threads: Option<u64>,
        /// Time corpus mode instead: all rows, N at a time, as `predict
        /// --batch-size N` runs them; reports rows per second.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        batch_size: Option<u64>,
    },
    /// Print Keras' summary table of a model.
    Summary {
        #[command(flatten)]
        source: ModelSource,
        /// Total width of the table, as Keras' `summary(line_length=N)`
        /// (default: Keras' 108, or 88 for a chain of layers, at most the
        /// terminal's width minus 4 as in Keras: `COLUMNS`, else the
        /// terminal's, else 80).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(20..))]
        line_length: Option<u16>,
        /// Also list the layers of nested models (Keras' `expand_nested=True`).
        #[arg(long)]
        expand_nested: bool,
        /// Add a Trainable column (Keras' `show_trainable=True`).
        #[arg(long)]
        show_trainable: bool,
    },
    /// Draw a model as SVG (drawn in Rust) or Graphviz DOT.
    Plot {
        #[command(flatten)]
        source: ModelSource,
        /// The picture: FILE.svg or FILE.dot.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        /// Draw nested models as one box instead of a cluster of their layers.
        #[arg(long)]
        collapse_nested: bool,
    },
    /// Save a model in tensorweave's native format (OUT.json + OUT.safetensors).
    Convert {
        #[command(flatten)]
        source: ModelSource,
        /// The output: OUT.json (OUT.safetensors is written beside it).
        #[arg(short = 'o', long = "output", value_name = "OUT.json")]
        output: PathBuf,
    },
}

/// Prints one line on stderr.
fn fail(message: &str, code: u8) -> ExitCode {
    let line = message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("tensorweave: error: {}", bounded(&line));
    ExitCode::from(code)
}

/// Exit code of a finished command: 0, or 1 with its one-line error.
fn finish(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e, 1),
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if matches!(
                e.kind(),
                ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
            ) {
                return fail(
                    "a subcommand is required: predict, bench, summary, plot or convert (see 'tensorweave --help')",
                    2,
                );
            }
            // clap's message, up to its usage block, as one line.
            let rendered = e.to_string();
            let first = rendered
                .lines()
                .take_while(|l| !l.starts_with("Usage:"))
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            let first = first.trim_start_matches("error: ");
            return fail(&format!("{first} (see 'tensorweave --help')"), 2);
        }
    };
    match cli.command {
        Command::Predict {
            source,
            inputs,
            text,
            out,
            batch_size,
        } => {
            let args = predict::PredictArgs {
                model: source.model,
                weights: source.weights,
                inputs,
                text,
                out,
                batch_size: batch_size.and_then(|b| usize::try_from(b).ok()),
                budget: source.max_memory,
            };
            match predict::run(&args) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => fail(&e, 1),
            }
        }
        Command::Bench {
            source,
            inputs,
            iters,
            warmup,
            threads,
            batch_size,
        } => {
            let args = bench::BenchArgs {
                model: source.model,
                weights: source.weights,
                inputs,
                iters: usize::try_from(iters).unwrap_or(usize::MAX),
                warmup: usize::try_from(warmup).unwrap_or(usize::MAX),
                threads: threads.and_then(|t| usize::try_from(t).ok()),
                batch_size: batch_size.and_then(|b| usize::try_from(b).ok()),
                budget: source.max_memory,
            };
            finish(bench::run(&args).map(|line| println!("{line}")))
        }
        Command::Summary {
            source,
            line_length,
            expand_nested,
            show_trainable,
        } => {
            let options = SummaryOptions {
                line_length: line_length.map(usize::from),
                terminal_width: Some(terminal_columns()),
                expand_nested,
                show_trainable,
                ..SummaryOptions::default()
            };
            finish(
                inspect::summary(
                    &source.model,
                    source.weights(),
                    &options,
                    &source.max_memory,
                )
                .map(|table| println!("{table}")),
            )
        }
        Command::Plot {
            source,
            output,
            collapse_nested,
        } => finish(inspect::plot(
            &source.model,
            source.weights(),
            &output,
            !collapse_nested,
            &source.max_memory,
        )),
        Command::Convert { source, output } => finish(
            inspect::convert(&source.model, source.weights(), &output, &source.max_memory)
                .map(|(json, st)| eprintln!("wrote {} and {}", json.display(), st.display())),
        ),
    }
}

/// Python's `shutil.get_terminal_size().columns`, which Keras' summary reads:
/// `COLUMNS` when it is a positive integer, else the width of the terminal on
/// stdout, else 80.
fn terminal_columns() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&c| c > 0)
        .or_else(|| {
            console::Term::stdout()
                .size_checked()
                .map(|(_, cols)| usize::from(cols))
                .filter(|&c| c > 0)
        })
        .unwrap_or(80)
}
