//! `ONBUILD <instruction>`: a trigger stored in the image config and run
//! when a later build uses the image as its base. The trigger is parsed and
//! validated now; it is expanded only when it fires.

use serde::Serialize;

use super::flags::parse_flags;
use super::{Instruction, Origin, parse_instruction};
use crate::diagnostic::{Diagnostic, Span};
use crate::parser::Node;

/// An ONBUILD instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OnbuildCmd {
    pub origin: Origin,
    /// The trigger, typed and validated.
    pub trigger: Box<Instruction>,
    /// The trigger's text as stored in the image config's `OnBuild` list:
    /// the line without `ONBUILD`, followed by any heredoc bodies.
    pub expression: String,
}

impl OnbuildCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<OnbuildCmd, Diagnostic> {
        parse_flags(node, source, "ONBUILD", &[])?;
        let Some(next) = node.next.as_deref() else {
            return Err(Diagnostic::new(
                "ONBUILD requires at least one argument",
                node.locate(source, ""),
            ));
        };
        let keyword = next.keyword.to_uppercase();
        let forbidden = match keyword.as_str() {
            "ONBUILD" => Some("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_string()),
            "FROM" | "MAINTAINER" => Some(format!("{keyword} isn't allowed as an ONBUILD trigger")),
            _ => None,
        };
        if let Some(message) = forbidden {
            let at = locate_after_keyword(node, source).unwrap_or_else(|| node.locate(source, ""));
            return Err(Diagnostic::new(message, at));
        }
        let trigger = parse_instruction(next, source)?;
        let mut expression = strip_onbuild(&node.original).to_string();
        let heredocs = if next.heredocs.is_empty() {
            &node.heredocs
        } else {
            &next.heredocs
        };
        for h in heredocs {
            expression.push('\n');
            expression.push_str(&h.content);
            expression.push_str(&h.name);
        }
        Ok(OnbuildCmd {
            origin: Origin::of(node, source),
            trigger: Box::new(trigger),
            expression,
        })
    }
}

/// The span of the first word after the ONBUILD keyword in the source.
fn locate_after_keyword(node: &Node, source: &str) -> Option<Span> {
    let start = node.span.offset;
    let text = source.get(start..(start + node.span.len).min(source.len()))?;
    let after_kw = text.get(node.keyword.len()..)?;
    let skipped = after_kw.len() - after_kw.trim_start().len();
    let word = after_kw.split_whitespace().next()?;
    Some(Span::at(
        source,
        start + node.keyword.len() + skipped,
        word.len(),
    ))
}

/// `ONBUILD RUN x` → `RUN x` (the keyword in any case, then whitespace).
fn strip_onbuild(original: &str) -> &str {
    let t = original.trim_start();
    match t.get(..7) {
        Some(k) if k.eq_ignore_ascii_case("onbuild") => t[7..].trim_start(),
        _ => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::testutil::{node, parse};

    fn onbuild(trigger: crate::parser::Node) -> crate::parser::Node {
        let mut n = node("onbuild", &[], &[]);
        n.original = format!("ONBUILD {}", trigger.original);
        n.span = crate::diagnostic::Span::at(&n.original, 0, n.original.len());
        let mut t = trigger;
        t.span = crate::diagnostic::Span::at(&n.original, 8, t.original.len());
        n.next = Some(Box::new(t));
        n
    }

    #[test]
    fn onbuild_parses_its_trigger() {
        let n = onbuild(node("copy", &["--from=x"], &["a", "b"]));
        let Instruction::Onbuild(o) = parse(&n).unwrap() else {
            panic!()
        };
        assert!(matches!(*o.trigger, Instruction::Copy(ref c) if c.from.as_deref() == Some("x")));
        assert_eq!(o.expression, "COPY --from=x a b");
    }

    #[test]
    fn onbuild_reports_errors_of_its_trigger() {
        let n = onbuild(node("copy", &[], &["only"]));
        let err = parse(&n).unwrap_err();
        assert!(
            err.message
                .starts_with("COPY requires at least two arguments")
        );
    }

    #[test]
    fn onbuild_rejects_onbuild_trigger() {
        let n = onbuild(node("onbuild", &[], &[]));
        let err = parse(&n).unwrap_err();
        assert_eq!(
            err.message,
            "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
        );
        assert_eq!(err.span.offset, 8, "points at the second ONBUILD");
    }

    #[test]
    fn onbuild_rejects_from_and_maintainer_triggers() {
        let err = parse(&onbuild(node("from", &[], &["alpine"]))).unwrap_err();
        assert_eq!(err.message, "FROM isn't allowed as an ONBUILD trigger");
        let err = parse(&onbuild(node("maintainer", &[], &["me"]))).unwrap_err();
        assert_eq!(
            err.message,
            "MAINTAINER isn't allowed as an ONBUILD trigger"
        );
    }

    #[test]
    fn onbuild_requires_a_trigger() {
        let err = parse(&node("onbuild", &[], &[])).unwrap_err();
        assert_eq!(err.message, "ONBUILD requires at least one argument");
    }

    #[test]
    fn onbuild_appends_heredoc_bodies_to_expression() {
        let t = crate::instructions::testutil::with_heredoc(
            node("run", &[], &["<<EOF"]),
            "EOF",
            "echo hi\n",
            true,
        );
        let Instruction::Onbuild(o) = parse(&onbuild(t)).unwrap() else {
            panic!()
        };
        assert_eq!(o.expression, "RUN <<EOF\necho hi\nEOF");
    }
}
