//! Directory-tree listings for tests (the logic of the snapshotter's
//! `tests/common/tree.rs`; one crate's tests cannot import another's): everything a layer can carry about each
//! entry below a root (type, mode, owner, content digest, link target, device
//! number, mtime, xattrs, hardlink grouping), in a sorted, comparable form.
//!
//! Use [`tree_listing`] to snapshot a tree and [`assert_trees_equal`] to
//! compare two trees with a readable diff. The root directory itself is not
//! part of a listing (its metadata belongs to whoever created it).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use hoist_snapshotter::digest::Digest;

/// The kind of a tree entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    File,
    Dir,
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// One entry of a tree, as [`tree_listing`] sees it.
#[derive(Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// Path relative to the root, `/`-separated, lossily shown if not UTF-8.
    pub path: String,
    pub kind: Kind,
    /// Permission bits with setuid/setgid/sticky (`0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// `sha256:` of the content, for regular files.
    pub content: Option<Digest>,
    /// The symlink target, verbatim.
    pub link_target: Option<PathBuf>,
    /// Device number, for character and block devices.
    pub rdev: Option<u64>,
    /// Modification time (seconds, nanoseconds).
    pub mtime: (i64, i64),
    /// Extended attributes, by name.
    pub xattrs: BTreeMap<String, Vec<u8>>,
    /// For an inode with several names in the tree: the first of them (in
    /// listing order). Equal groups mean the same hardlink structure.
    pub hardlink_of: Option<String>,
}

impl fmt::Debug for EntryInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {:?} {:o} {}:{} mtime={}.{:09}",
            self.path, self.kind, self.mode, self.uid, self.gid, self.mtime.0, self.mtime.1
        )?;
        if let Some(c) = &self.content {
            write!(f, " {}", c.short())?;
        }
        if let Some(t) = &self.link_target {
            write!(f, " -> {}", t.display())?;
        }
        if let Some(r) = self.rdev {
            write!(f, " rdev={r:#x}")?;
        }
        if let Some(h) = &self.hardlink_of {
            write!(f, " hardlink-of={h}")?;
        }
        for (k, v) in &self.xattrs {
            write!(f, " {k}={}", String::from_utf8_lossy(v))?;
        }
        Ok(())
    }
}

/// Lists every entry below `root` (not `root` itself), sorted by path,
/// without following symlinks.
pub fn tree_listing(root: &Path) -> Vec<EntryInfo> {
    let mut out = Vec::new();
    walk(root, Path::new(""), &mut out);
    out.sort_by(|a, b| a.path.cmp(&b.path));
    let mut first_name: HashMap<(u64, u64), String> = HashMap::new();
    for e in &mut out {
        let md = fs::symlink_metadata(root.join(&e.path)).unwrap();
        if md.nlink() > 1 && e.kind != Kind::Dir {
            let first = first_name
                .entry((md.dev(), md.ino()))
                .or_insert_with(|| e.path.clone());
            if *first != e.path {
                e.hardlink_of = Some(first.clone());
            }
        }
    }
    out
}

fn walk(root: &Path, rel: &Path, out: &mut Vec<EntryInfo>) {
    let dir = root.join(rel);
    let mut names: Vec<_> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read_dir {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for name in names {
        let rel = rel.join(&name);
        let full = root.join(&rel);
        let md = fs::symlink_metadata(&full).unwrap();
        let ft = md.file_type();
        let kind = if ft.is_file() {
            Kind::File
        } else if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_char_device() {
            Kind::CharDevice
        } else if ft.is_block_device() {
            Kind::BlockDevice
        } else if ft.is_fifo() {
            Kind::Fifo
        } else {
            Kind::Socket
        };
        out.push(EntryInfo {
            path: rel.to_string_lossy().into_owned(),
            kind,
            mode: md.mode() & 0o7777,
            uid: md.uid(),
            gid: md.gid(),
            content: (kind == Kind::File).then(|| Digest::of(&fs::read(&full).unwrap())),
            link_target: (kind == Kind::Symlink).then(|| fs::read_link(&full).unwrap()),
            rdev: matches!(kind, Kind::CharDevice | Kind::BlockDevice).then(|| md.rdev()),
            mtime: (md.mtime(), md.mtime_nsec()),
            xattrs: xattrs(&full),
            hardlink_of: None,
        });
        if kind == Kind::Dir {
            walk(root, &rel, out);
        }
    }
}

/// The xattrs of `path` (not following a symlink).
pub fn xattrs(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut names = vec![0u8; 64 * 1024];
    let n = rustix::fs::llistxattr(path, &mut names[..]).unwrap_or(0);
    let mut out = BTreeMap::new();
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut value = vec![0u8; 64 * 1024];
        let len = rustix::fs::lgetxattr(path, name, &mut value[..])
            .unwrap_or_else(|e| panic!("lgetxattr {}: {e}", path.display()));
        value.truncate(len);
        out.insert(String::from_utf8_lossy(name).into_owned(), value);
    }
    out
}

/// Asserts the trees under `a` and `b` list equally, showing the entries
/// that differ.
pub fn assert_trees_equal(a: &Path, b: &Path) {
    assert_listings_equal(
        &tree_listing(a),
        &tree_listing(b),
        &format!("{} vs {}", a.display(), b.display()),
    );
}

/// Asserts two listings are equal, showing the entries that differ.
pub fn assert_listings_equal(a: &[EntryInfo], b: &[EntryInfo], what: &str) {
    if a == b {
        return;
    }
    let left: BTreeMap<&str, &EntryInfo> = a.iter().map(|e| (e.path.as_str(), e)).collect();
    let right: BTreeMap<&str, &EntryInfo> = b.iter().map(|e| (e.path.as_str(), e)).collect();
    let mut diff = String::new();
    for (path, l) in &left {
        match right.get(path) {
            None => diff.push_str(&format!("  only left:  {l:?}\n")),
            Some(r) if r != l => diff.push_str(&format!("  left:  {l:?}\n  right: {r:?}\n")),
            Some(_) => {}
        }
    }
    for (path, r) in &right {
        if !left.contains_key(path) {
            diff.push_str(&format!("  only right: {r:?}\n"));
        }
    }
    panic!("trees differ ({what}):\n{diff}");
}

/// `path` as bytes, for building raw names.
pub fn path_bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}
