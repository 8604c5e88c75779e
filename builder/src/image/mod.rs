//! Assembling the image of a build result: layer blobs, the config blob and
//! the image manifest, all stored in the content store.
//!
//! ```text
//! Vec<LayerRef> ──layer_blob──▶ (diff_id, blob) per non-empty layer
//! ImageConfig   ──history::align──▶ config (rootfs.diff_ids, created) ──▶ manifest
//! ```
//!
//! - [`layer_blob`]: one layer's blob (reused, compressed from its directory
//!   or recompressed from another blob), memoised per encoding.
//! - [`index`]: the image index of a multi-platform build.
//! - [`history`]: matching history entries to layers, timestamps.
//! - [`compressed_copy`]: a stored image with plain layers made ready for a
//!   registry (its plain layers compressed).
//!
//! The image id is the config digest; the manifest digest is what BuildKit
//! reports as `containerimage.digest`. Everything is serialised from typed
//! structs whose maps are `BTreeMap`, so equal inputs give equal digests.

pub mod compressed_copy;
pub mod history;
pub mod index;
pub mod layer_blob;

use std::collections::BTreeMap;
use std::path::Path;

use hoist_frontend::graph::ImageConfig;
use hoist_snapshotter::content::{ContentError, ContentStore};
use hoist_snapshotter::digest::Digest;
use hoist_snapshotter::layer::compress::Encoding;
use hoist_snapshotter::snapshot::SnapshotStore;

use crate::build::LayerRef;
use crate::export::spec::Compression;
use crate::source::image::manifest::{
    DOCKER_CONFIG, DOCKER_MANIFEST, Descriptor, ImageManifest, OCI_CONFIG, OCI_MANIFEST,
};

pub use layer_blob::LayerBlobError;

/// How the image is assembled (from an output's options).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImageOptions {
    /// `compression=`; `None`: gzip, and base-image blobs kept as they are.
    pub compression: Option<Compression>,
    /// `compression-level=`; `None`: the codec's default (gzip 6, zstd 3).
    pub compression_level: Option<u32>,
    /// `force-compression=true`: recompress base-image blobs of another codec.
    pub force_compression: bool,
    /// OCI media types (true) or Docker's (false).
    pub oci_mediatypes: bool,
    /// Manifest annotations.
    pub annotations: BTreeMap<String, String>,
    /// `SOURCE_DATE_EPOCH`: file times clamped, `created` fixed.
    pub source_date_epoch: Option<i64>,
    /// `rewrite-timestamp=true`: base-image layers too are rewritten with
    /// file times clamped to `source_date_epoch` (they must be unpacked).
    pub rewrite_timestamp: bool,
    /// New layers are written as plain tars when no `compression=` was
    /// asked: the local store's way (dockerd too keeps built layers
    /// uncompressed); `hoist push` compresses them (see [`compressed_copy`]).
    pub plain_new_layers: bool,
}

impl ImageOptions {
    /// The encoding of newly written layers.
    pub fn encoding(&self) -> Encoding {
        let default = if self.plain_new_layers {
            Compression::Uncompressed
        } else {
            Compression::Gzip
        };
        match self.compression.unwrap_or(default) {
            Compression::Gzip => Encoding::gzip(self.compression_level.unwrap_or(6)),
            Compression::Zstd => Encoding::zstd(self.compression_level.unwrap_or(3) as i32),
            Compression::Uncompressed => Encoding::none(),
        }
    }
}

/// An image whose blobs are all in the content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledImage {
    pub manifest: ImageManifest,
    pub manifest_bytes: Vec<u8>,
    pub manifest_digest: Digest,
    pub config: ImageConfig,
    pub config_digest: Digest,
}

impl AssembledImage {
    /// The image id: the config digest.
    pub fn id(&self) -> &Digest {
        &self.config_digest
    }

    /// A descriptor of the manifest (what an index entry points at).
    pub fn manifest_descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.manifest.media_type().to_string(),
            digest: self.manifest_digest.clone(),
            size: self.manifest_bytes.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        }
    }
}

