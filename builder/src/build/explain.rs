//! "Why did it miss?": what each step's cache key was made of the last time
//! it ran, and the difference to this build when it runs again.
//!
//! **The same step.** A step is identified across builds by the Dockerfile
//! path, its stage (the `AS` name, or the stage's position in the Dockerfile
//! when it has none) and its step number within the stage (the `2` of
//! `[build 2/4]`): [`step_identity`]. Editing the step itself keeps its
//! identity (so we can say "the instruction changed"); editing other lines
//! keeps it too, unless a step is inserted or removed before it in the same
//! stage, which shifts the numbers of the steps after it (they are then
//! compared with their new neighbours' history, and say "the instruction
//! changed"). Internal vertices without a step number (heredoc files) have no
//! history.
//!
//! **The record.** `ROOT/cache/steps/<identity>.json` holds a [`StepInputs`]:
//! the cache key, the digest of the op without its environment, the
//! environment of a RUN (image env and build args, never secrets: those are
//! mounts, not env), each input's cache key and display name (with the
//! pinned digest for base images), and for COPY/ADD from a context the
//! per-entry content digests of the files it read. It is written after the
//! step runs, and after a cache hit whose key differs from the record (so the
//! record always describes the most recent build of the step).
//!
//! **The reason.** [`explain`] compares the record with this build's and
//! names, in order: the instruction, build args and env values, the base
//! image (or a downloaded file), context files, parent steps. At most three
//! are joined with `; `.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hoist_frontend::graph::{BuildGraph, FileAction, Op, SourceOp, Vertex, vertex_digest};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use super::error::StepError;
use super::result::{ResultKind, VertexResult};
use super::state::BuildState;
use crate::solver::cache::CacheKey;
use crate::source::local::{ChecksumOptions, ContextError, Patterns, SelectOptions};

/// Versions the record format; records of another version are ignored.
const RECORD_VERSION: u32 = 1;

/// How many reasons one explanation names at most.
const MAX_REASONS: usize = 3;

/// What a step's cache key was made of.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepInputs {
    pub version: u32,
    /// The display name (`[build 2/4] RUN make`).
    pub name: String,
    pub cache_key: String,
    /// Digest of the op alone (no inputs; a RUN's env left out).
    pub instruction: String,
    /// A RUN's environment, `NAME=value`.
    pub env: Vec<String>,
    /// Names in `env` that are build args rather than image/`ENV` values.
    pub build_args: Vec<String>,
    pub inputs: Vec<InputRecord>,
    /// Context entries a COPY/ADD read: `path` (main context) or
    /// `name:path` (named context) → what the checksum covers of it.
    pub context_files: BTreeMap<String, String>,
}

/// One input of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    pub name: String,
    pub cache_key: String,
    /// Set when the input is a base image.
    pub image: Option<ImageRecord>,
    /// The input is a local context (its files are compared one by one).
    pub context: bool,
    /// Set when the input is a downloaded file (`ADD https://...`).
    #[serde(default)]
    pub url: Option<String>,
}

/// A base image input: what it is called and the digest it resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageRecord {
    pub reference: String,
    pub pin: Option<String>,
}

/// The identity of a step across builds (see the module doc), as hex, or
/// `None` for vertices that are not numbered steps of a stage.
pub fn step_identity(graph: &BuildGraph, dockerfile: &Path, v: &Vertex) -> Option<String> {
    let stage = graph.stages.get(v.stage?)?;
    let number = step_number(&v.name)?;
    let stage_id = match &stage.name {
        Some(n) => format!("name:{n}"),
        None => format!("index:{}", stage.index),
    };
    let mut h = Sha256::new();
    h.update(b"hoist-step-identity-v1\0");
    h.update(dockerfile.as_os_str().as_encoded_bytes());
    h.update(b"\0");
    h.update(stage_id.as_bytes());
    h.update(b"\0");
    h.update(number.to_string().as_bytes());
    Some(hex::encode(h.finalize()))
}

/// The `N` of a `[stage N/M] ...` or `[N/M] ...` display name.
fn step_number(name: &str) -> Option<usize> {
    let (inside, _) = name.strip_prefix('[')?.split_once(']')?;
    let (n, _) = inside.split_whitespace().last()?.split_once('/')?;
    n.parse().ok()
}

/// A step's record as loaded from disk and as computed for this build.
#[derive(Debug)]
pub struct StepHistory {
    path: PathBuf,
    pub previous: Option<StepInputs>,
    pub current: StepInputs,
}

