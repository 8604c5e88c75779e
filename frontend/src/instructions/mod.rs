//! Layer 2 of the frontend: parse-tree nodes → typed, validated instructions.
//!
//! [`parse_instruction`] turns one [`Node`] into an [`Instruction`]: it checks
//! the flags each instruction accepts, the number and shape of its arguments
//! and every value that is already known (BuildKit's `instructions` package
//! does the same). Errors are [`Diagnostic`]s pointing at the offending word.
//!
//! Instructions hold their text *unexpanded*. Word expansion (`$VAR`) needs
//! the ARG/ENV scope, which only [`crate::convert`] knows, so it calls
//! [`Instruction::expand`] with an [`Expander`] built on [`crate::shell`]. Values
//! whose validity depends on expansion (EXPOSE ports, `--chmod`, `--mount`
//! options, STOPSIGNAL) are validated at parse time when they contain no `$`,
//! and always by `expand`; their typed form (e.g. [`run::RunCmd::mounts`]) is
//! final after `expand`.
//!
//! What is expanded follows BuildKit: ADD, COPY (sources, dest, `--chown`,
//! `--chmod`, `--exclude`, `--checksum`, heredoc bodies whose delimiter is
//! unquoted), ENV, LABEL, ARG, EXPOSE, STOPSIGNAL, USER, VOLUME, WORKDIR,
//! `RUN --mount` values. Never the command text of RUN, CMD, ENTRYPOINT,
//! SHELL, HEALTHCHECK (nor its options, which BuildKit parses as written),
//! MAINTAINER or the ONBUILD trigger (expanded when it fires in a child
//! build). Two values take *global* (pre-FROM ARG) scope and are expanded by
//! the caller with that scope: FROM's image and `--platform`
//! ([`from::FromCmd::expand`]) and `COPY --from` ([`copy::CopyCmd::expand_from`]).
//!
//! [`parse_stages`] types a whole node list and groups it into the global
//! ARGs and one [`Stage`] per FROM, as BuildKit's `instructions.Parse` does.

pub mod add;
pub mod chmod;
pub mod config;
pub mod copy;
pub mod duration;
pub mod expose;
pub(crate) mod flags;
pub mod from;
pub mod healthcheck;
pub mod meta;
pub mod mount;
pub mod onbuild;
pub mod run;
pub mod signal;
pub mod stages;

#[cfg(test)]
mod conformance_tests;
#[cfg(test)]
pub(crate) mod testutil;

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Span};
use crate::parser::Node;

pub use add::AddCmd;
pub use chmod::{Chmod, InvalidChmod, parse_chmod};
pub use config::{CmdCmd, EntrypointCmd, ShellCmd, UserCmd, VolumeCmd, WorkdirCmd};
pub use copy::{CopyCmd, CopySource, InlineFile};
pub use expose::{ExposeCmd, ExposedPort, PortProtocol, parse_port_spec};
pub use from::FromCmd;
pub use healthcheck::{HealthcheckCmd, HealthcheckTest};
pub use meta::{ArgCmd, ArgDecl, EnvCmd, KeyValue, LabelCmd, MaintainerCmd};
pub use mount::{CacheSharing, Mount, MountType, parse_mount, parse_mount_expanding};
pub use onbuild::OnbuildCmd;
pub use run::{CommandLine, NetworkMode, RunCmd, RunHeredoc, SecurityMode};
pub use signal::{StopSignalCmd, validate_signal};
pub use stages::{Stage, Stages, parse_stages};

/// Where an instruction came from: its place in the Dockerfile and its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Origin {
    /// The bytes of the source the instruction covers.
    pub span: Span,
    /// 1-based physical line of the keyword.
    pub start_line: usize,
    /// 1-based physical line where the instruction ends.
    pub end_line: usize,
    /// The logical line, continuations joined and trimmed (`RUN make all`):
    /// BuildKit's "source code" of a step, used for progress names and history.
    pub text: String,
    /// The exact source bytes of `span`, kept to point at words after parsing.
    #[serde(skip)]
    raw: String,
}

impl Origin {
    /// The origin of `node` within `source`.
    pub fn of(node: &Node, source: &str) -> Origin {
        let end = (node.span.offset + node.span.len).min(source.len());
        Origin {
            span: node.span,
            start_line: node.start_line,
            end_line: node.end_line,
            text: node.original.trim().to_string(),
            raw: source.get(node.span.offset..end).unwrap_or("").to_string(),
        }
    }

