//! `STOPSIGNAL <signal>`: a signal name (`SIGTERM`, `TERM`, `sigkill`,
//! `SIGRTMIN+3`) or a non-zero number, checked like moby's
//! `signal.ParseSignal` with the Linux signal table.

use serde::Serialize;

use super::flags::parse_flags;
use super::{Expander, Origin, exactly_one_arg, expand_word};
use crate::diagnostic::Diagnostic;
use crate::parser::Node;

/// A STOPSIGNAL instruction; `signal` is kept as written (expanded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StopSignalCmd {
    pub origin: Origin,
    pub signal: String,
}

const NAMES: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// Checks a stop signal: a non-zero integer, or a Linux signal name with or
/// without `SIG`, in any case, including `RTMIN+1`..`RTMIN+15` and
/// `RTMAX-14`..`RTMAX-1`.
pub fn validate_signal(signal: &str) -> Result<(), String> {
    if let Ok(n) = signal.parse::<i64>() {
        return if n == 0 || n.unsigned_abs() > i32::MAX as u64 {
            Err(format!("invalid signal: {signal}"))
        } else {
            Ok(())
        };
    }
    let upper = signal.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    // Exactly the table's spelling: `RTMIN+3`, not `RTMIN+03` or `RTMIN++3`.
    let offset = |prefix: &str, max: u8| {
        name.strip_prefix(prefix).is_some_and(|n| {
            !n.starts_with('0')
                && n.bytes().all(|b| b.is_ascii_digit())
                && n.parse::<u8>().is_ok_and(|v| (1..=max).contains(&v))
        })
    };
    let known = NAMES.contains(&name) || offset("RTMIN+", 15) || offset("RTMAX-", 14);
    if known {
        Ok(())
    } else {
        Err(format!("invalid signal: {signal}"))
    }
}

impl StopSignalCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<StopSignalCmd, Diagnostic> {
        parse_flags(node, source, "STOPSIGNAL", &[])?;
        let signal = exactly_one_arg(node, source, "STOPSIGNAL")?.to_string();
        if !signal.contains('$') {
            validate_signal(&signal).map_err(|msg| {
                Diagnostic::new(format!("STOPSIGNAL: {msg}"), node.locate(source, &signal))
            })?;
        }
        Ok(StopSignalCmd {
            origin: Origin::of(node, source),
            signal,
        })
    }

    /// Expands the signal and validates it.
    pub fn expand(&mut self, e: &dyn Expander) -> Result<(), Diagnostic> {
        let raw = self.signal.clone();
        expand_word(e, &self.origin, "STOPSIGNAL", &mut self.signal)?;
        validate_signal(&self.signal)
            .map_err(|msg| self.origin.error(&raw, format!("STOPSIGNAL: {msg}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::Instruction;
    use crate::instructions::testutil::{TestExpander, node, parse};

    #[test]
    fn stopsignal_accepts_names_with_or_without_sig_in_any_case() {
        for ok in [
            "SIGTERM",
            "TERM",
            "sigkill",
            "Quit",
            "SIGRTMIN+3",
            "RTMAX-1",
            "SIGRTMAX",
            "9",
            "15",
        ] {
            assert!(validate_signal(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn stopsignal_rejects_unknown_names_and_zero() {
        for bad in [
            "0", "SIGFOO", "", "RTMIN+16", "RTMIN+0", "RTMAX-15", "SIG", "TERM ", "RTMIN++3",
            "RTMIN+03",
        ] {
            assert!(validate_signal(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stopsignal_is_validated_at_parse_time() {
        let err = parse(&node("stopsignal", &[], &["SIGNOPE"])).unwrap_err();
        assert_eq!(err.message, "STOPSIGNAL: invalid signal: SIGNOPE");
        assert!(parse(&node("stopsignal", &[], &[])).is_err());
    }

    #[test]
    fn stopsignal_is_validated_after_expansion() {
        let Instruction::StopSignal(mut s) = parse(&node("stopsignal", &[], &["$SIG"])).unwrap()
        else {
            panic!()
        };
        s.clone()
            .expand(&TestExpander::new(&[("SIG", "SIGWHAT")]))
            .unwrap_err();
        s.expand(&TestExpander::new(&[("SIG", "SIGINT")])).unwrap();
        assert_eq!(s.signal, "SIGINT");
    }
}