impl StepHistory {
    /// Loads the step's record and computes this build's (on a blocking
    /// thread: it reads context file digests). `None` when the vertex has no
    /// step identity, or when `only_if_stale` is set and the record already
    /// describes `key`. Explanations are best effort: failures give `None`.
    pub async fn load(
        state: &Arc<BuildState>,
        v: &Vertex,
        inputs: &[Arc<VertexResult>],
        key: &CacheKey,
        only_if_stale: bool,
    ) -> Option<StepHistory> {
        let (s, v, i, k) = (state.clone(), v.clone(), inputs.to_vec(), key.clone());
        tokio::task::spawn_blocking(move || {
            let dockerfile = s
                .opts
                .dockerfile
                .canonicalize()
                .unwrap_or_else(|_| s.opts.dockerfile.clone());
            let id = step_identity(&s.graph, &dockerfile, &v)?;
            let path = s.root.step_history().join(format!("{id}.json"));
            let previous = read_record(&path);
            if only_if_stale && previous.as_ref().is_some_and(|p| p.cache_key == k.0) {
                return None;
            }
            let current = observe(&s, &v, &i, &k).ok()?;
            Some(StepHistory {
                path,
                previous,
                current,
            })
        })
        .await
        .ok()
        .flatten()
    }

    /// Why the step runs, if an earlier build of it is on record.
    pub fn miss_reason(&self, cache_disabled: bool) -> Option<String> {
        let prev = self.previous.as_ref()?;
        if prev.cache_key == self.current.cache_key {
            return Some(if cache_disabled {
                "cache disabled for this step (--no-cache)".to_string()
            } else {
                "the cached result is no longer available".to_string()
            });
        }
        Some(explain(prev, &self.current))
    }

    /// Writes this build's record (temp file, then rename).
    pub fn save(&self) -> std::io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        // One write: serde_json writes token by token, a syscall each
        // on an unbuffered file (the record lists every context file).
        tmp.write_all(&serde_json::to_vec(&self.current)?)?;
        tmp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

fn read_record(path: &Path) -> Option<StepInputs> {
    let bytes = std::fs::read(path).ok()?;
    let rec: StepInputs = serde_json::from_slice(&bytes).ok()?;
    (rec.version == RECORD_VERSION).then_some(rec)
}

/// This build's [`StepInputs`] of `v`.
fn observe(
    state: &BuildState,
    v: &Vertex,
    inputs: &[Arc<VertexResult>],
    key: &CacheKey,
) -> Result<StepInputs, StepError> {
    let (instruction, env) = match &v.op {
        Op::Exec(e) => {
            let mut bare = e.clone();
            bare.env.clear();
            (vertex_digest(&Op::Exec(bare), &[]), e.env.clone())
        }
        op => (vertex_digest(op, &[]), Vec::new()),
    };
    let stage_env: BTreeSet<&str> = v
        .stage
        .and_then(|s| state.graph.stages.get(s))
        .map(|s| s.config.config.env.iter().map(|e| env_name(e)).collect())
        .unwrap_or_default();
    let build_args = env
        .iter()
        .map(|e| env_name(e))
        .filter(|n| !stage_env.contains(n))
        .map(str::to_string)
        .collect();
    let records = v
        .inputs
        .iter()
        .zip(inputs)
        .map(|(id, r)| {
            let iv = state.graph.vertex(*id);
            InputRecord {
                name: iv.name.clone(),
                cache_key: r.cache_key.0.clone(),
                image: image_record(state, &iv.op),
                context: matches!(r.kind, ResultKind::Context { .. }),
                url: match &iv.op {
                    Op::Source(SourceOp::Http { url, .. }) => Some(url.clone()),
                    _ => None,
                },
            }
        })
        .collect();
    Ok(StepInputs {
        version: RECORD_VERSION,
        name: v.name.clone(),
        cache_key: key.0.clone(),
        instruction,
        env,
        build_args,
        inputs: records,
        context_files: context_files(state, v, inputs)?,
    })
}

fn env_name(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(n, _)| n)
}

/// The reference and pinned digest of a base-image source.
fn image_record(state: &BuildState, op: &Op) -> Option<ImageRecord> {
    let (reference, platform) = match op {
        Op::Source(SourceOp::Image {
            reference,
            platform,
        }) => (reference.clone(), platform),
        Op::Source(SourceOp::OciLayout { path, platform, .. }) => {
            (format!("oci-layout://{path}"), platform)
        }
        _ => return None,
    };
    let pin = state.resolved.lock().ok().and_then(|m| {
        m.get(&(reference.clone(), platform.clone()))
            .and_then(|img| {
                img.manifest_digest()
                    .or(img.config_digest.as_ref())
                    .map(|d| d.to_string())
            })
    });
    Some(ImageRecord { reference, pin })
}

