//! `--chmod` values: octal (`0755`) or symbolic (`u+x,g=r,o-w`, `a+X`), and
//! applying them to a copied file's mode the way chmod(1) does. `X` sets
//! execute only for directories and files that already have an execute bit.

/// A parsed `--chmod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

/// One `who op perms` part of a symbolic mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    who: u32,
    actions: Vec<(char, Perm)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Perm {
    Bits { bits: u32, x_if_exec: bool },
    CopyFrom(char),
}

/// A `--chmod` value that is neither octal nor symbolic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid chmod parameter {0:?}: expected an octal mode up to 07777 or a symbolic mode like u+x,g=r"
)]
pub struct BadChmod(pub String);

const WHO_U: u32 = 0o4700;
const WHO_G: u32 = 0o2070;
const WHO_O: u32 = 0o1007;

impl Chmod {
    pub fn parse(s: &str) -> Result<Chmod, BadChmod> {
        let bad = || BadChmod(s.to_string());
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
            let v = u32::from_str_radix(s, 8).map_err(|_| bad())?;
            return if v <= 0o7777 {
                Ok(Chmod::Octal(v))
            } else {
                Err(bad())
            };
        }
        let mut clauses = Vec::new();
        for part in s.split(',') {
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
                    return Err(bad());
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
                        'u' | 'g' | 'o' if bits == 0 && !x_if_exec && copy.is_none() => {
                            copy = Some(c)
                        }
                        '+' | '-' | '=' => break,
                        _ => return Err(bad()),
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
                return Err(bad());
            }
            clauses.push(Clause { who, actions });
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// The new permission bits (incl. setuid/setgid/sticky) for a file
    /// whose current bits are `mode`.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let mut m = mode & 0o7777;
        match self {
            Chmod::Octal(v) => *v,
            Chmod::Symbolic(clauses) => {
                for c in clauses {
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str, mode: u32, dir: bool) -> u32 {
        Chmod::parse(s).unwrap().apply(mode, dir)
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
}
