//! The `tensorweave` command.
//!
//! `tensorweave predict MODEL [--weights FILE] --input X.npy [--input X2.npy ...] --out DIR [--batch-size N]`
//! runs a model (a Keras `.keras` archive, a Keras `to_json` file with
//! `--weights`, or a tensorweave model `.json` with its `.safetensors`) on
//! `.npy` inputs and writes `DIR/output_0.npy`, … (float32) in output order.
//! Any failure prints one line on stderr and exits non-zero.

mod npy;
mod predict;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Keras-compatible model runner.
#[derive(Parser)]
#[command(name = "tensorweave", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a model on .npy inputs and write its outputs as .npy files.
    Predict {
        /// The model: NAME.keras, a Keras to_json NAME.json (with --weights), or a
        /// tensorweave NAME.json with NAME.safetensors beside it.
        model: PathBuf,
        /// Weights file: a Keras .weights.h5, or an .npz in get_weights() order.
        #[arg(long, value_name = "FILE")]
        weights: Option<PathBuf>,
        /// One .npy per model input, in the model's input order (repeat the option).
        #[arg(long = "input", value_name = "X.npy", required = true)]
        inputs: Vec<PathBuf>,
        /// Directory for output_0.npy, output_1.npy, … (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Rows per batch (a progress bar shows on a terminal).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        batch_size: Option<u64>,
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
    eprintln!("tensorweave: error: {line}");
    ExitCode::from(code)
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
                    "a subcommand is required: predict (see 'tensorweave --help')",
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
            model,
            weights,
            inputs,
            out,
            batch_size,
        } => {
            let args = predict::PredictArgs {
                model,
                weights,
                inputs,
                out,
                batch_size: batch_size.and_then(|b| usize::try_from(b).ok()),
            };
            match predict::run(&args) {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => fail(&e, 1),
            }
        }
    }
}
