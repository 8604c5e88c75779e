//! The local image store commands: `hoist images`, `hoist rm`, `hoist tag`,
//! `hoist inspect`. The store itself is `hoist_builder::store`.

use std::path::PathBuf;

use hoist_builder::root::DataRoot;
use hoist_builder::store::{ImageStore, familiar_name};

use crate::failure::Failure;

/// The data root flag every store command takes.
#[derive(clap::Args, Debug, Clone)]
pub struct RootArg {
    /// Data root (images, cache)
    #[arg(long, env = "HOIST_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
}

impl RootArg {
    /// Opens the data root: `--root`, `HOIST_ROOT`, or the default for this user.
    pub fn open(&self) -> Result<DataRoot, Failure> {
        let path = super::resolve_root(self.root.as_deref(), &|k| std::env::var(k).ok());
        DataRoot::open(path).map_err(Failure::other)
    }

    pub fn store(&self) -> Result<ImageStore, Failure> {
        ImageStore::open(&self.open()?).map_err(Failure::other)
    }
}

#[derive(clap::Args, Debug)]
pub struct ImagesArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Only print image ids
    #[arg(short, long)]
    pub quiet: bool,
    /// Output format: table or json
    #[arg(long, default_value = "table")]
    pub format: String,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Image names or ids
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct TagArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// The image (name or id)
    pub source: String,
    /// The new name
    pub target: String,
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// The image (name or id)
    pub image: String,
}

/// One row of `hoist images`.
#[derive(serde::Serialize)]
struct ImageRow {
    repository: String,
    tag: String,
    id: String,
    digest: String,
    created: Option<String>,
    size: u64,
}

pub fn run_images(args: &ImagesArgs) -> Result<(), Failure> {
    let store = args.root.store()?;
    let mut rows = Vec::new();
    for entry in store.list().map_err(Failure::other)? {
        let details = match store.details(&entry.descriptor) {
            Ok(d) => d,
            Err(e) => {
                eprintln!("warning: skipping a damaged image entry: {e}");
                continue;
            }
        };
        let (repository, tag) = match &entry.name {
            Some(n) => {
                let short = familiar_name(n);
                match short.rsplit_once(':').filter(|(_, t)| !t.contains('/')) {
                    Some((r, t)) => (r.to_string(), t.to_string()),
                    None => (short, String::new()),
                }
            }
            None => ("<none>".to_string(), "<none>".to_string()),
        };
        rows.push(ImageRow {
            repository,
            tag,
            id: details.id().to_string(),
            digest: entry.descriptor.digest.to_string(),
            created: details.config.created.clone(),
            size: details.size(),
        });
    }
    let text = if args.format == "json" {
        let mut s = serde_json::to_string_pretty(&rows).map_err(Failure::other)?;
        s.push('\n');
        s
    } else if args.quiet {
        rows.iter()
            .map(|r| format!("{}\n", &r.id["sha256:".len()..][..12]))
            .collect()
    } else if args.format == "table" {
        let mut lines = vec![[
            "REPOSITORY".to_string(),
            "TAG".to_string(),
            "IMAGE ID".to_string(),
            "CREATED".to_string(),
            "SIZE".to_string(),
        ]];
        for r in &rows {
            lines.push([
                r.repository.clone(),
                r.tag.clone(),
                r.id["sha256:".len()..][..12].to_string(),
                r.created.as_deref().map_or("N/A".to_string(), ago),
                human_size(r.size),
            ]);
        }
        let widths: Vec<usize> = (0..5)
            .map(|c| lines.iter().map(|l| l[c].len()).max().unwrap_or(0))
            .collect();
        lines
            .iter()
            .map(|l| {
                let mut s = String::new();
                for c in 0..4 {
                    s.push_str(&format!("{:<w$}   ", l[c], w = widths[c]));
                }
                s.push_str(&l[4]);
                s.push('\n');
                s
            })
            .collect()
    } else {
        return Err(Failure::Usage(format!(
            "unknown --format {:?}: expected table or json",
            args.format
        )));
    };
    super::print_stdout(&text)
}

/// `2024-01-01T00:00:00Z` → `3 days ago`.
fn ago(created: &str) -> String {
    let Some(secs) = hoist_builder::image::history::age_seconds(created) else {
        return created.to_string();
    };
    let (n, unit) = match secs {
        s if s < 60 => (s, "second"),
        s if s < 3600 => (s / 60, "minute"),
        s if s < 86400 => (s / 3600, "hour"),
        s if s < 86400 * 30 => (s / 86400, "day"),
        s if s < 86400 * 365 => (s / (86400 * 30), "month"),
        s => (s / (86400 * 365), "year"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

/// Sizes like Docker shows them (decimal units).
pub fn human_size(bytes: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1000.0 && u < units.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes}B")
    } else {
        format!("{v:.3}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string()
            + units[u]
    }
}

pub fn run_rm(args: &RmArgs) -> Result<(), Failure> {
    let store = args.root.store()?;
    let mut failed = None;
    for name in &args.images {
        match store.remove(name) {
            Ok(removed) => {
                for r in removed {
                    super::print_stdout(&format!("Untagged: {}\n", familiar_name(&r)))?;
                }
            }
            Err(e) => {
                eprintln!("Error: {e}");
                failed = Some(e);
            }
        }
    }
    match failed {
        Some(e) => Err(Failure::other(e)),
        None => Ok(()),
    }
}

pub fn run_tag(args: &TagArgs) -> Result<(), Failure> {
    let store = args.root.store()?;
    let entry = store.lookup(&args.source).map_err(Failure::other)?;
    let mut descriptor = entry.descriptor;
    descriptor.annotations.clear();
    store
        .tag(&descriptor, std::slice::from_ref(&args.target))
        .map_err(Failure::other)
}

pub fn run_inspect(args: &InspectArgs) -> Result<(), Failure> {
    let store = args.root.store()?;
    let entry = store.lookup(&args.image).map_err(Failure::other)?;
    let details = store.details(&entry.descriptor).map_err(Failure::other)?;
    let config: serde_json::Value =
        serde_json::from_slice(&details.config_bytes).map_err(Failure::other)?;
    let value = serde_json::json!({
        "Name": entry.name,
        "Id": details.id().to_string(),
        "Digest": details.descriptor.digest.to_string(),
        "Size": details.size(),
        "Manifest": details.manifest,
        "Config": config,
    });
    let mut text = serde_json::to_string_pretty(&value).map_err(Failure::other)?;
    text.push('\n');
    super::print_stdout(&text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_size_uses_decimal_units_like_docker() {
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_260_000), "4.26MB");
        assert_eq!(human_size(1_000_000), "1MB");
    }
}
