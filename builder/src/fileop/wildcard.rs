//! Go's `filepath.Match` on `/`-separated paths, and the wildcard
//! resolution COPY/ADD use (fsutil's `ResolveWildcards`): the path is split
//! at its first component holding a wildcard; the fixed part names a
//! directory, and every entry below it whose relative path matches the rest
//! is a source. A directory that matches is taken whole (not descended).
//!
//! Hand-written because the semantics must be Go's exactly (`*` never
//! crosses `/`, `[^a]` negates, `\` escapes), which `glob`-style crates do
//! not promise.

use std::fs;
use std::path::Path;

/// A malformed pattern (unterminated `[`, trailing `\`, bad range).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern {0:?}")]
pub struct BadPattern(pub String);

/// True if `s` contains an unescaped `*`, `?` or `[`.
pub fn contains_wildcards(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// `filepath.Match(pattern, name)` with `/` as the separator.
pub fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let bad = || BadPattern(pattern.to_string());
    let mut pat: &str = pattern;
    let mut name: &str = name;
    'outer: while !pat.is_empty() {
        let (star, chunk, rest) = scan_chunk(pat);
        pat = rest;
        if star && chunk.is_empty() {
            // Trailing `*` matches the rest unless it holds a separator.
            return Ok(!name.contains('/'));
        }
        // Try to match the chunk right here; as the last chunk it must
        // consume the whole name.
        match match_chunk(chunk, name) {
            Ok(Some(t)) if t.is_empty() || !pat.is_empty() => {
                name = t;
                continue;
            }
            Ok(_) => {}
            Err(()) => return Err(bad()),
        }
        if star {
            // Let `*` swallow characters up to a separator and retry.
            let mut i = 0;
            while i < name.len() && name.as_bytes()[i] != b'/' {
                i += name[i..].chars().next().map_or(1, char::len_utf8);
                if let Some(t) = match_chunk(chunk, &name[i..]).map_err(|_| bad())? {
                    if pat.is_empty() && !t.is_empty() {
                        continue;
                    }
                    name = t;
                    continue 'outer;
                }
            }
        }
        // Go checks the rest of the pattern for syntax before failing.
        while !pat.is_empty() {
            let (_, chunk, rest) = scan_chunk(pat);
            pat = rest;
            match_chunk(chunk, "").map_err(|_| bad())?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// Splits off the next chunk: leading stars, then text up to the next
/// unescaped, unbracketed `*`.
fn scan_chunk(mut pat: &str) -> (bool, &str, &str) {
    let mut star = false;
    while let Some(rest) = pat.strip_prefix('*') {
        pat = rest;
        star = true;
    }
    let b = pat.as_bytes();
    let mut in_range = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' if i + 1 < b.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pat[..i], &pat[i..])
}

/// Matches `chunk` (no `*`) at the start of `s`; returns the rest of `s`.
fn match_chunk<'s>(chunk: &str, s: &'s str) -> Result<Option<&'s str>, ()> {
    let mut chunk = chunk;
    let mut s = s;
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        let c0 = chunk.as_bytes()[0];
        match c0 {
            b'[' => {
                let mut r = None;
                if !failed {
                    let ch = s.chars().next().ok_or(())?;
                    s = &s[ch.len_utf8()..];
                    r = Some(ch);
                }
                chunk = &chunk[1..];
                let negated = chunk.starts_with('^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut n = 0;
                loop {
                    if !chunk.is_empty() && chunk.as_bytes()[0] == b']' && n > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.starts_with('-') {
                        let (h, rest) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if let Some(r) = r
                        && lo <= r
                        && r <= hi
                    {
                        matched = true;
                    }
                    n += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    match s.chars().next() {
                        Some('/') | None => failed = true,
                        Some(c) => s = &s[c.len_utf8()..],
                    }
                }
                chunk = &chunk[1..];
            }
            _ => {
                // `\x` matches `x` like a plain `x` does.
                if c0 == b'\\' {
                    chunk = &chunk[1..];
                }
                let c = chunk.chars().next().ok_or(())?;
                if !failed {
                    if s.starts_with(c) {
                        s = &s[c.len_utf8()..];
                    } else {
                        failed = true;
                    }
                }
                chunk = &chunk[c.len_utf8()..];
            }
        }
    }
    Ok(if failed { None } else { Some(s) })
}

/// One possibly escaped character of a `[...]` class.
fn get_esc(chunk: &str) -> Result<(char, &str), ()> {
    let mut chunk = chunk;
    let first = chunk.chars().next().ok_or(())?;
    if first == '-' || first == ']' {
        return Err(());
    }
    if first == '\\' {
        chunk = &chunk[1..];
    }
    let c = chunk.chars().next().ok_or(())?;
    let rest = &chunk[c.len_utf8()..];
    if rest.is_empty() {
        return Err(());
    }
    Ok((c, rest))
}

/// Splits `path` at its first component holding a wildcard.
pub fn split_at_wildcard(path: &str) -> (String, String) {
    let mut fixed = Vec::new();
    let mut wild = Vec::new();
    for comp in path.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if wild.is_empty() && !contains_wildcards(comp) {
            fixed.push(comp);
        } else {
            wild.push(comp);
        }
    }
    (fixed.join("/"), wild.join("/"))
}

