//! The second half of a COPY: regular files' contents and metadata written
//! by a few threads, then the directories' metadata.
//!
//! The walk in [`super::copy`] creates directories, links and special files
//! itself and queues each singly-linked regular file as a [`FileJob`].
//! Copying 20,000 files one after the other leaves a core idle while the
//! kernel copies pages; [`Pending::flush`] runs the jobs on up to four
//! threads. Directory owners, modes and times are applied after every file
//! in them exists (creating an entry changes a directory's mtime), in the
//! walk's post-order. The copy flushes once per source, so a later source
//! overwriting an earlier one's file sees it written, as when copying in
//! sequence.

use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::{FileOpError, io_err, set_owner_mode_times};

/// Owner, mode and times to give an entry.
#[derive(Debug, Clone, Copy)]
pub(super) struct EntryMeta {
    pub uid: u32,
    pub gid: u32,
    /// `None` for symlinks.
    pub mode: Option<u32>,
    pub mtime: i64,
    pub nsec: i64,
    /// Copy the source's extended attributes.
    pub xattrs: bool,
}

/// A regular file to copy from `src` to `target`.
#[derive(Debug)]
pub(super) struct FileJob {
    pub src: PathBuf,
    pub target: PathBuf,
    pub meta: EntryMeta,
}

/// What the walk queued since the last flush.
#[derive(Debug, Default)]
pub(super) struct Pending {
    pub files: Vec<FileJob>,
    /// Directories whose metadata is written after their contents.
    pub dirs: Vec<(PathBuf, PathBuf, EntryMeta)>,
}

/// Fewer files than this are copied on the calling thread.
const PARALLEL_FROM: usize = 64;

impl Pending {
    /// Writes every queued file, then the directories' metadata.
    pub fn flush(&mut self) -> Result<(), FileOpError> {
        let files = std::mem::take(&mut self.files);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        if files.len() < PARALLEL_FROM || threads < 2 {
            for job in &files {
                write_file(job)?;
            }
        } else {
            let next = AtomicUsize::new(0);
            let failure: Mutex<Option<FileOpError>> = Mutex::new(None);
            std::thread::scope(|scope| {
                for _ in 0..threads {
                    scope.spawn(|| {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(job) = files.get(i) else { break };
                            if let Err(e) = write_file(job) {
                                let mut slot = failure.lock().unwrap_or_else(|p| p.into_inner());
                                slot.get_or_insert(e);
                                // Stop the others: nothing after a failure counts.
                                next.store(files.len(), Ordering::Relaxed);
                                break;
                            }
                        }
                    });
                }
            });
            if let Some(e) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
                return Err(e);
            }
        }
        for (src, dir, meta) in std::mem::take(&mut self.dirs) {
            apply_meta(&src, &dir, &meta)?;
        }
        Ok(())
    }
}

fn write_file(job: &FileJob) -> Result<(), FileOpError> {
    std::fs::copy(&job.src, &job.target).map_err(io_err("copy to", &job.target))?;
    apply_meta(&job.src, &job.target, &job.meta)
}

/// Gives `target` the owner, mode, times (and `src`'s xattrs) of `meta`.
pub(super) fn apply_meta(
    src: &std::path::Path,
    target: &std::path::Path,
    meta: &EntryMeta,
) -> Result<(), FileOpError> {
    if meta.xattrs {
        copy_xattrs(src, target);
    }
    set_owner_mode_times(target, meta.uid, meta.gid, meta.mode, meta.mtime, meta.nsec)
}

/// Copies extended attributes; failures (unsupported, not permitted) are
/// skipped like BuildKit's xattr error handler does for COPY.
fn copy_xattrs(src: &std::path::Path, dst: &std::path::Path) {
    if let Ok(names) = xattr::list(src) {
        for name in names {
            if let Ok(Some(value)) = xattr::get(src, &name) {
                let _ = xattr::set(dst, &name, &value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    #[test]
    fn flush_copies_many_files_and_then_sets_directory_times() {
        let d = tempfile::tempdir().unwrap();
        let (src, dst) = (d.path().join("src"), d.path().join("dst"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        let mut pending = Pending::default();
        let meta = |mtime| EntryMeta {
            uid: 0,
            gid: 0,
            mode: Some(0o640),
            mtime,
            nsec: 0,
            xattrs: true,
        };
        for i in 0..200 {
            let s = src.join(format!("f{i}"));
            std::fs::write(&s, format!("file {i}")).unwrap();
            pending.files.push(FileJob {
                src: s,
                target: dst.join(format!("f{i}")),
                meta: meta(1_000_000 + i),
            });
        }
        pending.dirs.push((src.clone(), dst.clone(), meta(42)));
        pending.flush().unwrap();
        for i in 0..200 {
            let t = dst.join(format!("f{i}"));
            assert_eq!(std::fs::read_to_string(&t).unwrap(), format!("file {i}"));
            let m = std::fs::metadata(&t).unwrap();
            assert_eq!(m.mtime(), 1_000_000 + i);
            assert_eq!(m.mode() & 0o7777, 0o640);
        }
        // The directory's time is set after its files were created in it.
        assert_eq!(std::fs::metadata(&dst).unwrap().mtime(), 42);
        assert!(pending.files.is_empty() && pending.dirs.is_empty());
    }

    #[test]
    fn flush_reports_a_file_that_cannot_be_copied() {
        let d = tempfile::tempdir().unwrap();
        let mut pending = Pending::default();
        for i in 0..100 {
            pending.files.push(FileJob {
                src: d.path().join(format!("missing{i}")),
                target: d.path().join(format!("t{i}")),
                meta: EntryMeta {
                    uid: 0,
                    gid: 0,
                    mode: Some(0o644),
                    mtime: 0,
                    nsec: 0,
                    xattrs: false,
                },
            });
        }
        let err = pending.flush().unwrap_err().to_string();
        assert!(err.contains("copy to"), "{err}");
    }
}
