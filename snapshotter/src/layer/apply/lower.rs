//! Lower layers of an overlay stack, for applying a layer into its own dir.
//!
//! When `target` is one (empty) layer dir of an overlay stack, two things a
//! tar layer may rely on live in the lower layers, not in `target`:
//! - **Metadata of parent directories the layer does not list.** Overlayfs
//!   shows a directory's owner/mode/times from the topmost layer that has it,
//!   so a parent created 0755 root:root here would change the merged view.
//!   A created parent copies owner, mode and mtime from the topmost lower
//!   that has that directory (containerd's `mkparent` with `Parents`).
//! - **Hardlink targets in lower layers.** The target is copied up into
//!   `target` (content, owner, mode, mtime, xattrs), then linked, which is
//!   what overlayfs itself does on `link()` through a mount.
//!
//! Lookup is per lower dir, topmost first, each confined like `target`; a
//! 0/0 character device (overlay whiteout) ends the search as "deleted".
//! Opaque directories and redirects of the lowers are not interpreted.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::PathBuf;
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, Timespec, Timestamps, XattrFlags};
use rustix::process::{Gid, Uid};

use super::name;
use super::root::{self, DirHandle, Root};

/// The opened lower layer dirs, topmost first.
pub struct Lowers {
    roots: Vec<Root>,
}

/// A lower-layer entry: its parent directory (in that lower) and its stat.
pub struct LowerEntry {
    pub dir: Rc<DirHandle>,
    pub stat: Stat,
}

impl Lowers {
    pub fn open(paths: &[PathBuf]) -> io::Result<Lowers> {
        let roots = paths
            .iter()
            .map(|p| Root::open(p))
            .collect::<io::Result<_>>()?;
        Ok(Lowers { roots })
    }

    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// The topmost lower entry at `rel` (cleaned), or `None` when no lower
    /// has it or the topmost mention is a whiteout.
    pub fn find(&mut self, rel: &[u8]) -> io::Result<Option<LowerEntry>> {
        let (parent, last) = name::split(rel);
        for root in &mut self.roots {
            let dir = match root.dir(parent) {
                Ok(dir) => dir,
                Err(e) if is_missing(&e) => continue,
                Err(e) => return Err(e),
            };
            let Some(stat) = root::lstat_at(dir.fd.as_fd(), last)? else {
                continue;
            };
            if root::file_type(&stat) == FileType::CharacterDevice && stat.st_rdev == 0 {
                return Ok(None);
            }
            return Ok(Some(LowerEntry { dir, stat }));
        }
        Ok(None)
    }
}

fn is_missing(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(c) if c == rustix::io::Errno::NOENT.raw_os_error() || c == rustix::io::Errno::NOTDIR.raw_os_error())
}

fn mtime_of(st: &Stat) -> Timespec {
    Timespec {
        tv_sec: st.st_mtime,
        tv_nsec: st.st_mtime_nsec as _,
    }
}

/// Gives the directory `dir` (just created) the owner and mode of its lower
/// counterpart; returns the lower mtime, which the caller sets at the end.
pub fn copy_dir_meta(dir: BorrowedFd<'_>, lower: &Stat) -> io::Result<Timespec> {
    rustix::fs::fchown(
        dir,
        Some(Uid::from_raw(lower.st_uid)),
        Some(Gid::from_raw(lower.st_gid)),
    )?;
    rustix::fs::fchmod(dir, Mode::from_raw_mode(lower.st_mode & 0o7777))?;
    Ok(mtime_of(lower))
}

/// Copies the lower non-directory `entry` (named `last` in its dir) to
/// `last` in `dest`: regular files with content and xattrs, symlinks.
pub fn copy_up(entry: &LowerEntry, last: &[u8], dest: BorrowedFd<'_>) -> io::Result<()> {
    let st = &entry.stat;
    let owner = (
        Some(Uid::from_raw(st.st_uid)),
        Some(Gid::from_raw(st.st_gid)),
    );
    let times = Timestamps {
        last_access: mtime_of(st),
        last_modification: mtime_of(st),
    };
    match root::file_type(st) {
        FileType::RegularFile => {
            let ro = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let mut from = File::from(rustix::fs::openat(
                entry.dir.fd.as_fd(),
                last,
                ro,
                Mode::empty(),
            )?);
            let wo =
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let mut to = File::from(rustix::fs::openat(
                dest,
                last,
                wo,
                Mode::from_raw_mode(0o600),
            )?);
            io::copy(&mut from, &mut to)?;
            rustix::fs::fchown(&to, owner.0, owner.1)?;
            copy_xattrs(from.as_fd(), to.as_fd())?;
            rustix::fs::fchmod(&to, Mode::from_raw_mode(st.st_mode & 0o7777))?;
            rustix::fs::futimens(&to, &times)?;
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(entry.dir.fd.as_fd(), last, Vec::new())?;
            rustix::fs::symlinkat(target.as_c_str(), dest, last)?;
            rustix::fs::chownat(dest, last, owner.0, owner.1, AtFlags::SYMLINK_NOFOLLOW)?;
            rustix::fs::utimensat(dest, last, &times, AtFlags::SYMLINK_NOFOLLOW)?;
        }
        _ => {
            return Err(io::Error::other(
                "copy-up of a device, fifo or socket is not supported",
            ));
        }
    }
    Ok(())
}

fn copy_xattrs(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<()> {
    let mut names = vec![0u8; 64 * 1024];
    let n = match rustix::fs::flistxattr(from, &mut names[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    let mut value = vec![0u8; 64 * 1024];
    for xname in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if xname.starts_with(b"trusted.overlay.") || xname.starts_with(b"user.overlay.") {
            continue;
        }
        let len = rustix::fs::fgetxattr(from, xname, &mut value[..])?;
        match rustix::fs::fsetxattr(to, xname, &value[..len], XattrFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::PERM | rustix::io::Errno::NOTSUP) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
