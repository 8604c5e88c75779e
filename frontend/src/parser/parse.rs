//! The parse loop: physical lines → directives, logical lines, heredoc
//! bodies → [`Node`]s with lines and spans.

use std::collections::BTreeMap;

use super::command::{Command, split_command};
use super::directives::DirectiveParser;
use super::heredoc::{Marker, markers_in_line};
use super::lines::{
    LogicalLine, PhysicalLine, PhysicalLines, is_comment, is_space, span_on_line,
    strip_continuation,
};
use super::node::{Dockerfile, Heredoc, Node};
use crate::diagnostic::{Diagnostic, Span};

/// Parses a whole Dockerfile. See the [module documentation](super).
pub fn parse(source: &str) -> Result<Dockerfile, Diagnostic> {
    Parser {
        source,
        lines: PhysicalLines::new(source),
        directives: DirectiveParser::default(),
        values: BTreeMap::new(),
        escape: '\\',
        nodes: Vec::new(),
        warnings: Vec::new(),
    }
    .run()
}

struct Parser<'a> {
    source: &'a str,
    lines: PhysicalLines<'a>,
    directives: DirectiveParser,
    values: BTreeMap<String, String>,
    escape: char,
    nodes: Vec<Node>,
    warnings: Vec<Diagnostic>,
}

/// Where an instruction's text ended: its last physical line.
struct Extent<'a> {
    start_line: usize,
    last: PhysicalLine<'a>,
}

impl<'a> Parser<'a> {
    fn run(mut self) -> Result<Dockerfile, Diagnostic> {
        while let Some(line) = self.lines.next() {
            let token = line.text.trim_start_matches(is_space);
            let token_at = line.end() - token.len();
            self.directive(&line, token, token_at)?;
            if is_comment(token) {
                continue;
            }
            let (piece, continues) = match strip_continuation(token, self.escape) {
                Some(piece) => (piece, true),
                None => (token, false),
            };
            if !continues && piece.is_empty() {
                continue;
            }
            let mut logical = LogicalLine::default();
            logical.push(piece, token_at, &line);
            let mut extent = Extent {
                start_line: line.number,
                last: line,
            };
            if continues {
                self.join_continuation(&mut logical, &mut extent);
            }
            self.instruction(logical, extent)?;
        }
        if self.nodes.is_empty() {
            return Err(Diagnostic::new(
                "file with no instructions",
                Span::at(self.source, self.source.len(), 0),
            ));
        }
        Ok(Dockerfile {
            directives: self.values,
            escape: self.escape,
            nodes: self.nodes,
            warnings: self.warnings,
        })
    }

    /// Offers a line to the directive parser and applies what it finds.
    fn directive(
        &mut self,
        line: &PhysicalLine<'_>,
        token: &str,
        token_at: usize,
    ) -> Result<(), Diagnostic> {
        match self.directives.parse_line(token) {
            Ok(Some(d)) => {
                if d.name == "escape" {
                    self.escape = d.value.chars().next().unwrap_or('\\');
                }
                self.values.insert(d.name, d.value);
                Ok(())
            }
            Ok(None) => Ok(()),
            Err(e) => Err(Diagnostic::new(
                e.message,
                span_on_line(
                    self.source,
                    line.number,
                    line.line_start,
                    token_at + e.at,
                    e.len,
                ),
            )),
        }
    }

    /// Appends continuation lines until one does not continue (or the file
    /// ends), skipping comment lines and whitespace-only lines.
    fn join_continuation(&mut self, logical: &mut LogicalLine, extent: &mut Extent<'a>) {
        let mut empty_line: Option<PhysicalLine<'_>> = None;
        for line in self.lines.by_ref() {
            extent.last = line;
            if is_comment(line.text) {
                continue;
            }
            if line.text.trim_start_matches(is_space).is_empty() {
                empty_line.get_or_insert(line);
                continue;
            }
            match strip_continuation(line.text, self.escape) {
                Some(piece) => logical.push(piece, line.start, &line),
                None => {
                    logical.push(line.text, line.start, &line);
                    break;
                }
            }
        }
        if let Some(line) = empty_line {
            self.warnings.push(Diagnostic::new(
                "empty continuation line (empty continuation lines will become errors in a future release)",
                span_on_line(self.source, line.number, line.line_start, line.start, 0),
            ));
        }
    }

