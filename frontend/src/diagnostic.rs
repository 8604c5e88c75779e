//! Source locations and the located error every frontend step returns.
//!
//! A [`Diagnostic`] names the byte range of the Dockerfile it is about, plus
//! the 1-based line and column, so the binary can print `file:line:col`, the
//! line itself and a caret under the offending text. The frontend never
//! renders or prints; [`Diagnostic::render`] exists for callers that want a
//! plain-text rendering without a terminal library.

use serde::Serialize;

/// A place in the Dockerfile source: a byte range plus its 1-based line and
/// column (column counted in characters, not bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Span {
    /// Byte offset of the first byte.
    pub offset: usize,
    /// Length in bytes (0 points between two characters).
    pub len: usize,
    /// 1-based line of `offset`.
    pub line: usize,
    /// 1-based column of `offset`, in characters.
    pub column: usize,
}

impl Span {
    /// The span of `len` bytes starting at byte `offset` of `source`, with the
    /// line and column computed from the text. Offsets past the end are
    /// clamped to the end.
    pub fn at(source: &str, offset: usize, len: usize) -> Span {
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let before = &source[..offset];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = source[line_start..offset].chars().count() + 1;
        let len = len.min(source.len() - offset);
        Span {
            offset,
            len,
            line,
            column,
        }
    }
}

/// Severity of a non-fatal finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
}

/// A located error (or warning) about a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{message}")]
pub struct Diagnostic {
    /// What is wrong, in one sentence, without the location.
    pub message: String,
    /// Where it is wrong.
    pub span: Span,
}

impl Diagnostic {
    pub fn new(message: impl Into<String>, span: Span) -> Self {
        Diagnostic {
            message: message.into(),
            span,
        }
    }

    /// `file:line:col: message`, the source line and a caret line under the span.
    pub fn render(&self, file: &str, source: &str) -> String {
        let line_text = source
            .lines()
            .nth(self.span.line.saturating_sub(1))
            .unwrap_or("");
        let line_text = line_text.trim_end_matches('\r');
        let width = source
            .get(self.span.offset..self.span.offset + self.span.len)
            .map(|s| s.lines().next().unwrap_or("").chars().count())
            .unwrap_or(0)
            .max(1);
        let gutter = self.span.line.to_string();
        format!(
            "{file}:{line}:{col}: {msg}\n{gutter} | {line_text}\n{pad} | {spaces}{carets}\n",
            line = self.span.line,
            col = self.span.column,
            msg = self.message,
            pad = " ".repeat(gutter.len()),
            spaces = " ".repeat(self.span.column.saturating_sub(1)),
            carets = "^".repeat(width),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_at_computes_line_and_column_in_characters() {
        let src = "FROM a\nRUN é x\n";
        let off = src.find('x').unwrap();
        let s = Span::at(src, off, 1);
        assert_eq!((s.line, s.column), (2, 7));
    }

    #[test]
    fn render_shows_line_and_caret_under_span() {
        let src = "FROM a\nRUN --bad x\n";
        let off = src.find("--bad").unwrap();
        let d = Diagnostic::new("unknown flag: --bad", Span::at(src, off, 5));
        let out = d.render("Dockerfile", src);
        assert_eq!(
            out,
            "Dockerfile:2:5: unknown flag: --bad\n2 | RUN --bad x\n  |     ^^^^^\n"
        );
    }
}
