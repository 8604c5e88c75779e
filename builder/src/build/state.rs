//! Everything one build shares between its vertex tasks: the graph, the
//! stores of the data root, the opened contexts, resolved images, secrets
//! and options.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use hoist_frontend::graph::{BuildGraph, Network, Platform};
use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::snapshot::{Driver, SnapshotStore};

use super::error::StepError;
use super::resolve::ResolvedMap;
use crate::progress::Progress;
use crate::registry::RegistryClient;
use crate::request::SecretSource;
use crate::root::DataRoot;
use crate::solver::cache::RecordStore;
use crate::source::image::ImageResolver;
use crate::source::local::{Context, IgnoreFile, Patterns};

/// Options of a solve that are not part of the graph.
#[derive(Debug, Clone)]
pub struct SolveOptions {
    /// Skip cache lookups for every step.
    pub no_cache: bool,
    /// Skip cache lookups for the steps of these stages (positions in
    /// `BuildGraph::stages`).
    pub no_cache_stages: Vec<usize>,
    /// The network of `RUN --network=default`.
    pub default_network: Network,
    pub secrets: BTreeMap<String, SecretSource>,
    /// `--ssh` id → agent socket or key paths.
    pub ssh: BTreeMap<String, Vec<PathBuf>>,
    /// Re-check base image tags against their registry.
    pub pull: bool,
    /// SOURCE_DATE_EPOCH: clamps file times of created layers.
    pub source_date_epoch: Option<i64>,
    pub driver: Driver,
    /// The hoist executable that runs `__sandbox-init`.
    pub exe: PathBuf,
    /// Directories of local contexts by name (`context` is the main one).
    pub local_dirs: BTreeMap<String, PathBuf>,
    /// Dockerfile path (its sibling `.dockerignore` rules apply to `context`).
    pub dockerfile: PathBuf,
}

/// Shared state of one build.
pub struct BuildState {
    pub graph: Arc<BuildGraph>,
    pub root: DataRoot,
    pub content: ContentStore,
    pub snapshots: Arc<SnapshotStore>,
    pub records: RecordStore,
    pub images: Arc<ImageResolver>,
    /// The registry client (pulls go through `images`; pushes use it directly).
    pub registry: Arc<RegistryClient>,
    /// Images resolved while converting (reference + platform → image).
    pub resolved: ResolvedMap,
    contexts: Mutex<HashMap<String, Arc<Context>>>,
    pub progress: Arc<dyn Progress>,
    pub opts: SolveOptions,
    pub host_platform: Platform,
    /// `--cache-from` / `--cache-to` (empty when none was given).
    pub remote_cache: crate::remote_cache::RemoteCache,
}

impl BuildState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        graph: Arc<BuildGraph>,
        root: DataRoot,
        content: ContentStore,
        snapshots: Arc<SnapshotStore>,
        records: RecordStore,
        images: Arc<ImageResolver>,
        registry: Arc<RegistryClient>,
        resolved: ResolvedMap,
        progress: Arc<dyn Progress>,
        opts: SolveOptions,
    ) -> Self {
        BuildState {
            graph,
            root,
            content,
            snapshots,
            records,
            images,
            registry,
            resolved,
            contexts: Mutex::new(HashMap::new()),
            progress,
            opts,
            host_platform: Platform::host(),
            remote_cache: Default::default(),
        }
    }

    /// The build with remote cache sources and exports.
    pub fn with_remote_cache(mut self, remote_cache: crate::remote_cache::RemoteCache) -> Self {
        self.remote_cache = remote_cache;
        self
    }

    /// The local context `name`, opened (walked, with its ignore rules and
    /// stat cache) once per build.
    pub fn context(&self, name: &str) -> Result<Arc<Context>, StepError> {
        if let Some(c) = self
            .contexts
            .lock()
            .map_err(|_| StepError::poisoned())?
            .get(name)
        {
            return Ok(c.clone());
        }
        let dir =
            self.opts.local_dirs.get(name).ok_or_else(|| {
                StepError::msg(format!("no build context named {name:?} was given"))
            })?;
        let patterns = if name == "context" {
            IgnoreFile::load(dir, &self.opts.dockerfile).map_err(StepError::other)?
        } else {
            Patterns::default()
        };
        let cache_dir = self.root.context_cache();
        let ctx =
            Arc::new(Context::open(dir, patterns, Some(&cache_dir)).map_err(StepError::other)?);
        self.contexts
            .lock()
            .map_err(|_| StepError::poisoned())?
            .insert(name.to_string(), ctx.clone());
        Ok(ctx)
    }

    /// Saves the stat caches of the contexts this build opened.
    pub fn save_context_caches(&self) {
        if let Ok(map) = self.contexts.lock() {
            for c in map.values() {
                let _ = c.save_cache();
            }
        }
    }
}
