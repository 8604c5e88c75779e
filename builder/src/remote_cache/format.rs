//! The cache artifact: typed structs for the cache config (records and the
//! layers they are made of), and the OCI manifest that carries it. The
//! format is documented for users in `docs/cache-format.md`.
//!
//! Every map is a `BTreeMap` and every struct serialises its fields in
//! declaration order, so equal caches give byte-equal JSON and equal digests.

use std::collections::BTreeMap;

use hoist_snapshotter::digest::Digest;
use hoist_snapshotter::layer::compress::Encoding;
use hoist_snapshotter::layer::compression::Compression as Codec;
use serde::{Deserialize, Serialize};

use crate::build::LayerRef;
use crate::build::result::BlobRef;
use crate::solver::cache::CacheKey;
use crate::source::image::manifest::{Descriptor, ImageManifest, OCI_MANIFEST};

/// Media type of the cache config blob.
pub const CACHE_CONFIG_MEDIA_TYPE: &str = "application/vnd.hoist.cache.config.v1+json";
/// Manifest annotation holding an inline cache config (compact JSON).
pub const INLINE_ANNOTATION: &str = "dev.hoist.cache.v1";
/// The `version` this code writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// What a cache holds: records by cache key, and the layers they name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheConfig {
    pub version: u32,
    /// `SOURCE_DATE_EPOCH` the built layers' blobs were written with.
    #[serde(default)]
    pub source_date_epoch: Option<i64>,
    /// Layers by id (the directory name a build gave it: the step's cache
    /// key for built layers, the diff_id for base-image layers).
    pub layers: BTreeMap<Digest, CacheLayer>,
    /// Step results by cache key.
    pub records: BTreeMap<CacheKey, CacheRecord>,
    /// `RUN --mount=type=cache` contents by cache id, as tar blobs
    /// (`--cache-to ...,cache-mounts=true`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cache_mounts: BTreeMap<String, CacheBlob>,
}

/// One layer of the cache. A layer without a blob changes nothing (a step
/// that wrote no files); importing it makes an empty directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheLayer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blob: Option<CacheBlob>,
}

/// A layer blob: descriptor fields plus the diff_id and, for built layers,
/// the compression level it was written with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheBlob {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    pub diff_id: Digest,
    /// gzip/zstd level of a layer written by a build; absent for base-image
    /// layers (kept as their registry sent them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub level: Option<i32>,
}

/// The result of one step: its whole layer chain, bottom first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheRecord {
    /// Layer ids (keys of [`CacheConfig::layers`]), bottom first.
    pub layers: Vec<Digest>,
    /// Cache keys of the step's inputs, in input order (informational:
    /// hits are decided by key alone).
    #[serde(default)]
    pub parents: Vec<CacheKey>,
    /// The step's display name, for people reading the cache.
    #[serde(default)]
    pub name: String,
}

/// Why a cache config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("the cache config is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(
        "cache format version {0} is not supported (this hoist reads version {FORMAT_VERSION})"
    )]
    Version(u32),
    #[error("record {key} names layer {layer}, which the cache does not describe")]
    UnknownLayer { key: CacheKey, layer: Digest },
    #[error("blob {digest} has media type {media_type:?}, which is not a tar layer")]
    MediaType { digest: Digest, media_type: String },
}

impl CacheConfig {
    pub fn new(source_date_epoch: Option<i64>) -> CacheConfig {
        CacheConfig {
            version: FORMAT_VERSION,
            source_date_epoch,
            ..CacheConfig::default()
        }
    }

    /// Parses and checks a cache config (version, every layer described).
    pub fn parse(bytes: &[u8]) -> Result<CacheConfig, FormatError> {
        let config: CacheConfig = serde_json::from_slice(bytes)?;
        if config.version != FORMAT_VERSION {
            return Err(FormatError::Version(config.version));
        }
        if let Some(b) = config
            .blobs()
            .into_iter()
            .find(|b| Codec::from_media_type(&b.media_type).is_err())
        {
            return Err(FormatError::MediaType {
                digest: b.digest.clone(),
                media_type: b.media_type.clone(),
            });
        }
        for (key, record) in &config.records {
            if let Some(layer) = record
                .layers
                .iter()
                .find(|l| !config.layers.contains_key(l))
            {
                return Err(FormatError::UnknownLayer {
                    key: key.clone(),
                    layer: layer.clone(),
                });
            }
        }
        Ok(config)
    }

