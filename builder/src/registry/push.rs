//! Pushing an image from the content store to a registry: [`push_image`].
//!
//! The image is read from the store first (the manifest, or an index and
//! its child manifests, any depth), giving the blobs to send (configs and
//! layers, each once) and the manifests in the order a registry accepts
//! them: children before the index that names them. Then:
//!
//! 1. every blob goes up, a few at a time ([`super::blob_upload`]): HEAD
//!    first (present: skipped, no bytes sent), else a cross-repository mount
//!    when [`PushOptions::blob_sources`] names a repository of the same
//!    registry, else a streamed upload;
//! 2. the manifests are sent with their exact stored bytes, so their digests
//!    hold: child manifests by digest, the top one by the target's tag (or
//!    by digest when the target has none).
//!
//! Authentication, plain HTTP for loopback and insecure registries, and
//! retries of transient failures are the [`RegistryClient`]'s.

use std::collections::{HashMap, HashSet};

use futures_util::{StreamExt, TryStreamExt, stream};
use hoist_snapshotter::content::{ContentError, ContentStore};
use hoist_snapshotter::digest::Digest;
use oci_client::RegistryOperation;
use oci_client::errors::OciDistributionError;

use super::blob_upload::{BlobOutcome, BlobTarget};
use super::client::RegistryClient;
use super::error::{RegistryError, classify, describe};
use super::reference::Reference;
use crate::source::image::ResolvedImage;
use crate::source::image::manifest::{
    Descriptor, ManifestDocument, ManifestError, OCI_INDEX, OCI_MANIFEST,
};

/// Something a push did, for progress display.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushEvent {
    /// `current` of `total` bytes of a blob sent (0 when it starts, `total`
    /// when it is done).
    Blob {
        digest: Digest,
        current: u64,
        total: u64,
    },
    /// The registry had the blob already.
    Skipped { digest: Digest },
    /// The blob was mounted from another repository of the registry.
    Mounted { digest: Digest },
    /// A manifest (or index) was stored.
    Manifest { digest: Digest },
}

/// What a push did with each blob.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Blobs sent, in the image's order (configs, layers).
    pub uploaded: Vec<Digest>,
    /// Blobs the target repository had already.
    pub skipped: Vec<Digest>,
    /// Blobs mounted from another repository.
    pub mounted: Vec<Digest>,
    /// Bytes of blobs sent (manifests not counted).
    pub bytes_uploaded: u64,
    /// Manifests stored, children first, the pushed one last.
    pub manifests: Vec<Digest>,
}

/// Choices of a push beyond the image and the target.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// Repositories known to hold a blob (e.g. the base image a layer was
    /// pulled from). A blob whose source is on the target's registry, in
    /// another repository, is mounted from there instead of uploaded, when
    /// the registry allows it.
    pub blob_sources: HashMap<Digest, Reference>,
}

impl PushOptions {
    /// Adds the layers of a base image pulled from a registry as blobs its
    /// repository holds (images from layouts and archives add nothing).
    pub fn with_base_image(mut self, base: &ResolvedImage) -> Self {
        if let Some(reference) = &base.reference {
            for layer in &base.layers {
                self.blob_sources
                    .insert(layer.digest.clone(), reference.clone());
            }
        }
        self
    }
}

/// A failed push; each names the target and the blob or manifest.
#[derive(Debug, thiserror::Error)]
pub enum PushError {
    /// Credentials that cannot be read, a refused auth handshake.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("pushing to {target}: {what} {digest} in the content store: {source}")]
    Store {
        target: Box<Reference>,
        what: &'static str,
        digest: Digest,
        #[source]
        source: ContentError,
    },
    #[error("pushing to {target}: {source}")]
    Manifest {
        target: Box<Reference>,
        #[source]
        source: ManifestError,
    },
    #[error("pushing to {target}: the target names digest {expected}, but the image is {actual}")]
    TargetDigest {
        target: Box<Reference>,
        expected: Digest,
        actual: Digest,
    },
    #[error("pushing to {target}: index {digest} nests deeper than {MAX_DEPTH} levels")]
    TooDeep {
        target: Box<Reference>,
        digest: Digest,
    },
    /// The registry refused or failed a blob or manifest upload; `status` is
    /// its HTTP status when it answered.
    #[error("pushing {what} {digest} to {target}: {message}")]
    Upload {
        target: Box<Reference>,
        what: &'static str,
        digest: Digest,
        status: Option<u16>,
        message: String,
    },
}

/// How deep indexes may nest (an index of indexes of manifests is 2).
const MAX_DEPTH: usize = 4;

