//! Snapshots: unpacked layers keyed by diff_id, and the writable or
//! read-only views of a chain of them that build steps run in.
//!
//! Layout under the store's root (the data root's `snapshots/`):
//!
//! ```text
//! layers/<hex>/          a layer unpacked in overlay form, shared, never modified
//! layers/.tmp/<hex>.<r>  a layer being unpacked (renamed into place when done)
//! locks/<hex>.lock       flock held while a layer is being unpacked
//! active/<id>/lock       flock held by the process owning the snapshot
//! active/<id>/{upper,work,merged}   overlay driver
//! active/<id>/fs                    copying driver
//! empty/                 the empty lower of a FROM-scratch chain
//! ```
//!
//! Crash safety: a layer dir appears only by rename, complete. Every active
//! snapshot's owner holds an flock on its `lock` file; the kernel drops it
//! when the owner dies, even by SIGKILL, so [`SnapshotStore::open`] knows
//! which active dirs and temp unpack dirs are stale, unmounts what is still
//! mounted below them and removes them.
//!
//! Ctrl-C: [`unmount_all_active`] detaches every overlay this process has
//! mounted; the dirs are then cleaned by the next `open`.
//!
//! A build step, end to end:
//!
//! ```text
//! let chain: Vec<PathBuf> = image layers → store.ensure_layer(diff_id, |dir| apply_layer(tar, dir, Overlay mode))
//! let snap = store.prepare(&chain, Driver::Auto)?;          // merged root at snap.root()
//! ... run the step in snap.root() ...
//! let blob = write_layer(&snap.diff()?, &opts, Encoding::gzip(6), &content)?;
//! let dir = match snap.into_layer(&store, &blob.diff_id, &opts.exclude)? {
//!     Some(dir) => dir,              // the step's changes, now the unpacked layer
//!     None => unreachable!(),        // only read-only views give None
//! };                                 // next step's chain = chain + [dir]
//! ```

mod active;
pub(crate) mod fsmeta;
mod native;
mod overlay;

use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustix::fs::FlockOperation;

use crate::digest::Digest;
pub use active::ActiveSnapshot;
use active::{Kind, TRASH_PREFIX, remove_snapshot_dir};
pub use overlay::unmount_all_active;

/// Errors of the snapshot store; each names the path or layer concerned.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("unpacking layer {diff_id}: {source}")]
    Unpack {
        diff_id: Digest,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("mounting overlay at {target}: {source}")]
    Mount {
        target: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("a read-only view has no diff")]
    ReadOnly,
}

pub(super) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> SnapshotError + 'a {
    move |source| SnapshotError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// How a chain is turned into a root to run in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Driver {
    /// overlayfs; writes land in an upper dir that is the step's diff.
    Overlay,
    /// A deep copy of the chain; the diff is computed by comparison.
    Native,
    /// overlayfs if a probe mount works here (checked once), else native.
    #[default]
    Auto,
}

/// A directory of unpacked layers and active snapshots.
#[derive(Debug)]
pub struct SnapshotStore {
    root: PathBuf,
    overlay_works: OnceLock<bool>,
}

impl SnapshotStore {
    /// Opens (creating if needed) the store in `root` and cleans what
    /// killed processes left: stale active snapshots (unmounting them) and
    /// half-unpacked layers.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, SnapshotError> {
        let root = root.into();
        for dir in ["layers/.tmp", "locks", "active", "empty"] {
            let d = root.join(dir);
            fs::create_dir_all(&d).map_err(io_err("create directory", &d))?;
        }
        // Mount points are matched against /proc/self/mountinfo, which
        // shows absolute, symlink-free paths.
        let root = fs::canonicalize(&root).map_err(io_err("resolve", &root))?;
        let store = SnapshotStore {
            root,
            overlay_works: OnceLock::new(),
        };
        // Best effort: a stale dir that cannot be removed now (another
        // process is removing it too, say) does not make the store unusable;
        // the next open or `clean_stale` tries again.
        let _ = store.clean_stale();
        Ok(store)
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the layer `diff_id` is (or would be) unpacked.
    pub fn layer_path(&self, diff_id: &Digest) -> PathBuf {
        self.root.join("layers").join(diff_id.hex())
    }

