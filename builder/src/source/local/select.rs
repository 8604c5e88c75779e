//! Resolving a COPY/ADD source (`.`, `src/`, `*.txt`, `a/b/c.json`) against the context
//! listing, with BuildKit's rules:
//! - An absolute source is taken relative to the context root (`/a` is `a`); a source that
//!   leaves the root lexically (`../x`, `a/../../x`) is an error.
//! - A source whose parent path goes through a symlink is an error (we never follow
//!   symlinks out of, or around inside, the context); a source that *is* a symlink is
//!   selected as the symlink.
//! - Wildcards follow Go's `path.Match` (`*` and `?` stop at `/`, `[...]` with `^`
//!   negation, `\` escapes); a wildcard matching nothing is an error, like Docker's
//!   "no source files were specified". A missing plain source is "… not found".
//! - Ignored paths do not exist for COPY.
//! - `COPY --exclude` rules ([`SelectOptions::exclude`]) match paths relative to each
//!   selected directory, and the names of a wildcard's matches.

use regex::Regex;

use super::dockerignore::Patterns;
use super::pattern::{check_match_syntax, go_clean, go_regex_to_rust};
use super::{Context, ContextError, EntryKind, SelectOptions, Selection};
use crate::fileop::wildcard::contains_wildcards;

impl Context {
    /// The entries a COPY/ADD source selects: each matched path (a "root") with everything
    /// below it when it is a directory, in listing order. `.` selects the whole context.
    pub fn select(&self, source: &str, opts: &SelectOptions) -> Result<Selection, ContextError> {
        let path = clean_source(source)?;
        let wildcard = contains_wildcards(&path);
        let roots: Vec<usize> = if path == "." {
            Vec::new()
        } else if wildcard {
            self.check_literal_parents(source, &path)?;
            let re = compile_source_glob(source, &path)?;
            let depth = path.split('/').count();
            let matched: Vec<usize> = self
                .entries
                .iter()
                .enumerate()
                .filter(|(_, e)| e.rel_path.split('/').count() == depth && re.is_match(&e.rel_path))
                .map(|(i, _)| i)
                .collect();
            if matched.is_empty() {
                return Err(ContextError::NoSourceFiles {
                    pattern: source.to_string(),
                });
            }
            matched
        } else {
            let literal = unescape(&path);
            vec![self.lookup(source, &literal)?]
        };

        let mut selection = Selection {
            source: source.to_string(),
            roots: Vec::new(),
            entries: Vec::new(),
        };
        if roots.is_empty() {
            selection.roots.push(".".to_string());
            for entry in &self.entries {
                if !excluded_below(opts.exclude.as_ref(), "", &entry.rel_path) {
                    selection.entries.push(entry.clone());
                }
            }
            return Ok(selection);
        }
        for root in roots {
            let root_entry = &self.entries[root];
            let root_path = root_entry.rel_path.as_str();
            // `COPY --exclude=*.txt hom* /dst/` leaves out `home.txt`: a wildcard's matches
            // are filtered by name too (Dockerfile reference), a literal source is not.
            let name = root_path.rsplit('/').next().unwrap_or(root_path);
            if wildcard && excluded_below(opts.exclude.as_ref(), "", name) {
                continue;
            }
            selection.roots.push(root_path.to_string());
            selection.entries.push(root_entry.clone());
            if root_entry.kind != EntryKind::Dir {
                continue;
            }
            let prefix = format!("{root_path}/");
            for entry in self.entries[root + 1..]
                .iter()
                .take_while(|e| e.rel_path.starts_with(&prefix))
            {
                if !excluded_below(opts.exclude.as_ref(), &prefix, &entry.rel_path) {
                    selection.entries.push(entry.clone());
                }
            }
        }
        if selection.roots.is_empty() {
            return Err(ContextError::NoSourceFiles {
                pattern: source.to_string(),
            });
        }
        Ok(selection)
    }

    /// Finds a literal path, checking that no parent is a symlink or a non-directory.
    fn lookup(&self, source: &str, path: &str) -> Result<usize, ContextError> {
        self.check_parents(source, path, path.split('/').count() - 1)?;
        self.index
            .get(path)
            .copied()
            .ok_or_else(|| ContextError::NotFound {
                path: source.to_string(),
            })
    }

    /// For a wildcard source: checks the literal directories before the first wildcard.
    fn check_literal_parents(&self, source: &str, path: &str) -> Result<(), ContextError> {
        let literal_parts = path
            .split('/')
            .take_while(|part| !contains_wildcards(part))
            .count();
        let literal = unescape(path);
        self.check_parents(source, &literal, literal_parts)
    }

    /// The first `count` components of `path` must be listed directories.
    fn check_parents(&self, source: &str, path: &str, count: usize) -> Result<(), ContextError> {
        let mut end = 0;
        for part in path.split('/').take(count) {
            end += part.len();
            let parent = &path[..end];
            end += 1;
            match self.index.get(parent).map(|&i| &self.entries[i].kind) {
                Some(EntryKind::Dir) => {}
                Some(EntryKind::Symlink { .. }) => {
                    return Err(ContextError::ThroughSymlink {
                        path: source.to_string(),
                        symlink: parent.to_string(),
                    });
                }
                _ => {
                    return Err(ContextError::NotFound {
                        path: source.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Whether a `COPY --exclude` rule removes `path` (relative to the context) when the
/// selected root is `prefix` (empty, or a directory path ending in `/`).
fn excluded_below(exclude: Option<&Patterns>, prefix: &str, path: &str) -> bool {
    exclude.is_some_and(|patterns| {
        path.strip_prefix(prefix)
            .is_some_and(|rel| patterns.is_excluded(rel))
    })
}

/// Normalises a source to a clean context-relative path or `.`.
fn clean_source(source: &str) -> Result<String, ContextError> {
    let rooted = source.starts_with('/');
    let cleaned = go_clean(source);
    if !rooted && (cleaned == ".." || cleaned.starts_with("../")) {
        return Err(ContextError::EscapesContext {
            path: source.to_string(),
        });
    }
    Ok(match cleaned.strip_prefix('/') {
        Some("") => ".".to_string(),
        Some(rest) => rest.to_string(),
        None => cleaned,
    })
}

/// Removes glob escapes from a literal path (`a\*b` names the file `a*b`).
fn unescape(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            _ => out.push(c),
        }
    }
    out
}

/// Compiles a source wildcard with Go `path.Match` semantics into a regex.
fn compile_source_glob(source: &str, path: &str) -> Result<Regex, ContextError> {
    let invalid = |reason: String| ContextError::InvalidSource {
        pattern: source.to_string(),
        reason,
    };
    check_match_syntax(path).map_err(|r| invalid(r.to_string()))?;
    let mut re = String::from("^");
    let mut chars = path.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => {
                if let Some(next) = chars.next() {
                    re.push_str(&regex::escape(&next.to_string()));
                }
            }
            '[' => {
                re.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    re.push('^');
                }
                while let Some(c) = chars.next() {
                    match c {
                        ']' => break,
                        '-' => re.push('-'),
                        '\\' => {
                            if let Some(next) = chars.next() {
                                re.push_str(&regex::escape(&next.to_string()));
                            }
                        }
                        other => re.push_str(&regex::escape(&other.to_string())),
                    }
                }
                re.push(']');
            }
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push('$');
    Regex::new(&go_regex_to_rust(&re)).map_err(|e| invalid(e.to_string()))
}
