//! The value of `COPY/ADD --chmod`: an octal mode (`755`, `0644`, at most
//! `07777`) or a symbolic mode as chmod(1) writes it (`u+x`, `u=rwX,go=rX`,
//! `g=u`, `+x`, `a-w`), and applying it to a copied file's mode. BuildKit
//! accepts both. This is the one parser of the syntax: the frontend
//! validates with it, the builder's copier applies with [`Chmod::apply`].
//!
//! ```text
//! mode   := clause ("," clause)*
//! clause := who* action+
//! who    := "u" | "g" | "o" | "a"          (none = all)
//! action := op (perm* | "u" | "g" | "o")
//! op     := "+" | "-" | "="
//! perm   := "r" | "w" | "x" | "X" | "s" | "t"
//! ```
//!
//! `X` sets execute only for directories and files that already have an
//! execute bit; `g=u` copies the user's `rwx` to the group.

use serde::Serialize;

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Chmod {
    /// An absolute mode, e.g. `0o755`.
    Octal(u32),
    /// A symbolic mode, kept as written (validated by [`Chmod::parse`]).
    Symbolic(String),
}

/// A `--chmod` value that is neither octal nor symbolic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid chmod parameter: {0:?}: it should be an octal number between 0 and 07777 or a symbolic mode like u+x"
)]
pub struct InvalidChmod(pub String);

/// Parses and validates a `--chmod` value; the error is the message a
/// Dockerfile diagnostic shows.
pub fn parse_chmod(value: &str) -> Result<Chmod, String> {
    Chmod::parse(value).map_err(|e| e.to_string())
}

/// One `who action+` part of a symbolic mode.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Clause {
    /// The mode bits `who` covers (`u` = 0o4700: rwx and setuid, ...).
    who: u32,
    actions: Vec<(char, Perm)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Perm {
    Bits { bits: u32, x_if_exec: bool },
    CopyFrom(char),
}

const WHO_U: u32 = 0o4700;
const WHO_G: u32 = 0o2070;
const WHO_O: u32 = 0o1007;

impl Chmod {
    /// Parses an octal or symbolic `--chmod` value.
    pub fn parse(value: &str) -> Result<Chmod, InvalidChmod> {
        let bad = || InvalidChmod(value.to_string());
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            return match u32::from_str_radix(value, 8) {
                Ok(mode) if mode <= 0o7777 => Ok(Chmod::Octal(mode)),
                _ => Err(bad()),
            };
        }
        parse_symbolic(value).ok_or_else(bad)?;
        Ok(Chmod::Symbolic(value.to_string()))
    }

    /// The new permission bits (setuid, setgid and sticky included) of a
    /// file or directory (`is_dir`) whose current mode is `mode`, as
    /// chmod(1) would set them. A `Symbolic` value that does not parse (one
    /// built by hand, never one from [`Chmod::parse`]) changes nothing.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let mut m = mode & 0o7777;
        let clauses = match self {
            Chmod::Octal(v) => return *v,
            Chmod::Symbolic(text) => match parse_symbolic(text) {
                Some(clauses) => clauses,
                None => return m,
            },
        };
        for c in &clauses {
            for (op, perm) in &c.actions {
                let bits = match perm {
                    Perm::Bits { bits, x_if_exec } => {
                        let mut b = *bits;
                        if *x_if_exec && (is_dir || m & 0o111 != 0) {
                            b |= 0o111;
                        }
                        b
                    }
                    Perm::CopyFrom(src) => {
                        let rwx = match src {
                            'u' => (m >> 6) & 7,
                            'g' => (m >> 3) & 7,
                            _ => m & 7,
                        };
                        rwx * 0o111
                    }
                };
                let bits = bits & c.who;
                m = match op {
                    '+' => m | bits,
                    '-' => m & !bits,
                    _ => (m & !c.who) | bits,
                };
            }
        }
        m
    }
}

