//! One `.dockerignore` pattern: Docker's (moby/patternmatcher) glob dialect compiled to a
//! matcher over slash-separated paths relative to the context root.
//!
//! Why hand-written: `.dockerignore` is not gitignore (see `shared/DEPENDENCIES.md` §4), and
//! no crate implements Docker's dialect. The rules, as patternmatcher implements them:
//! - `*` is `[^/]*`, `?` is `[^/]`, `**` is `(.*/)?` (a `/` right after it is eaten), or `.*`
//!   at the end; a pattern ending in `**` with no other wildcard is a prefix test, one
//!   starting with `**` a suffix test (so `**file` also matches `dir/myfile`, as in Docker).
//! - `\` makes the next character literal; `[...]` is handed to the regex engine, so `[^a]`
//!   negates and `[!a]` is the class of `!` and `a`.
//! - Patterns are checked for `filepath.Match` syntax first (`[`, `[]a]`, `[x-]`, a
//!   trailing `\` are errors), then compiled eagerly: an invalid pattern is an error at load
//!   time naming the pattern (Docker fails later, at the first match).
//!
//! Known deviation: Docker passes `\d`, `\w`, ... through to Go's regexp, so there `\d`
//! matches a digit by accident; here an escaped letter is that letter, as `filepath.Match`
//! documents. POSIX classes inside brackets (`[[:alpha:]]`) are not supported.

use regex::Regex;

/// How a compiled pattern tests a path (patternmatcher's match types).
#[derive(Debug, Clone)]
enum Matcher {
    /// The path equals the cleaned pattern.
    Exact,
    /// The path starts with this prefix (pattern `dir/**`).
    Prefix(String),
    /// The path ends with this suffix (pattern `**/x`, `**x`); a suffix starting with `/`
    /// also matches the path equal to the rest (`**/foo` matches `foo`).
    Suffix(String),
    Regex(Regex),
}

/// A compiled pattern: the cleaned text, whether it is an exception (`!`), the matcher.
#[derive(Debug, Clone)]
pub struct Pattern {
    text: String,
    exception: bool,
    matcher: Matcher,
}

/// Why a pattern was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid .dockerignore pattern {pattern:?}: {reason}")]
pub struct InvalidPattern {
    /// The pattern as written (after trimming).
    pub pattern: String,
    pub reason: String,
}

impl Pattern {
    /// Compiles one pattern the way `patternmatcher.New` does: trim, `filepath.Clean`, a
    /// leading `!` marks an exception, then syntax check and compile.
    pub fn new(raw: &str) -> Result<Option<Pattern>, InvalidPattern> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Ok(None);
        }
        let invalid = |reason: &str| InvalidPattern {
            pattern: trimmed.to_string(),
            reason: reason.to_string(),
        };
        let cleaned = go_clean(trimmed);
        let (exception, text) = match cleaned.strip_prefix('!') {
            Some("") => return Err(invalid("illegal exclusion pattern \"!\"")),
            Some(rest) => (true, rest.to_string()),
            None => (false, cleaned),
        };
        check_match_syntax(&text).map_err(invalid)?;
        let matcher = compile(&text).map_err(|e| invalid(&e))?;
        Ok(Some(Pattern {
            text,
            exception,
            matcher,
        }))
    }

    /// The cleaned pattern text, without the `!`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether this is an exception (`!pattern`), which re-includes what it matches.
    pub fn is_exception(&self) -> bool {
        self.exception
    }

    /// Whether the pattern matches exactly this path (no parent matching).
    pub fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact => path == self.text,
            Matcher::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Matcher::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|rest| path == rest)
            }
            Matcher::Regex(re) => re.is_match(path),
        }
    }

    /// Whether the pattern could match some path strictly below directory `dir`, or `dir`
    /// or one of its parents (which re-includes everything below through parent matching).
    /// Conservative: answers `true` whenever it cannot decide cheaply. Used to prune
    /// excluded directories that no exception can reach.
    pub fn may_match_below(&self, dir: &str) -> bool {
        let text = &self.text;
        if text.contains("**") || text.contains('[') || text.contains('\\') {
            return true;
        }
        let pattern_parts: Vec<&str> = text.split('/').collect();
        let dir_parts: Vec<&str> = dir.split('/').collect();
        if pattern_parts.len() <= dir_parts.len() {
            let ancestor = dir_parts[..pattern_parts.len()].join("/");
            return self.matches(&ancestor);
        }
        pattern_parts
            .iter()
            .zip(&dir_parts)
            .all(|(p, d)| segment_glob_matches(p, d))
    }
}

