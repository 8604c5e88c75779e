//! Golden tests for `.dockerignore` matching: the cases of moby/patternmatcher's own test
//! tables (rewritten as data here) and the Docker-vs-gitignore table of
//! `shared/DEPENDENCIES.md` §4, the latter also through a real walk of a real directory.

use super::dockerignore::Patterns;
use super::walk::list_context;

/// How a single pattern relates to a path (patternmatcher's `exact`/`inexact`/`fail`):
/// `Exact` matches the path itself, `Parent` only through a parent directory.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Hit {
    Exact,
    Parent,
    Fail,
}
use Hit::*;

const SINGLE_PATTERN_CASES: &[(&str, &str, Hit)] = &[
    ("**", "file", Exact),
    ("**", "file/", Exact),
    ("**/", "file", Exact),
    ("**/", "file/", Exact),
    ("**", "/", Exact),
    ("**/", "/", Exact),
    ("**", "dir/file", Exact),
    ("**/", "dir/file", Exact),
    ("**", "dir/file/", Exact),
    ("**/", "dir/file/", Exact),
    ("**/**", "dir/file", Exact),
    ("**/**", "dir/file/", Exact),
    ("dir/**", "dir/file", Exact),
    ("dir/**", "dir/file/", Exact),
    ("dir/**", "dir/dir2/file", Exact),
    ("dir/**", "dir/dir2/file/", Exact),
    ("**/dir", "dir", Exact),
    ("**/dir", "dir/file", Parent),
    ("**/dir2/*", "dir/dir2/file", Exact),
    ("**/dir2/*", "dir/dir2/file/", Parent),
    ("**/dir2/**", "dir/dir2/dir3/file", Exact),
    ("**/dir2/**", "dir/dir2/dir3/file/", Exact),
    ("**file", "file", Exact),
    ("**file", "dir/file", Exact),
    ("**/file", "dir/file", Exact),
    ("**file", "dir/dir/file", Exact),
    ("**/file", "dir/dir/file", Exact),
    ("**/file*", "dir/dir/file", Exact),
    ("**/file*", "dir/dir/file.txt", Exact),
    ("**/file*txt", "dir/dir/file.txt", Exact),
    ("**/file*.txt", "dir/dir/file.txt", Exact),
    ("**/file*.txt*", "dir/dir/file.txt", Exact),
    ("**/**/*.txt", "dir/dir/file.txt", Exact),
    ("**/**/*.txt2", "dir/dir/file.txt", Fail),
    ("**/*.txt", "file.txt", Exact),
    ("**/**/*.txt", "file.txt", Exact),
    ("a**/*.txt", "a/file.txt", Exact),
    ("a**/*.txt", "a/dir/file.txt", Exact),
    ("a**/*.txt", "a/dir/dir/file.txt", Exact),
    ("a/*.txt", "a/dir/file.txt", Fail),
    ("a/*.txt", "a/file.txt", Exact),
    ("a/*.txt**", "a/file.txt", Exact),
    ("a[b-d]e", "ae", Fail),
    ("a[b-d]e", "ace", Exact),
    ("a[b-d]e", "aae", Fail),
    ("a[^b-d]e", "aze", Exact),
    (".*", ".foo", Exact),
    (".*", "foo", Fail),
    ("abc.def", "abcdef", Fail),
    ("abc.def", "abc.def", Exact),
    ("abc.def", "abcZdef", Fail),
    ("abc?def", "abcZdef", Exact),
    ("abc?def", "abcdef", Fail),
    ("**/foo/bar", "foo/bar", Exact),
    ("**/foo/bar", "dir/foo/bar", Exact),
    ("**/foo/bar", "dir/dir2/foo/bar", Exact),
    ("abc/**", "abc", Fail),
    ("abc/**", "abc/def", Exact),
    ("abc/**", "abc/def/ghi", Exact),
    ("**/.foo", ".foo", Exact),
    ("**/.foo", "bar.foo", Fail),
    ("a(b)c/def", "a(b)c/def", Exact),
    ("a(b)c/def", "a(b)c/xyz", Fail),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", Exact),
    (
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Exact,
    ),
    (
        "dist/*.whl",
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        Exact,
    ),
    (r"a\\", r"a\", Exact),
    (r"a\*b", "a*b", Exact),
];

const MULTI_PATTERN_CASES: &[(&[&str], &str, bool)] = &[
    (&["**", "!util/docker/web"], "util/docker/web/foo", false),
    (
        &["**", "!util/docker/web", "util/docker/web/foo"],
        "util/docker/web/foo",
        true,
    ),
    (
        &[
            "**",
            "!dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        ],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        false,
    ),
    (
        &["**", "!dist/*.whl"],
        "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl",
        false,
    ),
    (&["!fileutils.go", "*.go"], "fileutils.go", true),
    (&["*.go", "!fileutils.go"], "fileutils.go", false),
    (&["docs", "!docs/README.md"], "docs/README.md", false),
    (&["docs/", "!docs/README.md"], "docs/README.md", false),
    (&["docs/*", "!docs/README.md"], "docs/README.md", false),
    (&["*"], "fileutils.go", true),
    (&["*.go"], "fileutils.go", true),
    (&["*.go"], ".", false),
    (&[], "/any/path/there", false),
];

/// Go's `filepath.Match` cases as patternmatcher runs them: `Some(bool)` is the match
/// result, `None` a pattern syntax error.
const FILEPATH_MATCH_CASES: &[(&str, &str, Option<bool>)] = &[
    ("abc", "abc", Some(true)),
    ("*", "abc", Some(true)),
    ("*c", "abc", Some(true)),
    ("a*", "a", Some(true)),
    ("a*", "abc", Some(true)),
    ("a*", "ab/c", Some(true)),
    ("a*/b", "abc/b", Some(true)),
    ("a*/b", "a/c/b", Some(false)),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", Some(true)),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", Some(true)),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", Some(false)),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", Some(false)),
    ("a*b?c*x", "abxbbxdbxebxczzx", Some(true)),
    ("a*b?c*x", "abxbbxdbxebxczzy", Some(false)),
    ("ab[c]", "abc", Some(true)),
    ("ab[b-d]", "abc", Some(true)),
    ("ab[e-g]", "abc", Some(false)),
    ("ab[^c]", "abc", Some(false)),
    ("ab[^b-d]", "abc", Some(false)),
    ("ab[^e-g]", "abc", Some(true)),
    (r"a\*b", "a*b", Some(true)),
    (r"a\*b", "ab", Some(false)),
    ("a?b", "a☺b", Some(true)),
    ("a[^a]b", "a☺b", Some(true)),
    ("a???b", "a☺b", Some(false)),
    ("a[^a][^a][^a]b", "a☺b", Some(false)),
    ("[a-ζ]*", "α", Some(true)),
    ("*[a-ζ]", "A", Some(false)),
    ("a?b", "a/b", Some(false)),
    ("a*b", "a/b", Some(false)),
    (r"[\]a]", "]", Some(true)),
    (r"[\-]", "-", Some(true)),
    (r"[x\-]", "x", Some(true)),
    (r"[x\-]", "-", Some(true)),
    (r"[x\-]", "z", Some(false)),
    (r"[\-x]", "x", Some(true)),
    (r"[\-x]", "-", Some(true)),
    (r"[\-x]", "a", Some(false)),
    ("[]a]", "]", None),
    ("[-]", "-", None),
    ("[x-]", "x", None),
    ("[x-]", "-", None),
    ("[x-]", "z", None),
    ("[-x]", "x", None),
    ("[-x]", "-", None),
    ("[-x]", "a", None),
    (r"\", "a", None),
    ("[a-b-c]", "a", None),
    ("[", "a", None),
    ("[^", "a", None),
    ("[^bc", "a", None),
    ("a[", "a", None),
    ("a[", "ab", None),
    ("*x", "xxx", Some(true)),
];

#[test]
fn patternmatcher_single_pattern_cases_match_exactly_as_docker() {
    for &(pattern, path, hit) in SINGLE_PATTERN_CASES {
        let p = Patterns::new([pattern]).unwrap_or_else(|e| panic!("{pattern:?}: {e}"));
        assert_eq!(
            p.matches_exact(path),
            hit == Exact,
            "matches_exact(pattern={pattern:?}, path={path:?})"
        );
    }
}

#[test]
fn patternmatcher_single_pattern_cases_match_with_parents_as_docker() {
    for &(pattern, path, hit) in SINGLE_PATTERN_CASES {
        let p = Patterns::new([pattern]).unwrap();
        assert_eq!(
            p.matches_or_parent_matches(path),
            hit != Fail,
            "matches_or_parent_matches(pattern={pattern:?}, path={path:?})"
        );
    }
}

#[test]
fn patternmatcher_single_pattern_cases_agree_with_walk_state() {
    // The walker's incremental state must decide as MatchesOrParentMatches does.
    for &(pattern, path, hit) in SINGLE_PATTERN_CASES {
        if path.ends_with('/') || path.starts_with('/') {
            continue; // the walk only produces clean relative paths
        }
        let p = Patterns::new([pattern]).unwrap();
        let mut state = Default::default();
        let mut end = 0;
        for part in path.split('/') {
            end += part.len();
            state = p.state_for(&path[..end], &state);
            end += 1;
        }
        assert_eq!(state.excluded(&p), hit != Fail, "{pattern:?} {path:?}");
    }
}

#[test]
fn patternmatcher_multi_pattern_cases_decide_as_docker() {
    for &(patterns, path, excluded) in MULTI_PATTERN_CASES {
        let p = Patterns::new(patterns.iter().copied()).unwrap();
        assert_eq!(p.is_excluded(path), excluded, "{patterns:?} {path:?}");
    }
}

#[test]
fn filepath_match_cases_match_or_fail_as_docker() {
    for &(pattern, path, want) in FILEPATH_MATCH_CASES {
        match (Patterns::new([pattern]), want) {
            (Ok(p), Some(excluded)) => {
                assert_eq!(p.is_excluded(path), excluded, "{pattern:?} {path:?}")
            }
            (Err(e), None) => assert_eq!(e.pattern, pattern),
            (got, want) => panic!("{pattern:?} {path:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn trimmed_and_empty_rules_follow_patternmatcher() {
    let p = Patterns::new(["docs", "config", ""]).unwrap();
    assert_eq!(p.rules().len(), 2);
    let p = Patterns::new(["docs", "  !docs/README.md"]).unwrap();
    assert!(p.has_exceptions());
    let p = Patterns::new(["docs", "!docs/README.md  "]).unwrap();
    assert!(p.has_exceptions());
    assert!(Patterns::new(["!"]).is_err());
}

/// `shared/DEPENDENCIES.md` §4: where Docker and gitignore disagree, Docker's answer.
const DOCKER_TABLE: &[(&str, &str, bool)] = &[
    ("*.md", "docs/guide.md", false),
    ("node_modules", "app/node_modules/x.js", false),
    ("build/", "build", true),
    ("a**b", "axb", false),
    ("a**b", "ax/b", true),
    ("*\n!src", "src/main.rs", false),
    ("docs\n!docs/keep.md", "docs/keep.md", false),
    ("[!a]*", "bfile", false),
    ("[!a]*", "afile", true),
    ("[!a]*", "!file", true),
    ("foo/../bar", "bar", true),
];

#[test]
fn docker_table_from_dependencies_decides_as_docker() {
    for &(ignore, path, excluded) in DOCKER_TABLE {
        let p = Patterns::parse(ignore).unwrap();
        assert_eq!(p.is_excluded(path), excluded, "{ignore:?} {path:?}");
    }
}

#[test]
fn docker_table_from_dependencies_holds_for_a_real_walk() {
    for &(ignore, path, excluded) in DOCKER_TABLE {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, b"x").unwrap();
        let p = Patterns::parse(ignore).unwrap();
        let listed = list_context(dir.path(), &p).unwrap();
        let present = listed.iter().any(|e| e.rel_path == path);
        assert_eq!(present, !excluded, "{ignore:?} {path:?}: {listed:?}");
    }
}
