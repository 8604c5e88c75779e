//! Base images: what a `FROM` names, resolved to a [`ResolvedImage`] whose
//! manifest, config and layers are all in the content store.
//!
//! Sources ([`ImageSource`]): a registry reference, `scratch`, an OCI layout
//! directory, an OCI archive, a `docker save` tar.
//!
//! - [`manifest`]: manifests, indexes, descriptors, media types.
//! - [`tag_cache`]: tag → manifest digest records reused across builds.
//! - `layout`, `archive`: reading OCI layouts and image archives.
//!
//! Registry images: a reference with a digest is served from the store when
//! everything is there. A tag is looked up in the [`tag_cache::TagCache`]
//! (when the resolver has one); a hit whose blobs are all present is used
//! without touching the network. With `pull: true` the tag's digest is
//! asked of the registry (HEAD) and the image is pulled again only when it
//! moved. A pull records the tag's new digests in the cache.

pub mod manifest;
pub mod tag_cache;

mod archive;
mod layout;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hoist_frontend::graph::{ImageConfig, Platform};
use hoist_snapshotter::content::{ContentError, ContentStore};
use hoist_snapshotter::digest::Digest;

use self::manifest::{ImageManifest, ManifestDocument, ManifestError};
use self::tag_cache::{TagCache, TagRecord};
use crate::registry::{Reference, ReferenceError, RegistryClient, RegistryError};

/// Where a base image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageSource {
    /// `FROM scratch`: no layers, a config with only the platform.
    Scratch,
    /// A registry image.
    Registry(Reference),
    /// An OCI image layout directory; the image named `tag` in `index.json`
    /// (`org.opencontainers.image.ref.name`), or its only image.
    OciLayout { path: PathBuf, tag: Option<String> },
    /// An OCI layout in a tar (`skopeo copy ... oci-archive:FILE`).
    OciArchive { path: PathBuf, tag: Option<String> },
    /// A `docker save` tar; the image whose `RepoTags` has `name`, or its
    /// only image.
    DockerArchive {
        path: PathBuf,
        name: Option<Reference>,
    },
}

impl ImageSource {
    /// What a `FROM` word names: `scratch` or a registry reference.
    pub fn from_name(name: &str) -> Result<ImageSource, ReferenceError> {
        if name == "scratch" {
            Ok(ImageSource::Scratch)
        } else {
            Reference::parse(name).map(ImageSource::Registry)
        }
    }
}