/// The paths below `root` that `pattern` (relative, `/`-separated) names,
/// sorted, relative to `root`. The fixed prefix is looked up as written
/// (the caller resolves symlinks in it when it must).
pub fn resolve(root: &Path, pattern: &str) -> Result<Vec<String>, WildcardError> {
    let (fixed, wild) = split_at_wildcard(pattern);
    if wild.is_empty() {
        return Ok(vec![fixed]);
    }
    // Validate the pattern before walking.
    matches(&wild, "").map_err(WildcardError::Pattern)?;
    let base = if fixed.is_empty() {
        root.to_path_buf()
    } else {
        root.join(&fixed)
    };
    let mut out = Vec::new();
    let depth = wild.split('/').count();
    walk(&base, "", depth, &wild, &mut out)?;
    out.sort();
    Ok(out
        .into_iter()
        .map(|m| {
            if fixed.is_empty() {
                m
            } else {
                format!("{fixed}/{m}")
            }
        })
        .collect())
}

fn walk(
    dir: &Path,
    rel: &str,
    depth: usize,
    pat: &str,
    out: &mut Vec<String>,
) -> Result<(), WildcardError> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(()),
        Err(source) => {
            return Err(WildcardError::Io {
                path: dir.display().to_string(),
                source,
            });
        }
    };
    let mut names: Vec<_> = rd.filter_map(|e| e.ok()).collect();
    names.sort_by_key(|e| e.file_name());
    for e in names {
        let Some(name) = e.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let child = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        if matches(pat, &child).map_err(WildcardError::Pattern)? {
            out.push(child);
            continue;
        }
        let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
        if is_dir && child.split('/').count() < depth {
            walk(&e.path(), &child, depth, pat, out)?;
        }
    }
    Ok(())
}

/// Failure while resolving a wildcard source.
#[derive(Debug, thiserror::Error)]
pub enum WildcardError {
    #[error(transparent)]
    Pattern(BadPattern),
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_wildcards_ignores_escaped_wildcards() {
        for yes in ["*.txt", "a?", "[ab]", "dir/*/x", "\\\\*", "é*"] {
            assert!(contains_wildcards(yes), "{yes:?}");
        }
        for no in ["", "a.txt", "\\*", "a\\?b", "\\[x]", "\\é", "dir/sub"] {
            assert!(!contains_wildcards(no), "{no:?}");
        }
    }

    #[test]
    fn go_filepath_match_table() {
        // Cases from Go's path/filepath match tests (facts, rewritten).
        let cases: &[(&str, &str, Result<bool, ()>)] = &[
            ("abc", "abc", Ok(true)),
            ("*", "abc", Ok(true)),
            ("*c", "abc", Ok(true)),
            ("a*", "a", Ok(true)),
            ("a*", "abc", Ok(true)),
            ("a*", "ab/c", Ok(false)),
            ("a*/b", "abc/b", Ok(true)),
            ("a*/b", "a/c/b", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Ok(true)),
            ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Ok(false)),
            ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Ok(false)),
            ("a*b?c*x", "abxbbxdbxebxczzx", Ok(true)),
            ("a*b?c*x", "abxbbxdbxebxczzy", Ok(false)),
            ("ab[c]", "abc", Ok(true)),
            ("ab[b-d]", "abc", Ok(true)),
            ("ab[e-g]", "abc", Ok(false)),
            ("ab[^c]", "abc", Ok(false)),
            ("ab[^b-d]", "abc", Ok(false)),
            ("ab[^e-g]", "abc", Ok(true)),
            ("a\\*b", "a*b", Ok(true)),
            ("a\\*b", "ab", Ok(false)),
            ("a?b", "a☺b", Ok(true)),
            ("a[^a]b", "a☺b", Ok(true)),
            ("a???b", "a☺b", Ok(false)),
            ("a[^a][^a][^a]b", "a☺b", Ok(false)),
            ("[a-ζ]*", "α", Ok(true)),
            ("*[a-ζ]", "A", Ok(false)),
            ("a?b", "a/b", Ok(false)),
            ("a*b", "a/b", Ok(false)),
            ("[\\]a]", "]", Ok(true)),
            ("[\\-]", "-", Ok(true)),
            ("[x\\-]", "x", Ok(true)),
            ("[x\\-]", "-", Ok(true)),
            ("[x\\-]", "z", Ok(false)),
            ("[\\-x]", "x", Ok(true)),
            ("[\\-x]", "a", Ok(false)),
            ("[]a]", "]", Err(())),
            ("[-]", "-", Err(())),
            ("[x-]", "x", Err(())),
            ("[-x]", "x", Err(())),
            ("\\", "a", Err(())),
            ("[a-b-c]", "a", Err(())),
            ("[", "a", Err(())),
            ("[^", "a", Err(())),
            ("[^bc", "a", Err(())),
            ("a[", "a", Err(())),
            ("a[", "ab", Err(())),
            ("*x", "xxx", Ok(true)),
        ];
        for (p, n, want) in cases {
            let got = matches(p, n).map_err(|_| ());
            assert_eq!(&got, want, "match({p:?}, {n:?})");
        }
    }

    #[test]
    fn resolve_matches_across_components_and_takes_dirs_whole() {
        let d = tempfile::tempdir().unwrap();
        for p in [
            "src/a.txt",
            "src/b.txt",
            "src/c.md",
            "src/sub/d.txt",
            "other/e.txt",
        ] {
            let p = d.path().join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, "x").unwrap();
        }
        assert_eq!(
            resolve(d.path(), "src/*.txt").unwrap(),
            ["src/a.txt", "src/b.txt"]
        );
        assert_eq!(resolve(d.path(), "*/e.txt").unwrap(), ["other/e.txt"]);
        assert_eq!(resolve(d.path(), "s*").unwrap(), ["src"]);
        assert_eq!(resolve(d.path(), "src/*/d.txt").unwrap(), ["src/sub/d.txt"]);
        assert!(resolve(d.path(), "nomatch*").unwrap().is_empty());
        assert_eq!(resolve(d.path(), "src/a.txt").unwrap(), ["src/a.txt"]);
        assert!(resolve(d.path(), "src/[").is_err());
    }
}