/// Go's `filepath.Clean` on a slash path: collapse `//`, drop `.`, resolve `..` lexically,
/// drop a trailing `/`; an empty result is `.`.
pub fn go_clean(path: &str) -> String {
    if path.is_empty() {
        return ".".to_string();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

/// Validates the syntax Go's `filepath.Match` accepts (it checks the whole pattern).
pub(crate) fn check_match_syntax(pattern: &str) -> Result<(), &'static str> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                if i + 1 >= chars.len() {
                    return Err("trailing backslash");
                }
                i += 2;
            }
            '[' => {
                i += 1;
                if chars.get(i) == Some(&'^') {
                    i += 1;
                }
                let mut ranges = 0;
                loop {
                    if chars.get(i) == Some(&']') && ranges > 0 {
                        i += 1;
                        break;
                    }
                    i = class_char_end(&chars, i)?;
                    if chars.get(i) == Some(&'-') {
                        i = class_char_end(&chars, i + 1)?;
                    }
                    ranges += 1;
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// One (possibly escaped) character inside a class, as Go's `getEsc` reads it; returns the
/// index after it. The class must continue after it.
fn class_char_end(chars: &[char], mut i: usize) -> Result<usize, &'static str> {
    match chars.get(i) {
        None => return Err("unterminated character class"),
        Some('-') | Some(']') => return Err("bad character range in class"),
        Some('\\') => {
            i += 1;
            if i >= chars.len() {
                return Err("unterminated character class");
            }
        }
        Some(_) => {}
    }
    i += 1;
    if i >= chars.len() {
        return Err("unterminated character class");
    }
    Ok(i)
}

/// Characters with a regex meaning but none in a glob: escaped (patternmatcher's set).
fn is_regex_only_meta(c: char) -> bool {
    matches!(c, '.' | '+' | '(' | ')' | '|' | '{' | '}' | '$')
}

/// Compiles a cleaned pattern into its matcher, following patternmatcher's `compile`.
fn compile(pattern: &str) -> Result<Matcher, String> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut go_re = String::from("^");
    let mut kind = Kind::Exact;
    let mut pos = 0;
    let mut step = 0;
    while pos < chars.len() {
        let ch = chars[pos];
        pos += 1;
        if ch == '*' {
            if chars.get(pos) == Some(&'*') {
                pos += 1;
                if chars.get(pos) == Some(&'/') {
                    pos += 1;
                }
                if pos >= chars.len() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        go_re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    go_re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if step == 0 {
                    kind = Kind::Suffix;
                }
            } else {
                go_re.push_str("[^/]*");
                kind = Kind::Regex;
            }
        } else if ch == '?' {
            go_re.push_str("[^/]");
            kind = Kind::Regex;
        } else if is_regex_only_meta(ch) {
            go_re.push('\\');
            go_re.push(ch);
        } else if ch == '\\' {
            match chars.get(pos) {
                Some(&next) => {
                    pos += 1;
                    if next.is_alphanumeric() {
                        go_re.push(next);
                    } else {
                        go_re.push('\\');
                        go_re.push(next);
                    }
                    kind = Kind::Regex;
                }
                None => go_re.push_str("\\\\"),
            }
        } else {
            if ch == '[' || ch == ']' {
                kind = Kind::Regex;
            }
            go_re.push(ch);
        }
        step += 1;
    }
    Ok(match kind {
        Kind::Exact => Matcher::Exact,
        Kind::Prefix => Matcher::Prefix(pattern[..pattern.len() - 2].to_string()),
        Kind::Suffix => Matcher::Suffix(pattern[2..].to_string()),
        Kind::Regex => {
            go_re.push('$');
            let re = Regex::new(&go_regex_to_rust(&go_re)).map_err(|e| e.to_string())?;
            Matcher::Regex(re)
        }
    })
}

