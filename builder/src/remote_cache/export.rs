//! Writing caches (`--cache-to`) after the solve: which results become
//! records (`mode=min`: the steps whose layers are the bottom of the final
//! image; `mode=max`: every step of every stage that was built), their
//! layers' blobs (the same memoised blobs an image export writes, so an
//! imported layer exports byte for byte like the original), and the sinks:
//! a registry (the artifact pushed like an image), an OCI layout directory,
//! or the image manifest's annotations (inline).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use hoist_frontend::graph::Op;
use hoist_snapshotter::digest::Digest;

use super::RemoteCache;
use super::format::{CacheBlob, CacheConfig, CacheLayer, CacheRecord, INLINE_ANNOTATION};
use super::import::layout_blob;
use super::spec::{CacheExportSpec, CacheExportTarget, CacheMode};
use crate::build::state::BuildState;
use crate::build::{LayerRef, VertexResult};
use crate::image::layer_blob::layer_blob;
use crate::image::{ImageOptions, LayerSources};
use crate::progress::{Event, TaskMeters};
use crate::registry::{PushEvent, PushOptions, Reference, push_image_with};
use crate::source::image::manifest::{ANNOTATION_REF_NAME, OCI_INDEX};

/// The step results an export of `mode` writes records for, by vertex.
fn exported_results(
    cache: &RemoteCache,
    state: &BuildState,
    mode: CacheMode,
) -> Vec<(usize, Arc<VertexResult>)> {
    let noted = cache.noted();
    let mut finals = cache.finals();
    if finals.is_empty() {
        finals.push(state.graph.target_stage().result.0);
    }
    // The layer ids of each built image (one per platform).
    let final_ids: Vec<Vec<&Digest>> = finals
        .iter()
        .filter_map(|t| noted.get(t))
        .map(|r| r.layers().iter().map(|l| &l.id).collect())
        .collect();
    noted
        .iter()
        .filter(|(v, _)| {
            state
                .graph
                .vertices
                .get(**v)
                .is_some_and(|x| matches!(x.op, Op::Exec(_) | Op::File(_)))
        })
        .filter(|(_, r)| match mode {
            CacheMode::Max => true,
            CacheMode::Min => {
                let ids = r.layers();
                final_ids.iter().any(|image| {
                    ids.len() <= image.len() && ids.iter().zip(image).all(|(a, b)| &a.id == *b)
                })
            }
        })
        .map(|(v, r)| (*v, r.clone()))
        .collect()
}

/// The cache config of the results `mode` selects, blobs written with `opts`.
/// Results whose layers cannot be described are left out, with a warning.
pub(super) fn build_config(
    cache: &RemoteCache,
    state: &BuildState,
    mode: CacheMode,
    opts: &ImageOptions,
) -> CacheConfig {
    let noted = cache.noted();
    let mut config = CacheConfig::new(opts.source_date_epoch);
    for (vertex, result) in exported_results(cache, state, mode) {
        let layers = result.layers();
        let mut described = true;
        for (j, layer) in layers.iter().enumerate() {
            if config.layers.contains_key(&layer.id) {
                continue;
            }
            match describe(cache, state, layers, j, opts) {
                Ok(l) => {
                    config.layers.insert(layer.id.clone(), l);
                }
                Err(why) => {
                    state.progress.emit(Event::Warning {
                        message: format!("cache export leaves out a step: {why}"),
                    });
                    described = false;
                    break;
                }
            }
        }
        if !described {
            continue;
        }
        let v = &state.graph.vertices[vertex];
        config.records.insert(
            result.cache_key.clone(),
            CacheRecord {
                layers: layers.iter().map(|l| l.id.clone()).collect(),
                parents: v
                    .inputs
                    .iter()
                    .filter_map(|i| noted.get(&i.0).map(|r| r.cache_key.clone()))
                    .collect(),
                name: v.name.clone(),
            },
        );
    }
    config
}

/// The cache entry of `layers[j]`: a base-image layer keeps its blob; a
/// built layer gets the blob an image export with `opts` writes (none when
/// it changes nothing). Every blob ends up in the content store.
fn describe(
    cache: &RemoteCache,
    state: &BuildState,
    layers: &[LayerRef],
    j: usize,
    opts: &ImageOptions,
) -> Result<CacheLayer, String> {
    let layer = &layers[j];
    let present = |d: &Digest| -> Result<(), String> {
        if state.content.contains(d) || cache.ensure_blob(&state.content, d)? {
            Ok(())
        } else {
            Err(format!(
                "blob {d} of layer {} is not in the content store",
                layer.id
            ))
        }
    };
    if let (Some(blob), Some(diff_id)) = (&layer.blob, &layer.diff_id)
        && diff_id == &layer.id
    {
        present(&blob.digest)?;
        return Ok(CacheLayer {
            blob: Some(CacheBlob {
                digest: blob.digest.clone(),
                size: blob.size,
                media_type: blob.media_type.clone(),
                diff_id: diff_id.clone(),
                level: None,
            }),
        });
    }
    if let Some(blob) = &layer.blob
        && !state.snapshots.has_layer(&layer.id)
    {
        present(&blob.digest)?;
    }
    let records = state.root.layer_records();
    let src = LayerSources {
        content: &state.content,
        snapshots: &state.snapshots,
        records: &records,
        observe: None,
    };
    let below: Vec<_> = layers[..j]
        .iter()
        .rev()
        .map(|l| state.snapshots.layer_path(&l.id))
        .filter(|p| p.is_dir())
        .collect();
    let written = layer_blob(src, layer, &below, opts).map_err(|e| e.to_string())?;
    Ok(CacheLayer {
        blob: written.map(|b| CacheBlob {
            digest: b.digest,
            size: b.size,
            media_type: b.media_type,
            diff_id: b.diff_id,
            level: Some(opts.encoding().level),
        }),
    })
}

