//! The mount plan of one RUN step, as data: [`plan`] turns a [`RunSpec`] into
//! the ordered [`MountStep`]s that build the container's filesystem view.
//! It is a pure function (no syscalls, no filesystem), so the shape of the
//! sandbox is unit-tested without root; [`super::apply`] carries it out.
//!
//! The view follows what runc gives BuildKit: a fresh `/proc` with the
//! usual masked and read-only paths, a tmpfs `/dev` holding binds of the
//! host's safe device nodes, a private devpts, `/dev/shm`, `/dev/mqueue`,
//! read-only sysfs, hoist's `/etc/hosts`, `/etc/resolv.conf` and
//! `/etc/hostname`, then the step's own `RUN --mount`s in order.

use std::path::{Path, PathBuf};

use super::rootpath::TargetKind;
use super::{MountSpec, RunSpec};

/// One step of building the sandbox's filesystem view. Container paths are
/// absolute paths as the command will see them; they are resolved inside the
/// rootfs when the step is applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountStep {
    /// `mount --make-rprivate /`: nothing mounted later reaches the host.
    MakeRootPrivate,
    /// Bind the rootfs onto itself (recursively) so it is a mount point,
    /// which `pivot_root` requires.
    BindRootOntoItself,
    /// Create the working directory (and missing parents) owned by the user.
    /// Part of the step's result, like BuildKit's; not a stub.
    MakeWorkdir { path: String, uid: u32, gid: u32 },
    /// Create `target` if missing; what is created on the rootfs mount is
    /// reported as a stub for the caller to remove.
    EnsureTarget { target: String, kind: StubKind },
    /// Mount a new filesystem instance.
    Mount {
        fstype: &'static str,
        target: String,
        flags: MountFlags,
        data: String,
    },
    /// Bind `source` (recursively) onto `target`.
    Bind {
        source: PathBuf,
        target: String,
        flags: MountFlags,
    },
    /// A symlink inside a sandbox-owned tmpfs (`/dev/ptmx -> pts/ptmx`).
    Symlink { link: String, points_to: String },
    /// Hide a kernel file or directory (`/proc/kcore`, `/sys/firmware`):
    /// `/dev/null` over a file, an empty read-only tmpfs over a directory.
    /// Skipped when the path does not exist.
    Mask { target: String },
    /// Make a kernel path read-only (`/proc/sys`). Skipped when missing.
    ReadonlyPath { target: String },
    /// Remount the rootfs read-only (its submounts keep their own flags).
    RemountRootReadonly,
    /// `pivot_root` into the rootfs and detach the old root.
    PivotRoot,
}

/// What a missing mount target is created as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StubKind {
    Fixed(TargetKind),
    /// A directory when the host `source` is one, a file otherwise.
    LikeSource(PathBuf),
}

/// The per-mount flags the plan uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MountFlags {
    pub readonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
}

impl MountFlags {
    const NONE: Self = Self {
        readonly: false,
        nosuid: false,
        nodev: false,
        noexec: false,
    };
    const NOSUID: Self = Self {
        nosuid: true,
        ..Self::NONE
    };
    const SAFE: Self = Self {
        nosuid: true,
        nodev: true,
        noexec: true,
        ..Self::NONE
    };
    const READONLY: Self = Self {
        readonly: true,
        ..Self::NONE
    };
}

/// The ordered steps that build one sandbox's filesystem view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPlan {
    pub steps: Vec<MountStep>,
}

/// Host device nodes bound into the sandbox's `/dev` (Docker's default set,
/// minus console handling).
pub const DEVICES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];

/// Kernel paths hidden from the command, as Docker's default spec does.
pub const MASKED_PATHS: [&str; 9] = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
];

/// Kernel paths made read-only, as Docker's default spec does.
pub const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Names of the files hoist writes for the sandbox, in the step's private
/// directory outside the rootfs, and where they are bound.
pub const ETC_FILES: [(&str, &str); 3] = [
    ("hosts", "/etc/hosts"),
    ("resolv.conf", "/etc/resolv.conf"),
    ("hostname", "/etc/hostname"),
];

