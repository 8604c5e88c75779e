//! Active snapshots: a chain mounted (or copied) for one step or one
//! read-only use, owned by the process holding its `lock`; turning a step's
//! changes into a layer; unmounting and removing, on release, on drop, or
//! for a dead owner.

use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{Driver, SnapshotError, SnapshotStore, io_err, native, overlay, sync_fs_of};
use crate::digest::Digest;
use crate::layer::diff::DiffSource;

/// Unmounts everything mounted below `dir`, then removes it. Refuses to
/// remove if a mount remains (removing through a mount would delete the
/// files of the layers below it).
pub(super) fn remove_snapshot_dir(dir: &Path) -> Result<(), SnapshotError> {
    let mounts = overlay::mount_points_under(dir).map_err(io_err("read mountinfo for", dir))?;
    for m in &mounts {
        overlay::unmount_path(m).map_err(io_err("unmount", m))?;
    }
    let left = overlay::mount_points_under(dir).map_err(io_err("read mountinfo for", dir))?;
    if let Some(m) = left.first() {
        return Err(io_err("unmount", m)(io::Error::other("still mounted")));
    }
    // Renamed first so that a half-removed dir is recognisably dead.
    let trash = match dir.file_name().map(|n| n.as_bytes()) {
        Some(n) if n.starts_with(TRASH_PREFIX.as_bytes()) => dir.to_path_buf(),
        Some(n) => dir.with_file_name(format!("{TRASH_PREFIX}{}", String::from_utf8_lossy(n))),
        None => dir.to_path_buf(),
    };
    match fs::rename(dir, &trash) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()), // removed by another process
        Err(e) => return Err(io_err("rename", dir)(e)),
    }
    match native::remove_any(&trash) {
        // Another process's cleanup may be removing it at the same time.
        Err(_) if !trash.exists() => Ok(()),
        other => other.map_err(io_err("remove", &trash)),
    }
}

/// Name prefix of active snapshot dirs being removed.
pub(super) const TRASH_PREFIX: &str = ".gone-";

#[derive(Debug)]
pub(super) enum Kind {
    Overlay {
        upper: PathBuf,
    },
    Native {
        base: native::BaseIndex,
    },
    /// A read-only view; `overlay` when mounted, else a copy (or `empty/`).
    View {
        overlay: bool,
    },
}

/// A mounted (or copied) chain a step runs in. Dropping it unmounts and
/// removes it; [`ActiveSnapshot::release`] does the same and reports errors.
#[derive(Debug)]
pub struct ActiveSnapshot {
    pub(super) dir: PathBuf,
    pub(super) root: PathBuf,
    pub(super) kind: Kind,
    /// Owner lock; `None` once released.
    pub(super) lock: Option<File>,
}

impl ActiveSnapshot {
    /// The merged root directory to run the step in.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The driver that made this snapshot (`Overlay` or `Native`).
    pub fn driver(&self) -> Driver {
        match self.kind {
            Kind::Overlay { .. } => Driver::Overlay,
            Kind::Native { .. } => Driver::Native,
            Kind::View { overlay: true } => Driver::Overlay,
            Kind::View { overlay: false } => Driver::Native,
        }
    }

    /// Whether this is a read-only view.
    pub fn is_read_only(&self) -> bool {
        matches!(self.kind, Kind::View { .. })
    }

    /// The step's changes, for [`crate::layer::compress::write_layer`]. Call
    /// it after the step's processes have exited.
    pub fn diff(&self) -> Result<DiffSource, SnapshotError> {
        match &self.kind {
            Kind::Overlay { upper } => Ok(DiffSource::OverlayUpper(upper.clone())),
            Kind::Native { base } => Ok(DiffSource::Changes {
                root: self.root.clone(),
                changes: base
                    .changes(&self.root)
                    .map_err(io_err("compare", &self.root))?,
            }),
            Kind::View { .. } => Err(SnapshotError::ReadOnly),
        }
    }

    /// Makes this step's changes the unpacked layer `diff_id` (the layer
    /// just written from [`ActiveSnapshot::diff`] with the same `exclude`),
    /// instead of unpacking that layer again, and releases the snapshot.
    ///
    /// Overlay: unmounts, removes the excluded paths, sockets and overlayfs'
    /// bookkeeping xattrs from the upper dir (the tar leaves all of them out
    /// too) and renames it into the store. Copying driver: writes the
    /// changes in overlay form (copies, 0:0 whiteouts, opaque xattrs). Either
    /// way mtimes keep their nanoseconds, which the tar truncates. Returns
    /// `None` for a read-only view.
    pub fn into_layer(
        mut self,
        store: &SnapshotStore,
        diff_id: &Digest,
        exclude: &[String],
    ) -> Result<Option<PathBuf>, SnapshotError> {
        let dest = store.layer_path(diff_id);
        match &self.kind {
            Kind::View { .. } => {
                self.release_inner()?;
                return Ok(None);
            }
            Kind::Overlay { upper } => {
                let upper = upper.clone();
                overlay::unmount_path(&self.root).map_err(io_err("unmount", &self.root))?;
                for rel in exclude {
                    let rel = Path::new(rel.trim_start_matches('/'));
                    let normal = |c| matches!(c, std::path::Component::Normal(_));
                    if rel.components().all(normal) {
                        let path = upper.join(rel);
                        native::remove_any(&path).map_err(io_err("remove", &path))?;
                    }
                }
                native::strip_overlay_bookkeeping(&upper).map_err(io_err("clean", &upper))?;
                let _lock = store.lock_layer(diff_id, true)?;
                if !dest.is_dir() {
                    sync_fs_of(&upper)?;
                    fs::rename(&upper, &dest).map_err(io_err("rename into", &dest))?;
                }
            }
            Kind::Native { base } => {
                let changes = base
                    .changes(&self.root)
                    .map_err(io_err("compare", &self.root))?;
                let _lock = store.lock_layer(diff_id, true)?;
                if !dest.is_dir() {
                    let tmp_root = store.root.join("layers/.tmp");
                    let tmp = tempfile::Builder::new()
                        .prefix(&format!("{}.", diff_id.hex()))
                        .tempdir_in(&tmp_root)
                        .map_err(io_err("create temp dir in", &tmp_root))?;
                    let root_meta =
                        fs::symlink_metadata(&self.root).map_err(io_err("stat", &self.root))?;
                    std::os::unix::fs::chown(
                        tmp.path(),
                        Some(root_meta.uid()),
                        Some(root_meta.gid()),
                    )
                    .map_err(io_err("chown", tmp.path()))?;
                    fs::set_permissions(tmp.path(), root_meta.permissions())
                        .map_err(io_err("chmod", tmp.path()))?;
                    let excluded = |p: &Path| crate::layer::diff::is_excluded(exclude, p);
                    native::write_overlay_layer(&self.root, &changes, excluded, tmp.path())
                        .map_err(io_err("write layer from", &self.root))?;
                    sync_fs_of(tmp.path())?;
                    fs::rename(tmp.keep(), &dest).map_err(io_err("rename into", &dest))?;
                }
            }
        }
        self.release_inner()?;
        Ok(Some(dest))
    }

    /// Unmounts and removes the snapshot.
    pub fn release(mut self) -> Result<(), SnapshotError> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<(), SnapshotError> {
        if self.lock.is_none() {
            return Ok(());
        }
        remove_snapshot_dir(&self.dir)?;
        self.lock = None;
        Ok(())
    }
}

impl Drop for ActiveSnapshot {
    fn drop(&mut self) {
        // Errors are left for the next SnapshotStore::open to clean up.
        let _ = self.release_inner();
    }
}