    /// The span of the first occurrence of `needle` in the instruction's
    /// source, or of the keyword when it does not occur (like [`Node::locate`]).
    pub fn locate(&self, needle: &str) -> Span {
        let (at, len) = match self.raw.find(needle) {
            Some(i) if !needle.is_empty() => (i, needle.len()),
            _ => (0, self.raw.split_whitespace().next().map_or(0, str::len)),
        };
        let before = &self.raw[..at];
        let (line, column) = match before.rfind('\n') {
            Some(nl) => (
                self.span.line + before.matches('\n').count(),
                before[nl + 1..].chars().count() + 1,
            ),
            None => (self.span.line, self.span.column + before.chars().count()),
        };
        Span {
            offset: self.span.offset + at,
            len,
            line,
            column,
        }
    }

    /// A diagnostic with `message`, pointing at `needle`.
    pub(crate) fn error(&self, needle: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(message, self.locate(needle))
    }
}

/// Dockerfile word expansion, as [`crate::convert`] provides it from
/// [`crate::shell`] and the current ARG/ENV scope. Errors are plain messages;
/// the instruction adds the location.
pub trait Expander {
    /// Expands one word to one string: variables substituted, quotes and
    /// escapes removed, no splitting (BuildKit's `ProcessWord`).
    fn word(&self, word: &str) -> Result<String, String>;
    /// Expands and splits into words at unquoted whitespace (`ProcessWords`).
    fn words(&self, text: &str) -> Result<Vec<String>, String>;
    /// Expands variables in a heredoc body (`COPY <<EOF` with an unquoted
    /// delimiter): `'` and `"` are ordinary characters and stay, escapes
    /// still apply, no splitting (BuildKit's `SkipProcessQuotes` mode,
    /// `shell::Lexer::with_skip_process_quotes`).
    fn raw(&self, text: &str) -> Result<String, String>;
}

/// One typed Dockerfile instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "instruction", rename_all = "lowercase")]
pub enum Instruction {
    From(FromCmd),
    Run(RunCmd),
    Cmd(CmdCmd),
    Label(LabelCmd),
    Maintainer(MaintainerCmd),
    Expose(ExposeCmd),
    Env(EnvCmd),
    Add(AddCmd),
    Copy(CopyCmd),
    Entrypoint(EntrypointCmd),
    Volume(VolumeCmd),
    User(UserCmd),
    Workdir(WorkdirCmd),
    Arg(ArgCmd),
    Onbuild(OnbuildCmd),
    StopSignal(StopSignalCmd),
    Healthcheck(HealthcheckCmd),
    Shell(ShellCmd),
}

/// Every instruction keyword, lower-case.
pub const KEYWORDS: &[&str] = &[
    "from",
    "run",
    "cmd",
    "label",
    "maintainer",
    "expose",
    "env",
    "add",
    "copy",
    "entrypoint",
    "volume",
    "user",
    "workdir",
    "arg",
    "onbuild",
    "stopsignal",
    "healthcheck",
    "shell",
];

