//! Two views of a parse tree for tests and tools: BuildKit's parse-tree dump
//! (the format of its conformance `result` files) and a JSON document.
//!
//! Dump: one line per instruction, `(` keyword, then ` [flags…]` with the
//! flags Go-quoted and space-separated when there are any, then each
//! argument Go-quoted after a space, and for `ONBUILD` its trigger as a
//! nested `(…)`; then `)`. Lines are joined with `\n` (no final newline).

use serde_json::{Value, json};

use super::node::{Dockerfile, Node};
use super::quote::push_go_quoted;

impl Node {
    /// This instruction in BuildKit's dump format, parentheses included:
    /// `(copy ["--from=x"] "a" "b")`, `(onbuild (run "x"))`.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        self.push_dump(&mut out);
        out
    }

    /// Appends `(` + the node + `)`. Like BuildKit, the text between the
    /// parentheses is trimmed of whitespace, which matters only for an empty
    /// keyword (`("")`).
    fn push_dump(&self, out: &mut String) {
        let mut inner = String::new();
        inner.push_str(&self.keyword);
        if !self.flags.is_empty() {
            inner.push_str(" [");
            for (i, flag) in self.flags.iter().enumerate() {
                if i > 0 {
                    inner.push(' ');
                }
                push_go_quoted(&mut inner, flag);
            }
            inner.push(']');
        }
        for arg in &self.args {
            inner.push(' ');
            push_go_quoted(&mut inner, arg);
        }
        if let Some(next) = &self.next {
            inner.push(' ');
            next.push_dump(&mut inner);
        }
        out.push('(');
        out.push_str(inner.trim());
        out.push(')');
    }

    /// This instruction as the JSON object described at
    /// [`Dockerfile::to_json`].
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "keyword": self.keyword,
            "flags": self.flags,
            "args": self.args,
            "json": self.json,
            "heredocs": self.heredocs.iter().map(|h| json!({
                "name": h.name,
                "content": h.content,
                "expand": h.expand,
                "chomp": h.chomp,
            })).collect::<Vec<_>>(),
            "start_line": self.start_line,
            "end_line": self.end_line,
        });
        if self.keyword == "onbuild" {
            v["next"] = self.next.as_ref().map_or(Value::Null, |n| n.to_json());
        }
        v
    }
}

impl Dockerfile {
    /// The parse tree in BuildKit's dump format: one line per instruction,
    /// joined with `\n`, no final newline. For a conformance case,
    /// `dump() + "\n"` equals the `result` file.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for (i, node) in self.nodes.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            node.push_dump(&mut out);
        }
        out
    }

    /// The parse tree as JSON:
    ///
    /// ```text
    /// {"directives": {NAME: VALUE}, "escape": "\\",
    ///  "instructions": [{"keyword", "flags": [..], "args": [..], "json": bool,
    ///                    "heredocs": [{"name", "content", "expand", "chomp"}],
    ///                    "start_line", "end_line"}]}
    /// ```
    ///
    /// An `ONBUILD` instruction also has `"next"`: its trigger as the same
    /// kind of object (`null` for a bare `ONBUILD`).
    pub fn to_json(&self) -> Value {
        json!({
            "directives": self.directives,
            "escape": self.escape.to_string(),
            "instructions": self.nodes.iter().map(Node::to_json).collect::<Vec<_>>(),
        })
    }
}
