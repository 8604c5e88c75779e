//! The sandbox for RUN steps: namespaces, the mount plan, pivot_root, exec.
//!
//! # Design
//!
//! [`run`] never forks the (multi-threaded) builder to do setup work.
//! It spawns a fresh copy of the hoist binary, `EXE __sandbox-init`
//! ([`INIT_ARG`]; `src/main.rs` sends it to [`init_main`]), with a socket
//! on its stdin carrying the [`RunSpec`] as JSON, in its own process
//! group. That process, single-threaded, does the rest (see [`init`]):
//!
//! ```text
//! builder ── spawn ──▶ keeper  (unshare NEWNS|NEWPID|NEWUTS|NEWIPC[|NEWNET])
//!                        └─ fork ─▶ init, pid 1   (mounts, pivot_root, hostname, lo up)
//!                                     └─ fork ─▶ command, pid 2 (setgroups/gid/uid, chdir, exec)
//! ```
//!
//! - After `unshare(CLONE_NEWPID)` the keeper itself stays outside the new
//!   pid namespace; its first child is pid 1. That init builds the
//!   filesystem view (a fresh `/proc` must be mounted from inside the pid
//!   namespace), forks the command, reaps orphans, and exits as soon as the
//!   command does: the kernel then kills everything else in the namespace,
//!   so no background process outlives its step. The command is pid 2
//!   (`echo $$` prints 2; BuildKit's runc runs it as pid 1 without a
//!   reaper).
//! - Both keeper and init ask to be SIGKILLed when their parent dies, so
//!   killing the keeper ([`CancelToken::cancel`]) or the builder dying
//!   tears the whole step down.
//! - The filesystem view is a [`plan::MountPlan`] computed from the spec by
//!   a pure function and carried out by [`apply::apply`] through the narrow
//!   [`apply::Kernel`] interface, so both are unit-tested without root; the
//!   real thing is tested end to end in the root package's
//!   `tests/exec_sandbox.rs`. A rootless or OCI-runtime executor can reuse
//!   the plan.
//! - Mount targets missing from the image are created in the rootfs (like
//!   runc does) and reported in [`RunOutcome::stubs`] when they are on the
//!   rootfs mount itself (not inside the sandbox's own `/dev` tmpfs or a
//!   `RUN --mount`), for the caller to remove from the layer with
//!   [`Stubs::remove`] (which also puts back the mtime of the directories
//!   they were made in), as BuildKit's stub cleaner does. No clean way was
//!   found to keep them out of the upper dir altogether: the mount point
//!   must exist in the tree the command sees.
//! - The command's stdin is `/dev/null`; stdout and stderr are pipes read by
//!   [`run`] and handed to the caller chunk by chunk. Setup results and the
//!   exit status come back as JSON lines on the socket.
//! - The command keeps Docker's default capability set (others are dropped
//!   from the bounding set), runs under a small [`seccomp`] denylist (no
//!   user namespaces, keyring, bpf, io_uring…), and starts with default
//!   signal dispositions and an empty signal mask.
//!
//! # Cost
//!
//! `/bin/true` through the sandbox, measured by the ignored test
//! `measure_run_overhead` on the project's 2-core VM while it was loaded
//! (load average 7-10): 3.1-3.8 ms of CPU per run over all processes,
//! against 0.8-0.95 ms for a plain spawn and 2.2 ms for util-linux
//! `unshare -mpui --fork /bin/true`; 11-18 ms of wall time, most of it
//! waiting for a CPU (the forked command waited ~3.6 ms for its first
//! time slice) and ~1 ms detaching the old root (an RCU grace period).

pub mod apply;
pub mod binfmt;
pub mod init;
pub mod plan;
pub mod rootpath;
mod run;
pub mod seccomp;
pub mod user;

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use init::{INIT_ARG, init_main};
pub use rootpath::{DirTimes, Stubs};
pub use run::{CancelToken, run};
pub use user::ResolvedUser;

/// The executable [`run`] re-executes by default: the running hoist binary.
pub const SELF_EXE: &str = "/proc/self/exe";

/// Everything one sandboxed command needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpec {
    /// The prepared root directory (an overlay mount, or a plain dir).
    pub rootfs: PathBuf,
    /// argv; shell form is already wrapped in the image's SHELL.
    pub args: Vec<String>,
    /// The exact environment (`KEY=value`). Like runc, a caller should add
    /// `HOME=`[`ResolvedUser::home`] when the image's environment has none.
    pub env: Vec<String>,
    /// Working directory, created (owned by the user) when missing.
    pub cwd: String,
    pub user: ResolvedUser,
    pub hostname: String,
    pub network: Network,
    pub mounts: Vec<MountSpec>,
    /// Content of `/etc/hosts`, bound read-only from outside the rootfs.
    pub etc_hosts: String,
    /// Content of `/etc/resolv.conf`, bound read-only from outside the rootfs.
    pub resolv_conf: String,
    pub readonly_rootfs: bool,
}

/// The network a step sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Network {
    /// A new network namespace with only loopback, up.
    None,
    /// The host's network namespace.
    Host,
}

/// A `RUN --mount`, resolved by the caller to host paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MountSpec {
    /// A file or directory (bind or cache mount) at `target`.
    Bind {
        source: PathBuf,
        target: String,
        readonly: bool,
    },
    /// An empty tmpfs, of at most `size` bytes.
    Tmpfs { target: String, size: Option<u64> },
    /// A secret file, bound read-only.
    Secret { source: PathBuf, target: String },
    /// An SSH agent socket.
    Ssh { source: PathBuf, target: String },
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(code) => write!(f, "exit code: {code}"),
            ExitStatus::Signal(sig) => write!(f, "killed by signal {sig}"),
        }
    }
}

/// The result of a command that ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOutcome {
    pub status: ExitStatus,
    /// Mount targets the sandbox created in the rootfs; remove them with
    /// [`Stubs::remove`] before diffing the layer.
    pub stubs: Stubs,
}

/// Why a command could not be run (a command that ran and failed is an
/// [`ExitStatus`], not an error).
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("spawning the sandbox init {exe}: {source}")]
    Spawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Namespace, mount or process setup failed; the message names the
    /// operation and path.
    #[error("sandbox setup: {message}")]
    Setup { message: String },
    /// Like a shell's exit code 127.
    #[error("exec: {command}: not found")]
    CommandNotFound { command: String },
    #[error("{message}")]
    Exec { command: String, message: String },
    #[error("the sandbox was cancelled")]
    Cancelled,
    /// Also what re-executing a binary that does not dispatch
    /// [`INIT_ARG`] to [`init_main`] gives.
    #[error("the sandbox init {exe} ended without a report ({status}); does it run `{INIT_ARG}`?")]
    InitDied { exe: PathBuf, status: String },
    #[error("sandbox protocol: {0}")]
    Protocol(String),
}
