//! OCI image layouts (`oci-layout` + `index.json` + `blobs/`), read from a
//! directory or from blobs an archive scan already put in the content store.
//!
//! Choosing the image: with a tag, the `index.json` entry whose
//! `org.opencontainers.image.ref.name` is that tag (or whose
//! `io.containerd.image.name` is that full name); without one, the only
//! entry. Nested indexes are followed down to the requested platform. Every
//! blob the image needs (indexes, manifest, config, layers) is copied into
//! the content store with its digest and size verified.

use std::fs::File;
use std::path::Path;

use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::digest::Digest;

use super::ImageError;
use super::manifest::{
    ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, Descriptor, ImageIndex, ManifestDocument,
};
use super::platform::Platform;
use crate::registry::Reference;

/// Where the blobs of a layout come from.
pub(crate) trait BlobProvider {
    /// Makes sure the blob of `descriptor` is in the store, verified.
    fn provide(&self, descriptor: &Descriptor) -> Result<(), ImageError>;
    /// Names the layout in errors.
    fn source_name(&self) -> &str;
}

/// Blobs in a layout directory's `blobs/<alg>/<hex>`.
pub(crate) struct LayoutDir<'a> {
    pub dir: &'a Path,
    pub store: &'a ContentStore,
    pub name: String,
}

impl BlobProvider for LayoutDir<'_> {
    fn provide(&self, d: &Descriptor) -> Result<(), ImageError> {
        if self.store.contains(&d.digest) {
            return Ok(());
        }
        let path = self
            .dir
            .join("blobs")
            .join(d.digest.algorithm())
            .join(d.digest.hex());
        let file = File::open(&path).map_err(|source| ImageError::Io {
            op: "open blob",
            path: path.clone(),
            source,
        })?;
        self.store
            .write_from(
                file,
                Some(&d.digest),
                Some(d.size),
                &path.display().to_string(),
            )
            .map_err(|source| ImageError::Store {
                source_name: self.name.clone(),
                digest: d.digest.clone(),
                source,
            })?;
        Ok(())
    }

    fn source_name(&self) -> &str {
        &self.name
    }
}

/// Blobs an archive scan imported already.
pub(crate) struct ImportedBlobs<'a> {
    pub store: &'a ContentStore,
    pub name: String,
}

impl BlobProvider for ImportedBlobs<'_> {
    fn provide(&self, d: &Descriptor) -> Result<(), ImageError> {
        match self.store.size(&d.digest) {
            Ok(size) if size == d.size => Ok(()),
            Ok(size) => Err(ImageError::Invalid {
                source_name: self.name.clone(),
                message: format!(
                    "blob {} has {size} bytes, its descriptor says {}",
                    d.digest, d.size
                ),
            }),
            Err(_) => Err(ImageError::BlobMissing {
                source_name: self.name.clone(),
                digest: d.digest.clone(),
            }),
        }
    }

    fn source_name(&self) -> &str {
        &self.name
    }
}

/// Reads `dir/index.json` after checking `dir/oci-layout`.
pub(crate) fn read_layout_dir(dir: &Path) -> Result<Vec<u8>, ImageError> {
    let marker = dir.join("oci-layout");
    let marker_bytes = std::fs::read(&marker).map_err(|source| ImageError::Io {
        op: "read",
        path: marker.clone(),
        source,
    })?;
    check_layout_marker(&marker_bytes, &dir.display().to_string())?;
    let index = dir.join("index.json");
    std::fs::read(&index).map_err(|source| ImageError::Io {
        op: "read",
        path: index,
        source,
    })
}

/// Checks the `oci-layout` file's version.
pub(crate) fn check_layout_marker(bytes: &[u8], source_name: &str) -> Result<(), ImageError> {
    #[derive(serde::Deserialize)]
    struct Marker {
        #[serde(rename = "imageLayoutVersion")]
        version: String,
    }
    match serde_json::from_slice::<Marker>(bytes) {
        Ok(m) if m.version.starts_with("1.") => Ok(()),
        Ok(m) => Err(ImageError::Invalid {
            source_name: source_name.to_string(),
            message: format!("unsupported imageLayoutVersion {:?}", m.version),
        }),
        Err(e) => Err(ImageError::Invalid {
            source_name: source_name.to_string(),
            message: format!("oci-layout is not valid: {e}"),
        }),
    }
}

