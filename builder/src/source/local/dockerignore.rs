//! `.dockerignore` files: reading them the way Docker's `ignorefile.ReadAll` does, finding
//! the right one for a Dockerfile, and evaluating the rule list
//! (`MatchesOrParentMatches`: last matching rule wins, parents count).
//!
//! Reading rules: a UTF-8 BOM on line 1 is stripped; a line whose first byte is `#` is a
//! comment (only at column 0: ` #x` is a pattern); lines are trimmed; `!` marks an exception
//! and whitespace after it is trimmed; the rest goes through `filepath.Clean` and loses a
//! leading `/`. Matching is anchored at the context root (see [`super::pattern`]).

use std::path::{Path, PathBuf};

use super::pattern::{InvalidPattern, Pattern, go_clean};

/// The file name BuildKit looks for in the context root.
pub const DOCKERIGNORE: &str = ".dockerignore";

/// Errors while loading or compiling ignore rules.
#[derive(Debug, thiserror::Error)]
pub enum IgnoreError {
    #[error("reading ignore file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("in {path}: {source}")]
    InFile {
        path: PathBuf,
        #[source]
        source: InvalidPattern,
    },
    #[error(transparent)]
    Pattern(#[from] InvalidPattern),
}

/// An ordered list of ignore rules (patterns and `!` exceptions).
#[derive(Debug, Clone, Default)]
pub struct Patterns {
    rules: Vec<Pattern>,
}

/// Per-rule "matched this path or one of its parents" flags, carried down a walk so each
/// path costs one test per rule (patternmatcher's `MatchInfo`).
#[derive(Debug, Clone, Default)]
pub struct MatchState {
    matched: Vec<bool>,
}

impl Patterns {
    /// Parses the text of a `.dockerignore` file (comments, BOM, `!`, cleaning) and
    /// compiles every rule. An invalid rule is an error naming it.
    pub fn parse(text: &str) -> Result<Patterns, InvalidPattern> {
        Patterns::new(read_lines(text).iter().map(String::as_str))
    }

    /// Compiles already-read rules (as `patternmatcher.New`: trimmed, cleaned, empty ones
    /// skipped). For rule lists that do not come from a file, such as `COPY --exclude`.
    pub fn new<'a>(lines: impl IntoIterator<Item = &'a str>) -> Result<Patterns, InvalidPattern> {
        let mut rules = Vec::new();
        for line in lines {
            if let Some(rule) = Pattern::new(line)? {
                rules.push(rule);
            }
        }
        Ok(Patterns { rules })
    }

    /// The compiled rules in order.
    pub fn rules(&self) -> &[Pattern] {
        &self.rules
    }

    /// No rules at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether any rule is an exception.
    pub fn has_exceptions(&self) -> bool {
        self.rules.iter().any(Pattern::is_exception)
    }

    /// Whether `path` (slash-separated, relative to the context root) is excluded: the last
    /// rule that matches the path or any of its parents decides. `.` is never excluded.
    pub fn is_excluded(&self, path: &str) -> bool {
        go_clean(path) != "." && self.matches_or_parent_matches(path)
    }

    /// patternmatcher's `MatchesOrParentMatches` on a path as given (not cleaned): the
    /// rules are tried on the path itself and on each parent of `filepath.Dir(path)`.
    pub fn matches_or_parent_matches(&self, path: &str) -> bool {
        let parent = go_dir(path);
        let mut ancestors = Vec::new();
        if parent != "." {
            for (i, c) in parent.char_indices() {
                if c == '/' {
                    ancestors.push(&parent[..i]);
                }
            }
            ancestors.push(parent.as_str());
        }
        self.last_match_excludes(|rule| {
            rule.matches(path) || ancestors.iter().any(|a| rule.matches(a))
        })
    }

    /// patternmatcher's `MatchesExact`: the rules are tried on the path only.
    pub fn matches_exact(&self, path: &str) -> bool {
        self.last_match_excludes(|rule| rule.matches(path))
    }

    fn last_match_excludes(&self, mut matches: impl FnMut(&Pattern) -> bool) -> bool {
        self.rules
            .iter()
            .rev()
            .find(|rule| matches(rule))
            .is_some_and(|rule| !rule.is_exception())
    }

    /// The match state of `path` given the state of its parent directory (the default
    /// state for a top-level path).
    pub fn state_for(&self, path: &str, parent: &MatchState) -> MatchState {
        let matched = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, rule)| parent.matched.get(i).copied().unwrap_or(false) || rule.matches(path))
            .collect();
        MatchState { matched }
    }

    /// Whether an exception could re-include something below the excluded directory `dir`,
    /// so a walk must descend into it. Conservative (may say yes needlessly).
    pub fn may_reinclude_below(&self, dir: &str) -> bool {
        self.rules
            .iter()
            .any(|rule| rule.is_exception() && rule.may_match_below(dir))
    }
}

impl MatchState {
    /// Whether the path this state belongs to is excluded: the last rule matching it (or a
    /// parent) is not an exception.
    pub fn excluded(&self, patterns: &Patterns) -> bool {
        self.matched
            .iter()
            .rposition(|&m| m)
            .is_some_and(|i| !patterns.rules[i].is_exception())
    }
}

