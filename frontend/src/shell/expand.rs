//! The scanner behind [`Lexer`](super::Lexer): one left-to-right pass over a
//! word that removes quotes and escapes, expands `$…`, records the names it
//! looks up and, on request, splits the result into words.

use std::borrow::Cow;
use std::collections::BTreeSet;

use super::error::{ShellError, ShellErrorKind};
use super::pattern::Glob;
use super::{Env, Expansion, Mode};

/// Collects the words of `process_words`: unquoted whitespace ends a word,
/// escaped or quoted text never does, and empty words are not kept.
#[derive(Debug, Default)]
pub(super) struct WordSplitter {
    words: Vec<String>,
    current: String,
}

impl WordSplitter {
    /// An unquoted, unescaped character: whitespace ends the current word.
    fn add_splittable(&mut self, ch: char) {
        if !ch.is_whitespace() {
            self.current.push(ch);
        } else if !self.current.is_empty() {
            self.words.push(std::mem::take(&mut self.current));
        }
    }

    /// The value of an unquoted `$` expansion: split like unquoted text.
    fn add_expanded(&mut self, text: &str) {
        for ch in text.chars() {
            self.add_splittable(ch);
        }
    }

    /// Quoted or escaped text: always part of the current word.
    fn add_literal(&mut self, text: &str) {
        self.current.push_str(text);
    }

    fn add_literal_char(&mut self, ch: char) {
        self.current.push(ch);
    }

    pub fn finish(mut self) -> Vec<String> {
        if !self.current.is_empty() {
            self.words.push(self.current);
        }
        self.words
    }
}

/// The state of expanding one word.
pub(super) struct Expander<'w, 'e> {
    word: &'w str,
    /// Byte offset of the next character to read.
    pos: usize,
    escape: char,
    mode: Mode,
    env: &'e dyn Env,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
}

impl<'w, 'e> Expander<'w, 'e> {
    pub fn new(word: &'w str, escape: char, mode: Mode, env: &'e dyn Env) -> Self {
        Expander {
            word,
            pos: 0,
            escape,
            mode,
            env,
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
        }
    }

    /// Expands the whole word; feeds `words` when splitting is wanted.
    pub fn expand_word(&mut self, words: Option<&mut WordSplitter>) -> Result<String, ShellError> {
        self.expand_until(None, self.mode.raw_escapes, words)
    }

    pub fn finish<T>(self, value: T) -> Expansion<T> {
        Expansion {
            value,
            matched: self.matched,
            unmatched: self.unmatched,
        }
    }

