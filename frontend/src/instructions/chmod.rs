//! The value of `COPY/ADD --chmod`: an octal mode (`755`, `0644`, at most
//! `07777`) or a symbolic mode as chmod(1) writes it (`u+x`, `u=rwX,go=rX`,
//! `g=u`, `+x`, `a-w`). BuildKit accepts both; a symbolic mode is applied
//! per file by the copier, so here it is only checked for syntax:
//!
//! ```text
//! mode   := clause ("," clause)*
//! clause := who* action+
//! who    := "u" | "g" | "o" | "a"
//! action := op perm*
//! op     := "+" | "-" | "="
//! perm   := "r" | "w" | "x" | "X" | "s" | "t" | "u" | "g" | "o"
//! ```

use serde::Serialize;

/// A parsed `--chmod` value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Chmod {
    /// An absolute mode, e.g. `0o755`.
    Octal(u32),
    /// A symbolic mode, kept as written (validated).
    Symbolic(String),
}

/// Parses and validates a `--chmod` value.
pub fn parse_chmod(value: &str) -> Result<Chmod, String> {
    if value.bytes().all(|b| b.is_ascii_digit()) && !value.is_empty() {
        return match u32::from_str_radix(value, 8) {
            Ok(mode) if mode <= 0o7777 => Ok(Chmod::Octal(mode)),
            _ => Err(format!(
                "invalid chmod parameter: {value:?}: it should be an octal number between 0 and 07777 or a symbolic mode like u+x"
            )),
        };
    }
    if is_symbolic_mode(value) {
        Ok(Chmod::Symbolic(value.to_string()))
    } else {
        Err(format!(
            "invalid chmod parameter: {value:?}: it should be an octal number between 0 and 07777 or a symbolic mode like u+x"
        ))
    }
}

fn is_symbolic_mode(value: &str) -> bool {
    !value.is_empty() && value.split(',').all(is_symbolic_clause)
}

fn is_symbolic_clause(clause: &str) -> bool {
    let rest = clause.trim_start_matches(['u', 'g', 'o', 'a']);
    let mut chars = rest.chars().peekable();
    let mut actions = 0;
    while let Some(op) = chars.next() {
        if !matches!(op, '+' | '-' | '=') {
            return false;
        }
        actions += 1;
        while let Some(&p) = chars.peek() {
            if matches!(p, 'r' | 'w' | 'x' | 'X' | 's' | 't' | 'u' | 'g' | 'o') {
                chars.next();
            } else {
                break;
            }
        }
    }
    actions > 0
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
