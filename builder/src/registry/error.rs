//! [`RegistryError`] and how `oci-client`'s errors map onto it: not
//! found, not authorized, transient (retried) or anything else, each naming
//! the reference, the registry and, for blobs, the digest.

use hoist_snapshotter::content::ContentError;
use hoist_snapshotter::digest::Digest;
use oci_client::errors::{OciDistributionError, OciErrorCode};

use super::auth::CredentialsError;
use super::reference::Reference;
use crate::source::image::manifest::ManifestError;
use crate::source::image::platform::Platform;

/// A failed registry operation.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error("{reference}: not authorized by {}: {message}", .reference.registry())]
    Unauthorized {
        reference: Box<Reference>,
        message: String,
    },
    #[error("{reference}: not found in {}: {message}", .reference.registry())]
    NotFound {
        reference: Box<Reference>,
        message: String,
    },
    #[error("{reference}: registry {} failed: {message}", .reference.registry())]
    Registry {
        reference: Box<Reference>,
        message: String,
    },
    #[error("{reference}: manifest from {} has digest {actual}, expected {expected}", .reference.registry())]
    ManifestDigest {
        reference: Box<Reference>,
        expected: Digest,
        actual: Digest,
    },
    #[error("{reference}: {source}")]
    Manifest {
        reference: Box<Reference>,
        #[source]
        source: ManifestError,
    },
    #[error("{reference}: no image for platform {wanted}; the image has {}", list_platforms(.available))]
    PlatformMissing {
        reference: Box<Reference>,
        wanted: Platform,
        available: Vec<Platform>,
    },
    #[error("{reference}: blob {digest} from {}: {message}", .reference.registry())]
    Blob {
        reference: Box<Reference>,
        digest: Digest,
        message: String,
    },
    #[error("{reference}: storing blob {digest}: {source}")]
    Store {
        reference: Box<Reference>,
        digest: Digest,
        #[source]
        source: ContentError,
    },
}

fn list_platforms(platforms: &[Platform]) -> String {
    if platforms.is_empty() {
        return "no platform entries".to_string();
    }
    let names: Vec<String> = platforms.iter().map(Platform::to_string).collect();
    names.join(", ")
}

pub(crate) fn classify(reference: &Reference, e: OciDistributionError) -> RegistryError {
    let message = describe(&e);
    match e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => RegistryError::Unauthorized {
            reference: Box::new(reference.clone()),
            message,
        },
        OciDistributionError::ImageManifestNotFoundError(_) => RegistryError::NotFound {
            reference: Box::new(reference.clone()),
            message,
        },
        OciDistributionError::RegistryError { ref envelope, .. }
            if envelope.errors.iter().any(|e| {
                matches!(
                    e.code,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::NotFound
                        | OciErrorCode::BlobUnknown
                )
            }) =>
        {
            RegistryError::NotFound {
                reference: Box::new(reference.clone()),
                message,
            }
        }
        OciDistributionError::RegistryError { ref envelope, .. }
            if envelope
                .errors
                .iter()
                .any(|e| matches!(e.code, OciErrorCode::Unauthorized | OciErrorCode::Denied)) =>
        {
            RegistryError::Unauthorized {
                reference: Box::new(reference.clone()),
                message,
            }
        }
        OciDistributionError::ServerError { code: 404, .. } => RegistryError::NotFound {
            reference: Box::new(reference.clone()),
            message,
        },
        _ => RegistryError::Registry {
            reference: Box::new(reference.clone()),
            message,
        },
    }
}

/// Network trouble and 5xx answers are worth another try.
pub(crate) fn is_transient(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::RequestError(r) => !r.is_builder() && !r.is_redirect(),
        OciDistributionError::ServerError { code, .. } => *code >= 500 || *code == 429,
        OciDistributionError::IoError(_) => true,
        _ => false,
    }
}

/// The registry's own message where it sent one.
pub(crate) fn describe(e: &OciDistributionError) -> String {
    match e {
        OciDistributionError::RegistryError { envelope, url } => {
            let msgs: Vec<String> = envelope
                .errors
                .iter()
                .map(|e| format!("{:?}: {}", e.code, e.message))
                .collect();
            format!("{} ({url})", msgs.join("; "))
        }
        OciDistributionError::ServerError { code, url, message } => {
            format!("HTTP {code} from {url}: {}", message.trim())
        }
        OciDistributionError::RequestError(r) => {
            let mut s = r.to_string();
            let mut src = std::error::Error::source(r);
            while let Some(inner) = src {
                s.push_str(": ");
                s.push_str(&inner.to_string());
                src = inner.source();
            }
            s
        }
        other => other.to_string(),
    }
}
