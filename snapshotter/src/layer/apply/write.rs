//! The per-member work of [`super::apply_layer`]: files, directories,
//! symlinks, hardlinks, devices and fifos, created with `*at` calls relative
//! to confined parent directory fds.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Timespec};
use tar::EntryType;

use super::lower::{self, Lowers};
use super::meta::{self, Meta, MetaError, Node};
use super::name;
use super::root::{self, DirHandle, Root};
use super::{ApplyError, ApplyOptions, ApplyStats, WhiteoutMode};

const COPY_BUFFER: usize = 256 * 1024;

/// The state of one layer application.
pub struct Applier<'o> {
    pub(super) root: Root,
    pub(super) opts: &'o ApplyOptions,
    pub(super) stats: ApplyStats,
    /// Real (symlink-resolved) root-relative paths this layer created or
    /// changed: whiteouts never touch them.
    pub(super) this_layer: BTreeSet<Vec<u8>>,
    lowers: Lowers,
    /// Directory times to set at the end, by real path; later members win.
    dir_times: Vec<(Vec<u8>, Timespec)>,
    buf: Vec<u8>,
}

/// Shorthand for an error of an operation on a member.
pub(super) fn op_err<'a>(
    path: &'a str,
    op: &'static str,
) -> impl FnOnce(io::Error) -> ApplyError + 'a {
    move |source| ApplyError::Entry {
        path: path.to_string(),
        op,
        source,
    }
}

pub(super) fn invalid(path: &str, reason: impl Into<String>) -> ApplyError {
    ApplyError::Invalid {
        path: path.to_string(),
        reason: reason.into(),
    }
}

fn meta_err(path: &str) -> impl FnOnce(MetaError) -> ApplyError + '_ {
    move |e| ApplyError::Entry {
        path: path.to_string(),
        op: e.op,
        source: e.source,
    }
}

impl<'o> Applier<'o> {
    pub fn new(target: &Path, opts: &'o ApplyOptions) -> Result<Self, ApplyError> {
        let root = Root::open(target).map_err(|source| ApplyError::Target {
            path: target.to_path_buf(),
            source,
        })?;
        let lowers = Lowers::open(&opts.lowers).map_err(|source| ApplyError::Target {
            path: opts.lowers.first().cloned().unwrap_or_default(),
            source,
        })?;
        Ok(Applier {
            root,
            lowers,
            opts,
            stats: ApplyStats::default(),
            this_layer: BTreeSet::new(),
            dir_times: Vec::new(),
            buf: vec![0; COPY_BUFFER],
        })
    }

