//! One layer's blob for an image: reused, compressed from the layer's
//! directory, or recompressed from another blob.
//!
//! - A base-image layer (it has a blob) keeps its blob unless
//!   `force-compression` is set or another codec was asked explicitly; then
//!   the blob is decompressed and compressed again.
//! - A layer a build made is a directory in overlay form in the snapshot
//!   store; it is written with `write_layer` (deterministic tar, clamped
//!   times with `SOURCE_DATE_EPOCH`). The result is memoised in a small JSON
//!   record per (layer id, encoding, epoch) under `ROOT/cache/layers/`, so a
//!   second export of the same layer does not compress it again.
//! - A built layer whose directory is empty (a step that changed nothing)
//!   has no blob: `None`.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use hoist_snapshotter::content::{ContentError, ContentStore};
use hoist_snapshotter::digest::{Digest, Digester};
use hoist_snapshotter::layer::compress::{
    Encoding, LayerWriteError, compress_into_store, write_layer_observed,
};
use hoist_snapshotter::layer::compression::{Compression as Codec, open_layer};
use hoist_snapshotter::layer::diff::{DiffOptions, DiffSource};
use serde::{Deserialize, Serialize};

use super::{ImageOptions, LayerSources};
use crate::build::LayerRef;
use crate::source::image::manifest::{
    DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, OCI_LAYER_GZIP, OCI_LAYER_TAR, OCI_LAYER_ZSTD,
};

/// A layer's blob in the content store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerBlob {
    pub diff_id: Digest,
    pub digest: Digest,
    pub size: u64,
    /// The OCI media type (see [`media_type_for`] for Docker's).
    pub media_type: String,
}

/// Why a layer blob could not be produced.
#[derive(Debug, thiserror::Error)]
pub enum LayerBlobError {
    #[error("layer {id}: its directory {path} is missing from the snapshot store")]
    Missing { id: Digest, path: PathBuf },
    #[error("layer {id}: reading {path}: {source}")]
    Io {
        id: Digest,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("layer {id}: {source}")]
    Write {
        id: Digest,
        #[source]
        source: LayerWriteError,
    },
    #[error("layer {id}: recompressing blob {blob}: {source}")]
    Recompress {
        id: Digest,
        blob: Digest,
        #[source]
        source: io::Error,
    },
    #[error("layer {id}: {source}")]
    Content {
        id: Digest,
        #[source]
        source: ContentError,
    },
}

