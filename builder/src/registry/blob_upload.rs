//! One blob of a push: HEAD to see whether the target repository has it, a
//! cross-repository mount when the caller knows another repository of the
//! same registry has it, else an upload streamed from the content store file.
//!
//! The upload is one monolithic `PUT` with the blob's length, its body read
//! from the file in 256 KiB pieces: the blob is never held in memory.
//! oci-client's chunked upload is not used: its chunk size is fixed at
//! 4 MiB, it measured 3× slower here, and it cannot resume a broken upload,
//! so it buys nothing over a retried single `PUT`.
//!
//! The bytes are hashed as they are read; a blob whose file no longer
//! matches its digest aborts the upload and is reported as damaged rather
//! than retried.

use std::sync::{Arc, Mutex};

use futures_util::stream;
use hoist_snapshotter::content::{ContentError, ContentStore};
use hoist_snapshotter::digest::{Digest, Digester};
use oci_client::Client;
use oci_client::errors::OciDistributionError;
use tokio::io::AsyncReadExt;

use super::client::RegistryClient;
use super::error::describe;
use super::push::{PushError, PushEvent, status_of};
use super::reference::Reference;
use crate::source::image::manifest::Descriptor;

/// Bytes read from the store file per piece of the request body.
const PIECE: usize = 256 * 1024;

/// What happened to one blob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BlobOutcome {
    /// The target repository had it already.
    Skipped,
    /// Mounted from another repository of the registry.
    Mounted,
    /// Uploaded; this many bytes sent.
    Uploaded(u64),
}

/// Where blobs go and where they come from.
pub(super) struct BlobTarget<'a> {
    pub registry: &'a RegistryClient,
    pub client: &'a Client,
    pub target: &'a Reference,
    pub oref: &'a oci_client::Reference,
    pub store: &'a ContentStore,
}

impl BlobTarget<'_> {
    fn failure(&self, digest: &Digest, e: &OciDistributionError) -> PushError {
        PushError::Upload {
            target: Box::new(self.target.clone()),
            what: "blob",
            digest: digest.clone(),
            status: status_of(e),
            message: describe(e),
        }
    }

    /// Makes sure the target repository has the blob of `descriptor`.
    /// `mount_from`: a repository of the same registry that has it.
    pub async fn push(
        &self,
        descriptor: &Descriptor,
        mount_from: Option<&Reference>,
        progress: &(dyn Fn(PushEvent) + Sync),
    ) -> Result<BlobOutcome, PushError> {
        let digest = &descriptor.digest;
        let digest_text = digest.to_string();
        let exists = self
            .registry
            .retrying(|| self.client.blob_exists(self.oref, &digest_text))
            .await
            .map_err(|e| self.failure(digest, &e))?;
        if exists {
            progress(PushEvent::Skipped {
                digest: digest.clone(),
            });
            return Ok(BlobOutcome::Skipped);
        }
        if let Some(source) = mount_from {
            let source_ref = RegistryClient::oci_reference(source);
            // 201: mounted. Anything else (202 "upload instead", which
            // oci-client reports as a spec violation, a refused token
            // scope, an unknown repository) falls back to uploading.
            if self
                .client
                .mount_blob(self.oref, &source_ref, &digest_text)
                .await
                .is_ok()
            {
                progress(PushEvent::Mounted {
                    digest: digest.clone(),
                });
                return Ok(BlobOutcome::Mounted);
            }
        }
        let size = self.store.size(digest).map_err(|source| PushError::Store {
            target: Box::new(self.target.clone()),
            what: "blob",
            digest: digest.clone(),
            source,
        })?;
        if size != descriptor.size {
            return Err(PushError::Store {
                target: Box::new(self.target.clone()),
                what: "blob",
                digest: digest.clone(),
                source: ContentError::SizeMismatch {
                    digest: digest.clone(),
                    expected: descriptor.size,
                    actual: size,
                    source_name: "the manifest".to_string(),
                },
            });
        }
        self.upload(digest, size, progress).await?;
        Ok(BlobOutcome::Uploaded(size))
    }

    /// Streams the blob from the store in one `PUT`, retried on transient
    /// failures, reporting progress as the body is read.
    async fn upload(
        &self,
        digest: &Digest,
        size: u64,
        progress: &(dyn Fn(PushEvent) + Sync),
    ) -> Result<(), PushError> {
        let digest_text = digest.to_string();
        // Set by the body stream when the store, not the network, failed.
        let local_failure: Arc<Mutex<Option<ContentError>>> = Arc::new(Mutex::new(None));
        progress(PushEvent::Blob {
            digest: digest.clone(),
            current: 0,
            total: size,
        });
        let result = self
            .registry
            .retrying(|| {
                let local_failure = local_failure.clone();
                let digest_text = digest_text.as_str();
                async move {
                    let (sent_tx, mut sent_rx) = tokio::sync::watch::channel(0u64);
                    let body =
                        file_stream(self.store, digest, size, sent_tx, local_failure.clone());
                    let put =
                        self.client
                            .push_blob_stream(self.oref, body, digest_text, Some(size));
                    let mut put = std::pin::pin!(put);
                    let mut listening = true;
                    let result = loop {
                        tokio::select! {
                            biased;
                            result = &mut put => break result,
                            changed = sent_rx.changed(), if listening => match changed {
                                Ok(()) => {
                                    let current = *sent_rx.borrow_and_update();
                                    progress(PushEvent::Blob {
                                        digest: digest.clone(),
                                        current,
                                        total: size,
                                    });
                                }
                                Err(_) => listening = false,
                            },
                        }
                    };
                    let local = local_failure
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .take();
                    match (result, local) {
                        // The store failed, not the registry: an answer
                        // (`Ok`) so that it is not retried.
                        (_, Some(e)) => Ok(Err(e)),
                        (result, None) => result.map(Ok),
                    }
                }
            })
            .await;
        match result {
            Ok(Ok(_)) => {
                progress(PushEvent::Blob {
                    digest: digest.clone(),
                    current: size,
                    total: size,
                });
                Ok(())
            }
            Ok(Err(source)) => Err(PushError::Store {
                target: Box::new(self.target.clone()),
                what: "blob",
                digest: digest.clone(),
                source,
            }),
            Err(e) => Err(self.failure(digest, &e)),
        }
    }
}

