//! `hoist prune`: frees the space of the build cache while keeping every
//! tagged image intact.
//!
//! Runs with the data root's lock held exclusively, so it waits for running
//! builds (which hold it shared) and no build starts meanwhile. What it may
//! remove, oldest first (by modification time):
//! - cache records, step histories, layer-blob records and download
//!   validators (a step whose record is gone simply runs again);
//! - unpacked layers no remaining cache record refers to (base-image layers
//!   are unpacked again from their blobs when needed);
//! - blobs of the content store that no tagged image and no remaining cache
//!   record needs;
//! - `RUN --mount=type=cache` directories, only with `all`.
//!
//! `until` keeps everything younger than the given age; `keep_storage`
//! stops as soon as the build cache fits in that many bytes.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::digest::Digest;
use hoist_snapshotter::snapshot::SnapshotStore;

use crate::build::result::StepRecord;
use crate::root::DataRoot;
use crate::solver::cache::{Lookup, RecordStore};
use crate::store::ImageStore;
use crate::store::du::dir_size;

/// What to prune.
#[derive(Debug, Clone, Default)]
pub struct PruneOptions {
    /// Also remove cache-mount directories.
    pub all: bool,
    /// Keep anything modified less than this long ago.
    pub until: Option<Duration>,
    /// Stop once the prunable data fits in this many bytes.
    pub keep_storage: Option<u64>,
}

/// What was removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    pub records: usize,
    pub layers: usize,
    pub blobs: usize,
    pub cache_mounts: usize,
    pub bytes: u64,
}

/// A failure while pruning, naming the path.
#[derive(Debug, thiserror::Error)]
#[error("pruning {path}: {message}")]
pub struct PruneError {
    pub path: PathBuf,
    pub message: String,
}

fn err(path: &Path, e: impl std::fmt::Display) -> PruneError {
    PruneError {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

#[derive(Debug)]
enum Kind {
    Record,
    Layer(Digest),
    Blob(Digest),
    CacheMount,
}

#[derive(Debug)]
struct Candidate {
    path: PathBuf,
    kind: Kind,
    size: u64,
    mtime: SystemTime,
}

fn mtime(p: &Path) -> SystemTime {
    fs::symlink_metadata(p)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH)
}

fn files_in(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default()
}

/// Removal bookkeeping: the report, and how much more may go (`None` =
/// no limit) under `keep_storage`.
struct Pruner {
    report: PruneReport,
    budget: Option<u64>,
}

impl Pruner {
    /// Whether more may be removed.
    fn may_remove(&self) -> bool {
        self.budget != Some(0)
    }

    fn removed(&mut self, c: &Candidate) {
        self.report.bytes += c.size;
        if let Some(b) = self.budget.as_mut() {
            *b = b.saturating_sub(c.size);
        }
        match c.kind {
            Kind::Record => self.report.records += 1,
            Kind::Layer(_) => self.report.layers += 1,
            Kind::Blob(_) => self.report.blobs += 1,
            Kind::CacheMount => self.report.cache_mounts += 1,
        }
    }
}

/// Prunes `root` as `opts` says.
pub fn prune(root: &DataRoot, opts: &PruneOptions) -> Result<PruneReport, PruneError> {
    let _lock = root.lock_exclusive().map_err(|e| err(root.path(), e))?;
    let cutoff = opts.until.map(|d| SystemTime::now() - d);
    let old_enough = |p: &Path| cutoff.is_none_or(|c| mtime(p) < c);
    let mut pruner = Pruner {
        report: PruneReport::default(),
        budget: opts.keep_storage.map(|keep| {
            let used = dir_size(&root.path().join("cache"))
                + dir_size(&root.snapshots())
                + dir_size(&root.content());
            used.saturating_sub(keep)
        }),
    };

    // Records first (cache, step history, layer blobs): a step whose record
    // is gone simply runs again.
    let mut records: Vec<Candidate> = Vec::new();
    for dir in [
        root.cache_records(),
        root.step_history(),
        root.layer_records(),
    ] {
        for p in files_in(&dir) {
            if old_enough(&p) {
                let size = dir_size(&p).max(fs::metadata(&p).map_or(0, |m| m.len()));
                records.push(Candidate {
                    mtime: mtime(&p),
                    path: p,
                    kind: Kind::Record,
                    size,
                });
            }
        }
    }
    records.sort_by_key(|c| c.mtime);
    for c in &records {
        if !pruner.may_remove() {
            break;
        }
        remove(&c.path)?;
        pruner.removed(c);
    }

    // What the remaining records and the tagged images still need.
    let store_records =
        RecordStore::open(root.cache_records()).map_err(|e| err(&root.cache_records(), e))?;
    let mut live_layers: HashSet<Digest> = HashSet::new();
    let mut live_blobs: HashSet<Digest> = HashSet::new();
    for name in store_records
        .names()
        .map_err(|e| err(&root.cache_records(), e))?
    {
        if let Lookup::Hit(rec) = store_records.get::<StepRecord>(&name) {
            for l in rec.layers {
                live_layers.insert(l.id.clone());
                if let Some(b) = l.blob {
                    live_blobs.insert(b.digest);
                }
            }
        }
    }
    let images = ImageStore::open(root).map_err(|e| err(&root.images(), e))?;
    live_blobs.extend(
        images
            .referenced_blobs()
            .map_err(|e| err(&root.images(), e))?,
    );

    let snapshots = SnapshotStore::open(root.snapshots()).map_err(|e| err(&root.snapshots(), e))?;
    let content = ContentStore::open(root.content()).map_err(|e| err(&root.content(), e))?;
    let mut rest: Vec<Candidate> = Vec::new();
    for id in snapshots.layers().map_err(|e| err(&root.snapshots(), e))? {
        let path = snapshots.layer_path(&id);
        if !live_layers.contains(&id) && old_enough(&path) {
            rest.push(Candidate {
                size: dir_size(&path),
                mtime: mtime(&path),
                path,
                kind: Kind::Layer(id),
            });
        }
    }
    for d in content.list().map_err(|e| err(&root.content(), e))? {
        let path = content.path(&d);
        if !live_blobs.contains(&d) && old_enough(&path) {
            rest.push(Candidate {
                size: content.size(&d).unwrap_or(0),
                mtime: mtime(&path),
                path,
                kind: Kind::Blob(d),
            });
        }
    }
    if opts.all {
        for p in files_in(&root.cache_mounts()) {
            if p.is_dir() && old_enough(&p) {
                rest.push(Candidate {
                    size: dir_size(&p),
                    mtime: mtime(&p),
                    path: p,
                    kind: Kind::CacheMount,
                });
            }
        }
    }
    rest.sort_by_key(|c| c.mtime);
    for c in &rest {
        if !pruner.may_remove() {
            break;
        }
        match &c.kind {
            Kind::Layer(id) => snapshots.remove_layer(id).map_err(|e| err(&c.path, e))?,
            Kind::Blob(d) => content.delete(d).map_err(|e| err(&c.path, e))?,
            _ => remove(&c.path)?,
        }
        pruner.removed(c);
    }
    Ok(pruner.report)
}

fn remove(path: &Path) -> Result<(), PruneError> {
    let r = match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    };
    r.map_err(|e| err(path, e))
}
