//! The parse tree: one [`Node`] per instruction, as BuildKit's parser makes it.
//!
//! This is the contract between [`crate::parser`] (which builds nodes) and
//! [`crate::instructions`] (which types and validates them). A node keeps the
//! text exactly as the dump format of BuildKit's conformance data needs it:
//! flags split off, arguments per instruction kind, no word expansion.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Span};

/// One instruction of a Dockerfile, after line continuations were joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    /// The keyword, lower-cased (`from`, `run`, `onbuild`, ...).
    pub keyword: String,
    /// Leading `--name=value` / `--name` words, as written (quotes removed).
    pub flags: Vec<String>,
    /// The arguments, split per instruction kind (see the conformance README).
    /// Empty for ONBUILD, whose trigger is in [`Node::next`].
    pub args: Vec<String>,
    /// The nested trigger instruction of `ONBUILD`.
    pub next: Option<Box<Node>>,
    /// True when the arguments came from a JSON array (exec form).
    pub json: bool,
    /// Heredocs opened on this instruction's line, in order. Only `RUN`,
    /// `COPY` and `ADD` in shell form take heredocs; for `ONBUILD RUN <<EOF`
    /// they belong to the trigger in [`Node::next`] and this list is empty.
    pub heredocs: Vec<Heredoc>,
    /// The logical line after continuations were joined (heredoc bodies excluded).
    pub original: String,
    /// 1-based physical line where the instruction starts.
    pub start_line: usize,
    /// 1-based physical line where it ends (continuations and heredocs included).
    pub end_line: usize,
    /// Bytes of the source the instruction covers, from its keyword to the end
    /// of its last line.
    pub span: Span,
}

/// A heredoc body attached to an instruction (`RUN <<EOF ... EOF`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heredoc {
    /// The delimiter word, without quotes or the `-` of `<<-`.
    pub name: String,
    /// The body, lines joined with `\n`, ending with `\n` unless empty; with
    /// `<<-` leading tabs are already stripped. A `\r\n` line end in the
    /// Dockerfile becomes `\n`; otherwise the lines are kept byte for byte
    /// (no continuation joining, no comment removal).
    pub content: String,
    /// False when the delimiter was quoted (`<<'EOF'`, `<<"EOF"`): no expansion.
    pub expand: bool,
    /// True for `<<-`: leading tabs were stripped from every body line.
    pub chomp: bool,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dockerfile {
    /// Parser directives from the top of the file, names lower-cased
    /// (`syntax`, `escape`, `check`).
    pub directives: BTreeMap<String, String>,
    /// The escape character in effect (`\` or `` ` ``).
    pub escape: char,
    /// The instructions in source order.
    pub nodes: Vec<Node>,
    /// Non-fatal findings (e.g. empty continuation lines).
    pub warnings: Vec<Diagnostic>,
}

impl Node {
    /// The span of the first occurrence of `needle` within this instruction's
    /// source text, or the span of the keyword when it does not occur there
    /// (or `needle` is empty). Used to point errors at the offending word.
    pub fn locate(&self, source: &str, needle: &str) -> Span {
        let end = (self.span.offset + self.span.len).min(source.len());
        let text = source.get(self.span.offset..end).unwrap_or("");
        match text.find(needle) {
            Some(i) if !needle.is_empty() => Span::at(source, self.span.offset + i, needle.len()),
            _ => Span::at(source, self.span.offset, self.keyword.len()),
        }
    }
}
