//! Scheduling of the build graph and the persistent content-addressed cache.
//!
//! - [`scheduler`]: runs ready vertices concurrently under a job limit; the
//!   first failure cancels the rest.
//! - [`cache`]: cache keys and the persistent record store.
//! - [`cancel`]: the cancellation signal shared by a build's tasks.

pub mod cache;
pub mod cancel;
pub mod scheduler;

pub use cancel::Cancel;
pub use scheduler::{Runner, SolveError, solve};
