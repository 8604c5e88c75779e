//! Overlayfs mounts through the new mount API, and the process-wide
//! registry of live mounts.
//!
//! `fsopen("overlay")` + one `fsconfig("lowerdir+")` per lower + `fsmount` +
//! `move_mount` (Linux ≥ 6.8 for `lowerdir+`). Each path is its own
//! `fsconfig` string, so there is no 4 KiB option-page limit on the number
//! or length of lower dirs, and `,`/`:` in paths need no escaping. Older
//! kernels get `mount(2)` with an escaped option string, limited to a page.
//!
//! `redirect_dir`, `metacopy` and `index` are switched off explicitly: with
//! them the upper dir holds redirects and metadata-only copies that are not
//! a self-contained diff. `volatile` is not used (it needs fresh dirs).

use std::collections::BTreeSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, UnmountFlags, fsconfig_create,
    fsconfig_set_string, fsmount, fsopen, move_mount, unmount,
};

/// Merged dirs currently mounted by this process.
static LIVE_MOUNTS: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// What to mount.
pub(crate) struct OverlaySpec<'a> {
    /// Lower dirs, bottom first (the order of an image's layers).
    pub lowers: &'a [PathBuf],
    /// Upper and work dirs; `None` for a read-only, lower-only mount.
    pub upper_work: Option<(&'a Path, &'a Path)>,
    pub target: &'a Path,
}

fn ctx(what: &str, err: rustix::io::Errno) -> io::Error {
    let e: io::Error = err.into();
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// Lower dirs top-most first, as overlayfs lists them, each once.
///
/// overlayfs refuses a dir given twice (ELOOP), which a chain can do: two
/// steps with the same diff. Only the top-most occurrence matters: it holds
/// the same entries and whiteouts as the lower copy, so it shadows all of it.
fn lowers_top_first(lowers: &[PathBuf]) -> Vec<&Path> {
    let mut seen = std::collections::HashSet::new();
    lowers
        .iter()
        .rev()
        .filter(|l| seen.insert(*l))
        .map(PathBuf::as_path)
        .collect()
}

/// Mounts an overlay at `spec.target` and records it as live. Uses the new
/// mount API with `lowerdir+` (no length limit); on kernels without
/// `lowerdir+` (before 6.8) falls back to `mount(2)` with an option
/// string, which must fit in a page.
pub(crate) fn mount(spec: &OverlaySpec<'_>) -> io::Result<()> {
    match mount_new_api(spec) {
        Err(NewApiError::NoLowerdirPlus) => mount_legacy(spec)?,
        Err(NewApiError::Other(e)) => return Err(e),
        Ok(()) => {}
    }
    live().insert(spec.target.to_path_buf());
    Ok(())
}

/// overlayfs option values escape `\`, `,` and `:` with a backslash.
fn escape_option(path: &Path) -> io::Result<String> {
    let s = path.to_str().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not UTF-8", path.display()),
        )
    })?;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}

fn mount_legacy(spec: &OverlaySpec<'_>) -> io::Result<()> {
    let lowers: Vec<String> = lowers_top_first(spec.lowers)
        .into_iter()
        .map(escape_option)
        .collect::<io::Result<_>>()?;
    let mut data = format!("lowerdir={}", lowers.join(":"));
    if let Some((upper, work)) = spec.upper_work {
        data.push_str(&format!(
            ",upperdir={},workdir={},redirect_dir=off,metacopy=off,index=off",
            escape_option(upper)?,
            escape_option(work)?
        ));
    }
    if data.len() >= 4096 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "overlay options for {} lower dirs are {} bytes, over the page size; \
                 this kernel lacks `lowerdir+` (Linux 6.8) to pass them one by one",
                lowers.len(),
                data.len()
            ),
        ));
    }
    let data = std::ffi::CString::new(data).map_err(io::Error::other)?;
    let flags = if spec.upper_work.is_some() {
        rustix::mount::MountFlags::empty()
    } else {
        rustix::mount::MountFlags::RDONLY
    };
    rustix::mount::mount("overlay", spec.target, "overlay", flags, data.as_c_str())
        .map_err(|e| ctx(&format!("mount overlay on {}", spec.target.display()), e))
}

enum NewApiError {
    /// The kernel does not know `lowerdir+`.
    NoLowerdirPlus,
    Other(io::Error),
}

impl From<io::Error> for NewApiError {
    fn from(e: io::Error) -> Self {
        NewApiError::Other(e)
    }
}

