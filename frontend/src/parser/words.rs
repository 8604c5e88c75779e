//! BuildKit's `parseWords`: the word splitter of `ARG`, `ENV` and `LABEL`.
//!
//! Words are separated by whitespace outside quotes. Unlike shell word
//! splitting, quotes and escape pairs are kept in the word exactly as
//! written (expansion happens later, in [`crate::shell`]); an escape
//! character at the very end of the text is dropped. Inside single quotes
//! the escape character is literal.

use super::lines::is_space;

/// The words of `text` with the byte offset where each starts.
pub(crate) fn parse_words(text: &str, escape: char) -> Vec<(usize, String)> {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote(char),
    }
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word = String::new();
    let mut start = 0;
    let mut blank_ok = false;
    let mut chars = text.char_indices().peekable();
    while let Some((pos, ch)) = chars.next() {
        let at_end = chars.peek().is_none();
        if phase == Phase::Spaces {
            if is_space(ch) {
                continue;
            }
            phase = Phase::Word;
            start = pos;
        }
        if let Phase::Quote(quote) = phase {
            if ch == quote {
                phase = Phase::Word;
            }
            if ch == escape && quote != '\'' {
                if at_end {
                    phase = Phase::Word;
                    continue;
                }
                word.push(ch);
                if let Some((_, next)) = chars.next() {
                    word.push(next);
                }
                continue;
            }
            word.push(ch);
        } else {
            if is_space(ch) {
                phase = Phase::Spaces;
                if blank_ok || !word.is_empty() {
                    words.push((start, std::mem::take(&mut word)));
                }
                word.clear();
                blank_ok = false;
                continue;
            }
            if ch == '\'' || ch == '"' {
                phase = Phase::Quote(ch);
                blank_ok = true;
            }
            if ch == escape {
                if at_end {
                    continue;
                }
                word.push(ch);
                if let Some((_, next)) = chars.next() {
                    word.push(next);
                }
                continue;
            }
            word.push(ch);
        }
    }
    if phase != Phase::Spaces && (blank_ok || !word.is_empty()) {
        words.push((start, word));
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &str) -> Vec<String> {
        parse_words(text, '\\').into_iter().map(|w| w.1).collect()
    }

    #[test]
    fn quotes_and_escapes_are_kept_as_written() {
        assert_eq!(words(r#"abc="123 456" def"#), [r#"abc="123 456""#, "def"]);
        assert_eq!(words(r"a=b\ c d"), [r"a=b\ c", "d"]);
        assert_eq!(words(r#"n="a\"b" m='a\'b'"#), [r#"n="a\"b""#, r"m='a\'b'"]);
    }

    #[test]
    fn escape_at_the_very_end_is_dropped() {
        assert_eq!(words(r"a b\"), ["a", "b"]);
        assert_eq!(words(r#"a "b\"#), ["a", "\"b"]);
    }

    #[test]
    fn word_offsets_point_at_word_starts() {
        let w = parse_words("  a  bc", '\\');
        assert_eq!(w, [(2, "a".to_string()), (5, "bc".to_string())]);
    }

    #[test]
    fn backtick_escape_makes_backslash_literal() {
        assert_eq!(words(r"a\ b"), [r"a\ b"]);
        assert_eq!(parse_words(r"a\ b", '`').len(), 2);
        assert_eq!(parse_words("a` b", '`')[0].1, "a` b");
    }
}
