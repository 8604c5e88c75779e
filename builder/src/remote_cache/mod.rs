//! The shared build cache (`--cache-from` / `--cache-to`): cache records
//! exported to and imported from registries, OCI layout directories and
//! image manifests (inline), so that a build on another machine (another
//! data root) can reuse steps this one ran.
//!
//! - [`spec`]: the flag values (buildx syntax).
//! - [`format`]: the cache artifact (a cache config blob listing records by
//!   cache key and the layers they are made of; an OCI manifest carrying it).
//! - [`import`]: reading sources; blobs are fetched lazily.
//! - [`export`]: writing records after the solve (`mode=min|max`), and the
//!   inline annotation of an image.
//! - `mounts`: `RUN --mount=type=cache` contents (`cache-mounts=true`).
//!
//! The seam with the rest of the builder is [`RemoteCache`], held by the
//! build state: the runner asks [`RemoteCache::lookup`] when its own record
//! store misses and tells [`RemoteCache::note`] every result; layers are
//! fetched by [`RemoteCache::ensure_blob`] when they are unpacked and by
//! [`RemoteCache::prepare_image`] before an image is assembled; the build
//! calls [`RemoteCache::export`] after its outputs.
//!
//! Import is lazy: a hit needs only the cache config and a HEAD (or stat)
//! per blob of the record, so a step whose result only feeds other cached
//! steps never downloads its layer.

pub mod export;
pub mod format;
pub mod import;
mod mounts;
pub mod spec;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::digest::Digest;

use crate::build::state::BuildState;
use crate::build::{LayerRef, VertexResult};
use crate::image::layer_blob::{LayerBlob, remember};
use crate::progress::{Event, Progress};
use crate::registry::RegistryClient;
use crate::solver::cache::CacheKey;
use import::{ExistenceMemo, LoadedCache};
pub use spec::{CacheExportSpec, CacheExportTarget, CacheImportSpec, CacheMode, CacheSpecError};

/// The remote caches of one build: the sources read, the exports asked
/// for, and the results seen (for the export).
#[derive(Default)]
pub struct RemoteCache {
    sources: Vec<LoadedCache>,
    exports: Vec<CacheExportSpec>,
    registry: Option<Arc<RegistryClient>>,
    handle: Option<tokio::runtime::Handle>,
    existence: ExistenceMemo,
    /// Vertex index → its result, when an export was asked for.
    noted: Mutex<BTreeMap<usize, Arc<VertexResult>>>,
    /// The vertices whose results are the built images (one per platform);
    /// empty: the graph's target stage.
    finals: Mutex<Vec<usize>>,
    /// Imported cache mount contents unpacked this build, by cache id.
    seeds: Mutex<std::collections::HashMap<String, std::path::PathBuf>>,
    /// Where they are unpacked (removed when the build ends).
    seed_root: Mutex<Option<tempfile::TempDir>>,
}

impl std::fmt::Debug for RemoteCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteCache")
            .field("sources", &self.sources.len())
            .field("exports", &self.exports)
            .finish()
    }
}

impl RemoteCache {
    /// Reads the cache config of every `imports` source (a source that
    /// cannot be read is a warning) and remembers `exports` for the end of
    /// the build. Call from inside the tokio runtime.
    pub async fn open(
        imports: &[CacheImportSpec],
        exports: Vec<CacheExportSpec>,
        registry: Arc<RegistryClient>,
        content: &ContentStore,
        progress: &dyn Progress,
    ) -> RemoteCache {
        let mut sources = Vec::new();
        for spec in imports {
            match import::load(spec, &registry, content).await {
                Ok(loaded) => sources.push(loaded),
                Err(why) => progress.emit(Event::Warning {
                    message: format!(
                        "cache source {} cannot be used ({why}); building without it",
                        label(spec)
                    ),
                }),
            }
        }
        RemoteCache {
            sources,
            exports,
            registry: Some(registry),
            handle: tokio::runtime::Handle::try_current().ok(),
            existence: ExistenceMemo::default(),
            noted: Mutex::new(BTreeMap::new()),
            finals: Mutex::default(),
            seeds: Mutex::default(),
            seed_root: Mutex::default(),
        }
    }

    /// Whether any source was read.
    pub fn has_sources(&self) -> bool {
        !self.sources.is_empty()
    }

    /// Records a vertex's result for the export (nothing without one).
    pub fn note(&self, vertex: usize, result: &Arc<VertexResult>) {
        if self.exports.is_empty() {
            return;
        }
        if let Ok(mut m) = self.noted.lock() {
            m.insert(vertex, result.clone());
        }
    }

    /// The layers of the step with `key` from the first source whose record
    /// is usable (every blob present there or here). Empty layers are
    /// created and built layers' blobs remembered for exports; nothing is
    /// downloaded.
    pub async fn lookup(
        &self,
        state: &BuildState,
        key: &CacheKey,
        name: &str,
    ) -> Option<Vec<LayerRef>> {
        let registry = self.registry.as_ref()?;
        for (index, src) in self.sources.iter().enumerate() {
            let Some(record) = src.config.records.get(key) else {
                continue;
            };
            let mut usable = true;
            for id in &record.layers {
                let blob = src.config.layers.get(id).and_then(|l| l.blob.as_ref());
                let present = match blob {
                    _ if state.snapshots.has_layer(id) => true,
                    None => true,
                    Some(b) if state.content.contains(&b.digest) => true,
                    Some(b) => self.existence.has(index, &src.location, b, registry).await,
                };
                if !present {
                    usable = false;
                    break;
                }
            }
            if !usable {
                state.progress.emit(Event::Warning {
                    message: format!(
                        "cache record of {name} in {} refers to missing blobs; running the step",
                        src.label
                    ),
                });
                continue;
            }
            if let Err(why) = self.adopt(state, src, &record.layers) {
                state.progress.emit(Event::Warning {
                    message: format!(
                        "cache record of {name} in {} cannot be used ({why}); running the step",
                        src.label
                    ),
                });
                continue;
            }
            return Some(src.config.layer_refs(record));
        }
        None
    }

