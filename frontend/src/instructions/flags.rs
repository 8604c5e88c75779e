//! The `--name[=value]` flags of an instruction, checked against the flags
//! that instruction accepts, with BuildKit's rules (its `BFlags`):
//!
//! - a boolean flag is `--link`, `--link=true` or `--link=false` (case-insensitive);
//!   `--link=` is an error;
//! - a string flag needs `=` (`--from=` gives the empty value);
//! - a list flag (`--mount`, `--exclude`) may repeat; any other flag may not;
//! - an unknown flag is an error naming the instruction, with a suggestion
//!   when a known flag is spelled almost the same.

use std::collections::BTreeMap;

use crate::diagnostic::Diagnostic;
use crate::parser::Node;

/// What kind of value a flag takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagKind {
    Bool,
    String,
    List,
}

/// The flags found on one instruction, by name (without `--`).
#[derive(Debug, Default)]
pub(crate) struct Flags {
    bools: BTreeMap<&'static str, bool>,
    strings: BTreeMap<&'static str, String>,
    lists: BTreeMap<&'static str, Vec<String>>,
}

impl Flags {
    /// The value of a boolean flag: `None` when it was not given.
    pub(crate) fn bool(&self, name: &str) -> Option<bool> {
        self.bools.get(name).copied()
    }

    /// The value of a string flag: `None` when it was not given.
    pub(crate) fn string(&self, name: &str) -> Option<String> {
        self.strings.get(name).cloned()
    }

    /// The values of a list flag, in order (empty when not given).
    pub(crate) fn list(&self, name: &str) -> Vec<String> {
        self.lists.get(name).cloned().unwrap_or_default()
    }
}

/// Checks `node.flags` against `allowed` (name and kind of each accepted
/// flag) and collects their values. `instruction` is the upper-case keyword
/// used in messages.
pub(crate) fn parse_flags(
    node: &Node,
    source: &str,
    instruction: &str,
    allowed: &[(&'static str, FlagKind)],
) -> Result<Flags, Diagnostic> {
    let mut flags = Flags::default();
    for word in &node.flags {
        let at = || node.locate(source, word);
        let Some(body) = word.strip_prefix("--") else {
            return Err(Diagnostic::new(
                format!("{instruction}: a flag must start with --: {word}"),
                at(),
            ));
        };
        if body.is_empty() {
            // A bare `--` ends the flags (the parser normally drops it).
            break;
        }
        let (name, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let Some(&(known, kind)) = allowed.iter().find(|(n, _)| *n == name) else {
            return Err(Diagnostic::new(
                unknown_flag_message(instruction, name, allowed),
                at(),
            ));
        };
        let repeated = flags.bools.contains_key(known) || flags.strings.contains_key(known);
        if repeated {
            return Err(Diagnostic::new(
                format!("{instruction}: flag --{name} is given more than once"),
                at(),
            ));
        }
        match kind {
            FlagKind::Bool => {
                let v = match value {
                    None => true,
                    Some("") => {
                        return Err(Diagnostic::new(
                            format!("{instruction}: flag --{name} is missing a value"),
                            at(),
                        ));
                    }
                    Some(v) if v.eq_ignore_ascii_case("true") => true,
                    Some(v) if v.eq_ignore_ascii_case("false") => false,
                    Some(v) => {
                        return Err(Diagnostic::new(
                            format!(
                                "{instruction}: flag --{name} expects true or false, not {v:?}"
                            ),
                            at(),
                        ));
                    }
                };
                flags.bools.insert(known, v);
            }
            FlagKind::String | FlagKind::List => {
                let Some(v) = value else {
                    return Err(Diagnostic::new(
                        format!("{instruction}: flag --{name} needs a value (--{name}=...)"),
                        at(),
                    ));
                };
                if kind == FlagKind::String {
                    flags.strings.insert(known, v.to_string());
                } else {
                    flags.lists.entry(known).or_default().push(v.to_string());
                }
            }
        }
    }
    Ok(flags)
}

fn unknown_flag_message(instruction: &str, name: &str, allowed: &[(&str, FlagKind)]) -> String {
    let mut msg = format!("unknown flag for {instruction}: --{name}");
    let close = allowed
        .iter()
        .map(|(n, _)| (edit_distance(n, name), *n))
        .filter(|(d, n)| *d <= 2 && *d < n.len())
        .min();
    if let Some((_, suggestion)) = close {
        msg.push_str(&format!(" (did you mean --{suggestion}?)"));
    } else if allowed.is_empty() {
        msg.push_str(&format!(" ({instruction} takes no flags)"));
    }
    msg
}

/// Levenshtein distance over characters, for "did you mean" suggestions.
pub(crate) fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::testutil::node;

    const ALLOWED: &[(&str, FlagKind)] = &[
        ("link", FlagKind::Bool),
        ("from", FlagKind::String),
        ("exclude", FlagKind::List),
    ];

    fn parse(flags: &[&str]) -> Result<Flags, Diagnostic> {
        let n = node("copy", flags, &["a", "b"]);
        parse_flags(&n, &n.original, "COPY", ALLOWED)
    }

    #[test]
    fn bool_flag_without_value_is_true() {
        assert_eq!(parse(&["--link"]).unwrap().bool("link"), Some(true));
    }

    #[test]
    fn bool_flag_accepts_false_in_any_case() {
        assert_eq!(parse(&["--link=FALSE"]).unwrap().bool("link"), Some(false));
    }

    #[test]
    fn bool_flag_rejects_empty_and_other_values() {
        assert!(
            parse(&["--link="])
                .unwrap_err()
                .message
                .contains("missing a value")
        );
        assert!(
            parse(&["--link=yes"])
                .unwrap_err()
                .message
                .contains("true or false")
        );
    }

    #[test]
    fn string_flag_requires_equals_sign() {
        let err = parse(&["--from"]).unwrap_err();
        assert!(err.message.contains("needs a value"), "{}", err.message);
        assert_eq!(
            parse(&["--from="]).unwrap().string("from"),
            Some(String::new())
        );
    }

    #[test]
    fn string_flag_rejects_repetition() {
        let err = parse(&["--from=a", "--from=b"]).unwrap_err();
        assert!(err.message.contains("more than once"));
    }

    #[test]
    fn list_flag_collects_repetitions_in_order() {
        let f = parse(&["--exclude=a", "--exclude=b"]).unwrap();
        assert_eq!(f.list("exclude"), vec!["a", "b"]);
    }

    #[test]
    fn unknown_flag_names_instruction_and_points_at_word() {
        let n = node("copy", &["--frm=x"], &["a", "b"]);
        let err = parse_flags(&n, &n.original, "COPY", ALLOWED).unwrap_err();
        assert_eq!(
            err.message,
            "unknown flag for COPY: --frm (did you mean --from?)"
        );
        assert_eq!(err.span.offset, n.original.find("--frm").unwrap());
        assert_eq!(err.span.len, "--frm=x".len());
    }

    #[test]
    fn any_flag_is_rejected_when_none_are_allowed() {
        let n = node("cmd", &["--doit"], &["a"]);
        let err = parse_flags(&n, &n.original, "CMD", &[]).unwrap_err();
        assert_eq!(
            err.message,
            "unknown flag for CMD: --doit (CMD takes no flags)"
        );
    }
}
