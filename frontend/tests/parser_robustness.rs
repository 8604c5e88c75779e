//! Hostile inputs: deep nesting, huge lines and bodies, binary junk. The
//! parser must answer (a node list or a located error) without panicking,
//! hanging or overflowing the stack. Fuzz findings are added here with the
//! input inline (see `fuzz/README.md`).

use hoist_frontend::parser::parse;

#[test]
fn deeply_chained_onbuild_is_an_error_not_a_stack_overflow() {
    let src = format!("FROM a\n{}RUN x\n", "ONBUILD ".repeat(100_000));
    let err = parse(&src).unwrap_err();
    assert_eq!(err.message, "ONBUILD nested too deeply");
    assert_eq!(err.span.line, 2);
    let ok = parse("FROM a\nONBUILD ONBUILD RUN x\n").unwrap();
    assert_eq!(ok.nodes[1].dump(), "(onbuild (onbuild (run \"x\")))");
}

#[test]
fn deeply_nested_json_falls_back_to_shell_form() {
    let src = format!("CMD {}\n", "[".repeat(1_000_000));
    let file = parse(&src).unwrap();
    assert!(!file.nodes[0].json);
    let src = format!("CMD {}{}\n", "[".repeat(5_000), "]".repeat(5_000));
    assert!(
        parse(&src).is_err(),
        "nested arrays are non-string elements"
    );
}

#[test]
fn deeply_nested_substitution_on_a_heredoc_line_means_no_heredoc() {
    let src = format!("RUN <<EOF {}\nEOF\n", "${a:-".repeat(100_000));
    let file = parse(&src).unwrap();
    assert!(file.nodes[0].heredocs.is_empty());
    assert_eq!(file.nodes.len(), 2);
}

#[test]
fn huge_line_and_huge_heredoc_body() {
    let long = "x".repeat(1 << 20);
    let src = format!("RUN echo {long}\nCOPY <<EOF /f\n{long}\n{long}\nEOF\n");
    let file = parse(&src).unwrap();
    assert_eq!(file.nodes[0].args[0].len(), (1 << 20) + 5);
    assert_eq!(file.nodes[1].heredocs[0].content.len(), 2 * ((1 << 20) + 1));
}

#[test]
fn many_heredocs_on_one_line() {
    let markers: String = (0..2_000).map(|i| format!("<<E{i} ")).collect();
    let bodies: String = (0..2_000).map(|i| format!("body {i}\nE{i}\n")).collect();
    let src = format!("RUN {markers}\n{bodies}RUN done\n");
    let file = parse(&src).unwrap();
    assert_eq!(file.nodes[0].heredocs.len(), 2_000);
    assert_eq!(file.nodes[0].heredocs[1_999].content, "body 1999\n");
    assert_eq!(file.nodes[1].start_line, 4_002);
}

#[test]
fn control_characters_and_replacement_characters_parse() {
    let junk = String::from_utf8_lossy(b"\x00\xff\x01RUN \x1b[1m\xc3\x28 <<\x00\n\x00\n");
    let file = parse(&junk).unwrap();
    assert_eq!(file.nodes.len(), 2);
}

#[test]
fn only_escapes_and_blanks() {
    let file = parse("\\\n\\\n \t\n").unwrap();
    assert_eq!(file.nodes.len(), 1);
    assert_eq!(file.nodes[0].keyword, "");
    assert_eq!(file.nodes[0].dump(), "(\"\")");
}
