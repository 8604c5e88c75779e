//! One module per `hoist` subcommand, plus what several share: reading and
//! parsing the Dockerfile ([`dockerfile`]) and writing to stdout.

pub mod binfmt;
pub mod build;
pub mod build_run;
pub mod cache_flags;
pub mod dockerfile;
pub mod graph;
pub mod image_io;
pub mod images;
pub mod outline;
pub mod parse;
pub mod prune;
pub mod push;

use std::collections::BTreeMap;
use std::io::Write;

use hoist_frontend::graph::Platform;

use crate::failure::Failure;

/// A flag value a command cannot use (exit code 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

impl UsageError {
    pub fn from_display(e: impl std::fmt::Display) -> UsageError {
        UsageError(e.to_string())
    }
}

impl From<UsageError> for Failure {
    fn from(e: UsageError) -> Failure {
        Failure::Usage(e.0)
    }
}

/// `--build-arg` values: `KEY=VALUE`, or `KEY` alone to take the value of
/// the environment variable `KEY` (skipped when unset), like buildx.
pub fn parse_build_args(
    values: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, UsageError> {
    let mut args = BTreeMap::new();
    for arg in values {
        match arg.split_once('=') {
            Some(("", _)) => {
                return Err(UsageError(format!(
                    "invalid --build-arg {arg:?}: empty name"
                )));
            }
            Some((k, v)) => {
                args.insert(k.to_string(), v.to_string());
            }
            None => {
                if let Some(v) = env(arg) {
                    args.insert(arg.clone(), v);
                }
            }
        }
    }
    Ok(args)
}

/// `--platform` values: comma-separated and repeatable, `local` = the host;
/// duplicates dropped, order kept.
pub fn parse_platforms(values: &[String]) -> Result<Vec<Platform>, UsageError> {
    let mut platforms: Vec<Platform> = Vec::new();
    for value in values.iter().flat_map(|v| v.split(',')) {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        let platform = if value == "local" {
            Platform::host()
        } else {
            value
                .parse::<Platform>()
                .map_err(|e| UsageError(format!("invalid --platform: {e}")))?
        };
        if !platforms.contains(&platform) {
            platforms.push(platform);
        }
    }
    Ok(platforms)
}

/// Writes `text` to stdout. A closed pipe (`hoist parse | head`) is not an error.
pub fn print_stdout(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::other(e)),
        _ => Ok(()),
    }
}

/// The data root: `explicit` (`--root`, which clap also fills from
/// `HOIST_ROOT`), or the default for this user. `env` looks up environment
/// variables.
pub fn resolve_root(
    explicit: Option<&std::path::Path>,
    env: &dyn Fn(&str) -> Option<String>,
) -> std::path::PathBuf {
    if let Some(root) = explicit {
        return root.to_path_buf();
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let is_root = unsafe { libc::geteuid() == 0 };
    let xdg = env("XDG_DATA_HOME").map(std::path::PathBuf::from);
    let home = env("HOME").map(std::path::PathBuf::from);
    hoist_builder::root::default_root(is_root, xdg.as_deref(), home.as_deref())
}
