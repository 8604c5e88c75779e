//! The parser's outward views: `Dockerfile::to_json`, `dump`, and the
//! errors for files with no instructions.

use hoist_frontend::parser::parse;
use serde_json::json;

#[test]
fn to_json_has_the_documented_shape() {
    let src = "# syntax=x\nFROM a\nRUN --network=none <<-'EOF'\n\techo\n\tEOF\nONBUILD COPY [\"a\", \"b\"]\n";
    let value = parse(src).unwrap().to_json();
    assert_eq!(
        value,
        json!({
            "directives": {"syntax": "x"},
            "escape": "\\",
            "instructions": [
                {"keyword": "from", "flags": [], "args": ["a"], "json": false,
                 "heredocs": [], "start_line": 2, "end_line": 2},
                {"keyword": "run", "flags": ["--network=none"], "args": ["<<-'EOF'"],
                 "json": false,
                 "heredocs": [{"name": "EOF", "content": "echo\n", "expand": false, "chomp": true}],
                 "start_line": 3, "end_line": 5},
                {"keyword": "onbuild", "flags": [], "args": [], "json": false,
                 "heredocs": [], "start_line": 6, "end_line": 6,
                 "next": {"keyword": "copy", "flags": [], "args": ["a", "b"], "json": true,
                          "heredocs": [], "start_line": 6, "end_line": 6}},
            ],
        })
    );
}

#[test]
fn to_json_of_bare_onbuild_has_null_next() {
    let value = parse("ONBUILD\n").unwrap().to_json();
    assert_eq!(value["instructions"][0]["next"], serde_json::Value::Null);
}

#[test]
fn to_json_escape_is_a_string() {
    let value = parse("# escape=`\nFROM a\n").unwrap().to_json();
    assert_eq!(value["escape"], "`");
}

#[test]
fn dump_has_one_line_per_instruction_without_final_newline() {
    let file = parse("FROM a\nRUN b\n").unwrap();
    assert_eq!(file.dump(), "(from \"a\")\n(run \"b\")");
    assert_eq!(file.nodes[1].dump(), "(run \"b\")");
}

#[test]
fn empty_file_is_an_error_at_its_end() {
    let err = parse("").unwrap_err();
    assert_eq!(err.message, "file with no instructions");
    assert_eq!((err.span.line, err.span.column), (1, 1));
    let err = parse("# a\n\n# b\n").unwrap_err();
    assert_eq!(err.message, "file with no instructions");
    assert_eq!((err.span.line, err.span.offset), (4, 9));
}

#[test]
fn whitespace_only_file_has_no_instructions() {
    assert!(parse(" \n\t\r\n").is_err());
    assert!(parse("\u{feff}").is_err());
    assert!(parse("\u{feff}\n  \n").is_err());
}

#[test]
fn bom_after_the_start_is_text() {
    let file = parse("\n\u{feff}").unwrap();
    assert_eq!(file.nodes[0].keyword, "\u{feff}");
}

#[test]
fn locate_points_into_the_instruction() {
    let src = "FROM a\nRUN --bad x\n";
    let file = parse(src).unwrap();
    let span = file.nodes[1].locate(src, "--bad");
    assert_eq!((span.line, span.column, span.len), (2, 5, 5));
}

#[test]
fn dump_trims_the_node_text_like_buildkit() {
    // An empty keyword (a line holding only the escape character).
    assert_eq!(parse("\\\n").unwrap().dump(), "(\"\")");
    // A keyword ending in a non-ASCII blank is an unknown keyword.
    assert_eq!(parse("CMD\u{a0} []").unwrap().dump(), "(cmd\u{a0} \"\")");
}