/// The inline cache annotation of an image assembled with `opts`
/// (`mode=min`: its blobs are the image's own layers).
pub(super) fn inline_annotation(
    cache: &RemoteCache,
    state: &BuildState,
    opts: &ImageOptions,
) -> Result<Option<(String, String)>, String> {
    let config = build_config(cache, state, CacheMode::Min, opts);
    if config.records.is_empty() {
        return Ok(None);
    }
    let text = String::from_utf8(config.to_json()).map_err(|e| e.to_string())?;
    Ok(Some((INLINE_ANNOTATION.to_string(), text)))
}

/// Writes one registry or local export; the summary names what was written.
pub(super) fn export(
    cache: &RemoteCache,
    state: &BuildState,
    spec: &CacheExportSpec,
) -> Result<String, String> {
    let opts = ImageOptions {
        compression: spec.compression,
        source_date_epoch: state.opts.source_date_epoch,
        oci_mediatypes: true,
        ..ImageOptions::default()
    };
    let mut config = build_config(cache, state, spec.mode, &opts);
    if spec.cache_mounts {
        super::mounts::export_mounts(cache, state, &mut config, &opts)?;
    }
    let config_bytes = config.to_json();
    let config_digest = state
        .content
        .write_bytes(&config_bytes, None, "cache config")
        .map_err(|e| e.to_string())?;
    let manifest = config.manifest(&config_digest, config_bytes.len() as u64);
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|e| e.to_string())?;
    let manifest_digest = state
        .content
        .write_bytes(&manifest_bytes, None, "cache manifest")
        .map_err(|e| e.to_string())?;
    let counts = format!(
        "{} records, {} blobs",
        config.records.len(),
        manifest.layers.len()
    );
    match &spec.target {
        CacheExportTarget::Registry { reference } => {
            let target = Reference::parse(reference).map_err(|e| e.to_string())?;
            let (Some(registry), Some(handle)) = (cache.registry.as_ref(), cache.handle.as_ref())
            else {
                return Err("no registry client".into());
            };
            let task = format!("exporting cache to {target}");
            let meters = TaskMeters::new(state.progress.clone(), task.clone());
            let pushed = handle.block_on(push_image_with(
                registry,
                &state.content,
                &manifest_digest,
                &target,
                &PushOptions::default(),
                &|event| {
                    if let PushEvent::Blob {
                        digest,
                        current,
                        total,
                    } = event
                    {
                        meters.set(&digest.to_string(), current, Some(total));
                    }
                },
            ));
            meters.finish_all();
            pushed.map_err(|e| e.to_string())?;
            Ok(format!("{task} ({counts})"))
        }
        CacheExportTarget::Local { dest } => {
            let mut blobs: Vec<(Digest, u64)> = manifest
                .layers
                .iter()
                .map(|d| (d.digest.clone(), d.size))
                .collect();
            blobs.push((config_digest.clone(), config_bytes.len() as u64));
            blobs.push((manifest_digest.clone(), manifest_bytes.len() as u64));
            write_layout(
                state,
                dest,
                &blobs,
                &manifest_digest,
                manifest_bytes.len() as u64,
            )?;
            Ok(format!("exporting cache to {} ({counts})", dest.display()))
        }
        CacheExportTarget::Inline => Ok(String::new()),
    }
}

/// Writes an OCI layout at `dest` whose index names the cache manifest;
/// blobs already there are kept, the index is replaced atomically.
fn write_layout(
    state: &BuildState,
    dest: &Path,
    blobs: &[(Digest, u64)],
    manifest: &Digest,
    manifest_size: u64,
) -> Result<(), String> {
    let io = |what: &Path, e: std::io::Error| format!("{}: {e}", what.display());
    fs::create_dir_all(dest).map_err(|e| io(dest, e))?;
    for (digest, _) in blobs {
        let to = layout_blob(dest, digest);
        if to.is_file() {
            continue;
        }
        let dir = to.parent().unwrap_or(dest);
        fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let from = state.content.path(digest);
        let tmp = dir.join(format!(".tmp-{}", digest.hex()));
        let _ = fs::remove_file(&tmp);
        if fs::hard_link(&from, &tmp).is_err() {
            fs::copy(&from, &tmp).map_err(|e| io(&from, e))?;
        }
        fs::rename(&tmp, &to).map_err(|e| io(&to, e))?;
    }
    let layout = dest.join("oci-layout");
    fs::write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#).map_err(|e| io(&layout, e))?;
    #[derive(serde::Serialize)]
    struct Index<'a> {
        #[serde(rename = "schemaVersion")]
        schema_version: u32,
        #[serde(rename = "mediaType")]
        media_type: &'a str,
        manifests: Vec<crate::source::image::manifest::Descriptor>,
    }
    let mut entry = super::format::descriptor(
        crate::source::image::manifest::OCI_MANIFEST,
        manifest,
        manifest_size,
    );
    entry.annotations = BTreeMap::from([(ANNOTATION_REF_NAME.to_string(), "latest".to_string())]);
    let index = Index {
        schema_version: 2,
        media_type: OCI_INDEX,
        manifests: vec![entry],
    };
    let bytes = serde_json::to_vec(&index).map_err(|e| e.to_string())?;
    let mut tmp = tempfile::NamedTempFile::new_in(dest).map_err(|e| io(dest, e))?;
    tmp.write_all(&bytes).map_err(|e| io(dest, e))?;
    let index_path = dest.join("index.json");
    tmp.persist(&index_path)
        .map_err(|e| io(&index_path, e.error))?;
    Ok(())
}
