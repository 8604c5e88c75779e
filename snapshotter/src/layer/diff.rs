//! Diff → deterministic tar stream.
//!
//! A step's changes come either as an overlayfs upper directory
//! ([`DiffSource::OverlayUpper`]) or, from the copying driver, as a tree plus
//! the list of what changed in it ([`DiffSource::Changes`]). Both become the
//! same tar bytes for the same changes:
//!
//! - entries in depth-first order, each directory's children sorted by name
//!   bytes (so a parent always precedes its children, as in BuildKit/Docker
//!   layers); no entry for the root itself;
//! - overlay whiteouts (char device 0:0) become OCI whiteouts `.wh.NAME`;
//!   an opaque directory (`trusted.overlay.opaque=y`) is emitted followed at
//!   once by `DIR/.wh..wh..opq`; whiteout markers are empty regular files,
//!   mode 0, owner 0:0, with the mtime of the directory holding them;
//! - numeric uid/gid only (uname/gname empty); mode with setuid, setgid and
//!   sticky bits; mtimes in whole seconds, clamped to `SOURCE_DATE_EPOCH`
//!   when given; no atime/ctime;
//! - regular files with several names inside the diff: the first name in
//!   stream order carries the data, later ones are hardlink entries;
//! - symlinks, fifos, char and block devices; sockets are left out (as
//!   Docker does);
//! - xattrs as PAX `SCHILY.xattr.NAME` records, except overlayfs' own;
//!   names and link targets longer than 100 bytes or not ASCII go in PAX
//!   `path`/`linkpath` records, as do ids and sizes too large for USTAR.
//!
//! Headers are written here with `tar::Header` as the field encoder; nothing
//! from `tar::Builder` is used, because its defaults follow symlinks, emit
//! sparse entries that depend on the on-disk hole layout, and copy owner
//! names and atimes into the stream.

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};
use std::fs::{File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::snapshot::fsmeta;

/// Options for turning a diff into a tar stream.
#[derive(Debug, Clone, Default)]
pub struct DiffOptions {
    /// Clamp every mtime to at most this many seconds since the epoch
    /// (`SOURCE_DATE_EPOCH`).
    pub source_date_epoch: Option<i64>,
    /// Paths (relative to the root, `/`-separated; a leading `/` is ignored)
    /// left out of the layer together with everything below them, such as a
    /// sandbox's mount-point stubs.
    pub exclude: Vec<String>,
}

/// Where a step's changes are read from.
#[derive(Debug, Clone)]
pub enum DiffSource {
    /// An overlayfs upper directory (read after the step's processes ended).
    OverlayUpper(PathBuf),
    /// A tree and the list of paths in it that changed (the copying driver).
    Changes { root: PathBuf, changes: Vec<Change> },
}

/// One change in a [`DiffSource::Changes`] list; paths are relative to the
/// tree's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// The entry at this path is new or changed; it is taken from the tree.
    /// Parent directories of changes must be listed too.
    Present(PathBuf),
    /// A directory that replaces whatever was below: emitted with an opaque
    /// marker; everything under it in the tree must be listed too.
    Opaque(PathBuf),
    /// The path was removed.
    Deleted(PathBuf),
}

