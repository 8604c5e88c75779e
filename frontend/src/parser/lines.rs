//! Physical lines of the source and the logical lines joined from them.
//!
//! This file owns the low-level text rules of BuildKit's parser: splitting at
//! `\n`, dropping trailing `\r`/`\n` characters and a leading UTF-8 BOM,
//! comment lines, the line-continuation test for the current escape
//! character, and the map from an offset in a joined logical line back to the
//! byte offset, line and column of the source it came from.

use crate::diagnostic::Span;

/// One physical line of the source.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PhysicalLine<'a> {
    /// 1-based line number.
    pub number: usize,
    /// Byte offset of the first character of `text` in the source (after a
    /// BOM on line 1).
    pub start: usize,
    /// The line without its trailing `\r` and `\n` characters (and without a
    /// BOM on line 1).
    pub text: &'a str,
    /// The line including its line terminator, as written.
    pub raw: &'a str,
    /// Byte offset of the start of the line, BOM included.
    pub line_start: usize,
}

impl PhysicalLine<'_> {
    /// Byte offset just past the last character of `text`.
    pub fn end(&self) -> usize {
        self.start + self.text.len()
    }
}

/// Iterator over the physical lines of a source, in order.
pub(crate) struct PhysicalLines<'a> {
    source: &'a str,
    pos: usize,
    number: usize,
}

impl<'a> PhysicalLines<'a> {
    pub fn new(source: &'a str) -> Self {
        PhysicalLines {
            source,
            pos: 0,
            number: 0,
        }
    }
}

impl<'a> Iterator for PhysicalLines<'a> {
    type Item = PhysicalLine<'a>;

    fn next(&mut self) -> Option<PhysicalLine<'a>> {
        if self.pos >= self.source.len() {
            return None;
        }
        let line_start = self.pos;
        let rest = &self.source[line_start..];
        let raw_len = rest.find('\n').map_or(rest.len(), |i| i + 1);
        let raw = &rest[..raw_len];
        self.pos += raw_len;
        self.number += 1;
        let mut start = line_start;
        let mut text = raw.trim_end_matches(['\r', '\n']);
        let without_bom = match self.number {
            1 => text.strip_prefix('\u{feff}'),
            _ => None,
        };
        if let Some(stripped) = without_bom {
            text = stripped;
            start += '\u{feff}'.len_utf8();
        }
        Some(PhysicalLine {
            number: self.number,
            start,
            text,
            raw,
            line_start,
        })
    }
}

/// Go's `unicode.IsSpace`, which is the Unicode `White_Space` property, the
/// same set as Rust's `char::is_whitespace`.
pub(crate) fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// The whitespace class `[\t\v\f\r ]` upstream uses to split words of
/// `FROM`, `EXPOSE`, `ADD`/`COPY`/`VOLUME` and the keyword from the rest.
pub(crate) fn is_token_space(c: char) -> bool {
    matches!(c, '\t' | '\u{0b}' | '\u{0c}' | '\r' | ' ')
}

/// True when the first non-whitespace character of `line` is `#`.
pub(crate) fn is_comment(line: &str) -> bool {
    line.trim_start_matches(is_space).starts_with('#')
}

/// If `line` ends with the escape character followed only by spaces and
/// tabs, and that escape character is not itself escaped, returns the line
/// without them (the line continues). Otherwise returns `None`.
pub(crate) fn strip_continuation(line: &str, escape: char) -> Option<&str> {
    let trimmed = line.trim_end_matches([' ', '\t']);
    let before = trimmed.strip_suffix(escape)?;
    if before.is_empty() {
        return Some(before);
    }
    if before.ends_with(escape) {
        return None;
    }
    Some(before)
}

/// A run of a logical line copied from one physical line.
#[derive(Debug, Clone, Copy)]
struct Segment {
    /// Offset of the run in the logical line.
    logical: usize,
    /// Offset of the run in the source.
    source: usize,
    /// The physical line the run is on.
    line: usize,
    /// Byte offset where that physical line starts.
    line_start: usize,
}

/// An instruction's text after continuations were joined, with a map back to
/// the source.
#[derive(Debug, Clone, Default)]
pub(crate) struct LogicalLine {
    pub text: String,
    segments: Vec<Segment>,
}

