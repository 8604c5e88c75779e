//! The solver's [`Runner`] for hoist builds: what running one vertex means.
//!
//! - Sources: `scratch`; images (resolved, their layers referenced and
//!   unpacked only when a step mounts them); local contexts (opened once).
//! - Steps (RUN, file ops, merges): the cache key is computed from the op's
//!   digest, the inputs' keys and, for COPY from a context, the checksum of
//!   the files it reads. A cache record whose layers are all present is a hit
//!   and nothing runs; otherwise the step runs and its record is stored.

use std::future::Future;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use hoist_frontend::graph::{Op, SourceOp, Vertex, VertexId};
use hoist_snapshotter::digest::Digest;

use super::error::StepError;
use super::explain::StepHistory;
use super::file_step::{context_checksum, run_file};
use super::http_step::http_source;
use super::result::{BlobRef, LayerRef, ResultKind, StepRecord, VertexResult};
use super::run_step::run_exec;
use super::state::BuildState;
use crate::exec::CancelToken;
use crate::progress::Event;
use crate::solver::cache::{CacheKey, Lookup};
use crate::solver::{Cancel, Runner};
use crate::source::image::{ImageSource, ResolvedImage};

/// Runs the vertices of one build.
pub struct StepRunner {
    pub state: Arc<BuildState>,
}

impl Runner for StepRunner {
    type Output = Arc<VertexResult>;
    type Error = StepError;

    #[allow(clippy::manual_async_fn)] // the future must be 'static
    fn run(
        self: Arc<Self>,
        vertex: VertexId,
        inputs: Vec<Arc<VertexResult>>,
        cancel: Cancel,
    ) -> impl Future<Output = Result<Arc<VertexResult>, StepError>> + Send + 'static {
        async move {
            let v = self.state.graph.vertex(vertex).clone();
            let result = match &v.op {
                Op::Source(src) => self.source(vertex.0, &v, src).await,
                _ => self.step(vertex.0, &v, inputs, cancel).await,
            }
            .map(Arc::new);
            if let Ok(r) = &result {
                self.state.remote_cache.note(vertex.0, r);
            }
            result
        }
    }
}

impl StepRunner {
    fn emit(&self, e: Event) {
        self.state.progress.emit(e);
    }

    async fn source(
        &self,
        index: usize,
        v: &Vertex,
        src: &SourceOp,
    ) -> Result<VertexResult, StepError> {
        let started = Instant::now();
        let announce = !matches!(src, SourceOp::Scratch);
        if announce {
            self.emit(Event::Started {
                vertex: index,
                name: v.name.clone(),
                at: SystemTime::now(),
            });
        }
        let result = self.source_inner(v, src).await;
        if announce {
            self.emit(Event::Done {
                vertex: index,
                duration: started.elapsed(),
                error: result.as_ref().err().map(|e| e.to_string()),
            });
        }
        result
    }

    async fn source_inner(&self, v: &Vertex, src: &SourceOp) -> Result<VertexResult, StepError> {
        match src {
            SourceOp::Scratch => Ok(VertexResult {
                cache_key: CacheKey::compute(&v.digest, &[], None),
                kind: ResultKind::Fs(Vec::new()),
            }),
            SourceOp::Image {
                reference,
                platform,
            } => {
                let source = ImageSource::from_name(reference).map_err(StepError::other)?;
                let img = self.resolve_image(reference, source, platform).await?;
                Ok(image_result(v, &img))
            }
            SourceOp::OciLayout {
                path,
                tag,
                platform,
            } => {
                let source = ImageSource::OciLayout {
                    path: path.into(),
                    tag: tag.clone(),
                };
                let img = self
                    .resolve_image(&format!("oci-layout://{path}"), source, platform)
                    .await?;
                Ok(image_result(v, &img))
            }
            SourceOp::Local { name, .. } => {
                let state = self.state.clone();
                let n = name.clone();
                tokio::task::spawn_blocking(move || state.context(&n).map(|_| ()))
                    .await
                    .map_err(StepError::other)??;
                Ok(VertexResult {
                    cache_key: CacheKey::compute(&v.digest, &[], None),
                    kind: ResultKind::Context { name: name.clone() },
                })
            }
            SourceOp::Http {
                url,
                checksum,
                filename,
            } => http_source(&self.state, v, url, checksum.as_deref(), filename).await,
            SourceOp::Git { url, .. } => Err(StepError::msg(format!(
                "ADD of a git repository ({url}) is not supported yet"
            ))),
        }
    }

    async fn resolve_image(
        &self,
        name: &str,
        source: ImageSource,
        platform: &hoist_frontend::graph::Platform,
    ) -> Result<Arc<ResolvedImage>, StepError> {
        let key = (name.to_string(), platform.clone());
        if let Some(img) = self
            .state
            .resolved
            .lock()
            .map_err(|_| StepError::poisoned())?
            .get(&key)
        {
            return Ok(img.clone());
        }
        let img = Arc::new(
            self.state
                .images
                .resolve(&source, platform, self.state.opts.pull)
                .await
                .map_err(StepError::other)?,
        );
        self.state
            .resolved
            .lock()
            .map_err(|_| StepError::poisoned())?
            .insert(key, img.clone());
        Ok(img)
    }

