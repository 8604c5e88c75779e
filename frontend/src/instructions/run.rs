//! `RUN [--mount=...]... [--network=default|none|host]
//! [--security=sandbox|insecure] <command>`, in shell form, exec form or with
//! heredocs; and [`CommandLine`], the command shape shared with CMD,
//! ENTRYPOINT and HEALTHCHECK.

use serde::Serialize;

use super::flags::{FlagKind, parse_flags};
use super::mount::{Mount, from_uses_variable, parse_mount, parse_mount_expanding};
use super::{Expander, Origin};
use crate::diagnostic::Diagnostic;
use crate::parser::{Heredoc, Node};

/// A command as written: exec form (`["a", "b"]`) or shell form (`a b`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CommandLine {
    /// Exec form: the array elements. Shell form: one string, the whole
    /// command text (run as `<shell> <command>`). Empty for `CMD []`.
    pub args: Vec<String>,
    /// True for shell form: the stage's SHELL is prepended when run.
    pub shell_form: bool,
}

impl CommandLine {
    pub(crate) fn of(node: &Node) -> CommandLine {
        CommandLine {
            args: node.args.clone(),
            shell_form: !node.json,
        }
    }
}

/// `RUN --network`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    #[default]
    Default,
    None,
    Host,
}

/// `RUN --security`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SecurityMode {
    #[default]
    Sandbox,
    Insecure,
}

/// Heredoc bodies of a RUN (`RUN <<EOF ... EOF`), as the parser found them.
pub type RunHeredoc = Heredoc;

/// A RUN instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunCmd {
    pub origin: Origin,
    /// The command; never expanded by the frontend (the shell does it).
    pub command: CommandLine,
    /// Heredocs opened on the RUN line, in order (the command text still
    /// names them, e.g. `<<EOF` or `python3 <<EOF`).
    pub heredocs: Vec<RunHeredoc>,
    /// The `--mount` values as written, in order.
    pub mount_specs: Vec<String>,
    /// The parsed mounts, one per spec. Filled at parse time when no spec
    /// contains `$`; always filled by [`RunCmd::expand`].
    pub mounts: Vec<Mount>,
    pub network: NetworkMode,
    pub security: SecurityMode,
}

