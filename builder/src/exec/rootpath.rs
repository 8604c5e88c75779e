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
use std::time::SystemTime;

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

/// What [`ensure_target`] found or made.
#[derive(Debug)]
pub struct Ensured {
    /// The target's path on the host.
    pub host: PathBuf,
    /// Container paths created, parents first.
    pub created: Vec<String>,
    /// The existing directory the first created path was made in, with its
    /// timestamps from before.
    pub parent: Option<DirTimes>,
}

/// A directory's timestamps, to put back once the stubs made in it are gone.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DirTimes {
    /// Container path.
    pub path: String,
    pub accessed: SystemTime,
    pub modified: SystemTime,
    /// The mtime once the sandbox was set up: if the command left it so,
    /// only stubs changed the directory and `modified` can be restored.
    pub modified_after_setup: Option<SystemTime>,
}

/// Mount targets the sandbox created in the rootfs, for the caller to take
/// out of the layer again (BuildKit leaves no mount-point stubs in images).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stubs {
    /// Container paths, parents first.
    pub created: Vec<String>,
    /// The existing directories stubs were created in.
    pub parents: Vec<DirTimes>,
}

impl Stubs {
    /// Adds what one [`ensure_target`] created; a directory's timestamps
    /// are kept from the first stub made in it.
    pub fn record(&mut self, created: Vec<String>, parent: Option<DirTimes>) {
        if let Some(parent) = parent {
            // A stub directory goes away whole; its times do not matter.
            let known = self.parents.iter().any(|p| p.path == parent.path)
                || self.created.contains(&parent.path);
            if !known {
                self.parents.push(parent);
            }
        }
        self.created.extend(created);
    }

    /// Notes the parents' mtimes once setup is done (see
    /// [`DirTimes::modified_after_setup`]).
    pub fn seal(&mut self, root: &Path) {
        for parent in &mut self.parents {
            let host = root.join(parent.path.trim_start_matches('/'));
            parent.modified_after_setup = std::fs::symlink_metadata(host)
                .and_then(|m| m.modified())
                .ok();
        }
    }

    /// Removes the stubs from `root`, children first, when they are still
    /// empty (a stub the command filled in stays, as content), and puts back
    /// the timestamps of the directories they were made in unless the
    /// command changed those too. Returns the paths removed.
    pub fn remove(&self, root: &Path) -> Result<Vec<String>, RootPathError> {
        let untouched: Vec<&DirTimes> = self
            .parents
            .iter()
            .filter(|p| {
                let host = root.join(p.path.trim_start_matches('/'));
                let now = std::fs::symlink_metadata(host)
                    .and_then(|m| m.modified())
                    .ok();
                now.is_some() && now == p.modified_after_setup
            })
            .collect();
        let removed = remove_created_paths(root, &self.created)?;
        for parent in untouched {
            let host = root.join(parent.path.trim_start_matches('/'));
            let times = std::fs::FileTimes::new()
                .set_accessed(parent.accessed)
                .set_modified(parent.modified);
            std::fs::File::open(&host)
                .and_then(|dir| dir.set_times(times))
                .map_err(|source| RootPathError::Io {
                    op: "restore the timestamps of",
                    path: host,
                    source,
                })?;
        }
        Ok(removed)
    }
}

fn dir_times(host: &Path, path: String) -> Result<DirTimes, RootPathError> {
    let io = |source| RootPathError::Io {
        op: "stat",
        path: host.to_path_buf(),
        source,
    };
    let meta = std::fs::symlink_metadata(host).map_err(io)?;
    Ok(DirTimes {
        path,
        accessed: meta.accessed().map_err(io)?,
        modified: meta.modified().map_err(io)?,
        modified_after_setup: None,
    })
}

