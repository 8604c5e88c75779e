//! The content store: blobs addressed by sha256 digest.
//!
//! Layout under the store's directory (an OCI image layout's `blobs/` shape, so
//! exporting to disk can hard-link or copy blobs as they are):
//!
//! ```text
//! blobs/sha256/<hex>     committed blobs, read-only, never modified in place
//! ingest/<random>        blobs being written; removed on drop if not committed
//! ```
//!
//! A blob is written to a temp file under `ingest/`, hashed as it streams,
//! fsynced, checked against the expected digest and size, then renamed into
//! place. A reader never sees a partial blob, a crash leaves at most a stray
//! ingest file (cleaned by [`ContentStore::clean_ingest`]), and two processes
//! writing the same blob at once both succeed: each writes its own temp file
//! and the second rename replaces identical bytes with identical bytes.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use crate::digest::{Digest, Digester};

/// Errors of the content store; each names the blob and the path or source.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("blob from {source_name} does not match its digest: expected {expected}, got {actual}")]
    DigestMismatch {
        expected: Digest,
        actual: Digest,
        source_name: String,
    },
    #[error("blob {digest} from {source_name} has {actual} bytes, expected {expected}")]
    SizeMismatch {
        digest: Digest,
        expected: u64,
        actual: u64,
        source_name: String,
    },
    #[error("blob {0} is not in the content store")]
    NotFound(Digest),
    #[error("blob {digest} in the content store is damaged: its bytes hash to {actual}")]
    Corrupt { digest: Digest, actual: Digest },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ContentError + 'a {
    move |source| ContentError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// A directory of blobs addressed by digest.
#[derive(Debug, Clone)]
pub struct ContentStore {
    root: PathBuf,
}

