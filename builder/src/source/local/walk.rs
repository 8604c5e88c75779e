//! Listing the build context: every entry under the root minus what `.dockerignore`
//! excludes, in depth-first order with siblings sorted by name (so a directory's
//! descendants follow it directly). Only `lstat` and `readdir`: symlinks are listed, never
//! followed; nothing is opened.
//!
//! Excluded directories are skipped whole unless an exception (`!rule`) could re-include
//! something below them; then the walk descends and lists the directory only if something
//! inside it is kept (as Docker sends the parents of re-included files).

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rayon::prelude::*;

use super::dockerignore::{MatchState, Patterns};
use super::stat_cache::StatIdentity;
use super::{ContextError, Entry, EntryKind};

/// Lists the context under `root` (which must be a directory) without ignored entries.
/// Sibling directories are walked in parallel (rayon); the order stays deterministic.
pub fn list_context(root: &Path, patterns: &Patterns) -> Result<Vec<Entry>, ContextError> {
    walk_dir(patterns, root, "", &MatchState::default())
}

/// What to do with one child of a directory once its rules are evaluated.
enum Visit {
    /// A kept file, symlink or special file.
    Leaf(Entry),
    /// A kept directory: list it, then its contents.
    Dir(Entry, MatchState),
    /// An excluded directory an exception may reach: list it only if something below is.
    Reinclude(Entry, MatchState),
}

/// The listing of one directory's subtree, in listing order.
fn walk_dir(
    patterns: &Patterns,
    abs_dir: &Path,
    rel_dir: &str,
    dir_state: &MatchState,
) -> Result<Vec<Entry>, ContextError> {
    let io_err = |source| ContextError::Io {
        path: abs_dir.to_path_buf(),
        source,
    };
    let mut children = Vec::new();
    for dirent in std::fs::read_dir(abs_dir).map_err(io_err)? {
        let dirent = dirent.map_err(io_err)?;
        let Ok(name) = dirent.file_name().into_string() else {
            return Err(ContextError::NonUtf8Name {
                path: dirent.path(),
            });
        };
        // `DirEntry::metadata` is an `fstatat` relative to the open directory that does
        // not follow symlinks: an `lstat` without resolving the path again.
        let meta = dirent.metadata().map_err(|source| ContextError::Io {
            path: dirent.path(),
            source,
        })?;
        children.push((name, meta));
    }
    children.sort_unstable_by(|a, b| a.0.cmp(&b.0));

    let mut visits = Vec::with_capacity(children.len());
    for (name, meta) in children {
        let abs = abs_dir.join(&name);
        let rel = if rel_dir.is_empty() {
            name
        } else {
            format!("{rel_dir}/{name}")
        };
        let state = patterns.state_for(&rel, dir_state);
        let excluded = state.excluded(patterns);
        if meta.is_dir() {
            if !excluded {
                visits.push(Visit::Dir(entry_for(&abs, rel, &meta)?, state));
            } else if patterns.may_reinclude_below(&rel) {
                visits.push(Visit::Reinclude(entry_for(&abs, rel, &meta)?, state));
            }
        } else if !excluded {
            visits.push(Visit::Leaf(entry_for(&abs, rel, &meta)?));
        }
    }

    let subtrees: Vec<Vec<Entry>> = visits
        .par_iter()
        .map(|visit| match visit {
            Visit::Leaf(_) => Ok(Vec::new()),
            Visit::Dir(dir, state) | Visit::Reinclude(dir, state) => walk_dir(
                patterns,
                &abs_dir.join(file_name(dir)),
                &dir.rel_path,
                state,
            ),
        })
        .collect::<Result<_, _>>()?;

    let mut listing = Vec::new();
    for (visit, subtree) in visits.into_iter().zip(subtrees) {
        match visit {
            Visit::Leaf(entry) => listing.push(entry),
            Visit::Dir(entry, _) => {
                listing.push(entry);
                listing.extend(subtree);
            }
            Visit::Reinclude(entry, _) => {
                if !subtree.is_empty() {
                    listing.push(entry);
                    listing.extend(subtree);
                }
            }
        }
    }
    Ok(listing)
}

/// The last component of an entry's path.
fn file_name(entry: &Entry) -> &str {
    entry
        .rel_path
        .rsplit_once('/')
        .map_or(entry.rel_path.as_str(), |(_, name)| name)
}