/// Errors of the differ; each names the path it concerns.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the layer tar stream: {0}")]
    Write(#[source] io::Error),
    #[error("{path} changed size while it was archived (expected {expected} bytes)")]
    FileChanged { path: PathBuf, expected: u64 },
    #[error("change path {0} is not relative to the tree")]
    BadChangePath(PathBuf),
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> DiffError + 'a {
    move |source| DiffError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// One entry of the planned stream.
#[derive(Debug)]
enum Item {
    /// An entry taken from the tree; `opaque` adds the opaque marker after it.
    Entry { rel: Vec<u8>, opaque: bool },
    /// A whiteout for the removed path `rel`.
    Whiteout { rel: Vec<u8> },
}

impl Item {
    fn rel(&self) -> &[u8] {
        match self {
            Item::Entry { rel, .. } | Item::Whiteout { rel } => rel,
        }
    }
}

/// Depth-first order: compare component by component, by bytes.
fn path_order(a: &[u8], b: &[u8]) -> Ordering {
    a.split(|c| *c == b'/').cmp(b.split(|c| *c == b'/'))
}

fn normalise_excludes(exclude: &[String]) -> BTreeSet<Vec<u8>> {
    exclude
        .iter()
        .map(|e| e.trim_matches('/').as_bytes().to_vec())
        .filter(|e| !e.is_empty())
        .collect()
}

/// Whether the relative path `rel` is left out by the `exclude` list of
/// [`DiffOptions`] (the path itself or anything below it).
pub fn is_excluded(exclude: &[String], rel: &Path) -> bool {
    is_excluded_bytes(&normalise_excludes(exclude), rel.as_os_str().as_bytes())
}

fn is_excluded_bytes(excludes: &BTreeSet<Vec<u8>>, rel: &[u8]) -> bool {
    excludes
        .iter()
        .any(|e| rel == e.as_slice() || (rel.starts_with(e) && rel.get(e.len()) == Some(&b'/')))
}

/// The planned entries of `source`, in stream order, and the tree root.
fn plan(
    source: &DiffSource,
    excludes: &BTreeSet<Vec<u8>>,
) -> Result<(PathBuf, Vec<Item>), DiffError> {
    let mut items = Vec::new();
    let root = match source {
        DiffSource::OverlayUpper(upper) => {
            let mut walk = walkdir::WalkDir::new(upper)
                .follow_links(false)
                .min_depth(1)
                .into_iter();
            while let Some(entry) = walk.next() {
                let entry = entry.map_err(|e| {
                    let path = e.path().unwrap_or(upper).to_path_buf();
                    DiffError::Io {
                        op: "walk",
                        path,
                        source: e.into(),
                    }
                })?;
                let rel = entry
                    .path()
                    .strip_prefix(upper)
                    .map_err(|_| DiffError::BadChangePath(entry.path().to_path_buf()))?
                    .as_os_str()
                    .as_bytes()
                    .to_vec();
                if is_excluded_bytes(excludes, &rel) {
                    if entry.file_type().is_dir() {
                        walk.skip_current_dir();
                    }
                    continue;
                }
                let meta = entry.metadata().map_err(|e| DiffError::Io {
                    op: "stat",
                    path: entry.path().to_path_buf(),
                    source: e.into(),
                })?;
                if fsmeta::is_overlay_whiteout(&meta) {
                    items.push(Item::Whiteout { rel });
                } else if meta.is_dir() {
                    let opaque = fsmeta::is_overlay_opaque(entry.path())
                        .map_err(io_err("read xattrs of", entry.path()))?;
                    items.push(Item::Entry { rel, opaque });
                } else {
                    items.push(Item::Entry { rel, opaque: false });
                }
            }
            upper.clone()
        }
        DiffSource::Changes { root, changes } => {
            for change in changes {
                let (path, item): (&Path, fn(Vec<u8>) -> Item) = match change {
                    Change::Present(p) => (p, |rel| Item::Entry { rel, opaque: false }),
                    Change::Opaque(p) => (p, |rel| Item::Entry { rel, opaque: true }),
                    Change::Deleted(p) => (p, |rel| Item::Whiteout { rel }),
                };
                let normal = |c| matches!(c, std::path::Component::Normal(_));
                if path.as_os_str().is_empty() || !path.components().all(normal) {
                    return Err(DiffError::BadChangePath(path.to_path_buf()));
                }
                let rel = path.as_os_str().as_bytes().to_vec();
                if !is_excluded_bytes(excludes, &rel) {
                    items.push(item(rel));
                }
            }
            root.clone()
        }
    };
    // For one path listed twice, keep the opaque form.
    let rank = |i: &Item| !matches!(i, Item::Entry { opaque: true, .. });
    items.sort_by(|a, b| path_order(a.rel(), b.rel()).then(rank(a).cmp(&rank(b))));
    items.dedup_by(|a, b| a.rel() == b.rel());
    Ok((root, items))
}

/// Writes the tar stream of `source` to `out` and returns `out`.
pub fn write_tar<W: Write>(
    source: &DiffSource,
    opts: &DiffOptions,
    out: W,
) -> Result<W, DiffError> {
    let excludes = normalise_excludes(&opts.exclude);
    let (root, items) = plan(source, &excludes)?;
    let mut w = TarWriter {
        out,
        epoch: opts.source_date_epoch,
        links: HashMap::new(),
    };
    for item in &items {
        match item {
            Item::Entry { rel, opaque } => {
                let path = root.join(std::ffi::OsStr::from_bytes(rel));
                let is_dir = w.entry(&path, rel)?;
                if *opaque && is_dir {
                    let mut marker = rel.clone();
                    marker.extend_from_slice(b"/.wh..wh..opq");
                    w.marker(&path, &marker)?;
                }
            }
            Item::Whiteout { rel } => {
                let (parent, name) = match rel.iter().rposition(|c| *c == b'/') {
                    Some(i) => (&rel[..i], &rel[i + 1..]),
                    None => (&rel[..0], &rel[..]),
                };
                let parent_path = root.join(std::ffi::OsStr::from_bytes(parent));
                let mut marker = parent.to_vec();
                if !marker.is_empty() {
                    marker.push(b'/');
                }
                marker.extend_from_slice(b".wh.");
                marker.extend_from_slice(name);
                w.marker(&parent_path, &marker)?;
            }
        }
    }
    w.out.write_all(&[0u8; 1024]).map_err(DiffError::Write)?;
    Ok(w.out)
}

const USTAR_MAX_ID: u64 = 0o7777777;
const USTAR_MAX_SIZE: u64 = 0o77777777777;

struct TarWriter<W> {
    out: W,
    epoch: Option<i64>,
    /// (dev, ino) of multiply-linked regular files already written → name.
    links: HashMap<(u64, u64), Vec<u8>>,
}

impl<W: Write> TarWriter<W> {
    fn mtime(&self, meta: &Metadata) -> i64 {
        let t = meta.mtime();
        match self.epoch {
            Some(e) if t > e => e,
            _ => t,
        }
    }

    /// A whiteout or opaque marker named `name`; its mtime is that of `dir`.
    fn marker(&mut self, dir: &Path, name: &[u8]) -> Result<(), DiffError> {
        let meta = std::fs::symlink_metadata(dir).map_err(io_err("stat", dir))?;
        let fields = Fields {
            name: name.to_vec(),
            kind: tar::EntryType::Regular,
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            mtime: self.mtime(&meta),
            link: None,
            dev: None,
            xattrs: Vec::new(),
        };
        self.header(&fields)
    }

    /// Writes the entry for `path`; returns whether it is a directory.
    fn entry(&mut self, path: &Path, rel: &[u8]) -> Result<bool, DiffError> {
        let meta = std::fs::symlink_metadata(path).map_err(io_err("stat", path))?;
        let ft = meta.file_type();
        let mut name = rel.to_vec();
        let mut size = 0;
        let mut link = None;
        let mut dev = None;
        let kind = if ft.is_dir() {
            name.push(b'/');
            tar::EntryType::Directory
        } else if ft.is_file() {
            let key = (meta.dev(), meta.ino());
            match self.links.get(&key) {
                Some(first) if meta.nlink() > 1 => {
                    link = Some(first.clone());
                    tar::EntryType::Link
                }
                _ => {
                    if meta.nlink() > 1 {
                        self.links.insert(key, rel.to_vec());
                    }
                    size = meta.len();
                    tar::EntryType::Regular
                }
            }
        } else if ft.is_symlink() {
            let target = std::fs::read_link(path).map_err(io_err("read link", path))?;
            link = Some(target.as_os_str().as_bytes().to_vec());
            tar::EntryType::Symlink
        } else if ft.is_fifo() {
            tar::EntryType::Fifo
        } else if ft.is_char_device() || ft.is_block_device() {
            let rdev = meta.rdev();
            dev = Some((rustix::fs::major(rdev), rustix::fs::minor(rdev)));
            if ft.is_char_device() {
                tar::EntryType::Char
            } else {
                tar::EntryType::Block
            }
        } else {
            return Ok(false); // sockets do not go into layers
        };
        let xattrs = fsmeta::layer_xattrs(path).map_err(io_err("read xattrs of", path))?;
        let fields = Fields {
            name,
            kind,
            mode: meta.mode() & 0o7777,
            uid: meta.uid().into(),
            gid: meta.gid().into(),
            size,
            mtime: self.mtime(&meta),
            link,
            dev,
            xattrs,
        };
        self.header(&fields)?;
        if size > 0 {
            let file = File::open(path).map_err(io_err("open", path))?;
            let copied =
                io::copy(&mut file.take(size), &mut self.out).map_err(io_err("archive", path))?;
            if copied != size {
                return Err(DiffError::FileChanged {
                    path: path.to_path_buf(),
                    expected: size,
                });
            }
            self.pad(size)?;
        }
        Ok(ft.is_dir())
    }

    fn pad(&mut self, size: u64) -> Result<(), DiffError> {
        let rem = (size % 512) as usize;
        if rem != 0 {
            self.out
                .write_all(&[0u8; 512][..512 - rem])
                .map_err(DiffError::Write)?;
        }
        Ok(())
    }

    /// Writes the PAX extension header when needed, then the USTAR header.
    fn header(&mut self, f: &Fields) -> Result<(), DiffError> {
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let needs_pax = |s: &[u8]| s.len() > 100 || !s.is_ascii();
        if needs_pax(&f.name) {
            pax.push((b"path".to_vec(), f.name.clone()));
        }
        if let Some(link) = &f.link
            && needs_pax(link)
        {
            pax.push((b"linkpath".to_vec(), link.clone()));
        }
        if f.uid > USTAR_MAX_ID {
            pax.push((b"uid".to_vec(), f.uid.to_string().into_bytes()));
        }
        if f.gid > USTAR_MAX_ID {
            pax.push((b"gid".to_vec(), f.gid.to_string().into_bytes()));
        }
        if f.size > USTAR_MAX_SIZE {
            pax.push((b"size".to_vec(), f.size.to_string().into_bytes()));
        }
        if f.mtime < 0 || f.mtime as u64 > USTAR_MAX_SIZE {
            pax.push((b"mtime".to_vec(), f.mtime.to_string().into_bytes()));
        }
        for (name, value) in &f.xattrs {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(name);
            pax.push((key, value.clone()));
        }
        if !pax.is_empty() {
            pax.sort();
            let records = pax_records(&pax);
            let base = f.name.strip_suffix(b"/").unwrap_or(&f.name);
            let base = base.rsplit(|c| *c == b'/').next().unwrap_or(base);
            let mut pname = b"PaxHeaders.0/".to_vec();
            pname.extend_from_slice(base);
            let mut h = tar::Header::new_ustar();
            put_bytes(&mut h.as_old_mut().name, &pname);
            h.set_entry_type(tar::EntryType::XHeader);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(f.mtime.clamp(0, USTAR_MAX_SIZE as i64) as u64);
            h.set_size(records.len() as u64);
            h.set_cksum();
            self.out.write_all(h.as_bytes()).map_err(DiffError::Write)?;
            self.out.write_all(&records).map_err(DiffError::Write)?;
            self.pad(records.len() as u64)?;
        }
        let mut h = tar::Header::new_ustar();
        put_bytes(&mut h.as_old_mut().name, &f.name);
        if let Some(link) = &f.link {
            put_bytes(&mut h.as_old_mut().linkname, link);
        }
        h.set_entry_type(f.kind);
        h.set_mode(f.mode);
        h.set_uid(f.uid.min(USTAR_MAX_ID));
        h.set_gid(f.gid.min(USTAR_MAX_ID));
        h.set_size(f.size.min(USTAR_MAX_SIZE));
        h.set_mtime(f.mtime.clamp(0, USTAR_MAX_SIZE as i64) as u64);
        if let Some((major, minor)) = f.dev {
            h.set_device_major(major).map_err(DiffError::Write)?;
            h.set_device_minor(minor).map_err(DiffError::Write)?;
        }
        h.set_cksum();
        self.out.write_all(h.as_bytes()).map_err(DiffError::Write)
    }
}

struct Fields {
    name: Vec<u8>,
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: i64,
    link: Option<Vec<u8>>,
    dev: Option<(u32, u32)>,
    xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Copies `value` into a fixed header field, truncating (the full value is
/// then in a PAX record).
fn put_bytes(field: &mut [u8], value: &[u8]) {
    let n = value.len().min(field.len());
    field[..n].copy_from_slice(&value[..n]);
    field[n..].fill(0);
}

/// PAX records `"<len> <key>=<value>\n"`, where `<len>` counts the whole
/// record including its own digits.
fn pax_records(records: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let rest = key.len() + value.len() + 3; // ' ', '=', '\n'
        let mut len = rest + 1;
        while len != rest + len.to_string().len() {
            len = rest + len.to_string().len();
        }
        out.extend_from_slice(len.to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(key);
        out.push(b'=');
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_order_puts_children_right_after_their_parent() {
        let mut v: Vec<&[u8]> = vec![b"a.txt", b"a/b", b"a", b"a/b/c", b"-x", b"b"];
        v.sort_by(|a, b| path_order(a, b));
        assert_eq!(v, vec![&b"-x"[..], b"a", b"a/b", b"a/b/c", b"a.txt", b"b"]);
    }

    #[test]
    fn pax_record_length_counts_its_own_digits() {
        let r = pax_records(&[(b"path".to_vec(), vec![b'x'; 93])]);
        // 93 + 4 + 3 = 100 bytes besides the length; its 3 digits make 103.
        assert!(r.starts_with(b"103 path="), "{:?}", &r[..10]);
        assert_eq!(r.len(), 103);
        let r = pax_records(&[(b"a".to_vec(), b"b".to_vec())]);
        assert_eq!(r, b"6 a=b\n");
    }

    #[test]
    fn excludes_cover_the_path_and_below_but_not_siblings_with_the_same_prefix() {
        let ex = normalise_excludes(&["/proc".to_string(), "dev/".to_string()]);
        assert!(is_excluded_bytes(&ex, b"proc"));
        assert!(is_excluded_bytes(&ex, b"proc/1"));
        assert!(is_excluded_bytes(&ex, b"dev"));
        assert!(!is_excluded_bytes(&ex, b"procs"));
        assert!(!is_excluded_bytes(&ex, b"etc"));
    }
}