impl ContentStore {
    /// Opens (creating if needed) the store in `root`.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, ContentError> {
        let root = root.into();
        for dir in [root.join("blobs/sha256"), root.join("ingest")] {
            fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
        }
        Ok(ContentStore { root })
    }

    /// The store's directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the blob `digest` lives (whether or not it exists).
    pub fn path(&self, digest: &Digest) -> PathBuf {
        self.root.join("blobs/sha256").join(digest.hex())
    }

    /// Whether the blob is present.
    pub fn contains(&self, digest: &Digest) -> bool {
        self.path(digest).is_file()
    }

    /// The size of a present blob.
    pub fn size(&self, digest: &Digest) -> Result<u64, ContentError> {
        match fs::metadata(self.path(digest)) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(ContentError::NotFound(digest.clone()))
            }
            Err(e) => Err(io_err("stat", &self.path(digest))(e)),
        }
    }

    /// Starts writing a blob. `expected` and `expected_size`, when given, are
    /// checked at [`BlobWriter::commit`]; `source_name` (a reference, a URL, a
    /// file) is named in errors.
    pub fn writer(
        &self,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
        source_name: &str,
    ) -> Result<BlobWriter, ContentError> {
        let ingest = self.root.join("ingest");
        let tmp = tempfile::Builder::new()
            .prefix("blob-")
            .tempfile_in(&ingest)
            .map_err(io_err("create temp file in", &ingest))?;
        Ok(BlobWriter {
            store: self.clone(),
            tmp,
            digester: Digester::new(),
            expected: expected.cloned(),
            expected_size,
            source_name: source_name.to_string(),
        })
    }

    /// Writes `bytes` as a blob and returns its digest.
    pub fn write_bytes(
        &self,
        bytes: &[u8],
        expected: Option<&Digest>,
        source_name: &str,
    ) -> Result<Digest, ContentError> {
        if let Some(d) = expected
            && self.contains(d)
        {
            return Ok(d.clone());
        }
        let mut w = self.writer(expected, Some(bytes.len() as u64), source_name)?;
        w.write_all(bytes).map_err(io_err("write", w.tmp.path()))?;
        Ok(w.commit()?.0)
    }

    /// Copies what `reader` yields into the store.
    pub fn write_from(
        &self,
        mut reader: impl Read,
        expected: Option<&Digest>,
        expected_size: Option<u64>,
        source_name: &str,
    ) -> Result<(Digest, u64), ContentError> {
        let mut w = self.writer(expected, expected_size, source_name)?;
        let path = w.tmp.path().to_path_buf();
        io::copy(&mut reader, &mut w).map_err(io_err("write", &path))?;
        w.commit()
    }

    /// Opens a blob for reading; the reader fails at EOF if the bytes do not
    /// match the digest.
    pub fn open_blob(&self, digest: &Digest) -> Result<VerifiedReader, ContentError> {
        let path = self.path(digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ContentError::NotFound(digest.clone()));
            }
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        Ok(VerifiedReader {
            inner: BufReader::with_capacity(256 * 1024, file),
            digester: Some(Digester::new()),
            expected: digest.clone(),
        })
    }

    /// Reads a whole blob (for manifests and configs), verified.
    pub fn read(&self, digest: &Digest) -> Result<Vec<u8>, ContentError> {
        let path = self.path(digest);
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(ContentError::NotFound(digest.clone()));
            }
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        let actual = Digest::of(&bytes);
        if &actual != digest {
            return Err(ContentError::Corrupt {
                digest: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// Removes a blob; absent blobs are fine.
    pub fn delete(&self, digest: &Digest) -> Result<(), ContentError> {
        let path = self.path(digest);
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err("remove", &path)(e)),
            _ => Ok(()),
        }
    }

    /// Every blob in the store (names that are not digests are skipped).
    pub fn list(&self) -> Result<Vec<Digest>, ContentError> {
        let dir = self.root.join("blobs/sha256");
        let mut out = Vec::new();
        for entry in fs::read_dir(&dir).map_err(io_err("read directory", &dir))? {
            let entry = entry.map_err(io_err("read directory", &dir))?;
            if let Some(d) = entry
                .file_name()
                .to_str()
                .and_then(|n| Digest::from_hex(n).ok())
            {
                out.push(d);
            }
        }
        out.sort();
        Ok(out)
    }

    /// Removes ingest files older than `min_age` (left by killed processes).
    pub fn clean_ingest(&self, min_age: std::time::Duration) -> Result<usize, ContentError> {
        let dir = self.root.join("ingest");
        let mut removed = 0;
        for entry in fs::read_dir(&dir).map_err(io_err("read directory", &dir))? {
            let entry = entry.map_err(io_err("read directory", &dir))?;
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= min_age);
            if old && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A blob being written. Dropping it without [`BlobWriter::commit`] discards it.
pub struct BlobWriter {
    store: ContentStore,
    tmp: tempfile::NamedTempFile,
    digester: Digester,
    expected: Option<Digest>,
    expected_size: Option<u64>,
    source_name: String,
}

impl BlobWriter {
    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.digester.len()
    }

    /// Verifies, fsyncs and renames the blob into place.
    pub fn commit(mut self) -> Result<(Digest, u64), ContentError> {
        let tmp_path = self.tmp.path().to_path_buf();
        self.tmp.flush().map_err(io_err("write", &tmp_path))?;
        let size = self.digester.len();
        let actual = self.digester.finish();
        if let Some(expected) = self.expected
            && expected != actual
        {
            return Err(ContentError::DigestMismatch {
                expected,
                actual,
                source_name: self.source_name,
            });
        }
        if let Some(expected) = self.expected_size
            && expected != size
        {
            return Err(ContentError::SizeMismatch {
                digest: actual,
                expected,
                actual: size,
                source_name: self.source_name,
            });
        }
        let dest = self.store.path(&actual);
        if dest.is_file() {
            return Ok((actual, size)); // already there: identical by construction
        }
        self.tmp
            .as_file()
            .sync_all()
            .map_err(io_err("fsync", &tmp_path))?;
        let file = self
            .tmp
            .persist(&dest)
            .map_err(|e| io_err("rename into", &dest)(e.error))?;
        let mut perms = file
            .metadata()
            .map_err(io_err("stat", &dest))?
            .permissions();
        perms.set_readonly(true);
        fs::set_permissions(&dest, perms).map_err(io_err("chmod", &dest))?;
        Ok((actual, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.tmp.write(buf)?;
        self.digester.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

/// Reads a stored blob and fails with `InvalidData` at the end if its bytes
/// do not hash to its digest.
pub struct VerifiedReader {
    inner: BufReader<File>,
    digester: Option<Digester>,
    expected: Digest,
}

impl Read for VerifiedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            if let Some(d) = self.digester.as_mut() {
                d.update(&buf[..n]);
            }
        } else if !buf.is_empty()
            && let Some(d) = self.digester.take()
        {
            let actual = d.finish();
            if actual != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    ContentError::Corrupt {
                        digest: self.expected.clone(),
                        actual,
                    },
                ));
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ContentStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = ContentStore::open(dir.path().join("content")).unwrap();
        (dir, s)
    }

    #[test]
    fn written_blob_is_found_by_its_digest() {
        let (_d, s) = store();
        let dg = s.write_bytes(b"hello", None, "test").unwrap();
        assert_eq!(dg, Digest::of(b"hello"));
        assert!(s.contains(&dg));
        assert_eq!(s.read(&dg).unwrap(), b"hello");
        assert_eq!(s.size(&dg).unwrap(), 5);
        assert_eq!(s.list().unwrap(), vec![dg]);
    }

    #[test]
    fn blob_not_matching_expected_digest_is_refused_and_not_stored() {
        let (_d, s) = store();
        let want = Digest::of(b"good");
        let err = s
            .write_bytes(b"evil", Some(&want), "registry/x")
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&want.to_string()) && msg.contains("registry/x"),
            "{msg}"
        );
        assert!(!s.contains(&want) && !s.contains(&Digest::of(b"evil")));
        assert_eq!(fs::read_dir(s.root().join("ingest")).unwrap().count(), 0);
    }

    #[test]
    fn blob_with_wrong_size_is_refused() {
        let (_d, s) = store();
        let err = s.write_from(&b"abc"[..], None, Some(4), "f").unwrap_err();
        assert!(matches!(err, ContentError::SizeMismatch { .. }), "{err}");
    }

    #[test]
    fn uncommitted_writer_leaves_nothing_behind() {
        let (_d, s) = store();
        let mut w = s.writer(None, None, "t").unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert!(s.list().unwrap().is_empty());
        assert_eq!(fs::read_dir(s.root().join("ingest")).unwrap().count(), 0);
    }

    #[test]
    fn same_blob_written_twice_concurrently_both_succeed() {
        let (_d, s) = store();
        let data = vec![7u8; 1 << 20];
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                let data = data.clone();
                std::thread::spawn(move || s.write_bytes(&data, None, "t").unwrap())
            })
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), Digest::of(&data));
        }
        assert_eq!(s.read(&Digest::of(&data)).unwrap(), data);
    }

    #[test]
    fn corrupted_blob_on_disk_is_detected_on_read() {
        let (_d, s) = store();
        let dg = s.write_bytes(b"original", None, "t").unwrap();
        let p = s.path(&dg);
        let mut perms = fs::metadata(&p).unwrap().permissions();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&p, perms).unwrap();
        fs::write(&p, b"tampered").unwrap();
        assert!(matches!(s.read(&dg), Err(ContentError::Corrupt { .. })));
        let mut r = s.open_blob(&dg).unwrap();
        let mut buf = Vec::new();
        let e = r.read_to_end(&mut buf).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    }

    #[test]
    fn missing_blob_is_not_found() {
        let (_d, s) = store();
        let dg = Digest::of(b"nope");
        assert!(matches!(s.read(&dg), Err(ContentError::NotFound(_))));
        assert!(matches!(s.open_blob(&dg), Err(ContentError::NotFound(_))));
    }
}