impl LogicalLine {
    /// Appends `piece`, which starts at byte `source_offset` of physical line
    /// `line`.
    pub fn push(&mut self, piece: &str, source_offset: usize, line: &PhysicalLine<'_>) {
        self.segments.push(Segment {
            logical: self.text.len(),
            source: source_offset,
            line: line.number,
            line_start: line.line_start,
        });
        self.text.push_str(piece);
    }

    /// The source span of `len` bytes of the logical line starting at
    /// `offset`; a span is cut at the end of the physical line it starts on.
    pub fn span(&self, source: &str, offset: usize, len: usize) -> Span {
        let idx = self
            .segments
            .partition_point(|s| s.logical <= offset)
            .saturating_sub(1);
        let Some(seg) = self.segments.get(idx) else {
            return Span::at(source, 0, 0);
        };
        let within = offset.saturating_sub(seg.logical);
        let seg_end = self
            .segments
            .get(idx + 1)
            .map_or(self.text.len(), |next| next.logical);
        let within = within.min(seg_end - seg.logical);
        let len = len.min(seg_end - seg.logical - within);
        span_on_line(source, seg.line, seg.line_start, seg.source + within, len)
    }
}

/// A span on a known line, computing the column from the line start only
/// (so building many spans stays linear in the source size).
pub(crate) fn span_on_line(
    source: &str,
    line: usize,
    line_start: usize,
    offset: usize,
    len: usize,
) -> Span {
    let mut offset = offset.min(source.len());
    while !source.is_char_boundary(offset) {
        offset -= 1;
    }
    let line_start = line_start.min(offset);
    let column = source[line_start..offset].chars().count() + 1;
    let mut end = (offset + len).min(source.len());
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    Span {
        offset,
        len: end - offset,
        line,
        column,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn physical_lines_drop_crlf_and_bom() {
        let src = "\u{feff}FROM a\r\nRUN b\r\r\nx";
        let lines: Vec<_> = PhysicalLines::new(src).collect();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].text, "FROM a");
        assert_eq!(lines[0].start, 3);
        assert_eq!(lines[1].text, "RUN b");
        assert_eq!(lines[1].raw, "RUN b\r\r\n");
        assert_eq!(lines[2].text, "x");
        assert_eq!(lines[2].number, 3);
    }

    #[test]
    fn bom_is_only_dropped_on_the_first_line() {
        let src = "a\n\u{feff}b";
        let lines: Vec<_> = PhysicalLines::new(src).collect();
        assert_eq!(lines[1].text, "\u{feff}b");
    }

    #[test]
    fn continuation_needs_an_unescaped_escape_at_the_end() {
        assert_eq!(strip_continuation("echo a \\", '\\'), Some("echo a "));
        assert_eq!(strip_continuation("echo a\\ \t ", '\\'), Some("echo a"));
        assert_eq!(strip_continuation("\\", '\\'), Some(""));
        assert_eq!(strip_continuation("  \\", '\\'), Some("  "));
        assert_eq!(strip_continuation("a\\\\", '\\'), None);
        assert_eq!(strip_continuation("\\\\", '\\'), None);
        assert_eq!(strip_continuation("a`", '\\'), None);
        assert_eq!(strip_continuation("a`", '`'), Some("a"));
        assert_eq!(strip_continuation("a\\", '`'), None);
    }

    #[test]
    fn comment_is_hash_after_leading_whitespace_only() {
        assert!(is_comment("# x"));
        assert!(is_comment(" \t# x"));
        assert!(!is_comment("RUN # x"));
        assert!(!is_comment(""));
    }

    #[test]
    fn logical_offsets_map_back_to_source_lines() {
        let src = "RUN a \\\n  bb\n";
        let lines: Vec<_> = PhysicalLines::new(src).collect();
        let mut logical = LogicalLine::default();
        logical.push("RUN a ", lines[0].start, &lines[0]);
        logical.push("  bb", lines[1].start, &lines[1]);
        assert_eq!(logical.text, "RUN a   bb");
        let span = logical.span(src, logical.text.find("bb").unwrap(), 2);
        assert_eq!((span.line, span.column, span.len), (2, 3, 2));
        assert_eq!(&src[span.offset..span.offset + span.len], "bb");
    }
}
