//! The image index of a multi-platform build: one entry per platform's
//! image manifest, each with its `platform` set, stored in the content store
//! like the manifests it points at.
//!
//! With OCI media types it is an OCI image index; with Docker's it is a
//! Docker manifest list (as BuildKit writes with `oci-mediatypes=false`).

use std::collections::BTreeMap;

use hoist_frontend::graph::Platform;
use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::digest::Digest;

use super::{AssembledImage, ImageBuildError};
use crate::source::image::manifest::{
    DOCKER_MANIFEST_LIST, Descriptor, ImageIndex, ImageManifest, OCI_INDEX,
};

/// An index whose manifests and blobs are all in the content store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssembledIndex {
    pub index: ImageIndex,
    pub bytes: Vec<u8>,
    pub digest: Digest,
    /// Each platform's image, in index order.
    pub images: Vec<(Platform, AssembledImage)>,
}

impl AssembledIndex {
    /// A descriptor of the index (what a store or layout entry points at).
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self
                .index
                .media_type
                .clone()
                .unwrap_or_else(|| OCI_INDEX.to_string()),
            digest: self.digest.clone(),
            size: self.bytes.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        }
    }

    /// Each entry of the index with its parsed manifest.
    pub fn children(&self) -> Vec<(Descriptor, ImageManifest)> {
        self.index
            .manifests
            .iter()
            .cloned()
            .zip(self.images.iter().map(|(_, i)| i.manifest.clone()))
            .collect()
    }
}

/// Writes the index of `images` (each a platform's assembled image) to
/// `content`. `oci`: OCI index (true) or Docker manifest list (false);
/// `annotations` are the index's own (`index:` level of `--annotation`).
pub fn assemble_index(
    content: &ContentStore,
    images: Vec<(Platform, AssembledImage)>,
    oci: bool,
    annotations: BTreeMap<String, String>,
) -> Result<AssembledIndex, ImageBuildError> {
    let manifests = images
        .iter()
        .map(|(platform, image)| {
            let mut d = image.manifest_descriptor();
            d.platform = Some(platform.clone());
            d
        })
        .collect();
    let index = ImageIndex {
        schema_version: 2,
        media_type: Some(if oci { OCI_INDEX } else { DOCKER_MANIFEST_LIST }.to_string()),
        manifests,
        annotations,
    };
    let bytes = serde_json::to_vec(&index).map_err(|source| ImageBuildError::Json {
        what: "index",
        source,
    })?;
    let digest = content
        .write_bytes(&bytes, None, "image index")
        .map_err(|source| ImageBuildError::Store {
            what: "index",
            source,
        })?;
    Ok(AssembledIndex {
        index,
        bytes,
        digest,
        images,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::image::manifest::{ManifestDocument, OCI_MANIFEST};

    fn image(n: &[u8]) -> AssembledImage {
        let d = Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: Digest::of(n),
            size: n.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        };
        AssembledImage {
            manifest: ImageManifest {
                schema_version: 2,
                media_type: Some(OCI_MANIFEST.into()),
                config: d.clone(),
                layers: vec![],
                annotations: BTreeMap::new(),
            },
            manifest_bytes: n.to_vec(),
            manifest_digest: Digest::of(n),
            config: Default::default(),
            config_digest: Digest::of(n),
        }
    }

    #[test]
    fn index_entries_carry_each_platform_and_the_index_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let content = ContentStore::open(dir.path()).unwrap();
        let amd: Platform = "linux/amd64".parse().unwrap();
        let arm: Platform = "linux/arm/v7".parse().unwrap();
        let idx = assemble_index(
            &content,
            vec![(amd.clone(), image(b"a")), (arm.clone(), image(b"b"))],
            true,
            BTreeMap::new(),
        )
        .unwrap();
        let stored = content.read(&idx.digest).unwrap();
        let ManifestDocument::Index(parsed) =
            ManifestDocument::parse(&stored, &idx.digest, None).unwrap()
        else {
            panic!("not an index")
        };
        assert_eq!(parsed.media_type.as_deref(), Some(OCI_INDEX));
        assert_eq!(parsed.platforms(), vec![amd, arm.clone()]);
        assert_eq!(parsed.select(&arm).unwrap().digest, Digest::of(b"b"));
        assert_eq!(idx.children().len(), 2);
    }
}
