//! Reading the Dockerfile a command is given (`-f FILE`, `-f -` for stdin)
//! and parsing it, with warnings printed to stderr and errors turned into a
//! located [`Failure`].

use std::io::Read;
use std::path::PathBuf;

use hoist_frontend::diagnostic::Diagnostic;
use hoist_frontend::parser::{self, Dockerfile};

use crate::failure::Failure;
use crate::render::{Style, diagnostic::Level};

/// A Dockerfile's text and how to name it in messages.
#[derive(Debug, Clone)]
pub struct DockerfileSource {
    /// The path as given (`Dockerfile` for stdin), for `name:line:col`.
    pub name: String,
    pub text: String,
}

/// Reading the Dockerfile failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read Dockerfile {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("Dockerfile {path} is not UTF-8 text")]
    NotUtf8 { path: PathBuf },
}

impl DockerfileSource {
    /// Reads `file`; `-` reads standard input.
    pub fn read(file: &str) -> Result<DockerfileSource, ReadError> {
        let path = PathBuf::from(file);
        let io = |source| ReadError::Io {
            path: path.clone(),
            source,
        };
        let bytes = if file == "-" {
            let mut buf = Vec::new();
            std::io::stdin().lock().read_to_end(&mut buf).map_err(io)?;
            buf
        } else {
            std::fs::read(&path).map_err(io)?
        };
        let text =
            String::from_utf8(bytes).map_err(|_| ReadError::NotUtf8 { path: path.clone() })?;
        Ok(DockerfileSource {
            name: if file == "-" {
                "Dockerfile".to_string()
            } else {
                file.to_string()
            },
            text,
        })
    }

    /// A located failure in this file.
    pub fn failure(&self, diagnostic: Diagnostic) -> Failure {
        Failure::Dockerfile {
            file: self.name.clone(),
            source_text: self.text.clone(),
            diagnostic,
        }
    }

    /// Parses the text, printing the parser's warnings to stderr.
    pub fn parse(&self) -> Result<Dockerfile, Failure> {
        let dockerfile = parser::parse(&self.text).map_err(|d| self.failure(d))?;
        let style = Style::for_stderr();
        for warning in &dockerfile.warnings {
            eprint!(
                "{}",
                crate::render::diagnostic::render(
                    warning,
                    &self.name,
                    &self.text,
                    Level::Warning,
                    style
                )
            );
        }
        Ok(dockerfile)
    }
}

/// Reads and parses `file` in one step.
pub fn load(file: &str) -> Result<(DockerfileSource, Dockerfile), Failure> {
    let source = DockerfileSource::read(file).map_err(Failure::other)?;
    let dockerfile = source.parse()?;
    Ok((source, dockerfile))
}

/// `-f/--file FILE`, the Dockerfile argument of `parse`, `targets`,
/// `outline` and `graph`.
#[derive(Debug, Clone, clap::Args)]
pub struct DockerfileArg {
    /// The Dockerfile (`-` reads standard input)
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        default_value = "Dockerfile"
    )]
    pub file: String,
}

impl DockerfileArg {
    /// Reads and parses the Dockerfile, as [`load`] does.
    pub fn load(&self) -> Result<(DockerfileSource, Dockerfile), Failure> {
        load(&self.file)
    }
}
