//! The filesystem outputs of issue #6: `type=local` (the final filesystem
//! copied into a directory) and `type=tar` (the same as a tar stream, to a
//! file or standard output). The tar is the snapshotter's deterministic layer
//! writer run over the whole tree, so entries are sorted and normalised.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use hoist_snapshotter::layer::diff::{Change, DiffOptions, DiffSource, write_tar};

use super::error::StepError;
use super::layers::materialize;
use super::result::LayerRef;
use super::state::BuildState;
use crate::fileop::{self, CopySpec, SourceKind};

/// Copies the filesystem of `layers` into `dest` (created if missing).
pub fn export_local(state: &BuildState, layers: &[LayerRef], dest: &Path) -> Result<(), StepError> {
    let chain = materialize(state, layers)?;
    let view = state
        .snapshots
        .view(&chain, state.opts.driver)
        .map_err(StepError::other)?;
    fs::create_dir_all(dest)
        .map_err(|e| StepError::msg(format!("creating {}: {e}", dest.display())))?;
    let nothing = |_: &str, _: &str, _: bool| false;
    let sources = [".".to_string()];
    let spec = CopySpec {
        kind: SourceKind::Filesystem,
        sources: &sources,
        dest: "/",
        owner: None,
        chmod: None,
        exclude: &nothing,
        reinclude_below: None,
        parents: false,
        unpack: false,
        mtime: None,
    };
    fileop::copy(view.root(), dest, &spec).map_err(StepError::other)?;
    view.release().map_err(StepError::other)
}

/// Writes the filesystem of `layers` as a tar stream to `out`.
pub fn export_tar(
    state: &BuildState,
    layers: &[LayerRef],
    out: impl Write,
) -> Result<(), StepError> {
    let chain = materialize(state, layers)?;
    let view = state
        .snapshots
        .view(&chain, state.opts.driver)
        .map_err(StepError::other)?;
    let root = view.root().to_path_buf();
    let mut changes = Vec::new();
    for entry in walkdir::WalkDir::new(&root)
        .min_depth(1)
        .sort_by_file_name()
    {
        let entry = entry.map_err(StepError::other)?;
        let rel: PathBuf = entry
            .path()
            .strip_prefix(&root)
            .map_err(StepError::other)?
            .to_path_buf();
        changes.push(Change::Present(rel));
    }
    let source = DiffSource::Changes { root, changes };
    let opts = DiffOptions {
        source_date_epoch: state.opts.source_date_epoch,
        exclude: Vec::new(),
    };
    write_tar(&source, &opts, out).map_err(StepError::other)?;
    view.release().map_err(StepError::other)
}
