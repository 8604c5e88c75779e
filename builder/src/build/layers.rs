//! Turning a layer chain into directories a snapshot can stack: layers
//! already unpacked are used as they are; base-image layers are unpacked
//! from their blobs on first use (once per data root, shared by every build).

use std::path::PathBuf;

use hoist_snapshotter::layer::apply::{ApplyOptions, WhiteoutMode, apply_layer};
use hoist_snapshotter::layer::compression::open_layer;

use super::error::StepError;
use super::result::LayerRef;
use super::state::BuildState;

/// The unpacked directory of every layer of `layers`, bottom first.
/// A layer is unpacked on top of the layers below it (`lowers`), so that its
/// hard links to lower files and its implicit parent directories resolve.
pub fn materialize(state: &BuildState, layers: &[LayerRef]) -> Result<Vec<PathBuf>, StepError> {
    let mut dirs: Vec<PathBuf> = Vec::with_capacity(layers.len());
    for l in layers {
        let dir = materialize_one(state, l, &dirs)?;
        dirs.push(dir);
    }
    Ok(dirs)
}

fn materialize_one(
    state: &BuildState,
    layer: &LayerRef,
    below: &[PathBuf],
) -> Result<PathBuf, StepError> {
    if state.snapshots.has_layer(&layer.id) {
        return Ok(state.snapshots.layer_path(&layer.id));
    }
    let Some(blob) = &layer.blob else {
        return Err(StepError::msg(format!(
            "layer {} is missing from the snapshot store and has no blob to unpack it from",
            layer.id
        )));
    };
    if !state.content.contains(&blob.digest) {
        // A layer imported from a remote cache is fetched on first use.
        state
            .remote_cache
            .ensure_blob(&state.content, &blob.digest)
            .map_err(StepError::msg)?;
    }
    let content = state.content.clone();
    state
        .snapshots
        .ensure_layer(
            &layer.id,
            |dir| -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
                let reader = content.open_blob(&blob.digest)?;
                let (_, tar) = open_layer(reader)?;
                let opts = ApplyOptions {
                    whiteouts: WhiteoutMode::Overlay,
                    lowers: below.iter().rev().cloned().collect(),
                    ..ApplyOptions::default()
                };
                apply_layer(tar, dir, &opts)?;
                Ok(())
            },
        )
        .map_err(StepError::other)
}
