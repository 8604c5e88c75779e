//! The layer root as a directory fd, and every path lookup under it confined.
//!
//! All lookups go through `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`:
//! the kernel resolves `..` and symlinks (absolute or relative) as if the
//! target directory were `/`, so a layer that creates `a -> /etc` and then
//! writes `a/passwd` writes `<target>/etc/passwd`, never the host's. This is
//! the securejoin rule containerd applies with `fs.RootPath`: symlinked parents
//! are *followed within the root*, not rejected. The last component of a path
//! is never followed: it is always handled with `*at(dirfd, name, NOFOLLOW)`.
//!
//! Opened directories are cached by their layer-relative name together with
//! their real location (symlinks resolved), so a 20k-entry layer costs one
//! `openat2` per distinct parent, not per entry. Any removal of a directory
//! or symlink clears the cache, since a cached path might then resolve elsewhere.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::Path;
use std::rc::Rc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Stat};

use super::name;

/// An open directory under the root.
pub struct DirHandle {
    pub fd: OwnedFd,
    /// Where it really is, relative to the root (symlinks resolved), `a/b` form.
    pub real: Vec<u8>,
}

/// The apply target, opened once.
pub struct Root {
    fd: OwnedFd,
    /// `/proc/self/fd` form of the root's path, to turn an fd's link into a relative path.
    root_path: Vec<u8>,
    cache: HashMap<Vec<u8>, Rc<DirHandle>>,
    /// Real paths of directories [`Root::ensure_dir`] created, until taken.
    created: Vec<Vec<u8>>,
}

const CACHE_LIMIT: usize = 512;
/// Symlinks followed while creating missing parents, like the kernel's limit.
const MAX_SYMLINK_HOPS: u32 = 40;
const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::RDONLY)
    .union(OFlags::CLOEXEC)
    .union(OFlags::NOFOLLOW);

impl Root {
    /// Opens `target`, which must be an existing directory.
    pub fn open(target: &Path) -> io::Result<Root> {
        let fd = rustix::fs::open(
            target,
            DIR_FLAGS.difference(OFlags::NOFOLLOW),
            Mode::empty(),
        )?;
        let root_path = fd_path(fd.as_fd())?;
        Ok(Root {
            fd,
            root_path,
            cache: HashMap::new(),
            created: Vec::new(),
        })
    }

    /// The existing directory `rel` (layer-relative, cleaned), resolved inside the root.
    pub fn dir(&mut self, rel: &[u8]) -> io::Result<Rc<DirHandle>> {
        if let Some(handle) = self.cache.get(rel) {
            return Ok(Rc::clone(handle));
        }
        let path: &[u8] = if rel.is_empty() { b"." } else { rel };
        let fd = rustix::fs::openat2(
            &self.fd,
            path,
            DIR_FLAGS.difference(OFlags::NOFOLLOW),
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )?;
        let real = if rel.is_empty() {
            Vec::new()
        } else {
            self.relative(fd.as_fd())?
        };
        let handle = Rc::new(DirHandle { fd, real });
        if self.cache.len() >= CACHE_LIMIT {
            self.cache.clear();
        }
        self.cache.insert(rel.to_vec(), Rc::clone(&handle));
        Ok(handle)
    }

    /// Like [`Root::dir`], creating missing directories (mode 0755, owned by
    /// the caller) the way tar does for members whose parents are not listed.
    /// A dangling symlink on the way is followed inside the root and its
    /// target created (containerd's `RootPath` + `MkdirAll` behaviour).
    pub fn ensure_dir(&mut self, rel: &[u8]) -> io::Result<Rc<DirHandle>> {
        let mut hops = 0;
        self.ensure_dir_counting(rel, &mut hops)
    }

