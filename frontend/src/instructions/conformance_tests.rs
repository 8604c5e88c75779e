//! Runs every instruction of BuildKit's parser corpus
//! (`shared/conformance/buildkit/parser/testfiles/*/result`) through
//! [`parse_instruction`], rebuilding each [`Node`] from the dump (the real
//! parser is another step). This pins that the argument shapes the parser
//! produces are the ones this layer reads, and that exactly the instructions
//! BuildKit rejects after parsing are rejected here.

use std::path::{Path, PathBuf};

use crate::diagnostic::Span;
use crate::instructions::{Instruction, parse_instruction};
use crate::parser::Node;

fn corpus_dir() -> PathBuf {
    let dir = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/conformance/buildkit/parser/testfiles"
    ));
    assert!(
        dir.is_dir(),
        "conformance corpus missing at {} (expected beside the worktree in ../shared)",
        dir.display()
    );
    dir.to_path_buf()
}

/// Reads one Go-quoted string at the start of `s`; returns it and the rest.
fn go_unquote(s: &str) -> (String, &str) {
    let mut chars = s.char_indices();
    assert_eq!(chars.next().map(|(_, c)| c), Some('"'), "{s}");
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, &s[i + 1..]),
            '\\' => {
                let (_, e) = chars.next().unwrap();
                let mut hex = |n: usize| {
                    let h: String = (0..n).map(|_| chars.next().unwrap().1).collect();
                    u32::from_str_radix(&h, 16).unwrap()
                };
                let decoded = match e {
                    'a' => '\u{7}',
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\u{b}',
                    'x' => char::from_u32(hex(2)).unwrap(),
                    'u' => char::from_u32(hex(4)).unwrap(),
                    'U' => char::from_u32(hex(8)).unwrap(),
                    other => other,
                };
                out.push(decoded);
            }
            c => out.push(c),
        }
    }
    panic!("unterminated quote in {s}");
}

/// Parses `(keyword ["flags"...] "args"... | (nested))` into a node and the
/// rest of the line.
fn dump_node(s: &str) -> (Node, &str) {
    let s = s.strip_prefix('(').unwrap();
    let end = s.find([' ', ')']).unwrap();
    let keyword = s[..end].to_string();
    let mut rest = &s[end..];
    let mut flags = Vec::new();
    let mut args = Vec::new();
    let mut next = None;
    loop {
        rest = rest.strip_prefix(' ').unwrap_or(rest);
        if let Some(r) = rest.strip_prefix(')') {
            rest = r;
            break;
        }
        if let Some(mut r) = rest.strip_prefix('[') {
            while !r.starts_with(']') {
                let (f, after) = go_unquote(r.trim_start());
                flags.push(f);
                r = after;
            }
            rest = &r[1..];
        } else if rest.starts_with('(') {
            let (n, after) = dump_node(rest);
            next = Some(Box::new(n));
            rest = after;
        } else {
            let (a, after) = go_unquote(rest);
            args.push(a);
            rest = after;
        }
    }
    // Exec form cannot be told from the dump; several arguments of a
    // command instruction can only come from a JSON array.
    let command_args = match keyword.as_str() {
        "healthcheck" => args.len().saturating_sub(1),
        "run" | "cmd" | "entrypoint" | "shell" => args.len(),
        _ => 0,
    };
    let mut original = keyword.to_uppercase();
    for w in flags.iter().chain(args.iter()) {
        original.push(' ');
        original.push_str(w);
    }
    if let Some(n) = &next {
        original.push(' ');
        original.push_str(&n.original);
    }
    let node = Node {
        keyword,
        flags,
        args,
        next,
        json: command_args > 1,
        heredocs: Vec::new(),
        span: Span::at(&original, 0, original.len()),
        original,
        start_line: 1,
        end_line: 1,
    };
    (node, rest)
}

#[test]
fn buildkit_parser_corpus_instructions_type_as_buildkit_does() {
    // Instructions BuildKit's parser accepts but its instruction layer
    // rejects, as `case: dump line`.
    // The `flags` case uses flags no Dockerfile version knows.
    let expected_errors = [
        "flags: (copy [\"--user=me\"] \"foo\" \"/tmp/\")",
        "flags: (copy [\"--doit=true\"] \"foo\" \"/tmp/\")",
        "flags: (copy [\"--user=me\" \"--doit=true\"] \"foo\" \"/tmp/\")",
        "flags: (copy [\"--doit=true\"] \"foo\" \"/tmp/\")",
        "flags: (cmd [\"--doit\"] \"a\" \"b\")",
        "flags: (cmd [\"--doit=true\"] \"a\" \"b\")",
        "flags: (cmd [\"--doit\"])",
        "health: (healthcheck)",
        "health: (healthcheck \"CMD\")",
        "health: (healthcheck \"CONNECT\" \"TCP 7000\")",
    ];
    let mut errors = Vec::new();
    let mut count = 0;
    let mut cases: Vec<_> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 33, "expected the 33 upstream cases");
    for case in cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let result = std::fs::read_to_string(case.join("result")).unwrap();
        for line in result.lines() {
            let (node, rest) = dump_node(line);
            assert!(rest.is_empty(), "{name}: trailing {rest:?} in {line}");
            count += 1;
            match parse_instruction(&node, &node.original) {
                Ok(i) => assert_eq!(i.keyword().to_lowercase(), node.keyword),
                Err(e) => errors.push((format!("{name}: {line}"), e.message)),
            }
        }
    }
    assert!(count > 250, "only {count} instructions read");
    let got: Vec<&str> = errors.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(got, expected_errors, "errors: {errors:#?}");
}

#[test]
fn buildkit_corpus_onbuild_triggers_are_typed() {
    let (node, _) = dump_node("(onbuild (copy [\"--from=x\"] \".\" \"/\"))");
    let Instruction::Onbuild(o) = parse_instruction(&node, &node.original).unwrap() else {
        panic!()
    };
    assert_eq!(o.trigger.keyword(), "COPY");
}
