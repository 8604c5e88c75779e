//! OCI whiteouts: `.wh.NAME` and `DIR/.wh..wh..opq`, in both modes of
//! [`super::WhiteoutMode`].
//!
//! A whiteout hides lower content only. What this layer itself wrote (the
//! `this_layer` set of real paths) is kept whatever the member order:
//! - `Remove` mode deletes `NAME` unless this layer wrote it; if this layer
//!   wrote `NAME` as a directory or something *below* it, only the lower
//!   parts are deleted. An opaque
//!   marker deletes every child of `DIR` this layer did not write, and
//!   descends into the directories it did write or merge.
//! - `Overlay` modes write the overlayfs form: a 0/0 char device `NAME`
//!   (if this layer has a file at `NAME` it stays; a directory is made
//!   opaque instead), and the xattr `trusted.overlay.opaque=y` (or
//!   `user.overlay.opaque=y`) on `DIR`. A directory member replacing a
//!   whiteout device of the same layer is made opaque too (see `write.rs`).

use std::io;
use std::os::fd::{AsFd, BorrowedFd};

use rustix::fs::{FileType, Mode, XattrFlags};

use super::meta::{self, Meta, Node};
use super::name;
use super::root::{self};
use super::write::{Applier, invalid, op_err};
use super::{ApplyError, WhiteoutMode};