impl fmt::Display for ImageSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tagged = |f: &mut fmt::Formatter<'_>, kind: &str, path: &Path, tag: &Option<String>| {
            write!(f, "{kind}:{}", path.display())?;
            match tag {
                Some(t) => write!(f, ":{t}"),
                None => Ok(()),
            }
        };
        match self {
            ImageSource::Scratch => write!(f, "scratch"),
            ImageSource::Registry(r) => write!(f, "{r}"),
            ImageSource::OciLayout { path, tag } => tagged(f, "oci", path, tag),
            ImageSource::OciArchive { path, tag } => tagged(f, "oci-archive", path, tag),
            ImageSource::DockerArchive { path, name } => {
                write!(f, "docker-archive:{}", path.display())?;
                match name {
                    Some(n) => write!(f, ":{n}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// One layer of a resolved image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layer {
    /// Digest of the blob as stored (compressed or not).
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
    /// Digest of the uncompressed tar (from the config's `rootfs`).
    pub diff_id: Digest,
}

/// The image manifest of a resolved image, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredManifest {
    pub digest: Digest,
    pub bytes: Vec<u8>,
    pub parsed: ImageManifest,
}

/// A base image ready to use: everything it names is in the content store.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// What was asked for.
    pub source: ImageSource,
    /// Registry images: the reference pinned to the manifest digest.
    pub reference: Option<Reference>,
    /// `None` only for `scratch`.
    pub manifest: Option<StoredManifest>,
    /// The config blob's digest and bytes; `None` only for `scratch`.
    pub config_digest: Option<Digest>,
    pub config_bytes: Option<Vec<u8>>,
    pub config: ImageConfig,
    /// Bottom layer first.
    pub layers: Vec<Layer>,
    pub platform: Platform,
}

impl ResolvedImage {
    /// The manifest digest (`None` for `scratch`): what a cache key of a
    /// step built on this image should include.
    pub fn manifest_digest(&self) -> Option<&Digest> {
        self.manifest.as_ref().map(|m| &m.digest)
    }

    /// The OCI chain ids of the layers, bottom first: the first is the first
    /// diff_id, each next one `sha256("<previous chain id> <diff_id>")`. A
    /// chain id names the filesystem of a layer with all layers below it,
    /// so it is the natural key of an unpacked snapshot.
    pub fn chain_ids(&self) -> Vec<Digest> {
        chain_ids(self.layers.iter().map(|l| &l.diff_id))
    }

    /// `FROM scratch` for `platform`.
    pub fn scratch(platform: &Platform) -> ResolvedImage {
        let config = ImageConfig {
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            variant: platform.variant.clone(),
            ..ImageConfig::default()
        };
        ResolvedImage {
            source: ImageSource::Scratch,
            reference: None,
            manifest: None,
            config_digest: None,
            config_bytes: None,
            config,
            layers: Vec::new(),
            platform: platform.clone(),
        }
    }

    /// Reads the image of manifest `digest` from `store`: the manifest, its
    /// config and the layer list (each layer checked to be present).
    pub fn load(
        store: &ContentStore,
        digest: &Digest,
        source: ImageSource,
        reference: Option<Reference>,
    ) -> Result<ResolvedImage, ImageError> {
        let name = source.to_string();
        let read = |d: &Digest| {
            store.read(d).map_err(|e| ImageError::Store {
                source_name: name.clone(),
                digest: d.clone(),
                source: e,
            })
        };
        let bytes = read(digest)?;
        let parsed = match ManifestDocument::parse(&bytes, digest, None)? {
            ManifestDocument::Image(m) => m,
            ManifestDocument::Index(_) => {
                return Err(ImageError::Invalid {
                    source_name: name,
                    message: format!("{digest} is an index, not an image manifest"),
                });
            }
        };
        let config_bytes = read(&parsed.config.digest)?;
        let config = ImageConfig::from_json(&config_bytes).map_err(|e| ImageError::Config {
            source_name: name.clone(),
            digest: parsed.config.digest.clone(),
            source: e,
        })?;
        let diff_ids = config_diff_ids(&config, &name, &parsed.config.digest)?;
        if diff_ids.len() != parsed.layers.len() {
            return Err(ImageError::LayerCount {
                source_name: name,
                layers: parsed.layers.len(),
                diff_ids: diff_ids.len(),
            });
        }
        let mut layers = Vec::with_capacity(parsed.layers.len());
        for (d, diff_id) in parsed.layers.iter().zip(diff_ids) {
            if !store.contains(&d.digest) {
                return Err(ImageError::BlobMissing {
                    source_name: name,
                    digest: d.digest.clone(),
                });
            }
            layers.push(Layer {
                digest: d.digest.clone(),
                size: d.size,
                media_type: d.media_type.clone(),
                diff_id,
            });
        }
        let platform = config.platform();
        Ok(ResolvedImage {
            source,
            reference,
            manifest: Some(StoredManifest {
                digest: digest.clone(),
                bytes,
                parsed: parsed.clone(),
            }),
            config_digest: Some(parsed.config.digest.clone()),
            config_bytes: Some(config_bytes),
            config,
            layers,
            platform,
        })
    }
}

/// The config's `rootfs.diff_ids` as digests (the image config keeps them
/// as the strings it read); one that is not a digest makes the image invalid.
fn config_diff_ids(
    config: &ImageConfig,
    source_name: &str,
    config_digest: &Digest,
) -> Result<Vec<Digest>, ImageError> {
    config
        .rootfs
        .diff_ids
        .iter()
        .map(|d| {
            d.parse().map_err(|e| ImageError::Invalid {
                source_name: source_name.to_string(),
                message: format!("config {config_digest} has an invalid diff_id {d:?}: {e}"),
            })
        })
        .collect()
}

/// Chain ids of a stack of diff_ids (see [`ResolvedImage::chain_ids`]).
pub fn chain_ids<'a>(diff_ids: impl IntoIterator<Item = &'a Digest>) -> Vec<Digest> {
    let mut out: Vec<Digest> = Vec::new();
    for diff_id in diff_ids {
        let next = match out.last() {
            None => diff_id.clone(),
            Some(parent) => Digest::of(format!("{parent} {diff_id}").as_bytes()),
        };
        out.push(next);
    }
    out
}

