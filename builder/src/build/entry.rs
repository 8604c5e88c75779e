//! One whole build: the Dockerfile text of a [`BuildRequest`] parsed,
//! converted (base images resolved on the way), solved, and exported.
//!
//! With several `--platform`s the Dockerfile is converted once per platform
//! and the graphs merged by vertex digest (`convert_platforms`), so steps
//! equal for every platform run once; one solve covers every platform's
//! target, and [`super::platforms`] exports the results as an image index.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hoist_frontend::convert::{self, ConvertOptions, NamedContext};
use hoist_frontend::graph::{BuildGraph, ImageConfig, Network, Platform};
use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::digest::Digest;
use hoist_snapshotter::snapshot::{Driver, SnapshotStore};

use super::error::{BuildError, StepError};
use super::export_fs::{export_local, export_tar};
use super::output_plan::{OutputPlan, assemble_images, create_file};
use super::platforms::{export_platforms, mark_emulated, target_layers};
use super::resolve::{BuildResolver, ResolvedMap};
use super::result::LayerRef;
use super::runner::StepRunner;
use super::ssh_agent::{KeyAgent, is_socket};
use super::state::{BuildState, SolveOptions};
use crate::export::archive::{ArchiveImage, write_docker_tar, write_layout_dir, write_oci_tar};
use crate::export::spec::{OutputDest, OutputKind, OutputSpec};
use crate::image::AssembledImage;
use crate::image::index::AssembledIndex;
use crate::progress::{Event, MeteredWriter, Progress, TransferMeter};
use crate::registry::{
    PushMeters, PushOptions, Reference, RegistryClient, RegistryOptions, push_image_with,
};
use crate::request::{BuildContextSpec, BuildRequest, NetworkMode};
use crate::root::DataRoot;
use crate::solver::{Cancel, SolveError, solve};
use crate::source::image::ImageResolver;
use crate::source::image::tag_cache::TagCache;
use crate::store::ImageStore;

/// Where a build runs: the data root and the hoist executable that serves
/// as the sandbox's init.
#[derive(Debug, Clone)]
pub struct BuildEnv {
    pub root: PathBuf,
    pub exe: PathBuf,
}

/// What a finished build produced.
#[derive(Debug)]
pub struct BuildOutcome {
    pub graph: Arc<BuildGraph>,
    /// The target stage's image config (without rootfs diff_ids yet).
    pub config: ImageConfig,
    /// The final filesystem's layers, bottom first.
    pub layers: Vec<LayerRef>,
    /// The image of the first image output (none for filesystem outputs).
    pub image: Option<ExportedImage>,
    /// With several platforms: the index of the first image output
    /// (`image` is then `None`; `config` and `layers` are the first
    /// platform's).
    pub index: Option<AssembledIndex>,
}

/// An image a build exported, and the names it was given (normalised).
#[derive(Debug, Clone)]
pub struct ExportedImage {
    pub image: AssembledImage,
    pub names: Vec<String>,
}