    /// Applies one member. `shown` is its raw name, for messages.
    pub fn apply_entry<R: Read>(
        &mut self,
        entry: &mut tar::Entry<'_, R>,
        shown: &str,
    ) -> Result<(), ApplyError> {
        self.stats.entries += 1;
        let raw = entry.path_bytes().into_owned();
        let path = name::clean(&raw).map_err(|reason| invalid(shown, reason))?;
        let mut kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader) || kind.as_byte() == b'V' || path.is_empty() {
            self.stats.ignored += 1;
            return Ok(());
        }
        // Old tars mark directories only by a trailing slash.
        if kind == EntryType::Regular && raw.ends_with(b"/") {
            kind = EntryType::Directory;
        }
        let (parent, last) = name::split(&path);
        let meta = Meta::read(entry).map_err(|r| invalid(shown, r))?;
        if last.starts_with(name::WHITEOUT_PREFIX) {
            return self.whiteout(parent, last, &meta, shown);
        }
        let dir = self.parent_dir(parent, shown)?;
        let real = name::join(&dir.real, last);
        let fd = dir.fd.as_fd();
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.file(fd, last, entry, &meta, shown)?
            }
            EntryType::Directory => {
                self.directory(fd, last, &meta, shown)?;
                self.dir_times.push((real.clone(), meta.mtime));
            }
            EntryType::Symlink => self.symlink(fd, last, entry, &meta, shown)?,
            EntryType::Link => self.hardlink(fd, last, entry, shown)?,
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                self.node(fd, last, kind, entry, &meta, shown)?
            }
            other => {
                return Err(invalid(
                    shown,
                    format!("unsupported tar entry type {:?}", other.as_byte() as char),
                ));
            }
        }
        self.this_layer.insert(real);
        Ok(())
    }

    /// The directory `rel`, created (with its parents) if missing; created
    /// directories take their metadata from the lower layers, if any.
    pub(super) fn parent_dir(
        &mut self,
        rel: &[u8],
        shown: &str,
    ) -> Result<Rc<DirHandle>, ApplyError> {
        let dir = self
            .root
            .ensure_dir(rel)
            .map_err(op_err(shown, "resolve parent directory"))?;
        let created = self.root.take_created();
        if self.lowers.is_empty() {
            return Ok(dir);
        }
        for real in created {
            let found = self
                .lowers
                .find(&real)
                .map_err(op_err(shown, "look up parent in lower layers"))?;
            let Some(entry) = found.filter(|e| root::file_type(&e.stat) == FileType::Directory)
            else {
                continue;
            };
            let made = self
                .root
                .dir(&real)
                .map_err(op_err(shown, "open created parent"))?;
            let mtime = lower::copy_dir_meta(made.fd.as_fd(), &entry.stat)
                .map_err(op_err(shown, "copy parent metadata from lower layer"))?;
            self.dir_times.push((real, mtime));
        }
        Ok(dir)
    }

    /// Makes room for a new `name` in `dir`: removes what is there (a
    /// directory with its tree), unless `keep_dir` and it is a directory.
    /// Returns whether a directory was kept.
    fn clear_place(
        &mut self,
        dir: BorrowedFd<'_>,
        last: &[u8],
        keep_dir: bool,
        shown: &str,
    ) -> Result<bool, ApplyError> {
        let Some(st) = root::lstat_at(dir, last).map_err(op_err(shown, "lstat existing entry"))?
        else {
            return Ok(false);
        };
        match root::file_type(&st) {
            FileType::Directory if keep_dir => return Ok(true),
            FileType::Directory => {
                root::remove_all_at(dir, last)
                    .map_err(op_err(shown, "remove existing directory"))?;
                self.root.invalidate();
            }
            t => {
                rustix::fs::unlinkat(dir, last, AtFlags::empty())
                    .map_err(|e| op_err(shown, "remove existing entry")(e.into()))?;
                if t == FileType::Symlink {
                    self.root.invalidate();
                }
            }
        }
        Ok(false)
    }

    fn file<R: Read>(
        &mut self,
        dir: BorrowedFd<'_>,
        last: &[u8],
        entry: &mut tar::Entry<'_, R>,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), ApplyError> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mode = Mode::from_raw_mode(0o600);
        let fd = match rustix::fs::openat(dir, last, flags, mode) {
            Err(rustix::io::Errno::EXIST) => {
                self.clear_place(dir, last, false, shown)?;
                rustix::fs::openat(dir, last, flags, mode)
            }
            other => other,
        }
        .map_err(|e| op_err(shown, "create file")(e.into()))?;
        let mut file = File::from(fd);
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(ApplyError::Read {
                        after: shown.to_string(),
                        source,
                    });
                }
            };
            file.write_all(&self.buf[..n])
                .map_err(op_err(shown, "write file"))?;
            self.stats.bytes += n as u64;
        }
        self.stats.xattrs_skipped +=
            meta::apply(Node::Fd(file.as_fd()), meta, self.opts.preserve_owner, true)
                .map_err(meta_err(shown))?;
        self.stats.files += 1;
        Ok(())
    }

    fn directory(
        &mut self,
        dir: BorrowedFd<'_>,
        last: &[u8],
        meta: &Meta,
        shown: &str,
    ) -> Result<(), ApplyError> {
        let mode = Mode::from_raw_mode(0o700);
        let mut replaces_whiteout = false;
        match rustix::fs::mkdirat(dir, last, mode) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {
                // In overlay mode, `.wh.d` then `d/` in one layer means a
                // fresh `d`: it must hide the lower `d`, so it becomes opaque.
                replaces_whiteout = self.opts.whiteouts != WhiteoutMode::Remove
                    && root::lstat_at(dir, last)
                        .map_err(op_err(shown, "lstat existing entry"))?
                        .is_some_and(|st| {
                            root::file_type(&st) == FileType::CharacterDevice && st.st_rdev == 0
                        });
                if !self.clear_place(dir, last, true, shown)? {
                    rustix::fs::mkdirat(dir, last, mode)
                        .map_err(|e| op_err(shown, "create directory")(e.into()))?;
                }
            }
            Err(e) => return Err(op_err(shown, "create directory")(e.into())),
        }
        let fd = root::open_child_dir(dir, last).map_err(op_err(shown, "open directory"))?;
        if replaces_whiteout {
            self.set_opaque(fd.as_fd())
                .map_err(op_err(shown, "set opaque xattr"))?;
        }
        self.stats.xattrs_skipped +=
            meta::apply(Node::Fd(fd.as_fd()), meta, self.opts.preserve_owner, false)
                .map_err(meta_err(shown))?;
        self.stats.dirs += 1;
        Ok(())
    }

    fn symlink<R: Read>(
        &mut self,
        dir: BorrowedFd<'_>,
        last: &[u8],
        entry: &tar::Entry<'_, R>,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), ApplyError> {
        let target = link_name(entry, shown)?;
        // The target is stored as is: it is only ever resolved inside the root.
        let create = |d: BorrowedFd<'_>| rustix::fs::symlinkat(target.as_slice(), d, last);
        match create(dir) {
            Err(rustix::io::Errno::EXIST) => {
                self.clear_place(dir, last, false, shown)?;
                create(dir)
            }
            other => other,
        }
        .map_err(|e| op_err(shown, "create symlink")(e.into()))?;
        let node = Node::At {
            dir,
            name: last,
            symlink: true,
        };
        self.stats.xattrs_skipped +=
            meta::apply(node, meta, self.opts.preserve_owner, true).map_err(meta_err(shown))?;
        self.stats.symlinks += 1;
        Ok(())
    }

    fn hardlink<R: Read>(
        &mut self,
        dir: BorrowedFd<'_>,
        last: &[u8],
        entry: &tar::Entry<'_, R>,
        shown: &str,
    ) -> Result<(), ApplyError> {
        let raw = link_name(entry, shown)?;
        let target =
            name::clean(&raw).map_err(|r| invalid(shown, format!("hardlink target: {r}")))?;
        if target.is_empty() {
            return Err(invalid(shown, "hardlink to the layer root"));
        }
        let (tparent, tlast) = name::split(&target);
        let found = match self.root.dir(tparent) {
            Ok(tdir) => root::lstat_at(tdir.fd.as_fd(), tlast)
                .map_err(op_err(shown, "lstat hardlink target"))?
                .map(|st| (tdir, st)),
            Err(e) if is_missing(&e) => None,
            Err(e) => return Err(op_err(shown, "resolve hardlink target directory")(e)),
        };
        let (tdir, tstat) = match found {
            Some(found) => found,
            None => self.copy_up_link_target(&target, shown)?.ok_or_else(|| {
                invalid(
                    shown,
                    format!("hardlink target {:?} does not exist", name::display(&raw)),
                )
            })?,
        };
        if root::file_type(&tstat) == FileType::Directory {
            return Err(invalid(shown, "hardlink to a directory"));
        }
        if let Some(existing) =
            root::lstat_at(dir, last).map_err(op_err(shown, "lstat existing entry"))?
        {
            if (existing.st_dev, existing.st_ino) == (tstat.st_dev, tstat.st_ino) {
                self.stats.hardlinks += 1;
                return Ok(()); // Already that very inode.
            }
            self.clear_place(dir, last, false, shown)?;
        }
        rustix::fs::linkat(tdir.fd.as_fd(), tlast, dir, last, AtFlags::empty())
            .map_err(|e| op_err(shown, "create hardlink")(e.into()))?;
        self.stats.hardlinks += 1;
        Ok(())
    }

    fn node<R: Read>(
        &mut self,
        dir: BorrowedFd<'_>,
        last: &[u8],
        kind: EntryType,
        entry: &tar::Entry<'_, R>,
        meta: &Meta,
        shown: &str,
    ) -> Result<(), ApplyError> {
        let (file_type, dev) = match kind {
            EntryType::Fifo => (FileType::Fifo, 0),
            _ => {
                let header = entry.header();
                let major = header.device_major().ok().flatten().unwrap_or(0);
                let minor = header.device_minor().ok().flatten().unwrap_or(0);
                let t = if kind == EntryType::Char {
                    FileType::CharacterDevice
                } else {
                    FileType::BlockDevice
                };
                (t, rustix::fs::makedev(major, minor))
            }
        };
        let mode = Mode::from_raw_mode(0o600);
        let res = match rustix::fs::mknodat(dir, last, file_type, mode, dev) {
            Err(rustix::io::Errno::EXIST) => {
                self.clear_place(dir, last, false, shown)?;
                rustix::fs::mknodat(dir, last, file_type, mode, dev)
            }
            other => other,
        };
        match res {
            Ok(()) => {}
            Err(rustix::io::Errno::PERM) if file_type != FileType::Fifo => {
                self.stats.devices_skipped += 1;
                return Ok(());
            }
            Err(e) => return Err(op_err(shown, "mknod")(e.into())),
        }
        let node = Node::At {
            dir,
            name: last,
            symlink: false,
        };
        self.stats.xattrs_skipped +=
            meta::apply(node, meta, self.opts.preserve_owner, true).map_err(meta_err(shown))?;
        if file_type == FileType::Fifo {
            self.stats.fifos += 1;
        } else {
            self.stats.devices += 1;
        }
        Ok(())
    }

    /// Copies a lower-layer hardlink target up into `target` (overlay
    /// stacks, see [`lower`]); `None` when no lower has it.
    fn copy_up_link_target(
        &mut self,
        target: &[u8],
        shown: &str,
    ) -> Result<Option<(Rc<DirHandle>, rustix::fs::Stat)>, ApplyError> {
        if self.lowers.is_empty() {
            return Ok(None);
        }
        let (tparent, tlast) = name::split(target);
        let Some(entry) = self
            .lowers
            .find(target)
            .map_err(op_err(shown, "look up hardlink target in lower layers"))?
        else {
            return Ok(None);
        };
        if root::file_type(&entry.stat) == FileType::Directory {
            return Err(invalid(shown, "hardlink to a directory"));
        }
        let tdir = self.parent_dir(tparent, shown)?;
        lower::copy_up(&entry, tlast, tdir.fd.as_fd())
            .map_err(op_err(shown, "copy up hardlink target"))?;
        let st = root::lstat_at(tdir.fd.as_fd(), tlast)
            .map_err(op_err(shown, "lstat hardlink target"))?
            .ok_or_else(|| invalid(shown, "copied-up hardlink target vanished"))?;
        Ok(Some((tdir, st)))
    }

    /// Sets the deferred directory times and returns the stats.
    pub fn finish(mut self) -> Result<ApplyStats, ApplyError> {
        let times = std::mem::take(&mut self.dir_times);
        for (real, mtime) in times {
            let (parent, last) = name::split(&real);
            // A directory removed or replaced by a later member is skipped.
            let Ok(dir) = self.root.dir(parent) else {
                continue;
            };
            match root::lstat_at(dir.fd.as_fd(), last) {
                Ok(Some(st)) if root::file_type(&st) == FileType::Directory => {}
                _ => continue,
            }
            let node = Node::At {
                dir: dir.fd.as_fd(),
                name: last,
                symlink: false,
            };
            meta::set_times_of(node, mtime).map_err(meta_err(&name::display(&real)))?;
        }
        Ok(self.stats)
    }
}

fn is_missing(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(c) if c == rustix::io::Errno::NOENT.raw_os_error() || c == rustix::io::Errno::NOTDIR.raw_os_error())
}

/// The link target of a symlink or hardlink member.
fn link_name<R: Read>(entry: &tar::Entry<'_, R>, shown: &str) -> Result<Vec<u8>, ApplyError> {
    let target = entry
        .link_name_bytes()
        .map(|c| c.into_owned())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid(shown, "link without a target"))?;
    if target.len() > name::MAX_NAME_BYTES || target.contains(&0) {
        return Err(invalid(shown, "link target too long or contains NUL"));
    }
    Ok(target)
}
