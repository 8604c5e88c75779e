//! [`RegistryClient`]: pulls manifests and blobs over the distribution API
//! through `oci-client`, adding what it lacks for a builder:
//!
//! - plain HTTP for loopback registries (`localhost`, 127.0.0.0/8, `::1`, any
//!   port) and for names the caller lists as insecure; TLS for all others;
//! - credentials from the docker config ([`super::auth`]);
//! - retries with exponential backoff on network errors and 5xx answers;
//! - manifest digests checked against the reference's digest, manifest
//!   lists resolved to one platform, blobs streamed into the
//!   [`ContentStore`] with digest and size checked, several at a time, and
//!   blobs already in the store not fetched again;
//! - errors that name the reference, the registry and the blob.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt, stream};
use hoist_frontend::graph::Platform;
use hoist_snapshotter::content::{ContentError, ContentStore};
use hoist_snapshotter::digest::Digest;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, RegistryOperation};

use super::auth::{Credentials, credentials_for};
use super::error::{RegistryError, classify, describe, is_transient};
use super::reference::Reference;
use crate::progress::{Progress, TransferMeter};
use crate::source::image::manifest::{Descriptor, MANIFEST_MEDIA_TYPES, ManifestDocument};

/// How a [`RegistryClient`] reaches registries.
#[derive(Debug, Clone)]
pub struct RegistryOptions {
    /// Registries (`host` or `host:port`) reached over plain HTTP although
    /// they are not loopback.
    pub insecure: Vec<String>,
    /// Where `config.json` is; `None`: `$DOCKER_CONFIG`, else `~/.docker`.
    pub docker_config_dir: Option<PathBuf>,
    /// Blobs downloaded at once.
    pub max_concurrent_downloads: usize,
    /// Blobs uploaded at once by a push.
    pub max_concurrent_uploads: usize,
    /// Tries of one request before giving up (at least 1).
    pub attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub retry_delay: Duration,
}

impl Default for RegistryOptions {
    fn default() -> Self {
        RegistryOptions {
            insecure: Vec::new(),
            docker_config_dir: None,
            max_concurrent_downloads: 4,
            max_concurrent_uploads: 3,
            attempts: 4,
            retry_delay: Duration::from_millis(250),
        }
    }
}

/// The manifest a pull resolved to, stored in the content store with its
/// config and layers.
#[derive(Debug, Clone)]
pub struct PulledImage {
    /// The reference pinned to `manifest_digest`.
    pub reference: Reference,
    /// Digest of what the tag points at (an index or the manifest itself).
    pub tag_digest: Digest,
    /// Digest of the platform's image manifest.
    pub manifest_digest: Digest,
}

/// A registry client; cheap to share (`&self` everywhere), one per build.
pub struct RegistryClient {
    options: RegistryOptions,
    /// One oci-client per registry: the protocol and the stored auth are
    /// per client.
    clients: Mutex<HashMap<String, (Client, RegistryAuth)>>,
    /// Repositories (`registry/path`) already authenticated for pulling.
    authenticated: Mutex<HashSet<String>>,
    /// Where blob downloads report their bytes (`pulling REF` transfers).
    progress: Option<Arc<dyn Progress>>,
}

/// Whether `registry` (`host[:port]`) is this machine.
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        registry.split(':').next().unwrap_or(registry)
    };
    if host.eq_ignore_ascii_case("localhost") {
        return true;
    }
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => v4.is_loopback(),
        Ok(IpAddr::V6(v6)) => v6 == Ipv6Addr::LOCALHOST,
        Err(_) => false,
    }
}

impl RegistryClient {
    pub fn new(options: RegistryOptions) -> RegistryClient {
        RegistryClient {
            options,
            clients: Mutex::new(HashMap::new()),
            authenticated: Mutex::new(HashSet::new()),
            progress: None,
        }
    }

    /// Reports the bytes of every blob download to `progress` as
    /// [`Event::Transfer`](crate::progress::Event::Transfer)s of the task
    /// `pulling REF`.
    pub fn with_progress(mut self, progress: Arc<dyn Progress>) -> RegistryClient {
        self.progress = Some(progress);
        self
    }

    /// How this client reaches registries.
    pub fn options(&self) -> &RegistryOptions {
        &self.options
    }

    /// Whether requests to `registry` go over plain HTTP.
    pub fn uses_plain_http(&self, registry: &str) -> bool {
        is_loopback(registry) || self.options.insecure.iter().any(|r| r == registry)
    }

