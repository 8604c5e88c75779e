//! Running a RUN step: a writable snapshot of its input, the `--mount`s
//! resolved to host paths, the sandbox, and the snapshot committed as the
//! step's layer.
//!
//! Default network: the host's (`Network::Default` → host). A daemonless
//! builder has no bridge to attach steps to, and most RUN steps need to
//! fetch packages; `RUN --network=none` gives an isolated namespace with
//! only loopback. This is documented in the README.

use std::collections::VecDeque;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use hoist_frontend::graph::{ExecOp, MountKind, Network, Vertex};
use hoist_snapshotter::digest::Digest;
use hoist_snapshotter::snapshot::ActiveSnapshot;

use super::cache_mounts::{self, CacheMount};
use super::error::StepError;
use super::layers::materialize;
use super::result::{LayerRef, ResultKind, VertexResult};
use super::state::BuildState;
use crate::exec::{self, CancelToken, ExitStatus, MountSpec, RunSpec, Stream};
use crate::progress::{self, Event};
use crate::request::SecretSource;
use crate::solver::cache::CacheKey;

/// Lines of output kept to show with a failure.
const TAIL_LINES: usize = 20;

/// Mount points the sandbox creates that stay in the layer when the image
/// lacks them (runc's, kept by BuildKit).
const RUNTIME_MOUNT_POINTS: [&str; 3] = ["/dev", "/proc", "/sys"];

/// Keeps what a step's mounts need alive until the step ends.
#[derive(Default)]
struct MountGuards {
    views: Vec<ActiveSnapshot>,
    caches: Vec<CacheMount>,
    secrets: Vec<tempfile::TempDir>,
}

pub fn run_exec(
    state: &BuildState,
    index: usize,
    vertex: &Vertex,
    op: &ExecOp,
    inputs: &[std::sync::Arc<VertexResult>],
    key: &CacheKey,
    cancel: &CancelToken,
) -> Result<Vec<LayerRef>, StepError> {
    if let Some(stage) = vertex.stage.and_then(|s| state.graph.stages.get(s)) {
        exec::binfmt::check_can_run(&state.host_platform, &stage.platform)
            .map_err(StepError::other)?;
    }
    let (base, snap) = writable_snapshot(state, inputs)?;
    let rootfs = snap.root().to_path_buf();
    let mut guards = MountGuards::default();
    let mut env = op.env.clone();
    let mounts = resolve_mounts(state, op, inputs, &mut guards, &mut env)?;
    let user = exec::user::resolve(&rootfs, &op.user).map_err(StepError::other)?;
    // Like runc: HOME comes from the user's passwd entry unless the image sets it.
    if !env.iter().any(|kv| kv.starts_with("HOME=")) {
        env.push(format!("HOME={}", user.home));
    }
    let network = match op.network {
        Network::None => exec::Network::None,
        Network::Host => exec::Network::Host,
        Network::Default => match state.opts.default_network {
            Network::None => exec::Network::None,
            _ => exec::Network::Host,
        },
    };
    let spec = RunSpec {
        rootfs: rootfs.clone(),
        args: op.args.clone(),
        env,
        cwd: op.cwd.clone(),
        user,
        hostname: "hoist".into(),
        network,
        mounts,
        etc_hosts: "127.0.0.1\tlocalhost hoist\n::1\tlocalhost ip6-localhost ip6-loopback\n".into(),
        resolv_conf: match network {
            exec::Network::Host => fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
            exec::Network::None => String::new(),
        },
        readonly_rootfs: false,
    };
    let mut tail: VecDeque<String> = VecDeque::new();
    let mut partial: Vec<u8> = Vec::new();
    let outcome = exec::run(
        &state.opts.exe,
        &spec,
        |stream, bytes| {
            state.progress.emit(Event::Log {
                vertex: index,
                stream: match stream {
                    Stream::Stdout => progress::Stream::Stdout,
                    Stream::Stderr => progress::Stream::Stderr,
                },
                data: bytes.to_vec(),
            });
            partial.extend_from_slice(bytes);
            while let Some(nl) = partial.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = partial.drain(..=nl).collect();
                tail.push_back(String::from_utf8_lossy(&line[..line.len() - 1]).into_owned());
                if tail.len() > TAIL_LINES {
                    tail.pop_front();
                }
            }
        },
        cancel,
    );
    drop(guards);
    let outcome = match outcome {
        Ok(o) => o,
        Err(exec::ExecError::Cancelled) => return Err(StepError::Cancelled),
        Err(e) => return Err(StepError::other(e)),
    };
    if !partial.is_empty() {
        tail.push_back(String::from_utf8_lossy(&partial).into_owned());
        if tail.len() > TAIL_LINES {
            tail.pop_front();
        }
    }
    // The runtime's own mount points stay in the layer, as runc leaves them
    // and BuildKit keeps them (moby/buildkit#3455, #7039); only stubs for
    // RUN --mount targets, /etc/hosts, /etc/resolv.conf... are removed.
    let mut stubs = outcome.stubs;
    stubs
        .created
        .retain(|p| !RUNTIME_MOUNT_POINTS.contains(&p.as_str()));
    stubs.remove(&rootfs).map_err(StepError::other)?;
    match outcome.status {
        ExitStatus::Code(0) => {}
        status => {
            let status = match status {
                ExitStatus::Code(c) => format!("exit code: {c}"),
                ExitStatus::Signal(s) => format!("killed by signal {s}"),
            };
            return Err(StepError::ProcessFailed {
                command: op.args.join(" "),
                status,
                tail: tail.into_iter().collect(),
            });
        }
    }
    let _ = vertex;
    commit(state, snap, base, key)
}

