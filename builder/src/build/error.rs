//! Errors of build steps and of the build as a whole.

use std::error::Error;

use hoist_frontend::diagnostic::Span;

/// Why one step failed.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    #[error("{0}")]
    Message(String),
    #[error(transparent)]
    Other(Box<dyn Error + Send + Sync>),
    /// A RUN exited non-zero (or was killed by a signal).
    #[error("process {command:?} did not complete successfully: {status}")]
    ProcessFailed {
        command: String,
        status: String,
        /// The last lines of its output.
        tail: Vec<String>,
    },
    #[error("cancelled")]
    Cancelled,
}

impl StepError {
    pub fn msg(m: impl Into<String>) -> Self {
        StepError::Message(m.into())
    }
    pub fn other(e: impl Error + Send + Sync + 'static) -> Self {
        StepError::Other(Box::new(e))
    }
    pub fn poisoned() -> Self {
        StepError::msg("internal error: a lock was poisoned by a panicking step")
    }
}

/// A failed build: which step, where in the Dockerfile, and why.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{name}: {error}")]
    Step {
        /// The step's display name (`[build 2/4] RUN make`).
        name: String,
        /// The instruction in the Dockerfile.
        span: Option<Span>,
        #[source]
        error: StepError,
    },
    #[error(transparent)]
    Dockerfile(#[from] hoist_frontend::diagnostic::Diagnostic),
    #[error("{0}")]
    Setup(String),
    #[error("the build was interrupted")]
    Interrupted,
}

impl BuildError {
    pub fn setup(e: impl std::fmt::Display) -> Self {
        BuildError::Setup(e.to_string())
    }
}
