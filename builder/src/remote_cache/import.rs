//! Reading caches (`--cache-from`): each source's cache config is read once
//! when the build starts; layer blobs are fetched only when something needs
//! them (a step mounts the layer, or an export writes the image).
//!
//! A source that is missing, unreachable or malformed is a warning and is
//! skipped; a record whose blobs are gone is a warning and a miss, so the
//! step runs as it would without the cache.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::digest::{Digest, Digester};

use super::format::{
    CACHE_CONFIG_MEDIA_TYPE, CacheBlob, CacheConfig, INLINE_ANNOTATION, descriptor,
};
use super::spec::CacheImportSpec;
use crate::registry::{Reference, RegistryClient};
use crate::source::image::manifest::{ImageManifest, ManifestDocument};

/// Where a loaded cache's blobs are.
#[derive(Debug, Clone)]
pub enum Location {
    /// The repository of a registry reference.
    Registry(Reference),
    /// An OCI layout directory (`blobs/sha256/<hex>`).
    Local(PathBuf),
}

/// One `--cache-from` that could be read.
#[derive(Debug)]
pub struct LoadedCache {
    /// What the user wrote, for messages.
    pub label: String,
    pub location: Location,
    pub config: CacheConfig,
}

/// Reads the cache config of `spec`; the error is the warning's text.
pub async fn load(
    spec: &CacheImportSpec,
    registry: &RegistryClient,
    content: &ContentStore,
) -> Result<LoadedCache, String> {
    match spec {
        CacheImportSpec::Registry { reference } => {
            let r = Reference::parse(reference).map_err(|e| e.to_string())?;
            let (bytes, digest) = registry
                .fetch_manifest(&r)
                .await
                .map_err(|e| e.to_string())?;
            let manifest = match ManifestDocument::parse(&bytes, &digest, None)
                .map_err(|e| e.to_string())?
            {
                ManifestDocument::Image(m) => m,
                ManifestDocument::Index(_) => {
                    return Err(format!(
                        "{reference} is an image index; hoist reads caches from a single manifest"
                    ));
                }
            };
            let config = if manifest.config.media_type == CACHE_CONFIG_MEDIA_TYPE {
                registry
                    .fetch_blob(&r, &manifest.config, content)
                    .await
                    .map_err(|e| e.to_string())?;
                let bytes = content
                    .read(&manifest.config.digest)
                    .map_err(|e| e.to_string())?;
                CacheConfig::parse(&bytes).map_err(|e| e.to_string())?
            } else {
                inline_config(&manifest).ok_or_else(|| {
                    format!("{reference} is neither a hoist cache nor an image with inline cache")
                })??
            };
            Ok(LoadedCache {
                label: reference.clone(),
                location: Location::Registry(r),
                config,
            })
        }
        CacheImportSpec::Local { src } => {
            let config = load_local(src)?;
            Ok(LoadedCache {
                label: src.display().to_string(),
                location: Location::Local(src.clone()),
                config,
            })
        }
    }
}

/// The inline cache config of an image manifest, if it has one.
fn inline_config(manifest: &ImageManifest) -> Option<Result<CacheConfig, String>> {
    let text = manifest.annotations.get(INLINE_ANNOTATION)?;
    Some(CacheConfig::parse(text.as_bytes()).map_err(|e| e.to_string()))
}

/// The path of blob `digest` in the OCI layout `dir`.
pub fn layout_blob(dir: &Path, digest: &Digest) -> PathBuf {
    dir.join("blobs")
        .join(digest.algorithm())
        .join(digest.hex())
}

/// Reads a blob of a layout, verified against its digest.
fn read_layout_blob(dir: &Path, digest: &Digest) -> Result<Vec<u8>, String> {
    let path = layout_blob(dir, digest);
    let bytes = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    if Digest::of(&bytes) != *digest {
        return Err(format!(
            "{}: content does not match its digest",
            path.display()
        ));
    }
    Ok(bytes)
}

fn load_local(dir: &Path) -> Result<CacheConfig, String> {
    #[derive(serde::Deserialize)]
    struct Index {
        manifests: Vec<crate::source::image::manifest::Descriptor>,
    }
    let index_path = dir.join("index.json");
    let text = fs::read(&index_path).map_err(|e| format!("{}: {e}", index_path.display()))?;
    let index: Index =
        serde_json::from_slice(&text).map_err(|e| format!("{}: {e}", index_path.display()))?;
    let entry = index
        .manifests
        .first()
        .ok_or_else(|| format!("{} lists no cache", index_path.display()))?;
    let bytes = read_layout_blob(dir, &entry.digest)?;
    let manifest: ImageManifest =
        serde_json::from_slice(&bytes).map_err(|e| format!("manifest {}: {e}", entry.digest))?;
    if manifest.config.media_type != CACHE_CONFIG_MEDIA_TYPE {
        return Err(format!(
            "{} is not a hoist cache (config type {})",
            dir.display(),
            manifest.config.media_type
        ));
    }
    let bytes = read_layout_blob(dir, &manifest.config.digest)?;
    CacheConfig::parse(&bytes).map_err(|e| e.to_string())
}

/// Existence answers, so a blob is checked once per build.
#[derive(Debug, Default)]
pub struct ExistenceMemo {
    known: Mutex<HashMap<(usize, Digest), bool>>,
}

impl ExistenceMemo {
    /// Whether source `index` (at `location`) has `blob`.
    pub async fn has(
        &self,
        index: usize,
        location: &Location,
        blob: &CacheBlob,
        registry: &RegistryClient,
    ) -> bool {
        let key = (index, blob.digest.clone());
        let known = self.known.lock().ok().and_then(|m| m.get(&key).copied());
        if let Some(known) = known {
            return known;
        }
        let found = match location {
            // Local blobs are verified in full (a local read is cheap next
            // to unpacking), so a corrupted one is a miss, not a failure later.
            Location::Local(dir) => fs::File::open(layout_blob(dir, &blob.digest))
                .and_then(Digester::digest_reader)
                .is_ok_and(|(d, n)| d == blob.digest && n == blob.size),
            Location::Registry(r) => registry.blob_exists(r, &blob.digest).await.unwrap_or(false),
        };
        if let Ok(mut m) = self.known.lock() {
            m.insert(key, found);
        }
        found
    }
}

/// Copies (or downloads) `blob` of a source into the content store, verified.
pub async fn fetch(
    location: &Location,
    blob: &CacheBlob,
    registry: &RegistryClient,
    content: &ContentStore,
) -> Result<(), String> {
    if content.contains(&blob.digest) {
        return Ok(());
    }
    match location {
        Location::Registry(r) => registry
            .fetch_blob(
                r,
                &descriptor(&blob.media_type, &blob.digest, blob.size),
                content,
            )
            .await
            .map_err(|e| e.to_string()),
        Location::Local(dir) => {
            let path = layout_blob(dir, &blob.digest);
            let file = fs::File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            content
                .write_from(
                    file,
                    Some(&blob.digest),
                    Some(blob.size),
                    &path.display().to_string(),
                )
                .map(|_| ())
                .map_err(|e| e.to_string())
        }
    }
}
