//! Instructions that only set image config or stage state: `CMD`,
//! `ENTRYPOINT`, `SHELL`, `USER`, `WORKDIR`, `VOLUME`. (EXPOSE, STOPSIGNAL,
//! HEALTHCHECK and ONBUILD have files of their own.)

use serde::Serialize;

use super::flags::parse_flags;
use super::run::CommandLine;
use super::{Expander, Origin, exactly_one_arg, expand_word};
use crate::diagnostic::Diagnostic;
use crate::parser::Node;

/// A CMD instruction (`CMD []` gives an empty exec-form command).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CmdCmd {
    pub origin: Origin,
    pub command: CommandLine,
}

/// An ENTRYPOINT instruction (`ENTRYPOINT []` clears it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EntrypointCmd {
    pub origin: Origin,
    pub command: CommandLine,
}

/// A SHELL instruction: the shell for later shell-form commands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShellCmd {
    pub origin: Origin,
    pub shell: Vec<String>,
}

/// A USER instruction: `user[:group]`, names or ids.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserCmd {
    pub origin: Origin,
    pub user: String,
}

/// A WORKDIR instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkdirCmd {
    pub origin: Origin,
    pub path: String,
}

/// A VOLUME instruction (JSON array or words).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeCmd {
    pub origin: Origin,
    pub volumes: Vec<String>,
}

impl CmdCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<CmdCmd, Diagnostic> {
        parse_flags(node, source, "CMD", &[])?;
        Ok(CmdCmd {
            origin: Origin::of(node, source),
            command: CommandLine::of(node),
        })
    }
}

impl EntrypointCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<EntrypointCmd, Diagnostic> {
        parse_flags(node, source, "ENTRYPOINT", &[])?;
        Ok(EntrypointCmd {
            origin: Origin::of(node, source),
            command: CommandLine::of(node),
        })
    }
}

impl ShellCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<ShellCmd, Diagnostic> {
        parse_flags(node, source, "SHELL", &[])?;
        if node.args.is_empty() {
            return Err(Diagnostic::new(
                "SHELL requires at least one argument",
                node.locate(source, ""),
            ));
        }
        if !node.json {
            return Err(Diagnostic::new(
                format!(
                    "SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"] (got {:?})",
                    node.args[0]
                ),
                node.locate(source, &node.args[0]),
            ));
        }
        Ok(ShellCmd {
            origin: Origin::of(node, source),
            shell: node.args.clone(),
        })
    }
}

impl UserCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<UserCmd, Diagnostic> {
        parse_flags(node, source, "USER", &[])?;
        let user = exactly_one_arg(node, source, "USER")?.to_string();
        Ok(UserCmd {
            origin: Origin::of(node, source),
            user,
        })
    }

    /// Expands the user text. (An empty result is allowed, as in Docker:
    /// the image then runs as the default user.)
    pub fn expand(&mut self, e: &dyn Expander) -> Result<(), Diagnostic> {
        expand_word(e, &self.origin, "USER", &mut self.user)
    }

    /// The user and the optional group of `user[:group]`.
    pub fn user_and_group(&self) -> (&str, Option<&str>) {
        match self.user.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (&self.user, None),
        }
    }
}

impl WorkdirCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<WorkdirCmd, Diagnostic> {
        parse_flags(node, source, "WORKDIR", &[])?;
        let path = exactly_one_arg(node, source, "WORKDIR")?.to_string();
        Ok(WorkdirCmd {
            origin: Origin::of(node, source),
            path,
        })
    }

    /// Expands the path (relative paths are resolved by the caller against
    /// the previous WORKDIR).
    pub fn expand(&mut self, e: &dyn Expander) -> Result<(), Diagnostic> {
        expand_word(e, &self.origin, "WORKDIR", &mut self.path)
    }
}

