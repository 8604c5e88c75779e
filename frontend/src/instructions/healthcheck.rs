//! `HEALTHCHECK [--interval=d] [--timeout=d] [--start-period=d]
//! [--start-interval=d] [--retries=n] CMD <command>` and `HEALTHCHECK NONE`.
//! Durations use Go's syntax and must be 0 or at least 1ms; retries must not
//! be negative. As in BuildKit, the options are taken as written (no
//! variable expansion).

use std::time::Duration;

use serde::Serialize;

use super::Origin;
use super::duration::parse_go_duration;
use super::flags::{FlagKind, Flags, parse_flags};
use crate::diagnostic::Diagnostic;
use crate::parser::Node;

/// What the health check runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum HealthcheckTest {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    /// `CMD ["a", "b"]`: run directly (config `["CMD", "a", "b"]`).
    Exec(Vec<String>),
    /// `CMD a b`: run with the image's default shell (config `["CMD-SHELL", "a b"]`).
    Shell(String),
}

impl HealthcheckTest {
    /// The image config's `Healthcheck.Test` array.
    pub fn to_config_test(&self) -> Vec<String> {
        match self {
            HealthcheckTest::None => vec!["NONE".to_string()],
            HealthcheckTest::Exec(args) => {
                let mut v = vec!["CMD".to_string()];
                v.extend(args.iter().cloned());
                v
            }
            HealthcheckTest::Shell(cmd) => vec!["CMD-SHELL".to_string(), cmd.clone()],
        }
    }
}

/// A HEALTHCHECK instruction. A zero duration or zero retries means "not
/// set" (inherit Docker's default), as in the image config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthcheckCmd {
    pub origin: Origin,
    pub test: HealthcheckTest,
    pub interval: Duration,
    pub timeout: Duration,
    pub start_period: Duration,
    pub start_interval: Duration,
    pub retries: u32,
}

impl HealthcheckCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<HealthcheckCmd, Diagnostic> {
        let flags = parse_flags(
            node,
            source,
            "HEALTHCHECK",
            &[
                ("interval", FlagKind::String),
                ("timeout", FlagKind::String),
                ("start-period", FlagKind::String),
                ("start-interval", FlagKind::String),
                ("retries", FlagKind::String),
            ],
        )?;
        let Some(kind) = node.args.first() else {
            return Err(Diagnostic::new(
                "HEALTHCHECK requires at least one argument",
                node.locate(source, ""),
            ));
        };
        let rest = &node.args[1..];
        let test = match kind.to_uppercase().as_str() {
            "NONE" => {
                if let Some(extra) = rest.first() {
                    return Err(Diagnostic::new(
                        "HEALTHCHECK NONE takes no arguments",
                        node.locate(source, extra),
                    ));
                }
                HealthcheckTest::None
            }
            "CMD" => {
                if rest.is_empty() || (!node.json && rest.iter().all(|a| a.trim().is_empty())) {
                    return Err(Diagnostic::new(
                        "Missing command after HEALTHCHECK CMD",
                        node.locate(source, kind),
                    ));
                }
                if node.json {
                    HealthcheckTest::Exec(rest.to_vec())
                } else {
                    HealthcheckTest::Shell(rest.join(" "))
                }
            }
            other => {
                return Err(Diagnostic::new(
                    format!("Unknown type {other:?} in HEALTHCHECK (try CMD)"),
                    node.locate(source, kind),
                ));
            }
        };
        let duration = |name: &str| option_duration(node, source, &flags, name);
        let retries = match flags.string("retries").filter(|r| !r.is_empty()) {
            None => 0,
            Some(r) => {
                let at = || node.locate(source, &format!("--retries={r}"));
                let n: i32 = r.parse().map_err(|_| {
                    Diagnostic::new(format!("HEALTHCHECK: invalid --retries value {r:?}"), at())
                })?;
                u32::try_from(n).map_err(|_| {
                    Diagnostic::new(
                        format!("HEALTHCHECK: --retries cannot be negative ({n})"),
                        at(),
                    )
                })?
            }
        };
        Ok(HealthcheckCmd {
            origin: Origin::of(node, source),
            test,
            interval: duration("interval")?,
            timeout: duration("timeout")?,
            start_period: duration("start-period")?,
            start_interval: duration("start-interval")?,
            retries,
        })
    }
}