/// Pushes the image whose manifest (or index) `manifest_digest` is in
/// `store` (with its config and layer blobs, and for an index its child
/// manifests) to `target`.
pub async fn push_image(
    client: &RegistryClient,
    store: &ContentStore,
    manifest_digest: &Digest,
    target: &Reference,
    progress: &(dyn Fn(PushEvent) + Sync),
) -> Result<PushReport, PushError> {
    push_image_with(
        client,
        store,
        manifest_digest,
        target,
        &PushOptions::default(),
        progress,
    )
    .await
}

/// [`push_image`] with [`PushOptions`].
pub async fn push_image_with(
    client: &RegistryClient,
    store: &ContentStore,
    manifest_digest: &Digest,
    target: &Reference,
    options: &PushOptions,
    progress: &(dyn Fn(PushEvent) + Sync),
) -> Result<PushReport, PushError> {
    if let Some(expected) = target.digest()
        && expected != manifest_digest
    {
        return Err(PushError::TargetDigest {
            target: Box::new(target.clone()),
            expected: expected.clone(),
            actual: manifest_digest.clone(),
        });
    }
    let plan = {
        let store = store.clone();
        let digest = manifest_digest.clone();
        let owned_target = target.clone();
        tokio::task::spawn_blocking(move || PushPlan::read(&store, &digest, &owned_target))
            .await
            .map_err(|e| RegistryError::Registry {
                reference: Box::new(target.clone()),
                message: format!("reading the image to push stopped: {e}"),
            })??
    };

    let (oci, auth) = client.client_for(target)?;
    let oref = RegistryClient::oci_reference(target);
    client
        .retrying(|| oci.auth(&oref, &auth, RegistryOperation::Push))
        .await
        .map_err(|e| classify(target, e))?;

    let blobs = BlobTarget {
        registry: client,
        client: &oci,
        target,
        oref: &oref,
        store,
    };
    let mount_source = |d: &Descriptor| {
        options.blob_sources.get(&d.digest).filter(|source| {
            source.registry() == target.registry() && source.repository() != target.repository()
        })
    };
    let mut pushes = Vec::with_capacity(plan.blobs.len());
    for d in &plan.blobs {
        pushes.push(blobs.push(d, mount_source(d), progress));
    }
    let outcomes: Vec<BlobOutcome> = stream::iter(pushes)
        .buffered(client.options().max_concurrent_uploads.max(1))
        .try_collect()
        .await?;

    let mut report = PushReport::default();
    for (d, outcome) in plan.blobs.iter().zip(outcomes) {
        match outcome {
            BlobOutcome::Skipped => report.skipped.push(d.digest.clone()),
            BlobOutcome::Mounted => report.mounted.push(d.digest.clone()),
            BlobOutcome::Uploaded(bytes) => {
                report.uploaded.push(d.digest.clone());
                report.bytes_uploaded += bytes;
            }
        }
    }

    for manifest in &plan.manifests {
        let destination = if manifest.digest == *manifest_digest {
            match target.tag() {
                Some(tag) => target.with_tag(tag),
                None => target.with_digest(manifest.digest.clone()),
            }
        } else {
            target.with_digest(manifest.digest.clone())
        };
        let mref = RegistryClient::oci_reference(&destination);
        let content_type = header_value(&manifest.media_type)
            .map_err(|message| manifest_failure(target, &manifest.digest, None, message))?;
        client
            .retrying(|| oci.push_manifest_raw(&mref, manifest.bytes.clone(), content_type.clone()))
            .await
            .map_err(|e| manifest_failure(target, &manifest.digest, status_of(&e), describe(&e)))?;
        progress(PushEvent::Manifest {
            digest: manifest.digest.clone(),
        });
        report.manifests.push(manifest.digest.clone());
    }
    Ok(report)
}

fn manifest_failure(
    target: &Reference,
    digest: &Digest,
    status: Option<u16>,
    message: String,
) -> PushError {
    PushError::Upload {
        target: Box::new(target.clone()),
        what: "manifest",
        digest: digest.clone(),
        status,
        message,
    }
}

fn header_value(media_type: &str) -> Result<http::HeaderValue, String> {
    http::HeaderValue::from_str(media_type)
        .map_err(|_| format!("media type {media_type:?} is not a valid header value"))
}

/// The HTTP status of a registry answer inside an oci-client error.
pub(super) fn status_of(e: &OciDistributionError) -> Option<u16> {
    match e {
        OciDistributionError::ServerError { code, .. } => Some(*code),
        OciDistributionError::RequestError(r) => r.status().map(|s| s.as_u16()),
        OciDistributionError::UnauthorizedError { .. } => Some(401),
        _ => None,
    }
}