/// The working directory of `spec`; `/` when none is given.
pub(crate) fn workdir(spec: &RunSpec) -> &str {
    if spec.cwd.is_empty() { "/" } else { &spec.cwd }
}

/// Builds the mount plan of `spec`. `etc_dir` holds the files named in
/// [`ETC_FILES`].
pub fn plan(spec: &RunSpec, etc_dir: &Path) -> MountPlan {
    use MountStep::*;
    let mut steps = vec![
        MakeRootPrivate,
        BindRootOntoItself,
        MakeWorkdir {
            path: workdir(spec).to_string(),
            uid: spec.user.uid,
            gid: spec.user.gid,
        },
    ];
    let mount = |steps: &mut Vec<MountStep>, fstype, target: &str, flags, data: &str| {
        steps.push(EnsureTarget {
            target: target.to_string(),
            kind: StubKind::Fixed(TargetKind::Dir),
        });
        steps.push(Mount {
            fstype,
            target: target.to_string(),
            flags,
            data: data.to_string(),
        });
    };
    mount(&mut steps, "proc", "/proc", MountFlags::SAFE, "");
    mount(
        &mut steps,
        "tmpfs",
        "/dev",
        MountFlags::NOSUID,
        "mode=755,size=65536k",
    );
    for dev in DEVICES {
        let target = format!("/dev/{dev}");
        steps.push(EnsureTarget {
            target: target.clone(),
            kind: StubKind::Fixed(TargetKind::File),
        });
        steps.push(Bind {
            source: PathBuf::from(&target),
            target,
            flags: MountFlags::NONE,
        });
    }
    mount(
        &mut steps,
        "devpts",
        "/dev/pts",
        MountFlags {
            noexec: true,
            ..MountFlags::NOSUID
        },
        "newinstance,ptmxmode=0666,mode=0620,gid=5",
    );
    for (link, points_to) in [
        ("/dev/ptmx", "pts/ptmx"),
        ("/dev/fd", "/proc/self/fd"),
        ("/dev/stdin", "/proc/self/fd/0"),
        ("/dev/stdout", "/proc/self/fd/1"),
        ("/dev/stderr", "/proc/self/fd/2"),
    ] {
        steps.push(Symlink {
            link: link.to_string(),
            points_to: points_to.to_string(),
        });
    }
    mount(
        &mut steps,
        "tmpfs",
        "/dev/shm",
        MountFlags::SAFE,
        "mode=1777,size=65536k",
    );
    mount(&mut steps, "mqueue", "/dev/mqueue", MountFlags::SAFE, "");
    mount(
        &mut steps,
        "sysfs",
        "/sys",
        MountFlags {
            readonly: true,
            ..MountFlags::SAFE
        },
        "",
    );
    steps.extend(MASKED_PATHS.iter().map(|p| Mask {
        target: p.to_string(),
    }));
    steps.extend(READONLY_PATHS.iter().map(|p| ReadonlyPath {
        target: p.to_string(),
    }));
    for (name, target) in ETC_FILES {
        steps.push(EnsureTarget {
            target: target.to_string(),
            kind: StubKind::Fixed(TargetKind::File),
        });
        steps.push(Bind {
            source: etc_dir.join(name),
            target: target.to_string(),
            flags: MountFlags::READONLY,
        });
    }
    for m in &spec.mounts {
        match m {
            MountSpec::Bind {
                source,
                target,
                readonly,
            } => {
                steps.push(EnsureTarget {
                    target: target.clone(),
                    kind: StubKind::LikeSource(source.clone()),
                });
                steps.push(Bind {
                    source: source.clone(),
                    target: target.clone(),
                    flags: MountFlags {
                        readonly: *readonly,
                        ..MountFlags::NONE
                    },
                });
            }
            MountSpec::Tmpfs { target, size } => {
                let data = match size {
                    Some(bytes) => format!("mode=1777,size={bytes}"),
                    None => "mode=1777".to_string(),
                };
                let flags = MountFlags {
                    nodev: true,
                    ..MountFlags::NOSUID
                };
                mount(&mut steps, "tmpfs", target, flags, &data);
            }
            MountSpec::Secret { source, target } | MountSpec::Ssh { source, target } => {
                steps.push(EnsureTarget {
                    target: target.clone(),
                    kind: StubKind::Fixed(TargetKind::File),
                });
                steps.push(Bind {
                    source: source.clone(),
                    target: target.clone(),
                    flags: MountFlags {
                        readonly: true,
                        ..MountFlags::SAFE
                    },
                });
            }
        }
    }
    if spec.readonly_rootfs {
        steps.push(RemountRootReadonly);
    }
    steps.push(PivotRoot);
    MountPlan { steps }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exec::{Network, ResolvedUser};

    fn spec() -> RunSpec {
        RunSpec {
            rootfs: PathBuf::from("/snap/1/merged"),
            args: vec!["/bin/sh".into(), "-c".into(), "true".into()],
            env: vec![],
            cwd: "/src".into(),
            user: ResolvedUser {
                uid: 1000,
                gid: 100,
                additional_gids: vec![],
                home: "/home/app".into(),
            },
            hostname: "box".into(),
            network: Network::None,
            mounts: vec![],
            etc_hosts: String::new(),
            resolv_conf: String::new(),
            readonly_rootfs: false,
        }
    }

    fn index_of(plan: &MountPlan, wanted: impl Fn(&MountStep) -> bool) -> usize {
        plan.steps
            .iter()
            .position(wanted)
            .unwrap_or_else(|| panic!("step not in plan: {plan:#?}"))
    }

    fn mount_index(plan: &MountPlan, fstype: &str, target: &str) -> usize {
        index_of(
            plan,
            |s| matches!(s, MountStep::Mount { fstype: f, target: t, .. } if *f == fstype && t == target),
        )
    }

    #[test]
    fn plan_starts_private_binds_root_and_ends_with_pivot_root() {
        let plan = plan(&spec(), Path::new("/tmp/etc"));
        assert_eq!(plan.steps[0], MountStep::MakeRootPrivate);
        assert_eq!(plan.steps[1], MountStep::BindRootOntoItself);
        assert_eq!(plan.steps.last(), Some(&MountStep::PivotRoot));
        assert_eq!(
            plan.steps
                .iter()
                .filter(|s| **s == MountStep::PivotRoot)
                .count(),
            1
        );
    }

    #[test]
    fn workdir_is_made_for_the_user_before_any_mount() {
        let plan = plan(&spec(), Path::new("/tmp/etc"));
        let workdir = index_of(&plan, |s| matches!(s, MountStep::MakeWorkdir { .. }));
        assert_eq!(
            plan.steps[workdir],
            MountStep::MakeWorkdir {
                path: "/src".into(),
                uid: 1000,
                gid: 100
            }
        );
        assert!(workdir < mount_index(&plan, "proc", "/proc"));
    }

    #[test]
    fn devices_are_bound_from_the_host_inside_the_dev_tmpfs() {
        let plan = plan(&spec(), Path::new("/tmp/etc"));
        let dev = mount_index(&plan, "tmpfs", "/dev");
        for name in DEVICES {
            let target = format!("/dev/{name}");
            let bind = index_of(&plan, |s| {
                matches!(s, MountStep::Bind { source, target: t, .. }
                    if *t == target && source == Path::new(&target))
            });
            assert!(bind > dev, "{target} bound before /dev was mounted");
        }
        let pts = mount_index(&plan, "devpts", "/dev/pts");
        let MountStep::Mount { data, .. } = &plan.steps[pts] else {
            unreachable!()
        };
        assert!(data.contains("newinstance") && data.contains("ptmxmode=0666"));
        assert!(plan.steps.contains(&MountStep::Symlink {
            link: "/dev/ptmx".into(),
            points_to: "pts/ptmx".into()
        }));
        assert!(mount_index(&plan, "tmpfs", "/dev/shm") > dev);
    }

    #[test]
    fn sysfs_is_read_only_and_kernel_paths_are_masked_after_proc() {
        let plan = plan(&spec(), Path::new("/tmp/etc"));
        let sys = mount_index(&plan, "sysfs", "/sys");
        let MountStep::Mount { flags, .. } = &plan.steps[sys] else {
            unreachable!()
        };
        assert!(flags.readonly);
        let proc = mount_index(&plan, "proc", "/proc");
        let kcore = index_of(
            &plan,
            |s| matches!(s, MountStep::Mask { target } if target == "/proc/kcore"),
        );
        let firmware = index_of(
            &plan,
            |s| matches!(s, MountStep::Mask { target } if target == "/sys/firmware"),
        );
        let sysctl = index_of(
            &plan,
            |s| matches!(s, MountStep::ReadonlyPath { target } if target == "/proc/sys"),
        );
        assert!(kcore > proc && sysctl > proc && firmware > sys);
    }

    #[test]
    fn etc_files_are_read_only_binds_of_files_outside_the_rootfs() {
        let plan = plan(&spec(), Path::new("/tmp/step-etc"));
        for (name, target) in ETC_FILES {
            let i = index_of(
                &plan,
                |s| matches!(s, MountStep::Bind { target: t, .. } if t == target),
            );
            assert_eq!(
                plan.steps[i - 1],
                MountStep::EnsureTarget {
                    target: target.into(),
                    kind: StubKind::Fixed(TargetKind::File)
                }
            );
            let MountStep::Bind { source, flags, .. } = &plan.steps[i] else {
                unreachable!()
            };
            assert_eq!(source, &Path::new("/tmp/step-etc").join(name));
            assert!(flags.readonly);
        }
    }

    #[test]
    fn caller_mounts_follow_the_sandbox_mounts_in_their_order() {
        let mut spec = spec();
        spec.mounts = vec![
            MountSpec::Tmpfs {
                target: "/cache".into(),
                size: Some(1 << 20),
            },
            MountSpec::Bind {
                source: "/ctx".into(),
                target: "/cache/src".into(),
                readonly: true,
            },
            MountSpec::Secret {
                source: "/s/token".into(),
                target: "/run/secrets/token".into(),
            },
        ];
        let plan = plan(&spec, Path::new("/tmp/etc"));
        let tmpfs = mount_index(&plan, "tmpfs", "/cache");
        let MountStep::Mount { data, .. } = &plan.steps[tmpfs] else {
            unreachable!()
        };
        assert!(data.contains("size=1048576"), "{data}");
        let bind = index_of(
            &plan,
            |s| matches!(s, MountStep::Bind { target, .. } if target == "/cache/src"),
        );
        assert_eq!(
            plan.steps[bind - 1],
            MountStep::EnsureTarget {
                target: "/cache/src".into(),
                kind: StubKind::LikeSource("/ctx".into())
            }
        );
        let secret = index_of(
            &plan,
            |s| matches!(s, MountStep::Bind { target, .. } if target == "/run/secrets/token"),
        );
        let MountStep::Bind { flags, .. } = &plan.steps[secret] else {
            unreachable!()
        };
        assert!(flags.readonly && flags.nosuid && flags.noexec);
        let last_sandbox_mount = index_of(
            &plan,
            |s| matches!(s, MountStep::Bind { target, .. } if target == "/etc/hostname"),
        );
        assert!(last_sandbox_mount < tmpfs && tmpfs < bind && bind < secret);
    }

    #[test]
    fn readonly_rootfs_is_remounted_after_all_mounts_and_before_pivot() {
        let mut spec = spec();
        spec.readonly_rootfs = true;
        let plan = plan(&spec, Path::new("/tmp/etc"));
        let n = plan.steps.len();
        assert_eq!(plan.steps[n - 2], MountStep::RemountRootReadonly);
        let without = super::plan(&self::spec(), Path::new("/tmp/etc"));
        assert!(!without.steps.contains(&MountStep::RemountRootReadonly));
    }
}
