//! Image archives and layouts: `type=oci` (an OCI image layout, as a tar or
//! a directory) and `type=docker` (a `docker load`-able tar), also used by
//! `hoist save`.
//!
//! The docker tar is the format Docker 25+ writes: an OCI layout
//! (`oci-layout`, `index.json`, `blobs/sha256/…`) plus `manifest.json`
//! (`Config`, `RepoTags`, `Layers` pointing into `blobs/`), which both old
//! and new `docker load` and skopeo's `docker-archive:` read.
//!
//! Tar entries are written in a fixed order with normalised headers (mode
//! 0644/0755, owner 0:0, mtime `SOURCE_DATE_EPOCH` or 0), so the same image
//! gives the same archive bytes.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hoist_snapshotter::content::{ContentError, ContentStore};
use hoist_snapshotter::digest::Digest;

use crate::source::image::manifest::{
    ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, Descriptor, ImageIndex, ImageManifest, OCI_INDEX,
};
use crate::store::familiar_name;

/// The image an archive holds: its manifest descriptor and parsed manifest
/// (every blob named in the content store), and its names (normalised).
#[derive(Debug, Clone, Copy)]
pub struct ArchiveImage<'a> {
    pub manifest: &'a Descriptor,
    pub parsed: &'a ImageManifest,
    pub names: &'a [String],
}

/// Errors of the archive writers.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the archive: {0}")]
    Write(#[source] io::Error),
    #[error("blob {digest}: {source}")]
    Content {
        digest: Digest,
        #[source]
        source: ContentError,
    },
}

const LAYOUT_MARKER: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// `index.json` of a layout holding `image`: one entry per name (with
/// `io.containerd.image.name` and the tag as `org.opencontainers.image.ref.name`,
/// like BuildKit), or one unnamed entry.
pub fn layout_index(image: &ArchiveImage<'_>) -> ImageIndex {
    let mut manifests = Vec::new();
    for name in image.names {
        let mut d = image.manifest.clone();
        d.annotations
            .insert(ANNOTATION_IMAGE_NAME.to_string(), name.clone());
        let tag = name
            .rsplit_once(':')
            .map(|(_, t)| t)
            .filter(|t| !t.contains('/'));
        d.annotations.insert(
            ANNOTATION_REF_NAME.to_string(),
            tag.unwrap_or("latest").to_string(),
        );
        manifests.push(d);
    }
    if manifests.is_empty() {
        manifests.push(image.manifest.clone());
    }
    ImageIndex {
        schema_version: 2,
        media_type: Some(OCI_INDEX.to_string()),
        manifests,
        annotations: BTreeMap::new(),
    }
}

/// The blobs of `image`, in archive order: config, layers, manifest.
fn blobs(image: &ArchiveImage<'_>) -> Vec<(Digest, u64)> {
    let mut out = vec![(image.parsed.config.digest.clone(), image.parsed.config.size)];
    for l in &image.parsed.layers {
        if !out.iter().any(|(d, _)| d == &l.digest) {
            out.push((l.digest.clone(), l.size));
        }
    }
    out.push((image.manifest.digest.clone(), image.manifest.size));
    out
}

fn json(value: &impl serde::Serialize) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_default()
}

/// Writes `image` as an OCI layout directory at `dir` (created; an existing
/// index.json is replaced).
pub fn write_layout_dir(
    content: &ContentStore,
    image: &ArchiveImage<'_>,
    dir: &Path,
) -> Result<(), ArchiveError> {
    write_layout(content, &layout_index(image), blobs(image), dir)
}

