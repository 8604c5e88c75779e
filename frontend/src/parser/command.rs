//! One logical line → keyword, flags and arguments (BuildKit's
//! `splitCommand`, `extractBuilderFlags` and its per-instruction "line
//! parsers").
//!
//! The keyword is the first word (split on `[\t\v\f\r ]`), lower-cased.
//! Leading `--` words are split off as flags. What is left is handed to the
//! argument rule of the keyword (see the conformance README, section 1).
//! Unknown keywords are not errors here: like BuildKit, their arguments are
//! dropped and the node carries one empty argument.

use super::json::{JsonForm, parse_json_array};
use super::lines::{is_space, is_token_space};
use super::quote::go_quote;
use super::words::parse_words;

/// Nested `ONBUILD ONBUILD …` deeper than this is rejected, so that no input
/// can build a node chain deep enough to exhaust the stack (BuildKit rejects
/// any chaining later, when it types instructions).
pub(crate) const MAX_ONBUILD_DEPTH: usize = 16;

/// An error inside a logical line: message, byte offset and length in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LineError {
    pub message: String,
    pub at: usize,
    pub len: usize,
}

impl LineError {
    fn new(message: impl Into<String>, at: usize, len: usize) -> Self {
        LineError {
            message: message.into(),
            at,
            len,
        }
    }
}

/// One instruction as split from its logical line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Command {
    /// Lower-cased keyword.
    pub keyword: String,
    /// Byte offset of the keyword in the logical line.
    pub keyword_at: usize,
    pub flags: Vec<String>,
    pub args: Vec<String>,
    pub json: bool,
    /// The trigger of `ONBUILD`.
    pub next: Option<Box<Command>>,
    /// The text this command was split from.
    pub original: String,
}

/// Byte offset of `inner` (a sub-slice of `outer`) within `outer`.
pub(crate) fn offset_in(outer: &str, inner: &str) -> usize {
    (inner.as_ptr() as usize).saturating_sub(outer.as_ptr() as usize)
}

/// Splits `text` (a sub-slice of the logical line starting at byte `base`)
/// into a [`Command`]. `depth` counts enclosing `ONBUILD`s.
pub(crate) fn split_command(
    text: &str,
    base: usize,
    escape: char,
    depth: usize,
) -> Result<Command, LineError> {
    let trimmed = text.trim_matches(is_space);
    let keyword_at = base + offset_in(text, trimmed);
    let (cmd, after) = match trimmed.find(is_token_space) {
        Some(i) => (
            &trimmed[..i],
            Some(trimmed[i..].trim_start_matches(is_token_space)),
        ),
        None => (trimmed, None),
    };
    let keyword: String = cmd.chars().flat_map(char::to_lowercase).collect();
    let (rest, flags) = match after {
        Some(after) => extract_flags(after),
        None => ("", Vec::new()),
    };
    let rest = rest.trim_matches(is_space);
    let rest_at = base + offset_in(text, rest);
    let mut command = Command {
        keyword,
        keyword_at,
        flags,
        args: Vec::new(),
        json: false,
        next: None,
        original: text.to_string(),
    };
    let ctx = Rest {
        text: rest,
        at: rest_at,
        escape,
    };
    match command.keyword.as_str() {
        "from" | "expose" => command.args = split_on_token_space(rest),
        "add" | "copy" | "volume" => (command.args, command.json) = ctx.maybe_json_to_list()?,
        "run" | "cmd" | "entrypoint" | "shell" => {
            (command.args, command.json) = ctx.maybe_json()?
        }
        "user" | "workdir" | "maintainer" | "stopsignal" => command.args = single(rest),
        "arg" => command.args = parse_words(rest, escape).into_iter().map(|w| w.1).collect(),
        "env" => command.args = ctx.name_values("ENV")?,
        "label" => command.args = ctx.name_values("LABEL")?,
        "healthcheck" => (command.args, command.json) = ctx.health()?,
        "onbuild" => {
            if !rest.is_empty() {
                if depth >= MAX_ONBUILD_DEPTH {
                    return Err(LineError::new(
                        "ONBUILD nested too deeply",
                        command.keyword_at,
                        cmd.len(),
                    ));
                }
                let trigger = split_command(rest, rest_at, escape, depth + 1)?;
                command.next = Some(Box::new(trigger));
            }
        }
        _ => command.args = vec![String::new()],
    }
    Ok(command)
}