/// Runs the build `req` describes.
pub async fn build(
    req: &BuildRequest,
    env: &BuildEnv,
    progress: Arc<dyn Progress>,
    cancel: Cancel,
) -> Result<BuildOutcome, BuildError> {
    let root = DataRoot::open(&env.root).map_err(BuildError::setup)?;
    // Held until the build returns: `hoist prune` waits for it.
    let _root_lock = root.lock_shared().map_err(BuildError::setup)?;
    let dockerfile = hoist_frontend::parser::parse(&req.dockerfile_text)?;
    let platforms = match req.platforms.as_slice() {
        [] => vec![linux_host()],
        ps => ps.to_vec(),
    };
    let mut local_dirs = BTreeMap::from([("context".to_string(), req.context.clone())]);
    let mut named = BTreeMap::new();
    for (name, spec) in &req.build_contexts {
        let nc = match spec {
            BuildContextSpec::Local(dir) => {
                local_dirs.insert(name.clone(), dir.clone());
                NamedContext::Local { name: name.clone() }
            }
            BuildContextSpec::Image(r) => NamedContext::Image(r.clone()),
            BuildContextSpec::OciLayout { path, reference } => NamedContext::OciLayout {
                path: path.display().to_string(),
                tag: reference.clone(),
            },
            BuildContextSpec::Url(u) => {
                return Err(BuildError::setup(format!(
                    "--build-context {name}={u}: URL contexts are not supported yet"
                )));
            }
        };
        named.insert(name.clone(), nc);
    }
    let mut build_args = req.build_args.clone();
    if let Some(epoch) = req.source_date_epoch {
        build_args
            .entry("SOURCE_DATE_EPOCH".to_string())
            .or_insert_with(|| epoch.to_string());
    }
    let opts = ConvertOptions {
        target: req.target.clone(),
        build_args,
        target_platform: platforms[0].clone(),
        build_platform: linux_host(),
        named_contexts: named,
        labels: req.labels.clone(),
    };

    let content = ContentStore::open(root.content()).map_err(BuildError::setup)?;
    let registry = Arc::new(
        RegistryClient::new(RegistryOptions {
            insecure: req.insecure_registries.clone(),
            ..RegistryOptions::default()
        })
        .with_progress(progress.clone()),
    );
    let images = Arc::new(
        ImageResolver::new(content.clone(), registry.clone())
            .with_tag_cache(TagCache::new(root.images().join("resolved"))),
    );
    let resolved: ResolvedMap = Arc::new(Mutex::new(Default::default()));

    // Conversion is synchronous; it resolves base images through the
    // registry code, blocking this (blocking-pool) thread.
    let started = Instant::now();
    let resolver = BuildResolver {
        images: images.clone(),
        handle: tokio::runtime::Handle::current(),
        pull: req.pull,
        resolved: resolved.clone(),
    };
    let text = req.dockerfile_text.clone();
    let converted = tokio::task::spawn_blocking(move || {
        convert::convert_platforms(&dockerfile, &text, &opts, &platforms, &resolver)
    })
    .await
    .map_err(BuildError::setup)??;
    let roots = converted.roots();
    let (mut graph, targets) = (converted.graph, converted.targets);
    mark_emulated(&mut graph, &Platform::host());
    for w in &graph.warnings {
        progress.emit(Event::Warning {
            message: w.message.clone(),
        });
    }
    progress.emit(Event::Phase {
        name: "load build definition".into(),
        duration: started.elapsed(),
    });
    let graph = Arc::new(graph);

    let snapshots = Arc::new(SnapshotStore::open(root.snapshots()).map_err(BuildError::setup)?);
    let records =
        crate::solver::cache::RecordStore::open(root.cache_records()).map_err(BuildError::setup)?;
    // Positions in `graph.stages`, which is what `Vertex::stage` holds.
    let no_cache_stages = graph
        .stages
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            s.name.as_ref().is_some_and(|n| {
                req.no_cache_filter
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(n))
            })
        })
        .map(|(i, _)| i)
        .collect();
    // Key files are served through a private agent kept alive for the build.
    let mut agents = Vec::new();
    let mut ssh = BTreeMap::new();
    for spec in &req.ssh {
        let paths = if spec.paths.is_empty() {
            std::env::var_os("SSH_AUTH_SOCK")
                .map(PathBuf::from)
                .into_iter()
                .collect()
        } else {
            spec.paths.clone()
        };
        let paths = if !paths.is_empty() && paths.iter().all(|p| !is_socket(p)) {
            let agent =
                KeyAgent::start(&spec.id, &paths, &root.tmp()).map_err(BuildError::Setup)?;
            let socket = agent.socket.clone();
            agents.push(agent);
            vec![socket]
        } else {
            paths
        };
        ssh.insert(spec.id.clone(), paths);
    }
    let solve_opts = SolveOptions {
        no_cache: req.no_cache,
        no_cache_stages,
        default_network: match req.network {
            NetworkMode::None => Network::None,
            NetworkMode::Host => Network::Host,
            NetworkMode::Default => Network::Default,
        },
        secrets: req
            .secrets
            .iter()
            .map(|s| (s.id.clone(), s.source.clone()))
            .collect(),
        ssh,
        pull: req.pull,
        source_date_epoch: req.source_date_epoch,
        driver: Driver::Auto,
        exe: env.exe.clone(),
        local_dirs,
        dockerfile: req.dockerfile.clone(),
    };
    let remote_cache = crate::remote_cache::RemoteCache::open(
        &req.cache_from,
        req.cache_to.clone(),
        registry.clone(),
        &content,
        progress.as_ref(),
    )
    .await;
    let state = Arc::new(
        BuildState::new(
            graph.clone(),
            root,
            content,
            snapshots,
            records,
            images,
            registry,
            resolved,
            progress.clone(),
            solve_opts,
        )
        .with_remote_cache(remote_cache),
    );
    state
        .remote_cache
        .set_finals(roots.iter().map(|r| r.0).collect());
    let target = graph.target_stage().clone();
    let runner = Arc::new(StepRunner {
        state: state.clone(),
    });
    let results = solve(&graph, &roots, req.jobs.max(1), runner, cancel.clone()).await;
    state.save_context_caches();
    let results = results.map_err(|e| match e {
        SolveError::Vertex { vertex, error } => step_error(&graph, vertex.0, error),
        SolveError::Panic { vertex, message } => step_error(
            &graph,
            vertex.0,
            StepError::msg(format!("panicked: {message}")),
        ),
        SolveError::Cancelled => BuildError::Interrupted,
    })?;
    let layers = results
        .get(&target.result)
        .map(|r| r.layers().to_vec())
        .unwrap_or_default();
    let several = targets.len() > 1;

    let outputs = if req.outputs.is_empty() {
        // No -o: the local image store, under the -t names.
        let mut image = OutputSpec::new(OutputKind::Image);
        image.push = req.push;
        vec![image]
    } else {
        req.outputs.clone()
    };
    if several {
        let per_platform = target_layers(&graph, &targets, &results);
        let index = export_platforms(req, &state, &graph, per_platform, &outputs).await?;
        export_cache(req, &state).await?;
        return Ok(BuildOutcome {
            graph: graph.clone(),
            config: target.config.clone(),
            layers,
            image: None,
            index,
        });
    }
    let mut image = None;
    for out in &outputs {
        let started = Instant::now();
        let st = state.clone();
        let layers2 = layers.clone();
        let config = target.config.clone();
        let plan = OutputPlan::new(out, req).map_err(BuildError::setup)?;
        let names = plan.names.clone();
        let out2 = out.clone();
        let assembled =
            tokio::task::spawn_blocking(move || -> Result<Option<AssembledImage>, StepError> {
                let OutputPlan {
                    names,
                    push,
                    options,
                    task,
                } = plan;
                let assemble_image = || -> Result<AssembledImage, StepError> {
                    assemble_images(&st, &task, &[(&layers2, &config)], &options)?
                        .pop()
                        .ok_or_else(|| StepError::msg("no image was assembled"))
                };
                match (out2.kind, out2.dest) {
                    (OutputKind::Local, Some(OutputDest::Path(dir))) => {
                        export_local(&st, &layers2, &dir).map(|()| None)
                    }
                    (OutputKind::Local | OutputKind::Tar, Some(OutputDest::Stdout)) => {
                        export_tar(&st, &layers2, std::io::stdout().lock()).map(|()| None)
                    }
                    (OutputKind::Tar, Some(OutputDest::Path(file))) => {
                        export_tar(&st, &layers2, create_file(&file)?).map(|()| None)
                    }
                    (OutputKind::CacheOnly, _) => Ok(None),
                    (OutputKind::Image | OutputKind::Registry | OutputKind::Docker, None) => {
                        let img = assemble_image()?;
                        if out2.store || !push {
                            let store = ImageStore::open(&st.root).map_err(StepError::other)?;
                            store
                                .tag(&img.manifest_descriptor(), &names)
                                .map_err(StepError::other)?;
                        }
                        if push {
                            push_image(&st, &img.manifest_digest, &names)?;
                        }
                        Ok(Some(img))
                    }
                    (kind @ (OutputKind::Oci | OutputKind::Docker), Some(dest)) => {
                        let img = assemble_image()?;
                        let descriptor = img.manifest_descriptor();
                        let archive = ArchiveImage {
                            manifest: &descriptor,
                            parsed: &img.manifest,
                            names: &names,
                        };
                        let mtime = options.source_date_epoch.unwrap_or(0).max(0) as u64;
                        let size = archive_size(&img);
                        let meter = |what: String| {
                            TransferMeter::new(st.progress.clone(), task.clone(), what, Some(size))
                        };
                        let write = |w: &mut dyn std::io::Write| match kind {
                            OutputKind::Docker => write_docker_tar(&st.content, &archive, mtime, w),
                            _ => write_oci_tar(&st.content, &archive, mtime, w),
                        };
                        match dest {
                            OutputDest::Stdout => {
                                let out = std::io::stdout().lock();
                                let mut w =
                                    MeteredWriter::new(out, meter("writing to stdout".into()));
                                let written = write(&mut w);
                                drop(w.finish());
                                written
                            }
                            OutputDest::Path(dir) if !out2.tar => {
                                write_layout_dir(&st.content, &archive, &dir)
                            }
                            OutputDest::Path(file) => {
                                let what = format!("writing {}", file.display());
                                let mut w = MeteredWriter::new(create_file(&file)?, meter(what));
                                let written = write(&mut w);
                                w.finish();
                                written
                            }
                        }
                        .map_err(StepError::other)?;
                        Ok(Some(img))
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
        if image.is_none() {
            image = assembled.map(|img| ExportedImage { image: img, names });
        }
        progress.emit(Event::Phase {
            name: format!("exporting to {}", out.kind.name()),
            duration: started.elapsed(),
        });
    }
    export_cache(req, &state).await?;
    Ok(BuildOutcome {
        graph: graph.clone(),
        config: target.config.clone(),
        layers,
        image,
        index: None,
    })
}

/// `type=registry` / `push=true` / `--push`: pushes the assembled image or index
/// (its blobs are in the content store) to each of `names`. Blobs the
/// registry already has are skipped; the manifest goes last.
pub(super) fn push_image(
    state: &BuildState,
    manifest_digest: &Digest,
    names: &[String],
) -> Result<(), StepError> {
    if names.is_empty() {
        return Err(StepError::msg(
            "pushing needs an image name: pass -t NAME or name=NAME in --output",
        ));
    }
    let handle = tokio::runtime::Handle::current();
    for name in names {
        let started = Instant::now();
        let target = Reference::parse(name).map_err(StepError::other)?;
        let meters = PushMeters::new(state.progress.clone(), &target);
        let report = handle
            .block_on(push_image_with(
                &state.registry,
                &state.content,
                manifest_digest,
                &target,
                &PushOptions::default(),
                &|event| meters.observe(event),
            ))
            .map_err(StepError::other)?;
        state.progress.emit(Event::Phase {
            name: format!(
                "pushing {target} ({} blobs uploaded, {} already there, {} bytes)",
                report.uploaded.len(),
                report.skipped.len() + report.mounted.len(),
                report.bytes_uploaded
            ),
            duration: started.elapsed(),
        });
    }
    Ok(())
}

/// Writes the `--cache-to` caches, after the outputs.
async fn export_cache(req: &BuildRequest, state: &Arc<BuildState>) -> Result<(), BuildError> {
    if req.cache_to.is_empty() {
        return Ok(());
    }
    let st = state.clone();
    tokio::task::spawn_blocking(move || st.remote_cache.export(&st))
        .await
        .map_err(BuildError::setup)?
        .map_err(BuildError::Setup)
}

/// The bytes of an image's blobs: what writing it as an archive moves.
fn archive_size(image: &AssembledImage) -> u64 {
    image.manifest_bytes.len() as u64
        + image.manifest.config.size
        + image.manifest.layers.iter().map(|l| l.size).sum::<u64>()
}

fn step_error(graph: &BuildGraph, index: usize, error: StepError) -> BuildError {
    let v = graph.vertices.get(index);
    BuildError::Step {
        name: v.map(|v| v.name.clone()).unwrap_or_default(),
        span: v.and_then(|v| v.span),
        error,
    }
}

/// `linux/<host architecture>`: images are Linux images wherever hoist runs.
fn linux_host() -> Platform {
    let host = Platform::host();
    Platform::new("linux", &host.architecture, &host.variant)
}
