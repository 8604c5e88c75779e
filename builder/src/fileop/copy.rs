//! COPY and ADD of local sources with Docker's (BuildKit's) semantics:
//!
//! - The destination directory is created first: the destination itself
//!   when it ends in `/`, else its parent (mode 0755, with `--chown`).
//! - Each source (after wildcard expansion; a wildcard matching nothing
//!   copies nothing, as in current BuildKit) is resolved following
//!   symlinks. A directory copies its contents; a file copied onto an
//!   existing directory lands inside it under its own name.
//! - Inside directories, symlinks are copied as symlinks, hard links as
//!   hard links, devices and fifos as such.
//! - Files from the build context become owned by 0:0; files from a stage
//!   or image keep their owner; `--chown` overrides both. `--chmod` applies
//!   to every copied entry. Modification times are kept (or set to the
//!   given epoch). Extended attributes are copied where the filesystem
//!   allows.
//! - A context source that leaves the context (`../x`, or a symlink
//!   pointing outside it) is an error naming the path; a stage or image
//!   source is resolved inside its root, as the container would see it.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use hoist_frontend::instructions::Chmod;

use super::parallel::{EntryMeta, FileJob, Pending, apply_meta};
use super::wildcard;
use super::{FileOpError, Owner, io_err, set_owner_mode_times};
use crate::exec::rootpath::resolve_in_root;

/// Where the sources of a copy come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    /// The build context: confined strictly, owners reset to 0:0.
    Context,
    /// A stage's or image's filesystem: resolved inside its root, owners kept.
    Filesystem,
}

/// See [`CopySpec::reinclude_below`].
pub type ReincludeBelow<'a> = dyn Fn(&str, &str) -> bool + 'a;

/// One COPY/ADD from one source root.
pub struct CopySpec<'a> {
    pub kind: SourceKind,
    /// Source paths or patterns, relative to the source root.
    pub sources: &'a [String],
    /// Absolute destination; a trailing `/` means a directory.
    pub dest: &'a str,
    pub owner: Option<Owner>,
    pub chmod: Option<&'a Chmod>,
    /// True for an entry to skip: called with its path relative to the
    /// source root (for `.dockerignore`), its path relative to the source
    /// being copied (for `--exclude`), and whether it is a directory.
    pub exclude: &'a dyn Fn(&str, &str, bool) -> bool,
    /// For a directory `exclude` skips (same two paths): whether an exception
    /// (`!rule`) may keep something below it. Then the copy descends anyway
    /// and keeps the directory only if something inside it is copied, as
    /// BuildKit sends the parents of re-included files. `None`: never.
    pub reinclude_below: Option<&'a ReincludeBelow<'a>>,
    /// `--parents`: keep each source's path (below a `/./` pivot) under dest.
    pub parents: bool,
    /// ADD: extract local tar archives instead of copying them.
    pub unpack: bool,
    /// Set every mtime to this (SOURCE_DATE_EPOCH), else keep the source's.
    pub mtime: Option<i64>,
}

/// What a copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopyStats {
    pub files: u64,
    pub dirs: u64,
    pub bytes: u64,
}

/// Copies `spec.sources` from `src_root` into `dest_root`.
pub fn copy(src_root: &Path, dest_root: &Path, spec: &CopySpec) -> Result<CopyStats, FileOpError> {
    let dest_dir_only = spec.dest.ends_with('/') || spec.dest.ends_with("/.");
    let clean_dest = clean_abs(spec.dest);
    let ensure = if dest_dir_only {
        clean_dest.clone()
    } else {
        parent_of(&clean_dest)
    };
    let mut ctx = Copier {
        spec,
        stats: CopyStats::default(),
        links: HashMap::new(),
        source_rel: String::new(),
        pending: Pending::default(),
    };
    ctx.mkdir_all(dest_root, &ensure)?;
    let dest_host = dest_root.join(resolve_in_root(dest_root, &clean_dest)?);

    for source in spec.sources {
        let (pivot, source) = match source.split_once("/./") {
            Some((p, s)) if spec.parents => (p.trim_start_matches('/'), s),
            _ => ("", source.as_str()),
        };
        let pattern = clean_rel(&join_rel(pivot, source), source, spec.kind)?;
        let matches = ctx.expand(src_root, &pattern)?;
        for rel in matches {
            let src_host = ctx.resolve_source(src_root, &rel)?;
            let mut dest = dest_host.clone();
            if spec.parents {
                let below = rel
                    .strip_prefix(pivot)
                    .unwrap_or(&rel)
                    .trim_start_matches('/');
                if let Some(parent) = Path::new(below)
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                {
                    let container =
                        format!("{}/{}", clean_dest.trim_end_matches('/'), parent.display());
                    ctx.mkdir_all(dest_root, &container)?;
                    dest = dest_root.join(resolve_in_root(dest_root, &container)?);
                }
            }
            ctx.source_rel = rel.clone();
            ctx.copy_one(&src_host, &rel, &dest)?;
            // Written before the next source, which may overwrite them.
            ctx.pending.flush()?;
        }
    }
    Ok(ctx.stats)
}

