//! The multi-platform parts of a build: marking steps that run under
//! emulation, and exporting several platforms' results as one image index
//! (or one directory per platform).
//!
//! Output types with several platforms, as buildx has them:
//! - store / `type=image` / `type=registry` / `--push`: an OCI image index
//!   (a Docker manifest list with `oci-mediatypes=false`) with one manifest
//!   per platform, stored under the names and pushed (manifests by digest,
//!   then the index by tag);
//! - `type=oci`: a layout whose index.json points at that index;
//! - `type=docker`: refused (a docker tar holds one platform);
//! - `type=local` / `type=tar`: one subdirectory per platform named
//!   `linux_amd64`, `linux_arm_v7`.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use hoist_frontend::convert::PlatformTarget;
use hoist_frontend::graph::{BuildGraph, ImageConfig, Op, Platform, VertexId};

use super::entry::push_image;
use super::error::{BuildError, StepError};
use super::export_fs::export_local;
use super::output_plan::{OutputPlan, assemble_images, create_file};
use super::result::{LayerRef, VertexResult};
use super::state::BuildState;
use crate::exec::binfmt::is_native;
use crate::export::archive::{ArchiveIndex, write_index_layout_dir, write_index_oci_tar};
use crate::export::spec::{OutputDest, OutputKind, OutputSpec};
use crate::image::index::{AssembledIndex, assemble_index};
use crate::progress::Event;
use crate::request::BuildRequest;
use crate::store::ImageStore;

/// Appends ` (emulated linux/arm64)` to the name of every RUN step whose
/// stage's platform `host` cannot execute natively, so progress shows what
/// emulation costs. Names are not part of digests.
pub fn mark_emulated(graph: &mut BuildGraph, host: &Platform) {
    let platforms: Vec<Platform> = graph.stages.iter().map(|s| s.platform.clone()).collect();
    for v in &mut graph.vertices {
        if !matches!(v.op, Op::Exec(_)) {
            continue;
        }
        if let Some(p) = v.stage.and_then(|s| platforms.get(s))
            && !is_native(host, p)
        {
            v.name = format!("{} (emulated {p})", v.name);
        }
    }
}

/// `linux/arm/v7` → `linux_arm_v7`: the subdirectory buildx names.
pub fn platform_dir_name(p: &Platform) -> String {
    p.to_string().replace('/', "_")
}

/// Each platform's final layers, in `targets` order.
pub fn target_layers(
    graph: &BuildGraph,
    targets: &[PlatformTarget],
    results: &BTreeMap<VertexId, Arc<VertexResult>>,
) -> Vec<(Platform, usize, Vec<LayerRef>)> {
    targets
        .iter()
        .map(|t| {
            let result = graph.stages[t.stage].result;
            let layers = results
                .get(&result)
                .map(|r| r.layers().to_vec())
                .unwrap_or_default();
            (t.platform.clone(), t.stage, layers)
        })
        .collect()
}