    /// Splits a logical line into a node, reads its heredoc bodies and
    /// records it.
    fn instruction(
        &mut self,
        logical: LogicalLine,
        mut extent: Extent<'a>,
    ) -> Result<(), Diagnostic> {
        let source = self.source;
        let command = split_command(&logical.text, 0, self.escape, 0)
            .map_err(|e| Diagnostic::new(e.message, logical.span(source, e.at, e.len)))?;
        let mut heredocs = Vec::new();
        if can_contain_heredoc(&command) && logical.text.contains("<<") {
            let markers = markers_in_line(&logical.text)
                .map_err(|e| Diagnostic::new(e.message, logical.span(source, e.at, e.len)))?;
            for marker in markers {
                heredocs.push(self.heredoc_body(&marker, &logical, &mut extent)?);
            }
        }
        let mut node = build_node(command, &logical, source, &extent);
        match node.next.as_deref_mut() {
            Some(trigger) if node.keyword == "onbuild" => trigger.heredocs = heredocs,
            _ => node.heredocs = heredocs,
        }
        self.nodes.push(node);
        Ok(())
    }

    /// Reads the lines of one heredoc body up to its delimiter line.
    fn heredoc_body(
        &mut self,
        marker: &Marker,
        logical: &LogicalLine,
        extent: &mut Extent<'a>,
    ) -> Result<Heredoc, Diagnostic> {
        let mut content = String::new();
        loop {
            let Some(line) = self.lines.next() else {
                return Err(Diagnostic::new(
                    format!("unterminated heredoc: no line `{}` ends it", marker.name),
                    logical.span(self.source, marker.at, marker.len),
                ));
            };
            extent.last = line;
            let candidate = if marker.chomp {
                line.text.trim_start_matches('\t')
            } else {
                line.text
            };
            if candidate == marker.name {
                break;
            }
            let mut body = line.raw;
            if marker.chomp {
                body = body.trim_start_matches('\t');
            }
            match body.strip_suffix('\n') {
                Some(text) => {
                    content.push_str(text.strip_suffix('\r').unwrap_or(text));
                    content.push('\n');
                }
                None => content.push_str(body),
            }
        }
        Ok(Heredoc {
            name: marker.name.clone(),
            content,
            expand: marker.expand,
            chomp: marker.chomp,
        })
    }
}

/// BuildKit takes heredocs only on `RUN`, `COPY` and `ADD` in shell form,
/// also as the trigger of `ONBUILD`.
fn can_contain_heredoc(command: &Command) -> bool {
    let target = match (&command.next, command.keyword.as_str()) {
        (Some(trigger), "onbuild") => trigger,
        _ => command,
    };
    matches!(target.keyword.as_str(), "run" | "copy" | "add") && !target.json
}

/// Turns a split command into a node covering lines
/// `extent.start_line..=extent.last.number`.
fn build_node(command: Command, logical: &LogicalLine, source: &str, extent: &Extent<'_>) -> Node {
    let start = logical.span(source, command.keyword_at, 0);
    let end = extent.last.end().max(start.offset);
    Node {
        keyword: command.keyword,
        flags: command.flags,
        args: command.args,
        next: command
            .next
            .map(|trigger| Box::new(build_node(*trigger, logical, source, extent))),
        json: command.json,
        heredocs: Vec::new(),
        original: command.original,
        start_line: extent.start_line,
        end_line: extent.last.number,
        span: Span {
            len: end - start.offset,
            ..start
        },
    }
}
