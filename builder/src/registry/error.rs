//! [`RegistryError`] and how `oci-client`'s errors map onto it: not
//! found, not authorized, transient (retried) or anything else, each naming
//! the reference, the registry and, for blobs, the digest.

use hoist_frontend::graph::Platform;
use hoist_snapshotter::content::ContentError;
use hoist_snapshotter::digest::Digest;
use oci_client::errors::{OciDistributionError, OciErrorCode};

use super::auth::CredentialsError;
use super::reference::Reference;
use crate::source::image::manifest::ManifestError;

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
        // A status error (from `error_for_status`, e.g. a HEAD) is transient
        // only for 5xx and 429; other request errors are the network's.
        OciDistributionError::RequestError(r) => match r.status() {
            Some(status) => status.is_server_error() || status.as_u16() == 429,
            None => !r.is_builder() && !r.is_redirect(),
        },
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
            format!("HTTP {code} from {url}: {}", registry_message(message))
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

/// The `errors[].code: message` of a distribution error body, else the body.
fn registry_message(body: &str) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    match serde_json::from_str::<Body>(body) {
        Ok(b) if !b.errors.is_empty() => b
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; "),
        _ => body.trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(code: u16, message: &str) -> OciDistributionError {
        OciDistributionError::ServerError {
            code,
            url: "http://r/v2/".into(),
            message: message.into(),
        }
    }

    #[test]
    fn server_errors_and_throttling_are_transient_client_errors_are_not() {
        assert!(is_transient(&server(500, "")));
        assert!(is_transient(&server(503, "")));
        assert!(is_transient(&server(429, "")));
        assert!(!is_transient(&server(404, "")));
        assert!(!is_transient(&OciDistributionError::UnauthorizedError {
            url: "u".into()
        }));
    }

    /// The error `error_for_status` gives for an answer with `status`.
    fn status_error(status: u16) -> OciDistributionError {
        let response = http::Response::builder()
            .status(status)
            .body(Vec::<u8>::new())
            .unwrap();
        let error = reqwest::Response::from(response)
            .error_for_status()
            .unwrap_err();
        OciDistributionError::RequestError(error)
    }

    #[test]
    fn status_errors_of_heads_are_transient_only_for_5xx_and_429() {
        assert!(is_transient(&status_error(500)));
        assert!(is_transient(&status_error(503)));
        assert!(is_transient(&status_error(429)));
        assert!(!is_transient(&status_error(401)));
        assert!(!is_transient(&status_error(403)));
        assert!(!is_transient(&status_error(404)));
    }

    #[test]
    fn registry_error_bodies_are_shown_as_code_and_message() {
        let body = r#"{"errors":[{"code":"UNKNOWN","message":"unknown error","detail":{}}]}"#;
        assert_eq!(
            describe(&server(500, body)),
            "HTTP 500 from http://r/v2/: UNKNOWN: unknown error"
        );
        assert_eq!(
            describe(&server(502, " bad gateway\n")),
            "HTTP 502 from http://r/v2/: bad gateway"
        );
    }

    #[test]
    fn not_found_codes_classify_as_not_found() {
        let r = Reference::parse("127.0.0.1:5000/x:y").unwrap();
        let e = classify(&r, server(404, "nope"));
        assert!(matches!(e, RegistryError::NotFound { .. }), "{e}");
        let e = classify(&r, server(500, "boom"));
        assert!(matches!(e, RegistryError::Registry { .. }), "{e}");
        assert!(e.to_string().contains("127.0.0.1:5000/x:y"), "{e}");
    }
}