/// A writable snapshot of a step's input 0 (its base filesystem), with the
/// base's layers.
pub fn writable_snapshot(
    state: &BuildState,
    inputs: &[std::sync::Arc<VertexResult>],
) -> Result<(Vec<LayerRef>, ActiveSnapshot), StepError> {
    let base = inputs
        .first()
        .map(|r| r.layers().to_vec())
        .unwrap_or_default();
    let chain = materialize(state, &base)?;
    let snap = state
        .snapshots
        .prepare(&chain, state.opts.driver)
        .map_err(StepError::other)?;
    Ok((base, snap))
}

/// Commits a writable snapshot as the layer of the step with `key`.
pub fn commit(
    state: &BuildState,
    snap: ActiveSnapshot,
    mut base: Vec<LayerRef>,
    key: &CacheKey,
) -> Result<Vec<LayerRef>, StepError> {
    let mut id = Digest::from_hex(key.hex()).map_err(StepError::other)?;
    if state.snapshots.has_layer(&id) {
        // The step ran again although a layer for its key exists (--no-cache,
        // --no-cache-filter, a damaged or lost record): the store keeps the
        // first layer of a name, so this run's changes get a name of their own
        // instead of being dropped for the older result.
        id = rerun_layer_id(key);
    }
    snap.into_layer(&state.snapshots, &id, &[])
        .map_err(StepError::other)?;
    base.push(LayerRef {
        id,
        diff_id: None,
        blob: None,
    });
    Ok(base)
}

/// A fresh layer name for a rerun of the step with `key`.
fn rerun_layer_id(key: &CacheKey) -> Digest {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let seed = format!("{}:rerun:{}:{now}", key.hex(), std::process::id());
    Digest::of(seed.as_bytes())
}