    fn peek(&self) -> Option<char> {
        self.word[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let ch = self.peek()?;
        self.pos += ch.len_utf8();
        Some(ch)
    }

    fn at_end(&self) -> bool {
        self.pos >= self.word.len()
    }

    fn error(&self, offset: usize, kind: ShellErrorKind) -> ShellError {
        ShellError {
            word: self.word.to_owned(),
            offset,
            kind,
        }
    }

    /// Reads up to the unquoted, unescaped `stop` (consumed) or to the end
    /// of the word if `stop` is `None`. With `raw_escapes` (patterns and
    /// replacements) escape characters are kept in the result.
    fn expand_until(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
        mut words: Option<&mut WordSplitter>,
    ) -> Result<String, ShellError> {
        let mut out = String::new();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.bump();
                return Ok(out);
            }
            match ch {
                '$' => {
                    let value = self.expand_dollar()?;
                    if let Some(words) = words.as_deref_mut() {
                        words.add_expanded(&value);
                    }
                    out.push_str(&value);
                }
                '\'' | '"' if !self.mode.skip_process_quotes => {
                    let value = if ch == '\'' {
                        self.single_quoted()?
                    } else {
                        self.double_quoted(raw_escapes)?
                    };
                    if let Some(words) = words.as_deref_mut() {
                        words.add_literal(&value);
                    }
                    out.push_str(&value);
                }
                _ => {
                    self.bump();
                    if ch != self.escape {
                        if let Some(words) = words.as_deref_mut() {
                            words.add_splittable(ch);
                        }
                        out.push(ch);
                        continue;
                    }
                    if raw_escapes {
                        if let Some(words) = words.as_deref_mut() {
                            words.add_literal_char(ch);
                        }
                        out.push(ch);
                    }
                    // A lone escape at the end of the word is dropped.
                    let Some(escaped) = self.bump() else { break };
                    if let Some(words) = words.as_deref_mut() {
                        words.add_literal_char(escaped);
                    }
                    out.push(escaped);
                }
            }
        }
        match stop {
            None => Ok(out),
            Some('/') => Err(self.error(self.pos, ShellErrorKind::MissingSlash)),
            Some(_) => Err(self.error(self.pos, ShellErrorKind::MissingCloseBrace)),
        }
    }

    /// `'…'`: everything up to the next `'` is literal.
    fn single_quoted(&mut self) -> Result<String, ShellError> {
        let start = self.pos;
        self.bump();
        let body_start = self.pos;
        match self.word[body_start..].find('\'') {
            Some(len) => {
                self.pos = body_start + len + 1;
                Ok(if self.mode.raw_quotes {
                    self.word[start..self.pos].to_owned()
                } else {
                    self.word[body_start..body_start + len].to_owned()
                })
            }
            None => {
                self.pos = self.word.len();
                Err(self.error(start, ShellErrorKind::UnterminatedSingleQuote))
            }
        }
    }

    /// `"…"`: expands `$`; the escape character escapes only `"`, `$` and
    /// itself, and is kept before anything else.
    fn double_quoted(&mut self, raw_escapes: bool) -> Result<String, ShellError> {
        let start = self.pos;
        self.bump();
        let mut out = String::new();
        if self.mode.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => return Err(self.error(start, ShellErrorKind::UnterminatedDoubleQuote)),
                Some('"') => {
                    self.bump();
                    if self.mode.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.expand_dollar()?),
                Some(ch) => {
                    self.bump();
                    if ch == self.escape {
                        if raw_escapes {
                            out.push(ch);
                        }
                        match self.peek() {
                            Some(next) if next == '"' || next == '$' || next == self.escape => {
                                self.bump();
                                out.push(next);
                                continue;
                            }
                            // Dropped; the loop then reports the missing quote.
                            None => continue,
                            Some(_) => {}
                        }
                    }
                    out.push(ch);
                }
            }
        }
    }

    /// Looks `name` up and records it as matched or unmatched.
    fn lookup(&mut self, name: &str) -> Option<&'e str> {
        let value = self.env.get(name);
        if !name.is_empty() {
            let seen = if value.is_some() {
                &mut self.matched
            } else {
                &mut self.unmatched
            };
            if !seen.contains(name) {
                seen.insert(name.to_owned());
            }
        }
        value
    }

    /// The value of `name`; if it is unset, nothing, or with
    /// `skip_unset_env` the reference as written from `start`.
    fn lookup_or_keep(&mut self, name: &str, start: usize) -> Cow<'e, str> {
        match self.lookup(name) {
            Some(value) => Cow::Borrowed(value),
            None if self.mode.skip_unset_env => Cow::Owned(self.word[start..self.pos].to_owned()),
            None => Cow::Borrowed(""),
        }
    }

    /// A name after `$` or `${`: a run of digits, one special parameter, or
    /// letters, digits and `_`. Empty if none of these follows.
    fn read_name(&mut self) -> &'w str {
        let start = self.pos;
        match self.peek() {
            Some(ch) if is_digit(ch) => {
                while self.peek().is_some_and(is_digit) {
                    self.bump();
                }
            }
            Some(ch) if is_special_parameter(ch) => {
                self.bump();
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|ch| ch.is_alphabetic() || is_digit(ch) || ch == '_')
                {
                    self.bump();
                }
            }
        }
        &self.word[start..self.pos]
    }

    /// `$NAME` or `${…}`, with the scanner on the `$`.
    fn expand_dollar(&mut self) -> Result<Cow<'e, str>, ShellError> {
        let start = self.pos;
        self.bump();
        if self.peek() != Some('{') {
            let name = self.read_name();
            if name.is_empty() {
                return Ok(Cow::Borrowed("$"));
            }
            return Ok(self.lookup_or_keep(name, start));
        }
        self.bump();
        match self.peek() {
            None => return Err(self.error(start, ShellErrorKind::MissingCloseBrace)),
            Some('{' | '}' | ':') => {
                return Err(self.error(start, ShellErrorKind::BadSubstitution));
            }
            Some(_) => {}
        }
        let name = self.read_name();
        match self.bump() {
            Some('}') => Ok(self.lookup_or_keep(name, start)),
            Some(':') => match self.bump() {
                None => Err(self.error(start, ShellErrorKind::MissingCloseBrace)),
                Some(op @ ('#' | '%')) => Err(self.error(
                    start,
                    ShellErrorKind::UnsupportedModifier {
                        modifier: format!(":{op}"),
                    },
                )),
                Some(op) => self.apply_operator(start, name, op, true).map(Cow::Owned),
            },
            Some(op @ ('+' | '-' | '?' | '#' | '%')) => {
                self.apply_operator(start, name, op, false).map(Cow::Owned)
            }
            Some('/') => self.substitute(start, name).map(Cow::Owned),
            None => Err(self.error(start, ShellErrorKind::MissingCloseBrace)),
            Some(other) => Err(self.error(
                start,
                ShellErrorKind::UnsupportedModifier {
                    modifier: other.to_string(),
                },
            )),
        }
    }

    /// A nested read that hit the end of the word is reported as the
    /// missing `}` (or `/`) of the `${` at `start`.
    fn nested(&self, start: usize, missing: ShellErrorKind, err: ShellError) -> ShellError {
        if self.at_end() {
            self.error(start, missing)
        } else {
            err
        }
    }

    /// `${NAME op word}` (with `colon` for `${NAME:op word}`), the scanner
    /// after `op`.
    fn apply_operator(
        &mut self,
        start: usize,
        name: &str,
        op: char,
        colon: bool,
    ) -> Result<String, ShellError> {
        let is_pattern = op == '#' || op == '%';
        let word = self
            .expand_until(Some('}'), is_pattern, None)
            .map_err(|err| self.nested(start, ShellErrorKind::MissingCloseBrace, err))?;
        let value = self.lookup(name);
        if value.is_none() && self.mode.skip_unset_env {
            let colon = if colon { ":" } else { "" };
            return Ok(format!("${{{name}{colon}{op}{word}}}"));
        }
        let is_unset = value.is_none() || (colon && value == Some(""));
        match op {
            '-' => Ok(if is_unset {
                word
            } else {
                value.unwrap_or_default().to_owned()
            }),
            '+' => Ok(if is_unset { String::new() } else { word }),
            '?' => match value {
                None => Err(self.error(
                    start,
                    ShellErrorKind::RequiredVariableUnset {
                        name: name.to_owned(),
                        message: message_or(word, "is not allowed to be unset"),
                    },
                )),
                Some("") if colon => Err(self.error(
                    start,
                    ShellErrorKind::RequiredVariableEmpty {
                        name: name.to_owned(),
                        message: message_or(word, "is not allowed to be empty"),
                    },
                )),
                Some(value) => Ok(value.to_owned()),
            },
            '#' | '%' => {
                let (longest, pattern) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let glob = self.glob(start, pattern)?;
                let value = value.unwrap_or_default();
                let trimmed = if op == '#' {
                    glob.strip_prefix(value, longest)
                } else {
                    glob.strip_suffix(value, longest)
                };
                Ok(trimmed.to_owned())
            }
            _ => Err(self.error(
                start,
                ShellErrorKind::UnsupportedModifier {
                    modifier: if colon {
                        format!(":{op}")
                    } else {
                        op.to_string()
                    },
                },
            )),
        }
    }

    /// `${NAME/pattern/replacement}` or `${NAME//pattern/replacement}`, the
    /// scanner after the first `/`.
    fn substitute(&mut self, start: usize, name: &str) -> Result<String, ShellError> {
        let all = self.peek() == Some('/');
        if all {
            self.bump();
        }
        let pattern = self
            .expand_until(Some('/'), true, None)
            .map_err(|err| self.nested(start, ShellErrorKind::MissingSlash, err))?;
        let replacement = self
            .expand_until(Some('}'), true, None)
            .map_err(|err| self.nested(start, ShellErrorKind::MissingCloseBrace, err))?;
        let value = self.lookup(name);
        if value.is_none() && self.mode.skip_unset_env {
            let slashes = if all { "//" } else { "/" };
            return Ok(format!("${{{name}{slashes}{pattern}/{replacement}}}"));
        }
        // An unset value is matched as empty: `${UNSET/*/x}` gives `x`.
        let value = value.unwrap_or_default();
        let glob = self.glob(start, &pattern)?;
        Ok(if all {
            glob.replace_all(value, &replacement)
        } else {
            glob.replace_first(value, &replacement)
        })
    }

    fn glob(&self, start: usize, pattern: &str) -> Result<Glob, ShellError> {
        Glob::parse(pattern).map_err(|invalid| {
            self.error(
                start,
                ShellErrorKind::InvalidPattern {
                    pattern: pattern.to_owned(),
                    escaped: invalid.escaped,
                },
            )
        })
    }
}

fn message_or(word: String, default: &str) -> String {
    if word.is_empty() {
        default.to_owned()
    } else {
        word
    }
}

/// A decimal digit (ASCII or another script's), as a name character.
fn is_digit(ch: char) -> bool {
    ch.is_ascii_digit() || (!ch.is_ascii() && ch.is_numeric())
}

/// The special parameters of POSIX sh: `$@ $* $# $? $- $$ $! $0`.
fn is_special_parameter(ch: char) -> bool {
    matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}
