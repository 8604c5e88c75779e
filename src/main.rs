//! The `hoist` binary: command-line parsing, progress and error rendering.
//! It holds no build logic; that lives in the hoist-frontend, hoist-builder
//! and hoist-snapshotter crates.

use clap::Parser;

/// A daemonless container image builder.
#[derive(Parser)]
#[command(name = "hoist", version, about)]
struct Cli {}

fn main() {
    if std::env::args_os().nth(1).as_deref()
        == Some(std::ffi::OsStr::new(hoist_builder::exec::INIT_ARG))
    {
        hoist_builder::exec::init_main();
    }
    let _cli = Cli::parse();
}