    /// Whether the layer is unpacked.
    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_path(diff_id).is_dir()
    }

    /// The diff_ids of every unpacked layer, sorted (for garbage collection).
    pub fn layers(&self) -> Result<Vec<Digest>, SnapshotError> {
        let dir = self.root.join("layers");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("read directory", &dir))? {
            let entry = entry.map_err(io_err("read directory", &dir))?;
            if let Some(d) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// The unpacked layer `diff_id`, unpacking it first with `unpack` (given
    /// an empty temp dir) if it is not there. Concurrent calls for the same
    /// layer, from threads or processes, unpack it once; the others wait and
    /// get the result.
    pub fn ensure_layer<E>(
        &self,
        diff_id: &Digest,
        unpack: impl FnOnce(&Path) -> Result<(), E>,
    ) -> Result<PathBuf, SnapshotError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let dest = self.layer_path(diff_id);
        if dest.is_dir() {
            return Ok(dest);
        }
        let _lock = self.lock_layer(diff_id, true)?;
        if dest.is_dir() {
            return Ok(dest);
        }
        let tmp_root = self.root.join("layers/.tmp");
        let tmp = tempfile::Builder::new()
            .prefix(&format!("{}.", diff_id.hex()))
            .tempdir_in(&tmp_root)
            .map_err(io_err("create temp dir in", &tmp_root))?;
        // A layer without a `./` entry keeps this mode for its root.
        fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o755))
            .map_err(io_err("chmod", tmp.path()))?;
        unpack(tmp.path()).map_err(|e| SnapshotError::Unpack {
            diff_id: diff_id.clone(),
            source: e.into(),
        })?;
        sync_fs_of(tmp.path())?;
        let tmp = tmp.keep();
        if let Err(e) = fs::rename(&tmp, &dest) {
            let _ = fs::remove_dir_all(&tmp);
            if !dest.is_dir() {
                return Err(io_err("rename into", &dest)(e));
            }
        }
        Ok(dest)
    }

    /// Removes an unpacked layer (absent is fine). The caller makes sure no
    /// snapshot uses it.
    pub fn remove_layer(&self, diff_id: &Digest) -> Result<(), SnapshotError> {
        let dest = self.layer_path(diff_id);
        let _lock = self.lock_layer(diff_id, true)?;
        if !dest.exists() {
            return Ok(());
        }
        let trash = self
            .root
            .join("layers/.tmp")
            .join(format!("{}.gone", diff_id.hex()));
        native::remove_any(&trash).map_err(io_err("remove", &trash))?;
        fs::rename(&dest, &trash).map_err(io_err("rename", &dest))?;
        native::remove_any(&trash).map_err(io_err("remove", &trash))
    }

    fn lock_layer(&self, diff_id: &Digest, wait: bool) -> Result<Option<File>, SnapshotError> {
        let path = self
            .root
            .join("locks")
            .join(format!("{}.lock", diff_id.hex()));
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err("open lock", &path))?;
        let op = if wait {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::NonBlockingLockExclusive
        };
        match rustix::fs::flock(&file, op) {
            Ok(()) => Ok(Some(file)),
            Err(rustix::io::Errno::WOULDBLOCK) if !wait => Ok(None),
            Err(e) => Err(io_err("lock", &path)(e.into())),
        }
    }

    /// Unmounts and removes what killed processes left: active snapshots
    /// whose owner is gone and half-unpacked layers. [`SnapshotStore::open`]
    /// runs it; call it directly to see errors (e.g. from `hoist prune`).
    /// Returns the first error after trying every entry.
    pub fn clean_stale(&self) -> Result<(), SnapshotError> {
        let mut first_err = None;
        let active = self.root.join("active");
        for entry in fs::read_dir(&active).map_err(io_err("read directory", &active))? {
            let dir = entry.map_err(io_err("read directory", &active))?.path();
            let lock_path = dir.join("lock");
            let trash = dir
                .file_name()
                .is_some_and(|n| n.as_bytes().starts_with(TRASH_PREFIX.as_bytes()));
            let owned = match File::open(&lock_path) {
                _ if trash => false,
                Ok(f) => match rustix::fs::flock(&f, FlockOperation::NonBlockingLockExclusive) {
                    Ok(()) => false,
                    Err(rustix::io::Errno::WOULDBLOCK) => true,
                    Err(e) => return Err(io_err("lock", &lock_path)(e.into())),
                },
                // No lock file yet: a snapshot being created right now or one
                // whose creator died before writing it. Only the latter is old.
                Err(_) => !is_older_than(&dir, std::time::Duration::from_secs(60)),
            };
            if !owned && let Err(e) = remove_snapshot_dir(&dir) {
                first_err.get_or_insert(e);
            }
        }
        let tmp = self.root.join("layers/.tmp");
        for entry in fs::read_dir(&tmp).map_err(io_err("read directory", &tmp))? {
            let path = entry.map_err(io_err("read directory", &tmp))?.path();
            let name = path.file_name().map(|n| n.as_bytes()).unwrap_or_default();
            let hex = std::str::from_utf8(&name[..name.len().min(64)]).unwrap_or_default();
            let unused = match Digest::from_hex(hex) {
                Ok(d) => self.lock_layer(&d, false)?.is_some(),
                Err(_) => true,
            };
            if unused
                && let Err(e) = native::remove_any(&path)
                && path.exists()
            {
                first_err.get_or_insert(io_err("remove", &path)(e));
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn overlay_available(&self) -> bool {
        *self.overlay_works.get_or_init(|| {
            let scratch = self
                .root
                .join("active")
                .join(format!("probe-{}", std::process::id()));
            overlay::probe(&scratch)
        })
    }

    /// The driver `driver` stands for here: `Auto` becomes `Overlay` or
    /// `Native` (probing overlayfs on first use).
    pub fn effective_driver(&self, driver: Driver) -> Driver {
        match driver {
            Driver::Auto if self.overlay_available() => Driver::Overlay,
            Driver::Auto => Driver::Native,
            d => d,
        }
    }

    /// A writable snapshot of `chain` (lower dirs, bottom first; empty for
    /// FROM scratch) to run a step in.
    pub fn prepare(
        &self,
        chain: &[PathBuf],
        driver: Driver,
    ) -> Result<ActiveSnapshot, SnapshotError> {
        let mut snap = self.new_active()?;
        match self.effective_driver(driver) {
            Driver::Overlay => {
                let (upper, work, merged) = (
                    snap.dir.join("upper"),
                    snap.dir.join("work"),
                    snap.dir.join("merged"),
                );
                for d in [&upper, &work, &merged] {
                    fs::create_dir(d).map_err(io_err("create directory", d))?;
                }
                // The merged root shows the upper dir's owner and mode: give
                // it those of the top layer's root, as the copying driver does.
                match chain.last() {
                    Some(top) => {
                        let meta = fs::symlink_metadata(top).map_err(io_err("stat", top))?;
                        std::os::unix::fs::chown(&upper, Some(meta.uid()), Some(meta.gid()))
                            .map_err(io_err("chown", &upper))?;
                        fs::set_permissions(&upper, meta.permissions())
                            .map_err(io_err("chmod", &upper))?;
                    }
                    None => fs::set_permissions(&upper, fs::Permissions::from_mode(0o755))
                        .map_err(io_err("chmod", &upper))?,
                }
                let empty = [self.root.join("empty")];
                let lowers = if chain.is_empty() { &empty[..] } else { chain };
                overlay::mount(&overlay::OverlaySpec {
                    lowers,
                    upper_work: Some((&upper, &work)),
                    target: &merged,
                })
                .map_err(|source| SnapshotError::Mount {
                    target: merged.clone(),
                    source,
                })?;
                snap.root = merged;
                snap.kind = Kind::Overlay { upper };
            }
            _ => {
                let fs_dir = snap.dir.join("fs");
                fs::create_dir(&fs_dir).map_err(io_err("create directory", &fs_dir))?;
                // FROM scratch: a root like the overlay driver's (layers
                // copy their own root's metadata over it).
                fs::set_permissions(&fs_dir, fs::Permissions::from_mode(0o755))
                    .map_err(io_err("chmod", &fs_dir))?;
                native::merge_chain(chain, &fs_dir).map_err(io_err("copy chain into", &fs_dir))?;
                let base = native::BaseIndex::record(&fs_dir).map_err(io_err("index", &fs_dir))?;
                snap.root = fs_dir;
                snap.kind = Kind::Native { base };
            }
        }
        Ok(snap)
    }

    /// A read-only view of `chain` (for `COPY --from` and bind mounts).
    pub fn view(&self, chain: &[PathBuf], driver: Driver) -> Result<ActiveSnapshot, SnapshotError> {
        let mut snap = self.new_active()?;
        if chain.is_empty() {
            snap.root = self.root.join("empty");
            return Ok(snap);
        }
        match self.effective_driver(driver) {
            Driver::Overlay => {
                let merged = snap.dir.join("merged");
                fs::create_dir(&merged).map_err(io_err("create directory", &merged))?;
                // A lower-only overlay needs two lowers at least.
                let mut lowers = vec![self.root.join("empty")];
                lowers.extend_from_slice(chain);
                overlay::mount(&overlay::OverlaySpec {
                    lowers: &lowers,
                    upper_work: None,
                    target: &merged,
                })
                .map_err(|source| SnapshotError::Mount {
                    target: merged.clone(),
                    source,
                })?;
                snap.root = merged;
                snap.kind = Kind::View { overlay: true };
            }
            _ => {
                let fs_dir = snap.dir.join("fs");
                fs::create_dir(&fs_dir).map_err(io_err("create directory", &fs_dir))?;
                native::merge_chain(chain, &fs_dir).map_err(io_err("copy chain into", &fs_dir))?;
                snap.root = fs_dir;
            }
        }
        Ok(snap)
    }

    /// A new `active/<id>` dir with its owner lock taken.
    fn new_active(&self) -> Result<ActiveSnapshot, SnapshotError> {
        let active = self.root.join("active");
        let dir = tempfile::Builder::new()
            .prefix("")
            .rand_bytes(10)
            .tempdir_in(&active)
            .map_err(io_err("create directory in", &active))?
            .keep();
        // Lock a temp file, then rename it to `lock`: a `lock` that exists
        // is always already held, so `clean_stale` never mistakes a
        // snapshot being created for a dead one.
        let lock_path = dir.join("lock");
        let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(io_err("create file in", &dir))?;
        rustix::fs::flock(tmp.as_file(), FlockOperation::LockExclusive)
            .map_err(|e| io_err("lock", tmp.path())(e.into()))?;
        let lock = tmp
            .persist(&lock_path)
            .map_err(|e| io_err("rename into", &lock_path)(e.error))?;
        Ok(ActiveSnapshot {
            root: dir.clone(),
            dir,
            kind: Kind::View { overlay: false },
            lock: Some(lock),
        })
    }
}

fn is_older_than(path: &Path, age: std::time::Duration) -> bool {
    fs::symlink_metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|e| e >= age)
}

/// Flushes the filesystem holding `path`, so that a layer is on disk
/// before its name says it is complete.
pub(super) fn sync_fs_of(path: &Path) -> Result<(), SnapshotError> {
    let fd = File::open(path).map_err(io_err("open", path))?;
    rustix::fs::syncfs(&fd).map_err(|e| io_err("sync filesystem of", path)(e.into()))
}
