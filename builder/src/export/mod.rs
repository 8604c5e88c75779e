//! Exporters: local image store, OCI/docker archives, directories, tar, registry.
//!
//! - [`spec`]: the `--output` values.
//! - [`archive`]: OCI layouts (tar or directory) and docker-save tars.
pub mod archive;
pub mod spec;
