//! `RUN --mount=type=cache` directories: persistent across builds under the
//! data root's `cache/mounts/`, never part of a layer.
//!
//! Sharing modes, across threads and hoist processes alike (flock):
//! - `shared`: every step uses the same directory at once;
//! - `locked`: one step at a time; others wait for the lock;
//! - `private`: a step gets an instance nobody else is using, creating a new
//!   one when all existing instances are busy.
//!
//! A new cache directory gets the mount's mode, uid and gid, and is seeded
//! from the `from`/`source` content when given.

use std::fs::{self, File};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use hoist_frontend::graph::CacheSharing;
use sha2::{Digest as _, Sha256};

use super::error::StepError;

/// A cache directory in use; dropping it releases its lock.
pub struct CacheMount {
    pub dir: PathBuf,
    _lock: Option<File>,
}

/// Takes the cache directory for `id` with the given sharing mode.
pub fn acquire(
    base: &Path,
    id: &str,
    sharing: CacheSharing,
    mode: u32,
    uid: u32,
    gid: u32,
    seed: Option<&Path>,
) -> Result<CacheMount, StepError> {
    let name = dir_name(id);
    let io = |op: &str, p: &Path, e: std::io::Error| {
        StepError::msg(format!("cache mount {id:?}: {op} {}: {e}", p.display()))
    };
    fs::create_dir_all(base).map_err(|e| io("create", base, e))?;
    let open_lock = |n: usize| -> Result<File, StepError> {
        let p = base.join(format!("{name}.{n}.lock"));
        File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(|e| io("open", &p, e))
    };
    let (instance, lock) = match sharing {
        CacheSharing::Shared => (0, None),
        CacheSharing::Locked => {
            let f = open_lock(0)?;
            f.lock().map_err(|e| io("lock", base, e))?;
            (0, Some(f))
        }
        CacheSharing::Private => {
            let mut n = 0;
            loop {
                let f = open_lock(n)?;
                match f.try_lock() {
                    Ok(()) => break (n, Some(f)),
                    Err(fs::TryLockError::WouldBlock) => n += 1,
                    Err(fs::TryLockError::Error(e)) => return Err(io("lock", base, e)),
                }
            }
        }
    };
    let dir = base.join(if instance == 0 {
        name.clone()
    } else {
        format!("{name}-{instance}")
    });
    if !dir.is_dir() {
        let tmp = base.join(format!(".new-{name}-{instance}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir(&tmp).map_err(|e| io("create", &tmp, e))?;
        if let Some(seed) = seed {
            copy_tree(seed, &tmp).map_err(|e| io("seed from", seed, e))?;
        }
        fs::set_permissions(&tmp, fs::Permissions::from_mode(mode))
            .map_err(|e| io("chmod", &tmp, e))?;
        std::os::unix::fs::chown(&tmp, Some(uid), Some(gid)).map_err(|e| io("chown", &tmp, e))?;
        if fs::rename(&tmp, &dir).is_err() {
            // Another process created it first: use theirs.
            let _ = fs::remove_dir_all(&tmp);
        }
    }
    Ok(CacheMount { dir, _lock: lock })
}

/// The directory name of the cache `id` (its first instance) under the
/// data root's `cache/mounts/`.
pub fn dir_name(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// Copies the contents of `src` into the existing directory `dst`.
fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    for entry in fs::read_dir(src)? {
        let entry = entry?;
        let (from, to) = (entry.path(), dst.join(entry.file_name()));
        let ft = entry.file_type()?;
        if ft.is_dir() {
            fs::create_dir(&to)?;
            fs::set_permissions(&to, fs::metadata(&from)?.permissions())?;
            copy_tree(&from, &to)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
        } else if ft.is_file() {
            fs::copy(&from, &to)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_dir_persists_and_is_created_with_mode_and_owner() {
        let d = tempfile::tempdir().unwrap();
        let a = acquire(
            d.path(),
            "/root/.cache",
            CacheSharing::Shared,
            0o700,
            5,
            6,
            None,
        )
        .unwrap();
        fs::write(a.dir.join("x"), "1").unwrap();
        drop(a);
        let b = acquire(
            d.path(),
            "/root/.cache",
            CacheSharing::Shared,
            0o755,
            0,
            0,
            None,
        )
        .unwrap();
        assert_eq!(fs::read_to_string(b.dir.join("x")).unwrap(), "1");
        use std::os::unix::fs::MetadataExt;
        let m = fs::metadata(&b.dir).unwrap();
        assert_eq!((m.mode() & 0o777, m.uid(), m.gid()), (0o700, 5, 6));
    }

    #[test]
    fn private_mounts_get_separate_instances_while_busy() {
        let d = tempfile::tempdir().unwrap();
        let a = acquire(d.path(), "c", CacheSharing::Private, 0o755, 0, 0, None).unwrap();
        let b = acquire(d.path(), "c", CacheSharing::Private, 0o755, 0, 0, None).unwrap();
        assert_ne!(a.dir, b.dir);
        let a_dir = a.dir.clone();
        drop(a);
        let c = acquire(d.path(), "c", CacheSharing::Private, 0o755, 0, 0, None).unwrap();
        assert_eq!(c.dir, a_dir);
    }

    #[test]
    fn locked_mounts_wait_for_each_other() {
        let d = tempfile::tempdir().unwrap();
        let base = d.path().to_path_buf();
        let a = acquire(&base, "c", CacheSharing::Locked, 0o755, 0, 0, None).unwrap();
        let started = std::time::Instant::now();
        let t = std::thread::spawn(move || {
            let _b = acquire(&base, "c", CacheSharing::Locked, 0o755, 0, 0, None).unwrap();
            started.elapsed()
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        drop(a);
        assert!(t.join().unwrap() >= std::time::Duration::from_millis(200));
    }

    #[test]
    fn new_cache_is_seeded_from_the_source() {
        let d = tempfile::tempdir().unwrap();
        let seed = d.path().join("seed");
        fs::create_dir_all(seed.join("sub")).unwrap();
        fs::write(seed.join("sub/f"), "s").unwrap();
        let m = acquire(
            &d.path().join("c"),
            "x",
            CacheSharing::Shared,
            0o755,
            0,
            0,
            Some(&seed),
        )
        .unwrap();
        assert_eq!(fs::read_to_string(m.dir.join("sub/f")).unwrap(), "s");
    }
}
