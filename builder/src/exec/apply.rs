//! Carrying out a [`MountPlan`]: the narrow [`Kernel`] interface (mount,
//! pivot_root, mount identity) with its Linux implementation, and
//! [`apply`], which walks the plan, resolves every target inside the rootfs
//! and creates missing targets. Filesystem work (stubs, symlinks) is done
//! directly: it runs unprivileged in unit tests against a temp dir, while
//! the mount calls go through a recording [`Kernel`] there.

use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags};

use super::plan::{MountFlags, MountPlan, MountStep, StubKind};
use super::rootpath::{self, RootPathError, Stubs, TargetKind};

/// The kernel calls the sandbox's filesystem setup makes.
pub trait Kernel {
    /// `mount(2)`.
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno>;
    /// `pivot_root` into `new_root`, detach the old root, `chdir("/")`.
    fn pivot_root(&mut self, new_root: &Path) -> Result<(), Errno>;
    /// The id of the mount `path` lives on (`statx` `STATX_MNT_ID`).
    fn mount_id(&mut self, path: &Path) -> Result<u64, Errno>;
}

/// A step of the plan that failed, naming the operation and the paths.
#[derive(Debug, thiserror::Error)]
pub enum MountError {
    #[error("mount of {what} on {target} failed: {errno}")]
    Mount {
        what: String,
        target: PathBuf,
        errno: Errno,
    },
    #[error("pivot_root into {root} failed: {errno}")]
    PivotRoot { root: PathBuf, errno: Errno },
    #[error("symlink {link} -> {points_to} failed: {source}")]
    Symlink {
        link: PathBuf,
        points_to: String,
        #[source]
        source: std::io::Error,
    },
    #[error("stat of mount source {path} failed: {source}")]
    Source {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("reading the mount id of {path} failed: {errno}")]
    MountId { path: PathBuf, errno: Errno },
    #[error(transparent)]
    RootPath(#[from] RootPathError),
}

/// Applies `plan` to the rootfs at `root`. Returns the stubs created on the
/// rootfs mount itself (not inside the sandbox's own mounts).
pub fn apply(plan: &MountPlan, root: &Path, kernel: &mut impl Kernel) -> Result<Stubs, MountError> {
    let mut stubs = Stubs::default();
    let mut root_mount = None;
    for step in &plan.steps {
        match step {
            MountStep::MakeRootPrivate => {
                do_mount(
                    kernel,
                    None,
                    Path::new("/"),
                    None,
                    MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                    None,
                    "/ (make rprivate)",
                )?;
            }
            MountStep::BindRootOntoItself => {
                do_mount(
                    kernel,
                    Some(root),
                    root,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None,
                    &root.display().to_string(),
                )?;
                root_mount = Some(kernel.mount_id(root).map_err(|errno| MountError::MountId {
                    path: root.to_path_buf(),
                    errno,
                })?);
            }
            MountStep::MakeWorkdir { path, uid, gid } => {
                rootpath::ensure_target(root, path, TargetKind::Dir, Some((*uid, *gid)))?;
            }
            MountStep::EnsureTarget { target, kind } => {
                let kind = match kind {
                    StubKind::Fixed(kind) => *kind,
                    StubKind::LikeSource(source) => match std::fs::metadata(source) {
                        Ok(meta) if meta.is_dir() => TargetKind::Dir,
                        Ok(_) => TargetKind::File,
                        Err(e) => {
                            return Err(MountError::Source {
                                path: source.clone(),
                                source: e,
                            });
                        }
                    },
                };
                let ensured = rootpath::ensure_target(root, target, kind, None)?;
                let mut on_root = |host: &Path| -> Result<bool, MountError> {
                    let id = kernel.mount_id(host).map_err(|errno| MountError::MountId {
                        path: host.to_path_buf(),
                        errno,
                    })?;
                    Ok(root_mount.is_none() || root_mount == Some(id))
                };
                let mut created = Vec::new();
                for path in ensured.created {
                    let host = root.join(path.trim_start_matches('/'));
                    if on_root(host.parent().unwrap_or(root))? {
                        created.push(path);
                    }
                }
                let parent = match ensured.parent {
                    Some(p) if on_root(&root.join(p.path.trim_start_matches('/')))? => Some(p),
                    _ => None,
                };
                stubs.record(created, parent);
            }
            MountStep::Mount {
                fstype,
                target,
                flags,
                data,
            } => {
                let host = host_path(root, target)?;
                let data = (!data.is_empty()).then_some(data.as_str());
                do_mount(
                    kernel,
                    Some(Path::new(fstype)),
                    &host,
                    Some(fstype),
                    ms_flags(*flags),
                    data,
                    fstype,
                )?;
            }
            MountStep::Bind {
                source,
                target,
                flags,
            } => {
                let host = host_path(root, target)?;
                bind(kernel, source, &host, *flags)?;
            }
            MountStep::Symlink { link, points_to } => {
                let host = host_path(root, link)?;
                std::os::unix::fs::symlink(points_to, &host).map_err(|source| {
                    MountError::Symlink {
                        link: host.clone(),
                        points_to: points_to.clone(),
                        source,
                    }
                })?;
            }
            MountStep::Mask { target } => {
                let host = host_path(root, target)?;
                match std::fs::symlink_metadata(&host) {
                    Ok(meta) if meta.is_dir() => {
                        let flags = MountFlags {
                            readonly: true,
                            ..Default::default()
                        };
                        do_mount(
                            kernel,
                            Some(Path::new("tmpfs")),
                            &host,
                            Some("tmpfs"),
                            ms_flags(flags),
                            None,
                            "tmpfs",
                        )?;
                    }
                    Ok(_) => bind(kernel, Path::new("/dev/null"), &host, MountFlags::default())?,
                    Err(_) => {}
                }
            }
            MountStep::ReadonlyPath { target } => {
                let host = host_path(root, target)?;
                if host.exists() {
                    let flags = MountFlags {
                        readonly: true,
                        ..Default::default()
                    };
                    bind(kernel, &host, &host, flags)?;
                }
            }
            MountStep::RemountRootReadonly => {
                let flags = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY;
                do_mount(
                    kernel,
                    None,
                    root,
                    None,
                    flags,
                    None,
                    "rootfs (read-only remount)",
                )?;
            }
            MountStep::PivotRoot => {
                stubs.seal(root);
                kernel
                    .pivot_root(root)
                    .map_err(|errno| MountError::PivotRoot {
                        root: root.to_path_buf(),
                        errno,
                    })?;
            }
        }
    }
    Ok(stubs)
}

fn host_path(root: &Path, target: &str) -> Result<PathBuf, MountError> {
    Ok(root.join(rootpath::resolve_in_root(root, target)?))
}

fn ms_flags(flags: MountFlags) -> MsFlags {
    let mut ms = MsFlags::empty();
    ms.set(MsFlags::MS_RDONLY, flags.readonly);
    ms.set(MsFlags::MS_NOSUID, flags.nosuid);
    ms.set(MsFlags::MS_NODEV, flags.nodev);
    ms.set(MsFlags::MS_NOEXEC, flags.noexec);
    ms
}

/// A recursive bind, then a remount for the flags a bind ignores.
fn bind(
    kernel: &mut impl Kernel,
    source: &Path,
    target: &Path,
    flags: MountFlags,
) -> Result<(), MountError> {
    let name = source.display().to_string();
    do_mount(
        kernel,
        Some(source),
        target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
        &name,
    )?;
    let extra = ms_flags(flags);
    if !extra.is_empty() {
        let remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra;
        do_mount(kernel, None, target, None, remount, None, &name)?;
    }
    Ok(())
}

fn do_mount(
    kernel: &mut impl Kernel,
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    name: &str,
) -> Result<(), MountError> {
    kernel
        .mount(source, target, fstype, flags, data)
        .map_err(|errno| MountError::Mount {
            what: name.to_string(),
            target: target.to_path_buf(),
            errno,
        })
}

/// The real kernel.
pub struct LinuxKernel;

impl Kernel for LinuxKernel {
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> Result<(), Errno> {
        nix::mount::mount(source, target, fstype, flags, data)
    }