/// Why a base image could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("{source_name}: blob {digest}: {source}")]
    Store {
        source_name: String,
        digest: Digest,
        #[source]
        source: ContentError,
    },
    #[error("{source_name}: importing into the content store: {source}")]
    Import {
        source_name: String,
        #[source]
        source: ContentError,
    },
    #[error("{source_name}: blob {digest} is missing")]
    BlobMissing { source_name: String, digest: Digest },
    #[error("{source_name}: config {digest} is not a valid image config: {source}")]
    Config {
        source_name: String,
        digest: Digest,
        #[source]
        source: serde_json::Error,
    },
    #[error("{source_name}: the manifest has {layers} layers but the config {diff_ids} diff_ids")]
    LayerCount {
        source_name: String,
        layers: usize,
        diff_ids: usize,
    },
    #[error("{source_name}: no image tagged {tag:?}; it has: {}", .available.join(", "))]
    TagNotFound {
        source_name: String,
        tag: String,
        available: Vec<String>,
    },
    #[error("{source_name}: no image for platform {wanted}; it has: {}", list(.available))]
    PlatformMissing {
        source_name: String,
        wanted: Platform,
        available: Vec<Platform>,
    },
    #[error("{source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("tag cache {path}: {source}")]
    TagCache {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("resolving {source_name} stopped: {message}")]
    Task {
        source_name: String,
        message: String,
    },
}

fn list(platforms: &[Platform]) -> String {
    let names: Vec<String> = platforms.iter().map(Platform::to_string).collect();
    names.join(", ")
}

/// Resolves [`ImageSource`]s into [`ResolvedImage`]s, storing every blob in
/// one content store.
#[derive(Clone)]
pub struct ImageResolver {
    store: ContentStore,
    registry: Arc<RegistryClient>,
    tag_cache: Option<TagCache>,
}

impl ImageResolver {
    pub fn new(store: ContentStore, registry: Arc<RegistryClient>) -> ImageResolver {
        ImageResolver {
            store,
            registry,
            tag_cache: None,
        }
    }

    /// Keeps tag resolutions in `cache` (see [`tag_cache`]).
    pub fn with_tag_cache(mut self, cache: TagCache) -> ImageResolver {
        self.tag_cache = Some(cache);
        self
    }

    pub fn store(&self) -> &ContentStore {
        &self.store
    }

    /// Resolves `source` for `platform`. `pull`: re-check registry tags
    /// instead of trusting the tag cache. A single-platform image (no
    /// index) whose config names another platform is an error, as in
    /// containerd.
    pub async fn resolve(
        &self,
        source: &ImageSource,
        platform: &Platform,
        pull: bool,
    ) -> Result<ResolvedImage, ImageError> {
        let image = self.resolve_any(source, platform, pull).await?;
        check_platform(image, platform)
    }

    async fn resolve_any(
        &self,
        source: &ImageSource,
        platform: &Platform,
        pull: bool,
    ) -> Result<ResolvedImage, ImageError> {
        match source {
            ImageSource::Scratch => Ok(ResolvedImage::scratch(platform)),
            ImageSource::Registry(reference) => {
                self.resolve_registry(reference, platform, pull).await
            }
            local => {
                let store = self.store.clone();
                let source = local.clone();
                let platform = platform.clone();
                let name = source.to_string();
                tokio::task::spawn_blocking(move || resolve_local(&store, source, &platform))
                    .await
                    .map_err(|e| ImageError::Task {
                        source_name: name,
                        message: e.to_string(),
                    })?
            }
        }
    }

    /// Whether the manifest `digest` and everything it names are stored.
    fn complete(&self, digest: &Digest) -> bool {
        let Ok(bytes) = self.store.read(digest) else {
            return false;
        };
        match ManifestDocument::parse(&bytes, digest, None) {
            Ok(ManifestDocument::Image(m)) => {
                self.store.contains(&m.config.digest)
                    && m.layers.iter().all(|l| self.store.contains(&l.digest))
            }
            _ => false,
        }
    }