/// Writes a layout directory with `index` as index.json and `blobs`.
fn write_layout(
    content: &ContentStore,
    index: &ImageIndex,
    blobs: Vec<(Digest, u64)>,
    dir: &Path,
) -> Result<(), ArchiveError> {
    let io = |op, path: &Path| {
        let path = path.to_path_buf();
        move |source| ArchiveError::Io { op, path, source }
    };
    let blob_dir = dir.join("blobs/sha256");
    fs::create_dir_all(&blob_dir).map_err(io("create", &blob_dir))?;
    for (digest, _) in blobs {
        let dest = blob_dir.join(digest.hex());
        if dest.exists() {
            continue;
        }
        let src = content.path(&digest);
        if fs::hard_link(&src, &dest).is_err() {
            fs::copy(&src, &dest).map_err(io("copy", &src))?;
        }
    }
    let marker = dir.join("oci-layout");
    fs::write(&marker, LAYOUT_MARKER).map_err(io("write", &marker))?;
    let index_path = dir.join("index.json");
    fs::write(&index_path, json(index)).map_err(io("write", &index_path))?;
    Ok(())
}

/// Writes `image` as an OCI layout in a tar to `out`.
pub fn write_oci_tar(
    content: &ContentStore,
    image: &ArchiveImage<'_>,
    mtime: u64,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let mut tar = ArchiveTar::new(out, mtime);
    tar.layout(content, image)?;
    tar.finish()
}

/// A multi-platform image an OCI layout holds: the index descriptor, each
/// entry of the index with its parsed manifest, and the names. The
/// layout's index.json points at the image index (a nested index, as
/// BuildKit writes it), which points at the platforms' manifests.
#[derive(Debug, Clone, Copy)]
pub struct ArchiveIndex<'a> {
    pub index: &'a Descriptor,
    pub images: &'a [(Descriptor, ImageManifest)],
    pub names: &'a [String],
}

impl ArchiveIndex<'_> {
    fn layout_index(&self) -> Option<ImageIndex> {
        let (_, first) = self.images.first()?;
        Some(layout_index(&ArchiveImage {
            manifest: self.index,
            parsed: first,
            names: self.names,
        }))
    }

    /// Every platform's blobs, then the index.
    fn blobs(&self) -> Vec<(Digest, u64)> {
        let mut out: Vec<(Digest, u64)> = Vec::new();
        for (d, m) in self.images {
            let image = ArchiveImage {
                manifest: d,
                parsed: m,
                names: &[],
            };
            for b in blobs(&image) {
                if !out.contains(&b) {
                    out.push(b);
                }
            }
        }
        out.push((self.index.digest.clone(), self.index.size));
        out
    }
}

/// Writes a multi-platform image as an OCI layout directory at `dir`.
pub fn write_index_layout_dir(
    content: &ContentStore,
    image: &ArchiveIndex<'_>,
    dir: &Path,
) -> Result<(), ArchiveError> {
    let Some(index) = image.layout_index() else {
        return Ok(());
    };
    write_layout(content, &index, image.blobs(), dir)
}

/// Writes a multi-platform image as an OCI layout in a tar to `out`.
pub fn write_index_oci_tar(
    content: &ContentStore,
    image: &ArchiveIndex<'_>,
    mtime: u64,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let mut tar = ArchiveTar::new(out, mtime);
    if let Some(index) = image.layout_index() {
        tar.layout_of(content, &index, image.blobs())?;
    }
    tar.finish()
}

#[derive(serde::Serialize)]
struct DockerManifestEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags")]
    repo_tags: Vec<String>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Writes `image` as a docker-save tar to `out`.
pub fn write_docker_tar(
    content: &ContentStore,
    image: &ArchiveImage<'_>,
    mtime: u64,
    out: impl Write,
) -> Result<(), ArchiveError> {
    let mut tar = ArchiveTar::new(out, mtime);
    tar.layout(content, image)?;
    let path = |d: &Digest| format!("blobs/sha256/{}", d.hex());
    let entry = DockerManifestEntry {
        config: path(&image.parsed.config.digest),
        repo_tags: image.names.iter().map(|n| familiar_name(n)).collect(),
        layers: image
            .parsed
            .layers
            .iter()
            .map(|l| path(&l.digest))
            .collect(),
    };
    tar.file("manifest.json", &json(&[entry]))?;
    tar.finish()
}

