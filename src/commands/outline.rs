//! `hoist targets` and `hoist outline`: what a Dockerfile offers and what
//! building one target needs, printed like `docker buildx build
//! --call=targets` / `--call=outline`, or as JSON.

use clap::{Args, ValueEnum};
use hoist_frontend::convert::{self, ConvertOptions, Outline, TargetInfo};

use super::dockerfile::DockerfileArg;
use super::{parse_build_args, print_stdout};
use crate::failure::Failure;
use crate::render::table::table;

/// Text or JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// Aligned tables
    Text,
    /// A JSON document
    Json,
}

/// Arguments of `hoist targets`.
#[derive(Debug, Args)]
pub struct TargetsArgs {
    #[command(flatten)]
    pub dockerfile: DockerfileArg,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

/// Arguments of `hoist outline`.
#[derive(Debug, Args)]
pub struct OutlineArgs {
    #[command(flatten)]
    pub dockerfile: DockerfileArg,
    /// The stage to outline (default: the last one)
    #[arg(long)]
    pub target: Option<String>,
    /// Build-time variable `KEY=VALUE`, or `KEY` to take it from the environment
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,
    /// Output format
    #[arg(long, value_enum, default_value_t = ListFormat::Text)]
    pub format: ListFormat,
}

pub fn run_targets(args: &TargetsArgs) -> Result<(), Failure> {
    let (source, parsed) = args.dockerfile.load()?;
    let targets = convert::targets(&parsed, &source.text).map_err(|d| source.failure(d))?;
    let text = match args.format {
        ListFormat::Text => targets_text(&targets),
        ListFormat::Json => json(&targets)?,
    };
    print_stdout(&text)
}

pub fn run_outline(args: &OutlineArgs) -> Result<(), Failure> {
    let env = |name: &str| std::env::var(name).ok();
    let opts = ConvertOptions {
        target: args.target.clone(),
        build_args: parse_build_args(&args.build_args, &env)?,
        ..ConvertOptions::default()
    };
    let (source, parsed) = args.dockerfile.load()?;
    let outline = convert::outline(&parsed, &source.text, &opts).map_err(|d| source.failure(d))?;
    let text = match args.format {
        ListFormat::Text => outline_text(&outline),
        ListFormat::Json => json(&outline)?,
    };
    print_stdout(&text)
}

fn json(value: &impl serde::Serialize) -> Result<String, Failure> {
    let mut text = serde_json::to_string_pretty(value).map_err(Failure::other)?;
    text.push('\n');
    Ok(text)
}

/// `TARGET  DESCRIPTION` rows for the named stages and the default one
/// (`NAME (default)`; an unnamed default stage shows as `(default)`).
pub fn targets_text(targets: &[TargetInfo]) -> String {
    let mut rows = vec![vec!["TARGET".to_string(), "DESCRIPTION".to_string()]];
    for t in targets {
        let name = match (&t.name, t.default) {
            (Some(n), true) => format!("{n} (default)"),
            (Some(n), false) => n.clone(),
            (None, true) => "(default)".to_string(),
            (None, false) => continue,
        };
        rows.push(vec![name, t.description.clone()]);
    }
    table(&rows)
}

/// The target's name and description, then tables of build args, secrets
/// and SSH ids (each only when there is one).
pub fn outline_text(outline: &Outline) -> String {
    let mut out = String::new();
    if let Some(name) = &outline.name {
        out.push_str(&format!("TARGET:      {name}\n"));
    }
    if !outline.description.is_empty() {
        out.push_str(&format!("DESCRIPTION: {}\n", outline.description));
    }
    let mut section = |rows: Vec<Vec<String>>| {
        if rows.len() > 1 {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&table(&rows));
        }
    };
    let mut args = vec![vec![
        "BUILD ARG".into(),
        "VALUE".into(),
        "DESCRIPTION".into(),
    ]];
    for a in &outline.args {
        let value = a.value.clone().unwrap_or_default();
        args.push(vec![a.name.clone(), value, a.description.clone()]);
    }
    section(args);
    let mut secrets = vec![vec!["SECRET".into(), "REQUIRED".into()]];
    for s in &outline.secrets {
        secrets.push(vec![s.id.clone(), required(s.required)]);
    }
    section(secrets);
    let mut ssh = vec![vec!["SSH".into(), "REQUIRED".into()]];
    for s in &outline.ssh {
        ssh.push(vec![s.id.clone(), required(s.required)]);
    }
    section(ssh);
    out
}

fn required(yes: bool) -> String {
    if yes { "true" } else { "false" }.to_string()
}
