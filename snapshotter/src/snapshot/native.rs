//! The copying ("native") driver, for where overlayfs cannot be mounted.
//!
//! [`merge_chain`] deep-copies a chain of unpacked layers (each in overlay
//! form: whiteouts are char devices 0:0, opaque dirs carry
//! `trusted.overlay.opaque=y`) into one plain directory, bottom layer first,
//! applying whiteouts and opaque dirs as overlayfs would show them. Files are
//! copied, never hard-linked to the layer store (a step writing to a file must
//! not change a shared layer); files hard-linked to each other inside one
//! layer stay hard-linked in the copy. Owner, mode (with setuid/setgid/
//! sticky), xattrs (minus overlay's own) and times are preserved.
//!
//! [`BaseIndex`] records, right after the copy, each entry's inode (number,
//! birth time and, for dirs, generation: ext4 reuses inode numbers at once),
//! type and change time. [`BaseIndex::changes`] walks the tree after the step and lists
//! what differs: new paths, entries whose inode, type, ctime, mtime, size,
//! mode or owner changed, directories that replaced something (opaque, as
//! overlayfs marks a dir created over a whiteout), removed paths (only the
//! top-most of a removed subtree), plus every parent dir of a change (as
//! overlayfs copies parents up). The ctime is the strong signal: nothing a
//! step can do to a file leaves it untouched.

use std::collections::{BTreeSet, HashMap};
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::layer::diff::Change;
use crate::snapshot::fsmeta;

fn ctx(op: &str, path: &Path) -> impl FnOnce(io::Error) -> io::Error {
    let msg = format!("{op} {}", path.display());
    move |e| io::Error::new(e.kind(), format!("{msg}: {e}"))
}

/// Removes whatever is at `path` (file, link or whole tree); absent is fine.
pub(crate) fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
    }
}

/// Makes an overlay upper dir fit to be a layer: removes sockets (layers
/// carry none) and overlayfs' own xattrs except the opaque marker.
pub(crate) fn strip_overlay_bookkeeping(upper: &Path) -> io::Result<()> {
    for entry in walkdir::WalkDir::new(upper)
        .follow_links(false)
        .min_depth(1)
    {
        let entry = entry.map_err(io::Error::from)?;
        let path = entry.path();
        if entry.file_type().is_socket() {
            fs::remove_file(path).map_err(ctx("remove", path))?;
            continue;
        }
        for name in fsmeta::list_xattrs(path).map_err(ctx("list xattrs of", path))? {
            if fsmeta::is_overlay_internal_xattr(&name) && name != b"trusted.overlay.opaque" {
                let name = std::ffi::OsStr::from_bytes(&name);
                rustix::fs::lremovexattr(path, name)
                    .map_err(|e| ctx("remove xattr of", path)(e.into()))?;
            }
        }
    }
    Ok(())
}

/// Copies the chain (bottom first) into `dst`, which must exist and be empty.
pub(crate) fn merge_chain(chain: &[PathBuf], dst: &Path) -> io::Result<()> {
    for layer in chain {
        merge_layer(layer, dst)?;
    }
    Ok(())
}

fn merge_layer(layer: &Path, dst: &Path) -> io::Result<()> {
    // (dev, ino) of a multiply-linked file in this layer → its copy.
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    // Directory metadata is set after their contents are written.
    let mut dirs: Vec<(PathBuf, PathBuf, fs::Metadata)> = Vec::new();
    let root_meta = fs::symlink_metadata(layer).map_err(ctx("stat", layer))?;
    dirs.push((layer.to_path_buf(), dst.to_path_buf(), root_meta));
    let walk = walkdir::WalkDir::new(layer)
        .follow_links(false)
        .min_depth(1)
        .sort_by_file_name();
    for entry in walk {
        let entry = entry.map_err(io::Error::from)?;
        let src = entry.path();
        let rel = src.strip_prefix(layer).map_err(io::Error::other)?;
        let to = dst.join(rel);
        let meta = fs::symlink_metadata(src).map_err(ctx("stat", src))?;
        let ft = meta.file_type();
        if fsmeta::is_overlay_whiteout(&meta) {
            remove_any(&to).map_err(ctx("remove", &to))?;
            continue;
        }
        if ft.is_dir() {
            let existing = fs::symlink_metadata(&to).ok();
            let opaque = fsmeta::is_overlay_opaque(src).map_err(ctx("read xattrs of", src))?;
            match existing {
                Some(m) if m.is_dir() && !opaque => {}
                Some(_) => {
                    remove_any(&to).map_err(ctx("remove", &to))?;
                    fs::create_dir(&to).map_err(ctx("create directory", &to))?;
                }
                None => fs::create_dir(&to).map_err(ctx("create directory", &to))?,
            }
            dirs.push((src.to_path_buf(), to, meta));
            continue;
        }
        remove_any(&to).map_err(ctx("remove", &to))?;
        copy_non_dir(src, &meta, &to, &mut links)?;
    }
    for (src, to, meta) in dirs.iter().rev() {
        fsmeta::copy_metadata(src, meta, to).map_err(ctx("copy metadata to", to))?;
    }
    Ok(())
}