struct Copier<'a> {
    spec: &'a CopySpec<'a>,
    stats: CopyStats,
    /// (dev, inode) of multiply-linked source files → their first copy.
    links: HashMap<(u64, u64), PathBuf>,
    /// The source being copied, relative to the source root.
    source_rel: String,
    /// Files and directory metadata queued for [`Pending::flush`].
    pending: Pending,
}

impl Copier<'_> {
    /// The sources a pattern names (itself when it has no wildcard).
    fn expand(&self, root: &Path, pattern: &str) -> Result<Vec<String>, FileOpError> {
        if !wildcard::contains_wildcards(pattern) {
            return Ok(vec![pattern.to_string()]);
        }
        let (fixed, wild) = wildcard::split_at_wildcard(pattern);
        let base_rel = self.resolve_rel(root, &fixed)?;
        let found = wildcard::resolve(&root.join(&base_rel), &wild)?;
        Ok(found.into_iter().map(|m| join_rel(&fixed, &m)).collect())
    }

    /// A source path resolved to a host path, following symlinks.
    fn resolve_source(&self, root: &Path, rel: &str) -> Result<PathBuf, FileOpError> {
        let host = root.join(self.resolve_rel(root, rel)?);
        match fs::symlink_metadata(&host) {
            Ok(_) => Ok(host),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(FileOpError::SourceNotFound {
                path: rel.to_string(),
            }),
            Err(e) => Err(io_err("stat", &host)(e)),
        }
    }

    fn resolve_rel(&self, root: &Path, rel: &str) -> Result<PathBuf, FileOpError> {
        match self.spec.kind {
            SourceKind::Filesystem => Ok(resolve_in_root(root, rel)?),
            SourceKind::Context => resolve_strict(root, rel),
        }
    }

    /// Copies one resolved source onto `dest` (fsutil's prepareTargetDir).
    fn copy_one(&mut self, src: &Path, rel: &str, dest: &Path) -> Result<(), FileOpError> {
        let meta = fs::symlink_metadata(src).map_err(io_err("stat", src))?;
        if self.spec.unpack && meta.is_file() && super::unpack::is_archive(src)? {
            self.mkdir_host(dest)?;
            let n = super::unpack::extract(src, dest)?;
            self.stats.files += n;
            return Ok(());
        }
        let dest_meta = fs::symlink_metadata(dest).ok();
        let mut target = dest.to_path_buf();
        if !meta.is_dir() && dest_meta.as_ref().is_some_and(|m| m.is_dir()) {
            let name = Path::new(rel).file_name().unwrap_or(src.as_os_str());
            target = dest.join(name);
        }
        if meta.is_dir() && dest_meta.is_none() {
            self.mkdir_host(&target)?;
        } else if let Some(parent) = target.parent() {
            self.mkdir_host(parent)?;
        }
        self.copy_tree(src, "", &target, false)
    }

    fn copy_tree(
        &mut self,
        src: &Path,
        rel: &str,
        target: &Path,
        nested: bool,
    ) -> Result<(), FileOpError> {
        let meta = fs::symlink_metadata(src).map_err(io_err("stat", src))?;
        // An excluded directory an exception may reach: kept only if not empty.
        let mut tentative = false;
        if !rel.is_empty() {
            let root_rel = join_rel(&self.source_rel, rel);
            if (self.spec.exclude)(&root_rel, rel, meta.is_dir()) {
                let reachable = meta.is_dir()
                    && self
                        .spec
                        .reinclude_below
                        .is_some_and(|may| may(&root_rel, rel));
                if !reachable {
                    return Ok(());
                }
                tentative = true;
            }
        }
        let ft = meta.file_type();
        let mut write_meta = true;
        if ft.is_dir() {
            let created = match fs::symlink_metadata(target) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    fs::DirBuilder::new()
                        .mode(meta.mode() & 0o7777)
                        .create(target)
                        .map_err(io_err("create directory", target))?;
                    self.stats.dirs += 1;
                    true
                }
                Ok(m) if m.is_dir() => false,
                Ok(_) => {
                    return Err(FileOpError::NotADirectory {
                        path: target.to_path_buf(),
                    });
                }
                Err(e) => return Err(io_err("stat", target)(e)),
            };
            let mut names: Vec<_> = fs::read_dir(src)
                .map_err(io_err("read directory", src))?
                .map(|e| e.map(|e| e.file_name()))
                .collect::<Result<_, _>>()
                .map_err(io_err("read directory", src))?;
            names.sort();
            let entries_before = self.stats.files + self.stats.dirs;
            for name in names {
                let child_rel = if rel.is_empty() {
                    name.to_string_lossy().into_owned()
                } else {
                    format!("{rel}/{}", name.to_string_lossy())
                };
                self.copy_tree(&src.join(&name), &child_rel, &target.join(&name), true)?;
            }
            if tentative && created {
                // Nothing copied into it (files may still be queued, so
                // the counters tell, not the directory).
                let empty = self.stats.files + self.stats.dirs == entries_before;
                if empty {
                    fs::remove_dir(target).map_err(io_err("remove", target))?;
                    self.stats.dirs -= 1;
                    return Ok(());
                }
            }
            write_meta = created || nested;
        } else {
            match fs::symlink_metadata(target) {
                Ok(m) if m.is_dir() => {
                    return Err(FileOpError::ReplaceDirWithFile {
                        path: target.to_path_buf(),
                    });
                }
                Ok(_) => fs::remove_file(target).map_err(io_err("remove", target))?,
                Err(_) => {}
            }
            if ft.is_file() {
                let key = (meta.dev(), meta.ino());
                if let Some(first) = self.links.get(&key).filter(|_| meta.nlink() > 1) {
                    fs::hard_link(first, target).map_err(io_err("hard link", target))?;
                    return Ok(());
                }
                self.stats.bytes += meta.len();
                if meta.nlink() > 1 {
                    fs::copy(src, target).map_err(io_err("copy to", target))?;
                    self.links.insert(key, target.to_path_buf());
                } else {
                    self.stats.files += 1;
                    self.pending.files.push(FileJob {
                        src: src.to_path_buf(),
                        target: target.to_path_buf(),
                        meta: self.entry_meta(&meta),
                    });
                    return Ok(());
                }
            } else if ft.is_symlink() {
                let link = fs::read_link(src).map_err(io_err("readlink", src))?;
                std::os::unix::fs::symlink(&link, target).map_err(io_err("symlink", target))?;
            } else if ft.is_fifo() || ft.is_char_device() || ft.is_block_device() {
                let kind = nix::sys::stat::SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT);
                let perm = nix::sys::stat::Mode::from_bits_truncate(meta.mode() & 0o7777);
                nix::sys::stat::mknod(target, kind, perm, meta.rdev())
                    .map_err(|e| io_err("mknod", target)(e.into()))?;
            } else {
                return Err(FileOpError::Unsupported {
                    path: src.to_path_buf(),
                });
            }
            self.stats.files += 1;
        }
        if write_meta {
            let entry = self.entry_meta(&meta);
            if ft.is_dir() {
                // After the files queued inside it are written.
                self.pending
                    .dirs
                    .push((src.to_path_buf(), target.to_path_buf(), entry));
            } else {
                apply_meta(src, target, &entry)?;
            }
        }
        Ok(())
    }

    /// The owner, mode and times a copied entry gets.
    fn entry_meta(&self, meta: &fs::Metadata) -> EntryMeta {
        let ft = meta.file_type();
        let (uid, gid) = match (self.spec.owner, self.spec.kind) {
            (Some(o), _) => (o.uid, o.gid),
            (None, SourceKind::Context) => (0, 0),
            (None, SourceKind::Filesystem) => (meta.uid(), meta.gid()),
        };
        let mode = match self.spec.chmod {
            Some(c) => c.apply(meta.mode(), ft.is_dir()),
            None => meta.mode() & 0o7777,
        };
        let (mtime, nsec) = match self.spec.mtime {
            Some(t) => (t, 0),
            None => (meta.mtime(), meta.mtime_nsec()),
        };
        EntryMeta {
            uid,
            gid,
            mode: (!ft.is_symlink()).then_some(mode),
            mtime,
            nsec,
            xattrs: !ft.is_symlink(),
        }
    }

    /// Creates container directory `path` (and its parents) in `root`.
    fn mkdir_all(&mut self, root: &Path, path: &str) -> Result<(), FileOpError> {
        let host = root.join(resolve_in_root(root, path)?);
        self.mkdir_host(&host)
    }

    fn mkdir_host(&mut self, host: &Path) -> Result<(), FileOpError> {
        if host.is_dir() {
            return Ok(());
        }
        if let Some(parent) = host.parent() {
            self.mkdir_host(parent)?;
        }
        match fs::DirBuilder::new().mode(0o755).create(host) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && host.is_dir() => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(FileOpError::NotADirectory {
                    path: host.to_path_buf(),
                });
            }
            Err(e) => return Err(io_err("create directory", host)(e)),
        }
        let (uid, gid) = self.spec.owner.map_or((0, 0), |o| (o.uid, o.gid));
        let mtime = self.spec.mtime;
        if self.spec.owner.is_some() || mtime.is_some() {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            set_owner_mode_times(host, uid, gid, Some(0o755), mtime.unwrap_or(now), 0)?;
        }
        Ok(())
    }
}