/// The blob of `layer` for an image assembled with `opts`; `None` for an
/// empty layer a build made.
///
/// `below` are the unpacked directories of the layers under this one, top
/// first, as far as they are present (to tell an empty diff).
pub fn layer_blob(
    src: LayerSources<'_>,
    layer: &LayerRef,
    below: &[PathBuf],
    opts: &ImageOptions,
) -> Result<Option<LayerBlob>, LayerBlobError> {
    let encoding = opts.encoding();
    let rewrite = opts.rewrite_timestamp && opts.source_date_epoch.is_some();
    // Only base-image layers (named by their diff_id) keep their blob as it
    // is: a built layer with a blob (imported from a remote cache) is
    // exported like one this build wrote, through the memo below.
    let base = layer.diff_id.as_ref() == Some(&layer.id);
    if let Some(blob) = layer.blob.as_ref().filter(|_| !rewrite && base) {
        let codec = Codec::from_media_type(&blob.media_type).ok();
        let keep = match (opts.force_compression, opts.compression.is_some()) {
            (false, false) => true,
            _ => codec == Some(encoding.codec),
        };
        if let (true, Some(diff_id)) = (keep, &layer.diff_id) {
            return Ok(Some(LayerBlob {
                diff_id: diff_id.clone(),
                digest: blob.digest.clone(),
                size: blob.size,
                media_type: codec
                    .map(oci_media_type)
                    .unwrap_or(&blob.media_type)
                    .to_string(),
            }));
        }
    }
    let record = record_path(src.records, &layer.id, encoding, opts.source_date_epoch);
    if let Some(hit) = read_record(&record)
        && src.content.contains(&hit.digest)
    {
        return Ok(Some(hit));
    }
    let dir = src.snapshots.layer_path(&layer.id);
    let produced = if src.snapshots.has_layer(&layer.id) {
        let unchanged = changes_nothing(&dir, below).map_err(|source| LayerBlobError::Io {
            id: layer.id.clone(),
            path: dir.clone(),
            source,
        })?;
        if layer.blob.is_none() && unchanged {
            return Ok(None);
        }
        let observe = |bytes| {
            if let Some(f) = src.observe {
                f(&layer.id, bytes);
            }
        };
        let written = write_layer_observed(
            &DiffSource::OverlayUpper(dir),
            &DiffOptions {
                source_date_epoch: opts.source_date_epoch,
                exclude: Vec::new(),
            },
            encoding,
            src.content,
            &observe,
        )
        .map_err(|source| LayerBlobError::Write {
            id: layer.id.clone(),
            source,
        })?;
        LayerBlob {
            diff_id: written.diff_id,
            digest: written.digest,
            size: written.size,
            media_type: written.media_type.to_string(),
        }
    } else if let Some(blob) = &layer.blob {
        recompress(src.content, &blob.digest, encoding).map_err(|e| match e {
            RecompressError::Io(source) => LayerBlobError::Recompress {
                id: layer.id.clone(),
                blob: blob.digest.clone(),
                source,
            },
            RecompressError::Content(source) => LayerBlobError::Content {
                id: layer.id.clone(),
                source,
            },
            RecompressError::Write(source) => LayerBlobError::Write {
                id: layer.id.clone(),
                source,
            },
        })?
    } else {
        return Err(LayerBlobError::Missing {
            id: layer.id.clone(),
            path: dir,
        });
    };
    // The memo is an optimisation: failing to write it is not an error.
    let _ = write_record(&record, &produced);
    Ok(Some(produced))
}

/// Records that the built layer `id`, written with `encoding` and `epoch`,
/// is `blob` (a remote cache import does this, so that an export with the
/// same options reuses the imported blob instead of writing it again).
/// An existing memo is kept.
pub fn remember(
    records: &Path,
    id: &Digest,
    encoding: Encoding,
    epoch: Option<i64>,
    blob: &LayerBlob,
) -> io::Result<()> {
    let path = record_path(records, id, encoding, epoch);
    if path.exists() {
        return Ok(());
    }
    write_record(&path, blob)
}

/// Whether the layer directory `dir` (overlay form) changes nothing: it
/// holds only directories that exist below with the same mode, owner and
/// mtime, none of them opaque. (A RUN leaves such directories behind when
/// the sandbox's mount points were created in them and removed again.)
fn changes_nothing(dir: &Path, below: &[PathBuf]) -> io::Result<bool> {
    use std::os::unix::fs::MetadataExt;
    for entry in walkdir::WalkDir::new(dir).min_depth(1) {
        let entry = entry.map_err(io::Error::other)?;
        let meta = entry.metadata().map_err(io::Error::other)?;
        if !meta.is_dir() {
            return Ok(false);
        }
        if xattr::get(entry.path(), "trusted.overlay.opaque")?.is_some()
            || xattr::get(entry.path(), "user.overlay.opaque")?.is_some()
        {
            return Ok(false);
        }
        let Ok(rel) = entry.path().strip_prefix(dir) else {
            return Ok(false);
        };
        let lower = below
            .iter()
            .find_map(|b| fs::symlink_metadata(b.join(rel)).ok());
        let same = lower.is_some_and(|l| {
            l.is_dir()
                && l.mode() == meta.mode()
                && l.uid() == meta.uid()
                && l.gid() == meta.gid()
                && l.mtime() == meta.mtime()
        });
        if !same {
            return Ok(false);
        }
    }
    Ok(true)
}

/// The OCI layer media type of a codec.
fn oci_media_type(codec: Codec) -> &'static str {
    match codec {
        Codec::Gzip => OCI_LAYER_GZIP,
        Codec::Zstd => OCI_LAYER_ZSTD,
        Codec::None => OCI_LAYER_TAR,
    }
}

