//! The data root: where one hoist installation keeps its state, and how it
//! is laid out. Every persistent thing hoist writes lives below it:
//!
//! ```text
//! content/          blobs by digest (hoist_snapshotter::content)
//! snapshots/        unpacked layers and active step snapshots
//! cache/records/    solver cache records, by cache key
//! cache/steps/      the inputs of the last build of each step (cache-miss explanations)
//! cache/mounts/     RUN --mount=type=cache directories
//! cache/layers/     compressed-blob records of built layers (export reuse)
//! cache/http/       validators and digests of ADDed URLs
//! context/          stat caches of build contexts
//! images/           the local image store (tags, resolved base-image tags)
//! tmp/              scratch space for one build (cleaned at start)
//! lock              builds hold it shared, `hoist prune` exclusively
//! ```
//!
//! Which directory is the root is decided by the caller (the CLI's `--root`,
//! `HOIST_ROOT`, or [`default_root`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// `/var/lib/hoist` for root, `$XDG_DATA_HOME/hoist` (or
/// `~/.local/share/hoist`) for other users.
pub fn default_root(is_root: bool, xdg_data_home: Option<&Path>, home: Option<&Path>) -> PathBuf {
    if is_root {
        return PathBuf::from("/var/lib/hoist");
    }
    match (xdg_data_home, home) {
        (Some(x), _) if x.is_absolute() => x.join("hoist"),
        (_, Some(h)) => h.join(".local/share/hoist"),
        _ => PathBuf::from("/var/lib/hoist"),
    }
}

/// A failure to create the data root's layout.
#[derive(Debug, thiserror::Error)]
#[error("cannot create data root directory {path}: {source}")]
pub struct RootError {
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

/// An opened data root.
#[derive(Debug, Clone)]
pub struct DataRoot {
    path: PathBuf,
}

impl DataRoot {
    /// Opens `path`, creating the layout if missing.
    pub fn open(path: impl Into<PathBuf>) -> Result<DataRoot, RootError> {
        let root = DataRoot { path: path.into() };
        for dir in [
            root.content(),
            root.snapshots(),
            root.cache_records(),
            root.step_history(),
            root.cache_mounts(),
            root.context_cache(),
            root.images(),
            root.tmp(),
        ] {
            fs::create_dir_all(&dir).map_err(|source| RootError { path: dir, source })?;
        }
        Ok(root)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn content(&self) -> PathBuf {
        self.path.join("content")
    }
    pub fn snapshots(&self) -> PathBuf {
        self.path.join("snapshots")
    }
    pub fn cache_records(&self) -> PathBuf {
        self.path.join("cache/records")
    }
    pub fn step_history(&self) -> PathBuf {
        self.path.join("cache/steps")
    }
    pub fn cache_mounts(&self) -> PathBuf {
        self.path.join("cache/mounts")
    }
    pub fn context_cache(&self) -> PathBuf {
        self.path.join("context")
    }
    pub fn images(&self) -> PathBuf {
        self.path.join("images")
    }
    pub fn tmp(&self) -> PathBuf {
        self.path.join("tmp")
    }
    pub fn layer_records(&self) -> PathBuf {
        self.path.join("cache/layers")
    }
    /// Validators (ETag, Last-Modified) and digests of downloaded URLs.
    pub fn http_cache(&self) -> PathBuf {
        self.path.join("cache/http")
    }

    /// Held (shared) for the whole of a build, so that `hoist prune`, which
    /// takes it exclusively, never removes what a running build uses.
    pub fn lock_shared(&self) -> Result<fs::File, RootError> {
        let f = self.lock_file()?;
        f.lock_shared().map_err(|source| RootError {
            path: self.path.join("lock"),
            source,
        })?;
        Ok(f)
    }

    /// Taken by `hoist prune`: waits until no build runs on this root.
    pub fn lock_exclusive(&self) -> Result<fs::File, RootError> {
        let f = self.lock_file()?;
        f.lock().map_err(|source| RootError {
            path: self.path.join("lock"),
            source,
        })?;
        Ok(f)
    }

    fn lock_file(&self) -> Result<fs::File, RootError> {
        let path = self.path.join("lock");
        fs::File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|source| RootError { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_root_is_var_lib_for_root_and_xdg_for_users() {
        assert_eq!(default_root(true, None, None), Path::new("/var/lib/hoist"));
        assert_eq!(
            default_root(
                false,
                Some(Path::new("/x/data")),
                Some(Path::new("/home/u"))
            ),
            Path::new("/x/data/hoist")
        );
        assert_eq!(
            default_root(
                false,
                Some(Path::new("relative")),
                Some(Path::new("/home/u"))
            ),
            Path::new("/home/u/.local/share/hoist")
        );
    }

    #[test]
    fn open_creates_the_layout() {
        let d = tempfile::tempdir().unwrap();
        let r = DataRoot::open(d.path().join("root")).unwrap();
        assert!(r.cache_records().is_dir() && r.content().is_dir() && r.tmp().is_dir());
        DataRoot::open(d.path().join("root")).unwrap();
    }
}