/// Makes sure container path `path` exists in `root` as `kind`, creating
/// missing directories (mode 0755) and, for [`TargetKind::File`], an empty
/// file (mode 0644) at the end. `owner` chowns what is created.
pub fn ensure_target(
    root: &Path,
    path: &str,
    kind: TargetKind,
    owner: Option<(u32, u32)>,
) -> Result<Ensured, RootPathError> {
    let rel = resolve_in_root(root, path)?;
    let mut created = Vec::new();
    let mut parent = None;
    let mut host = root.to_path_buf();
    let mut container = String::new();
    let count = rel.components().count();
    for (i, comp) in rel.components().enumerate() {
        let parent_host = host.clone();
        let parent_path = if container.is_empty() {
            "/".to_string()
        } else {
            container.clone()
        };
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
                if created.is_empty() {
                    parent = Some(dir_times(&parent_host, parent_path)?);
                }
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
                match result {
                    Ok(()) => {}
                    // Another step on the same rootfs made it meanwhile: it
                    // is theirs to report, ours to use.
                    Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                    Err(source) => {
                        return Err(RootPathError::Io {
                            op: "create mount target",
                            path: host.clone(),
                            source,
                        });
                    }
                }
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
    Ok(Ensured {
        host,
        created,
        parent,
    })
}

/// Removes the stubs listed in `created` (see [`Stubs`]) from `root`, children first, when
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
        let ensured =
            ensure_target(root.path(), "/run/secrets/token", TargetKind::File, None).unwrap();
        assert_eq!(ensured.host, root.path().join("run/secrets/token"));
        assert!(ensured.host.is_file());
        assert_eq!(ensured.created, vec!["/run/secrets", "/run/secrets/token"]);
        assert_eq!(ensured.parent.unwrap().path, "/run");
    }

    #[test]
    fn ensure_target_reports_nothing_for_existing_paths() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("proc")).unwrap();
        let ensured = ensure_target(root.path(), "/proc", TargetKind::Dir, None).unwrap();
        assert!(ensured.created.is_empty());
        assert!(ensured.parent.is_none());
    }

    #[test]
    fn ensure_target_follows_image_symlinks_and_reports_the_real_path() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("run")).unwrap();
        std::fs::create_dir_all(root.path().join("var")).unwrap();
        symlink("../run", root.path().join("var/run")).unwrap();
        let ensured = ensure_target(root.path(), "/var/run/cache", TargetKind::Dir, None).unwrap();
        assert_eq!(ensured.created, vec!["/run/cache"]);
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
        let mut created = ensure_target(root.path(), "/a/b/stub", TargetKind::File, None)
            .unwrap()
            .created;
        created.extend(
            ensure_target(root.path(), "/a/kept", TargetKind::File, None)
                .unwrap()
                .created,
        );
        std::fs::write(root.path().join("a/kept"), "written by the step").unwrap();
        let removed = remove_created_paths(root.path(), &created).unwrap();
        assert_eq!(removed, vec!["/a/b/stub", "/a/b"]);
        assert!(root.path().join("a/kept").is_file());
        assert!(!root.path().join("a/b").exists());
    }

    fn epoch(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
    }

    fn set_mtime(path: &Path, secs: u64) {
        let times = std::fs::FileTimes::new()
            .set_accessed(epoch(secs))
            .set_modified(epoch(secs));
        std::fs::File::open(path).unwrap().set_times(times).unwrap();
    }

    fn mtime(path: &Path) -> SystemTime {
        std::fs::metadata(path).unwrap().modified().unwrap()
    }

    fn stubs_in(root: &Path, targets: &[&str]) -> Stubs {
        let mut stubs = Stubs::default();
        for target in targets {
            let ensured = ensure_target(root, target, TargetKind::File, None).unwrap();
            stubs.record(ensured.created, ensured.parent);
        }
        stubs.seal(root);
        stubs
    }

    #[test]
    fn removing_stubs_restores_the_parent_directory_mtime() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        set_mtime(&etc, 1_000_000);
        let stubs = stubs_in(root.path(), &["/etc/hosts", "/etc/resolv.conf"]);
        assert_ne!(mtime(&etc), epoch(1_000_000));
        stubs.remove(root.path()).unwrap();
        assert!(!etc.join("hosts").exists());
        assert_eq!(mtime(&etc), epoch(1_000_000));
    }

    #[test]
    fn removing_stubs_keeps_the_mtime_of_a_directory_the_command_changed() {
        let root = tempfile::tempdir().unwrap();
        let etc = root.path().join("etc");
        std::fs::create_dir(&etc).unwrap();
        set_mtime(&etc, 1_000_000);
        let stubs = stubs_in(root.path(), &["/etc/hosts"]);
        std::fs::write(etc.join("motd"), "hello").unwrap();
        set_mtime(&etc, 2_000_000);
        stubs.remove(root.path()).unwrap();
        assert!(etc.join("motd").exists());
        assert_ne!(mtime(&etc), epoch(1_000_000));
    }
}
