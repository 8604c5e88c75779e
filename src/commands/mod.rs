//! One module per `hoist` subcommand, plus what several share: reading and
//! parsing the Dockerfile ([`dockerfile`]) and writing to stdout.

pub mod build;
pub mod dockerfile;
pub mod parse;

use std::io::Write;

use crate::failure::Failure;

/// Writes `text` to stdout. A closed pipe (`hoist parse | head`) is not an error.
pub fn print_stdout(text: &str) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Failure::other(e)),
        _ => Ok(()),
    }
}
