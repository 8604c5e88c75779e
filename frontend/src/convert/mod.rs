//! Instructions → [`crate::graph::BuildGraph`]: stages, ARG/ENV scoping, build
//! args, platform args, image config and one vertex per step, following
//! BuildKit's `dockerfile2llb`.
//!
//! [`convert`] is a pure function of the Dockerfile, the [`ConvertOptions`]
//! and what the [`ImageResolver`] says about base images (their config: env,
//! workdir, user, shell, ONBUILD triggers, history). The steps:
//!
//! 1. `plan`: global ARGs (a `--build-arg` overrides the default; defaults
//!    expand with earlier globals and the predefined `TARGET*`/`BUILD*`
//!    args), each FROM expanded with the global scope, stage names
//!    (lower-cased; duplicates are errors), the target (`--target`, else the
//!    last stage) and the stages it needs (through FROM, `COPY --from`,
//!    `RUN --mount from=` and ONBUILD triggers). Images are resolved only for
//!    needed stages. A `--build-context` named like a stage replaces that
//!    stage in FROM and `--from`, as in BuildKit.
//! 2. `stage`, `run`, `copy`: each needed stage in Dockerfile order,
//!    its state (filesystem vertex, config, state env) changed by each
//!    instruction; vertices go through [`crate::graph::GraphBuilder`], which
//!    merges equal ones, so identical steps of several stages run once.
//! 3. `--label`s join the target's labels; build args no needed stage
//!    consumed become a warning. Only needed stages were converted, so the
//!    graph holds no unreachable vertex.
//!
//! # Where hoist differs from BuildKit, on purpose
//!
//! - A name in FROM, `COPY --from` or `--mount from=` that matches a stage
//!   defined *later* is an error naming both lines (BuildKit treats such a
//!   FROM as an image name in some versions). `--from` naming its own stage
//!   is an error ("circular dependency").
//! - ENV always wins over ARG of the same name, whatever their order (the
//!   Dockerfile reference's rule): `ARG X` after `ENV X=...` does not change
//!   `X`.
//! - `FROM <stage>` inherits the base stage's state env *including its ARG
//!   values* and its list of declared ARGs (for RUN history), as BuildKit's
//!   LLB state does. The base stage's ONBUILD triggers run in the child and
//!   do not stay in the child's config.
//! - Scratch stages and named local contexts used as a base get the default
//!   `PATH` in their config Env like every other stage.
//! - `ARG` history shows the Dockerfile default (`ARG V=1`), never the
//!   `--build-arg` value; RUN history shows the values in effect.
//! - COPY with several sources or a wildcard source needs a destination
//!   ending in `/` (BuildKit only checks the count; Docker's classic builder
//!   failed later when a wildcard matched several files).
//! - `--link` is honoured only without `--chmod` (with `--chmod` the copy
//!   is made in place).
//! - The resolver is also asked about `--from`/`from=` images (for their
//!   normalised, pinned reference) and about OCI-layout named contexts, as
//!   `oci-layout://PATH[:TAG]`.
//! - `ADD --checksum` applies to http sources only; for git it is ignored.
//! - Vertex names of helper vertices (`[internal] load build context`,
//!   `[internal] heredoc EOF`, `[internal] load image REF`) are our own.
//! - `no-cache` per stage is not an option here (the builder decides what
//!   not to cache).
//! - Errors of stages the target does not need are not reported (forward
//!   references, unresolvable images); FROM lines of every stage are
//!   expanded and checked, as BuildKit does.
//!
//! [`convert_platforms`] converts once per target platform and merges the
//! graphs by vertex digest (see `platforms`).
//!
//! Vertex [`crate::graph::Vertex::stage`] is the position in
//! [`BuildGraph::stages`] (only needed stages are kept);
//! [`crate::graph::Stage::index`] is the Dockerfile position. A vertex
//! shared by several stages keeps the name and stage of its first use.
//! Mount `source`s are absolute within their input (`/` = its root);
//! COPY sources are as written for a local context and absolute for a
//! stage or image.

mod args;
mod copy;
mod outline;
mod plan;
mod platforms;
mod run;
mod stage;
mod text;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::diagnostic::{Diagnostic, Span};
use crate::graph::{BuildGraph, GraphBuilder, ImageConfig, Platform};
use crate::parser::Dockerfile;

pub use outline::{Outline, OutlineArg, OutlineSecret, OutlineSsh, TargetInfo, outline, targets};
pub use platforms::{PlatformGraph, PlatformTarget, convert_platforms, merge};

/// What a build asks of the conversion besides the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertOptions {
    /// `--target`: the stage to build (default: the last).
    pub target: Option<String>,
    /// `--build-arg NAME=VALUE`.
    pub build_args: BTreeMap<String, String>,
    /// The platform the image is for (`TARGETPLATFORM` and friends, and
    /// the platform of stages without `FROM --platform`).
    pub target_platform: Platform,
    /// The platform the build runs on (`BUILDPLATFORM` and friends).
    pub build_platform: Platform,
    /// `--build-context NAME=...`.
    pub named_contexts: BTreeMap<String, NamedContext>,
    /// `--label`, added to the target stage's labels.
    pub labels: BTreeMap<String, String>,
}