/// The blob's bytes as a request body: read piece by piece, counted into
/// `sent`, hashed, and ended with an error (recorded in `failure`) when the
/// file cannot be read or does not match `digest` and `size`.
fn file_stream(
    store: &ContentStore,
    digest: &Digest,
    size: u64,
    sent: tokio::sync::watch::Sender<u64>,
    failure: Arc<Mutex<Option<ContentError>>>,
) -> impl futures_util::Stream<Item = Result<bytes::Bytes, OciDistributionError>> + Send + 'static {
    struct State {
        size: u64,
        path: std::path::PathBuf,
        file: Option<tokio::fs::File>,
        digester: Digester,
        expected: Digest,
        sent: tokio::sync::watch::Sender<u64>,
        failure: Arc<Mutex<Option<ContentError>>>,
        done: bool,
    }
    impl State {
        /// Whether what was read is the blob: its digest and its size.
        fn check(&self) -> Result<(), ContentError> {
            let actual = self.digester.clone().finish();
            if actual != self.expected {
                return Err(ContentError::Corrupt {
                    digest: self.expected.clone(),
                    actual,
                });
            }
            if self.digester.len() != self.size {
                return Err(ContentError::SizeMismatch {
                    digest: self.expected.clone(),
                    expected: self.size,
                    actual: self.digester.len(),
                    source_name: self.path.display().to_string(),
                });
            }
            Ok(())
        }
    }
    let state = State {
        size,
        path: store.path(digest),
        file: None,
        digester: Digester::new(),
        expected: digest.clone(),
        sent,
        failure,
        done: false,
    };
    stream::unfold(state, |mut st| async move {
        if st.done {
            return None;
        }
        let fail = |st: &mut State, e: ContentError| {
            st.done = true;
            let text = e.to_string();
            *st.failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
            Err(OciDistributionError::IoError(std::io::Error::other(text)))
        };
        if st.file.is_none() {
            match tokio::fs::File::open(&st.path).await {
                Ok(f) => st.file = Some(f),
                Err(source) => {
                    let e = ContentError::Io {
                        op: "open",
                        path: st.path.clone(),
                        source,
                    };
                    let item = fail(&mut st, e);
                    return Some((item, st));
                }
            }
        }
        let mut buf = vec![0u8; PIECE];
        let read = match st.file.as_mut() {
            Some(file) => file.read(&mut buf).await,
            None => Ok(0),
        };
        match read {
            Ok(0) => {
                st.done = true;
                match st.check() {
                    Ok(()) => None,
                    Err(e) => {
                        let item = fail(&mut st, e);
                        Some((item, st))
                    }
                }
            }
            Ok(n) => {
                buf.truncate(n);
                st.digester.update(&buf);
                // The request ends with the announced length, without
                // asking for the end of the stream: check the digest before
                // the last piece goes out.
                if st.digester.len() >= st.size {
                    st.done = true;
                    if let Err(e) = st.check() {
                        let item = fail(&mut st, e);
                        return Some((item, st));
                    }
                }
                st.sent.send_replace(st.digester.len());
                Some((Ok(bytes::Bytes::from(buf)), st))
            }
            Err(source) => {
                let e = ContentError::Io {
                    op: "read",
                    path: st.path.clone(),
                    source,
                };
                let item = fail(&mut st, e);
                Some((item, st))
            }
        }
    })
}
