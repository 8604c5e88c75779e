//! Image archives: an OCI layout in a tar (`oci-archive`) and `docker save`
//! tars, both the classic format (`manifest.json` + `<id>/layer.tar` +
//! `<hex>.json`) and the newer one that is also an OCI layout. Plain or
//! gzip-compressed tars.
//!
//! The tar is read once, front to back: every regular file is streamed into
//! the content store as it goes by (files under `blobs/sha256/` verified
//! against their name), and the small metadata files (`manifest.json`,
//! `index.json`, `oci-layout`, `repositories`) are kept in memory. The image
//! is then chosen from that metadata. All blobs of the archive are imported,
//! not only the chosen image's.
//!
//! Classic docker-save layers are uncompressed tars, so their digest is
//! their diff_id; that is checked. A gzip layer is decompressed to check its
//! diff_id. Such images get a Docker schema 2 manifest written by hoist.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;
use hoist_snapshotter::content::ContentStore;
use hoist_snapshotter::digest::{Digest, Digester};
use serde::Deserialize;

use super::ImageError;
use super::config::ImageConfig;
use super::layout::{ImportedBlobs, Selector, check_layout_marker, resolve_index};
use super::manifest::{
    DOCKER_CONFIG, DOCKER_LAYER_GZIP, DOCKER_LAYER_TAR, DOCKER_MANIFEST, Descriptor, ImageManifest,
};
use super::platform::Platform;
use crate::registry::Reference;

const METADATA_FILES: &[&str] = &["manifest.json", "index.json", "oci-layout", "repositories"];
const METADATA_LIMIT: u64 = 16 << 20;

/// What a scan of an archive found.
struct ScannedArchive {
    /// Path in the archive → blob in the store.
    files: BTreeMap<String, (Digest, u64)>,
    /// Symlinks and hard links: path → target path (both normalised).
    links: BTreeMap<String, String>,
    /// The metadata files, by name.
    metadata: BTreeMap<String, Vec<u8>>,
}

impl ScannedArchive {
    fn lookup(&self, path: &str) -> Option<&(Digest, u64)> {
        let mut p = normalise(path);
        for _ in 0..16 {
            if let Some(found) = self.files.get(&p) {
                return Some(found);
            }
            p = self.links.get(&p)?.clone();
        }
        None
    }
}

/// `./a//b` → `a/b`; `..` stays as a component (it never names a file here).
fn normalise(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Resolves a link target written relative to the link's directory.
fn link_target(link: &str, target: &str) -> String {
    if let Some(abs) = target.strip_prefix('/') {
        return normalise(abs);
    }
    let mut parts: Vec<&str> = link.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

fn open_maybe_gzip(path: &Path) -> Result<Box<dyn Read>, ImageError> {
    let io_err = |source| ImageError::Io {
        op: "open",
        path: path.to_path_buf(),
        source,
    };
    let mut reader = BufReader::with_capacity(256 * 1024, File::open(path).map_err(io_err)?);
    let head = reader.fill_buf().map_err(io_err)?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(GzDecoder::new(reader)))
    } else {
        Ok(Box::new(reader))
    }
}