/// BuildKit's `extractBuilderFlags`: leading words starting with `--` are
/// flags (quotes removed, `\x` → `x`); a bare `--` ends the flags and is
/// dropped. Returns the text after the flags and the flags.
pub(crate) fn extract_flags(line: &str) -> (&str, Vec<String>) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let mut flags = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut blank_ok = false;
    let mut chars = line.char_indices().peekable();
    loop {
        let Some((pos, ch)) = chars.next() else {
            if phase != Phase::Spaces && word != "--" && (blank_ok || !word.is_empty()) {
                flags.push(word);
            }
            return ("", flags);
        };
        match phase {
            Phase::Spaces => {
                if is_space(ch) {
                    continue;
                }
                if ch != '-' || !matches!(chars.peek(), Some((_, '-'))) {
                    return (&line[pos..], flags);
                }
                phase = Phase::Word;
                word.push(ch);
            }
            Phase::Word => {
                if is_space(ch) {
                    phase = Phase::Spaces;
                    if word == "--" {
                        return (&line[pos..], flags);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    word.clear();
                    blank_ok = false;
                    continue;
                }
                if ch == '\'' || ch == '"' {
                    phase = Phase::Quote(ch);
                    blank_ok = true;
                    continue;
                }
                if ch == '\\' {
                    match chars.next() {
                        Some((_, next)) => word.push(next),
                        None => continue,
                    }
                    continue;
                }
                word.push(ch);
            }
            Phase::Quote(quote) => {
                if ch == quote {
                    phase = Phase::Word;
                    continue;
                }
                if ch == '\\' {
                    match chars.next() {
                        Some((_, next)) => word.push(next),
                        None => phase = Phase::Word,
                    }
                    continue;
                }
                word.push(ch);
            }
        }
    }
}

/// `[\t\v\f\r ]+`-separated words (no quote handling), as for `FROM`.
fn split_on_token_space(rest: &str) -> Vec<String> {
    rest.split(is_token_space)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// The whole rest as one argument, or none when it is empty.
fn single(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        Vec::new()
    } else {
        vec![rest.to_string()]
    }
}

/// The arguments text of an instruction, where it is in the logical line,
/// and the escape character.
struct Rest<'a> {
    text: &'a str,
    at: usize,
    escape: char,
}

type Args = (Vec<String>, bool);

