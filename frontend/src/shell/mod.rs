//! Dockerfile word expansion: `$VAR`, `${VAR:-word}` and friends, quotes,
//! escapes and word splitting, as BuildKit's shell lexer
//! (`frontend/dockerfile/shell/lex.go`) does them.
//!
//! This module owns only the expansion of one word against an environment.
//! Which variables are in scope (ARG/ENV rules) and which instructions expand
//! their arguments belong to the callers.
//!
//! # What a word means
//!
//! - Outside quotes the escape character (`\`, or `` ` `` under
//!   `# escape=`` ` ``) takes the next character literally; a lone escape at
//!   the end of the word is dropped.
//! - `'…'` is literal. `"…"` expands `$` and treats the escape character as an
//!   escape only before `"`, `$` and the escape character itself; other escape
//!   characters stay. An unterminated quote is an error.
//! - `$NAME` and `${NAME}` expand to the value, or to nothing when unset.
//!   Names are letters, digits and `_`; `$1`, `$001` (digit runs) and the
//!   special parameters `@ * # ? - $ ! 0` are looked up like any other name,
//!   so they expand to nothing unless the environment happens to define them.
//!   A `$` not followed by a name stays a `$`.
//! - `${NAME-w}`/`${NAME:-w}` (default), `${NAME+w}`/`${NAME:+w}`
//!   (alternative), `${NAME?w}`/`${NAME:?w}` (required: error `NAME: w`, or
//!   `NAME: is not allowed to be unset`/`…empty`). With `:` an empty value
//!   counts as unset. `w` may itself contain quotes and expansions.
//! - `${NAME#p}`, `${NAME##p}`, `${NAME%p}`, `${NAME%%p}` remove the
//!   shortest/longest prefix/suffix matching the glob `p`; `${NAME/p/r}` and
//!   `${NAME//p/r}` replace the first/every longest leftmost match of `p` by
//!   `r` (see *Glob patterns* below).
//! - `${NAME:=w}`, any other modifier, `${}`, `${:…}`, `${{…}` and a missing
//!   `}` are errors.
//!
//! [`Lexer::process_words`] additionally splits the result into words at
//! whitespace that is not quoted or escaped. The value of an unquoted `$`
//! expansion is split too (including a quoted default inside it, as in
//! BuildKit); a quoted value is kept whole; empty words are never produced.
//!
//! # Glob patterns (as BuildKit, not as POSIX)
//!
//! In `#`, `%` and `/` patterns, `*` matches any run and `?` any single
//! character, but neither matches a newline (BuildKit compiles them to the Go
//! regexp `.`). `\*`, `\?` and `\\` are literal; `\}` and `\/` are `}` and `/`
//! (the escape only protects the `${…}` syntax). Any other `\x` is an
//! "invalid escape" error. The glob escape is always `\`, whatever the
//! Dockerfile escape character is. **Bracket expressions (`[abc]`) are not
//! supported: `[` and `]` are literal**, as in BuildKit (its own tests rely on
//! `${FOO#()[]{\}…}` matching literally). Quoting a wildcard does not make it
//! literal (the quotes are removed before the glob is read). Escapes in the
//! pattern and the replacement of `/` are kept raw, so `${V//\//\/}` puts
//! `\/` into the result, exactly like BuildKit. `${V//p/r}` expands `$0` in
//! the replacement to the match and `$$` to `$` (Go's `ReplaceAllString`
//! template rules); `${V/p/r}` inserts `r` as is.
//!
//! # Where we differ from BuildKit, on purpose
//!
//! - `${NAME` at the end of the word reports "missing '}'" (BuildKit reports
//!   an unsupported modifier named by U+FFFD).
//! - When splitting words, `a${X:-b}c` is the one word `abc`. The newest
//!   `lex.go` we read resets a word buffer that nested `${…}` share with the
//!   word around them, which would drop the `a`; we take that for a bug.
//! - An empty name (as in `${+x}`) is not recorded in `unmatched`.
//! - With [`Lexer::with_skip_unset_env`], `${X//p/r}` on an unset `X` is
//!   kept as `${X//p/r}` (BuildKit writes a single `/`).
//! - Names are always case-sensitive: hoist builds Linux images only, so
//!   BuildKit's Windows rule (`$pwd` is `$PWD`) does not apply.
//! - Name characters use Rust's `char::is_alphabetic`/`is_numeric`, which
//!   differ from Go's `unicode.IsLetter`/`IsDigit` only for rare non-ASCII
//!   characters (combining marks, superscript digits).
//!
//! Hand-written rather than built on a crate: the shell-word crates
//! (`shell-words`, `shlex`) implement POSIX sh, whose quoting, escaping and
//! `${…}` rules differ from BuildKit's in the ways listed above, and a regex
//! engine per pattern would cost a compile per expansion. The scanner is a
//! single left-to-right pass; globs run as a small NFA over the value.

