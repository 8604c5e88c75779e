//! Small text helpers of the conversion: Go's `path.Clean`/`path.Join` for
//! image paths, Go's `%q` and `%v` formatting that BuildKit's history
//! strings use, and progress names (`[build 2/5] RUN make`).

use std::collections::BTreeMap;

/// Go's `path.Clean`: removes `.`, resolves `..`, collapses `//`; an
/// absolute path never climbs above `/`; an empty result is `.`.
pub(crate) fn clean_path(p: &str) -> String {
    let absolute = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|l| *l != "..") {
                    parts.pop();
                } else if !absolute {
                    parts.push("..");
                }
            }
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (absolute, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// `p` made absolute against `dir` (an absolute directory) and cleaned.
pub(crate) fn resolve_path(dir: &str, p: &str) -> String {
    if p.starts_with('/') {
        clean_path(p)
    } else {
        clean_path(&format!("{}/{p}", if dir.is_empty() { "/" } else { dir }))
    }
}

/// A COPY/ADD destination made absolute against the workdir; a trailing
/// `/` (or a dest of `.`, `` or ending in `/.`) is kept as a trailing `/`.
pub(crate) fn resolve_dest(workdir: &str, dest: &str) -> String {
    let is_dir = dest.is_empty() || dest == "." || dest.ends_with('/') || dest.ends_with("/.");
    let abs = resolve_path(workdir, if dest.is_empty() { "." } else { dest });
    if is_dir && !abs.ends_with('/') {
        format!("{abs}/")
    } else {
        abs
    }
}

/// Go's `strconv.Quote`.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32))
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32))
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `%q` of a `[]string`: `["a" "b"]`.
pub(crate) fn go_quote_list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", quoted.join(" "))
}

/// Go's `%v` of a `[]string`: `[a b]`.
pub(crate) fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Go's `%v` of a `map[string]struct{}`: `map[80/tcp:{} 81/tcp:{}]`
/// (keys sorted, as `fmt` prints maps).
pub(crate) fn go_set(keys: &BTreeMap<String, ()>) -> String {
    let items: Vec<String> = keys.keys().map(|k| format!("{k}:{{}}")).collect();
    format!("map[{}]", items.join(" "))
}

/// Go's `%q` of an integer: a quoted character literal (`'\x03'`).
pub(crate) fn go_quote_rune(n: u32) -> String {
    let Some(c) = char::from_u32(n) else {
        return "'\u{fffd}'".to_string();
    };
    let inner = match c {
        '\'' => "\\'".to_string(),
        '"' => "\"".to_string(),
        c => {
            let q = go_quote(&c.to_string());
            q[1..q.len() - 1].to_string()
        }
    };
    format!("'{inner}'")
}

/// The progress-name prefix `[<stage> <i>/<n>] ` (index padded to the width
/// of `n`), or nothing when the stage counts no steps.
pub(crate) fn step_prefix(stage: Option<&str>, index: usize, total: usize) -> String {
    if total == 0 {
        return String::new();
    }
    let width = total.to_string().len();
    match stage {
        Some(s) => format!("[{s} {index:>width$}/{total}] "),
        None => format!("[{index:>width$}/{total}] "),
    }
}

/// Upper-cases the first word (the keyword) of an instruction's text.
pub(crate) fn uppercase_keyword(text: &str) -> String {
    match text.split_once(char::is_whitespace) {
        Some((k, rest)) => format!("{} {rest}", k.to_uppercase()),
        None => text.to_uppercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_path_behaves_like_go() {
        assert_eq!(clean_path("/a/./b/../c//d/"), "/a/c/d");
        assert_eq!(clean_path("/../x"), "/x");
        assert_eq!(clean_path(""), ".");
        assert_eq!(clean_path("a/../.."), "..");
        assert_eq!(clean_path("/"), "/");
    }

    #[test]
    fn resolve_dest_keeps_directory_marker() {
        assert_eq!(resolve_dest("/app", "."), "/app/");
        assert_eq!(resolve_dest("/app", ""), "/app/");
        assert_eq!(resolve_dest("/app", "sub/"), "/app/sub/");
        assert_eq!(resolve_dest("/app", "f"), "/app/f");
        assert_eq!(resolve_dest("", "/x/."), "/x/");
        assert_eq!(resolve_dest("/", "./"), "/");
    }

    #[test]
    fn go_quote_escapes_like_strconv_quote() {
        assert_eq!(go_quote("a \"b\"\n\\"), r#""a \"b\"\n\\""#);
        assert_eq!(go_quote("\x01é"), "\"\\x01é\"");
        assert_eq!(
            go_quote_list(&["/bin/sh".into(), "-c".into()]),
            r#"["/bin/sh" "-c"]"#
        );
        assert_eq!(go_quote_rune(3), r"'\x03'");
        assert_eq!(go_quote_rune(0), r"'\x00'");
        assert_eq!(go_quote_rune(65), "'A'");
    }

    #[test]
    fn step_prefix_pads_the_index() {
        assert_eq!(step_prefix(Some("build"), 2, 12), "[build  2/12] ");
        assert_eq!(step_prefix(None, 1, 3), "[1/3] ");
        assert_eq!(step_prefix(None, 1, 0), "");
    }
}
