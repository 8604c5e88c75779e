//! Runs BuildKit's shell-lexer conformance data (`envVarTest`, `wordsTest`,
//! from `../shared/conformance/buildkit/shell`) through
//! `hoist_frontend::shell`, with the file-format rules of that folder's
//! README (sections 4 and 5). Every failing line is reported at once.

use std::collections::BTreeMap;
use std::path::PathBuf;

use hoist_frontend::shell::Lexer;

fn data_file(name: &str) -> String {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/conformance/buildkit/shell"
    ));
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => panic!(
            "BuildKit conformance data {} is missing ({err}); it lives in the shared folder beside the worktree",
            path.display()
        ),
    }
}

#[test]
fn envvartest_lines_for_unix_expand_like_buildkit() {
    let text = data_file("envVarTest");
    let env: BTreeMap<String, String> = [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let lexer = Lexer::new('\\');

    let mut failures = Vec::new();
    let mut ran = 0;
    for (index, raw_line) in text.split('\n').enumerate() {
        let number = index + 1;
        if raw_line.starts_with('#') {
            continue;
        }
        let line = raw_line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [platform, input, expected] = fields[..] else {
            failures.push(format!(
                "line {number}: format error, not 3 fields: {line:?}"
            ));
            continue;
        };
        match platform {
            "A" | "U" => {}
            "W" => continue,
            other => {
                failures.push(format!("line {number}: format error, platform {other:?}"));
                continue;
            }
        }
        ran += 1;
        let result = lexer.process_word(input, &env);
        match (expected, result) {
            ("error", Ok(out)) => failures.push(format!(
                "line {number}: {input:?} should fail but gave {:?}",
                out.value
            )),
            ("error", Err(_)) => {}
            (_, Err(err)) => failures.push(format!(
                "line {number}: {input:?} failed: {err}, expected {expected:?}"
            )),
            (_, Ok(out)) if out.value != expected => failures.push(format!(
                "line {number}: {input:?} gave {:?}, expected {expected:?}",
                out.value
            )),
            (_, Ok(_)) => {}
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing lines:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(ran, 228, "the README counts 226 A and 2 U lines");
}

#[test]
fn wordstest_lines_split_words_like_buildkit() {
    let text = data_file("wordsTest");
    let lexer = Lexer::new('\\');
    // Built up by the ENV lines above each test; a later entry wins.
    let mut env: Vec<(String, String)> = Vec::new();

    let mut failures = Vec::new();
    let mut ran = 0;
    let mut env_lines = 0;
    // `split('\n')` of a file ending in a newline yields one empty last item.
    let lines: Vec<&str> = text
        .strip_suffix('\n')
        .unwrap_or(&text)
        .split('\n')
        .collect();
    for (index, line) in lines.into_iter().enumerate() {
        let number = index + 1;
        if line.starts_with('#') {
            continue;
        }
        if let Some(entry) = line.strip_prefix("ENV ") {
            let entry = entry.trim_start_matches(' ');
            let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
            env.push((key.to_string(), value.to_string()));
            env_lines += 1;
            continue;
        }
        let Some((left, right)) = line.split_once('|').filter(|(_, r)| !r.contains('|')) else {
            failures.push(format!(
                "line {number}: format error, not exactly one '|': {line:?}"
            ));
            continue;
        };
        let input = left.trim();
        let expected: Vec<&str> = right.trim_start_matches(' ').split(',').collect();
        ran += 1;
        let got: Vec<String> = match lexer.process_words(input, &env) {
            Ok(out) => out.value,
            Err(_) => vec!["error".to_string()],
        };
        if got != expected {
            failures.push(format!(
                "line {number}: {input:?} gave {got:?}, expected {expected:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing lines:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(
        (ran, env_lines),
        (24, 4),
        "the README counts 24 tests and 4 ENV lines"
    );
}
