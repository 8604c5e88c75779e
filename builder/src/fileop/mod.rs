//! File operations of the build graph (`FileOp` actions) on real
//! directories: COPY and ADD with Docker's semantics ([`copy`]), mkdir,
//! mkfile and rm, `--chmod` (parsed and applied by
//! [`hoist_frontend::instructions::Chmod`]), `--chown` resolution against the
//! destination's own `/etc/passwd` and `/etc/group` ([`resolve_owner`]),
//! Go-compatible wildcards ([`wildcard`]) and archive extraction for ADD
//! ([`unpack`]). Regular files are written by a few threads (`parallel`).
//!
//! Every path inside a root is resolved with
//! [`crate::exec::rootpath::resolve_in_root`], so an image's symlinks are
//! followed inside the image and never out of it.

pub mod copy;
mod parallel;
pub mod unpack;
pub mod wildcard;

use std::fs;
use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

pub use copy::{CopySpec, CopyStats, SourceKind, copy};

use crate::exec::rootpath::{RootPathError, resolve_in_root};
use crate::exec::user::{self, UserError};

/// Numeric owner of copied or created files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

/// Why a file operation failed; each names the path.
#[derive(Debug, thiserror::Error)]
pub enum FileOpError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path}: not found")]
    SourceNotFound { path: String },
    #[error("forbidden path outside the build context: {path}")]
    OutsideContext { path: String },
    #[error("cannot copy to non-directory: {path}")]
    NotADirectory { path: PathBuf },
    #[error("cannot replace directory {path} with a file")]
    ReplaceDirWithFile { path: PathBuf },
    #[error("cannot copy {path}: unsupported file type (socket)")]
    Unsupported { path: PathBuf },
    #[error("extracting {entry} from {archive}: {source}")]
    Archive {
        archive: PathBuf,
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("invalid --chown {spec:?}: {source}")]
    Owner {
        spec: String,
        #[source]
        source: UserError,
    },
    #[error("{path}: file exists")]
    Exists { path: String },
    #[error(transparent)]
    Wildcard(#[from] wildcard::WildcardError),
    #[error(transparent)]
    RootPath(#[from] RootPathError),
}

pub(crate) fn io_err<'a>(
    op: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> FileOpError + 'a {
    move |source| FileOpError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Sets owner (lchown), permission bits (when given; never through a
/// symlink) and mtime/atime (not following symlinks), in that order so that
/// setuid/setgid bits survive the chown.
pub(crate) fn set_owner_mode_times(
    path: &Path,
    uid: u32,
    gid: u32,
    mode: Option<u32>,
    mtime: i64,
    nsec: i64,
) -> Result<(), FileOpError> {
    std::os::unix::fs::lchown(path, Some(uid), Some(gid)).map_err(io_err("chown", path))?;
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(mode))
            .map_err(io_err("chmod", path))?;
    }
    let ts = nix::sys::time::TimeSpec::new(mtime, nsec);
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &ts,
        &ts,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| io_err("set times of", path)(e.into()))
}

/// Resolves a `--chown` value against `root`'s `/etc/passwd` and
/// `/etc/group` like BuildKit: a name takes the user's primary group, a
/// number without a group uses the same number as gid, and `user:group`
/// takes both as given (names or numbers).
pub fn resolve_owner(root: &Path, spec: &str) -> Result<Owner, FileOpError> {
    let err = |source| FileOpError::Owner {
        spec: spec.to_string(),
        source,
    };
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let resolved = user::resolve(root, spec).map_err(err)?;
    let gid = match (group_part, user_part.parse::<u32>()) {
        (None, Ok(uid)) => uid,
        _ => resolved.gid,
    };
    Ok(Owner {
        uid: resolved.uid,
        gid,
    })
}

/// `mkdir` in `root` (with parents when asked).
pub fn mkdir(
    root: &Path,
    path: &str,
    mode: u32,
    parents: bool,
    owner: Owner,
    mtime: i64,
) -> Result<(), FileOpError> {
    let rel = resolve_in_root(root, path)?;
    let host = root.join(&rel);
    if host.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.mode(mode);
    let mut to_fix = Vec::new();
    if parents {
        let mut p = host.as_path();
        while !p.exists() && p.starts_with(root) && p != root {
            to_fix.push(p.to_path_buf());
            match p.parent() {
                Some(parent) => p = parent,
                None => break,
            }
        }
        builder.recursive(true);
    } else {
        to_fix.push(host.clone());
    }
    builder
        .create(&host)
        .map_err(io_err("create directory", &host))?;
    for p in to_fix.iter().rev() {
        set_owner_mode_times(p, owner.uid, owner.gid, Some(mode), mtime, 0)?;
    }
    Ok(())
}

/// Writes a file in `root` (replacing an existing file).
pub fn mkfile(
    root: &Path,
    path: &str,
    mode: u32,
    data: &[u8],
    owner: Owner,
    mtime: i64,
) -> Result<(), FileOpError> {
    let host = root.join(resolve_in_root(root, path)?);
    if host.is_dir() {
        return Err(FileOpError::ReplaceDirWithFile { path: host });
    }
    fs::write(&host, data).map_err(io_err("write", &host))?;
    set_owner_mode_times(&host, owner.uid, owner.gid, Some(mode), mtime, 0)
}

/// Removes a file or directory tree in `root`.
pub fn rm(root: &Path, path: &str, allow_not_found: bool) -> Result<(), FileOpError> {
    // The last component is removed itself, not followed.
    let (parent, name) = match path.trim_end_matches('/').rsplit_once('/') {
        Some((p, n)) => (p, n),
        None => ("", path),
    };
    let host = root.join(resolve_in_root(root, parent)?).join(name);
    let result = match fs::symlink_metadata(&host) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(&host),
        Ok(_) => fs::remove_file(&host),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() == io::ErrorKind::NotFound && allow_not_found => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(FileOpError::SourceNotFound {
            path: path.to_string(),
        }),
        other => other.map_err(io_err("remove", &host)),
    }
}

#[cfg(test)]
mod tests;