/// The listing entry for one path, from its `lstat` result.
pub fn entry_for(abs: &Path, rel_path: String, meta: &Metadata) -> Result<Entry, ContextError> {
    let file_type = meta.file_type();
    let kind = if file_type.is_file() {
        EntryKind::File
    } else if file_type.is_dir() {
        EntryKind::Dir
    } else if file_type.is_symlink() {
        let target = std::fs::read_link(abs).map_err(|source| ContextError::Io {
            path: abs.to_path_buf(),
            source,
        })?;
        EntryKind::Symlink { target }
    } else {
        EntryKind::Other {
            file_type: meta.mode() & libc::S_IFMT,
            rdev: meta.rdev(),
        }
    };
    Ok(Entry {
        rel_path,
        kind,
        mode: meta.mode() & 0o7777,
        size: meta.len(),
        stat: StatIdentity::of(meta),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn context(files: &[&str]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for f in files {
            let p = dir.path().join(f);
            if let Some(d) = f.strip_suffix('/') {
                fs::create_dir_all(dir.path().join(d)).unwrap();
            } else {
                fs::create_dir_all(p.parent().unwrap()).unwrap();
                fs::write(p, f.as_bytes()).unwrap();
            }
        }
        dir
    }

    fn listed(dir: &Path, ignore: &str) -> Vec<String> {
        let patterns = Patterns::parse(ignore).unwrap();
        list_context(dir, &patterns)
            .unwrap()
            .into_iter()
            .map(|e| e.rel_path)
            .collect()
    }

    #[test]
    fn listing_is_depth_first_with_sorted_siblings() {
        let dir = context(&["b.txt", "a/z", "a/b/c", "a.txt", "empty/"]);
        assert_eq!(
            listed(dir.path(), ""),
            ["a", "a/b", "a/b/c", "a/z", "a.txt", "b.txt", "empty"]
        );
    }

    #[test]
    fn exception_reincludes_a_file_inside_an_excluded_dir() {
        let dir = context(&["docs/keep.md", "docs/drop.md", "docs/sub/x", "src/main.rs"]);
        assert_eq!(
            listed(dir.path(), "docs\n!docs/keep.md\n"),
            ["docs", "docs/keep.md", "src", "src/main.rs"]
        );
    }

    #[test]
    fn star_then_exception_keeps_the_excepted_tree() {
        let dir = context(&[
            "src/main.rs",
            "src/lib/x.rs",
            "target/debug/app",
            "README.md",
        ]);
        assert_eq!(
            listed(dir.path(), "*\n!src\n"),
            ["src", "src/lib", "src/lib/x.rs", "src/main.rs"]
        );
    }

    #[test]
    fn excluded_dir_with_no_reachable_exception_is_not_listed() {
        let dir = context(&["node_modules/a/b.js", "keep/x", "app.js"]);
        assert_eq!(
            listed(dir.path(), "node_modules\n!keep/x\n"),
            ["app.js", "keep", "keep/x"]
        );
    }

    #[test]
    fn excluded_dir_is_listed_only_when_something_inside_is_kept() {
        let dir = context(&["docs/a.md", "docs/b.txt"]);
        assert_eq!(
            listed(dir.path(), "docs\n!docs/*.rs\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            listed(dir.path(), "docs\n!docs/*.txt\n"),
            ["docs", "docs/b.txt"]
        );
    }

    #[test]
    fn later_exclusion_beats_earlier_exception() {
        let dir = context(&["docs/keep.md", "docs/other.md"]);
        assert_eq!(
            listed(dir.path(), "docs\n!docs/keep.md\ndocs/keep.md\n"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn double_star_exception_reaches_deep_files() {
        let dir = context(&["a/b/c/keep.txt", "a/b/c/drop.bin", "a/x.txt"]);
        assert_eq!(
            listed(dir.path(), "a\n!**/*.txt\n"),
            ["a", "a/b", "a/b/c", "a/b/c/keep.txt", "a/x.txt"]
        );
    }

    #[test]
    fn excluded_dir_without_reachable_exception_is_never_read() {
        // A name the walk rejects, inside the excluded dir: only a walk that descends fails.
        use std::os::unix::ffi::OsStrExt;
        let dir = context(&["node_modules/", "app.js"]);
        let bad = std::ffi::OsStr::from_bytes(b"bad\xffname");
        fs::write(dir.path().join("node_modules").join(bad), b"x").unwrap();
        assert_eq!(listed(dir.path(), "node_modules\n!app.js\n"), ["app.js"]);
        let descends = Patterns::parse("node_modules\n!node_modules/keep\n").unwrap();
        assert!(list_context(dir.path(), &descends).is_err());
    }

    #[test]
    fn symlinks_are_listed_not_followed() {
        let dir = context(&["real/file"]);
        std::os::unix::fs::symlink("real", dir.path().join("link")).unwrap();
        let entries = list_context(dir.path(), &Patterns::default()).unwrap();
        let link = entries.iter().find(|e| e.rel_path == "link").unwrap();
        assert_eq!(
            link.kind,
            EntryKind::Symlink {
                target: "real".into()
            }
        );
        assert!(!entries.iter().any(|e| e.rel_path == "link/file"));
    }
}
