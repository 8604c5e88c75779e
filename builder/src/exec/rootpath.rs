//! Paths inside a rootfs as the container will see them: resolving a
//! container path through the image's symlinks without ever leaving the
//! rootfs, and creating missing mount targets ("stubs") there.
//!
//! Image content is untrusted: `/etc/resolv.conf -> /../../../host/file` or
//! `/var/run -> ../../..` must land inside the rootfs. Resolution follows
//! symlinks one component at a time, taking absolute link targets and `..`
//! relative to the rootfs (like `RESOLVE_IN_ROOT`/securejoin). It runs while
//! no container process exists yet, so nothing races it.

use std::collections::VecDeque;
use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Component, Path, PathBuf};

/// The most symlinks followed while resolving one path (Linux's limit).
const MAX_SYMLINKS: usize = 40;

/// What a mount target must be: a directory or a file (for file and socket
/// binds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum TargetKind {
    Dir,
    File,
}

/// A path inside a rootfs that could not be resolved or created.
#[derive(Debug, thiserror::Error)]
pub enum RootPathError {
    #[error("resolving {path} in the rootfs: too many levels of symbolic links")]
    TooManySymlinks { path: String },
    #[error("resolving {path} in the rootfs: {component} is not a directory")]
    NotADirectory { path: String, component: String },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Resolves container path `path` against `root`, following symlinks inside
/// `root`. Returns the path relative to `root` (empty for `/`). Components
/// that do not exist are kept as written (after `.`/`..` cleaning).
pub fn resolve_in_root(root: &Path, path: &str) -> Result<PathBuf, RootPathError> {
    let mut pending: VecDeque<OsString> = components(Path::new(path));
    let mut resolved: Vec<OsString> = Vec::new();
    let mut links = 0;
    let mut missing = false;
    while let Some(comp) = pending.pop_front() {
        if comp == ".." {
            resolved.pop();
            continue;
        }
        resolved.push(comp);
        if missing {
            continue;
        }
        let host = root.join(resolved.iter().collect::<PathBuf>());
        match std::fs::symlink_metadata(&host) {
            Ok(meta) if meta.file_type().is_symlink() => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(RootPathError::TooManySymlinks {
                        path: path.to_string(),
                    });
                }
                let target = std::fs::read_link(&host).map_err(|source| RootPathError::Io {
                    op: "readlink",
                    path: host.clone(),
                    source,
                })?;
                resolved.pop();
                if target.is_absolute() {
                    resolved.clear();
                }
                let mut next = components(&target);
                next.extend(pending);
                pending = next;
            }
            Ok(meta) if !meta.is_dir() && !pending.is_empty() => {
                // Only `..` may follow a non-directory if the kernel is to
                // accept it, and it does not: report it like ENOTDIR.
                return Err(RootPathError::NotADirectory {
                    path: path.to_string(),
                    component: host.display().to_string(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => missing = true,
            Err(source) => {
                return Err(RootPathError::Io {
                    op: "lstat",
                    path: host,
                    source,
                });
            }
        }
    }
    Ok(resolved.iter().collect())
}

fn components(path: &Path) -> VecDeque<OsString> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            Component::RootDir | Component::CurDir | Component::Prefix(_) => None,
        })
        .collect()
}

/// Makes sure container path `path` exists in `root` as `kind`, creating
/// missing directories (mode 0755) and, for [`TargetKind::File`], an empty
/// file (mode 0644) at the end. `owner` chowns what is created. Returns the
/// host path of the target and the container paths created, parents first.
pub fn ensure_target(
    root: &Path,
    path: &str,
    kind: TargetKind,
    owner: Option<(u32, u32)>,
) -> Result<(PathBuf, Vec<String>), RootPathError> {
    let rel = resolve_in_root(root, path)?;
    let mut created = Vec::new();
    let mut host = root.to_path_buf();
    let mut container = String::new();
    let count = rel.components().count();
    for (i, comp) in rel.components().enumerate() {
        host.push(comp);
        container.push('/');
        container.push_str(&comp.as_os_str().to_string_lossy());
        let last = i + 1 == count;
        match std::fs::symlink_metadata(&host) {
            Ok(meta) if !last && !meta.is_dir() => {
                return Err(RootPathError::NotADirectory {
                    path: path.to_string(),
                    component: host.display().to_string(),
                });
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let result = if last && kind == TargetKind::File {
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .mode(0o644)
                        .open(&host)
                        .map(drop)
                } else {
                    std::fs::DirBuilder::new().mode(0o755).create(&host)
                };
                result.map_err(|source| RootPathError::Io {
                    op: "create mount target",
                    path: host.clone(),
                    source,
                })?;
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::lchown(&host, Some(uid), Some(gid)).map_err(|source| {
                        RootPathError::Io {
                            op: "chown",
                            path: host.clone(),
                            source,
                        }
                    })?;
                }
                created.push(container.clone());
            }
            Err(source) => {
                return Err(RootPathError::Io {
                    op: "lstat",
                    path: host,
                    source,
                });
            }
        }
    }
    Ok((host, created))
}

