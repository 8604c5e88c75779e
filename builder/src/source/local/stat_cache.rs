//! The stat cache: content hashes of context files, reused while a file's `lstat` identity
//! (dev, inode, size, mtime ns, ctime ns) is unchanged, and kept across runs, like
//! BuildKit's contenthash records.
//!
//! What it trades (the same bet BuildKit and git make): a file whose bytes change while all
//! five stay the same is not re-read. Every write through the kernel moves mtime and ctime,
//! and ctime cannot be set from user space, so restoring mtime after a same-size rewrite
//! does not fool it. What remains is a rewrite within the same timestamp tick as our read
//! (git's "racily clean" case): hashes of files changed just before they were read are
//! therefore used but not cached (see `checksum.rs`), and content changed behind the
//! kernel's back (a raw block device, a clock set backwards) is not detected.
//!
//! Storage: one file per context root (`context-<sha256(root)>.statcache`) under the
//! directory the caller gives, loaded whole at open and rewritten whole on save (temp file,
//! fsync, rename): a crash leaves the old file or the new one, never a mix. The body ends
//! with its own SHA-256, so a torn or foreign file is detected and treated as empty (the
//! cache is only an accelerator). One flat file instead of redb: the access pattern is
//! "load all, look up in memory, write all back", 20k records are ~1.5 MB and take
//! milliseconds either way, and no extra dependency or lock file is needed. Two builds of
//! the same context saving at once both write a complete file; the last rename wins.

use std::collections::HashMap;
use std::fs::Metadata;
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

const MAGIC: &[u8; 8] = b"HOISTSC1";

/// What must stay equal for a cached hash to be reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatIdentity {
    pub dev: u64,
    pub ino: u64,
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
}

impl StatIdentity {
    /// The identity of an `lstat` result.
    pub fn of(meta: &Metadata) -> StatIdentity {
        StatIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
        }
    }
}

/// Content hashes by context-relative path.
#[derive(Debug, Default)]
pub struct StatCache {
    records: HashMap<String, (StatIdentity, [u8; 32])>,
    dirty: bool,
}

impl StatCache {
    /// The cache file for the context at `root` inside `cache_dir`.
    pub fn file_for(cache_dir: &Path, root: &Path) -> PathBuf {
        let key = Sha256::digest(root.as_os_str().as_encoded_bytes());
        cache_dir.join(format!("context-{}.statcache", hex::encode(&key[..16])))
    }

    /// Loads the cache file; a missing, torn or foreign file gives an empty cache.
    pub fn load(file: &Path) -> std::io::Result<StatCache> {
        match std::fs::read(file) {
            Ok(bytes) => Ok(decode(&bytes).unwrap_or_default()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(StatCache::default()),
            Err(e) => Err(e),
        }
    }

    /// The cached hash of `rel_path` if its identity is unchanged.
    pub fn get(&self, rel_path: &str, identity: &StatIdentity) -> Option<[u8; 32]> {
        self.records
            .get(rel_path)
            .filter(|(cached, _)| cached == identity)
            .map(|(_, digest)| *digest)
    }

    /// Records a freshly computed hash.
    pub fn insert(&mut self, rel_path: String, identity: StatIdentity, digest: [u8; 32]) {
        self.records.insert(rel_path, (identity, digest));
        self.dirty = true;
    }

    /// Drops records of paths for which `keep` is false (files gone from the context).
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        let before = self.records.len();
        self.records.retain(|path, _| keep(path));
        self.dirty |= self.records.len() != before;
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether there are no records.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Writes the cache to `file` if it changed since load: temp file in the same
    /// directory, fsync, rename.
    pub fn save(&mut self, file: &Path) -> std::io::Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let dir = file.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(&self.encode())?;
        tmp.as_file().sync_all()?;
        tmp.persist(file).map_err(|e| e.error)?;
        self.dirty = false;
        Ok(())
    }

    fn encode(&self) -> Vec<u8> {
        let mut paths: Vec<&String> = self.records.keys().collect();
        paths.sort();
        let mut out = Vec::with_capacity(16 + self.records.len() * 96);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(paths.len() as u64).to_le_bytes());
        for path in paths {
            let (id, digest) = &self.records[path];
            out.extend_from_slice(&(path.len() as u32).to_le_bytes());
            out.extend_from_slice(path.as_bytes());
            for n in [id.dev, id.ino, id.size] {
                out.extend_from_slice(&n.to_le_bytes());
            }
            for n in [id.mtime_ns, id.ctime_ns] {
                out.extend_from_slice(&n.to_le_bytes());
            }
            out.extend_from_slice(digest);
        }
        let sum = Sha256::digest(&out);
        out.extend_from_slice(&sum);
        out
    }
}

/// Parses an encoded cache; `None` if it is not exactly what [`StatCache::encode`] writes.
fn decode(bytes: &[u8]) -> Option<StatCache> {
    let (body, sum) = bytes.split_at_checked(bytes.len().checked_sub(32)?)?;
    if Sha256::digest(body).as_slice() != sum {
        return None;
    }
    let mut r = Reader(body.strip_prefix(MAGIC)?);
    let count = r.u64()?;
    let mut records = HashMap::with_capacity(count.min(1 << 20) as usize);
    for _ in 0..count {
        let len = u32::from_le_bytes(r.take(4)?.try_into().ok()?) as usize;
        let path = String::from_utf8(r.take(len)?.to_vec()).ok()?;
        let identity = StatIdentity {
            dev: r.u64()?,
            ino: r.u64()?,
            size: r.u64()?,
            mtime_ns: r.u64()? as i64,
            ctime_ns: r.u64()? as i64,
        };
        let digest: [u8; 32] = r.take(32)?.try_into().ok()?;
        records.insert(path, (identity, digest));
    }
    r.0.is_empty().then_some(StatCache {
        records,
        dirty: false,
    })
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(n: u64) -> StatIdentity {
        StatIdentity {
            dev: 1,
            ino: n,
            size: 10,
            mtime_ns: -5,
            ctime_ns: 1_700_000_000_123_456_789,
        }
    }

    #[test]
    fn saved_cache_loads_back_identically() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sub/c.statcache");
        let mut cache = StatCache::default();
        cache.insert("a/b".into(), identity(1), [7; 32]);
        cache.insert("ünï".into(), identity(2), [9; 32]);
        cache.save(&file).unwrap();
        let loaded = StatCache::load(&file).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded.get("a/b", &identity(1)), Some([7; 32]));
        assert_eq!(loaded.get("ünï", &identity(2)), Some([9; 32]));
        assert_eq!(loaded.get("a/b", &identity(3)), None);
    }

    #[test]
    fn torn_or_foreign_cache_file_is_treated_as_empty() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.statcache");
        let mut cache = StatCache::default();
        cache.insert("x".into(), identity(1), [1; 32]);
        cache.save(&file).unwrap();
        let bytes = std::fs::read(&file).unwrap();
        std::fs::write(&file, &bytes[..bytes.len() - 3]).unwrap();
        assert!(StatCache::load(&file).unwrap().is_empty());
        std::fs::write(&file, b"not a cache").unwrap();
        assert!(StatCache::load(&file).unwrap().is_empty());
    }

    #[test]
    fn missing_cache_file_is_an_empty_cache() {
        let dir = tempfile::tempdir().unwrap();
        assert!(
            StatCache::load(&dir.path().join("nope"))
                .unwrap()
                .is_empty()
        );
    }
}
