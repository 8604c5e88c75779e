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
    /// Build an image from a Dockerfile (flags of `docker buildx build`)
    Build(Box<commands::build::BuildArgs>),
    /// Print a Dockerfile's parse tree
    Parse(commands::parse::ParseArgs),
    /// List the stages a Dockerfile can build
    Targets(commands::outline::TargetsArgs),
    /// Show the build args, secrets and SSH ids a target uses
    Outline(commands::outline::OutlineArgs),
    /// Print the build graph of a target (JSON or Graphviz DOT)
    Graph(commands::graph::GraphArgs),
    /// List the images in the local store
    Images(commands::images::ImagesArgs),
    /// Remove images from the local store (by name or id)
    Rm(commands::images::RmArgs),
    /// Give an image of the local store another name
    Tag(commands::images::TagArgs),
    /// Show an image's manifest and config
    Inspect(commands::images::InspectArgs),
    /// Write an image of the local store to a docker or OCI archive
    Save(commands::image_io::SaveArgs),
    /// Read images from a docker or OCI archive into the local store
    Load(commands::image_io::LoadArgs),
    /// Show the disk space the data root uses
    Du(commands::image_io::DuArgs),
    /// Push an image of the local store to a registry
    Push(commands::push::PushArgs),
    /// Remove build cache, keeping tagged images
    Prune(commands::prune::PruneArgs),
    /// Show or register (--install) QEMU emulation for foreign-platform RUN steps
    Binfmt(commands::binfmt::BinfmtArgs),
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
        Commands::Build(args) => commands::build_run::run(args),
        Commands::Parse(args) => commands::parse::run(args),
        Commands::Targets(args) => commands::outline::run_targets(args),
        Commands::Outline(args) => commands::outline::run_outline(args),
        Commands::Graph(args) => commands::graph::run(args),
        Commands::Images(args) => commands::images::run_images(args),
        Commands::Rm(args) => commands::images::run_rm(args),
        Commands::Tag(args) => commands::images::run_tag(args),
        Commands::Inspect(args) => commands::images::run_inspect(args),
        Commands::Save(args) => commands::image_io::run_save(args),
        Commands::Load(args) => commands::image_io::run_load(args),
        Commands::Du(args) => commands::image_io::run_du(args),
        Commands::Push(args) => commands::push::run(args),
        Commands::Prune(args) => commands::prune::run(args),
        Commands::Binfmt(args) => commands::binfmt::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprint!("{}", failure.render(render::Style::for_stderr()));
            failure.exit_code()
        }
    }
}