/// Why an image could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum ImageBuildError {
    #[error(transparent)]
    Layer(#[from] LayerBlobError),
    #[error("storing the image {what}: {source}")]
    Store {
        what: &'static str,
        #[source]
        source: ContentError,
    },
    #[error("serialising the image {what}: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

/// Told a layer's id and the uncompressed bytes written so far.
pub type LayerObserver<'a> = dyn Fn(&Digest, u64) + Sync + 'a;

/// Where layers come from and go to.
#[derive(Clone, Copy)]
pub struct LayerSources<'a> {
    pub content: &'a ContentStore,
    pub snapshots: &'a SnapshotStore,
    /// Directory of the memo records of compressed layers (`ROOT/cache/layers`).
    pub records: &'a Path,
    /// Told, while a layer is written, its id and the uncompressed bytes
    /// written so far (for progress display).
    pub observe: Option<&'a LayerObserver<'a>>,
}

impl std::fmt::Debug for LayerSources<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LayerSources")
            .field("content", &self.content)
            .field("snapshots", &self.snapshots)
            .field("records", &self.records)
            .field("observe", &self.observe.is_some())
            .finish()
    }
}

/// Assembles the image of `layers` (bottom first) with `config` (the target
/// stage's config, history from the frontend) and stores every blob.
pub fn assemble(
    src: LayerSources<'_>,
    layers: &[LayerRef],
    config: &ImageConfig,
    opts: &ImageOptions,
) -> Result<AssembledImage, ImageBuildError> {
    let mut blobs = Vec::with_capacity(layers.len());
    for (i, layer) in layers.iter().enumerate() {
        let below: Vec<_> = layers[..i]
            .iter()
            .rev()
            .map(|l| src.snapshots.layer_path(&l.id))
            .filter(|p| p.is_dir())
            .collect();
        blobs.push(layer_blob::layer_blob(src, layer, &below, opts)?);
    }
    let empty: Vec<bool> = blobs.iter().map(Option::is_none).collect();
    let created = history::timestamp(opts.source_date_epoch);
    let mut config = config.clone();
    config.history = history::align(&config.history, &empty, &created);
    config.created = Some(created);
    config.rootfs.kind = "layers".to_string();
    config.rootfs.diff_ids = blobs
        .iter()
        .flatten()
        .map(|b| b.diff_id.to_string())
        .collect();
    let config_bytes = config.to_json().map_err(|source| ImageBuildError::Json {
        what: "config",
        source,
    })?;
    let config_digest = src
        .content
        .write_bytes(&config_bytes, None, "image config")
        .map_err(|source| ImageBuildError::Store {
            what: "config",
            source,
        })?;
    let oci = opts.oci_mediatypes;
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(if oci { OCI_MANIFEST } else { DOCKER_MANIFEST }.to_string()),
        config: Descriptor {
            media_type: if oci { OCI_CONFIG } else { DOCKER_CONFIG }.to_string(),
            digest: config_digest.clone(),
            size: config_bytes.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        },
        layers: blobs
            .iter()
            .flatten()
            .map(|b| Descriptor {
                media_type: layer_blob::media_type_for(&b.media_type, oci),
                digest: b.digest.clone(),
                size: b.size,
                platform: None,
                annotations: BTreeMap::new(),
                urls: Vec::new(),
            })
            .collect(),
        annotations: opts.annotations.clone(),
    };
    let manifest_bytes = serde_json::to_vec(&manifest).map_err(|source| ImageBuildError::Json {
        what: "manifest",
        source,
    })?;
    let manifest_digest = src
        .content
        .write_bytes(&manifest_bytes, None, "image manifest")
        .map_err(|source| ImageBuildError::Store {
            what: "manifest",
            source,
        })?;
    Ok(AssembledImage {
        manifest,
        manifest_bytes,
        manifest_digest,
        config,
        config_digest,
    })
}