    /// A manifest digest from an index in the store, if it has `platform`.
    fn stored_platform_manifest(&self, digest: &Digest, platform: &Platform) -> Option<Digest> {
        let bytes = self.store.read(digest).ok()?;
        match ManifestDocument::parse(&bytes, digest, None).ok()? {
            ManifestDocument::Image(_) => Some(digest.clone()),
            ManifestDocument::Index(index) => Some(index.select(platform)?.digest.clone()),
        }
    }

    async fn resolve_registry(
        &self,
        reference: &Reference,
        platform: &Platform,
        pull: bool,
    ) -> Result<ResolvedImage, ImageError> {
        let source = ImageSource::Registry(reference.clone());
        let load = |digest: &Digest| {
            ResolvedImage::load(
                &self.store,
                digest,
                source.clone(),
                Some(reference.with_digest(digest.clone())),
            )
        };
        // Pinned by digest: the content cannot have changed.
        if let Some(pinned) = reference.digest()
            && let Some(m) = self.stored_platform_manifest(pinned, platform)
            && self.complete(&m)
        {
            return load(&m);
        }
        let cached = match (&self.tag_cache, reference.digest()) {
            (Some(cache), None) => cache.get(reference, platform),
            _ => None,
        };
        if let Some(record) = &cached
            && self.complete(&record.manifest_digest)
        {
            if !pull {
                return load(&record.manifest_digest);
            }
            let now = self.registry.fetch_manifest_digest(reference).await?;
            if now == record.tag_digest {
                return load(&record.manifest_digest);
            }
        }
        let pulled = self.registry.pull(reference, platform, &self.store).await?;
        if let (Some(cache), None) = (&self.tag_cache, reference.digest()) {
            let record = TagRecord {
                reference: reference.clone(),
                platform: platform.clone(),
                tag_digest: pulled.tag_digest.clone(),
                manifest_digest: pulled.manifest_digest.clone(),
            };
            cache.put(&record).map_err(|source| ImageError::TagCache {
                path: cache.dir().to_path_buf(),
                source,
            })?;
        }
        load(&pulled.manifest_digest)
    }
}

/// `image` when its config's platform serves `wanted` (or names no
/// architecture); else [`ImageError::PlatformMissing`] naming what it is.
fn check_platform(image: ResolvedImage, wanted: &Platform) -> Result<ResolvedImage, ImageError> {
    if image.platform.architecture.is_empty() || wanted.matches(&image.platform) {
        return Ok(image);
    }
    Err(ImageError::PlatformMissing {
        source_name: image.source.to_string(),
        wanted: wanted.clone(),
        available: vec![image.platform.clone()],
    })
}

/// Resolves a local source (layout, archive) synchronously; blocking I/O.
pub fn resolve_local(
    store: &ContentStore,
    source: ImageSource,
    platform: &Platform,
) -> Result<ResolvedImage, ImageError> {
    let name = source.to_string();
    let digest = match &source {
        ImageSource::Scratch => return Ok(ResolvedImage::scratch(platform)),
        ImageSource::Registry(r) => {
            return Err(ImageError::Invalid {
                source_name: r.to_string(),
                message: "a registry image is not a local source".into(),
            });
        }
        ImageSource::OciLayout { path, tag } => {
            layout::import_layout_dir(path, tag.as_deref(), platform, store, name)?
        }
        ImageSource::OciArchive { path, tag } => {
            archive::import_oci_archive(path, tag.as_deref(), platform, store, name)?
        }
        ImageSource::DockerArchive { path, name: image } => {
            archive::import_docker_archive(path, image.as_ref(), platform, store, name)?
        }
    };
    ResolvedImage::load(store, &digest, source, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_oci_formula() {
        let a = Digest::of(b"a");
        let b = Digest::of(b"b");
        let c = Digest::of(b"c");
        let ids = chain_ids([&a, &b, &c]);
        let ab = Digest::of(format!("{a} {b}").as_bytes());
        let abc = Digest::of(format!("{ab} {c}").as_bytes());
        assert_eq!(ids, vec![a, ab, abc]);
        assert!(chain_ids([]).is_empty());
    }

    #[test]
    fn from_name_knows_scratch_and_normalises_references() {
        assert_eq!(
            ImageSource::from_name("scratch").unwrap(),
            ImageSource::Scratch
        );
        let src = ImageSource::from_name("busybox").unwrap();
        assert_eq!(src.to_string(), "docker.io/library/busybox:latest");
        assert!(ImageSource::from_name("Busybox").is_err());
    }
}