    /// Compact JSON (stable: BTreeMaps and declaration order).
    pub fn to_json(&self) -> Vec<u8> {
        // Typed structs with string keys: serialising cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The layer chain of `record` as a build's layer references.
    pub fn layer_refs(&self, record: &CacheRecord) -> Vec<LayerRef> {
        record
            .layers
            .iter()
            .map(|id| {
                let blob = self.layers.get(id).and_then(|l| l.blob.as_ref());
                LayerRef {
                    id: id.clone(),
                    diff_id: blob.map(|b| b.diff_id.clone()),
                    blob: blob.map(|b| BlobRef {
                        digest: b.digest.clone(),
                        size: b.size,
                        media_type: b.media_type.clone(),
                    }),
                }
            })
            .collect()
    }

    /// Every distinct blob, in layer-id order.
    pub fn blobs(&self) -> Vec<&CacheBlob> {
        let mut seen = std::collections::BTreeSet::new();
        self.layers
            .values()
            .filter_map(|l| l.blob.as_ref())
            .chain(self.cache_mounts.values())
            .filter(|b| seen.insert(b.digest.clone()))
            .collect()
    }

    /// The manifest carrying this config (stored as `config_digest`, of
    /// `config_size` bytes): an OCI image manifest whose layers are every
    /// blob, so registries keep them alive.
    pub fn manifest(&self, config_digest: &Digest, config_size: u64) -> ImageManifest {
        ImageManifest {
            schema_version: 2,
            media_type: Some(OCI_MANIFEST.to_string()),
            config: descriptor(CACHE_CONFIG_MEDIA_TYPE, config_digest, config_size),
            layers: self
                .blobs()
                .into_iter()
                .map(|b| descriptor(&b.media_type, &b.digest, b.size))
                .collect(),
            annotations: BTreeMap::new(),
        }
    }
}

impl CacheBlob {
    /// The encoding a built layer's blob was written with (`None` for a
    /// base-image layer or an unknown media type).
    pub fn encoding(&self) -> Option<Encoding> {
        let level = self.level?;
        match Codec::from_media_type(&self.media_type).ok()? {
            Codec::Gzip => Some(Encoding::gzip(level.max(0) as u32)),
            Codec::Zstd => Some(Encoding::zstd(level)),
            Codec::None => Some(Encoding::none()),
        }
    }
}

/// A descriptor without platform, annotations or URLs.
pub fn descriptor(media_type: &str, digest: &Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest: digest.clone(),
        size,
        platform: None,
        annotations: BTreeMap::new(),
        urls: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CacheConfig {
        let mut c = CacheConfig::new(Some(0));
        let base = Digest::of(b"base");
        let built = Digest::of(b"built");
        c.layers.insert(
            base.clone(),
            CacheLayer {
                blob: Some(CacheBlob {
                    digest: Digest::of(b"blob1"),
                    size: 3,
                    media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
                    diff_id: base.clone(),
                    level: None,
                }),
            },
        );
        c.layers.insert(built.clone(), CacheLayer { blob: None });
        c.records.insert(
            CacheKey::compute("op", &[], None),
            CacheRecord {
                layers: vec![base, built],
                parents: vec![],
                name: "RUN x".into(),
            },
        );
        c
    }

    #[test]
    fn cache_config_round_trips_byte_for_byte() {
        let c = sample();
        let bytes = c.to_json();
        let back = CacheConfig::parse(&bytes).unwrap();
        assert_eq!(back, c);
        assert_eq!(back.to_json(), bytes);
        let refs = c.layer_refs(c.records.values().next().unwrap());
        assert_eq!(refs.len(), 2);
        assert!(refs[0].blob.is_some() && refs[1].blob.is_none());
    }

    #[test]
    fn cache_config_with_unknown_layers_or_version_is_refused() {
        let mut c = sample();
        c.version = 7;
        assert!(matches!(
            CacheConfig::parse(&c.to_json()),
            Err(FormatError::Version(7))
        ));
        let mut c = sample();
        c.layers.clear();
        assert!(matches!(
            CacheConfig::parse(&c.to_json()),
            Err(FormatError::UnknownLayer { .. })
        ));
        assert!(CacheConfig::parse(b"{not json").is_err());
        let mut c = sample();
        for l in c.layers.values_mut() {
            if let Some(b) = &mut l.blob {
                b.media_type = "text/plain".into();
            }
        }
        assert!(matches!(
            CacheConfig::parse(&c.to_json()),
            Err(FormatError::MediaType { .. })
        ));
    }

    #[test]
    fn cache_manifest_lists_every_blob_once() {
        let c = sample();
        let m = c.manifest(&Digest::of(b"cfg"), 10);
        assert_eq!(m.config.media_type, CACHE_CONFIG_MEDIA_TYPE);
        assert_eq!(m.layers.len(), 1);
    }
}
