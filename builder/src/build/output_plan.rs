//! What the exports of one platform (`entry.rs`) and of several
//! (`platforms.rs`) share: an output's [`OutputPlan`] (its image names,
//! whether it pushes, how its images are assembled, its progress task),
//! [`assemble_images`] with layer progress, and [`create_file`] for a
//! destination.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use hoist_frontend::graph::ImageConfig;
use hoist_snapshotter::digest::Digest;

use super::error::StepError;
use super::layer_meters::LayerMeters;
use super::layers::materialize;
use super::result::LayerRef;
use super::state::BuildState;
use crate::export::spec::{OutputKind, OutputSpec};
use crate::image::{AssembledImage, ImageOptions, LayerSources, assemble};
use crate::request::BuildRequest;
use crate::store::normalise_name;

/// How one output is exported.
#[derive(Debug)]
pub(super) struct OutputPlan {
    /// The image names it gives (normalised).
    pub names: Vec<String>,
    /// Whether the image goes to a registry.
    pub push: bool,
    pub options: ImageOptions,
    /// The progress task of its transfers (`exporting to oci`).
    pub task: String,
}

impl OutputPlan {
    /// The plan of `out`; the error names a bad image name.
    pub(super) fn new(out: &OutputSpec, req: &BuildRequest) -> Result<OutputPlan, String> {
        let names = output_names(out, &req.tags)?;
        let push = out.push || (req.push && out.kind == OutputKind::Image);
        let mut options = image_options(out, req);
        // Only stored, not sent anywhere: new layers stay plain tars.
        options.plain_new_layers = out.kind == OutputKind::Image && !push;
        Ok(OutputPlan {
            names,
            push,
            options,
            task: format!("exporting to {}", out.kind.name()),
        })
    }
}

/// Assembles one image per `(layers, config)` with `options`, each written
/// layer reported under `task`. Base layers are unpacked first when
/// `rewrite-timestamp` rewrites them; blobs imported from a remote cache
/// are fetched and the inline cache annotated per image.
pub(super) fn assemble_images(
    st: &BuildState,
    task: &str,
    parts: &[(&[LayerRef], &ImageConfig)],
    options: &ImageOptions,
) -> Result<Vec<AssembledImage>, StepError> {
    let records = st.root.layer_records();
    let meters = LayerMeters::new(st.progress.clone(), task);
    let observe = |id: &Digest, bytes: u64| meters.observe(id, bytes);
    let src = LayerSources {
        content: &st.content,
        snapshots: &st.snapshots,
        records: &records,
        observe: Some(&observe),
    };
    let mut images = Vec::with_capacity(parts.len());
    let mut assemble_all = || -> Result<(), StepError> {
        for (layers, config) in parts {
            if options.rewrite_timestamp {
                materialize(st, layers)?;
            }
            let mut options = options.clone();
            st.remote_cache
                .prepare_image(st, layers, &mut options)
                .map_err(StepError::msg)?;
            images.push(assemble(src, layers, config, &options).map_err(StepError::other)?);
        }
        Ok(())
    };
    let assembled = assemble_all();
    meters.finish();
    assembled.map(|()| images)
}

/// Creates the destination file `path` of an output, buffered.
pub(super) fn create_file(path: &Path) -> Result<BufWriter<File>, StepError> {
    File::create(path)
        .map(BufWriter::new)
        .map_err(|e| StepError::msg(format!("creating {}: {e}", path.display())))
}

/// The names an image output gives: its `name=` values and the `-t` tags,
/// normalised (`app` → `docker.io/library/app:latest`), without duplicates.
fn output_names(out: &OutputSpec, tags: &[String]) -> Result<Vec<String>, String> {
    let mut names: Vec<String> = Vec::new();
    for n in out.names.iter().chain(tags) {
        let full = normalise_name(n).map_err(|e| format!("image name {n:?}: {e}"))?;
        if !names.contains(&full) {
            names.push(full);
        }
    }
    Ok(names)
}

/// How an output wants its image assembled.
fn image_options(out: &OutputSpec, req: &BuildRequest) -> ImageOptions {
    let mut annotations = BTreeMap::new();
    for (key, value) in out.annotations.iter().chain(&req.annotations) {
        // `[LEVEL:]KEY`: only the manifest level exists for a single image.
        let key = match key.split_once(':') {
            Some((level, k)) if level == "manifest" || level.starts_with("manifest[") => k,
            Some((level, _)) if !level.contains('.') && !level.contains('/') => continue,
            _ => key.as_str(),
        };
        annotations.insert(key.to_string(), value.clone());
    }
    ImageOptions {
        compression: out.compression,
        compression_level: out.compression_level,
        force_compression: out.force_compression,
        rewrite_timestamp: out.rewrite_timestamp,
        oci_mediatypes: out.oci_mediatypes.unwrap_or(out.kind != OutputKind::Docker),
        annotations,
        source_date_epoch: req.source_date_epoch,
        plain_new_layers: false,
    }
}
