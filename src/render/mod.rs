//! Error and diagnostic rendering for the terminal: how a failure looks on
//! stderr. [`Style`] decides fancy (a terminal) or plain (CI, pipes, files),
//! and whether colours are used.

pub mod diagnostic;
pub mod error;
pub mod table;

use std::io::IsTerminal;

/// How to draw errors on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    /// Box-drawing snippets (miette's graphical report) instead of plain lines.
    pub fancy: bool,
    /// ANSI colours.
    pub color: bool,
}

impl Style {
    /// Fancy when stderr is a terminal; colour only then and when `NO_COLOR`
    /// is unset or empty (<https://no-color.org>).
    pub fn for_stderr() -> Style {
        let tty = std::io::stderr().is_terminal();
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            fancy: tty,
            color: tty && !no_color,
        }
    }

    /// No decoration at all.
    #[cfg(test)]
    pub const PLAIN: Style = Style {
        fancy: false,
        color: false,
    };
}
