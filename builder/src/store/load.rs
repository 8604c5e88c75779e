//! `hoist load`: images from an OCI archive or a `docker save` tar into the
//! local store, read with the base-image readers of
//! [`crate::source::image`].
//!
//! The archive's metadata (`index.json`, `manifest.json`) is read first to
//! learn the names it holds: `io.containerd.image.name`, else a full
//! reference in `org.opencontainers.image.ref.name`, else docker-save's
//! `RepoTags`. Each name is then resolved (which imports the blobs) and
//! tagged. An archive without names gives one unnamed image.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use flate2::read::GzDecoder;
use hoist_frontend::graph::Platform;
use serde::Deserialize;

use super::{ImageStore, StoreError, normalise_name};
use crate::registry::Reference;
use crate::source::image::manifest::{ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, ImageIndex};
use crate::source::image::{ImageError, ImageSource, resolve_local};

/// Why an archive could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: neither an OCI archive nor a docker-save archive")]
    UnknownFormat { path: String },
    #[error(transparent)]
    Image(#[from] Box<ImageError>),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Deserialize)]
struct DockerEntry {
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
}

/// The metadata files of an archive (`index.json`, `manifest.json`, `oci-layout`).
fn read_metadata(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, std::io::Error> {
    let mut reader = BufReader::new(File::open(path)?);
    let gzip = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    let reader: Box<dyn Read> = if gzip {
        Box::new(GzDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries()? {
        let mut entry = entry?;
        let name = String::from_utf8_lossy(&entry.path_bytes())
            .trim_start_matches("./")
            .to_string();
        if matches!(name.as_str(), "index.json" | "manifest.json" | "oci-layout")
            && entry.size() < 16 << 20
        {
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes)?;
            out.insert(name, bytes);
        }
    }
    Ok(out)
}

/// Loads the images of the archive at `path` for `platform`; returns the
/// names given (the manifest digest for an unnamed image).
pub fn load_archive(
    store: &ImageStore,
    path: &Path,
    platform: &Platform,
) -> Result<Vec<String>, LoadError> {
    let shown = path.display().to_string();
    let meta = read_metadata(path).map_err(|source| LoadError::Read {
        path: shown.clone(),
        source,
    })?;
    // (source to resolve, names to give it)
    let mut wanted: Vec<(ImageSource, Vec<String>)> = Vec::new();
    if let Some(bytes) = meta.get("manifest.json") {
        let entries: Vec<DockerEntry> = serde_json::from_slice(bytes).unwrap_or_default();
        for e in entries {
            for tag in e.repo_tags.unwrap_or_default() {
                let name = Reference::parse(&tag).map_err(StoreError::from)?;
                wanted.push((
                    ImageSource::DockerArchive {
                        path: path.to_path_buf(),
                        name: Some(name.clone()),
                    },
                    vec![name.to_string()],
                ));
            }
        }
        if wanted.is_empty() {
            wanted.push((
                ImageSource::DockerArchive {
                    path: path.to_path_buf(),
                    name: None,
                },
                Vec::new(),
            ));
        }
    } else if let (Some(_), Some(bytes)) = (meta.get("oci-layout"), meta.get("index.json")) {
        let index: ImageIndex = serde_json::from_slice(bytes).map_err(|e| LoadError::Read {
            path: shown.clone(),
            source: std::io::Error::other(e),
        })?;
        for d in &index.manifests {
            let Some(tag) = d.annotations.get(ANNOTATION_REF_NAME) else {
                continue;
            };
            let full = d
                .annotations
                .get(ANNOTATION_IMAGE_NAME)
                .cloned()
                .or_else(|| (tag.contains('/') || tag.contains(':')).then(|| tag.clone()));
            let names = match full.map(|n| normalise_name(&n)) {
                Some(n) => vec![n.map_err(StoreError::from)?],
                None => Vec::new(),
            };
            wanted.push((
                ImageSource::OciArchive {
                    path: path.to_path_buf(),
                    tag: Some(tag.clone()),
                },
                names,
            ));
        }
        if wanted.is_empty() {
            wanted.push((
                ImageSource::OciArchive {
                    path: path.to_path_buf(),
                    tag: None,
                },
                Vec::new(),
            ));
        }
    } else {
        return Err(LoadError::UnknownFormat { path: shown });
    }
    let mut loaded = Vec::new();
    for (source, names) in wanted {
        let image = resolve_local(store.content(), source, platform).map_err(Box::new)?;
        let Some(manifest) = &image.manifest else {
            continue;
        };
        let descriptor = crate::source::image::manifest::Descriptor {
            media_type: manifest.parsed.media_type().to_string(),
            digest: manifest.digest.clone(),
            size: manifest.bytes.len() as u64,
            platform: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        };
        store.tag(&descriptor, &names)?;
        if names.is_empty() {
            loaded.push(manifest.digest.to_string());
        }
        loaded.extend(names);
    }
    Ok(loaded)
}