    pub(super) fn client_for(
        &self,
        reference: &Reference,
    ) -> Result<(Client, RegistryAuth), RegistryError> {
        let registry = reference.registry().to_string();
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&registry) {
            return Ok(c.clone());
        }
        let auth = match credentials_for(&registry, self.options.docker_config_dir.as_deref())? {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic { username, password } => RegistryAuth::Basic(username, password),
        };
        let protocol = if self.uses_plain_http(&registry) {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        };
        let client = Client::new(ClientConfig {
            protocol,
            platform_resolver: None,
            max_concurrent_download: self.options.max_concurrent_downloads.max(1),
            // Pushes stream each blob in one PUT with its length (see
            // `super::push`): oci-client's chunked upload uses fixed 4 MiB
            // PATCHes, is slower, and cannot be resumed anyway.
            use_monolithic_push: true,
            connect_timeout: Some(Duration::from_secs(30)),
            read_timeout: Some(Duration::from_secs(120)),
            ..ClientConfig::default()
        });
        clients.insert(registry, (client.clone(), auth.clone()));
        Ok((client, auth))
    }

    pub(super) fn oci_reference(reference: &Reference) -> oci_client::Reference {
        let registry = reference.registry().to_string();
        let repository = reference.repository().to_string();
        match (reference.digest(), reference.tag()) {
            (Some(d), _) => oci_client::Reference::with_digest(registry, repository, d.to_string()),
            (None, Some(t)) => oci_client::Reference::with_tag(registry, repository, t.to_string()),
            (None, None) => {
                oci_client::Reference::with_tag(registry, repository, "latest".to_string())
            }
        }
    }

    /// Runs `op` until it succeeds, fails for good, or runs out of attempts.
    pub(super) async fn retrying<T, F, Fut>(&self, mut op: F) -> Result<T, OciDistributionError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, OciDistributionError>>,
    {
        let mut delay = self.options.retry_delay;
        let mut attempt = 1;
        loop {
            match op().await {
                Err(e) if attempt < self.options.attempts.max(1) && is_transient(&e) => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// Runs the auth handshake (anonymous, basic or bearer, as the registry
    /// asks) once per repository, so that a refusal is reported as such.
    async fn authenticate(
        &self,
        reference: &Reference,
        client: &Client,
        auth: &RegistryAuth,
        oref: &oci_client::Reference,
    ) -> Result<(), RegistryError> {
        let key = reference.name();
        let seen = self
            .authenticated
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&key);
        if seen {
            return Ok(());
        }
        self.retrying(|| client.auth(oref, auth, RegistryOperation::Pull))
            .await
            .map_err(|e| classify(reference, e))?;
        self.authenticated
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key);
        Ok(())
    }

    /// Fetches the manifest `reference` names, exactly as the registry
    /// sent it, and its digest (checked against the reference's digest).
    pub async fn fetch_manifest(
        &self,
        reference: &Reference,
    ) -> Result<(Vec<u8>, Digest), RegistryError> {
        let (client, auth) = self.client_for(reference)?;
        let oref = Self::oci_reference(reference);
        self.authenticate(reference, &client, &auth, &oref).await?;
        let (bytes, _) = self
            .retrying(|| client.pull_manifest_raw(&oref, &auth, MANIFEST_MEDIA_TYPES))
            .await
            .map_err(|e| classify(reference, e))?;
        let actual = Digest::of(&bytes);
        if let Some(expected) = reference.digest()
            && expected != &actual
        {
            return Err(RegistryError::ManifestDigest {
                reference: Box::new(reference.clone()),
                expected: expected.clone(),
                actual,
            });
        }
        Ok((bytes.to_vec(), actual))
    }

    /// The digest the tag (or digest) of `reference` points at, by a HEAD
    /// request (a GET when the registry sends no digest header).
    pub async fn fetch_manifest_digest(
        &self,
        reference: &Reference,
    ) -> Result<Digest, RegistryError> {
        let (client, auth) = self.client_for(reference)?;
        let oref = Self::oci_reference(reference);
        self.authenticate(reference, &client, &auth, &oref).await?;
        let digest = self
            .retrying(|| client.fetch_manifest_digest(&oref, &auth))
            .await
            .map_err(|e| classify(reference, e))?;
        digest.parse().map_err(|_| RegistryError::Registry {
            reference: Box::new(reference.clone()),
            message: format!("the registry sent an unsupported digest {digest:?}"),
        })
    }

    /// Whether `reference`'s repository has the blob `digest` (a HEAD
    /// request; used by the remote cache to check a record before using it).
    pub async fn blob_exists(
        &self,
        reference: &Reference,
        digest: &Digest,
    ) -> Result<bool, RegistryError> {
        let (client, auth) = self.client_for(reference)?;
        let oref = Self::oci_reference(reference);
        self.authenticate(reference, &client, &auth, &oref).await?;
        let text = digest.to_string();
        self.retrying(|| client.blob_exists(&oref, &text))
            .await
            .map_err(|e| classify(reference, e))
    }

    /// Streams one blob of `reference`'s repository into `store`, verified
    /// against `descriptor`; does nothing if the store has it already.
    pub async fn fetch_blob(
        &self,
        reference: &Reference,
        descriptor: &Descriptor,
        store: &ContentStore,
    ) -> Result<(), RegistryError> {
        if store.contains(&descriptor.digest) {
            return Ok(());
        }
        let (client, auth) = self.client_for(reference)?;
        let oref = Self::oci_reference(reference);
        client
            .store_auth_if_needed(oref.resolve_registry(), &auth)
            .await;
        let blob_err = |message: String| RegistryError::Blob {
            reference: Box::new(reference.clone()),
            digest: descriptor.digest.clone(),
            message,
        };
        let mut delay = self.options.retry_delay;
        let mut attempt = 1;
        loop {
            match self
                .fetch_blob_once(&client, &oref, reference, descriptor, store)
                .await
            {
                Ok(()) => return Ok(()),
                Err(BlobFailure::Transient(_)) if attempt < self.options.attempts.max(1) => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    attempt += 1;
                }
                Err(BlobFailure::Transient(message)) => return Err(blob_err(message)),
                Err(BlobFailure::Registry(e)) => {
                    return Err(match classify(reference, e) {
                        RegistryError::Registry { message, .. }
                        | RegistryError::NotFound { message, .. } => blob_err(message),
                        other => other,
                    });
                }
                Err(BlobFailure::Store(source)) => {
                    return Err(RegistryError::Store {
                        reference: Box::new(reference.clone()),
                        digest: descriptor.digest.clone(),
                        source,
                    });
                }
                Err(BlobFailure::Fatal(message)) => return Err(blob_err(message)),
            }
        }
    }

    async fn fetch_blob_once(
        &self,
        client: &Client,
        oref: &oci_client::Reference,
        reference: &Reference,
        descriptor: &Descriptor,
        store: &ContentStore,
    ) -> Result<(), BlobFailure> {
        let digest = descriptor.digest.to_string();
        let mut blob = client
            .pull_blob_stream(oref, digest.as_str())
            .await
            .map_err(|e| {
                if is_transient(&e) {
                    BlobFailure::Transient(describe(&e))
                } else {
                    BlobFailure::Registry(e)
                }
            })?;
        if let Some(len) = blob.content_length
            && len != descriptor.size
        {
            return Err(BlobFailure::Fatal(format!(
                "the registry announces {len} bytes, the manifest says {}",
                descriptor.size
            )));
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Chunk>(16);
        let writer = {
            let store = store.clone();
            let expected = descriptor.digest.clone();
            let size = descriptor.size;
            let source = reference.to_string();
            tokio::task::spawn_blocking(move || -> Result<bool, ContentError> {
                let mut w = store.writer(Some(&expected), Some(size), &source)?;
                let path = store.root().join("ingest");
                while let Some(chunk) = rx.blocking_recv() {
                    match chunk {
                        Chunk::Bytes(b) => w.write_all(&b).map_err(|source| ContentError::Io {
                            op: "write",
                            path: path.clone(),
                            source,
                        })?,
                        Chunk::End => {
                            w.commit()?;
                            return Ok(true);
                        }
                    }
                }
                Ok(false) // the sender gave up: drop the partial blob
            })
        };
        let mut received: u64 = 0;
        let mut failure = None;
        let mut meter = self.progress.as_ref().map(|p| {
            TransferMeter::new(
                p.clone(),
                format!("pulling {reference}"),
                descriptor.digest.to_string(),
                Some(descriptor.size),
            )
        });
        while let Some(item) = blob.next().await {
            match item {
                Ok(bytes) => {
                    received += bytes.len() as u64;
                    if let Some(m) = meter.as_mut() {
                        m.set(received);
                    }
                    if received > descriptor.size {
                        failure = Some(BlobFailure::Fatal(format!(
                            "the registry sent more than the {} bytes the manifest says",
                            descriptor.size
                        )));
                        break;
                    }
                    if tx.send(Chunk::Bytes(bytes)).await.is_err() {
                        break; // the writer failed; its error is reported below
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    failure = Some(
                        if message.contains("digest") || message.contains("Digest") {
                            BlobFailure::Fatal(message)
                        } else {
                            BlobFailure::Transient(message)
                        },
                    );
                    break;
                }
            }
        }
        if failure.is_none() {
            let _ = tx.send(Chunk::End).await;
        }
        drop(tx);
        let written = writer
            .await
            .map_err(|e| BlobFailure::Fatal(format!("blob writer stopped: {e}")))?;
        match (failure, written) {
            (Some(f), _) => Err(f),
            (None, Ok(true)) => {
                if let Some(m) = meter.as_mut() {
                    m.finish();
                }
                Ok(())
            }
            (None, Ok(false)) => Err(BlobFailure::Fatal("blob writer stopped early".into())),
            (None, Err(e)) => Err(BlobFailure::Store(e)),
        }
    }

    /// Fetches several blobs, at most `max_concurrent_downloads` at once.
    pub async fn fetch_blobs(
        &self,
        reference: &Reference,
        descriptors: &[Descriptor],
        store: &ContentStore,
    ) -> Result<(), RegistryError> {
        // Built in a loop rather than with a closure over `&Descriptor`: a
        // closure's higher-ranked lifetime would keep the future from being
        // provably `Send`, which callers that spawn it need.
        let mut fetches = Vec::with_capacity(descriptors.len());
        for d in descriptors {
            fetches.push(self.fetch_blob(reference, d, store));
        }
        stream::iter(fetches)
            .buffer_unordered(self.options.max_concurrent_downloads.max(1))
            .try_collect::<Vec<()>>()
            .await
            .map(|_| ())
    }

    /// Pulls `reference` for `platform`: the manifest (through an index if the
    /// tag names one), its config and its layers, all into `store`.
    pub async fn pull(
        &self,
        reference: &Reference,
        platform: &Platform,
        store: &ContentStore,
    ) -> Result<PulledImage, RegistryError> {
        let (bytes, tag_digest) = self.fetch_manifest(reference).await?;
        self.store_bytes(reference, store, &bytes, &tag_digest)?;
        let parsed = ManifestDocument::parse(&bytes, &tag_digest, None).map_err(|source| {
            RegistryError::Manifest {
                reference: Box::new(reference.clone()),
                source,
            }
        })?;
        let (manifest, manifest_digest) = match parsed {
            ManifestDocument::Image(m) => (m, tag_digest.clone()),
            ManifestDocument::Index(index) => {
                let entry =
                    index
                        .select(platform)
                        .ok_or_else(|| RegistryError::PlatformMissing {
                            reference: Box::new(reference.clone()),
                            wanted: platform.clone(),
                            available: index.platforms(),
                        })?;
                let child = reference.with_digest(entry.digest.clone());
                let (bytes, digest) = self.fetch_manifest(&child).await?;
                self.store_bytes(reference, store, &bytes, &digest)?;
                match ManifestDocument::parse(&bytes, &digest, Some(&entry.media_type)) {
                    Ok(ManifestDocument::Image(m)) => (m, digest),
                    Ok(ManifestDocument::Index(_)) => {
                        return Err(RegistryError::Registry {
                            reference: Box::new(reference.clone()),
                            message: format!(
                                "index entry {digest} for {platform} is itself an index"
                            ),
                        });
                    }
                    Err(source) => {
                        return Err(RegistryError::Manifest {
                            reference: Box::new(reference.clone()),
                            source,
                        });
                    }
                }
            }
        };
        let mut blobs = vec![manifest.config.clone()];
        blobs.extend(manifest.layers.iter().cloned());
        self.fetch_blobs(reference, &blobs, store).await?;
        Ok(PulledImage {
            reference: reference.with_digest(manifest_digest.clone()),
            tag_digest,
            manifest_digest,
        })
    }

    fn store_bytes(
        &self,
        reference: &Reference,
        store: &ContentStore,
        bytes: &[u8],
        digest: &Digest,
    ) -> Result<(), RegistryError> {
        store
            .write_bytes(bytes, Some(digest), &reference.to_string())
            .map(|_| ())
            .map_err(|source| RegistryError::Store {
                reference: Box::new(reference.clone()),
                digest: digest.clone(),
                source,
            })
    }
}

enum Chunk {
    Bytes(bytes::Bytes),
    End,
}

enum BlobFailure {
    Transient(String),
    Registry(OciDistributionError),
    Store(ContentError),
    Fatal(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_recognised_with_any_port() {
        for r in [
            "localhost",
            "localhost:5000",
            "LOCALHOST:1",
            "127.0.0.1",
            "127.1.2.3:5000",
            "[::1]:5000",
            "[::1]",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in [
            "docker.io",
            "10.0.0.1:5000",
            "[fc00::1]:5000",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(r), "{r}");
        }
    }

    #[test]
    fn insecure_list_allows_plain_http_for_named_registries_only() {
        let c = RegistryClient::new(RegistryOptions {
            insecure: vec!["registry.lan:5000".into()],
            ..RegistryOptions::default()
        });
        assert!(c.uses_plain_http("registry.lan:5000"));
        assert!(c.uses_plain_http("127.0.0.1:5000"));
        assert!(!c.uses_plain_http("registry.lan"));
        assert!(!c.uses_plain_http("ghcr.io"));
    }
}