mod error;
mod expand;
mod pattern;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::BuildHasher;

pub use error::{ShellError, ShellErrorKind};

/// The variables a word is expanded against. Names are case-sensitive.
///
/// `None` means unset, which differs from set-but-empty (`Some("")`) for
/// `${V-w}`, `${V+w}` and `${V?w}`.
pub trait Env {
    /// The value of `name`, if it is set.
    fn get(&self, name: &str) -> Option<&str>;
}

impl<T: Env + ?Sized> Env for &T {
    fn get(&self, name: &str) -> Option<&str> {
        (**self).get(name)
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<&str> {
        BTreeMap::get(self, name).map(String::as_str)
    }
}

impl<S: BuildHasher> Env for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<&str> {
        HashMap::get(self, name).map(String::as_str)
    }
}

/// A list of `(name, value)` pairs; when a name repeats, the last pair wins
/// (as BuildKit's `BuildEnvs` does with `KEY=VALUE` lists).
impl<K: AsRef<str>, V: AsRef<str>> Env for [(K, V)] {
    fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .rev()
            .find(|(key, _)| key.as_ref() == name)
            .map(|(_, value)| value.as_ref())
    }
}

impl<K: AsRef<str>, V: AsRef<str>, const N: usize> Env for [(K, V); N] {
    fn get(&self, name: &str) -> Option<&str> {
        Env::get(self.as_slice(), name)
    }
}

impl<K: AsRef<str>, V: AsRef<str>> Env for Vec<(K, V)> {
    fn get(&self, name: &str) -> Option<&str> {
        Env::get(self.as_slice(), name)
    }
}

/// The result of expanding a word, with the variables it looked up.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Expansion<T> {
    /// The expanded word (or words).
    pub value: T,
    /// Names that were looked up and set (BuildKit's `Matched`): the build
    /// args a word actually uses.
    pub matched: BTreeSet<String>,
    /// Names that were looked up and unset (BuildKit's `Unmatched`), for
    /// "undefined variable" warnings. Includes positional and special
    /// parameters such as `1` or `@` when the word mentions them.
    pub unmatched: BTreeSet<String>,
}

/// Expands Dockerfile words. Cheap to copy: it holds only the escape
/// character and the mode switches.
///
/// The default mode is what instructions use. The `with_*` switches are
/// BuildKit's `Lex` fields, for the few places that need them: heredoc
/// detection in the parser (`raw_quotes`, `raw_escapes`, `skip_unset_env`)
/// and expansion of heredoc bodies (`skip_process_quotes`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    escape: char,
    mode: Mode,
}

/// BuildKit's `Lex` switches; all off by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Mode {
    /// Keep the quote characters of `'…'` and `"…"` in the result.
    pub raw_quotes: bool,
    /// Keep escape characters (outside `${…}` patterns, where they are
    /// always kept) in the result.
    pub raw_escapes: bool,
    /// Treat `'` and `"` as ordinary characters.
    pub skip_process_quotes: bool,
    /// Leave references to unset variables as written (`$X`, `${X:-w}`).
    pub skip_unset_env: bool,
}