/// Per-entry digests of what the COPY/ADD actions of `v` read from contexts.
fn context_files(
    state: &BuildState,
    v: &Vertex,
    inputs: &[Arc<VertexResult>],
) -> Result<BTreeMap<String, String>, StepError> {
    let mut files = BTreeMap::new();
    let Op::File(op) = &v.op else {
        return Ok(files);
    };
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
            let sel = match ctx.select(
                source,
                &SelectOptions {
                    exclude: exclude.clone(),
                },
            ) {
                Ok(sel) => sel,
                Err(ContextError::NoSourceFiles { .. }) => continue,
                Err(e) => return Err(StepError::other(e)),
            };
            for (path, what) in ctx.entry_digests(&sel, &opts).map_err(StepError::other)? {
                let shown = if name == "context" {
                    path
                } else {
                    format!("{name}:{path}")
                };
                files.insert(shown, what);
            }
        }
    }
    Ok(files)
}

/// A short, precise reason why `current` differs from `previous`.
pub fn explain(previous: &StepInputs, current: &StepInputs) -> String {
    if previous.instruction != current.instruction || previous.inputs.len() != current.inputs.len()
    {
        return "the instruction changed".to_string();
    }
    let mut reasons = env_reasons(previous, current);
    for (p, c) in previous.inputs.iter().zip(&current.inputs) {
        if p.cache_key == c.cache_key || c.context {
            continue;
        }
        reasons.push(match (&p.image, &c.image) {
            (Some(pi), Some(ci)) => {
                let (a, b) = match (&pi.pin, &ci.pin) {
                    (Some(a), Some(b)) if a != b => (short_digest(a), short_digest(b)),
                    _ => (pi.reference.clone(), ci.reference.clone()),
                };
                format!("base image changed ({a} → {b})")
            }
            _ => match &c.url {
                Some(url) => format!("remote file {url} changed"),
                None => format!("parent step {} changed", c.name),
            },
        });
    }
    reasons.extend(file_reasons(
        &previous.context_files,
        &current.context_files,
    ));
    if reasons.is_empty() {
        return "an input changed".to_string();
    }
    reasons.truncate(MAX_REASONS);
    reasons.join("; ")
}

fn env_reasons(previous: &StepInputs, current: &StepInputs) -> Vec<String> {
    let split = |env: &[String]| -> BTreeMap<String, String> {
        env.iter()
            .map(|e| match e.split_once('=') {
                Some((n, v)) => (n.to_string(), v.to_string()),
                None => (e.clone(), String::new()),
            })
            .collect()
    };
    let (before, after) = (split(&previous.env), split(&current.env));
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let mut reasons = Vec::new();
    for name in names {
        let is_arg = previous.build_args.contains(name) || current.build_args.contains(name);
        let reason = match (before.get(name), after.get(name)) {
            (Some(a), Some(b)) if a == b => continue,
            (Some(a), Some(b)) if is_arg => {
                format!("build arg {name} changed ({} → {})", shown(a), shown(b))
            }
            (Some(_), Some(_)) => format!("env {name} changed"),
            (None, Some(b)) if is_arg => format!("build arg {name} set ({})", shown(b)),
            (None, Some(_)) => format!("env {name} added"),
            (Some(_), None) if is_arg => format!("build arg {name} no longer set"),
            (Some(_), None) => format!("env {name} removed"),
            (None, None) => continue,
        };
        reasons.push(reason);
    }
    reasons
}

fn file_reasons(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut changed = Vec::new();
    let mut added = Vec::new();
    let mut removed = Vec::new();
    for (path, what) in after {
        match before.get(path) {
            Some(w) if w == what => {}
            Some(_) => changed.push(path.as_str()),
            None => added.push(path.as_str()),
        }
    }
    for path in before.keys() {
        if !after.contains_key(path) {
            removed.push(path.as_str());
        }
    }
    [(changed, "changed"), (added, "added"), (removed, "removed")]
        .into_iter()
        .filter(|(paths, _)| !paths.is_empty())
        .map(|(paths, what)| file_list(&paths, what))
        .collect()
}

fn file_list(paths: &[&str], what: &str) -> String {
    const SHOWN: usize = 3;
    let noun = if paths.len() == 1 {
        "context file"
    } else {
        "context files"
    };
    let mut list = paths
        .iter()
        .take(SHOWN)
        .copied()
        .collect::<Vec<_>>()
        .join(", ");
    if paths.len() > SHOWN {
        list.push_str(&format!(" and {} more", paths.len() - SHOWN));
    }
    format!("{noun} {list} {what}")
}

/// A value as shown in a reason: at most 40 characters.
fn shown(value: &str) -> String {
    const MAX: usize = 40;
    if value.chars().count() <= MAX {
        value.to_string()
    } else {
        format!("{}…", value.chars().take(MAX).collect::<String>())
    }
}

/// `sha256:0123456789ab…`.
fn short_digest(d: &str) -> String {
    match d.split_once(':') {
        Some((alg, hex)) if hex.len() > 12 => format!("{alg}:{}…", &hex[..12]),
        _ => d.to_string(),
    }
}

#[cfg(test)]
#[path = "explain_tests.rs"]
mod tests;
