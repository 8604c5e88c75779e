//! hoist's builder: solves a [`hoist_frontend::graph::BuildGraph`] into image
//! filesystems and configs, and exports them.
//!
//! - [`solver`]: scheduling over the DAG, the persistent cache.
//! - [`source`]: base images, the local build context, http and git sources.
//! - [`exec`]: the namespace sandbox that runs RUN steps.
//! - [`fileop`]: COPY/ADD semantics.
//! - [`image`]: OCI image config and history.
//! - [`export`]: image, archive, directory and registry exporters.
//! - [`registry`]: the distribution client (pull, push, auth).
//! - [`root`]: the data root's layout.
//! - [`store`]: the local image store (an OCI layout in the data root).
//! - [`prune`]: `hoist prune`, freeing the build cache.
//! - [`progress`]: the typed events a build emits; the library never prints.

pub mod build;
pub mod exec;
pub mod export;
pub mod fileop;
pub mod image;
pub mod progress;
pub mod prune;
pub mod registry;
pub mod remote_cache;
pub mod request;
pub mod root;
pub mod solver;
pub mod source;
pub mod store;