/// Types and validates one parsed instruction. `source` is the Dockerfile
/// text the node was parsed from (to point errors at words).
pub fn parse_instruction(node: &Node, source: &str) -> Result<Instruction, Diagnostic> {
    let keyword = node.keyword.to_ascii_lowercase();
    Ok(match keyword.as_str() {
        "from" => Instruction::From(FromCmd::parse(node, source)?),
        "run" => Instruction::Run(RunCmd::parse(node, source)?),
        "cmd" => Instruction::Cmd(CmdCmd::parse(node, source)?),
        "label" => Instruction::Label(LabelCmd::parse(node, source)?),
        "maintainer" => Instruction::Maintainer(MaintainerCmd::parse(node, source)?),
        "expose" => Instruction::Expose(ExposeCmd::parse(node, source)?),
        "env" => Instruction::Env(EnvCmd::parse(node, source)?),
        "add" => Instruction::Add(AddCmd::parse(node, source)?),
        "copy" => Instruction::Copy(CopyCmd::parse(node, source)?),
        "entrypoint" => Instruction::Entrypoint(EntrypointCmd::parse(node, source)?),
        "volume" => Instruction::Volume(VolumeCmd::parse(node, source)?),
        "user" => Instruction::User(UserCmd::parse(node, source)?),
        "workdir" => Instruction::Workdir(WorkdirCmd::parse(node, source)?),
        "arg" => Instruction::Arg(ArgCmd::parse(node, source)?),
        "onbuild" => Instruction::Onbuild(OnbuildCmd::parse(node, source)?),
        "stopsignal" => Instruction::StopSignal(StopSignalCmd::parse(node, source)?),
        "healthcheck" => Instruction::Healthcheck(HealthcheckCmd::parse(node, source)?),
        "shell" => Instruction::Shell(ShellCmd::parse(node, source)?),
        _ => {
            let mut message = format!("unknown instruction: {}", node.keyword.to_uppercase());
            let close = KEYWORDS
                .iter()
                .map(|k| (flags::edit_distance(k, &keyword), *k))
                .filter(|(d, _)| *d <= 2)
                .min();
            if let Some((_, k)) = close {
                message.push_str(&format!(" (did you mean {}?)", k.to_uppercase()));
            }
            let at = Span::at(source, node.span.offset, node.keyword.len());
            return Err(Diagnostic::new(message, at));
        }
    })
}

impl Instruction {
    /// Where the instruction came from.
    pub fn origin(&self) -> &Origin {
        match self {
            Instruction::From(c) => &c.origin,
            Instruction::Run(c) => &c.origin,
            Instruction::Cmd(c) => &c.origin,
            Instruction::Label(c) => &c.origin,
            Instruction::Maintainer(c) => &c.origin,
            Instruction::Expose(c) => &c.origin,
            Instruction::Env(c) => &c.origin,
            Instruction::Add(c) => &c.origin,
            Instruction::Copy(c) => &c.origin,
            Instruction::Entrypoint(c) => &c.origin,
            Instruction::Volume(c) => &c.origin,
            Instruction::User(c) => &c.origin,
            Instruction::Workdir(c) => &c.origin,
            Instruction::Arg(c) => &c.origin,
            Instruction::Onbuild(c) => &c.origin,
            Instruction::StopSignal(c) => &c.origin,
            Instruction::Healthcheck(c) => &c.origin,
            Instruction::Shell(c) => &c.origin,
        }
    }

    /// The upper-case keyword (`RUN`, `COPY`, ...).
    pub fn keyword(&self) -> &'static str {
        match self {
            Instruction::From(_) => "FROM",
            Instruction::Run(_) => "RUN",
            Instruction::Cmd(_) => "CMD",
            Instruction::Label(_) => "LABEL",
            Instruction::Maintainer(_) => "MAINTAINER",
            Instruction::Expose(_) => "EXPOSE",
            Instruction::Env(_) => "ENV",
            Instruction::Add(_) => "ADD",
            Instruction::Copy(_) => "COPY",
            Instruction::Entrypoint(_) => "ENTRYPOINT",
            Instruction::Volume(_) => "VOLUME",
            Instruction::User(_) => "USER",
            Instruction::Workdir(_) => "WORKDIR",
            Instruction::Arg(_) => "ARG",
            Instruction::Onbuild(_) => "ONBUILD",
            Instruction::StopSignal(_) => "STOPSIGNAL",
            Instruction::Healthcheck(_) => "HEALTHCHECK",
            Instruction::Shell(_) => "SHELL",
        }
    }

    /// Expands the words Docker expands for this instruction (see the module
    /// doc) and validates what could only be checked afterwards. Instructions
    /// that expand nothing are left unchanged. For FROM pass an expander over
    /// the global (pre-FROM) ARGs; `COPY --from` is left to
    /// [`CopyCmd::expand_from`].
    pub fn expand(&mut self, e: &dyn Expander) -> Result<(), Diagnostic> {
        match self {
            Instruction::From(c) => c.expand(e),
            Instruction::Run(c) => c.expand(e),
            Instruction::Label(c) => c.expand(e),
            Instruction::Expose(c) => c.expand(e),
            Instruction::Env(c) => c.expand(e),
            Instruction::Add(c) => c.expand(e),
            Instruction::Copy(c) => c.expand(e),
            Instruction::Volume(c) => c.expand(e),
            Instruction::User(c) => c.expand(e),
            Instruction::Workdir(c) => c.expand(e),
            Instruction::Arg(c) => c.expand(e),
            Instruction::StopSignal(c) => c.expand(e),
            Instruction::Cmd(_)
            | Instruction::Maintainer(_)
            | Instruction::Entrypoint(_)
            | Instruction::Onbuild(_)
            | Instruction::Healthcheck(_)
            | Instruction::Shell(_) => Ok(()),
        }
    }
}

