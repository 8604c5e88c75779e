//! The distribution (registry) client: references, pull, auth, plain-HTTP rules.
//!
//! - [`reference`]: Docker-compatible reference parsing and normalisation.
//! - [`auth`]: credentials from `$DOCKER_CONFIG/config.json` or
//!   `~/.docker/config.json` (`auths`, `credsStore`, `credHelpers`).
//! - [`error`]: [`RegistryError`], mapped from oci-client's errors.
//! - [`client`]: [`RegistryClient`], a wrapper around `oci-client` that picks
//!   HTTP or TLS per registry, retries transient failures, resolves indexes to
//!   a platform and streams blobs into the content store, verified.
//! - [`push`]: [`push_image`], an image from the content store to a
//!   registry; [`blob_upload`] sends its blobs (HEAD, mount, streamed upload);
//!   [`push_progress`] turns its events into byte transfers.

pub mod auth;
mod blob_upload;
pub mod client;
pub mod error;
pub mod push;
pub mod push_progress;
pub mod reference;

pub use client::{PulledImage, RegistryClient, RegistryOptions};
pub use error::RegistryError;
pub use push::{PushError, PushEvent, PushOptions, PushReport, push_image, push_image_with};
pub use push_progress::PushMeters;
pub use reference::{Reference, ReferenceError};
