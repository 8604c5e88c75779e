//! Content checksums of a [`Selection`], the part of a COPY/ADD cache key that comes from
//! the context (BuildKit's `contenthash`, in our own encoding).
//!
//! The digest covers, for every selected entry in listing order: its context-relative
//! path, its type, its mode bits (permissions plus setuid/setgid/sticky, unless
//! [`ChecksumOptions::ignore_mode`] is set for `--chmod`), the SHA-256 of a file's content,
//! a symlink's target, a special file's type and device number. Never mtime, owner or
//! inode: touching or chowning a file does not invalidate a build step.
//!
//! File contents are hashed in parallel (rayon) and looked up first in the stat cache
//! ([`super::stat_cache`]), so an unchanged context costs only the walk's `lstat`s.
//! Files are opened with `O_NOFOLLOW`; a hash is cached only when the opened file still has
//! the identity the walk saw and was not changed within the last moments before the read
//! (the racy window, 50 ms). Hard links are hashed as the separate files they appear as.

use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::Ordering;

use rayon::prelude::*;
use sha2::{Digest, Sha256};

use super::stat_cache::StatIdentity;
use super::{ChecksumOptions, Context, ContextError, Entry, EntryKind, Selection};

/// Versions the encoding below; bump it when the encoding changes.
const DOMAIN: &[u8] = b"hoist.context.checksum.v1\0";

impl Context {
    /// The content checksum (`sha256:<hex>`) of what `selection` selects.
    pub fn checksum(
        &self,
        selection: &Selection,
        opts: &ChecksumOptions,
    ) -> Result<String, ContextError> {
        let files: Vec<&Entry> = selection
            .entries
            .iter()
            .filter(|e| e.kind == EntryKind::File)
            .collect();
        let digests: Vec<[u8; 32]> = files
            .par_iter()
            .map(|entry| self.file_digest(entry))
            .collect::<Result<_, _>>()?;
        let mut digests = digests.into_iter();

        let mut h = Sha256::new();
        h.update(DOMAIN);
        for entry in &selection.entries {
            put_bytes(&mut h, entry.rel_path.as_bytes());
            let mode = if opts.ignore_mode { 0 } else { entry.mode };
            match &entry.kind {
                EntryKind::File => {
                    h.update(b"f");
                    h.update(mode.to_le_bytes());
                    // One digest per file entry, computed above in the same order.
                    h.update(digests.next().unwrap_or_default());
                }
                EntryKind::Dir => {
                    h.update(b"d");
                    h.update(mode.to_le_bytes());
                }
                EntryKind::Symlink { target } => {
                    h.update(b"l");
                    h.update(mode.to_le_bytes());
                    put_bytes(&mut h, target.as_os_str().as_bytes());
                }
                EntryKind::Other { file_type, rdev } => {
                    h.update(b"o");
                    h.update(mode.to_le_bytes());
                    h.update(file_type.to_le_bytes());
                    h.update(rdev.to_le_bytes());
                }
            }
        }
        Ok(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// One description per selected entry, in listing order: its context-relative path and
    /// what [`Context::checksum`] covers of it (`file <mode> sha256:<hex>`, `dir <mode>`,
    /// `symlink <mode> -> <target>`, `special <mode> <type> <rdev>`). Equal combined
    /// checksums mean equal lists; this is the per-file view that says *which* file differs.
    pub fn entry_digests(
        &self,
        selection: &Selection,
        opts: &ChecksumOptions,
    ) -> Result<Vec<(String, String)>, ContextError> {
        selection
            .entries
            .iter()
            .map(|entry| {
                let mode = if opts.ignore_mode { 0 } else { entry.mode };
                let what = match &entry.kind {
                    EntryKind::File => format!(
                        "file {mode:o} sha256:{}",
                        hex::encode(self.file_digest(entry)?)
                    ),
                    EntryKind::Dir => format!("dir {mode:o}"),
                    EntryKind::Symlink { target } => {
                        format!("symlink {mode:o} -> {}", target.display())
                    }
                    EntryKind::Other { file_type, rdev } => {
                        format!("special {mode:o} {file_type:o} {rdev}")
                    }
                };
                Ok((entry.rel_path.clone(), what))
            })
            .collect()
    }

    /// The content hash of one file: from the stat cache if its identity is unchanged,
    /// else read and hashed (and cached).
    fn file_digest(&self, entry: &Entry) -> Result<[u8; 32], ContextError> {
        if let Some(digest) = self.lock_cache().get(&entry.rel_path, &entry.stat) {
            return Ok(digest);
        }
        let path = self.root.join(&entry.rel_path);
        let read_started_ns = now_ns();
        let (digest, identity) = hash_file(&path).map_err(|source| ContextError::Io {
            path: path.clone(),
            source,
        })?;
        self.files_hashed.fetch_add(1, Ordering::Relaxed);
        if identity == entry.stat && !is_racily_clean(&identity, read_started_ns) {
            self.lock_cache()
                .insert(entry.rel_path.clone(), identity, digest);
        }
        Ok(digest)
    }
}

/// Below this age (newest of mtime and ctime, at the moment the read starts) a file's hash
/// is used but not cached. Kernel file timestamps come from a coarse clock (one tick, up to
/// 10 ms behind), so a same-size rewrite right after our read could otherwise keep the very
/// same (size, mtime, ctime) and be missed next time: git's "racily clean" problem.
const RACY_WINDOW_NS: i64 = 50_000_000;

/// The window for filesystems that store whole seconds (both timestamps without
/// nanoseconds): two seconds, as FAT-style 2 s granularity is the coarsest in use.
const RACY_WINDOW_COARSE_NS: i64 = 2_000_000_000;

/// Whether a file was changed too recently for its stat identity to vouch for its content.
fn is_racily_clean(identity: &StatIdentity, read_started_ns: i64) -> bool {
    let whole_seconds =
        identity.mtime_ns % 1_000_000_000 == 0 && identity.ctime_ns % 1_000_000_000 == 0;
    let window = if whole_seconds {
        RACY_WINDOW_COARSE_NS
    } else {
        RACY_WINDOW_NS
    };
    identity.mtime_ns.max(identity.ctime_ns) + window > read_started_ns
}

/// Wall-clock time in ns since the epoch, the clock file timestamps use.
fn now_ns() -> i64 {
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

/// Length-prefixed bytes, so that no two different entry lists encode the same.
fn put_bytes(h: &mut Sha256, bytes: &[u8]) {
    h.update((bytes.len() as u64).to_le_bytes());
    h.update(bytes);
}

/// SHA-256 of a regular file's content (never following a symlink), with the identity of
/// the file that was actually read (taken from the open descriptor before reading).
pub fn hash_file(path: &Path) -> std::io::Result<([u8; 32], StatIdentity)> {
    let mut file = File::options()
        .read(true)
        // O_NONBLOCK: if the file was swapped for a fifo since the walk, do not hang.
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "no longer a regular file (changed during the build)",
        ));
    }
    let identity = StatIdentity::of(&meta);
    let mut h = Sha256::new();
    READ_BUFFER.with_borrow_mut(|buf| -> std::io::Result<()> {
        buf.resize(READ_BUFFER_SIZE, 0);
        loop {
            let n = read_some(&mut file, buf)?;
            if n == 0 {
                return Ok(());
            }
            h.update(&buf[..n]);
        }
    })?;
    Ok((h.finalize().into(), identity))
}

const READ_BUFFER_SIZE: usize = 128 * 1024;

thread_local! {
    /// One read buffer per hashing thread, instead of one allocation per file.
    static READ_BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn read_some(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match file.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}
