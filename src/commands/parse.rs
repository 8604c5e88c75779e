//! `hoist parse`: print a Dockerfile's parse tree, in BuildKit's dump
//! format (the format of its conformance `result` files) or as JSON.

use clap::{Args, ValueEnum};

use super::dockerfile::DockerfileArg;
use super::print_stdout;
use crate::failure::Failure;

/// Arguments of `hoist parse`.
#[derive(Debug, Args)]
pub struct ParseArgs {
    #[command(flatten)]
    pub dockerfile: DockerfileArg,
    /// Output format
    #[arg(long, value_enum, default_value_t = ParseFormat::Dump)]
    pub format: ParseFormat,
}

/// What `hoist parse` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ParseFormat {
    /// One `(keyword [flags] "arg"...)` line per instruction
    Dump,
    /// A JSON document with directives and instructions
    Json,
}

pub fn run(args: &ParseArgs) -> Result<(), Failure> {
    let (_, parsed) = args.dockerfile.load()?;
    let mut text = match args.format {
        ParseFormat::Dump => parsed.dump(),
        ParseFormat::Json => {
            serde_json::to_string_pretty(&parsed.to_json()).map_err(Failure::other)?
        }
    };
    if !text.is_empty() {
        text.push('\n');
    }
    print_stdout(&text)
}
