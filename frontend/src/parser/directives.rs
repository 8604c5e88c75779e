//! Parser directives: `# syntax=…`, `# escape=…`, `# check=…` at the top of
//! a Dockerfile.
//!
//! Rules (BuildKit's): every physical line is offered to the directive
//! parser until the first line that is not a directive; that line (a blank
//! line, an ordinary comment, an unknown name, an instruction) ends the
//! directive section for good. A directive line is `#`, optional
//! whitespace, a name (`[a-zA-Z][a-zA-Z0-9]*`, case-insensitive), optional
//! whitespace, `=`, optional whitespace, and a non-empty value whose
//! trailing whitespace is dropped. A repeated directive is an error, and so
//! is an `escape` value other than `\` or `` ` ``.

/// A directive found on a line: its name (lower-cased) and value, with byte
/// offsets within the line text given to [`DirectiveParser::parse_line`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Directive {
    pub name: String,
    pub value: String,
    pub name_at: usize,
    pub value_at: usize,
}

/// Why a directive line is rejected, with the offset in the line text of
/// the offending part and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DirectiveError {
    pub message: String,
    pub at: usize,
    pub len: usize,
}

/// The state of the directive section: done once a non-directive line was
/// seen, and the names seen so far.
#[derive(Debug, Default)]
pub(crate) struct DirectiveParser {
    done: bool,
    seen: Vec<String>,
}

const KNOWN: [&str; 3] = ["syntax", "escape", "check"];

/// Go regexp's `\s`: `[\t\n\f\r ]`.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{0c}' | '\r' | ' ')
}

impl DirectiveParser {
    /// Offers one physical line (leading whitespace already removed, no line
    /// terminator). Returns the directive it holds, if it is one.
    pub fn parse_line(&mut self, line: &str) -> Result<Option<Directive>, DirectiveError> {
        if self.done {
            return Ok(None);
        }
        let Some(m) = match_directive(line) else {
            self.done = true;
            return Ok(None);
        };
        let name = line[m.name.0..m.name.1].to_ascii_lowercase();
        if !KNOWN.contains(&name.as_str()) {
            self.done = true;
            return Ok(None);
        }
        if self.seen.contains(&name) {
            return Err(DirectiveError {
                message: format!("only one {name} parser directive can be used"),
                at: m.name.0,
                len: m.name.1 - m.name.0,
            });
        }
        self.seen.push(name.clone());
        let value = line[m.value.0..m.value.1].to_string();
        if name == "escape" && value != "\\" && value != "`" {
            return Err(DirectiveError {
                message: format!("invalid escape token '{value}' does not match ` or \\"),
                at: m.value.0,
                len: m.value.1 - m.value.0,
            });
        }
        Ok(Some(Directive {
            name,
            value,
            name_at: m.name.0,
            value_at: m.value.0,
        }))
    }
}

/// Byte ranges of the name and the value of a directive line.
struct DirectiveMatch {
    name: (usize, usize),
    value: (usize, usize),
}

/// Matches `#`, whitespace, then `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`
/// with Go's regexp semantics.
fn match_directive(line: &str) -> Option<DirectiveMatch> {
    let after_hash = line.strip_prefix('#')?;
    let body = after_hash.trim_start_matches(char::is_whitespace);
    let base = line.len() - body.len();
    let bytes = body.as_bytes();
    if !bytes.first()?.is_ascii_alphabetic() {
        return None;
    }
    let name_end = bytes
        .iter()
        .position(|b| !b.is_ascii_alphanumeric())
        .unwrap_or(bytes.len());
    let after_name = &body[name_end..];
    let eq = after_name.trim_start_matches(is_re_space);
    let after_eq = eq.strip_prefix('=')?;
    // `\s*(.+?)\s*$`: leading `\s` are skipped greedily; when only `\s`
    // remain, the lazy group still takes the last character.
    let value = after_eq.trim_start_matches(is_re_space);
    let value = if value.is_empty() {
        let last = after_eq.chars().next_back()?;
        &after_eq[after_eq.len() - last.len_utf8()..]
    } else {
        value.trim_end_matches(is_re_space)
    };
    let value_start = (line.len() - after_eq.len()) + offset_of_value(after_eq, value);
    Some(DirectiveMatch {
        name: (base, base + name_end),
        value: (value_start, value_start + value.len()),
    })
}

/// Offset of `value` (a sub-slice) inside `outer`.
fn offset_of_value(outer: &str, value: &str) -> usize {
    value.as_ptr() as usize - outer.as_ptr() as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(line: &str) -> Result<Option<Directive>, DirectiveError> {
        DirectiveParser::default().parse_line(line)
    }

    #[test]
    fn directive_name_is_case_insensitive_and_value_trimmed() {
        let d = one("# ESCAPE = `  ").unwrap().unwrap();
        assert_eq!((d.name.as_str(), d.value.as_str()), ("escape", "`"));
        assert_eq!(d.name_at, 2);
        assert_eq!(d.value_at, 11);
        let d = one("#syntax=docker/dockerfile:1").unwrap().unwrap();
        assert_eq!(d.value, "docker/dockerfile:1");
        assert_eq!(d.value_at, 8);
    }

    #[test]
    fn value_may_hold_inner_spaces() {
        let d = one("# check = skip=all; error=true ").unwrap().unwrap();
        assert_eq!(d.value, "skip=all; error=true");
    }

    #[test]
    fn unknown_name_or_plain_comment_ends_the_section() {
        let mut p = DirectiveParser::default();
        assert_eq!(p.parse_line("# foo=bar").unwrap(), None);
        assert_eq!(p.parse_line("# escape=`").unwrap(), None);
        let mut p = DirectiveParser::default();
        assert_eq!(p.parse_line("# just a comment").unwrap(), None);
        assert_eq!(p.parse_line("# escape=`").unwrap(), None);
        let mut p = DirectiveParser::default();
        assert_eq!(p.parse_line("").unwrap(), None);
        assert_eq!(p.parse_line("# escape=`").unwrap(), None);
    }

    #[test]
    fn repeated_directive_is_an_error() {
        let mut p = DirectiveParser::default();
        assert!(p.parse_line("# syntax=a").unwrap().is_some());
        let err = p.parse_line("# Syntax=b").unwrap_err();
        assert_eq!(err.message, "only one syntax parser directive can be used");
        assert_eq!((err.at, err.len), (2, 6));
    }

    #[test]
    fn invalid_escape_value_is_an_error() {
        let err = one("# escape=x").unwrap_err();
        assert!(err.message.contains("invalid escape token 'x'"));
        assert_eq!((err.at, err.len), (9, 1));
    }

    #[test]
    fn empty_value_is_not_a_directive_but_blank_value_is() {
        assert_eq!(one("# escape=").unwrap(), None);
        // Go's lazy `(.+?)` takes the last blank when only blanks follow.
        assert!(one("# escape=  ").is_err());
    }
}