fn mount_new_api(spec: &OverlaySpec<'_>) -> Result<(), NewApiError> {
    let fs =
        fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).map_err(|e| ctx("fsopen overlay", e))?;
    for (i, lower) in lowers_top_first(spec.lowers).into_iter().enumerate() {
        match fsconfig_set_string(&fs, "lowerdir+", lower) {
            Ok(()) => {}
            Err(rustix::io::Errno::INVAL) if i == 0 => return Err(NewApiError::NoLowerdirPlus),
            Err(e) => return Err(ctx(&format!("lowerdir+ {}", lower.display()), e).into()),
        }
    }
    if let Some((upper, work)) = spec.upper_work {
        fsconfig_set_string(&fs, "upperdir", upper)
            .map_err(|e| ctx(&format!("upperdir {}", upper.display()), e))?;
        fsconfig_set_string(&fs, "workdir", work)
            .map_err(|e| ctx(&format!("workdir {}", work.display()), e))?;
    }
    for (key, value) in [
        ("redirect_dir", "off"),
        ("metacopy", "off"),
        ("index", "off"),
    ] {
        // redirect_dir=off is refused for lower-only mounts on some kernels;
        // it is irrelevant there, so only the writable case insists.
        if let Err(e) = fsconfig_set_string(&fs, key, value)
            && spec.upper_work.is_some()
        {
            return Err(ctx(&format!("{key}={value}"), e).into());
        }
    }
    fsconfig_create(&fs).map_err(|e| ctx("create overlay superblock", e))?;
    let attrs = if spec.upper_work.is_some() {
        MountAttrFlags::empty()
    } else {
        MountAttrFlags::MOUNT_ATTR_RDONLY
    };
    let mnt = fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, attrs).map_err(|e| ctx("fsmount", e))?;
    move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        spec.target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| ctx(&format!("move_mount onto {}", spec.target.display()), e))?;
    Ok(())
}

fn live() -> std::sync::MutexGuard<'static, BTreeSet<PathBuf>> {
    LIVE_MOUNTS.lock().unwrap_or_else(|p| p.into_inner())
}

/// Unmounts `target`; a busy mount is detached lazily instead.
pub(crate) fn unmount_path(target: &Path) -> io::Result<()> {
    let res = match unmount(target, UnmountFlags::empty()) {
        Err(rustix::io::Errno::BUSY) => unmount(target, UnmountFlags::DETACH),
        other => other,
    };
    match res {
        Ok(()) | Err(rustix::io::Errno::INVAL) | Err(rustix::io::Errno::NOENT) => {
            live().remove(target);
            Ok(())
        }
        Err(e) => Err(ctx(&format!("unmount {}", target.display()), e)),
    }
}

/// Detaches every overlay this process mounted and has not released yet.
/// Meant for a Ctrl-C/SIGTERM handler (run it from a signal-handling
/// thread, not inside an async signal handler: it takes a lock). The
/// snapshot dirs themselves are removed by the next [`super::SnapshotStore::open`].
/// Returns how many mounts were detached.
pub fn unmount_all_active() -> usize {
    let targets: Vec<PathBuf> = std::mem::take(&mut *live()).into_iter().collect();
    targets
        .iter()
        .rev()
        .filter(|t| unmount(t.as_path(), UnmountFlags::DETACH).is_ok())
        .count()
}

/// Mount points at or below `dir` in this mount namespace, deepest first.
pub(crate) fn mount_points_under(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let mut out: Vec<PathBuf> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    out.dedup();
    Ok(out)
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && let Ok(v) = u8::from_str_radix(&s[i + 1..i + 4], 8)
        {
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether an overlay with an upper dir can be mounted under `scratch`
/// (created and removed here).
pub(crate) fn probe(scratch: &Path) -> bool {
    let dirs = ["l", "u", "w", "m"].map(|d| scratch.join(d));
    let ok = dirs.iter().all(|d| std::fs::create_dir_all(d).is_ok())
        && mount(&OverlaySpec {
            lowers: std::slice::from_ref(&dirs[0]),
            upper_work: Some((&dirs[1], &dirs[2])),
            target: &dirs[3],
        })
        .is_ok();
    let ok = ok && {
        let wrote = std::fs::write(dirs[3].join("probe"), b"x").is_ok();
        unmount_path(&dirs[3]).is_ok() && wrote && dirs[1].join("probe").is_file()
    };
    let _ = std::fs::remove_dir_all(scratch);
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn option_values_escape_separators() {
        assert_eq!(
            escape_option(Path::new("/a,b:c\\d")).unwrap(),
            "/a\\,b\\:c\\\\d"
        );
    }

    #[test]
    fn legacy_mount_shows_the_chain_with_escaped_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let d = |n: &str| {
            let p = tmp.path().join(n);
            std::fs::create_dir_all(&p).unwrap();
            p
        };
        let (l1, l2) = (d("low,1"), d("low:2"));
        std::fs::write(l1.join("f"), "1").unwrap();
        std::fs::write(l1.join("g"), "g").unwrap();
        std::fs::write(l2.join("f"), "2").unwrap();
        let (upper, work, target) = (d("up"), d("work"), d("merged"));
        mount_legacy(&OverlaySpec {
            lowers: &[l1.clone(), l2.clone(), l1],
            upper_work: Some((&upper, &work)),
            target: &target,
        })
        .unwrap();
        let f = std::fs::read_to_string(target.join("f"));
        let g = std::fs::read_to_string(target.join("g"));
        std::fs::write(target.join("new"), "n").unwrap();
        unmount(&target, UnmountFlags::empty()).unwrap();
        assert_eq!(f.unwrap(), "1"); // the repeated layer counts where it is top-most
        assert_eq!(g.unwrap(), "g");
        assert!(upper.join("new").is_file());
    }

    #[test]
    fn mountinfo_escapes_are_decoded() {
        assert_eq!(unescape_mountinfo(r"/a\040b\134c"), "/a b\\c");
        assert_eq!(unescape_mountinfo("/plain"), "/plain");
    }
}
