//! Go's `strconv.Quote`, which BuildKit's parse-tree dump uses for every
//! flag and argument.
//!
//! `"` and `\` are escaped; printable characters (Go's `unicode.IsPrint`:
//! letters, marks, numbers, punctuation, symbols and the ASCII space) stay
//! as they are; `\a \b \f \n \r \t \v` get their short escapes; other ASCII
//! controls and DEL become `\xNN`; anything else non-printable becomes
//! `\uNNNN` or `\UNNNNNNNN` (lower-case hex). The Unicode tables are those of
//! the `unicode-general-category` crate, which may be a Unicode version
//! newer than the Go release BuildKit was built with; only characters
//! assigned in between could be quoted differently.

use std::fmt::Write;

use unicode_general_category::{GeneralCategory, get_general_category};

/// Go's `unicode.IsPrint` (and `strconv.IsPrint`).
pub(crate) fn is_go_print(c: char) -> bool {
    let u = c as u32;
    if u < 0x100 {
        return (0x20..=0x7e).contains(&u) || ((0xa1..=0xff).contains(&u) && u != 0xad);
    }
    use GeneralCategory as G;
    matches!(
        get_general_category(c),
        G::UppercaseLetter
            | G::LowercaseLetter
            | G::TitlecaseLetter
            | G::ModifierLetter
            | G::OtherLetter
            | G::NonspacingMark
            | G::SpacingMark
            | G::EnclosingMark
            | G::DecimalNumber
            | G::LetterNumber
            | G::OtherNumber
            | G::ConnectorPunctuation
            | G::DashPunctuation
            | G::OpenPunctuation
            | G::ClosePunctuation
            | G::InitialPunctuation
            | G::FinalPunctuation
            | G::OtherPunctuation
            | G::MathSymbol
            | G::CurrencySymbol
            | G::ModifierSymbol
            | G::OtherSymbol
    )
}

/// `s` quoted as Go's `strconv.Quote` does.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    push_go_quoted(&mut out, s);
    out
}

/// Appends `s` quoted as Go's `strconv.Quote` does.
pub(crate) fn push_go_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_go_print(c) => out.push(c),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_like_go() {
        assert_eq!(go_quote(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(
            go_quote("\u{7}\u{8}\u{c}\n\r\t\u{b}"),
            r#""\a\b\f\n\r\t\v""#
        );
        assert_eq!(go_quote("\0\u{1b}\u{7f}"), r#""\x00\x1b\x7f""#);
    }

    #[test]
    fn printable_unicode_stays_and_the_rest_is_escaped() {
        assert_eq!(go_quote("♥ é ☃ 한"), "\"♥ é ☃ 한\"");
        assert_eq!(go_quote("\u{a0}\u{ad}\u{85}"), r#""\u00a0\u00ad\u0085""#);
        assert_eq!(
            go_quote("\u{200b}\u{feff}\u{2028}"),
            r#""\u200b\ufeff\u2028""#
        );
        assert_eq!(go_quote("\u{e000}\u{10ffff}"), r#""\ue000\U0010ffff""#);
        assert_eq!(go_quote("😀"), "\"😀\"");
    }
}