impl RunCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<RunCmd, Diagnostic> {
        let flags = parse_flags(
            node,
            source,
            "RUN",
            &[
                ("mount", FlagKind::List),
                ("network", FlagKind::String),
                ("security", FlagKind::String),
            ],
        )?;
        let flag_word = |name: &str| {
            node.flags
                .iter()
                .find(|f| f.starts_with(&format!("--{name}")))
                .cloned()
                .unwrap_or_default()
        };
        let network = match flags.string("network").as_deref() {
            None | Some("default") => NetworkMode::Default,
            Some("none") => NetworkMode::None,
            Some("host") => NetworkMode::Host,
            Some(other) => {
                return Err(Diagnostic::new(
                    format!("RUN: invalid network mode {other:?} (expected default, none or host)"),
                    node.locate(source, &flag_word("network")),
                ));
            }
        };
        let security = match flags.string("security").as_deref() {
            None | Some("sandbox") => SecurityMode::Sandbox,
            Some("insecure") => SecurityMode::Insecure,
            Some(other) => {
                return Err(Diagnostic::new(
                    format!("RUN: security {other:?} is not valid (expected sandbox or insecure)"),
                    node.locate(source, &flag_word("security")),
                ));
            }
        };
        let mount_specs = flags.list("mount");
        let mut mounts = Vec::new();
        for spec in &mount_specs {
            let at = || node.locate(source, spec);
            if from_uses_variable(spec) {
                return Err(Diagnostic::new(
                    "RUN --mount: 'from' doesn't support variable expansion, define an alias stage instead",
                    at(),
                ));
            }
            if !spec.contains('$') {
                let m = parse_mount(spec)
                    .map_err(|msg| Diagnostic::new(format!("RUN --mount: {msg}"), at()))?;
                mounts.push(m);
            }
        }
        if mounts.len() != mount_specs.len() {
            mounts.clear();
        }
        if node.args.is_empty() && node.heredocs.is_empty() {
            return Err(Diagnostic::new(
                "RUN requires at least one argument",
                node.locate(source, ""),
            ));
        }
        Ok(RunCmd {
            origin: Origin::of(node, source),
            command: CommandLine::of(node),
            heredocs: node.heredocs.clone(),
            mount_specs,
            mounts,
            network,
            security,
        })
    }

    /// Expands the `--mount` values and (re)builds [`RunCmd::mounts`]. The
    /// command itself is never expanded here.
    pub fn expand(&mut self, e: &dyn Expander) -> Result<(), Diagnostic> {
        let mut mounts = Vec::with_capacity(self.mount_specs.len());
        for spec in &self.mount_specs {
            let m = parse_mount_expanding(spec, &|v| e.word(v))
                .map_err(|msg| self.origin.error(spec, format!("RUN --mount: {msg}")))?;
            mounts.push(m);
        }
        self.mounts = mounts;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::Instruction;
    use crate::instructions::mount::{CacheSharing, MountType};
    use crate::instructions::testutil::{TestExpander, json_node, node, parse, with_heredoc};

    fn run(n: Node) -> Result<RunCmd, Diagnostic> {
        match parse(&n)? {
            Instruction::Run(r) => Ok(r),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn run_shell_form_keeps_the_command_text() {
        let r = run(node("run", &[], &["make  all && echo $HOME"])).unwrap();
        assert_eq!(r.command.args, vec!["make  all && echo $HOME"]);
        assert!(r.command.shell_form);
        assert_eq!(
            (r.network, r.security),
            (NetworkMode::Default, SecurityMode::Sandbox)
        );
    }

    #[test]
    fn run_exec_form_keeps_the_elements() {
        let r = run(json_node("run", &[], &["echo", "$HOME"])).unwrap();
        assert_eq!(r.command.args, vec!["echo", "$HOME"]);
        assert!(!r.command.shell_form);
    }

    #[test]
    fn run_requires_a_command() {
        let err = run(node("run", &[], &[])).unwrap_err();
        assert_eq!(err.message, "RUN requires at least one argument");
    }

    #[test]
    fn run_keeps_heredocs() {
        let n = with_heredoc(node("run", &[], &["<<EOF"]), "EOF", "echo hi\n", true);
        let r = run(n).unwrap();
        assert_eq!(r.heredocs.len(), 1);
        assert_eq!(r.heredocs[0].content, "echo hi\n");
        assert_eq!(r.command.args, vec!["<<EOF"]);
    }

    #[test]
    fn run_network_accepts_none_and_host() {
        assert_eq!(
            run(node("run", &["--network=none"], &["x"]))
                .unwrap()
                .network,
            NetworkMode::None
        );
        assert_eq!(
            run(node("run", &["--network=host"], &["x"]))
                .unwrap()
                .network,
            NetworkMode::Host
        );
        assert_eq!(
            run(node("run", &["--network=default"], &["x"]))
                .unwrap()
                .network,
            NetworkMode::Default
        );
    }

    #[test]
    fn run_network_rejects_other_modes_pointing_at_flag() {
        let n = node("run", &["--network=bridge"], &["x"]);
        let err = run(n.clone()).unwrap_err();
        assert!(err.message.contains("invalid network mode \"bridge\""));
        assert_eq!(err.span.offset, n.original.find("--network").unwrap());
    }

    #[test]
    fn run_security_accepts_insecure_and_rejects_others() {
        let r = run(node("run", &["--security=insecure"], &["x"])).unwrap();
        assert_eq!(r.security, SecurityMode::Insecure);
        assert!(run(node("run", &["--security=privileged"], &["x"])).is_err());
    }

    #[test]
    fn run_rejects_unknown_flag() {
        let err = run(node("run", &["--mnt=type=cache"], &["x"])).unwrap_err();
        assert!(err.message.contains("unknown flag for RUN: --mnt"));
    }

    #[test]
    fn run_mounts_are_parsed_at_parse_time_without_variables() {
        let r = run(node(
            "run",
            &[
                "--mount=type=cache,target=/c,sharing=locked",
                "--mount=type=secret,id=t",
            ],
            &["x"],
        ))
        .unwrap();
        assert_eq!(r.mounts.len(), 2);
        assert_eq!(r.mounts[0].sharing, CacheSharing::Locked);
        assert_eq!(r.mounts[1].kind, MountType::Secret);
    }

    #[test]
    fn run_mount_error_points_at_the_flag() {
        let n = node("run", &["--mount=type=cache,target=/c,sharing=bad"], &["x"]);
        let err = run(n.clone()).unwrap_err();
        assert!(err.message.starts_with("RUN --mount: unsupported sharing"));
        assert_eq!(err.span.offset, n.original.find("type=cache").unwrap());
    }

    #[test]
    fn run_mount_with_variables_is_validated_by_expand() {
        let mut r = run(node(
            "run",
            &["--mount=type=cache,target=$DIR,id=${ID}"],
            &["x"],
        ))
        .unwrap();
        assert!(r.mounts.is_empty());
        r.expand(&TestExpander::new(&[("DIR", "/go/pkg"), ("ID", "gomod")]))
            .unwrap();
        assert_eq!(r.mounts[0].target.as_deref(), Some("/go/pkg"));
        assert_eq!(r.mounts[0].id.as_deref(), Some("gomod"));
    }

    #[test]
    fn run_mount_bad_value_after_expansion_is_an_error() {
        let mut r = run(node(
            "run",
            &["--mount=type=cache,target=/c,mode=$M"],
            &["x"],
        ))
        .unwrap();
        let err = r.expand(&TestExpander::new(&[("M", "rwx")])).unwrap_err();
        assert!(
            err.message.contains("invalid value rwx for mode"),
            "{}",
            err.message
        );
    }

    #[test]
    fn run_mount_from_rejects_variables() {
        let err = run(node(
            "run",
            &["--mount=type=bind,from=$STAGE,target=/a"],
            &["x"],
        ))
        .unwrap_err();
        assert!(
            err.message
                .contains("'from' doesn't support variable expansion")
        );
    }

    #[test]
    fn run_expand_leaves_the_command_alone() {
        let mut r = run(node("run", &[], &["echo $HOME"])).unwrap();
        r.expand(&TestExpander::new(&[("HOME", "/root")])).unwrap();
        assert_eq!(r.command.args, vec!["echo $HOME"]);
    }
}
