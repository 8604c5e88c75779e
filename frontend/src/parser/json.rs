//! The exec (JSON) form of instruction arguments, decided exactly as
//! BuildKit's Go code decides it.
//!
//! BuildKit hands the text to Go's `encoding/json` with a `[]any` target.
//! So: any syntax error (single quotes, a trailing comma, text after `]`,
//! nesting deeper than 10000, a control character in a string) means "not
//! JSON" and the caller falls back to the shell form; a number too large
//! for a float64 is also a decode error (shell form); a well-formed array
//! with a non-string element is an error. Strings are decoded with Go's
//! rules, including a lone UTF-16 surrogate escape becoming U+FFFD.
//!
//! The checker is iterative (an explicit stack), so no input can exhaust the
//! call stack. serde_json is not used because it rejects lone surrogates and
//! accepts nothing of Go's exact error split.

/// What the text of an instruction's arguments is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonForm {
    /// Not a JSON array (or not valid JSON): use the shell form.
    NotJson,
    /// A JSON array of strings, decoded.
    Strings(Vec<String>),
    /// A valid JSON array with an element that is not a string.
    NonString,
}

/// Go's `encoding/json` maximum nesting depth.
const MAX_DEPTH: usize = 10_000;

/// Classifies `text` (leading whitespace allowed) as BuildKit's `parseJSON`
/// does.
pub(crate) fn parse_json_array(text: &str) -> JsonForm {
    let text = text.trim_start_matches(char::is_whitespace);
    if !text.starts_with('[') {
        return JsonForm::NotJson;
    }
    match Checker::new(text).run() {
        Some(outcome) if outcome.overflow => JsonForm::NotJson,
        Some(outcome) if outcome.non_string => JsonForm::NonString,
        Some(outcome) => JsonForm::Strings(outcome.strings),
        None => JsonForm::NotJson,
    }
}

#[derive(Debug, Default)]
struct Outcome {
    strings: Vec<String>,
    non_string: bool,
    overflow: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Expect {
    ValueOrClose,
    Value,
    CommaOrClose,
    KeyOrClose,
    Key,
    Colon,
}

struct Checker<'a> {
    bytes: &'a [u8],
    text: &'a str,
    pos: usize,
}

