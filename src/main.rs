//! The `hoist` binary: command-line parsing, progress and error rendering.
//! It holds no build logic; that lives in the hoist-frontend, hoist-builder
//! and hoist-snapshotter crates.
//!
//! - [`commands`]: one module per subcommand.
//! - [`render`]: how errors and Dockerfile diagnostics look on stderr.
//! - [`progress`]: renderers of the builder's progress events.
//! - [`failure`]: failures and their exit codes (0 ok, 1 failed, 2 usage, 130 interrupted).

mod commands;
mod failure;
mod interrupt;
mod progress;
mod render;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A daemonless container image builder.
#[derive(Parser)]
#[command(name = "hoist", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Print a Dockerfile's parse tree
    Parse(commands::parse::ParseArgs),
    /// List the stages a Dockerfile can build
    Targets(commands::outline::TargetsArgs),
    /// Show the build args, secrets and SSH ids a target uses
    Outline(commands::outline::OutlineArgs),
    /// Print the build graph of a target (JSON or Graphviz DOT)
    Graph(commands::graph::GraphArgs),
}

fn main() -> ExitCode {
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(hoist_builder::exec::INIT_ARG))
    {
        hoist_builder::exec::init_main();
    }
    let cli = Cli::parse();
    interrupt::install();
    let result = match &cli.command {
        Commands::Parse(args) => commands::parse::run(args),
        Commands::Targets(args) => commands::outline::run_targets(args),
        Commands::Outline(args) => commands::outline::run_outline(args),
        Commands::Graph(args) => commands::graph::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprint!("{}", failure.render(render::Style::for_stderr()));
            failure.exit_code()
        }
    }
}
