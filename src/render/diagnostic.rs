//! A located Dockerfile error or warning ([`Diagnostic`]) as text: plain
//! lines for pipes and CI, miette's graphical report on a terminal.
//!
//! Plain form (pinned by tests, stable for tools that parse it):
//!
//! ```text
//! Dockerfile:2:5: unknown flag: --bad
//! 2 | RUN --bad x
//!   |     ^^^^^
//! ```
//!
//! Every source line the span covers is shown, each with carets under its
//! covered part; tabs before the span are kept so the carets line up.

use hoist_frontend::diagnostic::Diagnostic;
use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, MietteDiagnostic, NamedSource};

use super::Style;

/// Whether a diagnostic stops the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
}

/// Renders `diagnostic` about `source` (named `file` in the output). A
/// diagnostic without a location (line 0) is one line: `error: file: message`.
pub fn render(
    diagnostic: &Diagnostic,
    file: &str,
    source: &str,
    level: Level,
    style: Style,
) -> String {
    if diagnostic.span.line == 0 {
        let prefix = match level {
            Level::Error => "error",
            Level::Warning => "warning",
        };
        let prefix = if style.color {
            let styled = console::style(format!("{prefix}:"))
                .bold()
                .force_styling(true);
            match level {
                Level::Error => styled.red(),
                Level::Warning => styled.yellow(),
            }
            .to_string()
        } else {
            format!("{prefix}:")
        };
        return format!("{prefix} {file}: {}\n", diagnostic.message);
    }
    if style.fancy {
        fancy(diagnostic, file, source, level, style.color)
    } else {
        plain(diagnostic, file, source, level)
    }
}

/// `file:line:col: [warning: ]message`, then the covered lines with carets.
pub fn plain(diagnostic: &Diagnostic, file: &str, source: &str, level: Level) -> String {
    let span = diagnostic.span;
    let prefix = match level {
        Level::Error => "",
        Level::Warning => "warning: ",
    };
    let mut out = format!(
        "{file}:{}:{}: {prefix}{}\n",
        span.line, span.column, diagnostic.message
    );
    let start = span.offset.min(source.len());
    let end = (span.offset + span.len).min(source.len()).max(start);
    let mut line_no = span.line;
    let mut line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let gutter = width_of_last_line_number(source, start, end, span.line);
    loop {
        let line_end = source[line_start..]
            .find('\n')
            .map_or(source.len(), |i| line_start + i);
        let text = source[line_start..line_end].trim_end_matches('\r');
        out.push_str(&format!("{line_no:>gutter$} | {text}\n"));
        let from = start.max(line_start);
        let to = end.min(line_start + text.len());
        let lead: String = source[line_start..from.min(line_start + text.len()).max(line_start)]
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let carets = source
            .get(from..to.max(from))
            .map_or(0, |s| s.chars().count())
            .max(1);
        out.push_str(&format!("{:gutter$} | {lead}{}\n", "", "^".repeat(carets)));
        if line_end + 1 >= end || line_end >= source.len() {
            break;
        }
        line_start = line_end + 1;
        line_no += 1;
    }
    out
}

fn width_of_last_line_number(source: &str, start: usize, end: usize, first: usize) -> usize {
    let extra = source[start..end]
        .trim_end_matches('\n')
        .matches('\n')
        .count();
    (first + extra).to_string().len()
}

/// miette's graphical report: the message, then a framed snippet with the
/// span underlined.
pub fn fancy(
    diagnostic: &Diagnostic,
    file: &str,
    source: &str,
    level: Level,
    color: bool,
) -> String {
    let span = diagnostic.span;
    let offset = span.offset.min(source.len());
    let len = span.len.min(source.len() - offset);
    let severity = match level {
        Level::Error => miette::Severity::Error,
        Level::Warning => miette::Severity::Warning,
    };
    let report = miette::Report::new(
        MietteDiagnostic::new(diagnostic.message.clone())
            .with_severity(severity)
            .with_label(LabeledSpan::underline(offset..offset + len)),
    )
    .with_source_code(NamedSource::new(file, source.to_string()));
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let mut out = String::new();
    let rendered = GraphicalReportHandler::new_themed(theme)
        .with_context_lines(1)
        .render_report(&mut out, report.as_ref());
    match rendered {
        Ok(()) => out,
        // Formatting into a String cannot fail, but never lose the error.
        Err(_) => plain(diagnostic, file, source, level),
    }
}

#[cfg(test)]
mod tests {
    use hoist_frontend::diagnostic::Span;

    use super::*;

    fn diag(source: &str, needle: &str, message: &str) -> Diagnostic {
        let off = source.find(needle).unwrap();
        Diagnostic::new(message, Span::at(source, off, needle.len()))
    }

    #[test]
    fn plain_shows_location_line_and_carets() {
        let src = "FROM a\nRUN --bad x\n";
        let out = plain(
            &diag(src, "--bad", "unknown flag: --bad"),
            "Dockerfile",
            src,
            Level::Error,
        );
        assert_eq!(
            out,
            "Dockerfile:2:5: unknown flag: --bad\n2 | RUN --bad x\n  |     ^^^^^\n"
        );
    }

    #[test]
    fn plain_marks_warnings() {
        let src = "FROM a\n";
        let out = plain(&diag(src, "FROM", "empty"), "df", src, Level::Warning);
        assert_eq!(out, "df:1:1: warning: empty\n1 | FROM a\n  | ^^^^\n");
    }

    #[test]
    fn plain_shows_every_line_of_a_multi_line_span() {
        let src = "FROM a\nRUN x \\\n  && y\n";
        let out = plain(
            &diag(src, "x \\\n  && y", "bad"),
            "Dockerfile",
            src,
            Level::Error,
        );
        assert_eq!(
            out,
            "Dockerfile:2:5: bad\n2 | RUN x \\\n  |     ^^^\n3 |   && y\n  | ^^^^^^\n"
        );
    }

    #[test]
    fn plain_keeps_tabs_so_carets_line_up() {
        let src = "\tRUN\tx\n";
        let out = plain(&diag(src, "x", "bad"), "D", src, Level::Error);
        assert_eq!(out, "D:1:6: bad\n1 | \tRUN\tx\n  | \t   \t^\n");
    }

    #[test]
    fn plain_points_at_end_of_file_for_an_empty_span() {
        let src = "FROM a";
        let d = Diagnostic::new("unexpected end", Span::at(src, src.len(), 0));
        let out = plain(&d, "D", src, Level::Error);
        assert_eq!(out, "D:1:7: unexpected end\n1 | FROM a\n  |       ^\n");
    }

    #[test]
    fn a_diagnostic_without_location_is_one_line() {
        let d = Diagnostic::new("target stage \"x\" could not be found", Span::default());
        let out = render(&d, "Dockerfile", "FROM a\n", Level::Error, Style::PLAIN);
        assert_eq!(
            out,
            "error: Dockerfile: target stage \"x\" could not be found\n"
        );
    }

    #[test]
    fn fancy_names_file_and_location_without_colour() {
        let src = "FROM a\nRUN --bad x\n";
        let out = fancy(
            &diag(src, "--bad", "unknown flag: --bad"),
            "Dockerfile",
            src,
            Level::Error,
            false,
        );
        assert!(out.contains("unknown flag: --bad"), "{out}");
        assert!(out.contains("[Dockerfile:2:5]"), "{out}");
        assert!(out.contains("RUN --bad x"), "{out}");
        assert!(
            !out.contains('\u{1b}'),
            "no escape codes without colour: {out:?}"
        );
    }
}