impl Applier<'_> {
    /// Applies the whiteout member `parent/last` (`last` starts with `.wh.`).
    pub(super) fn whiteout(
        &mut self,
        parent: &[u8],
        last: &[u8],
        meta: &Meta,
        shown: &str,
    ) -> Result<(), ApplyError> {
        if last == name::OPAQUE_MARKER {
            return self.opaque(parent, shown);
        }
        if last.starts_with(name::WHITEOUT_META_PREFIX) {
            self.stats.ignored += 1;
            return Ok(());
        }
        let hidden = &last[name::WHITEOUT_PREFIX.len()..];
        if matches!(hidden, b"" | b"." | b"..") {
            return Err(invalid(shown, "whiteout does not name a file"));
        }
        match self.opts.whiteouts {
            WhiteoutMode::Remove => self.remove_lower(parent, hidden, shown)?,
            WhiteoutMode::Overlay | WhiteoutMode::OverlayUserXattr => {
                self.overlay_whiteout(parent, hidden, meta, shown)?
            }
        }
        self.stats.whiteouts += 1;
        Ok(())
    }

    fn remove_lower(
        &mut self,
        parent: &[u8],
        hidden: &[u8],
        shown: &str,
    ) -> Result<(), ApplyError> {
        let dir = match self.root.dir(parent) {
            Ok(dir) => dir,
            // No parent, nothing to hide.
            Err(e) if is_missing(&e) => return Ok(()),
            Err(e) => return Err(op_err(shown, "resolve whiteout directory")(e)),
        };
        let real = name::join(&dir.real, hidden);
        let Some(st) = root::lstat_at(dir.fd.as_fd(), hidden)
            .map_err(op_err(shown, "lstat whiteout target"))?
        else {
            return Ok(());
        };
        if self.this_layer.contains(&real) || self.has_layer_descendants(&real) {
            // Keep what this layer wrote; a directory loses its lower content.
            if root::file_type(&st) == FileType::Directory {
                let child = root::open_child_dir(dir.fd.as_fd(), hidden)
                    .map_err(op_err(shown, "open whiteout target"))?;
                self.clear_lower(child.as_fd(), &real)
                    .map_err(op_err(shown, "remove lower content"))?;
            }
        } else {
            root::remove_all_at(dir.fd.as_fd(), hidden)
                .map_err(op_err(shown, "remove whited-out entry"))?;
        }
        self.root.invalidate();
        Ok(())
    }

    fn overlay_whiteout(
        &mut self,
        parent: &[u8],
        hidden: &[u8],
        meta: &Meta,
        shown: &str,
    ) -> Result<(), ApplyError> {
        let dir = self.parent_dir(parent, shown)?;
        let fd = dir.fd.as_fd();
        if let Some(st) =
            root::lstat_at(fd, hidden).map_err(op_err(shown, "lstat whiteout target"))?
        {
            // Only this layer's content can be here: a whiteout never hides
            // it, but a directory of this layer must stop showing the lower one.
            if root::file_type(&st) == FileType::Directory {
                let child = root::open_child_dir(fd, hidden)
                    .map_err(op_err(shown, "open whiteout target"))?;
                self.set_opaque(child.as_fd())
                    .map_err(op_err(shown, "set opaque xattr"))?;
            }
            return Ok(());
        }
        rustix::fs::mknodat(
            fd,
            hidden,
            FileType::CharacterDevice,
            Mode::empty(),
            rustix::fs::makedev(0, 0),
        )
        .map_err(|e| op_err(shown, "create overlay whiteout device")(e.into()))?;
        if self.opts.preserve_owner {
            let owner = Meta {
                mode: 0,
                xattrs: Vec::new(),
                ..*meta
            };
            meta::apply(
                Node::At {
                    dir: fd,
                    name: hidden,
                    symlink: false,
                },
                &owner,
                true,
                false,
            )
            .map_err(|e| ApplyError::Entry {
                path: shown.to_string(),
                op: e.op,
                source: e.source,
            })?;
        }
        Ok(())
    }

    fn opaque(&mut self, parent: &[u8], shown: &str) -> Result<(), ApplyError> {
        match self.opts.whiteouts {
            WhiteoutMode::Remove => {
                let dir = match self.root.dir(parent) {
                    Ok(dir) => dir,
                    Err(e) if is_missing(&e) => return Ok(()),
                    Err(e) => return Err(op_err(shown, "resolve opaque directory")(e)),
                };
                self.clear_lower(dir.fd.as_fd(), &dir.real)
                    .map_err(op_err(shown, "remove lower content"))?;
                self.root.invalidate();
            }
            WhiteoutMode::Overlay | WhiteoutMode::OverlayUserXattr => {
                let dir = self.parent_dir(parent, shown)?;
                self.set_opaque(dir.fd.as_fd())
                    .map_err(op_err(shown, "set opaque xattr"))?;
            }
        }
        self.stats.opaque_dirs += 1;
        Ok(())
    }

    /// Marks a directory opaque for overlayfs, with the xattr of the mode.
    pub(super) fn set_opaque(&self, dir: BorrowedFd<'_>) -> io::Result<()> {
        let xattr = if self.opts.whiteouts == WhiteoutMode::OverlayUserXattr {
            "user.overlay.opaque"
        } else {
            "trusted.overlay.opaque"
        };
        Ok(rustix::fs::fsetxattr(
            dir,
            xattr,
            b"y",
            XattrFlags::empty(),
        )?)
    }

    /// Removes everything below the open directory `dir` (real path `real`)
    /// that this layer did not write, descending into what it wrote.
    fn clear_lower(&self, dir: BorrowedFd<'_>, real: &[u8]) -> io::Result<()> {
        for child in root::list_dir(dir)? {
            let child_real = name::join(real, &child);
            let written = self.this_layer.contains(&child_real);
            if !written && !self.has_layer_descendants(&child_real) {
                root::remove_all_at(dir, &child)?;
                continue;
            }
            let is_dir = root::lstat_at(dir, &child)?
                .is_some_and(|st| root::file_type(&st) == FileType::Directory);
            if is_dir {
                let sub = root::open_child_dir(dir, &child)?;
                self.clear_lower(sub.as_fd(), &child_real)?;
            }
        }
        Ok(())
    }

    /// Whether this layer wrote anything strictly below `real`.
    fn has_layer_descendants(&self, real: &[u8]) -> bool {
        let mut prefix = real.to_vec();
        if !prefix.is_empty() {
            prefix.push(b'/');
        }
        self.this_layer
            .range(prefix.clone()..)
            .next()
            .is_some_and(|p| p.starts_with(&prefix))
    }
}

fn is_missing(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::NOENT.raw_os_error() || code == rustix::io::Errno::NOTDIR.raw_os_error()
    )
}
