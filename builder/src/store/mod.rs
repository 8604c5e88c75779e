//! The local image store: an OCI image layout inside the data root.
//!
//! ```text
//! ROOT/images/index.json   entries: manifest descriptors, named by the
//!                          `org.opencontainers.image.ref.name` annotation
//!                          (a normalised reference, `docker.io/library/app:latest`)
//! ROOT/images/oci-layout   the layout marker
//! ROOT/images/lock         flock held while index.json is updated
//! ROOT/content/blobs/sha256/...   the blobs (the shared content store)
//! ```
//!
//! Every update reads index.json, changes it and writes it back atomically
//! (temp file, fsync, rename) while holding an exclusive flock on `lock`, so
//! concurrent hoist processes never lose each other's tags. An image that
//! loses its last name stays as an unnamed entry (Docker's dangling image)
//! until it is removed by id.
//!
//! An entry may be an image index (a multi-platform build): [`ImageStore::details`]
//! then reads the host platform's image (else the first), and
//! [`ImageStore::platform_images`] lists every platform's manifest.

pub mod du;
pub mod load;

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use hoist_frontend::graph::{ImageConfig, Platform};
use hoist_snapshotter::content::{ContentError, ContentStore};
use hoist_snapshotter::digest::Digest;
use nix::fcntl::{Flock, FlockArg};

use crate::registry::{Reference, ReferenceError};
use crate::root::DataRoot;
use crate::source::image::manifest::{
    ANNOTATION_REF_NAME, Descriptor, ImageIndex, ImageManifest, ManifestDocument, ManifestError,
    OCI_INDEX,
};

/// Errors of the image store; each names the file or image concerned.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a valid image index: {source}")]
    Index {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error("no such image: {0}")]
    NotFound(String),
    #[error("{name} matches several images; use a longer id")]
    Ambiguous { name: String },
    #[error("image {digest}: {source}")]
    Content {
        digest: Digest,
        #[source]
        source: ContentError,
    },
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error("opening the content store: {0}")]
    ContentOpen(#[source] ContentError),
    #[error("image {digest}: {message}")]
    Invalid { digest: Digest, message: String },
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> StoreError + 'a {
    move |source| StoreError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// One entry of the store: a manifest and its name (`None`: dangling).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredImage {
    pub name: Option<String>,
    pub descriptor: Descriptor,
}

/// An image read back from the store.
#[derive(Debug, Clone)]
pub struct ImageDetails {
    pub descriptor: Descriptor,
    pub manifest: ImageManifest,
    pub config_bytes: Vec<u8>,
    pub config: ImageConfig,
}

impl ImageDetails {
    /// The image id (config digest).
    pub fn id(&self) -> &Digest {
        &self.manifest.config.digest
    }
    /// Config plus layer sizes (compressed), what `hoist images` shows.
    pub fn size(&self) -> u64 {
        self.manifest.config.size + self.manifest.layers.iter().map(|l| l.size).sum::<u64>()
    }
}

/// The local image store of one data root.
#[derive(Debug, Clone)]
pub struct ImageStore {
    dir: PathBuf,
    content: ContentStore,
}

/// `app` → `docker.io/library/app:latest`.
pub fn normalise_name(name: &str) -> Result<String, ReferenceError> {
    Ok(Reference::parse(name)?.to_string())
}

/// `docker.io/library/app:latest` → `app:latest` (how Docker shows names).
pub fn familiar_name(name: &str) -> String {
    name.strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name)
        .to_string()
}

