//! The distribution (registry) client: references, pull, auth, plain-HTTP rules.
//!
//! - [`reference`]: Docker-compatible reference parsing and normalisation.
//! - [`auth`]: credentials from `$DOCKER_CONFIG/config.json` or
//!   `~/.docker/config.json` (`auths`, `credsStore`, `credHelpers`).
//! - [`error`]: [`RegistryError`], mapped from oci-client's errors.
//! - [`client`]: [`RegistryClient`], a wrapper around `oci-client` that picks
//!   HTTP or TLS per registry, retries transient failures, resolves indexes to
//!   a platform and streams blobs into the content store, verified.
//!
//! Pushing belongs here too and is added by the exporter work.

pub mod auth;
pub mod client;
pub mod error;
pub mod reference;

pub use client::{PulledImage, RegistryClient, RegistryOptions};
pub use error::RegistryError;
pub use reference::{Reference, ReferenceError};