fn scan(path: &Path, store: &ContentStore) -> Result<ScannedArchive, ImageError> {
    let name = path.display().to_string();
    let read_err = |source: io::Error| ImageError::Io {
        op: "read archive",
        path: path.to_path_buf(),
        source,
    };
    let mut archive = tar::Archive::new(open_maybe_gzip(path)?);
    let mut scanned = ScannedArchive {
        files: BTreeMap::new(),
        links: BTreeMap::new(),
        metadata: BTreeMap::new(),
    };
    for entry in archive.entries().map_err(read_err)? {
        let mut entry = entry.map_err(read_err)?;
        let entry_path = normalise(&String::from_utf8_lossy(&entry.path_bytes()));
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            if let Some(target) = entry.link_name_bytes().map(|t| t.to_vec()) {
                let target = String::from_utf8_lossy(&target).to_string();
                let resolved = if kind.is_symlink() {
                    link_target(&entry_path, &target)
                } else {
                    normalise(&target)
                };
                scanned.links.insert(entry_path, resolved);
            }
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let size = entry.size();
        // Classic docker-save keeps per-layer `<id>/json` and `<id>/VERSION`
        // files that no image refers to: not worth storing.
        let base = entry_path.rsplit('/').next().unwrap_or("");
        if entry_path.contains('/') && (base == "json" || base == "VERSION") {
            continue;
        }
        if METADATA_FILES.contains(&entry_path.as_str()) {
            if size > METADATA_LIMIT {
                return Err(ImageError::Invalid {
                    source_name: name,
                    message: format!("{entry_path} is {size} bytes, too large"),
                });
            }
            let mut bytes = Vec::with_capacity(size as usize);
            entry.read_to_end(&mut bytes).map_err(read_err)?;
            scanned.metadata.insert(entry_path, bytes);
            continue;
        }
        let expected = entry_path
            .strip_prefix("blobs/sha256/")
            .and_then(|hex| Digest::from_hex(hex).ok());
        let source_name = format!("{name}:{entry_path}");
        let (digest, len) = match &expected {
            Some(d) if store.contains(d) => (d.clone(), size),
            _ => store
                .write_from(&mut entry, expected.as_ref(), Some(size), &source_name)
                .map_err(|source| ImageError::Import {
                    source_name,
                    source,
                })?,
        };
        scanned.files.insert(entry_path, (digest, len));
    }
    Ok(scanned)
}

/// Imports an OCI archive and resolves `tag` (or its only image) for
/// `platform`. Returns the manifest digest.
pub(crate) fn import_oci_archive(
    path: &Path,
    tag: Option<&str>,
    platform: &Platform,
    store: &ContentStore,
    source_name: String,
) -> Result<Digest, ImageError> {
    let scanned = scan(path, store)?;
    let marker = scanned
        .metadata
        .get("oci-layout")
        .ok_or_else(|| ImageError::Invalid {
            source_name: source_name.clone(),
            message: "no oci-layout file: not an OCI archive".into(),
        })?;
    check_layout_marker(marker, &source_name)?;
    let index = scanned
        .metadata
        .get("index.json")
        .ok_or_else(|| ImageError::Invalid {
            source_name: source_name.clone(),
            message: "no index.json".into(),
        })?;
    let provider = ImportedBlobs {
        store,
        name: source_name,
    };
    let selector = tag.map_or(Selector::Only, Selector::Tag);
    resolve_index(index, &selector, platform, store, &provider)
}

