//! The glob patterns of `${V#p}`, `${V%p}` and `${V/p/r}`: parsing BuildKit's
//! pattern syntax and matching it against a value.
//!
//! BuildKit turns the pattern into a Go regexp (`*` → `.*` or `.*?`, `?` →
//! `.`) and runs it leftmost-first. For patterns made only of literals, `?`
//! and `*`, that gives: the shortest (lazy) or longest (greedy) match among
//! all matches at the leftmost start. We compute exactly that with a small
//! NFA walked once per start position, without compiling anything.

/// One element of a parsed glob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    /// This character and nothing else.
    Literal(char),
    /// Any one character except a newline (`?`).
    AnyChar,
    /// Any run of characters without a newline, possibly empty (`*`).
    AnyRun,
}

/// A parse failure: a `\` followed by `escaped` (or by nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct InvalidEscape {
    pub escaped: Option<char>,
}

/// A parsed glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Parses BuildKit's pattern syntax: `*`, `?`, `\*`, `\?`, `\\`, `\}`,
    /// `\/`; every other character is literal, brackets included.
    pub fn parse(pattern: &str) -> Result<Glob, InvalidEscape> {
        let mut tokens = Vec::with_capacity(pattern.len());
        let mut chars = pattern.chars().peekable();
        while let Some(ch) = chars.next() {
            let token = match ch {
                '*' => Token::AnyRun,
                '?' => Token::AnyChar,
                '\\' => match chars.peek().copied() {
                    // The escape only kept `}`/`/` from ending the `${…}`;
                    // the character itself is read as a literal next.
                    Some('}' | '/') => continue,
                    Some(escaped @ ('*' | '?' | '\\')) => {
                        chars.next();
                        Token::Literal(escaped)
                    }
                    escaped => return Err(InvalidEscape { escaped }),
                },
                other => Token::Literal(other),
            };
            tokens.push(token);
        }
        Ok(Glob { tokens })
    }

    /// `value` without its shortest (or, if `longest`, longest) prefix that
    /// matches the whole pattern; `value` itself if no prefix matches.
    pub fn strip_prefix<'v>(&self, value: &'v str, longest: bool) -> &'v str {
        let chars = value
            .char_indices()
            .map(|(at, ch)| (at + ch.len_utf8(), ch));
        match self.match_ends(false, 0, chars, longest) {
            Some(end) => &value[end..],
            None => value,
        }
    }

    /// `value` without its shortest (or, if `longest`, longest) suffix that
    /// matches the whole pattern; `value` itself if no suffix matches.
    pub fn strip_suffix<'v>(&self, value: &'v str, longest: bool) -> &'v str {
        // Walk the value backwards against the reversed pattern; a "position"
        // is where the suffix matched so far begins.
        let chars = value.char_indices().rev();
        match self.match_ends(true, value.len(), chars, longest) {
            Some(start) => &value[..start],
            None => value,
        }
    }

    /// `value` with the longest match at the leftmost position where the
    /// pattern matches replaced by `replacement`, inserted literally.
    pub fn replace_first(&self, value: &str, replacement: &str) -> String {
        match self.find_from(value, 0) {
            Some((start, end)) => {
                let mut out = String::with_capacity(value.len() + replacement.len());
                out.push_str(&value[..start]);
                out.push_str(replacement);
                out.push_str(&value[end..]);
                out
            }
            None => value.to_owned(),
        }
    }

    /// `value` with every match replaced, as Go's
    /// `Regexp.ReplaceAllString` does it: matches do not overlap, an empty
    /// match right after a match is skipped, and `replacement` is a template
    /// where `$0` is the match and `$$` a `$` (see [`expand_template`]).
    pub fn replace_all(&self, value: &str, replacement: &str) -> String {
        let mut out = String::with_capacity(value.len());
        let mut last_end = 0;
        let mut search = 0;
        while search <= value.len() {
            let Some((start, end)) = self.find_from(value, search) else {
                break;
            };
            out.push_str(&value[last_end..start]);
            if end > last_end || start == 0 {
                expand_template(&mut out, replacement, &value[start..end]);
            }
            last_end = end;
            // Always advance by at least one character.
            let width = value[search..].chars().next().map_or(0, char::len_utf8);
            if search + width > end {
                search += width;
            } else if search + 1 > end {
                search += 1;
            } else {
                search = end;
            }
        }
        out.push_str(&value[last_end..]);
        out
    }

    /// The leftmost match starting at or after byte `from`: its start and
    /// the end of the longest match there.
    fn find_from(&self, value: &str, from: usize) -> Option<(usize, usize)> {
        // A pattern that opens with a literal can only match where it occurs.
        let first = match self.tokens.first() {
            Some(Token::Literal(ch)) => Some(*ch),
            _ => None,
        };
        let starts = value[from..]
            .char_indices()
            .filter(|(_, ch)| first.is_none_or(|first| first == *ch))
            .map(|(at, _)| from + at)
            .chain(first.is_none().then_some(value.len()));
        for start in starts {
            let chars = value[start..]
                .char_indices()
                .map(|(at, ch)| (start + at + ch.len_utf8(), ch));
            if let Some(end) = self.match_ends(false, start, chars, true) {
                return Some((start, end));
            }
        }
        None
    }

    /// Runs the pattern (reversed if `reversed`) anchored at `origin` over
    /// `chars`, each paired with the position reached after consuming it.
    /// Returns the first position where the whole pattern has matched, or
    /// the last one if `longest`.
    fn match_ends(
        &self,
        reversed: bool,
        origin: usize,
        chars: impl Iterator<Item = (usize, char)>,
        longest: bool,
    ) -> Option<usize> {
        let count = self.tokens.len();
        let token = |i: usize| {
            if reversed {
                self.tokens[count - 1 - i]
            } else {
                self.tokens[i]
            }
        };
        // active[i]: the first i tokens have matched the text consumed so far.
        let mut active = vec![false; count + 1];
        let mut next = vec![false; count + 1];
        active[0] = true;
        let close = |states: &mut [bool]| {
            for i in 0..count {
                if states[i] && token(i) == Token::AnyRun {
                    states[i + 1] = true;
                }
            }
        };
        close(&mut active);
        let mut found = active[count].then_some(origin);
        if found.is_some() && !longest {
            return found;
        }
        for (position, ch) in chars {
            next.fill(false);
            let mut any = false;
            for i in 0..count {
                if !active[i] {
                    continue;
                }
                match token(i) {
                    Token::Literal(literal) if literal == ch => next[i + 1] = true,
                    Token::AnyChar if ch != '\n' => next[i + 1] = true,
                    Token::AnyRun if ch != '\n' => next[i] = true,
                    _ => continue,
                }
                any = true;
            }
            if !any {
                break;
            }
            close(&mut next);
            std::mem::swap(&mut active, &mut next);
            if active[count] {
                found = Some(position);
                if !longest {
                    break;
                }
            }
        }
        found
    }
}

