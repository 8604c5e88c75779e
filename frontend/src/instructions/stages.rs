//! A whole Dockerfile as typed instructions, grouped the way BuildKit's
//! `instructions.Parse` groups them: the ARGs before the first FROM (global
//! "meta" args, usable in FROM lines) and one [`Stage`] per FROM with the
//! instructions that follow it.

use serde::Serialize;

use super::{ArgCmd, FromCmd, Instruction, parse_instruction};
use crate::diagnostic::Diagnostic;
use crate::parser::Node;

/// One build stage: its FROM and the instructions up to the next FROM.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    pub from: FromCmd,
    /// Never contains [`Instruction::From`].
    pub commands: Vec<Instruction>,
}

/// A Dockerfile split into global ARGs and stages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stages {
    /// ARG instructions before the first FROM, in order.
    pub meta_args: Vec<ArgCmd>,
    pub stages: Vec<Stage>,
}

/// Types every node and groups them into stages. Errors: the first invalid
/// instruction; an instruction other than ARG before the first FROM; a
/// Dockerfile with no FROM at all.
pub fn parse_stages(nodes: &[Node], source: &str) -> Result<Stages, Diagnostic> {
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in nodes {
        match parse_instruction(node, source)? {
            Instruction::From(from) => stages.push(Stage {
                from,
                commands: Vec::new(),
            }),
            Instruction::Arg(arg) if stages.is_empty() => meta_args.push(arg),
            other => match stages.last_mut() {
                Some(stage) => stage.commands.push(other),
                None => {
                    return Err(Diagnostic::new(
                        format!(
                            "no build stage in current context: {} must come after a FROM (only ARG may precede the first FROM)",
                            other.keyword()
                        ),
                        other.origin().locate(""),
                    ));
                }
            },
        }
    }
    if stages.is_empty() {
        let at = nodes
            .first()
            .map(|n| n.locate(source, ""))
            .unwrap_or_default();
        return Err(Diagnostic::new(
            "dockerfile contains no stages to build (no FROM instruction)",
            at,
        ));
    }
    Ok(Stages { meta_args, stages })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::testutil::node;

    fn lines(nodes: &[Node]) -> (Vec<Node>, String) {
        // Give every node its own line of one shared source.
        let mut source = String::new();
        let mut out = Vec::new();
        for (i, n) in nodes.iter().enumerate() {
            let mut n = n.clone();
            let offset = source.len();
            source.push_str(&n.original);
            source.push('\n');
            n.span = crate::diagnostic::Span::at(&source, offset, n.original.len());
            n.start_line = i + 1;
            n.end_line = i + 1;
            out.push(n);
        }
        (out, source)
    }

    #[test]
    fn stages_collect_meta_args_and_commands() {
        let (nodes, src) = lines(&[
            node("arg", &[], &["V=1"]),
            node("from", &[], &["alpine:$V", "AS", "a"]),
            node("arg", &[], &["X"]),
            node("run", &[], &["true"]),
            node("from", &[], &["a"]),
            node("workdir", &[], &["/x"]),
        ]);
        let s = parse_stages(&nodes, &src).unwrap();
        assert_eq!(s.meta_args.len(), 1);
        assert_eq!(s.stages.len(), 2);
        assert_eq!(s.stages[0].from.stage_name.as_deref(), Some("a"));
        let kinds: Vec<_> = s.stages[0]
            .commands
            .iter()
            .map(Instruction::keyword)
            .collect();
        assert_eq!(kinds, vec!["ARG", "RUN"]);
        assert_eq!(s.stages[1].commands.len(), 1);
    }

    #[test]
    fn stages_reject_instruction_before_first_from() {
        let (nodes, src) = lines(&[node("run", &[], &["true"]), node("from", &[], &["a"])]);
        let err = parse_stages(&nodes, &src).unwrap_err();
        assert!(
            err.message
                .starts_with("no build stage in current context: RUN")
        );
        assert_eq!(err.span.line, 1);
    }

    #[test]
    fn stages_require_a_from() {
        let (nodes, src) = lines(&[node("arg", &[], &["A"])]);
        let err = parse_stages(&nodes, &src).unwrap_err();
        assert!(err.message.starts_with("dockerfile contains no stages"));
    }

    #[test]
    fn stages_report_the_first_invalid_instruction_with_its_line() {
        let (nodes, src) = lines(&[node("from", &[], &["a"]), node("copy", &[], &["onlyone"])]);
        let err = parse_stages(&nodes, &src).unwrap_err();
        assert_eq!(err.span.line, 2);
    }
}