/// Copies the non-directory `src` (metadata `meta`) to the free path `to`
/// with its metadata; a file whose inode was copied before (`links`)
/// becomes a hard link to that copy. Sockets are skipped.
fn copy_non_dir(
    src: &Path,
    meta: &fs::Metadata,
    to: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    let ft = meta.file_type();
    let key = (meta.dev(), meta.ino());
    if ft.is_file() && meta.nlink() > 1 {
        if let Some(first) = links.get(&key) {
            return fs::hard_link(first, to).map_err(ctx("hard-link", to));
        }
        links.insert(key, to.to_path_buf());
    }
    if ft.is_file() {
        fs::copy(src, to).map_err(ctx("copy to", to))?;
    } else if ft.is_symlink() {
        let target = fs::read_link(src).map_err(ctx("read link", src))?;
        std::os::unix::fs::symlink(&target, to).map_err(ctx("create symlink", to))?;
    } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
        let kind = rustix::fs::FileType::from_raw_mode(meta.mode());
        let mode = rustix::fs::Mode::from_raw_mode(meta.mode() & 0o7777);
        rustix::fs::mknodat(rustix::fs::CWD, to, kind, mode, meta.rdev())
            .map_err(|e| ctx("create node", to)(e.into()))?;
    } else {
        return Ok(()); // sockets are not copied
    }
    fsmeta::copy_metadata(src, meta, to).map_err(ctx("copy metadata to", to))
}

/// Writes the changes of the copied tree `root` into the empty dir `dst` as
/// a layer in overlay form (what applying the exported layer in overlay
/// mode gives): changed entries copied, removed paths as 0:0 char devices,
/// opaque dirs marked `trusted.overlay.opaque=y`. `excluded` says which
/// paths to leave out.
pub(crate) fn write_overlay_layer(
    root: &Path,
    changes: &[Change],
    excluded: impl Fn(&Path) -> bool,
    dst: &Path,
) -> io::Result<()> {
    let mut sorted: Vec<&Change> = changes
        .iter()
        .filter(|c| {
            let (Change::Present(p) | Change::Opaque(p) | Change::Deleted(p)) = c;
            !excluded(p)
        })
        .collect();
    // Path order compares components: parents come before their children.
    sorted.sort_by(|a, b| {
        let (Change::Present(a) | Change::Opaque(a) | Change::Deleted(a)) = a;
        let (Change::Present(b) | Change::Opaque(b) | Change::Deleted(b)) = b;
        a.cmp(b)
    });
    let mut links: HashMap<(u64, u64), PathBuf> = HashMap::new();
    let mut dirs: Vec<(PathBuf, PathBuf, fs::Metadata)> = Vec::new();
    for change in sorted {
        match change {
            Change::Present(rel) | Change::Opaque(rel) => {
                let src = root.join(rel);
                let to = dst.join(rel);
                if to.symlink_metadata().is_ok() {
                    continue; // listed twice
                }
                let meta = fs::symlink_metadata(&src).map_err(ctx("stat", &src))?;
                if meta.is_dir() {
                    fs::create_dir(&to).map_err(ctx("create directory", &to))?;
                    if matches!(change, Change::Opaque(_)) {
                        rustix::fs::lsetxattr(
                            &to,
                            "trusted.overlay.opaque",
                            b"y",
                            rustix::fs::XattrFlags::empty(),
                        )
                        .map_err(|e| ctx("mark opaque", &to)(e.into()))?;
                    }
                    dirs.push((src, to, meta));
                } else {
                    copy_non_dir(&src, &meta, &to, &mut links)?;
                }
            }
            Change::Deleted(rel) => {
                let to = dst.join(rel);
                rustix::fs::mknodat(
                    rustix::fs::CWD,
                    &to,
                    rustix::fs::FileType::CharacterDevice,
                    rustix::fs::Mode::empty(),
                    0,
                )
                .map_err(|e| ctx("create whiteout", &to)(e.into()))?;
            }
        }
    }
    for (src, to, meta) in dirs.iter().rev() {
        fsmeta::copy_metadata(src, meta, to).map_err(ctx("copy metadata to", to))?;
    }
    Ok(())
}

