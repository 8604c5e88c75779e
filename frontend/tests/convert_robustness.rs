//! Conversion never panics: every Dockerfile of BuildKit's parser test data
//! (`shared/conformance/buildkit/parser`), each cut at every line, and
//! hostile shapes (deep stage chains, self references) convert or fail with
//! a located diagnostic.

mod convert_support;

use std::path::PathBuf;

use convert_support::*;
use hoist_frontend::convert::{NoResolver, convert, outline, targets};
use hoist_frontend::parser::parse;

fn testfiles() -> Vec<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/conformance/buildkit/parser"
    ));
    assert!(
        dir.is_dir(),
        "BuildKit conformance data missing: expected {} (the shared folder beside the worktree)",
        dir.display()
    );
    let mut files = Vec::new();
    for sub in ["testfiles", "testfiles-negative"] {
        for entry in std::fs::read_dir(dir.join(sub)).unwrap() {
            let f = entry.unwrap().path().join("Dockerfile");
            if f.is_file() {
                files.push(f);
            }
        }
    }
    files.sort();
    assert!(
        files.len() > 20,
        "only {} test Dockerfiles found",
        files.len()
    );
    files
}

/// Converts `text` with every entry point; only panics matter here.
fn convert_all_ways(text: &str) -> usize {
    let Ok(df) = parse(text) else { return 0 };
    let mut converted = 0;
    let opts = opts_with_args(&[("A", "1"), ("HTTP_PROXY", "p")]);
    if let Ok(g) = convert(&df, text, &opts, &NoResolver) {
        assert!(g.target < g.stages.len());
        for (n, v) in g.vertices.iter().enumerate() {
            assert!(v.inputs.iter().all(|i| i.0 < n), "inputs come first");
        }
        let mut pruned = g.clone();
        let roots: Vec<_> = g.stages.iter().map(|s| s.result).collect();
        pruned.retain_reachable(&roots);
        assert_eq!(
            pruned.vertices.len(),
            g.vertices.len(),
            "every vertex is reachable"
        );
        converted += 1;
    }
    let _ = outline(&df, text, &opts);
    let _ = targets(&df, text);
    converted
}

#[test]
fn buildkit_test_dockerfiles_never_panic() {
    let mut converted = 0;
    for f in testfiles() {
        let text = std::fs::read_to_string(&f).unwrap_or_default();
        converted += convert_all_ways(&text);
        let lines: Vec<&str> = text.lines().collect();
        for cut in 1..lines.len() {
            convert_all_ways(&lines[..cut].join("\n"));
            convert_all_ways(&lines[cut..].join("\n"));
        }
    }
    assert!(converted > 10, "only {converted} test files converted");
}

#[test]
fn long_stage_chain_converts_without_deep_recursion() {
    let mut df = String::from("FROM scratch AS s0\n");
    for i in 1..3000 {
        df.push_str(&format!(
            "FROM s{} AS s{i}\nCOPY --from=s{} /a /a{i}\n",
            i - 1,
            i - 1
        ));
    }
    let g = build(&df);
    assert_eq!(g.stages.len(), 3000);
}

#[test]
fn odd_references_fail_with_located_errors() {
    for (df, line) in [
        ("FROM alpine AS a\nCOPY --from=a / /\n", 2),
        ("FROM alpine\nCOPY --from=99999999999999999999999 / /\n", 2),
        ("FROM alpine\nRUN --mount=type=cache,target=/ x\n", 2),
        ("FROM alpine\nRUN --mount=type=bind,target=/x,from=1 x\n", 2),
        ("FROM alpine\nCOPY a b c\n", 2),
        ("ARG X\nFROM --platform=$X alpine\n", 2),
        ("FROM --platform=linux/ alpine\n", 1),
    ] {
        let err = try_build(df).unwrap_err();
        assert_eq!(err.span.line, line, "{df:?}: {}", err.message);
    }
}