/// How to pick the image out of a layout's `index.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selector<'a> {
    /// The only entry.
    Only,
    /// `org.opencontainers.image.ref.name` equal to this tag.
    Tag(&'a str),
    /// `io.containerd.image.name` naming this reference (docker save).
    Name(&'a Reference),
}

/// Resolves a layout's `index.json` to the digest of one image manifest for
/// `platform`, providing every blob on the way; then provides the manifest's
/// config and layers too.
pub(crate) fn resolve_index(
    index_bytes: &[u8],
    selector: &Selector<'_>,
    platform: &Platform,
    store: &ContentStore,
    provider: &dyn BlobProvider,
) -> Result<Digest, ImageError> {
    let name = provider.source_name().to_string();
    let index: ImageIndex =
        serde_json::from_slice(index_bytes).map_err(|e| ImageError::Invalid {
            source_name: name.clone(),
            message: format!("index.json is not a valid image index: {e}"),
        })?;
    let tags = || -> Vec<String> {
        index
            .manifests
            .iter()
            .filter_map(|d| {
                d.annotations
                    .get(ANNOTATION_IMAGE_NAME)
                    .or(d.annotations.get(ANNOTATION_REF_NAME))
                    .cloned()
            })
            .collect()
    };
    let entry = match selector {
        Selector::Only => match index.manifests.as_slice() {
            [only] => only,
            _ => {
                return Err(ImageError::Invalid {
                    source_name: name,
                    message: format!(
                        "it holds {} images; name one by tag (tags: {})",
                        index.manifests.len(),
                        tags().join(", ")
                    ),
                });
            }
        },
        Selector::Tag(tag) => index
            .manifests
            .iter()
            .find(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == Some(tag))
            .ok_or_else(|| ImageError::TagNotFound {
                source_name: name.clone(),
                tag: tag.to_string(),
                available: tags(),
            })?,
        Selector::Name(reference) => index
            .manifests
            .iter()
            .find(|d| {
                d.annotations
                    .get(ANNOTATION_IMAGE_NAME)
                    .and_then(|n| Reference::parse(n).ok())
                    .is_some_and(|r| &r == *reference)
            })
            .ok_or_else(|| ImageError::TagNotFound {
                source_name: name.clone(),
                tag: reference.to_string(),
                available: tags(),
            })?,
    };
    let mut current = entry.clone();
    // Follow nested indexes; a handful of levels is plenty.
    for _ in 0..8 {
        provider.provide(&current)?;
        let bytes = store
            .read(&current.digest)
            .map_err(|source| ImageError::Store {
                source_name: name.clone(),
                digest: current.digest.clone(),
                source,
            })?;
        match ManifestDocument::parse(&bytes, &current.digest, Some(&current.media_type))? {
            ManifestDocument::Image(manifest) => {
                provider.provide(&manifest.config)?;
                for layer in &manifest.layers {
                    provider.provide(layer)?;
                }
                return Ok(current.digest);
            }
            ManifestDocument::Index(nested) => {
                current = nested
                    .select(platform)
                    .ok_or_else(|| ImageError::PlatformMissing {
                        source_name: name.clone(),
                        wanted: platform.clone(),
                        available: nested.platforms(),
                    })?
                    .clone();
            }
        }
    }
    Err(ImageError::Invalid {
        source_name: name,
        message: "image indexes nested too deeply".to_string(),
    })
}

/// Resolves the image `tag` (or the only image) of the layout directory
/// `dir` for `platform`, copying its blobs into `store`. Returns the
/// manifest digest.
pub(crate) fn import_layout_dir(
    dir: &Path,
    tag: Option<&str>,
    platform: &Platform,
    store: &ContentStore,
    source_name: String,
) -> Result<Digest, ImageError> {
    let index = read_layout_dir(dir)?;
    let provider = LayoutDir {
        dir,
        store,
        name: source_name,
    };
    let selector = match tag {
        Some(t) => Selector::Tag(t),
        None => Selector::Only,
    };
    resolve_index(&index, &selector, platform, store, &provider)
}