    fn pivot_root(&mut self, new_root: &Path) -> Result<(), Errno> {
        // The `pivot_root(".", ".")` idiom: the old root ends up stacked
        // under the new one and is detached without needing a directory
        // for it in the image.
        nix::unistd::chdir(new_root)?;
        nix::unistd::pivot_root(".", ".")?;
        nix::mount::umount2(".", MntFlags::MNT_DETACH)?;
        nix::unistd::chdir("/")
    }

    fn mount_id(&mut self, path: &Path) -> Result<u64, Errno> {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(|_| Errno::EINVAL)?;
        // SAFETY: statx writes into the zeroed buffer we own; the path is a
        // valid NUL-terminated string.
        let mut buf: libc::statx = unsafe { std::mem::zeroed() };
        let rc = unsafe {
            libc::statx(
                libc::AT_FDCWD,
                c.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
                libc::STATX_MNT_ID,
                &mut buf,
            )
        };
        if rc != 0 {
            return Err(Errno::last());
        }
        Ok(buf.stx_mnt_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::plan::plan;
    use crate::exec::{MountSpec, Network, ResolvedUser, RunSpec};

    /// Records mount calls; a path's mount id is the number of the latest
    /// recorded mount whose target contains it (0 for the bare root dir).
    #[derive(Default)]
    struct RecordingKernel {
        mounts: Vec<(Option<PathBuf>, PathBuf, Option<String>, MsFlags)>,
        pivoted: Option<PathBuf>,
    }

    impl Kernel for RecordingKernel {
        fn mount(
            &mut self,
            source: Option<&Path>,
            target: &Path,
            fstype: Option<&str>,
            flags: MsFlags,
            _: Option<&str>,
        ) -> Result<(), Errno> {
            self.mounts.push((
                source.map(Path::to_path_buf),
                target.to_path_buf(),
                fstype.map(String::from),
                flags,
            ));
            Ok(())
        }
        fn pivot_root(&mut self, new_root: &Path) -> Result<(), Errno> {
            self.pivoted = Some(new_root.to_path_buf());
            Ok(())
        }
        fn mount_id(&mut self, path: &Path) -> Result<u64, Errno> {
            let id = self
                .mounts
                .iter()
                .enumerate()
                .rev()
                .find(|(_, (_, target, _, flags))| {
                    !flags.contains(MsFlags::MS_REMOUNT) && path.starts_with(target)
                })
                .map_or(0, |(i, _)| i as u64 + 1);
            Ok(id)
        }
    }

    fn spec(root: &Path) -> RunSpec {
        RunSpec {
            rootfs: root.to_path_buf(),
            args: vec!["true".into()],
            env: vec![],
            cwd: "/".into(),
            user: ResolvedUser::default(),
            hostname: "h".into(),
            network: Network::Host,
            mounts: vec![],
            etc_hosts: String::new(),
            resolv_conf: String::new(),
            readonly_rootfs: false,
        }
    }

    #[test]
    fn stubs_on_the_rootfs_are_reported_but_not_those_inside_sandbox_mounts() {
        let root = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let mut spec = spec(root.path());
        spec.mounts = vec![MountSpec::Bind {
            source: cache.path().to_path_buf(),
            target: "/root/.cache/go".into(),
            readonly: false,
        }];
        let plan = plan(&spec, Path::new("/nonexistent/etc"));
        let mut kernel = RecordingKernel::default();
        let stubs = apply(&plan, root.path(), &mut kernel).unwrap();
        let created = &stubs.created;
        assert_eq!(stubs.parents.len(), 1, "only / got stubs: {stubs:?}");
        for path in [
            "/proc",
            "/dev",
            "/sys",
            "/etc",
            "/etc/hosts",
            "/etc/resolv.conf",
            "/etc/hostname",
            "/root",
            "/root/.cache",
            "/root/.cache/go",
        ] {
            assert!(
                created.contains(&path.to_string()),
                "{path} not reported in {created:?}"
            );
        }
        // /dev/null and /dev/pts were created inside the /dev tmpfs.
        assert!(
            !created.iter().any(|p| p.starts_with("/dev/")),
            "{created:?}"
        );
        assert_eq!(kernel.pivoted.as_deref(), Some(root.path()));
        assert!(root.path().join("dev/ptmx").is_symlink());
    }

    #[test]
    fn bind_targets_take_the_kind_of_their_source() {
        let root = tempfile::tempdir().unwrap();
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("file"), "x").unwrap();
        let mut spec = spec(root.path());
        spec.mounts = vec![
            MountSpec::Bind {
                source: src.path().join("file"),
                target: "/in/file".into(),
                readonly: true,
            },
            MountSpec::Bind {
                source: src.path().to_path_buf(),
                target: "/in/dir".into(),
                readonly: false,
            },
        ];
        let mut kernel = RecordingKernel::default();
        apply(&plan(&spec, Path::new("/e")), root.path(), &mut kernel).unwrap();
        assert!(root.path().join("in/file").is_file());
        assert!(root.path().join("in/dir").is_dir());
        let remounts: Vec<_> = kernel
            .mounts
            .iter()
            .filter(|(_, t, _, f)| {
                t == &root.path().join("in/file")
                    && f.contains(MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY)
            })
            .collect();
        assert_eq!(remounts.len(), 1);
    }

    #[test]
    fn missing_bind_source_is_an_error_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let mut spec = spec(root.path());
        spec.mounts = vec![MountSpec::Bind {
            source: "/no/such/source".into(),
            target: "/x".into(),
            readonly: true,
        }];
        let err = apply(
            &plan(&spec, Path::new("/e")),
            root.path(),
            &mut RecordingKernel::default(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("/no/such/source"), "{err}");
    }

    #[test]
    fn mount_targets_are_resolved_through_image_symlinks_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("etc")).unwrap();
        std::os::unix::fs::symlink(
            "/../../outside/resolv.conf",
            root.path().join("etc/resolv.conf"),
        )
        .unwrap();
        let mut kernel = RecordingKernel::default();
        let created = apply(
            &plan(&spec(root.path()), Path::new("/e")),
            root.path(),
            &mut kernel,
        )
        .unwrap()
        .created;
        assert!(
            created.contains(&"/outside/resolv.conf".to_string()),
            "{created:?}"
        );
        assert!(
            kernel
                .mounts
                .iter()
                .any(|(_, t, _, _)| t == &root.path().join("outside/resolv.conf"))
        );
    }

