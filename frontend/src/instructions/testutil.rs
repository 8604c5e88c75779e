//! Test-only helpers: build [`Node`]s by hand (the real parser lives in
//! another step) and a tiny [`Expander`] that substitutes fixed variables.

use std::collections::BTreeMap;

use crate::diagnostic::Span;
use crate::instructions::{Expander, Instruction, parse_instruction};
use crate::parser::{Heredoc, Node};

/// A node whose source is `keyword flags... args...` on line 1.
pub(crate) fn node(keyword: &str, flags: &[&str], args: &[&str]) -> Node {
    let mut words: Vec<String> = vec![keyword.to_uppercase()];
    words.extend(flags.iter().map(|s| s.to_string()));
    words.extend(args.iter().map(|s| s.to_string()));
    build(keyword, flags, args, words.join(" "), false)
}

/// A node in exec form: `keyword flags... ["a", "b"]`.
pub(crate) fn json_node(keyword: &str, flags: &[&str], args: &[&str]) -> Node {
    let mut text = keyword.to_uppercase();
    for f in flags {
        text.push(' ');
        text.push_str(f);
    }
    text.push(' ');
    text.push_str(&serde_json::to_string(args).unwrap());
    build(keyword, flags, args, text, true)
}

fn build(keyword: &str, flags: &[&str], args: &[&str], original: String, json: bool) -> Node {
    Node {
        keyword: keyword.to_lowercase(),
        flags: flags.iter().map(|s| s.to_string()).collect(),
        args: args.iter().map(|s| s.to_string()).collect(),
        next: None,
        json,
        heredocs: Vec::new(),
        span: Span::at(&original, 0, original.len()),
        original,
        start_line: 1,
        end_line: 1,
    }
}

/// Adds a heredoc body to a node.
pub(crate) fn with_heredoc(mut n: Node, name: &str, content: &str, expand: bool) -> Node {
    n.heredocs.push(Heredoc {
        name: name.to_string(),
        content: content.to_string(),
        expand,
        chomp: false,
    });
    n
}

/// Parses a hand-built node against its own text.
pub(crate) fn parse(n: &Node) -> Result<Instruction, crate::diagnostic::Diagnostic> {
    parse_instruction(n, &n.original)
}

/// Substitutes `$NAME` / `${NAME}` from a fixed map (unset → empty); `word`
/// also drops `'` and `"`. `failing()` errors on every call.
pub(crate) struct TestExpander {
    vars: BTreeMap<String, String>,
    fail: bool,
}

impl TestExpander {
    pub(crate) fn new(vars: &[(&str, &str)]) -> Self {
        TestExpander {
            vars: vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            fail: false,
        }
    }

    pub(crate) fn failing() -> Self {
        TestExpander {
            vars: BTreeMap::new(),
            fail: true,
        }
    }

    fn substitute(&self, s: &str) -> Result<String, String> {
        if self.fail {
            return Err("expansion failed".to_string());
        }
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
                let end = braced.find('}').ok_or("missing '}'")?;
                (&braced[..end], &braced[end + 1..])
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            out.push_str(self.vars.get(name).map_or("", String::as_str));
            rest = tail;
        }
        out.push_str(rest);
        Ok(out)
    }
}

impl Expander for TestExpander {
    fn word(&self, word: &str) -> Result<String, String> {
        Ok(self.substitute(word)?.replace(['"', '\''], ""))
    }

    fn words(&self, text: &str) -> Result<Vec<String>, String> {
        Ok(self
            .word(text)?
            .split_whitespace()
            .map(str::to_string)
            .collect())
    }

    fn raw(&self, text: &str) -> Result<String, String> {
        self.substitute(text)
    }
}
