//! Committing a writable snapshot: its changes become a stored layer
//! directory (overlay form) that later snapshots use as a lower.
//!
//! With the overlay driver the upper directory already is that layer: it is
//! unmounted and renamed into `layers/<id>`, with no copy, which is what
//! makes a step's cost independent of the size of what it did not change.
//! With the copying driver, the changes are streamed as a layer tar (the same
//! bytes an export would produce) and applied in overlay-whiteout form.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use super::{ActiveSnapshot, Kind, SnapshotError, SnapshotStore, io_err, overlay};
use crate::digest::Digest;
use crate::layer::apply::{ApplyOptions, WhiteoutMode, apply_layer};
use crate::layer::diff::{DiffOptions, write_tar};

impl SnapshotStore {
    /// Stores the changes of the writable snapshot `snap` as layer `id`
    /// (any digest-shaped name; the solver uses the step's cache key) and
    /// releases the snapshot. If the layer already exists (another process
    /// built the same step), the existing one is kept.
    pub fn commit(&self, mut snap: ActiveSnapshot, id: &Digest) -> Result<PathBuf, SnapshotError> {
        let dest = self.layer_path(id);
        match &snap.kind {
            Kind::Overlay { upper } => {
                let upper = upper.clone();
                overlay::unmount_path(&snap.root).map_err(io_err("unmount", &snap.root))?;
                let _lock = self.lock_layer(id, true)?;
                if !dest.is_dir() {
                    let dir = File::open(&upper).map_err(io_err("open", &upper))?;
                    rustix::fs::syncfs(&dir).map_err(|e| io_err("sync filesystem of", &upper)(e.into()))?;
                    fs::rename(&upper, &dest).map_err(io_err("rename into", &dest))?;
                }
            }
            Kind::Native { .. } => {
                let source = snap.diff()?;
                self.ensure_layer(id, |tmp: &Path| -> Result<(), io::Error> {
                    let (reader, writer) = io::pipe()?;
                    std::thread::scope(|s| {
                        let producer = s.spawn(move || write_tar(&source, &DiffOptions::default(), writer));
                        let opts = ApplyOptions {
                            whiteouts: WhiteoutMode::Overlay,
                            ..ApplyOptions::default()
                        };
                        let applied = apply_layer(reader, tmp, &opts).map_err(io::Error::other);
                        let produced = producer
                            .join()
                            .map_err(|_| io::Error::other("layer producer panicked"))?
                            .map(|_| ())
                            .map_err(io::Error::other);
                        applied.and(produced)
                    })
                })?;
            }
            Kind::ReadOnly => return Err(SnapshotError::ReadOnly),
        }
        snap.release_inner()?;
        Ok(dest)
    }
}