    /// Makes the layers of an imported record usable here: empty layers
    /// become empty directories; built layers' blobs are remembered as what
    /// an export with the same encoding and epoch would write.
    fn adopt(&self, state: &BuildState, src: &LoadedCache, ids: &[Digest]) -> Result<(), String> {
        let memo = state.root.layer_records();
        for id in ids {
            let Some(layer) = src.config.layers.get(id) else {
                return Err(format!("layer {id} is not described"));
            };
            match &layer.blob {
                None => {
                    state
                        .snapshots
                        .ensure_layer(id, |_| Ok::<(), std::io::Error>(()))
                        .map_err(|e| e.to_string())?;
                }
                Some(b) => {
                    if let Some(encoding) = b.encoding() {
                        let blob = LayerBlob {
                            diff_id: b.diff_id.clone(),
                            digest: b.digest.clone(),
                            size: b.size,
                            media_type: b.media_type.clone(),
                        };
                        // Only an optimisation: a failed memo recompresses.
                        let _ = remember(&memo, id, encoding, src.config.source_date_epoch, &blob);
                    }
                }
            }
        }
        Ok(())
    }

    /// Brings the blob `digest` into `content` from the first source that
    /// lists it. Blocking: call from a blocking thread. `Ok(false)`: no
    /// source knows the blob.
    pub fn ensure_blob(&self, content: &ContentStore, digest: &Digest) -> Result<bool, String> {
        if content.contains(digest) {
            return Ok(true);
        }
        let (Some(registry), Some(handle)) = (self.registry.as_ref(), self.handle.as_ref()) else {
            return Ok(false);
        };
        let mut last_error = None;
        for src in &self.sources {
            let Some(blob) = src.config.blobs().into_iter().find(|b| &b.digest == digest) else {
                continue;
            };
            match handle.block_on(import::fetch(&src.location, blob, registry, content)) {
                Ok(()) => return Ok(true),
                Err(e) => last_error = Some(format!("fetching {digest} from {}: {e}", src.label)),
            }
        }
        match last_error {
            Some(e) => Err(e),
            None => Ok(false),
        }
    }

    /// Fetches the imported blobs of `layers` that are not here yet.
    pub fn ensure_layers(&self, content: &ContentStore, layers: &[LayerRef]) -> Result<(), String> {
        if self.sources.is_empty() {
            return Ok(());
        }
        for l in layers {
            if let Some(b) = &l.blob {
                self.ensure_blob(content, &b.digest)?;
            }
        }
        Ok(())
    }

    /// Before an image of `layers` is assembled with `opts`: fetches the
    /// imported blobs it will contain, and adds the inline cache annotation
    /// when `--cache-to type=inline` was asked. Blocking.
    pub fn prepare_image(
        &self,
        state: &BuildState,
        layers: &[LayerRef],
        opts: &mut crate::image::ImageOptions,
    ) -> Result<(), String> {
        self.ensure_layers(&state.content, layers)?;
        if self
            .exports
            .iter()
            .any(|e| e.target == CacheExportTarget::Inline)
        {
            match export::inline_annotation(self, state, opts) {
                Ok(Some((k, v))) => {
                    opts.annotations.insert(k, v);
                }
                Ok(None) => {}
                Err(why) => state.progress.emit(Event::Warning {
                    message: format!("inline cache not written: {why}"),
                }),
            }
        }
        Ok(())
    }

    /// Writes every non-inline `--cache-to`. A failure is a warning unless
    /// its `ignore-error=false`, then it is the error. Blocking.
    pub fn export(&self, state: &BuildState) -> Result<(), String> {
        for spec in &self.exports {
            if spec.target == CacheExportTarget::Inline {
                continue;
            }
            let started = std::time::Instant::now();
            match export::export(self, state, spec) {
                Ok(summary) => state.progress.emit(Event::Phase {
                    name: summary,
                    duration: started.elapsed(),
                }),
                Err(why) if spec.ignore_error => state.progress.emit(Event::Warning {
                    message: format!("cache export failed: {why}"),
                }),
                Err(why) => return Err(format!("cache export failed: {why}")),
            }
        }
        Ok(())
    }

    fn noted(&self) -> BTreeMap<usize, Arc<VertexResult>> {
        self.noted.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Names the vertices whose results are the images built (one per
    /// platform), for `mode=min`.
    pub fn set_finals(&self, vertices: Vec<usize>) {
        if let Ok(mut f) = self.finals.lock() {
            *f = vertices;
        }
    }

    fn finals(&self) -> Vec<usize> {
        self.finals.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

fn label(spec: &CacheImportSpec) -> String {
    match spec {
        CacheImportSpec::Registry { reference } => reference.clone(),
        CacheImportSpec::Local { src } => src.display().to_string(),
    }
}
