//! The local build context: walking it, `.dockerignore` with Docker's semantics, selecting
//! COPY/ADD sources, and content checksums with a persistent stat cache.
//!
//! - [`dockerignore`]: reading ignore files ([`IgnoreFile::load`], [`Patterns::parse`]) and
//!   evaluating the rule list; [`pattern`]: one rule, Docker's glob dialect over `regex`.
//! - [`walk`]: the listing of the context minus ignored entries.
//! - [`select`](Context::select): a COPY/ADD source → the entries it selects.
//! - [`checksum`](Context::checksum): those entries → `sha256:<hex>`.
//! - [`stat_cache`]: file hashes reused across runs while `lstat` says nothing changed.
//!
//! A [`Context`] is a snapshot: the walk happens once in [`Context::open`]; selections and
//! checksums work on that listing. The Dockerfile and the ignore file are read by the
//! builder directly (they are always readable); if `.dockerignore` lists them they are
//! only kept out of COPY, as in Docker.
//!
//! ```no_run
//! use hoist_builder::source::local::{ChecksumOptions, Context, IgnoreFile, SelectOptions};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root = std::path::Path::new("app");
//! let patterns = IgnoreFile::load(root, &root.join("Dockerfile"))?;
//! let ctx = Context::open(root, patterns, Some(std::path::Path::new("/var/cache/hoist")))?;
//! let selection = ctx.select("src/", &SelectOptions::default())?;
//! let digest = ctx.checksum(&selection, &ChecksumOptions::default())?;
//! ctx.save_cache()?;
//! # let _ = digest; Ok(()) }
//! ```

pub mod checksum;
pub mod dockerignore;
pub mod pattern;
pub mod select;
pub mod stat_cache;
pub mod walk;

#[cfg(test)]
mod context_tests;
#[cfg(test)]
mod golden_tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

pub use dockerignore::{IgnoreError, IgnoreFile, Patterns};
pub use pattern::InvalidPattern;

use stat_cache::{StatCache, StatIdentity};

/// Errors of the local context; each names the path or source it is about.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("build context root {path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("{path}: file name is not valid UTF-8")]
    NonUtf8Name { path: PathBuf },
    #[error("\"{path}\": not found")]
    NotFound { path: String },
    #[error("no source files were specified: \"{pattern}\" matched nothing")]
    NoSourceFiles { pattern: String },
    #[error("\"{path}\": outside the build context")]
    EscapesContext { path: String },
    #[error("\"{path}\": its parent \"{symlink}\" is a symlink, which COPY does not follow")]
    ThroughSymlink { path: String, symlink: String },
    #[error("invalid source pattern \"{pattern}\": {reason}")]
    InvalidSource { pattern: String, reason: String },
    #[error("stat cache {path}: {source}")]
    Cache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What an entry is. Symlinks are never followed; `target` is what the link says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink {
        target: PathBuf,
    },
    /// A fifo, socket or device: `file_type` is the `S_IFMT` bits, `rdev` the device.
    Other {
        file_type: u32,
        rdev: u64,
    },
}

/// One listed path of the context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Slash-separated, relative to the context root, no `./` prefix.
    pub rel_path: String,
    pub kind: EntryKind,
    /// Permission bits plus setuid, setgid and sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Size in bytes (`st_size`).
    pub size: u64,
    /// What the stat cache keys on; not part of any checksum.
    pub(crate) stat: StatIdentity,
}

/// What a COPY/ADD source selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The source as given.
    pub source: String,
    /// The matched paths (`.` for the whole context); several for a wildcard.
    pub roots: Vec<String>,
    /// Each root's entry followed by its descendants (for directories), in listing order.
    /// For `.` the whole listing.
    pub entries: Vec<Entry>,
}

/// Options of [`Context::select`].
#[derive(Debug, Clone, Default)]
pub struct SelectOptions {
    /// `COPY --exclude` rules, matched relative to each selected root directory.
    pub exclude: Option<Patterns>,
}

/// Options of [`Context::checksum`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ChecksumOptions {
    /// Leave mode bits out (COPY `--chmod` overrides them anyway).
    pub ignore_mode: bool,
}

/// A walked build context with its ignore rules and stat cache.
#[derive(Debug)]
pub struct Context {
    root: PathBuf,
    patterns: Patterns,
    entries: Vec<Entry>,
    index: HashMap<String, usize>,
    cache: Mutex<StatCache>,
    cache_file: Option<PathBuf>,
    files_hashed: AtomicU64,
}

impl Context {
    /// Walks the context at `root` minus what `patterns` exclude, and loads the stat cache
    /// for this root from `cache_dir` (none: hashes live only as long as this value).
    pub fn open(
        root: &Path,
        patterns: Patterns,
        cache_dir: Option<&Path>,
    ) -> Result<Context, ContextError> {
        let root = root.canonicalize().map_err(|source| ContextError::Io {
            path: root.to_path_buf(),
            source,
        })?;
        if !root.is_dir() {
            return Err(ContextError::NotADirectory { path: root });
        }
        let entries = walk::list_context(&root, &patterns)?;
        let index = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.rel_path.clone(), i))
            .collect();
        let cache_file = cache_dir.map(|dir| StatCache::file_for(dir, &root));
        let cache = match &cache_file {
            Some(file) => StatCache::load(file).map_err(|source| ContextError::Cache {
                path: file.clone(),
                source,
            })?,
            None => StatCache::default(),
        };
        Ok(Context {
            root,
            patterns,
            entries,
            index,
            cache: Mutex::new(cache),
            cache_file,
            files_hashed: AtomicU64::new(0),
        })
    }

    /// The canonical context root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The ignore rules in force.
    pub fn patterns(&self) -> &Patterns {
        &self.patterns
    }

    /// Every listed entry, in listing order (depth first, siblings by name).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// The listed entry at a context-relative path.
    pub fn entry(&self, rel_path: &str) -> Option<&Entry> {
        self.index.get(rel_path).map(|&i| &self.entries[i])
    }

    /// How many files had their content read and hashed so far (the rest came from the
    /// stat cache). For progress output and to check the cache works.
    pub fn files_hashed(&self) -> u64 {
        self.files_hashed.load(Ordering::Relaxed)
    }

    /// Persists the stat cache (if a cache directory was given and anything changed),
    /// dropping records of files no longer in the context.
    pub fn save_cache(&self) -> Result<(), ContextError> {
        let Some(file) = &self.cache_file else {
            return Ok(());
        };
        let mut cache = self.lock_cache();
        cache.retain(|path| {
            self.index
                .get(path)
                .is_some_and(|&i| self.entries[i].kind == EntryKind::File)
        });
        cache.save(file).map_err(|source| ContextError::Cache {
            path: file.clone(),
            source,
        })
    }

    fn lock_cache(&self) -> MutexGuard<'_, StatCache> {
        // A panic while holding the lock leaves a consistent map: keep using it.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}