/// Expands `value` in place with [`Expander::word`]; errors point at the
/// unexpanded text.
pub(crate) fn expand_word(
    e: &dyn Expander,
    origin: &Origin,
    instruction: &str,
    value: &mut String,
) -> Result<(), Diagnostic> {
    match e.word(value) {
        Ok(v) => {
            *value = v;
            Ok(())
        }
        Err(msg) => Err(origin.error(
            value,
            format!("{instruction}: failed to expand {value:?}: {msg}"),
        )),
    }
}

/// Errors unless the node has exactly one argument; returns it.
pub(crate) fn exactly_one_arg<'a>(
    node: &'a Node,
    source: &str,
    instruction: &str,
) -> Result<&'a str, Diagnostic> {
    match node.args.as_slice() {
        [one] => Ok(one),
        [] => Err(Diagnostic::new(
            format!("{instruction} requires exactly one argument"),
            node.locate(source, ""),
        )),
        [_, second, ..] => Err(Diagnostic::new(
            format!("{instruction} requires exactly one argument"),
            node.locate(source, second),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{TestExpander, node};
    use super::*;

    #[test]
    fn unknown_instruction_is_an_error_naming_it() {
        let n = node("frobnicate", &[], &["x"]);
        let err = parse_instruction(&n, &n.original).unwrap_err();
        assert_eq!(err.message, "unknown instruction: FROBNICATE");
        assert_eq!((err.span.offset, err.span.len), (0, "frobnicate".len()));
    }

    #[test]
    fn misspelt_instruction_suggests_the_keyword() {
        let n = node("cpy", &[], &["a", "b"]);
        let err = parse_instruction(&n, &n.original).unwrap_err();
        assert_eq!(err.message, "unknown instruction: CPY (did you mean COPY?)");
    }

    #[test]
    fn every_keyword_is_dispatched() {
        for k in KEYWORDS {
            let n = node(k, &[], &[]);
            if let Err(e) = parse_instruction(&n, &n.original) {
                assert!(
                    !e.message.starts_with("unknown instruction"),
                    "{k}: {}",
                    e.message
                );
            }
        }
    }

    #[test]
    fn origin_keeps_text_lines_and_keyword() {
        let n = node("run", &[], &["make all"]);
        let i = parse_instruction(&n, &n.original).unwrap();
        assert_eq!(i.keyword(), "RUN");
        assert_eq!(i.origin().text, "RUN make all");
        assert_eq!((i.origin().start_line, i.origin().end_line), (1, 1));
    }

    #[test]
    fn origin_locate_counts_lines_and_columns_inside_the_instruction() {
        let source = "FROM a\nCOPY x \\\n  $BAD /d\n";
        let offset = source.find("COPY").unwrap();
        let mut n = node("copy", &[], &["x", "$BAD", "/d"]);
        n.span = Span::at(source, offset, source.len() - offset);
        let o = Origin::of(&n, source);
        let s = o.locate("$BAD");
        assert_eq!(s, Span::at(source, source.find("$BAD").unwrap(), 4));
        assert_eq!((s.line, s.column), (3, 3));
    }

    #[test]
    fn expand_error_points_at_the_word() {
        let n = node("workdir", &[], &["/a/${X:?missing}"]);
        let mut i = parse_instruction(&n, &n.original).unwrap();
        let err = i.expand(&TestExpander::failing()).unwrap_err();
        assert!(
            err.message.starts_with("WORKDIR: failed to expand"),
            "{}",
            err.message
        );
        assert_eq!(err.span.offset, n.original.find("/a/").unwrap());
    }

    #[test]
    fn instructions_serialize_with_a_tag() {
        let n = node("user", &[], &["app"]);
        let i = parse_instruction(&n, &n.original).unwrap();
        let v = serde_json::to_value(&i).unwrap();
        assert_eq!(v["instruction"], "user");
        assert_eq!(v["user"], "app");
    }
}
