//! Exporters: local image store, OCI/docker archives, directories, tar, registry.
pub mod spec;