/// What one entry looked like right after the chain was copied.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BaseEntry {
    ino: u64,
    /// Birth time where the filesystem records it: inode numbers are
    /// reused at once (ext4), so `rm -rf d; mkdir d` can give the same one.
    born: Option<std::time::SystemTime>,
    /// Inode generation of directories (the stronger signal where it exists).
    generation: Option<u32>,
    /// `st_mode` (type and permission bits).
    mode: u32,
    uid: u32,
    gid: u32,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl BaseEntry {
    fn of(path: &Path, m: &fs::Metadata) -> Self {
        BaseEntry {
            generation: if m.is_dir() {
                fsmeta::dir_generation(path)
            } else {
                None
            },
            ino: m.ino(),
            born: m.created().ok(),
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            size: m.len(),
            mtime: (m.mtime(), m.mtime_nsec()),
            ctime: (m.ctime(), m.ctime_nsec()),
        }
    }
    fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }
    /// Whether `now` is the same inode as this entry, not a new one.
    fn same_inode(&self, now: &BaseEntry) -> bool {
        self.ino == now.ino && self.born == now.born && self.generation == now.generation
    }
}

/// The state of a copied tree before a step ran in it.
#[derive(Debug, Default)]
pub(crate) struct BaseIndex {
    entries: HashMap<PathBuf, BaseEntry>,
}

impl BaseIndex {
    /// Records every entry below `root`.
    pub(crate) fn record(root: &Path) -> io::Result<Self> {
        let mut entries = HashMap::new();
        for entry in walkdir::WalkDir::new(root).follow_links(false).min_depth(1) {
            let entry = entry.map_err(io::Error::from)?;
            let meta = entry.metadata().map_err(io::Error::from)?;
            let rel = entry.path().strip_prefix(root).map_err(io::Error::other)?;
            entries.insert(rel.to_path_buf(), BaseEntry::of(entry.path(), &meta));
        }
        Ok(BaseIndex { entries })
    }

    /// What changed below `root` since [`BaseIndex::record`].
    pub(crate) fn changes(&self, root: &Path) -> io::Result<Vec<Change>> {
        let mut present: BTreeSet<PathBuf> = BTreeSet::new();
        let mut opaque: BTreeSet<PathBuf> = BTreeSet::new();
        // Dirs that exist now and are the same dir as before (same inode).
        let mut kept_dirs: BTreeSet<PathBuf> = BTreeSet::new();
        let walk = walkdir::WalkDir::new(root).follow_links(false).min_depth(1);
        let mut opaque_prefix: Option<PathBuf> = None;
        for entry in walk {
            let entry = entry.map_err(io::Error::from)?;
            let meta = entry.metadata().map_err(io::Error::from)?;
            let rel = entry
                .path()
                .strip_prefix(root)
                .map_err(io::Error::other)?
                .to_path_buf();
            if let Some(p) = &opaque_prefix {
                if rel.starts_with(p) {
                    present.insert(rel);
                    continue;
                }
                opaque_prefix = None;
            }
            let now = BaseEntry::of(entry.path(), &meta);
            match self.entries.get(&rel) {
                None => {
                    present.insert(rel);
                }
                Some(base) if meta.is_dir() && (!base.is_dir() || !base.same_inode(&now)) => {
                    // A dir that replaced something: overlayfs makes it opaque.
                    opaque.insert(rel.clone());
                    opaque_prefix = Some(rel);
                }
                Some(base) => {
                    if meta.is_dir() {
                        kept_dirs.insert(rel.clone());
                    }
                    if *base != now {
                        present.insert(rel);
                    }
                }
            }
        }
        let mut deleted: Vec<PathBuf> = Vec::new();
        for rel in self.entries.keys() {
            let gone = match fs::symlink_metadata(root.join(rel)) {
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    true
                }
                Err(e) => return Err(ctx("stat", &root.join(rel))(e)),
                Ok(_) => false,
            };
            let parent_kept = match rel.parent() {
                Some(p) if !p.as_os_str().is_empty() => kept_dirs.contains(p),
                _ => true,
            };
            if gone && parent_kept {
                deleted.push(rel.clone());
            }
        }
        // Parents of every change are part of the diff.
        let mut parents: BTreeSet<PathBuf> = BTreeSet::new();
        for p in present.iter().chain(opaque.iter()).chain(deleted.iter()) {
            let mut cur = p.parent();
            while let Some(dir) = cur {
                if dir.as_os_str().is_empty() || !parents.insert(dir.to_path_buf()) {
                    break;
                }
                cur = dir.parent();
            }
        }
        let mut out: Vec<Change> = Vec::new();
        for p in parents.into_iter().chain(present) {
            if !opaque.contains(&p) {
                out.push(Change::Present(p));
            }
        }
        out.extend(opaque.into_iter().map(Change::Opaque));
        out.extend(deleted.into_iter().map(Change::Deleted));
        Ok(out)
    }
}
