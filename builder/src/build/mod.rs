//! Running a build: the [`runner::StepRunner`] that gives each vertex of a
//! build graph its meaning (sources, RUN in the sandbox, file ops) on top of
//! the snapshot store, the content store and the cache records.
//!
//! - [`state`]: what one build shares between its tasks.
//! - [`runner`]: per-vertex dispatch, cache lookups, progress events.
//! - [`run_step`] / [`file_step`]: RUN and COPY/ADD/mkdir steps.
//! - [`cache_mounts`]: `RUN --mount=type=cache` directories.
//! - [`layers`]: unpacking base-image layers on first use.
//! - [`result`]: vertex results and cache records.

pub mod cache_mounts;
pub mod error;
pub mod file_step;
pub mod layers;
pub mod result;
pub mod run_step;
pub mod runner;
pub mod state;

pub use error::{BuildError, StepError};
pub use result::{LayerRef, ResultKind, VertexResult};
pub use runner::StepRunner;
pub use state::{BuildState, SecretSource, SolveOptions};