fn resolve_mounts(
    state: &BuildState,
    op: &ExecOp,
    inputs: &[std::sync::Arc<VertexResult>],
    guards: &mut MountGuards,
    env: &mut Vec<String>,
) -> Result<Vec<MountSpec>, StepError> {
    let mut out = Vec::new();
    for m in &op.mounts {
        let target = m.target.clone();
        match &m.kind {
            MountKind::Bind { input, source } => {
                let source_dir = input_dir(state, inputs, *input, m.readonly, guards)?;
                let rel = exec::rootpath::resolve_in_root(&source_dir, source)
                    .map_err(StepError::other)?;
                out.push(MountSpec::Bind {
                    source: source_dir.join(rel),
                    target,
                    readonly: m.readonly,
                });
            }
            MountKind::Cache {
                id,
                sharing,
                from,
                source,
                mode,
                uid,
                gid,
            } => {
                let seed = match from {
                    Some(i) => {
                        let dir = input_dir(state, inputs, *i, true, guards)?;
                        let rel = exec::rootpath::resolve_in_root(&dir, source)
                            .map_err(StepError::other)?;
                        Some(dir.join(rel))
                    }
                    // A new cache may start from an imported one (--cache-from).
                    None => state.remote_cache.cache_mount_seed(state, id),
                };
                let cache = cache_mounts::acquire(
                    &state.root.cache_mounts(),
                    id,
                    *sharing,
                    *mode,
                    *uid,
                    *gid,
                    seed.as_deref(),
                )?;
                out.push(MountSpec::Bind {
                    source: cache.dir.clone(),
                    target,
                    readonly: m.readonly,
                });
                guards.caches.push(cache);
            }
            MountKind::Tmpfs { size } => out.push(MountSpec::Tmpfs {
                target,
                size: *size,
            }),
            MountKind::Secret {
                id,
                env: env_name,
                required,
                mode,
                uid,
                gid,
            } => {
                let Some(bytes) = secret_bytes(state, id)? else {
                    if *required {
                        return Err(StepError::msg(format!(
                            "secret {id} not found (pass it with --secret id={id},src=FILE)"
                        )));
                    }
                    continue;
                };
                if let Some(name) = env_name {
                    env.push(format!("{name}={}", String::from_utf8_lossy(&bytes)));
                }
                if !target.is_empty() {
                    let dir = tempfile::Builder::new()
                        .prefix("secret-")
                        .tempdir_in(state.root.tmp())
                        .map_err(StepError::other)?;
                    let file = dir.path().join("secret");
                    fs::write(&file, &bytes).map_err(StepError::other)?;
                    fs::set_permissions(&file, fs::Permissions::from_mode(*mode))
                        .map_err(StepError::other)?;
                    std::os::unix::fs::chown(&file, Some(*uid), Some(*gid))
                        .map_err(StepError::other)?;
                    out.push(MountSpec::Secret {
                        source: file,
                        target,
                    });
                    guards.secrets.push(dir);
                }
            }
            MountKind::Ssh { id, required, .. } => {
                let socket = state.opts.ssh.get(id).and_then(|p| p.first()).cloned();
                match socket {
                    Some(p) if is_socket(&p) => {
                        // Like BuildKit: the first forwarded agent is
                        // SSH_AUTH_SOCK unless the step's env sets it.
                        if !env.iter().any(|kv| kv.starts_with("SSH_AUTH_SOCK=")) {
                            env.push(format!("SSH_AUTH_SOCK={target}"));
                        }
                        out.push(MountSpec::Ssh { source: p, target })
                    }
                    Some(p) => {
                        return Err(StepError::msg(format!(
                            "--ssh {id}={}: not an SSH agent socket (or key file hoist could load)",
                            p.display()
                        )));
                    }
                    None if *required => {
                        return Err(StepError::msg(format!(
                            "no SSH agent for id {id:?} (pass --ssh {id}=$SSH_AUTH_SOCK)"
                        )));
                    }
                    None => {}
                }
            }
        }
    }
    Ok(out)
}

fn is_socket(p: &std::path::Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
}

fn secret_bytes(state: &BuildState, id: &str) -> Result<Option<Vec<u8>>, StepError> {
    match state.opts.secrets.get(id) {
        None => Ok(None),
        Some(SecretSource::File(p)) => fs::read(p)
            .map(Some)
            .map_err(|e| StepError::msg(format!("secret {id}: reading {}: {e}", p.display()))),
        Some(SecretSource::Env(v)) => Ok(std::env::var_os(v).map(|s| s.into_encoded_bytes())),
    }
}

/// A host directory showing input `i`: a context's directory, or a view of a
/// filesystem result (writable and thrown away when `readonly` is false, so
/// that `rw` bind mounts discard their writes).
pub fn input_dir(
    state: &BuildState,
    inputs: &[std::sync::Arc<VertexResult>],
    i: usize,
    readonly: bool,
    guards: &mut impl ViewHolder,
) -> Result<PathBuf, StepError> {
    let input = inputs
        .get(i)
        .ok_or_else(|| StepError::msg(format!("internal error: step has no input {i}")))?;
    let (chain, is_context) = match &input.kind {
        ResultKind::Context { name } => (vec![state.context(name)?.root().to_path_buf()], true),
        ResultKind::Fs(layers) => (materialize(state, layers)?, false),
    };
    if is_context && readonly {
        return Ok(chain[0].clone());
    }
    let snap = if readonly {
        state.snapshots.view(&chain, state.opts.driver)
    } else {
        state.snapshots.prepare(&chain, state.opts.driver)
    }
    .map_err(StepError::other)?;
    let root = snap.root().to_path_buf();
    guards.hold(snap);
    Ok(root)
}

/// Something that keeps snapshots alive for the duration of a step.
pub trait ViewHolder {
    fn hold(&mut self, snap: ActiveSnapshot);
}

impl ViewHolder for MountGuards {
    fn hold(&mut self, snap: ActiveSnapshot) {
        self.views.push(snap);
    }
}

impl ViewHolder for Vec<ActiveSnapshot> {
    fn hold(&mut self, snap: ActiveSnapshot) {
        self.push(snap);
    }
}