/// Appends `template` to `out` with Go's `Regexp.Expand` rules for a regexp
/// without groups: `$$` is `$`, `$0`/`${0}` is the match, any other
/// `$name`/`${name}` is empty, and a `$` not followed by a name is literal.
fn expand_template(out: &mut String, template: &str, matched: &str) {
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let (braced, body) = match rest.strip_prefix('{') {
            Some(body) => (true, body),
            None => (false, rest),
        };
        let name_len = body
            .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
            .unwrap_or(body.len());
        let closed = !braced || body[name_len..].starts_with('}');
        if name_len == 0 || !closed {
            out.push('$');
            continue;
        }
        if &body[..name_len] == "0" {
            out.push_str(matched);
        }
        rest = &body[name_len + usize::from(braced)..];
    }
    out.push_str(rest);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glob(pattern: &str) -> Glob {
        Glob::parse(pattern).unwrap()
    }

    #[test]
    fn parse_reads_wildcards_escapes_and_literal_brackets() {
        use Token::*;
        assert_eq!(glob("*").tokens, [AnyRun]);
        assert_eq!(glob("?").tokens, [AnyChar]);
        assert_eq!(glob("\\*").tokens, [Literal('*')]);
        let every_regex_char = glob("(()[]{\\}^$.\\*\\?|\\\\");
        let literal: String = every_regex_char
            .tokens
            .iter()
            .map(|t| match t {
                Literal(ch) => *ch,
                other => panic!("{other:?} should be literal"),
            })
            .collect();
        assert_eq!(literal, "(()[]{}^$.*?|\\");
        assert_eq!(
            glob("a\\/b").tokens,
            [Literal('a'), Literal('/'), Literal('b')]
        );
    }

    #[test]
    fn parse_rejects_unknown_and_trailing_escapes() {
        assert_eq!(Glob::parse("\\"), Err(InvalidEscape { escaped: None }));
        assert_eq!(
            Glob::parse("\\x"),
            Err(InvalidEscape { escaped: Some('x') })
        );
        assert_eq!(Glob::parse("\\\\\\"), Err(InvalidEscape { escaped: None }));
    }

    #[test]
    fn strip_prefix_takes_shortest_or_longest_matching_prefix() {
        assert_eq!(glob("*x*y").strip_prefix("xxyy", false), "y");
        assert_eq!(glob("*x*y").strip_prefix("xxyy", true), "");
        assert_eq!(glob("*").strip_prefix("xxyy", false), "xxyy");
        assert_eq!(glob("*").strip_prefix("xxyy", true), "");
        assert_eq!(glob("*x").strip_prefix("xxyy", true), "yy");
        assert_eq!(glob("?\\?").strip_prefix("???y", false), "?y");
        assert_eq!(glob("z").strip_prefix("xxyy", false), "xxyy");
        assert_eq!(glob("").strip_prefix("xxyy", true), "xxyy");
    }

    #[test]
    fn strip_suffix_takes_shortest_or_longest_matching_suffix() {
        assert_eq!(glob("\\**").strip_suffix("xx**", true), "xx");
        assert_eq!(glob("\\**").strip_suffix("xx**", false), "xx*");
        assert_eq!(glob("\\**\\*").strip_suffix("a***yy*", true), "a");
        assert_eq!(glob("\\**\\*").strip_suffix("a***yy*", false), "a**");
        assert_eq!(glob("x").strip_suffix("xxyy", false), "xxyy");
        assert_eq!(glob(".*").strip_suffix("file.tar.gz", false), "file.tar");
        assert_eq!(glob(".*").strip_suffix("file.tar.gz", true), "file");
    }

    /// Whole-string glob match by plain recursion, as the reference.
    fn matches_whole(tokens: &[Token], text: &[char]) -> bool {
        match tokens.split_first() {
            None => text.is_empty(),
            Some((Token::AnyRun, rest)) => (0..=text.len())
                .take_while(|&n| n == 0 || text[n - 1] != '\n')
                .any(|n| matches_whole(rest, &text[n..])),
            Some((token, rest)) => match text.split_first() {
                Some((ch, tail)) => {
                    let ok = match token {
                        Token::Literal(l) => l == ch,
                        _ => *ch != '\n',
                    };
                    ok && matches_whole(rest, tail)
                }
                None => false,
            },
        }
    }

    /// Every string over `alphabet` up to `max` characters long.
    fn all_strings(alphabet: &[char], max: usize) -> Vec<String> {
        let mut out = vec![String::new()];
        let mut layer = vec![String::new()];
        for _ in 0..max {
            layer = layer
                .iter()
                .flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}")))
                .collect();
            out.extend(layer.iter().cloned());
        }
        out
    }

    #[test]
    fn nfa_agrees_with_brute_force_on_all_small_cases() {
        let patterns = all_strings(&['a', 'b', '*', '?'], 4);
        let values = all_strings(&['a', 'b', '\n'], 4);
        for pattern in &patterns {
            let g = glob(pattern);
            for value in &values {
                let chars: Vec<char> = value.chars().collect();
                let prefix_ends: Vec<usize> = (0..=chars.len())
                    .filter(|&n| matches_whole(&g.tokens, &chars[..n]))
                    .collect();
                let suffix_starts: Vec<usize> = (0..=chars.len())
                    .filter(|&n| matches_whole(&g.tokens, &chars[n..]))
                    .collect();
                let short = prefix_ends.first().map_or(value.as_str(), |&n| &value[n..]);
                let long = prefix_ends.last().map_or(value.as_str(), |&n| &value[n..]);
                assert_eq!(
                    g.strip_prefix(value, false),
                    short,
                    "{pattern:?} # {value:?}"
                );
                assert_eq!(
                    g.strip_prefix(value, true),
                    long,
                    "{pattern:?} ## {value:?}"
                );
                let short = suffix_starts
                    .last()
                    .map_or(value.as_str(), |&n| &value[..n]);
                let long = suffix_starts
                    .first()
                    .map_or(value.as_str(), |&n| &value[..n]);
                assert_eq!(
                    g.strip_suffix(value, false),
                    short,
                    "{pattern:?} % {value:?}"
                );
                assert_eq!(
                    g.strip_suffix(value, true),
                    long,
                    "{pattern:?} %% {value:?}"
                );
                let first = (0..=chars.len()).find_map(|s| {
                    (s..=chars.len())
                        .rev()
                        .find(|&e| matches_whole(&g.tokens, &chars[s..e]))
                        .map(|e| (s, e))
                });
                let expected = match first {
                    Some((s, e)) => format!("{}X{}", &value[..s], &value[e..]),
                    None => value.clone(),
                };
                assert_eq!(
                    g.replace_first(value, "X"),
                    expected,
                    "{pattern:?} / {value:?}"
                );
            }
        }
    }

    #[test]
    fn wildcards_work_on_characters_not_bytes() {
        assert_eq!(glob("?").strip_prefix("한국어", false), "국어");
        assert_eq!(glob("?").strip_suffix("한국어", false), "한국");
        assert_eq!(glob("국").replace_all("한국어국", "-"), "한-어-");
    }

    #[test]
    fn wildcards_do_not_match_newlines() {
        assert_eq!(glob("*").strip_prefix("ab\ncd", true), "\ncd");
        assert_eq!(glob("a?c").replace_all("a\nc abc", "X"), "a\nc X");
    }

    #[test]
    fn replace_first_uses_leftmost_longest_match_and_literal_replacement() {
        assert_eq!(
            glob("\\*/").replace_first("/foo*/*/*.txt", "."),
            "/foo.*/*.txt"
        );
        assert_eq!(
            glob("/?/").replace_first("/a/foo/b/c.txt", "/"),
            "/foo/b/c.txt"
        );
        assert_eq!(glob("o*").replace_first("foo bar", "0"), "f0");
        assert_eq!(glob("").replace_first("xxyy", "ww"), "wwxxyy");
        assert_eq!(glob("q").replace_first("xxyy", "ww"), "xxyy");
        assert_eq!(glob("x").replace_first("xx", "$0$$"), "$0$$x");
    }

    #[test]
    fn replace_all_follows_go_replace_all_string() {
        assert_eq!(
            glob("\\*/").replace_all("/foo*/*/*.txt", "."),
            "/foo..*.txt"
        );
        assert_eq!(glob("/tmp").replace_all("/tmp/tmp/bar.txt", ""), "/bar.txt");
        assert_eq!(glob("/?/").replace_all("/a/foo/b/c.txt", "/"), "/foo/c.txt");
        // An empty pattern matches between every character.
        assert_eq!(glob("").replace_all("ab", "-"), "-a-b-");
        assert_eq!(glob("").replace_all("xxyy", ""), "xxyy");
        // `*` takes everything; the empty match after it is skipped.
        assert_eq!(glob("*").replace_all("ab", "X"), "X");
        assert_eq!(glob("*").replace_all("", "X"), "X");
    }

    #[test]
    fn replace_all_expands_go_template_in_replacement() {
        assert_eq!(glob("b").replace_all("abc", "[$0]"), "a[b]c");
        assert_eq!(glob("b").replace_all("abc", "[${0}]"), "a[b]c");
        assert_eq!(glob("b").replace_all("abc", "$$"), "a$c");
        assert_eq!(glob("b").replace_all("abc", "$1$x${y}"), "ac");
        assert_eq!(glob("b").replace_all("abc", "$.${"), "a$.${c");
        assert_eq!(glob("b").replace_all("abc", "\\$"), "a\\$c");
    }
}