impl ImageStore {
    /// Opens the store of `root`.
    pub fn open(root: &DataRoot) -> Result<ImageStore, StoreError> {
        let content = ContentStore::open(root.content()).map_err(StoreError::ContentOpen)?;
        let dir = root.images();
        fs::create_dir_all(&dir).map_err(io_err("create", &dir))?;
        let marker = dir.join("oci-layout");
        if !marker.exists() {
            fs::write(&marker, br#"{"imageLayoutVersion":"1.0.0"}"#)
                .map_err(io_err("write", &marker))?;
        }
        Ok(ImageStore { dir, content })
    }

    pub fn content(&self) -> &ContentStore {
        &self.content
    }

    fn index_path(&self) -> PathBuf {
        self.dir.join("index.json")
    }

    fn read_index(&self) -> Result<ImageIndex, StoreError> {
        let path = self.index_path();
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| StoreError::Index { path, source })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ImageIndex {
                schema_version: 2,
                media_type: Some(OCI_INDEX.to_string()),
                manifests: Vec::new(),
                annotations: BTreeMap::new(),
            }),
            Err(e) => Err(io_err("read", &path)(e)),
        }
    }

    fn write_index(&self, index: &ImageIndex) -> Result<(), StoreError> {
        let path = self.index_path();
        let bytes = serde_json::to_vec_pretty(index).map_err(|source| StoreError::Index {
            path: path.clone(),
            source,
        })?;
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)
            .map_err(io_err("create temp file in", &self.dir))?;
        tmp.write_all(&bytes).map_err(io_err("write", tmp.path()))?;
        tmp.as_file().sync_all().map_err(io_err("fsync", &path))?;
        tmp.persist(&path)
            .map_err(|e| io_err("rename into", &path)(e.error))?;
        Ok(())
    }

    /// Runs `change` on index.json under the store's lock and writes the result.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut ImageIndex) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let lock_path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        let _lock: Flock<File> = Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, e)| io_err("lock", &lock_path)(io::Error::from(e)))?;
        let mut index = self.read_index()?;
        let out = change(&mut index)?;
        self.write_index(&index)?;
        Ok(out)
    }

    /// Every entry, in index order.
    pub fn list(&self) -> Result<Vec<StoredImage>, StoreError> {
        Ok(self
            .read_index()?
            .manifests
            .into_iter()
            .map(|d| StoredImage {
                name: d.annotations.get(ANNOTATION_REF_NAME).cloned(),
                descriptor: d,
            })
            .collect())
    }

    /// Names the manifest `manifest` with each of `names` (normalised); a
    /// name already in use moves. Without names the image is kept unnamed.
    pub fn tag(&self, manifest: &Descriptor, names: &[String]) -> Result<(), StoreError> {
        let names: Vec<String> = names
            .iter()
            .map(|n| normalise_name(n))
            .collect::<Result<_, _>>()?;
        self.update(|index| {
            let mut bare = manifest.clone();
            bare.annotations.remove(ANNOTATION_REF_NAME);
            for name in &names {
                index
                    .manifests
                    .retain(|d| d.annotations.get(ANNOTATION_REF_NAME) != Some(name));
                let mut entry = bare.clone();
                entry
                    .annotations
                    .insert(ANNOTATION_REF_NAME.to_string(), name.clone());
                index.manifests.push(entry);
            }
            let named = |d: &Digest, idx: &ImageIndex| {
                idx.manifests
                    .iter()
                    .any(|e| &e.digest == d && e.annotations.contains_key(ANNOTATION_REF_NAME))
            };
            // Unnamed entries are only kept for images without any name.
            let snapshot = index.clone();
            index.manifests.retain(|e| {
                e.annotations.contains_key(ANNOTATION_REF_NAME) || !named(&e.digest, &snapshot)
            });
            let missing =
                |d: &Digest, idx: &ImageIndex| !idx.manifests.iter().any(|e| &e.digest == d);
            if names.is_empty() && missing(&manifest.digest, index) {
                index.manifests.push(bare);
            }
            Ok(())
        })
    }

    /// Finds an image by name (`app`, `app:1`, normalised) or by id /
    /// manifest digest (`sha256:…` or a unique hex prefix of 12+ digits).
    pub fn lookup(&self, name: &str) -> Result<StoredImage, StoreError> {
        let entries = self.list()?;
        if let Ok(full) = normalise_name(name)
            && let Some(e) = entries.iter().find(|e| e.name.as_deref() == Some(&full))
        {
            return Ok(e.clone());
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.len() >= 4 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found: Vec<StoredImage> = Vec::new();
            for e in entries {
                let id = self.details(&e.descriptor).ok().map(|d| d.id().clone());
                let hit = e.descriptor.digest.hex().starts_with(hex)
                    || id.is_some_and(|i| i.hex().starts_with(hex));
                if hit
                    && !found
                        .iter()
                        .any(|f| f.descriptor.digest == e.descriptor.digest)
                {
                    found.push(e);
                }
            }
            return match found.len() {
                0 => Err(StoreError::NotFound(name.to_string())),
                1 => Ok(found.remove(0)),
                _ => Err(StoreError::Ambiguous {
                    name: name.to_string(),
                }),
            };
        }
        Err(StoreError::NotFound(name.to_string()))
    }

    fn read_blob(&self, d: &Digest) -> Result<Vec<u8>, StoreError> {
        self.content.read(d).map_err(|source| StoreError::Content {
            digest: d.clone(),
            source,
        })
    }

    fn document(&self, descriptor: &Descriptor) -> Result<ManifestDocument, StoreError> {
        let bytes = self.read_blob(&descriptor.digest)?;
        Ok(ManifestDocument::parse(
            &bytes,
            &descriptor.digest,
            Some(&descriptor.media_type),
        )?)
    }

    /// For an index entry, each platform's manifest descriptor (with its
    /// `platform`) and parsed manifest, in index order; `None` for a
    /// single-platform image. Nested indexes are not followed.
    pub fn platform_images(
        &self,
        descriptor: &Descriptor,
    ) -> Result<Option<Vec<(Descriptor, ImageManifest)>>, StoreError> {
        let ManifestDocument::Index(index) = self.document(descriptor)? else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for d in index.manifests {
            if let ManifestDocument::Image(m) = self.document(&d)? {
                out.push((d, m));
            }
        }
        Ok(Some(out))
    }

    /// Reads the manifest and config of an entry; for an index, of its
    /// `linux/<host>` image, else its first.
    pub fn details(&self, descriptor: &Descriptor) -> Result<ImageDetails, StoreError> {
        let read = |d: &Digest| self.read_blob(d);
        let manifest = match self.document(descriptor)? {
            ManifestDocument::Image(m) => m,
            ManifestDocument::Index(index) => {
                let host = Platform::host();
                let linux = Platform::new("linux", &host.architecture, &host.variant);
                let child = index
                    .select(&linux)
                    .or(index.manifests.first())
                    .ok_or_else(|| StoreError::Invalid {
                        digest: descriptor.digest.clone(),
                        message: "is an empty index".into(),
                    })?;
                if child.digest == descriptor.digest {
                    return Err(StoreError::Invalid {
                        digest: descriptor.digest.clone(),
                        message: "is an index naming itself".into(),
                    });
                }
                return self.details(child);
            }
        };
        let config_bytes = read(&manifest.config.digest)?;
        let config = ImageConfig::from_json(&config_bytes).map_err(|e| StoreError::Invalid {
            digest: manifest.config.digest.clone(),
            message: format!("invalid config: {e}"),
        })?;
        let mut descriptor = descriptor.clone();
        descriptor.annotations.clear();
        Ok(ImageDetails {
            descriptor,
            manifest,
            config_bytes,
            config,
        })
    }

    /// `hoist rm NAME`: removes the name; by id, removes every entry of the
    /// image. Returns the removed names (or the digest for an unnamed entry).
    /// Blobs stay in the content store (a later prune collects them).
    pub fn remove(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let target = self.lookup(name)?;
        let by_name = normalise_name(name).ok() == target.name;
        self.update(|index| {
            let mut removed = Vec::new();
            index.manifests.retain(|e| {
                let name = e.annotations.get(ANNOTATION_REF_NAME);
                let hit = if by_name {
                    name == target.name.as_ref()
                } else {
                    e.digest == target.descriptor.digest
                };
                if hit {
                    removed.push(name.cloned().unwrap_or_else(|| e.digest.to_string()));
                }
                !hit
            });
            Ok(removed)
        })
    }

    /// Every blob the stored images need (manifests, configs, layers).
    pub fn referenced_blobs(&self) -> Result<Vec<Digest>, StoreError> {
        let mut out = Vec::new();
        let add = |out: &mut Vec<Digest>, m: &ImageManifest| {
            out.push(m.config.digest.clone());
            out.extend(m.layers.iter().map(|l| l.digest.clone()));
        };
        for e in self.list()? {
            out.push(e.descriptor.digest.clone());
            match self.platform_images(&e.descriptor) {
                Ok(Some(images)) => {
                    for (d, m) in &images {
                        out.push(d.digest.clone());
                        add(&mut out, m);
                    }
                }
                _ => {
                    if let Ok(d) = self.details(&e.descriptor) {
                        add(&mut out, &d.manifest);
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
