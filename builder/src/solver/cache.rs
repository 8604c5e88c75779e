//! Cache keys and the persistent store of cache records.
//!
//! A vertex's [`CacheKey`] is the digest of its op definition, the cache keys
//! of its inputs, and a checksum of what it reads from outside the graph (the
//! selected context files, the base image's manifest digest, a download's
//! content). Equal keys mean equal results, across runs and processes.
//!
//! Records are small JSON files, `records/<hex>.json`, written to a temp file
//! and renamed into place. We chose files over an embedded database (redb,
//! which DEPENDENCIES.md recommends for speed) because redb takes an exclusive
//! lock per process, and two hoist processes must be able to build on one data
//! root at once; a lookup costs one `open` (~10 µs), which is noise next to
//! any step. A record that cannot be read or parsed is treated as a miss and
//! reported, never trusted.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};

/// The cache identity of a vertex's result: `sha256:<hex>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct CacheKey(pub String);

impl CacheKey {
    /// The key of a vertex with definition digest `op_digest`, inputs'
    /// keys `inputs` (in input order) and an optional checksum of what it
    /// reads from outside.
    pub fn compute(op_digest: &str, inputs: &[&CacheKey], external: Option<&str>) -> CacheKey {
        let mut h = Sha256::new();
        h.update(b"hoist-cache-key-v1\0");
        h.update(op_digest.as_bytes());
        for k in inputs {
            h.update(b"\0input\0");
            h.update(k.0.as_bytes());
        }
        if let Some(e) = external {
            h.update(b"\0external\0");
            h.update(e.as_bytes());
        }
        CacheKey(format!("sha256:{}", hex::encode(h.finalize())))
    }

    /// The hex digits, for file names.
    pub fn hex(&self) -> &str {
        self.0.strip_prefix("sha256:").unwrap_or(&self.0)
    }
}

impl std::fmt::Display for CacheKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Errors writing the cache store (reads never fail: they miss).
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct CacheError {
    op: &'static str,
    path: PathBuf,
    #[source]
    source: io::Error,
}

/// A lookup that found something unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup<T> {
    Hit(T),
    Miss,
    /// The record exists but cannot be used; the reason is for a warning.
    Damaged(String),
}

/// JSON records by key in a directory.
#[derive(Debug, Clone)]
pub struct RecordStore {
    dir: PathBuf,
}

impl RecordStore {
    /// Opens (creating) the store in `dir`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, CacheError> {
        let dir = dir.into();
        fs::create_dir_all(&dir).map_err(|source| CacheError {
            op: "create directory",
            path: dir.clone(),
            source,
        })?;
        Ok(RecordStore { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    /// The record stored under `name` (a key's hex or another file-safe id).
    pub fn get<T: DeserializeOwned>(&self, name: &str) -> Lookup<T> {
        let path = self.path(name);
        match fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(v) => Lookup::Hit(v),
                Err(e) => Lookup::Damaged(format!("{}: {e}", path.display())),
            },
            Err(e) if e.kind() == io::ErrorKind::NotFound => Lookup::Miss,
            Err(e) => Lookup::Damaged(format!("{}: {e}", path.display())),
        }
    }

    /// Stores `value` under `name`, atomically (temp file, fsync, rename).
    pub fn put<T: Serialize>(&self, name: &str, value: &T) -> Result<(), CacheError> {
        let path = self.path(name);
        let err = |op, source| CacheError {
            op,
            path: path.clone(),
            source,
        };
        let bytes = serde_json::to_vec(value).map_err(|e| err("serialise", e.into()))?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tmp-")
            .tempfile_in(&self.dir)
            .map_err(|e| err("create temp file for", e))?;
        tmp.write_all(&bytes).map_err(|e| err("write", e))?;
        tmp.as_file().sync_all().map_err(|e| err("fsync", e))?;
        tmp.persist(&path)
            .map_err(|e| err("rename into", e.error))?;
        Ok(())
    }

    /// Marks the record as just used (its mtime), for least-recently-used
    /// pruning. A record that cannot be touched is simply older.
    pub fn touch(&self, name: &str) {
        if let Ok(f) = fs::File::options().write(true).open(self.path(name)) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
    }

    /// Removes the record; absent is fine.
    pub fn remove(&self, name: &str) -> Result<(), CacheError> {
        let path = self.path(name);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(CacheError {
                op: "remove",
                path,
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// Names of all records.
    pub fn names(&self) -> Result<Vec<String>, CacheError> {
        let rd = fs::read_dir(&self.dir).map_err(|source| CacheError {
            op: "read directory",
            path: self.dir.clone(),
            source,
        })?;
        let mut out: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e.file_name().to_str()?.to_string();
                (!n.starts_with('.')).then_some(n.strip_suffix(".json")?.to_string())
            })
            .collect();
        out.sort();
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_key_depends_on_op_inputs_order_and_external_checksum() {
        let a = CacheKey::compute("sha256:op", &[], None);
        let i1 = CacheKey::compute("sha256:i1", &[], None);
        let i2 = CacheKey::compute("sha256:i2", &[], None);
        let keys = [
            a.clone(),
            CacheKey::compute("sha256:op2", &[], None),
            CacheKey::compute("sha256:op", &[&i1, &i2], None),
            CacheKey::compute("sha256:op", &[&i2, &i1], None),
            CacheKey::compute("sha256:op", &[], Some("sha256:ctx")),
            CacheKey::compute("sha256:op", &[], Some("sha256:ctx2")),
        ];
        for (i, x) in keys.iter().enumerate() {
            for y in &keys[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_eq!(a, CacheKey::compute("sha256:op", &[], None));
        assert_eq!(a.hex().len(), 64);
    }

    #[test]
    fn records_persist_and_damaged_ones_are_reported_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let s = RecordStore::open(dir.path().join("r")).unwrap();
        assert_eq!(s.get::<Vec<u32>>("k"), Lookup::Miss);
        s.put("k", &vec![1u32, 2]).unwrap();
        let s2 = RecordStore::open(dir.path().join("r")).unwrap();
        assert_eq!(s2.get::<Vec<u32>>("k"), Lookup::Hit(vec![1, 2]));
        fs::write(dir.path().join("r/k.json"), b"{trunc").unwrap();
        assert!(matches!(s2.get::<Vec<u32>>("k"), Lookup::Damaged(_)));
        assert_eq!(s2.names().unwrap(), ["k"]);
        s2.put("k", &vec![3u32]).unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        let f = fs::File::options()
            .write(true)
            .open(dir.path().join("r/k.json"))
            .unwrap();
        f.set_modified(old).unwrap();
        s2.touch("k");
        let m = fs::metadata(dir.path().join("r/k.json"))
            .unwrap()
            .modified()
            .unwrap();
        assert!(m > old, "touch marks the record as used now");
        s2.remove("k").unwrap();
        s2.remove("k").unwrap();
        assert_eq!(s2.get::<Vec<u32>>("k"), Lookup::Miss);
    }
}