impl VolumeCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<VolumeCmd, Diagnostic> {
        parse_flags(node, source, "VOLUME", &[])?;
        if node.args.is_empty() {
            return Err(Diagnostic::new(
                "VOLUME requires at least one argument",
                node.locate(source, ""),
            ));
        }
        let mut volumes = Vec::with_capacity(node.args.len());
        for v in &node.args {
            let v = v.trim();
            if v.is_empty() {
                return Err(Diagnostic::new(
                    "VOLUME specified can not be an empty string",
                    node.locate(source, ""),
                ));
            }
            volumes.push(v.to_string());
        }
        Ok(VolumeCmd {
            origin: Origin::of(node, source),
            volumes,
        })
    }

    /// Expands every path; a path that expands to nothing is an error.
    pub fn expand(&mut self, e: &dyn Expander) -> Result<(), Diagnostic> {
        for v in &mut self.volumes {
            let raw = v.clone();
            expand_word(e, &self.origin, "VOLUME", v)?;
            if v.trim().is_empty() {
                return Err(self.origin.error(
                    &raw,
                    format!(
                        "VOLUME specified can not be an empty string ({raw:?} expands to nothing)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::Instruction;
    use crate::instructions::testutil::{TestExpander, json_node, node, parse};

    #[test]
    fn cmd_keeps_shell_and_exec_forms() {
        let Instruction::Cmd(c) = parse(&node("cmd", &[], &["echo hi"])).unwrap() else {
            panic!()
        };
        assert_eq!(
            c.command,
            CommandLine {
                args: vec!["echo hi".into()],
                shell_form: true
            }
        );
        let Instruction::Cmd(c) = parse(&json_node("cmd", &[], &["a", "b"])).unwrap() else {
            panic!()
        };
        assert_eq!(
            c.command,
            CommandLine {
                args: vec!["a".into(), "b".into()],
                shell_form: false
            }
        );
    }

    #[test]
    fn cmd_accepts_empty_json_array() {
        let Instruction::Cmd(c) = parse(&json_node("cmd", &[], &[])).unwrap() else {
            panic!()
        };
        assert!(c.command.args.is_empty() && !c.command.shell_form);
    }

    #[test]
    fn cmd_rejects_flags() {
        let err = parse(&json_node("cmd", &["--doit"], &["a"])).unwrap_err();
        assert!(err.message.contains("unknown flag for CMD: --doit"));
    }

    #[test]
    fn entrypoint_keeps_shell_and_exec_forms() {
        let Instruction::Entrypoint(c) = parse(&json_node("entrypoint", &[], &["/init"])).unwrap()
        else {
            panic!()
        };
        assert_eq!(c.command.args, vec!["/init"]);
        assert!(!c.command.shell_form);
        let Instruction::Entrypoint(c) = parse(&node("entrypoint", &[], &["exec app"])).unwrap()
        else {
            panic!()
        };
        assert!(c.command.shell_form);
    }

    #[test]
    fn shell_requires_json_form() {
        let err = parse(&node("shell", &[], &["/bin/bash -c"])).unwrap_err();
        assert!(
            err.message
                .starts_with("SHELL requires the arguments to be in JSON form")
        );
        let Instruction::Shell(s) = parse(&json_node("shell", &[], &["/bin/bash", "-c"])).unwrap()
        else {
            panic!()
        };
        assert_eq!(s.shell, vec!["/bin/bash", "-c"]);
    }

    #[test]
    fn shell_rejects_empty_array() {
        let err = parse(&json_node("shell", &[], &[])).unwrap_err();
        assert_eq!(err.message, "SHELL requires at least one argument");
    }

    #[test]
    fn user_accepts_user_and_group_and_expands() {
        let Instruction::User(mut u) = parse(&node("user", &[], &["$U:staff"])).unwrap() else {
            panic!()
        };
        u.expand(&TestExpander::new(&[("U", "1000")])).unwrap();
        assert_eq!(u.user_and_group(), ("1000", Some("staff")));
    }

    #[test]
    fn user_requires_exactly_one_argument() {
        let err = parse(&node("user", &[], &[])).unwrap_err();
        assert_eq!(err.message, "USER requires exactly one argument");
    }

    #[test]
    fn user_expanding_to_nothing_is_allowed_like_docker() {
        let Instruction::User(mut u) = parse(&node("user", &[], &["$NOBODY"])).unwrap() else {
            panic!()
        };
        u.expand(&TestExpander::new(&[])).unwrap();
        assert_eq!(u.user_and_group(), ("", None));
    }

    #[test]
    fn workdir_requires_exactly_one_argument_and_expands() {
        assert!(parse(&node("workdir", &[], &[])).is_err());
        let Instruction::Workdir(mut w) = parse(&node("workdir", &[], &["/app/$D"])).unwrap()
        else {
            panic!()
        };
        w.expand(&TestExpander::new(&[("D", "src")])).unwrap();
        assert_eq!(w.path, "/app/src");
    }

    #[test]
    fn volume_accepts_words_and_json() {
        let Instruction::Volume(v) = parse(&node("volume", &[], &["/a", "/b"])).unwrap() else {
            panic!()
        };
        assert_eq!(v.volumes, vec!["/a", "/b"]);
        let Instruction::Volume(v) = parse(&json_node("volume", &[], &[" /data "])).unwrap() else {
            panic!()
        };
        assert_eq!(v.volumes, vec!["/data"]);
    }

    #[test]
    fn volume_rejects_empty_paths() {
        assert!(parse(&node("volume", &[], &[])).is_err());
        let err = parse(&json_node("volume", &[], &["  "])).unwrap_err();
        assert_eq!(err.message, "VOLUME specified can not be an empty string");
    }

    #[test]
    fn volume_expand_substitutes_and_rejects_empty_results() {
        let Instruction::Volume(mut v) = parse(&node("volume", &[], &["$D"])).unwrap() else {
            panic!()
        };
        v.clone()
            .expand(&TestExpander::new(&[("D", "/x")]))
            .unwrap();
        assert!(v.expand(&TestExpander::new(&[])).is_err());
    }
}
