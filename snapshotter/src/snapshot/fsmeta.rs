//! Small file-metadata helpers shared by the snapshot drivers and the layer
//! differ: extended attributes (list/get/set without following symlinks),
//! which xattrs are overlayfs-internal, and copying an entry's owner, mode,
//! xattrs and times onto another path.
//!
//! rustix is used for xattrs and `utimensat` because std has neither.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::fs::{AtFlags, CWD, Timespec, Timestamps};

/// Overlayfs keeps its bookkeeping in these xattrs; they never belong in a
/// layer and are never copied.
pub(crate) fn is_overlay_internal_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.")
}

/// The names of the xattrs of `path` (not following a symlink), in kernel
/// order. Filesystems without xattr support give an empty list.
pub(crate) fn list_xattrs(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let mut buf = vec![0u8; 4096];
    loop {
        match rustix::fs::llistxattr(path, &mut buf[..]) {
            Ok(n) => {
                return Ok(buf[..n]
                    .split(|b| *b == 0)
                    .filter(|s| !s.is_empty())
                    .map(<[u8]>::to_vec)
                    .collect());
            }
            Err(rustix::io::Errno::RANGE) => {
                let need = rustix::fs::llistxattr_query(path)?;
                buf.resize(need.max(buf.len() * 2), 0);
            }
            Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The value of xattr `name` of `path`, `None` if it is not set.
pub(crate) fn get_xattr(path: &Path, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let name = std::ffi::OsStr::from_bytes(name);
    let mut buf = vec![0u8; 256];
    loop {
        match rustix::fs::lgetxattr(path, name, &mut buf[..]) {
            Ok(n) => {
                buf.truncate(n);
                return Ok(Some(buf));
            }
            Err(rustix::io::Errno::RANGE) => {
                let need = rustix::fs::lgetxattr_query(path, name)?;
                buf.resize(need.max(buf.len() * 2), 0);
            }
            Err(rustix::io::Errno::NODATA) | Err(rustix::io::Errno::NOTSUP) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
}

/// The xattrs of `path` that belong in a layer, sorted by name.
pub(crate) fn layer_xattrs(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut out = Vec::new();
    for name in list_xattrs(path)? {
        if is_overlay_internal_xattr(&name) {
            continue;
        }
        if let Some(value) = get_xattr(path, &name)? {
            out.push((name, value));
        }
    }
    out.sort();
    Ok(out)
}

/// Whether overlayfs marks the directory `path` opaque.
pub(crate) fn is_overlay_opaque(path: &Path) -> io::Result<bool> {
    Ok(get_xattr(path, b"trusted.overlay.opaque")?.as_deref() == Some(b"y"))
}

/// Gives `dst` the owner, mode, layer xattrs and times of `src` (whose
/// metadata is `meta`). Symlinks get owner, xattrs and times, not a mode.
pub(crate) fn copy_metadata(src: &Path, meta: &std::fs::Metadata, dst: &Path) -> io::Result<()> {
    std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()))?;
    let is_link = meta.file_type().is_symlink();
    if !is_link {
        // After chown: chown clears setuid/setgid bits.
        rustix::fs::chmod(dst, rustix::fs::Mode::from_raw_mode(meta.mode() & 0o7777))?;
    }
    for (name, value) in layer_xattrs(src)? {
        let name = std::ffi::OsStr::from_bytes(&name);
        match rustix::fs::lsetxattr(dst, name, &value, rustix::fs::XattrFlags::empty()) {
            Ok(()) => {}
            // user.* xattrs cannot be set on symlinks; skip like cp -a does.
            Err(rustix::io::Errno::PERM) | Err(rustix::io::Errno::NOTSUP) if is_link => {}
            Err(e) => return Err(e.into()),
        }
    }
    set_times(dst, meta)
}

/// Sets the access and modification times of `dst` (not following a
/// symlink) to those in `meta`.
pub(crate) fn set_times(dst: &Path, meta: &std::fs::Metadata) -> io::Result<()> {
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: meta.atime(),
            tv_nsec: meta.atime_nsec() as _,
        },
        last_modification: Timespec {
            tv_sec: meta.mtime(),
            tv_nsec: meta.mtime_nsec() as _,
        },
    };
    rustix::fs::utimensat(CWD, dst, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok(())
}

/// Whether `meta` is an overlayfs whiteout: a character device 0:0.
pub(crate) fn is_overlay_whiteout(meta: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// The inode generation of the directory `path` (`FS_IOC_GETVERSION`), where
/// the filesystem has one (ext4, xfs, btrfs): with the inode number it tells
/// a directory from a new one that reused the number. `None` where
/// unsupported.
pub(crate) fn dir_generation(path: &Path) -> Option<u32> {
    use rustix::fs::{Mode, OFlags};
    use rustix::ioctl::{Getter, opcode};
    const FS_IOC_GETVERSION: rustix::ioctl::Opcode = opcode::read::<std::ffi::c_long>(b'v', 1);
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .ok()?;
    // SAFETY: FS_IOC_GETVERSION writes one C int (the kernel's
    // `put_user(generation, (int __user *)arg)`), which is what the Getter's
    // output buffer holds; the opcode's size field says `long` only because
    // the uapi header declares it so.
    let generation =
        unsafe { rustix::ioctl::ioctl(&fd, Getter::<FS_IOC_GETVERSION, std::ffi::c_int>::new()) };
    generation.ok().map(|g| g as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn recreated_dir_differs_in_inode_number_or_generation() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path().join("d");
        std::fs::create_dir(&d).unwrap();
        let first = (std::fs::metadata(&d).unwrap().ino(), dir_generation(&d));
        assert!(first.1.is_some(), "no inode generation on this filesystem");
        std::fs::remove_dir(&d).unwrap();
        std::fs::create_dir(&d).unwrap();
        let second = (std::fs::metadata(&d).unwrap().ino(), dir_generation(&d));
        assert_ne!(first, second);
    }
}
