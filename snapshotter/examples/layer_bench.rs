//! A command-line driver of the snapshotter's layer code, for `bench/run`
//! (issue #7): it lets hyperfine time hoist's own layer unpacking and layer
//! creation on the same data, in the same run, as `tar -x`, `tar -c | gzip`,
//! `tar -c | pigz` and `tar -c | zstd -T0`.
//!
//! ```text
//! layer_bench apply LAYER DEST [--overlay]
//!     applies the layer file LAYER (tar, tar+gzip or tar+zstd, sniffed) onto
//!     the directory DEST (created if missing) with `apply_layer`; --overlay
//!     uses the overlay whiteout mode, as the overlay snapshotter does
//! layer_bench write DIR STORE gzip|zstd|none [LEVEL]
//!     turns DIR (read as an overlay upper dir, i.e. every entry is new) into
//!     a compressed layer blob in the content store at STORE with `write_layer`
//! ```
//!
//! Each command prints one line of JSON: what was done and its wall time.

use std::fs::File;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::layer::apply::{ApplyOptions, WhiteoutMode, apply_layer};
use hoist_snapshotter::layer::compress::{Encoding, write_layer};
use hoist_snapshotter::layer::compression::open_layer;
use hoist_snapshotter::layer::diff::{DiffOptions, DiffSource};

const USAGE: &str = "usage: layer_bench apply LAYER DEST [--overlay]\n       \
                     layer_bench write DIR STORE gzip|zstd|none [LEVEL]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("apply") if args.len() == 3 || (args.len() == 4 && args[3] == "--overlay") => {
            apply(&args[1], &args[2], args.len() == 4)
        }
        Some("write") if args.len() == 4 || args.len() == 5 => write(
            &args[1],
            &args[2],
            &args[3],
            args.get(4).map(String::as_str),
        ),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("layer_bench: {message}");
            ExitCode::FAILURE
        }
    }
}

fn apply(layer: &str, dest: &str, overlay: bool) -> Result<String, String> {
    let start = Instant::now();
    std::fs::create_dir_all(dest).map_err(|e| format!("create {dest}: {e}"))?;
    let file = File::open(layer).map_err(|e| format!("open {layer}: {e}"))?;
    let (codec, tar) = open_layer(file).map_err(|e| format!("read {layer}: {e}"))?;
    let opts = ApplyOptions {
        whiteouts: if overlay {
            WhiteoutMode::Overlay
        } else {
            WhiteoutMode::Remove
        },
        ..ApplyOptions::default()
    };
    let stats = apply_layer(tar, &PathBuf::from(dest), &opts).map_err(|e| e.to_string())?;
    Ok(format!(
        r#"{{"op":"apply","codec":"{codec}","entries":{},"files":{},"bytes":{},"secs":{:.3}}}"#,
        stats.entries,
        stats.files,
        stats.bytes,
        start.elapsed().as_secs_f64()
    ))
}

fn write(dir: &str, store: &str, codec: &str, level: Option<&str>) -> Result<String, String> {
    let level = level
        .map(|l| l.parse::<i32>().map_err(|_| format!("bad level {l}")))
        .transpose()?;
    let encoding = match codec {
        "gzip" => Encoding::gzip(level.unwrap_or(6).clamp(0, 9) as u32),
        "zstd" => Encoding::zstd(level.unwrap_or(3)),
        "none" => Encoding::none(),
        other => return Err(format!("unknown codec {other}\n{USAGE}")),
    };
    let start = Instant::now();
    let store = ContentStore::open(store).map_err(|e| e.to_string())?;
    let source = DiffSource::OverlayUpper(PathBuf::from(dir));
    let blob = write_layer(&source, &DiffOptions::default(), encoding, &store)
        .map_err(|e| e.to_string())?;
    Ok(format!(
        r#"{{"op":"write","codec":"{codec}","level":{},"size":{},"digest":"{}","diff_id":"{}","secs":{:.3}}}"#,
        encoding.level,
        blob.size,
        blob.digest,
        blob.diff_id,
        start.elapsed().as_secs_f64()
    ))
}