/// Resolves `rel` inside the build context, failing if any symlink on the
/// way points outside it.
fn resolve_strict(root: &Path, rel: &str) -> Result<PathBuf, FileOpError> {
    let mut resolved = PathBuf::new();
    let mut pending: Vec<std::ffi::OsString> = Path::new(rel)
        .components()
        .rev()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_os_string()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    let mut links = 0;
    let escape = || FileOpError::OutsideContext {
        path: rel.to_string(),
    };
    while let Some(comp) = pending.pop() {
        if comp == ".." {
            if !resolved.pop() {
                return Err(escape());
            }
            continue;
        }
        resolved.push(&comp);
        let host = root.join(&resolved);
        match fs::symlink_metadata(&host) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(escape());
                }
                let target = fs::read_link(&host).map_err(io_err("readlink", &host))?;
                if target.is_absolute() {
                    return Err(escape());
                }
                resolved.pop();
                for c in target.components().rev() {
                    match c {
                        Component::Normal(s) => pending.push(s.to_os_string()),
                        Component::ParentDir => pending.push("..".into()),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(resolved)
}

/// `src` cleaned to a relative path; for the context, `..` leaving it fails.
fn clean_rel(path: &str, original: &str, kind: SourceKind) -> Result<String, FileOpError> {
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.pop().is_none() && kind == SourceKind::Context {
                    return Err(FileOpError::OutsideContext {
                        path: original.to_string(),
                    });
                }
            }
            c => out.push(c),
        }
    }
    Ok(out.join("/"))
}

fn join_rel(a: &str, b: &str) -> String {
    match (a.trim_matches('/'), b.trim_start_matches('/')) {
        ("", b) => b.to_string(),
        (a, "") => a.to_string(),
        (a, b) => format!("{a}/{b}"),
    }
}

/// An absolute container path, cleaned (no trailing slash except `/`).
fn clean_abs(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    format!("/{}", out.join("/"))
}

fn parent_of(p: &str) -> String {
    match p.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => p[..i].to_string(),
    }
}