/// The clauses of a symbolic mode, or `None` when it is not one.
fn parse_symbolic(value: &str) -> Option<Vec<Clause>> {
    let mut clauses = Vec::new();
    for part in value.split(',') {
        let mut chars = part.chars().peekable();
        let mut who = 0;
        while let Some(&c) = chars.peek() {
            who |= match c {
                'u' => WHO_U,
                'g' => WHO_G,
                'o' => WHO_O,
                'a' => WHO_U | WHO_G | WHO_O,
                _ => break,
            };
            chars.next();
        }
        if who == 0 {
            who = WHO_U | WHO_G | WHO_O;
        }
        let mut actions = Vec::new();
        while let Some(op) = chars.next() {
            if !matches!(op, '+' | '-' | '=') {
                return None;
            }
            let mut bits = 0;
            let mut x_if_exec = false;
            let mut copy = None;
            while let Some(&c) = chars.peek() {
                match c {
                    'r' => bits |= 0o444,
                    'w' => bits |= 0o222,
                    'x' => bits |= 0o111,
                    'X' => x_if_exec = true,
                    's' => bits |= 0o6000,
                    't' => bits |= 0o1000,
                    'u' | 'g' | 'o' if bits == 0 && !x_if_exec && copy.is_none() => copy = Some(c),
                    '+' | '-' | '=' => break,
                    _ => return None,
                }
                chars.next();
            }
            let perm = match copy {
                Some(c) => Perm::CopyFrom(c),
                None => Perm::Bits { bits, x_if_exec },
            };
            actions.push((op, perm));
        }
        if actions.is_empty() {
            return None;
        }
        clauses.push(Clause { who, actions });
    }
    Some(clauses)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str, mode: u32, dir: bool) -> u32 {
        Chmod::parse(s).unwrap().apply(mode, dir)
    }

    #[test]
    fn chmod_accepts_octal_up_to_07777() {
        assert_eq!(parse_chmod("755"), Ok(Chmod::Octal(0o755)));
        assert_eq!(parse_chmod("0644"), Ok(Chmod::Octal(0o644)));
        assert_eq!(parse_chmod("7777"), Ok(Chmod::Octal(0o7777)));
        assert_eq!(parse_chmod("0"), Ok(Chmod::Octal(0)));
    }

    #[test]
    fn chmod_rejects_octal_out_of_range_or_with_8_or_9() {
        assert!(parse_chmod("17777").is_err());
        assert!(parse_chmod("789").is_err());
    }

    #[test]
    fn chmod_accepts_symbolic_modes() {
        for ok in [
            "u+x",
            "+x",
            "a-w",
            "u=rwX,go=rX",
            "g=u",
            "u+r-w",
            "o=",
            "ugo+rwxst",
            "u+x,g=r",
        ] {
            assert_eq!(parse_chmod(ok), Ok(Chmod::Symbolic(ok.to_string())), "{ok}");
        }
    }

    #[test]
    fn chmod_rejects_bad_symbolic_modes() {
        for bad in [
            "", "u", "ux", "u+z", "u+x,", ",u+x", "x+u", "0o755", "u+x g=r", "$MODE",
        ] {
            assert!(parse_chmod(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn chmod_error_message_names_the_value_and_both_forms() {
        assert_eq!(
            parse_chmod("u+q").unwrap_err(),
            "invalid chmod parameter: \"u+q\": it should be an octal number between 0 and 07777 or a symbolic mode like u+x"
        );
    }

    #[test]
    fn octal_modes_replace_the_bits_and_are_bounded() {
        assert_eq!(sym("0755", 0o600, false), 0o755);
        assert_eq!(sym("4755", 0o600, false), 0o4755);
        assert!(Chmod::parse("10000").is_err());
        assert!(Chmod::parse("0789").is_err());
    }

    #[test]
    fn symbolic_modes_work_like_chmod() {
        assert_eq!(sym("u+x", 0o644, false), 0o744);
        assert_eq!(sym("go-r", 0o644, false), 0o600);
        assert_eq!(sym("a=r", 0o755, false), 0o444);
        assert_eq!(sym("u=rwx,g=rx,o=", 0o600, false), 0o750);
        assert_eq!(sym("+x", 0o644, false), 0o755);
        assert_eq!(sym("g=u", 0o640, false), 0o660);
        assert_eq!(sym("u+s", 0o755, false), 0o4755);
        assert_eq!(sym("+t", 0o777, true), 0o1777);
    }

    #[test]
    fn capital_x_only_for_dirs_and_executables() {
        assert_eq!(sym("a+X", 0o644, false), 0o644);
        assert_eq!(sym("a+X", 0o744, false), 0o755);
        assert_eq!(sym("a+X", 0o644, true), 0o755);
    }

    #[test]
    fn malformed_symbolic_modes_are_rejected() {
        for bad in ["", "u", "u+q", "z+x", "u+x,", "+x,,g+r", "0o755"] {
            assert!(Chmod::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn symbolic_mode_built_by_hand_that_does_not_parse_changes_nothing() {
        let c = Chmod::Symbolic("u+q".into());
        assert_eq!(c.apply(0o100644, false), 0o644);
    }
}