    fn ensure_dir_counting(&mut self, rel: &[u8], hops: &mut u32) -> io::Result<Rc<DirHandle>> {
        match self.dir(rel) {
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOENT.raw_os_error()) => {}
            other => return other,
        }
        // The root itself always exists, so `rel` is not empty here.
        let (parent, last) = name::split(rel);
        let parent = self.ensure_dir_counting(parent, hops)?;
        match rustix::fs::mkdirat(&parent.fd, last, Mode::from_raw_mode(0o755)) {
            Ok(()) => {
                self.created.push(name::join(&parent.real, last));
                let made = self.dir(rel)?;
                // Exactly 0755, whatever the process umask.
                rustix::fs::fchmod(&made.fd, Mode::from_raw_mode(0o755))?;
                return Ok(made);
            }
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        // `last` exists but `rel` does not resolve: a dangling symlink.
        let st = rustix::fs::statat(&parent.fd, last, AtFlags::SYMLINK_NOFOLLOW)?;
        if file_type(&st) != FileType::Symlink {
            return Err(rustix::io::Errno::NOTDIR.into());
        }
        *hops += 1;
        if *hops > MAX_SYMLINK_HOPS {
            return Err(rustix::io::Errno::LOOP.into());
        }
        let link = rustix::fs::readlinkat(&parent.fd, last, Vec::new())?;
        let link = link.as_bytes();
        let resolved = if link.starts_with(b"/") {
            name::clean(link)
        } else {
            name::clean(&name::join(&parent.real, link))
        }
        .map_err(|_| io::Error::from(rustix::io::Errno::NAMETOOLONG))?;
        self.ensure_dir_counting(&resolved, hops)?;
        self.dir(rel)
    }

    /// Takes the list of directories created by [`Root::ensure_dir`] so far
    /// (parents first).
    pub fn take_created(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.created)
    }

    /// Forgets every cached directory (after anything that could change where a name leads).
    pub fn invalidate(&mut self) {
        self.cache.clear();
    }

    /// The real location of an open directory, relative to the root.
    fn relative(&self, fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
        let full = fd_path(fd)?;
        // With the root at `/` itself, every path is inside it.
        let prefix: &[u8] = if self.root_path == b"/" {
            b""
        } else {
            &self.root_path
        };
        let rest = full
            .strip_prefix(prefix)
            .filter(|r| r.is_empty() || r.starts_with(b"/"))
            .ok_or_else(|| io::Error::other("directory resolved outside the layer root"))?;
        Ok(rest.strip_prefix(b"/").unwrap_or(rest).to_vec())
    }
}

/// The path the kernel has for an open fd.
fn fd_path(fd: BorrowedFd<'_>) -> io::Result<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    let link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd));
    Ok(std::fs::read_link(link)?.into_os_string().into_vec())
}

/// `/proc/self/fd/<dirfd>/<name>`: a path naming `name` inside an open
/// directory without re-resolving the directory, for the calls that have no
/// `*at` form (`lsetxattr`). The final component is not followed by `l*` calls.
pub fn proc_path(dir: BorrowedFd<'_>, name: &[u8]) -> Vec<u8> {
    let mut p = format!("/proc/self/fd/{}/", std::os::fd::AsRawFd::as_raw_fd(&dir)).into_bytes();
    p.extend_from_slice(name);
    p
}

/// `lstat` of `name` in `dir`; `None` when it does not exist.
pub fn lstat_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(rustix::io::Errno::NOENT) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The file type of a stat result.
pub fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

/// Removes `name` in `dir` and, if it is a directory, everything below it,
/// without following any symlink. A missing `name` is not an error.
pub fn remove_all_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(rustix::io::Errno::ISDIR) => {}
        Err(e) => return Err(e.into()),
    }
    let child = rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty())?;
    for entry in list_dir(child.as_fd())? {
        remove_all_at(child.as_fd(), &entry)?;
    }
    match rustix::fs::unlinkat(dir, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Opens the directory `name` in `dir` without following a symlink.
pub fn open_child_dir(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(dir, name, DIR_FLAGS, Mode::empty())?)
}

/// The names in an open directory, without `.` and `..`.
pub fn list_dir(dir: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir)? {
        let entry = entry?;
        let n = entry.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    Ok(names)
}