/// The media type of a layer in an image with OCI (`oci`) or Docker media
/// types. Docker has no zstd type; such layers keep the OCI one.
pub fn media_type_for(media_type: &str, oci: bool) -> String {
    let Ok(codec) = Codec::from_media_type(media_type) else {
        return media_type.to_string();
    };
    match (oci, codec) {
        (true, c) => oci_media_type(c),
        (false, Codec::Gzip) => DOCKER_LAYER_GZIP,
        (false, Codec::None) => DOCKER_LAYER_TAR,
        (false, Codec::Zstd) => OCI_LAYER_ZSTD,
    }
    .to_string()
}

fn record_path(dir: &Path, id: &Digest, encoding: Encoding, epoch: Option<i64>) -> PathBuf {
    let epoch = epoch.map_or_else(|| "none".to_string(), |e| e.to_string());
    dir.join(id.hex()).join(format!(
        "{}-{}-{epoch}.json",
        encoding.codec, encoding.level
    ))
}

/// A memo record, if it can be read.
pub(crate) fn read_record(path: &Path) -> Option<LayerBlob> {
    serde_json::from_slice(&fs::read(path).ok()?).ok()
}

/// Writes a memo record atomically (temp file, rename).
pub(crate) fn write_record(path: &Path, blob: &LayerBlob) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(&serde_json::to_vec(blob).map_err(io::Error::other)?)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub(crate) enum RecompressError {
    Io(io::Error),
    Content(ContentError),
    Write(LayerWriteError),
}

/// Hashes what is read through it (the uncompressed tar: the diff_id).
struct HashingReader<R> {
    inner: R,
    digester: Digester,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.digester.update(&buf[..n]);
        Ok(n)
    }
}

/// Decompresses the blob `digest` and compresses it again with `encoding`.
pub(crate) fn recompress(
    content: &ContentStore,
    digest: &Digest,
    encoding: Encoding,
) -> Result<LayerBlob, RecompressError> {
    let reader = content
        .open_blob(digest)
        .map_err(RecompressError::Content)?;
    let (_, tar) = open_layer(reader).map_err(RecompressError::Io)?;
    let mut tar = HashingReader {
        inner: tar,
        digester: Digester::new(),
    };
    let out = compress_into_store(&mut tar, encoding, content, "recompressed layer")
        .map_err(RecompressError::Write)?;
    let diff_id = tar.digester.finish();
    let (digest, size) = out.commit().map_err(RecompressError::Content)?;
    Ok(LayerBlob {
        diff_id,
        digest,
        size,
        media_type: encoding.media_type().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layer_of_unchanged_directories_changes_nothing() {
        let d = tempfile::tempdir().unwrap();
        let (lower, upper) = (d.path().join("lower"), d.path().join("upper"));
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        let t = filetime::FileTime::from_unix_time(1_000_000, 0);
        filetime::set_file_mtime(lower.join("etc"), t).unwrap();
        filetime::set_file_mtime(upper.join("etc"), t).unwrap();
        let below = [lower.clone()];
        assert!(changes_nothing(&upper, &below).unwrap());
        assert!(!changes_nothing(&d.path().join("lower"), &[]).unwrap());
        filetime::set_file_mtime(upper.join("etc"), filetime::FileTime::from_unix_time(5, 0))
            .unwrap();
        assert!(!changes_nothing(&upper, &below).unwrap());
        filetime::set_file_mtime(upper.join("etc"), t).unwrap();
        fs::write(upper.join("etc/new"), b"x").unwrap();
        filetime::set_file_mtime(upper.join("etc"), t).unwrap();
        assert!(!changes_nothing(&upper, &below).unwrap());
    }

    #[test]
    fn docker_media_types_follow_the_codec() {
        assert_eq!(media_type_for(OCI_LAYER_GZIP, false), DOCKER_LAYER_GZIP);
        assert_eq!(media_type_for(DOCKER_LAYER_GZIP, true), OCI_LAYER_GZIP);
        assert_eq!(media_type_for(OCI_LAYER_TAR, false), DOCKER_LAYER_TAR);
        assert_eq!(media_type_for(OCI_LAYER_ZSTD, false), OCI_LAYER_ZSTD);
    }
}
