//! Finding heredoc markers (`<<EOF`, `<<-EOF`, `<<'EOF'`, `3<<EOF`) on an
//! instruction line, the way BuildKit finds them.
//!
//! BuildKit looks for heredocs only on `RUN`, `COPY` and `ADD` in shell form
//! (also as the trigger of `ONBUILD`), and only when the line holds `<<`.
//! It splits the whole logical line into shell words with quotes, escapes
//! and `$…` kept raw (escape character always `\`, whatever `# escape=`
//! says); `<<` glues the blanks after it to its word, so `<<  EOF` is one
//! word. If that splitting fails (an unclosed quote, a bad `${…}`), the line
//! simply has no heredocs. Each word matching `^(\d*)<<(-?)\s*([^<]*)$` with
//! a non-empty tail is a candidate: the tail, with quotes removed, must be
//! one word, which becomes the delimiter; if quotes took part in it, the
//! body is not expanded (`<<'EOF'`, `<<"EOF"`, `<<E'O'F`). An escaped quote
//! (`<<eo\'f`) is a literal quote and keeps expansion on.
//!
//! The body lines themselves are read by the caller ([`super::parse`]).

/// A heredoc marker found on an instruction line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    /// The delimiter, quotes removed.
    pub name: String,
    /// False when quotes took part in the delimiter.
    pub expand: bool,
    /// True for `<<-`.
    pub chomp: bool,
    /// Byte offset of the marker word in the line, and its length.
    pub at: usize,
    pub len: usize,
}

/// An error from the marker checks, with the offset of the marker word.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MarkerError {
    pub message: String,
    pub at: usize,
    pub len: usize,
}

/// Nesting of `${…}` deeper than this makes the word splitting fail (so the
/// line has no heredocs) instead of recursing without bound.
const MAX_NESTING: usize = 64;

/// The heredoc markers of `line`, in order.
pub(crate) fn markers_in_line(line: &str) -> Result<Vec<Marker>, MarkerError> {
    let Ok(words) = Lexer::new(line, true, true).words() else {
        return Ok(Vec::new());
    };
    let mut markers = Vec::new();
    for (at, word) in words {
        match marker_from_word(&word) {
            Ok(Some((name, expand, chomp))) => markers.push(Marker {
                name,
                expand,
                chomp,
                at,
                len: word.len(),
            }),
            Ok(None) => {}
            Err(message) => {
                return Err(MarkerError {
                    message,
                    at,
                    len: word.len(),
                });
            }
        }
    }
    Ok(markers)
}

/// Go regexp `\s`.
fn is_re_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\u{0c}' | '\r' | ' ')
}

/// Matches one word against `^(\d*)<<(-?)\s*([^<]*)$` and checks its tail;
/// returns `(name, expand, chomp)`.
fn marker_from_word(word: &str) -> Result<Option<(String, bool, bool)>, String> {
    let after_fd = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(after) = after_fd.strip_prefix("<<") else {
        return Ok(None);
    };
    let (chomp, after) = match after.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, after),
    };
    let tail = after.trim_start_matches(is_re_space);
    if tail.is_empty() || tail.contains('<') {
        return Ok(None);
    }
    let words = Lexer::new(tail, false, false).words()?;
    if words.len() != 1 {
        return Ok(None);
    }
    let raw = Lexer::new(tail, true, false).words()?;
    if raw.len() != words.len() {
        return Err(format!(
            "internal lexing of heredoc produced inconsistent results: {tail}"
        ));
    }
    let quotes = |s: &str| s.chars().filter(|&c| c == '\'' || c == '"').count();
    let name = words[0].1.clone();
    let expand = quotes(&name) == quotes(&raw[0].1);
    Ok(Some((name, expand, chomp)))
}

/// The words being built by the lexer (BuildKit's `wordsStruct`), with the
/// byte offset where each word's text starts.
#[derive(Default)]
struct Words {
    words: Vec<(usize, String)>,
    word: String,
    start: usize,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, c: char, at: usize) {
        if c.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words
                    .push((self.start, std::mem::take(&mut self.word)));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(c, at);
        }
    }

    fn add_raw_char(&mut self, c: char, at: usize) {
        if self.word.is_empty() {
            self.start = at;
        }
        self.word.push(c);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str, at: usize) {
        for c in s.chars() {
            self.add_char(c, at);
        }
    }

    fn add_raw_string(&mut self, s: &str, at: usize) {
        if self.word.is_empty() {
            self.start = at;
        }
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<(usize, String)> {
        if !self.word.is_empty() {
            self.words.push((self.start, self.word));
        }
        self.words
    }
}