/// Removes stubs the sandbox created (as listed in
/// [`super::RunOutcome::created_paths`]) from `root`, children first, when
/// they are still empty: a stub the command filled in stays, as content.
/// Returns the paths removed.
pub fn remove_created_paths(root: &Path, created: &[String]) -> Result<Vec<String>, RootPathError> {
    let mut removed = Vec::new();
    for path in created.iter().rev() {
        let host = root.join(path.trim_start_matches('/'));
        let meta = match std::fs::symlink_metadata(&host) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(RootPathError::Io {
                    op: "lstat",
                    path: host,
                    source,
                });
            }
        };
        let result = if meta.is_dir() {
            match std::fs::remove_dir(&host) {
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => continue,
                other => other,
            }
        } else if meta.is_file() && meta.len() == 0 {
            std::fs::remove_file(&host)
        } else {
            continue;
        };
        result.map_err(|source| RootPathError::Io {
            op: "remove stub",
            path: host,
            source,
        })?;
        removed.push(path.clone());
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn absolute_symlink_resolves_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("run")).unwrap();
        std::fs::create_dir_all(root.path().join("var")).unwrap();
        symlink("/run", root.path().join("var/run")).unwrap();
        let rel = resolve_in_root(root.path(), "/var/run/secrets/x").unwrap();
        assert_eq!(rel, PathBuf::from("run/secrets/x"));
    }

    #[test]
    fn dotdot_and_escaping_links_stay_in_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        symlink("../../../../etc/shadow", root.path().join("etc/evil")).unwrap();
        assert_eq!(
            resolve_in_root(root.path(), "/etc/evil").unwrap(),
            PathBuf::from("etc/shadow")
        );
        assert_eq!(
            resolve_in_root(root.path(), "/../../tmp/./x/../y").unwrap(),
            PathBuf::from("tmp/y")
        );
    }

    #[test]
    fn symlink_loop_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        symlink("/b", root.path().join("a")).unwrap();
        symlink("/a", root.path().join("b")).unwrap();
        assert!(matches!(
            resolve_in_root(root.path(), "/a/x"),
            Err(RootPathError::TooManySymlinks { .. })
        ));
    }

    #[test]
    fn ensure_target_creates_missing_parents_and_reports_them_in_order() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("run")).unwrap();
        let (host, created) =
            ensure_target(root.path(), "/run/secrets/token", TargetKind::File, None).unwrap();
        assert_eq!(host, root.path().join("run/secrets/token"));
        assert!(host.is_file());
        assert_eq!(created, vec!["/run/secrets", "/run/secrets/token"]);
    }

    #[test]
    fn ensure_target_reports_nothing_for_existing_paths() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("proc")).unwrap();
        let (_, created) = ensure_target(root.path(), "/proc", TargetKind::Dir, None).unwrap();
        assert!(created.is_empty());
    }

    #[test]
    fn ensure_target_follows_image_symlinks_and_reports_the_real_path() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("run")).unwrap();
        std::fs::create_dir_all(root.path().join("var")).unwrap();
        symlink("../run", root.path().join("var/run")).unwrap();
        let (_, created) =
            ensure_target(root.path(), "/var/run/cache", TargetKind::Dir, None).unwrap();
        assert_eq!(created, vec!["/run/cache"]);
        assert!(root.path().join("run/cache").is_dir());
    }

    #[test]
    fn ensure_target_through_a_file_is_an_error() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("file"), "x").unwrap();
        assert!(ensure_target(root.path(), "/file/sub", TargetKind::Dir, None).is_err());
    }

    #[test]
    fn remove_created_paths_removes_empty_stubs_and_keeps_content() {
        let root = tempfile::tempdir().unwrap();
        let (_, mut created) =
            ensure_target(root.path(), "/a/b/stub", TargetKind::File, None).unwrap();
        let (_, more) = ensure_target(root.path(), "/a/kept", TargetKind::File, None).unwrap();
        created.extend(more);
        std::fs::write(root.path().join("a/kept"), "written by the step").unwrap();
        let removed = remove_created_paths(root.path(), &created).unwrap();
        assert_eq!(removed, vec!["/a/b/stub", "/a/b"]);
        assert!(root.path().join("a/kept").is_file());
        assert!(!root.path().join("a/b").exists());
    }
}