/// A manifest to send: its exact bytes and the media type it declares.
#[derive(Debug, Clone)]
struct PlannedManifest {
    digest: Digest,
    media_type: String,
    bytes: bytes::Bytes,
}

/// What a push sends, read from the store before anything goes out.
#[derive(Debug, Default)]
struct PushPlan {
    /// Configs and layers, each once, in manifest order.
    blobs: Vec<Descriptor>,
    /// Children before the index naming them; the pushed manifest last.
    manifests: Vec<PlannedManifest>,
}

impl PushPlan {
    fn read(store: &ContentStore, digest: &Digest, target: &Reference) -> Result<Self, PushError> {
        let mut plan = PushPlan::default();
        let mut seen_blobs = HashSet::new();
        let mut seen_manifests = HashSet::new();
        plan.visit(
            store,
            digest,
            None,
            target,
            0,
            &mut seen_blobs,
            &mut seen_manifests,
        )?;
        Ok(plan)
    }

    #[allow(clippy::too_many_arguments)]
    fn visit(
        &mut self,
        store: &ContentStore,
        digest: &Digest,
        descriptor_media_type: Option<&str>,
        target: &Reference,
        depth: usize,
        seen_blobs: &mut HashSet<Digest>,
        seen_manifests: &mut HashSet<Digest>,
    ) -> Result<(), PushError> {
        if !seen_manifests.insert(digest.clone()) {
            return Ok(());
        }
        if depth > MAX_DEPTH {
            return Err(PushError::TooDeep {
                target: Box::new(target.clone()),
                digest: digest.clone(),
            });
        }
        let bytes = store.read(digest).map_err(|source| PushError::Store {
            target: Box::new(target.clone()),
            what: "manifest",
            digest: digest.clone(),
            source,
        })?;
        let document =
            ManifestDocument::parse(&bytes, digest, descriptor_media_type).map_err(|source| {
                PushError::Manifest {
                    target: Box::new(target.clone()),
                    source,
                }
            })?;
        let media_type = match &document {
            ManifestDocument::Image(m) => m
                .media_type
                .as_deref()
                .or(descriptor_media_type)
                .unwrap_or(OCI_MANIFEST),
            ManifestDocument::Index(i) => i
                .media_type
                .as_deref()
                .or(descriptor_media_type)
                .unwrap_or(OCI_INDEX),
        }
        .to_string();
        match &document {
            ManifestDocument::Image(m) => {
                for d in std::iter::once(&m.config).chain(&m.layers) {
                    // Non-distributable layers the store never had stay
                    // where their URLs point.
                    if !d.urls.is_empty() && !store.contains(&d.digest) {
                        continue;
                    }
                    if seen_blobs.insert(d.digest.clone()) {
                        self.blobs.push(d.clone());
                    }
                }
            }
            ManifestDocument::Index(index) => {
                for child in &index.manifests {
                    self.visit(
                        store,
                        &child.digest,
                        Some(&child.media_type),
                        target,
                        depth + 1,
                        seen_blobs,
                        seen_manifests,
                    )?;
                }
            }
        }
        self.manifests.push(PlannedManifest {
            digest: digest.clone(),
            media_type,
            bytes: bytes::Bytes::from(bytes),
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::RegistryOptions;
    use serde_json::json;

    fn target() -> Reference {
        Reference::parse("127.0.0.1:5000/app:1").unwrap()
    }

    fn put(store: &ContentStore, value: &serde_json::Value) -> (Digest, u64) {
        let bytes = serde_json::to_vec(value).unwrap();
        (
            store.write_bytes(&bytes, None, "test").unwrap(),
            bytes.len() as u64,
        )
    }

    fn descriptor(media_type: &str, (digest, size): &(Digest, u64)) -> serde_json::Value {
        json!({"mediaType": media_type, "digest": digest.to_string(), "size": size})
    }

    /// An image manifest of `config` and `layers` (already in the store).
    fn manifest(
        store: &ContentStore,
        config: &(Digest, u64),
        layers: &[&(Digest, u64)],
    ) -> (Digest, u64) {
        let layers: Vec<_> = layers
            .iter()
            .map(|l| descriptor("application/vnd.oci.image.layer.v1.tar+gzip", l))
            .collect();
        put(
            store,
            &json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": descriptor("application/vnd.oci.image.config.v1+json", config),
                "layers": layers,
            }),
        )
    }

    fn blob(store: &ContentStore, text: &str) -> (Digest, u64) {
        (
            store.write_bytes(text.as_bytes(), None, "test").unwrap(),
            text.len() as u64,
        )
    }

    #[test]
    fn plan_sends_shared_blobs_once_and_children_before_their_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let shared = blob(&store, "shared layer");
        let own = blob(&store, "arm layer");
        let c1 = blob(&store, "{\"architecture\":\"amd64\"}");
        let c2 = blob(&store, "{\"architecture\":\"arm64\"}");
        let m1 = manifest(&store, &c1, &[&shared]);
        let m2 = manifest(&store, &c2, &[&shared, &own]);
        // Docker's list type, and children without a mediaType of their own
        // get the one their descriptor gives.
        let index = put(
            &store,
            &json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
                "manifests": [descriptor(OCI_MANIFEST, &m1), descriptor(OCI_MANIFEST, &m2)],
            }),
        );

        let plan = PushPlan::read(&store, &index.0, &target()).unwrap();

        let blobs: Vec<&Digest> = plan.blobs.iter().map(|d| &d.digest).collect();
        assert_eq!(blobs, vec![&c1.0, &shared.0, &c2.0, &own.0]);
        let manifests: Vec<(&Digest, &str)> = plan
            .manifests
            .iter()
            .map(|m| (&m.digest, m.media_type.as_str()))
            .collect();
        assert_eq!(
            manifests,
            vec![
                (&m1.0, OCI_MANIFEST),
                (&m2.0, OCI_MANIFEST),
                (
                    &index.0,
                    "application/vnd.docker.distribution.manifest.list.v2+json"
                ),
            ]
        );
        // The exact stored bytes go out.
        assert_eq!(
            plan.manifests[2].bytes.as_ref(),
            store.read(&index.0).unwrap()
        );
    }

    #[test]
    fn plan_of_an_index_with_a_missing_child_names_the_child() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let absent = Digest::of(b"never stored");
        let index = put(
            &store,
            &json!({
                "schemaVersion": 2,
                "mediaType": OCI_INDEX,
                "manifests": [descriptor(OCI_MANIFEST, &(absent.clone(), 12))],
            }),
        );
        let err = PushPlan::read(&store, &index.0, &target()).unwrap_err();
        assert!(
            matches!(&err, PushError::Store { what: "manifest", digest, .. } if *digest == absent),
            "{err:?}"
        );
        assert!(err.to_string().contains(&absent.to_string()), "{err}");
        assert!(err.to_string().contains("127.0.0.1:5000/app:1"), "{err}");
    }

    #[test]
    fn plan_leaves_out_foreign_layers_the_store_does_not_have() {
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let config = blob(&store, "{}");
        let foreign = Digest::of(b"windows base layer");
        let m = put(
            &store,
            &json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": descriptor("application/vnd.oci.image.config.v1+json", &config),
                "layers": [{
                    "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                    "digest": foreign.to_string(),
                    "size": 18,
                    "urls": ["https://example.com/layer"],
                }],
            }),
        );
        let plan = PushPlan::read(&store, &m.0, &target()).unwrap();
        let blobs: Vec<&Digest> = plan.blobs.iter().map(|d| &d.digest).collect();
        assert_eq!(blobs, vec![&config.0]);
    }

    #[test]
    fn base_image_from_a_registry_names_its_repository_for_its_layers() {
        let platform = "linux/amd64".parse().unwrap();
        let layer = Digest::of(b"base layer");
        let mut base = ResolvedImage::scratch(&platform);
        base.layers.push(crate::source::image::Layer {
            digest: layer.clone(),
            size: 10,
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            diff_id: Digest::of(b"diff"),
        });
        // From a layout: no repository to mount from.
        assert!(
            PushOptions::default()
                .with_base_image(&base)
                .blob_sources
                .is_empty()
        );
        let repo = Reference::parse("127.0.0.1:5000/base:1").unwrap();
        base.reference = Some(repo.clone());
        let options = PushOptions::default().with_base_image(&base);
        assert_eq!(options.blob_sources, HashMap::from([(layer, repo)]));
    }

    #[test]
    fn push_future_can_be_spawned() {
        fn assert_send<T: Send>(_: &T) {}
        let dir = tempfile::tempdir().unwrap();
        let store = ContentStore::open(dir.path()).unwrap();
        let client = RegistryClient::new(RegistryOptions::default());
        let digest = Digest::of(b"x");
        let target = target();
        let progress = |_e: PushEvent| {};
        let future = push_image(&client, &store, &digest, &target, &progress);
        assert_send(&future);
    }
}
