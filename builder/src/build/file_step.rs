//! Running a file step (COPY, ADD, WORKDIR's mkdir, heredoc files) on a
//! writable snapshot of its input, and the checksum of the context files a
//! COPY reads, which goes into the step's cache key.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hoist_frontend::graph::{CopyAction, FileAction, FileOp};

use super::error::StepError;
use super::result::{LayerRef, ResultKind, VertexResult};
use super::run_step::{commit, input_dir, writable_snapshot};
use super::state::BuildState;
use crate::fileop::{self, CopySpec, Owner, SourceKind};
use crate::solver::cache::CacheKey;
use crate::source::local::{ChecksumOptions, ContextError, Patterns, SelectOptions};
use hoist_frontend::instructions::Chmod;

pub fn run_file(
    state: &BuildState,
    op: &FileOp,
    inputs: &[Arc<VertexResult>],
    key: &CacheKey,
) -> Result<Vec<LayerRef>, StepError> {
    let (base, snap) = writable_snapshot(state, inputs)?;
    let root = snap.root().to_path_buf();
    let now = state.opts.source_date_epoch.unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    });
    let mut views = Vec::new();
    for action in &op.actions {
        match action {
            FileAction::Copy(c) => copy(state, c, inputs, &root, &mut views)?,
            FileAction::Mkdir {
                path,
                mode,
                make_parents,
                owner,
            } => {
                let owner = owner_of(&root, owner.as_deref())?;
                fileop::mkdir(&root, path, *mode, *make_parents, owner, now)
                    .map_err(StepError::other)?;
            }
            FileAction::Mkfile {
                path,
                mode,
                data,
                owner,
            } => {
                let owner = owner_of(&root, owner.as_deref())?;
                fileop::mkfile(&root, path, *mode, data.as_bytes(), owner, now)
                    .map_err(StepError::other)?;
            }
            FileAction::Rm {
                path,
                allow_not_found,
            } => fileop::rm(&root, path, *allow_not_found).map_err(StepError::other)?,
        }
    }
    drop(views);
    commit(state, snap, base, key)
}

/// The owner of created files: a `user[:group]` resolved like WORKDIR's
/// mkdir does (the user's primary group), or root.
fn owner_of(root: &std::path::Path, user: Option<&str>) -> Result<Owner, StepError> {
    match user {
        None | Some("") => Ok(Owner { uid: 0, gid: 0 }),
        Some(u) => {
            let r = crate::exec::user::resolve(root, u).map_err(StepError::other)?;
            Ok(Owner {
                uid: r.uid,
                gid: r.gid,
            })
        }
    }
}

fn copy(
    state: &BuildState,
    c: &CopyAction,
    inputs: &[Arc<VertexResult>],
    dest_root: &std::path::Path,
    views: &mut Vec<hoist_snapshotter::snapshot::ActiveSnapshot>,
) -> Result<(), StepError> {
    let input = inputs
        .get(c.input)
        .ok_or_else(|| StepError::msg("internal error: copy from a missing input"))?;
    let (kind, ignore) = match &input.kind {
        ResultKind::Context { name } => (
            SourceKind::Context,
            Some(state.context(name)?.patterns().clone()),
        ),
        ResultKind::Fs(_) => (SourceKind::Filesystem, None),
    };
    let src_root = input_dir(state, inputs, c.input, true, views)?;
    let excludes = Patterns::new(c.exclude.iter().map(String::as_str)).map_err(StepError::other)?;
    let exclude = |root_rel: &str, rel: &str, _dir: bool| {
        ignore.as_ref().is_some_and(|p| p.is_excluded(root_rel)) || excludes.is_excluded(rel)
    };
    // `keepdir` with `!keepdir/keep.md`: the copy must still descend into keepdir.
    let reinclude_below = |root_rel: &str, rel: &str| {
        let ignore_allows = ignore
            .as_ref()
            .is_none_or(|p| !p.is_excluded(root_rel) || p.may_reinclude_below(root_rel));
        ignore_allows && (!excludes.is_excluded(rel) || excludes.may_reinclude_below(rel))
    };
    let owner = match &c.owner {
        Some(spec) => Some(fileop::resolve_owner(dest_root, spec).map_err(StepError::other)?),
        None => None,
    };
    let chmod = match &c.chmod {
        Some(m) => Some(Chmod::parse(m).map_err(StepError::other)?),
        None => None,
    };
    let spec = CopySpec {
        kind,
        sources: &c.sources,
        dest: &c.dest,
        owner,
        chmod: chmod.as_ref(),
        exclude: &exclude,
        reinclude_below: Some(&reinclude_below),
        parents: c.parents,
        unpack: c.unpack,
        mtime: state.opts.source_date_epoch,
    };
    fileop::copy(&src_root, dest_root, &spec).map_err(StepError::other)?;
    Ok(())
}

/// A checksum of everything the COPY/ADD actions of `op` read from local
/// contexts (paths, types, modes unless `--chmod`, contents, link targets),
/// or `None` when it reads none.
pub fn context_checksum(
    state: &BuildState,
    op: &FileOp,
    inputs: &[Arc<VertexResult>],
) -> Result<Option<String>, StepError> {
    let mut parts = Vec::new();
    for action in &op.actions {
        let FileAction::Copy(c) = action else {
            continue;
        };
        let Some(ResultKind::Context { name }) = inputs.get(c.input).map(|r| &r.kind) else {
            continue;
        };
        let ctx = state.context(name)?;
        let exclude = if c.exclude.is_empty() {
            None
        } else {
            Some(Patterns::new(c.exclude.iter().map(String::as_str)).map_err(StepError::other)?)
        };
        let opts = ChecksumOptions {
            ignore_mode: c.chmod.is_some(),
        };
        for source in &c.sources {
            let sel = ctx.select(
                source,
                &SelectOptions {
                    exclude: exclude.clone(),
                },
            );
            let sum = match sel {
                Ok(sel) => ctx.checksum(&sel, &opts).map_err(StepError::other)?,
                // A wildcard matching nothing copies nothing (BuildKit).
                Err(ContextError::NoSourceFiles { .. }) => "empty".to_string(),
                Err(e) => return Err(StepError::other(e)),
            };
            parts.push(format!("{name}:{source}={sum}"));
        }
    }
    Ok((!parts.is_empty()).then(|| parts.join("\n")))
}
