//! Parser directives (`syntax`, `escape`, `check`): where they count, their
//! values, and the errors for repeated or invalid ones.

use hoist_frontend::parser::parse;

#[test]
fn directives_at_the_top_are_collected_and_not_instructions() {
    let file =
        parse("# syntax=docker/dockerfile:1\n# check=skip=all\n#ESCAPE = `\nFROM a\n").unwrap();
    assert_eq!(file.directives["syntax"], "docker/dockerfile:1");
    assert_eq!(file.directives["check"], "skip=all");
    assert_eq!(file.directives["escape"], "`");
    assert_eq!(file.escape, '`');
    assert_eq!(file.dump(), "(from \"a\")");
}

#[test]
fn default_escape_is_backslash_and_no_directives() {
    let file = parse("FROM a\n").unwrap();
    assert_eq!(file.escape, '\\');
    assert!(file.directives.is_empty());
}

#[test]
fn directive_after_a_comment_is_ignored() {
    let file = parse("# hello\n# escape=`\nFROM a\nRUN a \\\n b\n").unwrap();
    assert_eq!(file.escape, '\\');
    assert!(file.directives.is_empty());
    assert_eq!(file.nodes[1].args, ["a  b"]);
}

#[test]
fn directive_after_a_blank_line_is_ignored() {
    let file = parse("\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(file.escape, '\\');
}

#[test]
fn directive_after_an_instruction_is_a_comment() {
    let file = parse("FROM a\n# escape=`\n# escape=`\nRUN x\n").unwrap();
    assert_eq!(file.escape, '\\');
    assert_eq!(file.nodes.len(), 2);
}

#[test]
fn unknown_directive_ends_the_directive_section() {
    let file = parse("# foo=bar\n# escape=`\nFROM a\n").unwrap();
    assert_eq!(file.escape, '\\');
    assert!(file.directives.is_empty());
}

#[test]
fn repeated_directive_is_an_error_at_its_second_name() {
    let err = parse("# escape=\\\n# ESCAPE=`\nFROM a\n").unwrap_err();
    assert_eq!(err.message, "only one escape parser directive can be used");
    assert_eq!((err.span.line, err.span.column, err.span.len), (2, 3, 6));
    let err = parse("#syntax=a\n#syntax=a\nFROM a\n").unwrap_err();
    assert_eq!(err.message, "only one syntax parser directive can be used");
}

#[test]
fn invalid_escape_is_an_error_at_its_value() {
    let err = parse("  # escape = x\nFROM a\n").unwrap_err();
    assert!(
        err.message.contains("invalid escape token 'x'"),
        "{}",
        err.message
    );
    assert_eq!((err.span.line, err.span.column, err.span.len), (1, 14, 1));
}

#[test]
fn directives_alone_are_a_file_with_no_instructions() {
    let err = parse("# syntax=x\n# escape=`\n").unwrap_err();
    assert_eq!(err.message, "file with no instructions");
}