impl Rest<'_> {
    fn not_strings_error(&self) -> LineError {
        LineError::new(
            "when using JSON array syntax, arrays must be comprised of strings only",
            self.at,
            self.text.len(),
        )
    }

    /// `RUN`, `CMD`, `ENTRYPOINT`, `SHELL`: a JSON array of strings, or the
    /// whole text as one argument.
    fn maybe_json(&self) -> Result<Args, LineError> {
        if self.text.is_empty() {
            return Ok((Vec::new(), false));
        }
        match parse_json_array(self.text) {
            JsonForm::Strings(v) => Ok((v, true)),
            JsonForm::NonString => Err(self.not_strings_error()),
            JsonForm::NotJson => Ok((vec![self.text.to_string()], false)),
        }
    }

    /// `ADD`, `COPY`, `VOLUME`: a JSON array of strings, or the words.
    fn maybe_json_to_list(&self) -> Result<Args, LineError> {
        match parse_json_array(self.text) {
            JsonForm::Strings(v) => Ok((v, true)),
            JsonForm::NonString => Err(self.not_strings_error()),
            JsonForm::NotJson => Ok((split_on_token_space(self.text), false)),
        }
    }

    /// `HEALTHCHECK`: the first word, then the rest as for `RUN`.
    fn health(&self) -> Result<Args, LineError> {
        let text = self.text;
        let sep = text.find(is_space).unwrap_or(text.len());
        if sep == 0 {
            return Ok((Vec::new(), false));
        }
        let cmd = text[sep..].trim_start_matches(is_space);
        let inner = Rest {
            text: cmd,
            at: self.at + offset_in(text, cmd),
            escape: self.escape,
        };
        let (mut args, json) = inner.maybe_json()?;
        args.insert(0, text[..sep].to_string());
        Ok((args, json))
    }

    /// `ENV` and `LABEL`: `name value` (old form, three arguments `name`,
    /// `value`, `""`) or `name=value …` (three arguments per pair, the last
    /// one `=`), quotes and escapes kept as written.
    fn name_values(&self, key: &str) -> Result<Vec<String>, LineError> {
        let words = parse_words(self.text, self.escape);
        let Some((_, first)) = words.first() else {
            return Ok(Vec::new());
        };
        if !first.contains('=') {
            let Some(i) = self.text.find(is_token_space) else {
                return Err(LineError::new(
                    format!("{key} must have two arguments"),
                    self.at,
                    self.text.len(),
                ));
            };
            let value = self.text[i..].trim_start_matches(is_token_space);
            return Ok(vec![
                self.text[..i].to_string(),
                value.to_string(),
                String::new(),
            ]);
        }
        let mut args = Vec::with_capacity(words.len() * 3);
        for (start, word) in &words {
            let Some((name, value)) = word.split_once('=') else {
                return Err(LineError::new(
                    format!(
                        "Syntax error - can't find = in {}. Must be of the form: name=value",
                        go_quote(word)
                    ),
                    self.at + start,
                    word.len(),
                ));
            };
            args.push(name.to_string());
            args.push(value.to_string());
            args.push("=".to_string());
        }
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(line: &str) -> Command {
        split_command(line, 0, '\\', 0).unwrap()
    }

    #[test]
    fn flags_are_split_off_with_quotes_and_escapes_removed() {
        let (rest, flags) = extract_flags(r#"--a=1 --b="x y" --c='z' --d=\q rest of"#);
        assert_eq!(flags, ["--a=1", "--b=x y", "--c=z", "--d=q"]);
        assert_eq!(rest, "rest of");
    }

    #[test]
    fn double_dash_ends_flags_and_is_dropped() {
        assert_eq!(
            extract_flags("--a -- --b x"),
            (" --b x", vec!["--a".to_string()])
        );
        assert_eq!(extract_flags("-- foo"), (" foo", vec![]));
        assert_eq!(extract_flags("--a --"), ("", vec!["--a".to_string()]));
    }

    #[test]
    fn single_dash_word_is_not_a_flag() {
        assert_eq!(extract_flags("-a x"), ("-a x", vec![]));
        assert_eq!(extract_flags("-"), ("-", vec![]));
    }

    #[test]
    fn keyword_is_lowercased_and_split_on_ascii_blanks() {
        let c = cmd("  FrOm\talpine AS b  ");
        assert_eq!(c.keyword, "from");
        assert_eq!(c.keyword_at, 2);
        assert_eq!(c.args, ["alpine", "AS", "b"]);
    }

    #[test]
    fn unknown_keyword_keeps_one_empty_argument() {
        let c = cmd("FOO bar baz");
        assert_eq!(c.keyword, "foo");
        assert_eq!(c.args, [""]);
    }

    #[test]
    fn env_old_form_takes_rest_as_value() {
        let c = cmd("ENV PATH /a b  c");
        assert_eq!(c.args, ["PATH", "/a b  c", ""]);
    }

    #[test]
    fn env_without_value_is_an_error_at_the_name() {
        let err = split_command("ENV PATH", 0, '\\', 0).unwrap_err();
        assert_eq!(err.message, "ENV must have two arguments");
        assert_eq!((err.at, err.len), (4, 4));
    }

    #[test]
    fn env_pair_without_equals_is_an_error_at_that_word() {
        let err = split_command("LABEL a=1 b c=2", 0, '\\', 0).unwrap_err();
        assert!(
            err.message.contains(r#"can't find = in "b""#),
            "{}",
            err.message
        );
        assert_eq!((err.at, err.len), (10, 1));
    }

    #[test]
    fn healthcheck_type_then_command() {
        assert_eq!(cmd("HEALTHCHECK CMD [\"a\"]").args, ["CMD", "a"]);
        assert!(cmd("HEALTHCHECK CMD [\"a\"]").json);
        assert_eq!(cmd("HEALTHCHECK NONE").args, ["NONE"]);
        assert!(cmd("HEALTHCHECK").args.is_empty());
    }

    #[test]
    fn onbuild_nests_the_trigger() {
        let c = cmd("ONBUILD --x COPY --from=a b c");
        assert_eq!(c.flags, ["--x"]);
        assert!(c.args.is_empty());
        let next = c.next.unwrap();
        assert_eq!(next.keyword, "copy");
        assert_eq!(next.keyword_at, 12);
        assert_eq!(next.flags, ["--from=a"]);
        assert_eq!(next.args, ["b", "c"]);
        assert_eq!(next.original, "COPY --from=a b c");
    }

    #[test]
    fn onbuild_nesting_is_bounded() {
        let line = "ONBUILD ".repeat(100_000) + "RUN x";
        let err = split_command(&line, 0, '\\', 0).unwrap_err();
        assert_eq!(err.message, "ONBUILD nested too deeply");
    }

    #[test]
    fn json_with_non_string_element_is_an_error() {
        let err = split_command("CMD [1]", 0, '\\', 0).unwrap_err();
        assert!(err.message.contains("strings only"));
        assert_eq!(err.at, 4);
    }
}
