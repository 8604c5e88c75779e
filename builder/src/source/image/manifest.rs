//! Image manifests, image indexes (Docker manifest lists) and descriptors, in
//! both the OCI and the Docker schema 2 media types, plus choosing one
//! manifest of an index for a platform.
//!
//! Own serde structs rather than oci-spec's: maps are `BTreeMap` so that
//! serialising gives one byte sequence (and one digest), digests are
//! hoist's [`Digest`], and Docker's media types are first-class.

use std::collections::BTreeMap;

use hoist_snapshotter::digest::Digest;
use serde::{Deserialize, Serialize};

use super::platform::Platform;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const DOCKER_LAYER_FOREIGN_GZIP: &str =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

/// The annotation naming a manifest's tag in an OCI layout's `index.json`.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd's (and `docker save`'s) full image name annotation.
pub const ANNOTATION_IMAGE_NAME: &str = "io.containerd.image.name";

/// Every manifest media type hoist can read (the `Accept` list of a pull).
pub const MANIFEST_MEDIA_TYPES: &[&str] = &[
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

/// A pointer to a blob: what it is, its digest and its size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Descriptor {
    #[serde(rename = "mediaType")]
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
}

/// An image manifest (OCI or Docker schema 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageManifest {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageIndex {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType", default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A manifest document of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManifestDocument {
    Image(ImageManifest),
    Index(ImageIndex),
}

/// A manifest that cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("manifest {digest} is not valid JSON of a known kind: {source}")]
    Parse {
        digest: Digest,
        #[source]
        source: serde_json::Error,
    },
    #[error("manifest {digest} has media type {media_type:?}, which hoist cannot read")]
    UnsupportedMediaType { digest: Digest, media_type: String },
    #[error("manifest {digest} has schema version {version}; only version 2 is supported")]
    SchemaVersion { digest: Digest, version: u32 },
}

#[derive(Deserialize)]
struct Probe {
    #[serde(rename = "schemaVersion", default)]
    schema_version: u32,
    #[serde(rename = "mediaType", default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
}

impl ManifestDocument {
    /// Parses `bytes` (whose digest is `digest`, for errors), using the media
    /// type the registry or descriptor gave when the document has none.
    pub fn parse(
        bytes: &[u8],
        digest: &Digest,
        outer_media_type: Option<&str>,
    ) -> Result<ManifestDocument, ManifestError> {
        let parse_err = |source| ManifestError::Parse {
            digest: digest.clone(),
            source,
        };
        let probe: Probe = serde_json::from_slice(bytes).map_err(parse_err)?;
        if probe.schema_version != 2 {
            return Err(ManifestError::SchemaVersion {
                digest: digest.clone(),
                version: probe.schema_version,
            });
        }
        let media_type = probe.media_type.as_deref().or(outer_media_type);
        let is_index = match media_type {
            Some(OCI_INDEX | DOCKER_MANIFEST_LIST) => true,
            Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
            None => probe.manifests.is_some(),
            Some(other) if outer_media_type.is_none() || probe.media_type.is_some() => {
                return Err(ManifestError::UnsupportedMediaType {
                    digest: digest.clone(),
                    media_type: other.to_string(),
                });
            }
            Some(_) => probe.manifests.is_some(),
        };
        if is_index {
            serde_json::from_slice(bytes)
                .map(ManifestDocument::Index)
                .map_err(parse_err)
        } else {
            serde_json::from_slice(bytes)
                .map(ManifestDocument::Image)
                .map_err(parse_err)
        }
    }
}

impl ImageManifest {
    /// The manifest's own media type (OCI when absent).
    pub fn media_type(&self) -> &str {
        self.media_type.as_deref().unwrap_or(OCI_MANIFEST)
    }
}

impl ImageIndex {
    /// The platforms of the index's image entries (attestations and entries
    /// without a platform left out), in index order.
    pub fn platforms(&self) -> Vec<Platform> {
        self.manifests
            .iter()
            .filter_map(|d| d.platform.clone().map(Platform::normalized))
            .filter(|p| p.os != "unknown" && p.architecture != "unknown")
            .collect()
    }

    /// The entry for `platform`: the first exact match (variant included),
    /// else the first entry matching os and architecture.
    pub fn select(&self, platform: &Platform) -> Option<&Descriptor> {
        let want = platform.clone().normalized();
        let candidates = self.manifests.iter().filter(|d| {
            d.platform.as_ref().is_some_and(|p| want.matches(p))
                && d.annotations
                    .get("vnd.docker.reference.type")
                    .is_none_or(|t| t != "attestation-manifest")
        });
        let mut first = None;
        for d in candidates {
            let exact = d
                .platform
                .as_ref()
                .is_some_and(|p| p.clone().normalized() == want);
            if exact {
                return Some(d);
            }
            first.get_or_insert(d);
        }
        first
    }
}

/// Whether a layer media type is gzip-compressed (Docker's and OCI's names).
pub fn layer_is_gzip(media_type: &str) -> bool {
    matches!(
        media_type,
        OCI_LAYER_GZIP | DOCKER_LAYER_GZIP | DOCKER_LAYER_FOREIGN_GZIP
    ) || media_type.ends_with("+gzip")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(platform: &str, n: u8) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: Digest::of(&[n]),
            size: 1,
            platform: Some(platform.parse().unwrap()),
            annotations: BTreeMap::new(),
            urls: vec![],
        }
    }

    #[test]
    fn index_selects_the_requested_platform_preferring_exact_variant() {
        let index = ImageIndex {
            schema_version: 2,
            media_type: Some(OCI_INDEX.into()),
            manifests: vec![
                entry("linux/arm/v6", 1),
                entry("linux/arm/v7", 2),
                entry("linux/amd64", 3),
            ],
            annotations: BTreeMap::new(),
        };
        let pick = |p: &str| index.select(&p.parse().unwrap()).map(|d| d.digest.clone());
        assert_eq!(pick("linux/amd64"), Some(Digest::of(&[3])));
        assert_eq!(pick("linux/arm/v7"), Some(Digest::of(&[2])));
        assert_eq!(pick("linux/arm"), Some(Digest::of(&[1])));
        assert_eq!(pick("linux/s390x"), None);
        assert_eq!(index.platforms().len(), 3);
    }

    #[test]
    fn parse_tells_index_from_manifest_with_or_without_media_type() {
        let d = Digest::of(b"x");
        let index = br#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            ManifestDocument::parse(index, &d, None).unwrap(),
            ManifestDocument::Index(_)
        ));
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{DOCKER_CONFIG}","digest":"{d}","size":1}},"layers":[]}}"#
        );
        match ManifestDocument::parse(manifest.as_bytes(), &d, None).unwrap() {
            ManifestDocument::Image(m) => assert_eq!(m.media_type(), DOCKER_MANIFEST),
            other => panic!("{other:?}"),
        }
        let v1 = br#"{"schemaVersion":1,"name":"x"}"#;
        assert!(matches!(
            ManifestDocument::parse(v1, &d, None),
            Err(ManifestError::SchemaVersion { version: 1, .. })
        ));
    }
}