    #[test]
    fn masks_cover_files_with_dev_null_and_dirs_with_readonly_tmpfs_and_skip_missing() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("proc/acpi")).unwrap();
        std::fs::write(root.path().join("proc/keys"), "").unwrap();
        let plan = MountPlan {
            steps: vec![
                MountStep::Mask {
                    target: "/proc/acpi".into(),
                },
                MountStep::Mask {
                    target: "/proc/keys".into(),
                },
                MountStep::Mask {
                    target: "/proc/kcore".into(),
                },
                MountStep::ReadonlyPath {
                    target: "/proc/acpi".into(),
                },
                MountStep::ReadonlyPath {
                    target: "/proc/sys".into(),
                },
            ],
        };
        let mut kernel = RecordingKernel::default();
        apply(&plan, root.path(), &mut kernel).unwrap();
        let acpi = root.path().join("proc/acpi");
        let keys = root.path().join("proc/keys");
        let calls: Vec<_> = kernel
            .mounts
            .iter()
            .map(|(source, target, fstype, flags)| {
                (source.clone(), target.clone(), fstype.clone(), *flags)
            })
            .collect();
        assert_eq!(
            calls,
            vec![
                (
                    Some("tmpfs".into()),
                    acpi.clone(),
                    Some("tmpfs".into()),
                    MsFlags::MS_RDONLY
                ),
                (
                    Some("/dev/null".into()),
                    keys.clone(),
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC
                ),
                (
                    Some(acpi.clone()),
                    acpi.clone(),
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REC
                ),
                (
                    None,
                    acpi,
                    None,
                    MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY
                ),
            ]
        );
    }
}
