//! Base images: registry references, OCI layouts and archives, docker-save tars, scratch.

pub mod config;
pub mod manifest;
pub mod platform;
