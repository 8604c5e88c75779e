//! `RUN --mount=type=cache` contents in a remote cache
//! (`--cache-to ...,cache-mounts=true`): each cache directory the build's RUN
//! steps use is exported as a tar blob under its cache id; on import, a
//! cache directory this data root does not have yet starts from it.

use std::path::PathBuf;

use hoist_frontend::graph::{MountKind, Op};
use hoist_snapshotter::layer::apply::{ApplyOptions, apply_layer};
use hoist_snapshotter::layer::compress::write_layer;
use hoist_snapshotter::layer::compression::open_layer;
use hoist_snapshotter::layer::diff::{DiffOptions, DiffSource};

use super::RemoteCache;
use super::format::{CacheBlob, CacheConfig};
use crate::build::cache_mounts::dir_name;
use crate::build::state::BuildState;
use crate::image::ImageOptions;
use crate::progress::Event;

/// Adds the cache directories of the RUN steps this build solved to `config`.
pub(super) fn export_mounts(
    cache: &RemoteCache,
    state: &BuildState,
    config: &mut CacheConfig,
    opts: &ImageOptions,
) -> Result<(), String> {
    let ids: std::collections::BTreeSet<&str> = cache
        .noted()
        .keys()
        .filter_map(|v| state.graph.vertices.get(*v))
        .filter_map(|v| match &v.op {
            Op::Exec(e) => Some(e),
            _ => None,
        })
        .flat_map(|e| &e.mounts)
        .filter_map(|m| match &m.kind {
            MountKind::Cache { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    let encoding = opts.encoding();
    for id in ids {
        let dir = state.root.cache_mounts().join(dir_name(id));
        if !dir.is_dir() {
            continue;
        }
        let written = write_layer(
            &DiffSource::OverlayUpper(dir),
            &DiffOptions {
                source_date_epoch: None,
                exclude: Vec::new(),
            },
            encoding,
            &state.content,
        )
        .map_err(|e| format!("cache mount {id:?}: {e}"))?;
        config.cache_mounts.insert(
            id.to_string(),
            CacheBlob {
                digest: written.digest,
                size: written.size,
                media_type: written.media_type.to_string(),
                diff_id: written.diff_id,
                level: Some(encoding.level),
            },
        );
    }
    Ok(())
}

impl RemoteCache {
    /// A directory to seed the new cache mount `id` from: the imported
    /// contents of the first source that has them, unpacked once per build.
    /// `None` when the data root has the cache already or no source has it;
    /// a failure is a warning (the cache starts empty).
    pub fn cache_mount_seed(&self, state: &BuildState, id: &str) -> Option<PathBuf> {
        if state.root.cache_mounts().join(dir_name(id)).is_dir() {
            return None;
        }
        let blob = self
            .sources
            .iter()
            .find_map(|s| s.config.cache_mounts.get(id))?;
        let mut seeds = self.seeds.lock().ok()?;
        if let Some(dir) = seeds.get(id) {
            return Some(dir.clone());
        }
        match self.unpack_seed(state, blob, id) {
            Ok(dir) => {
                seeds.insert(id.to_string(), dir.clone());
                Some(dir)
            }
            Err(why) => {
                state.progress.emit(Event::Warning {
                    message: format!(
                        "imported cache mount {id:?} cannot be used ({why}); it starts empty"
                    ),
                });
                None
            }
        }
    }

    fn unpack_seed(
        &self,
        state: &BuildState,
        blob: &CacheBlob,
        id: &str,
    ) -> Result<PathBuf, String> {
        if !self.ensure_blob(&state.content, &blob.digest)? {
            return Err(format!("no source has blob {}", blob.digest));
        }
        let mut holder = self
            .seed_root
            .lock()
            .map_err(|_| "poisoned lock".to_string())?;
        if holder.is_none() {
            let tmp = state.root.tmp();
            std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
            *holder = Some(
                tempfile::Builder::new()
                    .prefix("cache-mount-seeds-")
                    .tempdir_in(&tmp)
                    .map_err(|e| format!("{}: {e}", tmp.display()))?,
            );
        }
        let root = holder
            .as_ref()
            .map(|t| t.path().to_path_buf())
            .unwrap_or_default();
        let dir = root.join(dir_name(id));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let reader = state
            .content
            .open_blob(&blob.digest)
            .map_err(|e| e.to_string())?;
        let (_, tar) = open_layer(reader).map_err(|e| e.to_string())?;
        apply_layer(tar, &dir, &ApplyOptions::default()).map_err(|e| e.to_string())?;
        Ok(dir)
    }
}
