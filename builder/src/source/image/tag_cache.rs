//! The tag resolution cache: which manifest a tag pointed at when it was
//! last pulled, so that the next build reuses it without asking the
//! registry (like BuildKit and `docker build` without `--pull`).
//!
//! One JSON file per (reference, platform) in a directory the caller gives
//! (the data root's `images/resolved/`), named by the sha256 of
//! `"<reference>\n<platform>"` and written atomically (temp file, fsync,
//! rename). A damaged or unreadable record is treated as absent. With
//! `pull: true` the resolver asks the registry for the tag's digest again
//! (a HEAD request) and re-pulls only when it moved.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hoist_snapshotter::digest::Digest;
use serde::{Deserialize, Serialize};

use super::platform::Platform;
use crate::registry::Reference;

/// What a tag resolved to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagRecord {
    /// The reference as asked for (with its tag, without digest).
    pub reference: Reference,
    pub platform: Platform,
    /// What the tag pointed at: an index or the manifest itself.
    pub tag_digest: Digest,
    /// The platform's image manifest.
    pub manifest_digest: Digest,
}

/// A directory of [`TagRecord`]s.
#[derive(Debug, Clone)]
pub struct TagCache {
    dir: PathBuf,
}

impl TagCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> TagCache {
        TagCache { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, reference: &Reference, platform: &Platform) -> PathBuf {
        let key = Digest::of(format!("{reference}\n{platform}").as_bytes());
        self.dir.join(format!("{}.json", key.hex()))
    }

    /// The record for `reference` on `platform`, if any.
    pub fn get(&self, reference: &Reference, platform: &Platform) -> Option<TagRecord> {
        let bytes = fs::read(self.path(reference, platform)).ok()?;
        let record: TagRecord = serde_json::from_slice(&bytes).ok()?;
        (&record.reference == reference && &record.platform == platform).then_some(record)
    }

    /// Stores `record`, replacing any older one atomically.
    pub fn put(&self, record: &TagRecord) -> io::Result<()> {
        fs::create_dir_all(&self.dir)?;
        let mut tmp = tempfile::Builder::new()
            .prefix(".tag-")
            .tempfile_in(&self.dir)?;
        let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
        tmp.write_all(&json)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.path(&record.reference, &record.platform))
            .map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_per_reference_and_platform() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TagCache::new(dir.path().join("resolved"));
        let r = Reference::parse("busybox").unwrap();
        let amd: Platform = "linux/amd64".parse().unwrap();
        let arm: Platform = "linux/arm64".parse().unwrap();
        assert_eq!(cache.get(&r, &amd), None);
        let rec = TagRecord {
            reference: r.clone(),
            platform: amd.clone(),
            tag_digest: Digest::of(b"index"),
            manifest_digest: Digest::of(b"manifest"),
        };
        cache.put(&rec).unwrap();
        assert_eq!(cache.get(&r, &amd), Some(rec.clone()));
        assert_eq!(cache.get(&r, &arm), None);
        let moved = TagRecord {
            tag_digest: Digest::of(b"index2"),
            ..rec
        };
        cache.put(&moved).unwrap();
        assert_eq!(cache.get(&r, &amd), Some(moved));
    }

    #[test]
    fn damaged_record_reads_as_absent() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TagCache::new(dir.path());
        let r = Reference::parse("busybox").unwrap();
        let p = Platform::host();
        fs::write(cache.path(&r, &p), b"{not json").unwrap();
        assert_eq!(cache.get(&r, &p), None);
    }
}