impl Default for Lexer {
    /// A lexer with the default escape character `\`.
    fn default() -> Self {
        Lexer::new('\\')
    }
}

impl Lexer {
    /// A lexer whose escape character is `escape` (`\` by default, `` ` ``
    /// under the `# escape=`` ` `` directive).
    pub const fn new(escape: char) -> Self {
        Lexer {
            escape,
            mode: Mode {
                raw_quotes: false,
                raw_escapes: false,
                skip_process_quotes: false,
                skip_unset_env: false,
            },
        }
    }

    /// The escape character this lexer uses.
    pub const fn escape(&self) -> char {
        self.escape
    }

    /// Keeps the quote characters in the result (BuildKit's `RawQuotes`):
    /// `'a b'` expands to `'a b'`, still as one word.
    pub const fn with_raw_quotes(mut self, on: bool) -> Self {
        self.mode.raw_quotes = on;
        self
    }

    /// Keeps escape characters in the result (BuildKit's `RawEscapes`):
    /// `a\ b` expands to `a\ b`, still as one word.
    pub const fn with_raw_escapes(mut self, on: bool) -> Self {
        self.mode.raw_escapes = on;
        self
    }

    /// Treats `'` and `"` as ordinary characters (BuildKit's
    /// `SkipProcessQuotes`), for text such as a heredoc body where only `$`
    /// and escapes mean something.
    pub const fn with_skip_process_quotes(mut self, on: bool) -> Self {
        self.mode.skip_process_quotes = on;
        self
    }

    /// Leaves references to unset variables as written (BuildKit's
    /// `SkipUnsetEnv`): `$X`, `${X}`, `${X:-w}` (with `w` expanded),
    /// `${X/p/r}`. `${X?w}` does not fail then.
    pub const fn with_skip_unset_env(mut self, on: bool) -> Self {
        self.mode.skip_unset_env = on;
        self
    }

    /// Expands `word` into one string (BuildKit's `ProcessWord`): quotes are
    /// removed, escapes applied, variables expanded; whitespace is kept.
    ///
    /// ```
    /// use hoist_frontend::shell::Lexer;
    /// let env = [("NAME", "world")];
    /// let out = Lexer::default().process_word("'hi' \"${NAME:-x}\"", &env).unwrap();
    /// assert_eq!(out.value, "hi world");
    /// assert!(out.matched.contains("NAME"));
    /// ```
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<Expansion<String>, ShellError> {
        if self.is_plain(word) {
            return Ok(Expansion {
                value: word.to_owned(),
                ..Expansion::default()
            });
        }
        let mut expander = expand::Expander::new(word, self.escape, self.mode, env);
        let value = expander.expand_word(None)?;
        Ok(expander.finish(value))
    }

    /// Expands `word` and splits the result into words at unquoted whitespace
    /// (BuildKit's `ProcessWords`). Unquoted variable values are split,
    /// quoted ones kept whole; empty words are dropped.
    ///
    /// ```
    /// use hoist_frontend::shell::Lexer;
    /// let env = [("FILES", "a b")];
    /// let out = Lexer::default().process_words("$FILES \"$FILES\" c\\ d", &env).unwrap();
    /// assert_eq!(out.value, ["a", "b", "a b", "c d"]);
    /// ```
    pub fn process_words(
        &self,
        word: &str,
        env: &dyn Env,
    ) -> Result<Expansion<Vec<String>>, ShellError> {
        if self.is_plain(word) {
            return Ok(Expansion {
                value: word.split_whitespace().map(str::to_owned).collect(),
                ..Expansion::default()
            });
        }
        let mut expander = expand::Expander::new(word, self.escape, self.mode, env);
        let mut words = expand::WordSplitter::default();
        expander.expand_word(Some(&mut words))?;
        Ok(expander.finish(words.finish()))
    }

    /// True if `word` holds nothing to expand, unquote or unescape, so that
    /// it expands to itself (the common case, checked without allocating).
    fn is_plain(&self, word: &str) -> bool {
        !word.contains(['$', '\'', '"', self.escape])
    }
}