/// A tar being written with normalised headers.
struct ArchiveTar<W: Write> {
    builder: tar::Builder<W>,
    mtime: u64,
}

impl<W: Write> ArchiveTar<W> {
    fn new(out: W, mtime: u64) -> Self {
        let mut builder = tar::Builder::new(out);
        builder.mode(tar::HeaderMode::Deterministic);
        builder.follow_symlinks(false);
        builder.sparse(false);
        ArchiveTar { builder, mtime }
    }

    fn header(&self, kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_size(size);
        h.set_mtime(self.mtime);
        h.set_uid(0);
        h.set_gid(0);
        h
    }

    fn dir(&mut self, path: &str) -> Result<(), ArchiveError> {
        let mut h = self.header(tar::EntryType::Directory, 0o755, 0);
        self.builder
            .append_data(&mut h, path, io::empty())
            .map_err(ArchiveError::Write)
    }

    fn file(&mut self, path: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        let mut h = self.header(tar::EntryType::Regular, 0o644, bytes.len() as u64);
        self.builder
            .append_data(&mut h, path, bytes)
            .map_err(ArchiveError::Write)
    }

    fn blob(
        &mut self,
        content: &ContentStore,
        digest: &Digest,
        size: u64,
    ) -> Result<(), ArchiveError> {
        let reader = content
            .open_blob(digest)
            .map_err(|source| ArchiveError::Content {
                digest: digest.clone(),
                source,
            })?;
        let mut h = self.header(tar::EntryType::Regular, 0o644, size);
        self.builder
            .append_data(&mut h, format!("blobs/sha256/{}", digest.hex()), reader)
            .map_err(ArchiveError::Write)
    }

    fn layout(
        &mut self,
        content: &ContentStore,
        image: &ArchiveImage<'_>,
    ) -> Result<(), ArchiveError> {
        self.layout_of(content, &layout_index(image), blobs(image))
    }

    fn layout_of(
        &mut self,
        content: &ContentStore,
        index: &ImageIndex,
        blobs: Vec<(Digest, u64)>,
    ) -> Result<(), ArchiveError> {
        self.file("oci-layout", LAYOUT_MARKER)?;
        self.file("index.json", &json(index))?;
        self.dir("blobs/")?;
        self.dir("blobs/sha256/")?;
        for (digest, size) in blobs {
            self.blob(content, &digest, size)?;
        }
        Ok(())
    }

    fn finish(self) -> Result<(), ArchiveError> {
        let mut out = self.builder.into_inner().map_err(ArchiveError::Write)?;
        out.flush().map_err(ArchiveError::Write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_index_names_each_tag_like_buildkit() {
        let d = Descriptor {
            media_type: crate::source::image::manifest::OCI_MANIFEST.into(),
            digest: Digest::of(b"m"),
            size: 1,
            platform: None,
            annotations: BTreeMap::new(),
            urls: Vec::new(),
        };
        let m = ImageManifest {
            schema_version: 2,
            media_type: None,
            config: d.clone(),
            layers: vec![],
            annotations: BTreeMap::new(),
        };
        let names = [
            "docker.io/library/app:v1".to_string(),
            "localhost:5000/x:2".to_string(),
        ];
        let idx = layout_index(&ArchiveImage {
            manifest: &d,
            parsed: &m,
            names: &names,
        });
        assert_eq!(idx.manifests.len(), 2);
        assert_eq!(idx.manifests[0].annotations[ANNOTATION_REF_NAME], "v1");
        assert_eq!(idx.manifests[1].annotations[ANNOTATION_REF_NAME], "2");
        assert_eq!(
            idx.manifests[1].annotations[ANNOTATION_IMAGE_NAME],
            "localhost:5000/x:2"
        );
    }
}