/// Rewrites the RE2 text patternmatcher would hand to Go's regexp into the same meaning in
/// Rust's regex syntax. Only brackets differ: inside a class Rust treats `[`, `&&`, `--`
/// and `~~` specially and Go does not; outside a class Go takes a lone `]` literally.
pub(crate) fn go_regex_to_rust(go: &str) -> String {
    let chars: Vec<char> = go.chars().collect();
    let mut out = String::with_capacity(go.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if i + 1 < chars.len() => {
                out.push(c);
                out.push(chars[i + 1]);
                i += 2;
            }
            '[' => {
                out.push('[');
                i += 1;
                if chars.get(i) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                // A `]` first in a class is a literal in RE2.
                if chars.get(i) == Some(&']') {
                    out.push_str("\\]");
                    i += 1;
                }
                let mut prev = '\0';
                while i < chars.len() && chars[i] != ']' {
                    let c = chars[i];
                    if c == '\\' && i + 1 < chars.len() {
                        out.push(c);
                        out.push(chars[i + 1]);
                        prev = chars[i + 1];
                        i += 2;
                        continue;
                    }
                    if c == '[' || c == '&' || c == '~' || (c == '-' && prev == '-') {
                        out.push('\\');
                    }
                    out.push(c);
                    prev = c;
                    i += 1;
                }
                if i < chars.len() {
                    out.push(']');
                    i += 1;
                }
            }
            ']' => {
                out.push_str("\\]");
                i += 1;
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// `*` and `?` glob on a single path segment (no `/`, no classes, no escapes).
fn segment_glob_matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            backtrack = Some((pi, ni));
            pi += 1;
        } else if let Some((star, consumed)) = backtrack {
            pi = star + 1;
            ni = consumed + 1;
            backtrack = Some((star, consumed + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_clean_matches_go_filepath_clean() {
        for (input, want) in [
            ("", "."),
            ("abc", "abc"),
            ("abc/", "abc"),
            ("a//b", "a/b"),
            ("./a", "a"),
            ("a/./b", "a/b"),
            ("foo/../bar", "bar"),
            ("a/..", "."),
            ("../a", "../a"),
            ("../../a/../b", "../../b"),
            ("/../a", "/a"),
            ("/", "/"),
            ("//a//", "/a"),
            ("!a/../b", "b"),
        ] {
            assert_eq!(go_clean(input), want, "clean({input:?})");
        }
    }

    #[test]
    fn brackets_are_rewritten_for_rust_regex() {
        assert_eq!(go_regex_to_rust("^a[b&&c]$"), "^a[b\\&\\&c]$");
        assert_eq!(go_regex_to_rust("^a]$"), "^a\\]$");
        assert_eq!(go_regex_to_rust("^[]a]$"), "^[\\]a]$");
        assert_eq!(go_regex_to_rust("^[a[^/]*]$"), "^[a\\[^/]*\\]$");
    }

    #[test]
    fn segment_glob_handles_star_and_question_mark() {
        assert!(segment_glob_matches("d*cs", "docs"));
        assert!(segment_glob_matches("*", ""));
        assert!(segment_glob_matches("a?c", "abc"));
        assert!(!segment_glob_matches("a?c", "ac"));
        assert!(segment_glob_matches("*x*y", "axbxcy"));
        assert!(!segment_glob_matches("*x*y", "axbxc"));
    }

    #[test]
    fn may_match_below_prunes_only_unreachable_dirs() {
        let p = |s: &str| Pattern::new(s).unwrap().unwrap();
        assert!(p("!docs/keep.md").may_match_below("docs"));
        assert!(!p("!docs/keep.md").may_match_below("other"));
        assert!(p("!d*/keep.md").may_match_below("docs"));
        assert!(!p("!docs/keep.md").may_match_below("docs/sub"));
        assert!(p("!docs").may_match_below("docs/sub"));
        assert!(p("!**/keep.md").may_match_below("anything"));
        assert!(p("![a]/x").may_match_below("zzz"));
    }
}