/// A duration option: unset or empty → zero; otherwise 0 or ≥ 1ms.
fn option_duration(
    node: &Node,
    source: &str,
    flags: &Flags,
    name: &str,
) -> Result<Duration, Diagnostic> {
    let Some(text) = flags.string(name).filter(|t| !t.is_empty()) else {
        return Ok(Duration::ZERO);
    };
    let at = || node.locate(source, &format!("--{name}={text}"));
    let nanos = parse_go_duration(&text)
        .map_err(|msg| Diagnostic::new(format!("HEALTHCHECK --{name}: {msg}"), at()))?;
    if nanos != 0 && nanos < 1_000_000 {
        return Err(Diagnostic::new(
            format!("HEALTHCHECK: --{name} cannot be less than 1ms (got {text:?})"),
            at(),
        ));
    }
    Ok(Duration::from_nanos(nanos.unsigned_abs()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::Instruction;
    use crate::instructions::testutil::{json_node, node, parse};

    fn hc(n: Node) -> Result<HealthcheckCmd, Diagnostic> {
        match parse(&n)? {
            Instruction::Healthcheck(h) => Ok(h),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn healthcheck_cmd_shell_form() {
        let h = hc(node(
            "healthcheck",
            &[],
            &["CMD", "curl -f http://localhost/"],
        ))
        .unwrap();
        assert_eq!(
            h.test,
            HealthcheckTest::Shell("curl -f http://localhost/".into())
        );
        assert_eq!(
            h.test.to_config_test(),
            vec!["CMD-SHELL", "curl -f http://localhost/"]
        );
        assert_eq!((h.interval, h.retries), (Duration::ZERO, 0));
    }

    #[test]
    fn healthcheck_cmd_exec_form() {
        let h = hc(json_node("healthcheck", &[], &["CMD", "/bin/check", "-q"])).unwrap();
        assert_eq!(h.test.to_config_test(), vec!["CMD", "/bin/check", "-q"]);
    }

    #[test]
    fn healthcheck_type_is_case_insensitive() {
        assert!(hc(node("healthcheck", &[], &["cmd", "true"])).is_ok());
        assert_eq!(
            hc(node("healthcheck", &[], &["none"])).unwrap().test,
            HealthcheckTest::None
        );
    }

    #[test]
    fn healthcheck_none_takes_no_arguments() {
        let err = hc(node("healthcheck", &[], &["NONE", "x"])).unwrap_err();
        assert_eq!(err.message, "HEALTHCHECK NONE takes no arguments");
    }

    #[test]
    fn healthcheck_requires_a_type_and_a_command() {
        assert!(hc(node("healthcheck", &[], &[])).is_err());
        let err = hc(node("healthcheck", &[], &["CMD"])).unwrap_err();
        assert_eq!(err.message, "Missing command after HEALTHCHECK CMD");
    }

    #[test]
    fn healthcheck_rejects_unknown_type() {
        let err = hc(node("healthcheck", &[], &["CONNECT", "x"])).unwrap_err();
        assert_eq!(
            err.message,
            "Unknown type \"CONNECT\" in HEALTHCHECK (try CMD)"
        );
    }

    #[test]
    fn healthcheck_parses_all_options() {
        let h = hc(node(
            "healthcheck",
            &[
                "--interval=1m30s",
                "--timeout=500ms",
                "--start-period=0",
                "--start-interval=2s",
                "--retries=3",
            ],
            &["CMD", "true"],
        ))
        .unwrap();
        assert_eq!(h.interval, Duration::from_secs(90));
        assert_eq!(h.timeout, Duration::from_millis(500));
        assert_eq!(h.start_period, Duration::ZERO);
        assert_eq!(h.start_interval, Duration::from_secs(2));
        assert_eq!(h.retries, 3);
    }

    #[test]
    fn healthcheck_rejects_durations_below_one_millisecond() {
        let err = hc(node("healthcheck", &["--interval=500us"], &["CMD", "true"])).unwrap_err();
        assert!(err.message.contains("--interval cannot be less than 1ms"));
        assert!(hc(node("healthcheck", &["--timeout=-1s"], &["CMD", "true"])).is_err());
        assert!(hc(node("healthcheck", &["--timeout=1ms"], &["CMD", "true"])).is_ok());
    }

    #[test]
    fn healthcheck_rejects_bad_duration_syntax_pointing_at_flag() {
        let n = node("healthcheck", &["--timeout=30"], &["CMD", "true"]);
        let err = hc(n.clone()).unwrap_err();
        assert!(err.message.contains("missing unit"), "{}", err.message);
        assert_eq!(err.span.offset, n.original.find("--timeout").unwrap());
    }

    #[test]
    fn healthcheck_rejects_negative_retries() {
        let err = hc(node("healthcheck", &["--retries=-1"], &["CMD", "true"])).unwrap_err();
        assert_eq!(
            err.message,
            "HEALTHCHECK: --retries cannot be negative (-1)"
        );
        assert!(hc(node("healthcheck", &["--retries=0"], &["CMD", "true"])).is_ok());
        assert!(hc(node("healthcheck", &["--retries=three"], &["CMD", "true"])).is_err());
    }

    #[test]
    fn healthcheck_rejects_unknown_flag() {
        assert!(hc(node("healthcheck", &["--intervl=1s"], &["CMD", "true"])).is_err());
    }
}
