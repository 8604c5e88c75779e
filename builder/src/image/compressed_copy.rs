//! An image from hoist's local store made ready for a registry: its plain
//! (uncompressed) layers compressed.
//!
//! The local store keeps the layers a build made as plain tars, the way
//! dockerd keeps built layers unpacked: storing an image then costs one
//! pass of hashing, not a compression nobody asked for (gzip of a 300 MB
//! layer is seconds; see bench/RESULTS.md). What leaves the machine through
//! `hoist push` is compressed, as `docker push` does: each plain layer is
//! compressed once (gzip on both cores), memoised per (blob, encoding) in
//! the layer records directory, and the manifest is rewritten with the new
//! descriptors. The config is untouched (diff_ids are of the uncompressed
//! tars), so the image id stays the same. An index is converted child by
//! child. Layers already compressed, foreign layers and manifests with no
//! plain layer are kept as they are, so the result of an image that needs
//! nothing is the image itself.

use std::path::{Path, PathBuf};

use hoist_snapshotter::content::{ContentError, ContentStore};
use hoist_snapshotter::digest::Digest;
use hoist_snapshotter::layer::compress::Encoding;

use super::layer_blob::{
    LayerBlob, RecompressError, media_type_for, read_record, recompress, write_record,
};
use crate::source::image::manifest::{
    DOCKER_LAYER_TAR, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST, ManifestDocument, ManifestError,
    OCI_LAYER_TAR,
};

/// Why an image could not be converted; each names the blob.
#[derive(Debug, thiserror::Error)]
pub enum CompressedCopyError {
    #[error("reading {digest} from the content store: {source}")]
    Content {
        digest: Digest,
        #[source]
        source: ContentError,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("compressing layer {digest}: {message}")]
    Layer { digest: Digest, message: String },
    #[error("serialising the converted manifest of {digest}: {source}")]
    Json {
        digest: Digest,
        #[source]
        source: serde_json::Error,
    },
}

/// The digest of `digest` (a manifest or an index in `content`) with every
/// plain layer compressed with `encoding`; `digest` itself when nothing
/// needed it. `records` is the memo directory (`ROOT/cache/layers`).
pub fn with_compressed_layers(
    content: &ContentStore,
    records: &Path,
    digest: &Digest,
    encoding: Encoding,
) -> Result<Digest, CompressedCopyError> {
    let bytes = content
        .read(digest)
        .map_err(|source| CompressedCopyError::Content {
            digest: digest.clone(),
            source,
        })?;
    let json_err = |source| CompressedCopyError::Json {
        digest: digest.clone(),
        source,
    };
    let new_bytes = match ManifestDocument::parse(&bytes, digest, None)? {
        ManifestDocument::Image(mut manifest) => {
            let docker = manifest.media_type.as_deref() == Some(DOCKER_MANIFEST);
            let mut changed = false;
            for layer in &mut manifest.layers {
                if layer.media_type != OCI_LAYER_TAR && layer.media_type != DOCKER_LAYER_TAR {
                    continue;
                }
                let blob = compressed_blob(content, records, &layer.digest, encoding)?;
                layer.media_type = media_type_for(&blob.media_type, !docker);
                layer.digest = blob.digest;
                layer.size = blob.size;
                changed = true;
            }
            if !changed {
                return Ok(digest.clone());
            }
            serde_json::to_vec(&manifest).map_err(json_err)?
        }
        ManifestDocument::Index(mut index) => {
            let mut changed = false;
            for child in &mut index.manifests {
                let is_index = child.media_type == DOCKER_MANIFEST_LIST
                    || child.media_type.ends_with("image.index.v1+json");
                if is_index || !content.contains(&child.digest) {
                    continue; // nested indexes are not built by hoist
                }
                let new = with_compressed_layers(content, records, &child.digest, encoding)?;
                if new != child.digest {
                    child.size = content.size(&new).unwrap_or(child.size);
                    child.digest = new;
                    changed = true;
                }
            }
            if !changed {
                return Ok(digest.clone());
            }
            serde_json::to_vec(&index).map_err(json_err)?
        }
    };
    content
        .write_bytes(&new_bytes, None, "converted manifest")
        .map_err(|source| CompressedCopyError::Content {
            digest: digest.clone(),
            source,
        })
}

/// The blob of the plain layer `digest` compressed with `encoding`,
/// memoised.
fn compressed_blob(
    content: &ContentStore,
    records: &Path,
    digest: &Digest,
    encoding: Encoding,
) -> Result<LayerBlob, CompressedCopyError> {
    let record = record_path(records, digest, encoding);
    if let Some(hit) = read_record(&record)
        && content.contains(&hit.digest)
    {
        return Ok(hit);
    }
    let blob = recompress(content, digest, encoding).map_err(|e| CompressedCopyError::Layer {
        digest: digest.clone(),
        message: match e {
            RecompressError::Io(e) => e.to_string(),
            RecompressError::Content(e) => e.to_string(),
            RecompressError::Write(e) => e.to_string(),
        },
    })?;
    // The memo is an optimisation: failing to write it is not an error.
    let _ = write_record(&record, &blob);
    Ok(blob)
}

/// Beside the records of the layer ids (`ROOT/cache/layers/<hex>/`), under
/// the plain blob's digest, with a name of its own.
fn record_path(dir: &Path, blob: &Digest, encoding: Encoding) -> PathBuf {
    dir.join(blob.hex()).join(format!(
        "from-blob-{}-{}.json",
        encoding.codec, encoding.level
    ))
}