/// Exports a multi-platform result to every output; returns the index of
/// the first image output.
pub async fn export_platforms(
    req: &BuildRequest,
    state: &Arc<BuildState>,
    graph: &Arc<BuildGraph>,
    targets: Vec<(Platform, usize, Vec<LayerRef>)>,
    outputs: &[OutputSpec],
) -> Result<Option<AssembledIndex>, BuildError> {
    let mut first = None;
    let targets = Arc::new(targets);
    for out in outputs {
        if out.kind == OutputKind::Docker {
            return Err(BuildError::setup(
                "docker exporter does not currently support exporting manifest lists: \
                 use type=oci or type=registry for several platforms",
            ));
        }
        let started = Instant::now();
        let plan = OutputPlan::new(out, req).map_err(BuildError::setup)?;
        let (st, g, t, o) = (state.clone(), graph.clone(), targets.clone(), out.clone());
        let index_annotations = index_annotations(out, req);
        let index = tokio::task::spawn_blocking(move || -> Result<_, StepError> {
            let OutputPlan {
                names,
                push,
                options,
                task,
            } = plan;
            let assemble_index_now = || -> Result<AssembledIndex, StepError> {
                let parts: Vec<(&[LayerRef], &ImageConfig)> = t
                    .iter()
                    .map(|(_, stage, layers)| (layers.as_slice(), &g.stages[*stage].config))
                    .collect();
                let images = assemble_images(&st, &task, &parts, &options)?;
                let images = t.iter().map(|(p, _, _)| p.clone()).zip(images).collect();
                assemble_index(
                    &st.content,
                    images,
                    options.oci_mediatypes,
                    index_annotations.clone(),
                )
                .map_err(StepError::other)
            };
            match (o.kind, o.dest) {
                (OutputKind::Local, Some(OutputDest::Path(dir))) => {
                    for (platform, _, layers) in t.iter() {
                        export_local(&st, layers, &dir.join(platform_dir_name(platform)))?;
                    }
                    Ok(None)
                }
                (OutputKind::Tar, Some(dest)) => {
                    let tmp = tempfile::tempdir_in(st.root.tmp()).map_err(StepError::other)?;
                    for (platform, _, layers) in t.iter() {
                        export_local(&st, layers, &tmp.path().join(platform_dir_name(platform)))?;
                    }
                    match dest {
                        OutputDest::Stdout => write_dir_tar(tmp.path(), std::io::stdout().lock()),
                        OutputDest::Path(file) => write_dir_tar(tmp.path(), create_file(&file)?),
                    }?;
                    Ok(None)
                }
                (OutputKind::CacheOnly, _) => Ok(None),
                (OutputKind::Image | OutputKind::Registry, None) => {
                    let index = assemble_index_now()?;
                    if o.store || !push {
                        let store = ImageStore::open(&st.root).map_err(StepError::other)?;
                        store
                            .tag(&index.descriptor(), &names)
                            .map_err(StepError::other)?;
                    }
                    if push {
                        push_image(&st, &index.digest, &names)?;
                    }
                    Ok(Some(index))
                }
                (OutputKind::Oci, Some(dest)) => {
                    let index = assemble_index_now()?;
                    let descriptor = index.descriptor();
                    let children = index.children();
                    let archive = ArchiveIndex {
                        index: &descriptor,
                        images: &children,
                        names: &names,
                    };
                    let mtime = options.source_date_epoch.unwrap_or(0).max(0) as u64;
                    match dest {
                        OutputDest::Stdout => {
                            write_index_oci_tar(&st.content, &archive, mtime, std::io::stdout())
                        }
                        OutputDest::Path(dir) if !o.tar => {
                            write_index_layout_dir(&st.content, &archive, &dir)
                        }
                        OutputDest::Path(file) => {
                            write_index_oci_tar(&st.content, &archive, mtime, create_file(&file)?)
                        }
                    }
                    .map_err(StepError::other)?;
                    Ok(Some(index))
                }
                (k, _) => Err(StepError::msg(format!(
                    "output type={} needs dest=PATH",
                    k.name()
                ))),
            }
        })
        .await
        .map_err(BuildError::setup)?
        .map_err(|e| BuildError::Setup(format!("exporting: {e}")))?;
        if first.is_none() {
            first = index;
        }
        state.progress.emit(Event::Phase {
            name: format!("exporting to {}", out.kind.name()),
            duration: started.elapsed(),
        });
    }
    Ok(first)
}

/// The `index:KEY=VALUE` annotations of `--annotation` and the output's
/// `annotation-index.KEY=VALUE`: the image index's own.
fn index_annotations(out: &OutputSpec, req: &BuildRequest) -> BTreeMap<String, String> {
    out.annotations
        .iter()
        .chain(&req.annotations)
        .filter_map(|(key, value)| {
            let (level, k) = key.split_once(':')?;
            (level == "index").then(|| (k.to_string(), value.clone()))
        })
        .collect()
}

/// A tar of the directory `dir`'s contents (paths relative to it), with
/// entries in name order.
fn write_dir_tar(dir: &Path, out: impl std::io::Write) -> Result<(), StepError> {
    let mut tar = tar::Builder::new(out);
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Deterministic);
    let walk = walkdir::WalkDir::new(dir).min_depth(1).sort_by_file_name();
    for entry in walk {
        let entry = entry.map_err(StepError::other)?;
        let rel = entry
            .path()
            .strip_prefix(dir)
            .map_err(StepError::other)?
            .to_path_buf();
        tar.append_path_with_name(entry.path(), &rel)
            .map_err(|e| StepError::msg(format!("adding {} to the tar: {e}", rel.display())))?;
    }
    tar.into_inner()
        .and_then(|mut w| w.flush())
        .map_err(|e| StepError::msg(format!("writing the tar: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_dirs_are_named_like_buildx() {
        let dirs: Vec<String> = ["linux/amd64", "linux/arm64", "linux/arm/v7"]
            .iter()
            .map(|p| platform_dir_name(&p.parse().unwrap()))
            .collect();
        assert_eq!(dirs, ["linux_amd64", "linux_arm64", "linux_arm_v7"]);
    }
}
