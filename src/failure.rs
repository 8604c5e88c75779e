//! Why a command failed, and the exit code each kind of failure maps to:
//! 1 for a failed build or a bad Dockerfile, 2 for a usage error, 130 when
//! interrupted. (0 is success; clap exits with 2 for flags it refuses.)

use std::process::ExitCode;

use hoist_frontend::diagnostic::Diagnostic;

use crate::render::{self, Style, diagnostic::Level};

/// A failed command, ready to be rendered.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// A located error about a Dockerfile.
    #[error("{}", diagnostic.message)]
    Dockerfile {
        /// How the file is named in messages (the path as given, or `Dockerfile`).
        file: String,
        source_text: String,
        diagnostic: Diagnostic,
    },
    /// A flag value the command cannot use.
    #[error("{0}")]
    Usage(String),
    /// Stopped by SIGINT.
    #[error("interrupted")]
    Interrupted,
    /// Anything else (I/O, a build error), with its cause chain.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync>),
}

impl Failure {
    pub fn other(error: impl std::error::Error + Send + Sync + 'static) -> Failure {
        Failure::Other(Box::new(error))
    }

    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            Failure::Dockerfile { .. } | Failure::Other(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Interrupted => 130,
        })
    }

    /// The text printed on stderr.
    pub fn render(&self, style: Style) -> String {
        match self {
            Failure::Dockerfile {
                file,
                source_text,
                diagnostic,
            } => render::diagnostic::render(diagnostic, file, source_text, Level::Error, style),
            Failure::Usage(_) | Failure::Interrupted => render::error::render(self, style),
            Failure::Other(e) => render::error::render(e.as_ref(), style),
        }
    }
}