/// Go's `filepath.Dir`: everything before the last `/`, cleaned; `.` if there is none.
fn go_dir(path: &str) -> String {
    match path.rfind('/') {
        Some(i) => go_clean(&path[..=i]),
        None => ".".to_string(),
    }
}

/// `ignorefile.ReadAll`: the rule lines of an ignore file, cleaned, in order.
pub fn read_lines(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rules = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (exception, body) = match line.strip_prefix('!') {
            Some(rest) => (true, rest.trim()),
            None => (false, line),
        };
        let mut body = if body.is_empty() {
            String::new()
        } else {
            go_clean(body)
        };
        if body.len() > 1 && body.starts_with('/') {
            body.remove(0);
        }
        rules.push(if exception { format!("!{body}") } else { body });
    }
    rules
}

/// Locating and loading the ignore file for a build.
pub struct IgnoreFile;

impl IgnoreFile {
    /// Where the rules for this build come from: `<Dockerfile path>.dockerignore` next to
    /// the Dockerfile if it exists (BuildKit's per-Dockerfile ignore file), else the
    /// context's `.dockerignore`, else none.
    pub fn locate(context_dir: &Path, dockerfile_path: &Path) -> Option<PathBuf> {
        let mut name = dockerfile_path.as_os_str().to_owned();
        name.push(".dockerignore");
        let beside = PathBuf::from(name);
        if beside.is_file() {
            return Some(beside);
        }
        let in_context = context_dir.join(DOCKERIGNORE);
        in_context.is_file().then_some(in_context)
    }

    /// Loads the rules for a build (see [`IgnoreFile::locate`]); no ignore file means no
    /// rules. The builder reads the file itself, so listing it in itself changes nothing
    /// here (it only keeps it out of COPY).
    pub fn load(context_dir: &Path, dockerfile_path: &Path) -> Result<Patterns, IgnoreError> {
        let Some(path) = IgnoreFile::locate(context_dir, dockerfile_path) else {
            return Ok(Patterns::default());
        };
        let bytes = std::fs::read(&path).map_err(|source| IgnoreError::Read {
            path: path.clone(),
            source,
        })?;
        let text = String::from_utf8_lossy(&bytes);
        Patterns::parse(&text).map_err(|source| IgnoreError::InFile { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_lines_follows_ignorefile_read_all() {
        let text = "test1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n! /inverted/abs/path\n!\n! ";
        assert_eq!(
            read_lines(text),
            [
                "test1",
                "test2",
                "a/file/here",
                "lastfile",
                "!inverted/abs/path",
                "!",
                "!"
            ]
        );
    }

    #[test]
    fn comment_only_at_column_zero() {
        assert_eq!(read_lines("#x\n #y\n  z  "), [" #y".trim(), "z"]);
    }

    #[test]
    fn bom_is_stripped_from_the_first_line() {
        assert_eq!(read_lines("\u{feff}node_modules\n"), ["node_modules"]);
        assert_eq!(read_lines("\u{feff}# comment\nx"), ["x"]);
    }

    #[test]
    fn patterns_are_cleaned() {
        assert_eq!(
            read_lines("build/\nfoo/../bar\n./x\n/\n/abs//dir/\nCRLF\r\n"),
            ["build", "bar", "x", "/", "abs/dir", "CRLF"]
        );
    }

    #[test]
    fn lone_exclamation_mark_is_an_error_naming_it() {
        let err = Patterns::parse("a\n!\n").unwrap_err();
        assert_eq!(err.pattern, "!");
        assert!(err.to_string().contains("illegal exclusion"), "{err}");
    }

    #[test]
    fn invalid_pattern_is_an_error_naming_it() {
        let err = Patterns::parse("ok\nsrc/[abc\n").unwrap_err();
        assert_eq!(err.pattern, "src/[abc");
        let err = Patterns::parse("[Local-Only]/\n").unwrap_err();
        assert_eq!(err.pattern, "[Local-Only]");
    }

    #[test]
    fn per_dockerfile_ignore_file_wins_over_context_one() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = dir.path();
        std::fs::create_dir(ctx.join("build")).unwrap();
        std::fs::write(ctx.join(".dockerignore"), "from-context\n").unwrap();
        let dockerfile = ctx.join("build/app.Dockerfile");
        std::fs::write(&dockerfile, "FROM scratch\n").unwrap();
        let p = IgnoreFile::load(ctx, &dockerfile).unwrap();
        assert!(p.is_excluded("from-context"));

        std::fs::write(ctx.join("build/app.Dockerfile.dockerignore"), "beside\n").unwrap();
        let p = IgnoreFile::load(ctx, &dockerfile).unwrap();
        assert!(p.is_excluded("beside"));
        assert!(!p.is_excluded("from-context"));
    }

    #[test]
    fn no_ignore_file_means_no_rules() {
        let dir = tempfile::tempdir().unwrap();
        let p = IgnoreFile::load(dir.path(), &dir.path().join("Dockerfile")).unwrap();
        assert!(p.is_empty());
    }

    #[test]
    fn invalid_rule_in_a_file_names_the_file_and_the_rule() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(".dockerignore"), "x\n[\n").unwrap();
        let err = IgnoreFile::load(dir.path(), &dir.path().join("Dockerfile")).unwrap_err();
        let msg = format!("{err}: {}", std::error::Error::source(&err).unwrap());
        assert!(
            msg.contains(".dockerignore") && msg.contains("\"[\""),
            "{msg}"
        );
    }
}