fn is_json_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Checker<'a> {
    fn new(text: &'a str) -> Self {
        Checker {
            bytes: text.as_bytes(),
            text,
            pos: 0,
        }
    }

    fn skip_space(&mut self) {
        while self.pos < self.bytes.len() && is_json_space(self.bytes[self.pos]) {
            self.pos += 1;
        }
    }

    /// Checks the whole text; `None` on any syntax error.
    fn run(mut self) -> Option<Outcome> {
        let mut out = Outcome::default();
        let mut stack: Vec<u8> = Vec::new();
        let mut expect = Expect::Value;
        loop {
            self.skip_space();
            let b = *self.bytes.get(self.pos)?;
            match expect {
                Expect::Value | Expect::ValueOrClose => {
                    if expect == Expect::ValueOrClose && b == b']' {
                        self.pos += 1;
                        stack.pop();
                        expect = Expect::CommaOrClose;
                    } else {
                        let top_level = stack.len() == 1;
                        match b {
                            b'[' | b'{' => {
                                if top_level {
                                    out.non_string = true;
                                }
                                if stack.len() >= MAX_DEPTH {
                                    return None;
                                }
                                stack.push(b);
                                self.pos += 1;
                                expect = if b == b'[' {
                                    Expect::ValueOrClose
                                } else {
                                    Expect::KeyOrClose
                                };
                                continue;
                            }
                            b'"' => {
                                let s = self.string(top_level)?;
                                if top_level {
                                    out.strings.push(s);
                                }
                            }
                            b'-' | b'0'..=b'9' => {
                                if self.number()? {
                                    out.overflow = true;
                                }
                                out.non_string |= top_level;
                            }
                            b't' => self.literal("true")?,
                            b'f' => self.literal("false")?,
                            b'n' => self.literal("null")?,
                            _ => return None,
                        }
                        if matches!(b, b't' | b'f' | b'n') {
                            out.non_string |= top_level;
                        }
                        expect = Expect::CommaOrClose;
                    }
                }
                Expect::CommaOrClose => {
                    let top = *stack.last()?;
                    self.pos += 1;
                    match b {
                        b',' if top == b'[' => expect = Expect::Value,
                        b',' => expect = Expect::Key,
                        b']' if top == b'[' => {
                            stack.pop();
                        }
                        b'}' if top == b'{' => {
                            stack.pop();
                        }
                        _ => return None,
                    }
                }
                Expect::KeyOrClose | Expect::Key => {
                    if expect == Expect::KeyOrClose && b == b'}' {
                        self.pos += 1;
                        stack.pop();
                        expect = Expect::CommaOrClose;
                    } else if b == b'"' {
                        self.string(false)?;
                        expect = Expect::Colon;
                    } else {
                        return None;
                    }
                }
                Expect::Colon => {
                    if b != b':' {
                        return None;
                    }
                    self.pos += 1;
                    expect = Expect::Value;
                }
            }
            if stack.is_empty() && expect == Expect::CommaOrClose {
                self.skip_space();
                return (self.pos == self.bytes.len()).then_some(out);
            }
        }
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        if self.text[self.pos..].starts_with(word) {
            self.pos += word.len();
            Some(())
        } else {
            None
        }
    }

    /// Scans a number; returns whether it overflows a float64.
    fn number(&mut self) -> Option<bool> {
        let start = self.pos;
        let digits = |c: &mut Self| {
            let from = c.pos;
            while c.pos < c.bytes.len() && c.bytes[c.pos].is_ascii_digit() {
                c.pos += 1;
            }
            c.pos > from
        };
        if self.bytes[self.pos] == b'-' {
            self.pos += 1;
        }
        match self.bytes.get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return None,
        }
        if self.bytes.get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.bytes.get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.bytes.get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        let value: f64 = self.text[start..self.pos].parse().ok()?;
        Some(value.is_infinite())
    }

    /// Scans a string starting at `"`; decodes it when `decode` is set.
    fn string(&mut self, decode: bool) -> Option<String> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let stop = rest.find(|c: char| c == '"' || c == '\\' || c < ' ')?;
            if decode {
                out.push_str(&rest[..stop]);
            }
            self.pos += stop;
            match self.bytes[self.pos] {
                b'"' => {
                    self.pos += 1;
                    return Some(out);
                }
                b'\\' => {
                    self.pos += 1;
                    let esc = *self.bytes.get(self.pos)?;
                    self.pos += 1;
                    let c = match esc {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    };
                    if decode {
                        out.push(c);
                    }
                }
                _ => return None,
            }
        }
    }

    fn hex4(&self, at: usize) -> Option<u32> {
        let digits = self.text.get(at..at + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u32::from_str_radix(digits, 16).ok()
    }

    /// Decodes the rest of a `\uXXXX` escape (the position is after `u`),
    /// pairing surrogates as Go does.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4(self.pos)?;
        self.pos += 4;
        if !(0xD800..0xE000).contains(&first) {
            return char::from_u32(first);
        }
        let second = if self.text[self.pos..].starts_with("\\u") {
            self.hex4(self.pos + 2)
        } else {
            None
        };
        match second {
            Some(second)
                if (0xD800..0xDC00).contains(&first) && (0xDC00..0xE000).contains(&second) =>
            {
                self.pos += 6;
                char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
            }
            _ => Some('\u{FFFD}'),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: &[&str]) -> JsonForm {
        JsonForm::Strings(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn array_of_strings_is_decoded_with_go_escapes() {
        assert_eq!(parse_json_array(r#"[ "a", "b" ]"#), strings(&["a", "b"]));
        assert_eq!(parse_json_array("[]"), strings(&[]));
        assert_eq!(
            parse_json_array(r#"["\" \\ \/ \b \f \n \r \t \u0000 \u00e9"]"#),
            strings(&["\" \\ / \u{8} \u{c} \n \r \t \u{0} é"])
        );
        assert_eq!(parse_json_array(r#"["\ud83d\ude00"]"#), strings(&["😀"]));
    }

    #[test]
    fn lone_surrogate_escape_becomes_replacement_character() {
        assert_eq!(
            parse_json_array(r#"["\ud800x", "\udc00", "\ud800\u0041"]"#),
            strings(&["\u{FFFD}x", "\u{FFFD}", "\u{FFFD}A"])
        );
    }

    #[test]
    fn syntax_errors_mean_shell_form() {
        for text in [
            "['a']",
            r#"["a",]"#,
            r#"["a"] x"#,
            r#"["a""#,
            r#"["a"#,
            r#"["\x"]"#,
            "[\"a\tb\"]",
            r#"[01]"#,
            r#"[1.]"#,
            r#"[tru]"#,
            r#"[{"a"}]"#,
            "[\u{a0}\"a\"]",
            "",
            "x",
        ] {
            assert_eq!(parse_json_array(text), JsonForm::NotJson, "{text}");
        }
    }

    #[test]
    fn valid_array_with_non_string_element_is_rejected() {
        for text in [
            r#"[ "echo", [ "nested json" ] ]"#,
            "[1]",
            "[null]",
            "[true, \"a\"]",
            r#"[{"a": [1, {}]}]"#,
            "[-0.5e+3]",
        ] {
            assert_eq!(parse_json_array(text), JsonForm::NonString, "{text}");
        }
    }

    #[test]
    fn float64_overflow_is_a_decode_error_not_a_type_error() {
        assert_eq!(parse_json_array("[1e999]"), JsonForm::NotJson);
        assert_eq!(parse_json_array(r#"["a", [1e400]]"#), JsonForm::NotJson);
        assert_eq!(parse_json_array("[1e-999]"), JsonForm::NonString);
    }

    #[test]
    fn nesting_is_bounded_without_recursion() {
        let deep = "[".repeat(200_000);
        assert_eq!(parse_json_array(&deep), JsonForm::NotJson);
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(parse_json_array(&ok), JsonForm::NonString);
        let too_deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(parse_json_array(&too_deep), JsonForm::NotJson);
    }
}
