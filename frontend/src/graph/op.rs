//! The operations a vertex performs, like BuildKit's LLB ops: read a source,
//! run a command, change files, or stack layers.
//!
//! Inputs are referred to by their position in [`super::Vertex::inputs`]; for
//! [`ExecOp`] and [`FileOp`] input 0 is the filesystem the op starts from
//! (its result is that filesystem plus the op's changes). Paths inside images
//! are absolute. Nothing here is expanded any further by the builder: every
//! `$VAR` was resolved by the frontend.

use serde::Serialize;

use super::Platform;

/// Position of an input in the vertex's input list.
pub type InputIndex = usize;

/// What a vertex does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Op {
    Source(SourceOp),
    Exec(ExecOp),
    File(FileOp),
    /// The layers of every input stacked in order, input 0 at the bottom
    /// (what `COPY --link` builds on).
    Merge,
}

/// Where a filesystem comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum SourceOp {
    /// An empty filesystem.
    Scratch,
    /// A registry image, as written after expansion (normalised by the builder).
    Image {
        reference: String,
        platform: Platform,
    },
    /// An image in an OCI layout directory (`--build-context x=oci-layout://PATH[:TAG]`).
    OciLayout {
        path: String,
        tag: Option<String>,
        platform: Platform,
    },
    /// Files of a local context: `context` is the main build context, other
    /// names are `--build-context NAME=PATH` directories. `include` lists the
    /// source paths the reading step selects (empty = everything).
    Local { name: String, include: Vec<String> },
    /// A file downloaded from a URL (`ADD https://...`).
    Http {
        url: String,
        checksum: Option<String>,
        filename: String,
    },
    /// A git repository (`ADD git@...` / `https://...git#ref:subdir`).
    Git {
        url: String,
        reference: String,
        subdir: String,
        keep_git_dir: bool,
    },
}

/// Network of a RUN step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    /// The builder's default (see the builder's exec module).
    Default,
    None,
    Host,
}

/// `RUN --security`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Security {
    Sandbox,
    Insecure,
}

/// `RUN --mount=type=cache,sharing=...`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheSharing {
    Shared,
    Private,
    Locked,
}

/// A RUN step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExecOp {
    /// argv; shell form is already wrapped in the stage's SHELL.
    pub args: Vec<String>,
    /// The whole environment, `NAME=value`: image env plus build args in scope.
    pub env: Vec<String>,
    /// Working directory (absolute).
    pub cwd: String,
    /// `user[:group]` as the Dockerfile says it; empty means root. Resolved by
    /// the builder against the step's own /etc/passwd and /etc/group.
    pub user: String,
    pub network: Network,
    pub security: Security,
    /// `RUN --mount`s (the root filesystem is input 0 and not listed here).
    pub mounts: Vec<Mount>,
}

/// One `RUN --mount`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mount {
    /// Where it appears in the container. Empty only for a secret exposed
    /// through `env=` alone.
    pub target: String,
    pub readonly: bool,
    #[serde(flatten)]
    pub kind: MountKind,
}

/// The kind of a `RUN --mount` and its options.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum MountKind {
    /// A path of another input (stage, image or context), read-only unless
    /// `rw` (writes are then discarded).
    Bind {
        input: InputIndex,
        source: String,
    },
    /// A persistent directory kept by the builder across builds.
    Cache {
        id: String,
        sharing: CacheSharing,
        /// Seed content for a new cache: `source` in this input.
        from: Option<InputIndex>,
        source: String,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Tmpfs {
        size: Option<u64>,
    },
    Secret {
        id: String,
        /// Also (or only) exposed as this environment variable.
        env: Option<String>,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
    Ssh {
        id: String,
        required: bool,
        mode: u32,
        uid: u32,
        gid: u32,
    },
}

/// File changes applied in order onto input 0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileOp {
    pub actions: Vec<FileAction>,
}

/// One file change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum FileAction {
    Copy(CopyAction),
    Mkdir {
        path: String,
        mode: u32,
        make_parents: bool,
        owner: Option<String>,
    },
    Mkfile {
        path: String,
        mode: u32,
        data: String,
        owner: Option<String>,
    },
    Rm {
        path: String,
        allow_not_found: bool,
    },
}

/// COPY/ADD of sources from one input with Docker's semantics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyAction {
    /// The input the sources are read from.
    pub input: InputIndex,
    /// Source paths or wildcard patterns, relative to the input's root (for
    /// a context) or absolute (for a stage or image).
    pub sources: Vec<String>,
    /// Absolute destination; a trailing `/` means "a directory".
    pub dest: String,
    /// `--chown` as written after expansion (`user[:group]`, names or ids).
    pub owner: Option<String>,
    /// `--chmod`, octal (`0755`) or symbolic (`u+x,g=r`), validated.
    pub chmod: Option<String>,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// `--parents`: keep the source's parent directories under `dest`.
    pub parents: bool,
    /// ADD: extract local tar archives instead of copying them.
    pub unpack: bool,
    /// A source directory copies its contents, not itself (always true for
    /// Dockerfile COPY/ADD).
    pub contents_only: bool,
}
