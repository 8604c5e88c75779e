//! The http source vertex (`ADD https://...`): the downloaded file as a
//! one-layer filesystem holding `/<filename>`, mode 0600 and its mtime from
//! `Last-Modified`, as Docker's ADD of a URL does. The cache key's external
//! part is the content digest; an unchanged URL (`304 Not Modified` to a
//! conditional GET) whose layer is still present is not downloaded again.

use std::sync::Arc;

use hoist_frontend::graph::Vertex;
use hoist_snapshotter::digest::Digest;

use super::error::StepError;
use super::result::{LayerRef, ResultKind, VertexResult};
use super::run_step::commit;
use super::state::BuildState;
use crate::solver::cache::CacheKey;
use crate::source::http::{Fetched, HttpCache, fetch};

/// Fetches `url` and returns the layer holding it.
pub async fn http_source(
    state: &Arc<BuildState>,
    v: &Vertex,
    url: &str,
    checksum: Option<&str>,
    filename: &str,
) -> Result<VertexResult, StepError> {
    let cache = HttpCache::new(state.root.http_cache());
    let key_of = |digest: &str| CacheKey::compute(&v.digest, &[], Some(digest));
    let known = cache
        .get(url)
        .filter(|k| layer_present(state, &key_of(&k.digest)));
    let client = reqwest::Client::new();
    let fetched = fetch(&client, url, known.as_ref(), checksum, &state.root.tmp())
        .await
        .map_err(StepError::other)?;
    let key = key_of(fetched.digest());
    let id = Digest::from_hex(key.hex()).map_err(StepError::other)?;
    let layer = LayerRef {
        id: id.clone(),
        diff_id: None,
        blob: None,
    };
    if let Fetched::Downloaded {
        file,
        validators,
        mtime,
    } = fetched
    {
        if !state.snapshots.has_layer(&id) {
            let (s, name, k) = (state.clone(), filename.to_string(), key.clone());
            tokio::task::spawn_blocking(move || make_layer(&s, file, &name, mtime, &k))
                .await
                .map_err(StepError::other)??;
        }
        // Only a lost optimisation if it cannot be stored.
        let _ = cache.put(url, &validators);
    }
    Ok(VertexResult {
        cache_key: key,
        kind: ResultKind::Fs(vec![layer]),
    })
}

fn layer_present(state: &BuildState, key: &CacheKey) -> bool {
    Digest::from_hex(key.hex()).is_ok_and(|id| state.snapshots.has_layer(&id))
}

/// Moves the downloaded file into a fresh snapshot at `/<filename>` and
/// commits it as the layer named by `key`.
fn make_layer(
    state: &BuildState,
    file: tempfile::NamedTempFile,
    filename: &str,
    mtime: Option<std::time::SystemTime>,
    key: &CacheKey,
) -> Result<(), StepError> {
    use std::os::unix::fs::PermissionsExt;
    if filename.is_empty() || filename.contains('/') || filename == "." || filename == ".." {
        return Err(StepError::msg(format!(
            "invalid file name {filename:?} for a downloaded file"
        )));
    }
    let snap = state
        .snapshots
        .prepare(&[], state.opts.driver)
        .map_err(StepError::other)?;
    let dest = snap.root().join(filename);
    let io = |e: std::io::Error| StepError::msg(format!("{}: {e}", dest.display()));
    // A rename may cross filesystems (tmp/ vs snapshots/): copy then.
    if let Err(e) = file.persist(&dest) {
        std::fs::copy(e.file.path(), &dest).map_err(io)?;
    }
    std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    let when = match state.opts.source_date_epoch {
        Some(epoch) => {
            Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch.max(0) as u64))
        }
        None => mtime,
    };
    if let Some(t) = when {
        let f = std::fs::File::options()
            .write(true)
            .open(&dest)
            .map_err(io)?;
        f.set_modified(t).map_err(io)?;
    }
    commit(state, snap, Vec::new(), key)?;
    Ok(())
}
