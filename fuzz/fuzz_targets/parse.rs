//! Fuzz target `parse`: arbitrary bytes (as lossy UTF-8) into
//! `hoist_frontend::parser::parse`; on success also `dump()` and
//! `to_json()`. Besides "no panic, no hang", it checks the invariants other
//! layers rely on: every span lies inside the source on character
//! boundaries with the line and column `Span::at` computes, line ranges are
//! ordered, and an error's span is inside the source too.
#![no_main]

use hoist_frontend::diagnostic::Span;
use hoist_frontend::parser::{Node, parse};
use libfuzzer_sys::fuzz_target;

fn check_span(source: &str, span: &Span) {
    assert!(span.offset + span.len <= source.len(), "span past the end");
    assert!(
        source.is_char_boundary(span.offset),
        "span start splits a char"
    );
    assert!(
        source.is_char_boundary(span.offset + span.len),
        "span end splits a char"
    );
    let at = Span::at(source, span.offset, span.len);
    assert_eq!(
        (at.line, at.column),
        (span.line, span.column),
        "line/column mismatch"
    );
}

fn check_node(source: &str, node: &Node, previous_end: usize) {
    assert!(node.start_line >= 1 && node.start_line <= node.end_line);
    assert!(node.start_line > previous_end, "instructions overlap");
    check_span(source, &node.span);
    let _ = node.locate(source, "<<");
    let _ = node.dump();
    if let Some(next) = &node.next {
        assert_eq!(
            (next.start_line, next.end_line),
            (node.start_line, node.end_line)
        );
        check_span(source, &next.span);
    }
}

fuzz_target!(|data: &[u8]| {
    let source = String::from_utf8_lossy(data);
    match parse(&source) {
        Ok(file) => {
            assert!(!file.nodes.is_empty());
            let mut previous_end = 0;
            for node in &file.nodes {
                check_node(&source, node, previous_end);
                previous_end = node.end_line;
            }
            for warning in &file.warnings {
                check_span(&source, &warning.span);
            }
            let dump = file.dump();
            assert_eq!(
                dump.lines().count(),
                file.nodes.len(),
                "one dump line per instruction"
            );
            let json = file.to_json();
            assert_eq!(
                json["instructions"].as_array().map(Vec::len),
                Some(file.nodes.len())
            );
        }
        Err(diagnostic) => {
            check_span(&source, &diagnostic.span);
            let _ = diagnostic.render("Dockerfile", &source);
        }
    }
});
