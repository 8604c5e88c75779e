//! `hoist graph`: the build graph of a target, as JSON (the serde form of
//! [`hoist_frontend::graph::BuildGraph`]) or Graphviz DOT. Base images are
//! not resolved (their configs are empty), so nothing touches the network.

use clap::{Args, ValueEnum};
use hoist_frontend::convert::{self, ConvertOptions, NoResolver};

use super::dockerfile::DockerfileArg;
use super::{UsageError, parse_build_args, parse_platforms, print_stdout};
use crate::failure::Failure;

/// What `hoist graph` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// The graph's JSON form
    Json,
    /// Graphviz DOT
    Dot,
}

/// Arguments of `hoist graph`.
#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub dockerfile: DockerfileArg,
    /// The stage to build (default: the last one)
    #[arg(long)]
    pub target: Option<String>,
    /// Build-time variable `KEY=VALUE`, or `KEY` to take it from the environment
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,
    /// The target platform (one; default: linux on the host's architecture)
    #[arg(long = "platform", value_name = "PLATFORM")]
    pub platform: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = GraphFormat::Json)]
    pub format: GraphFormat,
}

pub fn run(args: &GraphArgs) -> Result<(), Failure> {
    let env = |name: &str| std::env::var(name).ok();
    let mut opts = ConvertOptions {
        target: args.target.clone(),
        build_args: parse_build_args(&args.build_args, &env)?,
        ..ConvertOptions::default()
    };
    match parse_platforms(&args.platform)?.as_slice() {
        [] => {}
        [one] => opts.target_platform = one.clone(),
        _ => return Err(UsageError("hoist graph takes one --platform".into()).into()),
    }
    let (source, parsed) = args.dockerfile.load()?;
    let graph = convert::convert(&parsed, &source.text, &opts, &NoResolver)
        .map_err(|d| source.failure(d))?;
    let mut text = match args.format {
        GraphFormat::Json => serde_json::to_string_pretty(&graph).map_err(Failure::other)?,
        GraphFormat::Dot => graph.to_dot(),
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    print_stdout(&text)
}