impl Default for ConvertOptions {
    /// No target, no args; both platforms `linux/<host architecture>`.
    fn default() -> Self {
        let host = Platform::host();
        let linux = Platform::new("linux", &host.architecture, &host.variant);
        ConvertOptions {
            target: None,
            build_args: BTreeMap::new(),
            target_platform: linux.clone(),
            build_platform: linux,
            named_contexts: BTreeMap::new(),
            labels: BTreeMap::new(),
        }
    }
}

/// The value of one `--build-context NAME=...`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NamedContext {
    /// A directory the builder reads as `SourceOp::Local { name }`.
    Local { name: String },
    /// `docker-image://REF`.
    Image(String),
    /// `oci-layout://PATH[:TAG]`.
    OciLayout { path: String, tag: Option<String> },
}

/// A base image as the resolver found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedImage {
    /// The normalised reference (with an `@sha256:` pin when known); it
    /// goes into the image source vertex and so into its digest.
    pub reference: String,
    pub config: ImageConfig,
}

/// How the frontend learns a base image's config. The builder implements
/// it by resolving the image; [`NoResolver`] knows nothing.
pub trait ImageResolver {
    /// Resolves `reference` (as written after expansion, or
    /// `oci-layout://PATH[:TAG]`) for `platform`. The error is a message.
    fn resolve(&self, reference: &str, platform: &Platform) -> Result<ResolvedImage, String>;
}

/// A resolver that knows no image: the reference unchanged and an empty
/// config (for offline `hoist graph` / `hoist outline`).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoResolver;

impl ImageResolver for NoResolver {
    fn resolve(&self, reference: &str, _platform: &Platform) -> Result<ResolvedImage, String> {
        Ok(ResolvedImage {
            reference: reference.to_string(),
            config: ImageConfig::default(),
        })
    }
}

/// Converts a parsed Dockerfile (`source` is its text, for locations and
/// doc comments) into the graph of the target stage.
pub fn convert(
    dockerfile: &Dockerfile,
    source: &str,
    opts: &ConvertOptions,
    resolver: &dyn ImageResolver,
) -> Result<BuildGraph, Diagnostic> {
    Ok(convert_with_report(dockerfile, source, opts, resolver)?.0)
}

/// [`convert`], also returning the plan and what the stages used.
pub(crate) fn convert_with_report(
    dockerfile: &Dockerfile,
    source: &str,
    opts: &ConvertOptions,
    resolver: &dyn ImageResolver,
) -> Result<(BuildGraph, plan::Plan, stage::Report), Diagnostic> {
    let mut plan = plan::plan(dockerfile, source, opts, resolver)?;
    // Each needed stage's commands are consumed by its conversion.
    let mut commands: Vec<Vec<_>> = plan
        .stages
        .iter_mut()
        .map(|s| std::mem::take(&mut s.commands))
        .collect();
    let mut position = vec![None; plan.stages.len()];
    for (pos, &i) in plan.reachable.iter().enumerate() {
        position[i] = Some(pos);
    }
    let mut conv = stage::Converter {
        plan: &plan,
        opts,
        resolver,
        gb: GraphBuilder::new(),
        done: vec![None; plan.stages.len()],
        stages: Vec::with_capacity(plan.reachable.len()),
        position,
        consumed: BTreeSet::new(),
        report: stage::Report::default(),
    };
    for &i in &plan.reachable {
        conv.convert_stage(i, std::mem::take(&mut commands[i]))?;
    }
    let mut stages = std::mem::take(&mut conv.stages);
    let target = conv.position[plan.target].unwrap_or(stages.len().saturating_sub(1));
    if let Some(t) = stages.get_mut(target) {
        for (k, v) in &opts.labels {
            t.config.config.labels.insert(k.clone(), v.clone());
        }
    }

    let mut used: BTreeSet<String> = conv.consumed.clone();
    used.extend(plan.global_used.iter().cloned());
    plan.global.close_over(&mut used);
    let unused: Vec<&str> = opts
        .build_args
        .keys()
        .filter(|k| {
            !used.contains(*k) && !args::PREDEFINED.contains(&k.as_str()) && !args::is_proxy_arg(k)
        })
        .map(String::as_str)
        .collect();
    let mut warnings = dockerfile.warnings.clone();
    if !unused.is_empty() {
        warnings.push(Diagnostic::new(
            format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused.join(" ")
            ),
            Span::default(),
        ));
    }
    let report = std::mem::take(&mut conv.report);
    let graph = BuildGraph {
        vertices: conv.gb.into_vertices(),
        stages,
        target,
        warnings,
    };
    // Every vertex was added as (an input of) a step of a needed stage, so
    // all are reachable from the stages' results; `retain_reachable` would
    // be a no-op (`tests/convert_robustness.rs` checks this).
    Ok((graph, plan, report))
}