/// A shell-word splitter with BuildKit's `Lex` semantics for an empty
/// environment with unset variables kept as written (`SkipUnsetEnv`).
struct Lexer<'a> {
    text: &'a str,
    pos: usize,
    raw_quotes: bool,
    raw_escapes: bool,
    depth: usize,
}

type LexResult<T> = Result<T, String>;

impl<'a> Lexer<'a> {
    fn new(text: &'a str, raw_quotes: bool, raw_escapes: bool) -> Self {
        Lexer {
            text,
            pos: 0,
            raw_quotes,
            raw_escapes,
            depth: 0,
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn words(mut self) -> LexResult<Vec<(usize, String)>> {
        let raw = self.raw_escapes;
        self.stop_on(None, raw).map(|(_, words)| words)
    }

    /// BuildKit's `processStopOn`: reads up to `stop` (or the end when
    /// `None`), returning the processed text and its words.
    fn stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> LexResult<(String, Vec<(usize, String)>)> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err("nesting too deep".to_string());
        }
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let result = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        self.depth -= 1;
        result
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> LexResult<(String, Vec<(usize, String)>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(c) = self.peek() {
            let at = self.pos;
            if Some(c) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match c {
                '$' => {
                    let s = self.dollar()?;
                    result.push_str(&s);
                    words.add_string(&s, at);
                }
                '<' => {
                    let s = self.possible_heredoc();
                    result.push_str(&s);
                    words.add_raw_string(&s, at);
                }
                '\'' => {
                    let s = self.single_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s, at);
                }
                '"' => {
                    let s = self.double_quote()?;
                    result.push_str(&s);
                    words.add_raw_string(&s, at);
                }
                _ => {
                    self.next();
                    let mut c = c;
                    if c == '\\' {
                        if self.raw_escapes {
                            words.add_raw_char(c, at);
                            result.push(c);
                        }
                        match self.next() {
                            Some(escaped) => c = escaped,
                            None => break,
                        }
                        words.add_raw_char(c, at);
                    } else {
                        words.add_char(c, at);
                    }
                    result.push(c);
                }
            }
        }
        match stop {
            Some(stop) => Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            )),
            None => Ok((result, words.finish())),
        }
    }

    fn single_quote(&mut self) -> LexResult<String> {
        let mut out = String::new();
        self.next();
        if self.raw_quotes {
            out.push('\'');
        }
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .to_string(),
                    );
                }
                Some('\'') => {
                    if self.raw_quotes {
                        out.push('\'');
                    }
                    return Ok(out);
                }
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> LexResult<String> {
        let mut out = String::new();
        self.next();
        if self.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .to_string(),
                    );
                }
                Some('"') => {
                    self.next();
                    if self.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let s = self.dollar()?;
                    out.push_str(&s);
                }
                Some(_) => {
                    let mut c = self.next().unwrap_or_default();
                    if c == '\\' {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            None => continue,
                            Some('"' | '$' | '\\') => c = self.next().unwrap_or_default(),
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// `<` or `<<` plus the blanks after it, glued to the current word.
    fn possible_heredoc(&mut self) -> String {
        self.next();
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.next();
        let mut out = "<<".to_string();
        while let Some(c @ (' ' | '\t' | '\r' | '\n')) = self.peek() {
            out.push(c);
            self.next();
        }
        out
    }

    /// `$…` with every variable unset and kept as written.
    fn dollar(&mut self) -> LexResult<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            return Ok(format!("${name}"));
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".to_string()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".to_string()),
            Some(_) => {}
        }
        let name = self.name();
        let modifier = self.next();
        match modifier {
            Some('}') => Ok(format!("${{{name}}}")),
            Some(':' | '+' | '-' | '?' | '#' | '%') => {
                let mut chs = String::new();
                let mut op = modifier;
                if op == Some(':') {
                    chs.push(':');
                    op = self.next();
                }
                chs.push(op.unwrap_or('\u{FFFD}'));
                let raw = matches!(op, Some('#' | '%'));
                let (word, _) = self.stop_on(Some('}'), raw).map_err(|e| {
                    if self.peek().is_none() {
                        "syntax error: missing '}'".to_string()
                    } else {
                        e
                    }
                })?;
                Ok(format!("${{{name}{chs}{word}}}"))
            }
            Some('/') => {
                if self.peek() == Some('/') {
                    self.next();
                }
                let (pattern, _) = self.stop_on(Some('/'), true)?;
                let (replacement, _) = self.stop_on(Some('}'), true)?;
                Ok(format!("${{{name}/{pattern}/{replacement}}}"))
            }
            other => Err(format!(
                "unsupported modifier ({}) in substitution",
                other.unwrap_or('\u{FFFD}')
            )),
        }
    }

    /// A variable name: digits, one special parameter, or letters, digits
    /// and `_`.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(c) = self.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    self.next();
                }
                return name;
            }
            if name.is_empty() && matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                name.push(c);
                return name;
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            self.next();
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(line: &str) -> Vec<String> {
        markers_in_line(line)
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect()
    }

    fn one(word: &str) -> Result<Option<(String, bool, bool)>, String> {
        marker_from_word(word)
    }

    // The cases of BuildKit's TestParseHeredocHelpers.
    #[test]
    fn valid_marker_words_name_eof() {
        for w in [
            "<<EOF",
            "<<'EOF'",
            "<<\"EOF\"",
            "<<-EOF",
            "<<-'EOF'",
            "<<-\"EOF\"",
            "<<EO\"F\"",
            "<< EOF",
            "<<- EOF",
        ] {
            assert_eq!(one(w).unwrap().unwrap().0, "EOF", "{w}");
        }
    }

    #[test]
    fn unbalanced_quotes_in_a_marker_word_are_errors() {
        for w in ["<<'EOF", "<<\"EOF", "<<EOF'", "<<EOF\""] {
            assert!(one(w).is_err(), "{w}");
        }
    }

    #[test]
    fn words_that_are_not_markers() {
        for w in ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"] {
            assert_eq!(one(w).unwrap(), None, "{w}");
        }
    }

    // The cases of BuildKit's TestHeredocsFromLine.
    #[test]
    fn markers_found_on_lines() {
        assert_eq!(names("RUN <<EOF"), ["EOF"]);
        assert_eq!(names("RUN <<-EOF"), ["EOF"]);
        // Upstream lists this line too, but its check passes vacuously: the
        // lexer glues blanks only straight after `<<`, so `<<-` and `EOF`
        // are two words and neither is a marker.
        assert!(names("RUN <<- EOF").is_empty());
        assert_eq!(names("RUN << -EOF"), ["-EOF"]);
        assert_eq!(names("RUN <<'EOF'"), ["EOF"]);
        assert_eq!(names("RUN 4<<EOF"), ["EOF"]);
        assert_eq!(names("RUN <<EOF <<EOF2"), ["EOF", "EOF2"]);
        assert!(names("RUN '<<EOF'").is_empty());
        assert!(names("RUN \"<<EOF\"").is_empty());
    }

    #[test]
    fn quoting_decides_expansion() {
        let m = |l: &str| markers_in_line(l).unwrap().remove(0);
        assert!(m("RUN <<EOF").expand);
        assert!(!m("RUN <<'EOF'").expand);
        assert!(!m("RUN <<\"EOF\"").expand);
        let q = m("RUN <<eo'f'");
        assert_eq!((q.name.as_str(), q.expand), ("eof", false));
        let q = m("RUN <<eo\\'f");
        assert_eq!((q.name.as_str(), q.expand), ("eo'f", true));
        let q = m("RUN <<'e'o\\'f");
        assert_eq!((q.name.as_str(), q.expand), ("eo'f", false));
        let q = m("RUN <<'one two'");
        assert_eq!((q.name.as_str(), q.expand), ("one two", false));
        let q = m("RUN <<$EOF");
        assert_eq!((q.name.as_str(), q.expand), ("$EOF", true));
        assert!(m("RUN <<-EOF").chomp);
    }

    #[test]
    fn marker_after_a_command_prefix_and_before_a_redirect() {
        let ms = markers_in_line("RUN cat <<EOF > /f").unwrap();
        assert_eq!(ms.len(), 1);
        assert_eq!((ms[0].at, ms[0].len), (8, 5));
        assert_eq!(names("RUN <<  EOF  > foo"), ["EOF"]);
        assert_eq!(names("RUN python3 <<COMPLEX"), ["COMPLEX"]);
    }

    #[test]
    fn failed_word_splitting_means_no_markers() {
        assert!(names("RUN <<EOF 'unclosed").is_empty());
        assert!(names("RUN <<EOF ${").is_empty());
        assert!(names("RUN <<EOF ${:}").is_empty());
        let deep = format!("RUN <<EOF {}", "${a:-".repeat(10_000));
        assert!(names(&deep).is_empty());
    }

    #[test]
    fn dollar_forms_stay_as_written() {
        assert_eq!(names("RUN <<${X}"), ["${X}"]);
        assert_eq!(names("RUN x ${A:-a b} <<E"), ["E"]);
    }
}
