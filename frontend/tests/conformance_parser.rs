//! BuildKit's parser conformance data (`shared/conformance/buildkit/parser`)
//! run against [`hoist_frontend::parser::parse`]: every `testfiles` case
//! dumps to its `result` byte for byte, every `testfiles-negative` case is
//! rejected, and `testfile-line` gives BuildKit's line ranges.

use std::fs;
use std::path::{Path, PathBuf};

use hoist_frontend::parser::parse;

fn data_dir() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/conformance/buildkit/parser"
    ));
    assert!(
        dir.is_dir(),
        "BuildKit conformance data missing: expected {} (the shared folder beside the worktree)",
        dir.display()
    );
    dir.to_path_buf()
}

/// The case folders under `sub`, sorted by name.
fn cases(sub: &str) -> Vec<PathBuf> {
    let dir = data_dir().join(sub);
    let mut cases: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases
}

fn read(path: &Path) -> String {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    String::from_utf8(bytes).unwrap_or_else(|e| panic!("{} is not UTF-8: {e}", path.display()))
}

fn name(case: &Path) -> String {
    case.file_name().unwrap().to_string_lossy().into_owned()
}

#[test]
fn every_buildkit_testfile_dumps_to_its_result() {
    let cases = cases("testfiles");
    assert_eq!(cases.len(), 33, "expected the 33 upstream cases");
    let mut failures = Vec::new();
    for case in &cases {
        let source = read(&case.join("Dockerfile"));
        let expected = read(&case.join("result"));
        match parse(&source) {
            Ok(file) => {
                let got = file.dump() + "\n";
                if got != expected {
                    failures.push(format!(
                        "{}: dump differs\n--- expected\n{expected}--- got\n{got}",
                        name(case)
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: parse failed: {e:?}", name(case))),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn every_buildkit_negative_testfile_is_rejected() {
    let cases = cases("testfiles-negative");
    assert_eq!(cases.len(), 4, "expected the 4 upstream negative cases");
    let accepted: Vec<String> = cases
        .iter()
        .filter(|case| parse(&read(&case.join("Dockerfile"))).is_ok())
        .map(|case| name(case))
        .collect();
    assert!(accepted.is_empty(), "accepted: {accepted:?}");
}

#[test]
fn negative_cases_fail_with_buildkit_messages() {
    let message = |case: &str| {
        let path = data_dir()
            .join("testfiles-negative")
            .join(case)
            .join("Dockerfile");
        parse(&read(&path)).unwrap_err().message
    };
    assert_eq!(message("empty_dockerfile"), "file with no instructions");
    assert_eq!(message("only_comments"), "file with no instructions");
    assert_eq!(message("env_no_value"), "ENV must have two arguments");
    assert!(message("shykes-nested-json").contains("strings only"));
}

#[test]
fn testfile_line_has_buildkit_line_ranges() {
    let source = read(&data_dir().join("testfile-line").join("Dockerfile"));
    let file = parse(&source).expect("testfile-line parses");
    let ranges: Vec<(&str, usize, usize)> = file
        .nodes
        .iter()
        .map(|n| (n.keyword.as_str(), n.start_line, n.end_line))
        .collect();
    assert_eq!(ranges, [("from", 5, 5), ("env", 11, 12), ("run", 17, 31)]);
    assert_eq!(
        file.directives.get("escape").map(String::as_str),
        Some("\\")
    );
}