    async fn step(
        &self,
        index: usize,
        v: &Vertex,
        inputs: Vec<Arc<VertexResult>>,
        cancel: Cancel,
    ) -> Result<VertexResult, StepError> {
        let state = self.state.clone();
        let external = match &v.op {
            Op::File(f) => {
                let (s, f, i) = (state.clone(), f.clone(), inputs.clone());
                tokio::task::spawn_blocking(move || context_checksum(&s, &f, &i))
                    .await
                    .map_err(StepError::other)??
            }
            _ => None,
        };
        let input_keys: Vec<&CacheKey> = inputs.iter().map(|r| &r.cache_key).collect();
        // The op alone, not `v.digest`: that one folds in the inputs'
        // definitions, which name machine-specific things (an OCI layout's
        // path); the inputs enter through their keys.
        let op_digest = hoist_frontend::graph::vertex_digest(&v.op, &[]);
        let key = CacheKey::compute(&op_digest, &input_keys, external.as_deref());
        if let Op::Merge = v.op {
            let layers = inputs
                .iter()
                .flat_map(|r| r.layers().iter().cloned())
                .collect();
            return Ok(VertexResult {
                cache_key: key,
                kind: ResultKind::Fs(layers),
            });
        }
        let skip = state.opts.no_cache
            || v.stage
                .is_some_and(|s| state.opts.no_cache_stages.contains(&s));
        if !skip {
            match state.records.get::<StepRecord>(key.hex()) {
                Lookup::Hit(rec) if rec.layers.iter().all(|l| self.layer_available(l)) => {
                    if let Some(h) = StepHistory::load(&state, v, &inputs, &key, true).await {
                        let _ = h.save(); // only explanations depend on it
                    }
                    // `hoist prune` removes the least recently used first.
                    state.records.touch(key.hex());
                    self.emit(Event::Cached {
                        vertex: index,
                        name: v.name.clone(),
                    });
                    return Ok(VertexResult {
                        cache_key: key,
                        kind: ResultKind::Fs(rec.layers),
                    });
                }
                Lookup::Hit(_) => self.emit(Event::Warning {
                    message: format!(
                        "cache record of {} refers to missing layers; running it again",
                        v.name
                    ),
                }),
                Lookup::Damaged(why) => self.emit(Event::Warning {
                    message: format!(
                        "damaged cache record of {} ({why}); running it again",
                        v.name
                    ),
                }),
                Lookup::Miss => {}
            }
            if let Some(layers) = state.remote_cache.lookup(&state, &key, &v.name).await {
                self.emit(Event::Cached {
                    vertex: index,
                    name: v.name.clone(),
                });
                return Ok(VertexResult {
                    cache_key: key,
                    kind: ResultKind::Fs(layers),
                });
            }
        }
        self.emit(Event::Started {
            vertex: index,
            name: v.name.clone(),
            at: SystemTime::now(),
        });
        let history = StepHistory::load(&state, v, &inputs, &key, false).await;
        if let Some(reason) = history.as_ref().and_then(|h| h.miss_reason(skip)) {
            self.emit(Event::CacheMiss {
                vertex: index,
                reason,
            });
        }
        let started = Instant::now();
        let token = CancelToken::new();
        let watcher = {
            let (token, cancel) = (token.clone(), cancel.clone());
            tokio::spawn(async move {
                cancel.cancelled().await;
                token.cancel();
            })
        };
        let (s, vv, k, ins, t) = (
            state.clone(),
            v.clone(),
            key.clone(),
            inputs.clone(),
            token.clone(),
        );
        let outcome = tokio::task::spawn_blocking(move || match &vv.op {
            Op::Exec(e) => run_exec(&s, index, &vv, e, &ins, &k, &t),
            Op::File(f) => run_file(&s, f, &ins, &k),
            _ => Err(StepError::msg("internal error: not a step")),
        })
        .await
        .map_err(StepError::other)
        .and_then(|r| r);
        watcher.abort();
        self.emit(Event::Done {
            vertex: index,
            duration: started.elapsed(),
            error: outcome.as_ref().err().map(|e| e.to_string()),
        });
        let layers = outcome?;
        if let Err(e) = state.records.put(
            key.hex(),
            &StepRecord {
                layers: layers.clone(),
            },
        ) {
            self.emit(Event::Warning {
                message: format!("could not store the cache record of {}: {e}", v.name),
            });
        }
        if let Some(Err(e)) = history.map(|h| h.save()) {
            self.emit(Event::Warning {
                message: format!("could not store the step history of {}: {e}", v.name),
            });
        }
        Ok(VertexResult {
            cache_key: key,
            kind: ResultKind::Fs(layers),
        })
    }

    fn layer_available(&self, l: &LayerRef) -> bool {
        self.state.snapshots.has_layer(&l.id)
            || l.blob
                .as_ref()
                .is_some_and(|b| self.state.content.contains(&b.digest))
    }
}

/// The result of an image source: its layers, keyed by the manifest digest
/// (and the platform), not by where the image came from: the same image from
/// another registry or layout path is the same cache key on every machine.
/// An image without a known digest falls back to its vertex digest.
fn image_result(v: &Vertex, img: &ResolvedImage) -> VertexResult {
    let pin: Option<String> = img
        .manifest_digest()
        .or(img.config_digest.as_ref())
        .map(Digest::to_string);
    let platform = match &v.op {
        Op::Source(SourceOp::Image { platform, .. } | SourceOp::OciLayout { platform, .. }) => {
            platform.to_string()
        }
        _ => String::new(),
    };
    let cache_key = match &pin {
        Some(pin) => CacheKey::compute(
            "hoist-image-source-v1",
            &[],
            Some(&format!("{platform}\n{pin}")),
        ),
        None => CacheKey::compute(&v.digest, &[], None),
    };
    VertexResult {
        cache_key,
        kind: ResultKind::Fs(
            img.layers
                .iter()
                .map(|l| LayerRef {
                    id: l.diff_id.clone(),
                    diff_id: Some(l.diff_id.clone()),
                    blob: Some(BlobRef {
                        digest: l.digest.clone(),
                        size: l.size,
                        media_type: l.media_type.clone(),
                    }),
                })
                .collect(),
        ),
    }
}
