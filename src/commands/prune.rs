//! `hoist prune [--all] [--keep-storage SIZE] [--filter until=DURATION]`:
//! frees build cache while keeping every tagged image (see
//! `hoist_builder::prune`).

use std::time::Duration;

use hoist_builder::prune::{PruneOptions, prune};

use super::images::RootArg;
use crate::failure::Failure;
use crate::progress::human_bytes;

#[derive(clap::Args, Debug)]
pub struct PruneArgs {
    #[command(flatten)]
    pub root: RootArg,
    /// Also remove RUN --mount=type=cache directories
    #[arg(short, long)]
    pub all: bool,
    /// Keep this much build cache (e.g. 10GB, 512MB), removing the oldest first
    #[arg(long = "keep-storage", value_name = "SIZE")]
    pub keep_storage: Option<String>,
    /// Only remove what is older than a duration: until=24h
    #[arg(long = "filter", value_name = "until=DURATION")]
    pub filters: Vec<String>,
}

pub fn run(args: &PruneArgs) -> Result<(), Failure> {
    let mut opts = PruneOptions {
        all: args.all,
        ..PruneOptions::default()
    };
    if let Some(size) = &args.keep_storage {
        opts.keep_storage = Some(parse_size(size).map_err(Failure::Usage)?);
    }
    for f in &args.filters {
        match f.split_once('=') {
            Some(("until", d)) => {
                let ns = hoist_frontend::instructions::duration::parse_go_duration(d)
                    .map_err(|e| Failure::Usage(format!("invalid --filter {f:?}: {e}")))?;
                opts.until = Some(Duration::from_nanos(ns.max(0) as u64));
            }
            _ => {
                return Err(Failure::Usage(format!(
                    "invalid --filter {f:?}: the only filter is until=DURATION (e.g. until=24h)"
                )));
            }
        }
    }
    let root = args.root.open()?;
    let r = prune(&root, &opts).map_err(Failure::other)?;
    println!(
        "Removed {} cache records, {} layers, {} blobs, {} cache mounts",
        r.records, r.layers, r.blobs, r.cache_mounts
    );
    println!("Total reclaimed space: {}", human_bytes(r.bytes));
    Ok(())
}

/// `10GB`, `512mb`, `1.5g`, `4096`: binary multiples, like Docker's.
fn parse_size(s: &str) -> Result<u64, String> {
    let lower = s.trim().to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("invalid size {s:?}: expected a number and a unit like 10GB"))?;
    let mult: u64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        _ => {
            return Err(format!(
                "invalid size {s:?}: unknown unit {unit:?} (use B, KB, MB, GB or TB)"
            ));
        }
    };
    Ok((n * mult as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_use_binary_multiples_and_reject_unknown_units() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("10GB").unwrap(), 10 << 30);
        assert_eq!(parse_size("512mb").unwrap(), 512 << 20);
        assert_eq!(parse_size("1.5k").unwrap(), 1536);
        assert!(parse_size("10 parsecs").is_err());
        assert!(parse_size("GB").is_err());
    }
}
