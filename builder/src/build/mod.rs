//! Running a build: the [`runner::StepRunner`] that gives each vertex of a
//! build graph its meaning (sources, RUN in the sandbox, file ops) on top of
//! the snapshot store, the content store and the cache records.
//!
//! - [`entry`]: one whole build, from request to exported result.
//! - [`resolve`]: base images for the conversion step.
//! - [`platforms`]: emulated steps, multi-platform exports (image index).
//! - [`export_fs`]: `type=local` and `type=tar` outputs.
//! - `output_plan`: what the one- and several-platform exports share.
//! - [`state`]: what one build shares between its tasks.
//! - [`runner`]: per-vertex dispatch, cache lookups, progress events.
//! - [`run_step`] / [`file_step`]: RUN and COPY/ADD/mkdir steps.
//! - [`http_step`]: `ADD https://...` sources.
//! - [`cache_mounts`]: `RUN --mount=type=cache` directories.
//! - [`ssh_agent`]: agents serving `--ssh ID=KEYFILE` keys.
//! - [`layer_meters`]: progress of layers being compressed for an export.
//! - [`layers`]: unpacking base-image layers on first use.
//! - [`result`]: vertex results and cache records.
//! - [`explain`]: why a step missed the cache (step history records).

pub mod cache_mounts;
pub mod entry;
pub mod error;
pub mod explain;
pub mod export_fs;
pub mod file_step;
pub mod http_step;
pub mod layer_meters;
pub mod layers;
mod output_plan;
pub mod platforms;
pub mod resolve;
pub mod result;
pub mod run_step;
pub mod runner;
pub mod ssh_agent;
pub mod state;

pub use entry::{BuildEnv, BuildOutcome, ExportedImage, build};
pub use error::{BuildError, StepError};
pub use result::{LayerRef, ResultKind, VertexResult};
pub use runner::StepRunner;
pub use state::{BuildState, SolveOptions};