#[derive(Deserialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Imports a `docker save` tar and resolves `name` (a `RepoTags` entry,
/// normalised; or the only image) for `platform`. Returns the manifest digest.
pub(crate) fn import_docker_archive(
    path: &Path,
    name: Option<&Reference>,
    platform: &Platform,
    store: &ContentStore,
    source_name: String,
) -> Result<Digest, ImageError> {
    let scanned = scan(path, store)?;
    let invalid = |message: String| ImageError::Invalid {
        source_name: source_name.clone(),
        message,
    };
    // The newer format is also an OCI layout: use its real manifests.
    if let (Some(marker), Some(index)) = (
        scanned.metadata.get("oci-layout"),
        scanned.metadata.get("index.json"),
    ) {
        check_layout_marker(marker, &source_name)?;
        let provider = ImportedBlobs {
            store,
            name: source_name.clone(),
        };
        let selector = name.map_or(Selector::Only, Selector::Name);
        return resolve_index(index, &selector, platform, store, &provider);
    }
    let manifest_json = scanned
        .metadata
        .get("manifest.json")
        .ok_or_else(|| invalid("no manifest.json: not a docker-save archive".into()))?;
    let entries: Vec<DockerManifestEntry> = serde_json::from_slice(manifest_json)
        .map_err(|e| invalid(format!("manifest.json is not valid: {e}")))?;
    let all_tags = || -> Vec<String> {
        entries
            .iter()
            .flat_map(|e| e.repo_tags.clone().unwrap_or_default())
            .collect()
    };
    let entry = match name {
        Some(want) => entries
            .iter()
            .find(|e| {
                e.repo_tags
                    .iter()
                    .flatten()
                    .any(|t| Reference::parse(t).is_ok_and(|r| &r == want))
            })
            .ok_or_else(|| ImageError::TagNotFound {
                source_name: source_name.clone(),
                tag: want.to_string(),
                available: all_tags(),
            })?,
        None => match entries.as_slice() {
            [only] => only,
            _ => {
                return Err(invalid(format!(
                    "it holds {} images; name one (tags: {})",
                    entries.len(),
                    all_tags().join(", ")
                )));
            }
        },
    };
    let (config_digest, config_size) = scanned
        .lookup(&entry.config)
        .cloned()
        .ok_or_else(|| invalid(format!("config {} is missing", entry.config)))?;
    let config_bytes = store
        .read(&config_digest)
        .map_err(|source| ImageError::Store {
            source_name: source_name.clone(),
            digest: config_digest.clone(),
            source,
        })?;
    let config = ImageConfig::from_json(&config_bytes).map_err(|source| ImageError::Config {
        source_name: source_name.clone(),
        digest: config_digest.clone(),
        source,
    })?;
    if config.rootfs.diff_ids.len() != entry.layers.len() {
        return Err(ImageError::LayerCount {
            source_name: source_name.clone(),
            layers: entry.layers.len(),
            diff_ids: config.rootfs.diff_ids.len(),
        });
    }
    let mut layers = Vec::new();
    for (layer_path, diff_id) in entry.layers.iter().zip(&config.rootfs.diff_ids) {
        let (digest, size) = scanned
            .lookup(layer_path)
            .cloned()
            .ok_or_else(|| invalid(format!("layer {layer_path} is missing")))?;
        let media_type = check_layer(store, &digest, diff_id, &source_name, layer_path)?;
        layers.push(Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            platform: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        });
    }
    let _ = platform; // a classic docker-save image has one platform, its config's
    let manifest = ImageManifest {
        schema_version: 2,
        media_type: Some(DOCKER_MANIFEST.to_string()),
        config: Descriptor {
            media_type: DOCKER_CONFIG.to_string(),
            digest: config_digest,
            size: config_size,
            platform: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        },
        layers,
        annotations: BTreeMap::new(),
    };
    let bytes = serde_json::to_vec(&manifest).map_err(|e| invalid(e.to_string()))?;
    store
        .write_bytes(&bytes, None, &source_name)
        .map_err(|source| ImageError::Store {
            source_name: source_name.clone(),
            digest: Digest::of(&bytes),
            source,
        })
}

/// Checks a docker-save layer against its diff_id; returns its media type.
fn check_layer(
    store: &ContentStore,
    digest: &Digest,
    diff_id: &Digest,
    source_name: &str,
    layer_path: &str,
) -> Result<&'static str, ImageError> {
    let store_err = |source| ImageError::Store {
        source_name: source_name.to_string(),
        digest: digest.clone(),
        source,
    };
    let mut reader = BufReader::new(store.open_blob(digest).map_err(store_err)?);
    let gzip = reader
        .fill_buf()
        .map(|head| head.starts_with(&[0x1f, 0x8b]))
        .unwrap_or(false);
    let (media_type, actual) = if gzip {
        let (d, _) =
            Digester::digest_reader(GzDecoder::new(reader)).map_err(|source| ImageError::Io {
                op: "decompress layer",
                path: layer_path.into(),
                source,
            })?;
        (DOCKER_LAYER_GZIP, d)
    } else {
        (DOCKER_LAYER_TAR, digest.clone())
    };
    if &actual != diff_id {
        return Err(ImageError::Invalid {
            source_name: source_name.to_string(),
            message: format!("layer {layer_path} has diff_id {actual}, the config says {diff_id}"),
        });
    }
    Ok(media_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_targets_resolve_relative_to_the_link() {
        assert_eq!(
            link_target("abc/layer.tar", "../blobs/sha256/x"),
            "blobs/sha256/x"
        );
        assert_eq!(
            link_target("abc/layer.tar", "/def/layer.tar"),
            "def/layer.tar"
        );
        assert_eq!(normalise("./a//b/"), "a/b");
    }
}
