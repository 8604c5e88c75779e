//! Line handling in the parser: BOM, CRLF, comments, blank lines,
//! continuations with either escape character, and line ranges.

use hoist_frontend::parser::parse;

fn dump(src: &str) -> String {
    parse(src).unwrap().dump()
}

#[test]
fn utf8_bom_at_the_start_is_dropped() {
    let file = parse("\u{feff}FROM alpine\nRUN x\n").unwrap();
    assert_eq!(file.dump(), "(from \"alpine\")\n(run \"x\")");
    assert_eq!(file.nodes[0].span.offset, 3);
    assert_eq!(file.nodes[0].span.column, 2);
}

#[test]
fn bom_before_a_directive_keeps_it_a_directive() {
    let file = parse("\u{feff}# escape=`\nFROM a\nRUN a `\n b\n").unwrap();
    assert_eq!(file.escape, '`');
    assert_eq!(file.nodes[1].args, ["a  b"]);
}

#[test]
fn crlf_line_ends_are_accepted_everywhere() {
    let src = "# escape=\\\r\nFROM a\r\nRUN echo a \\\r\n  b\r\n# c\r\n\r\nENV x=1 \\\r\n  y=2\r\n";
    let file = parse(src).unwrap();
    assert_eq!(
        file.dump(),
        "(from \"a\")\n(run \"echo a   b\")\n(env \"x\" \"1\" \"=\" \"y\" \"2\" \"=\")"
    );
    assert_eq!(file.directives["escape"], "\\");
    assert_eq!((file.nodes[2].start_line, file.nodes[2].end_line), (7, 8));
}

#[test]
fn lone_cr_is_not_a_line_break() {
    let file = parse("FROM a\rRUN b\n").unwrap();
    assert_eq!(file.dump(), "(from \"a\" \"RUN\" \"b\")");
}

#[test]
fn comment_needs_hash_as_first_non_blank_character() {
    assert_eq!(
        dump("FROM a\n   # comment\nRUN echo # not a comment\n"),
        "(from \"a\")\n(run \"echo # not a comment\")"
    );
}

#[test]
fn continuation_appends_next_line_as_is_without_separator() {
    assert_eq!(
        dump("RUN echo hello\\\n  world\n"),
        "(run \"echo hello  world\")"
    );
    assert_eq!(dump("RUN echo good\\\nbye\n"), "(run \"echo goodbye\")");
}

#[test]
fn comment_and_blank_lines_inside_a_continuation_are_skipped() {
    let file = parse("RUN a \\\n# comment\n\n   \n  # indented comment\nb\nRUN c\n").unwrap();
    assert_eq!(file.dump(), "(run \"a b\")\n(run \"c\")");
    assert_eq!((file.nodes[0].start_line, file.nodes[0].end_line), (1, 6));
}

#[test]
fn blank_line_inside_a_continuation_warns_with_its_line() {
    let file = parse("RUN a \\\n\nb\n").unwrap();
    assert_eq!(file.warnings.len(), 1);
    assert!(file.warnings[0].message.contains("empty continuation line"));
    assert_eq!(file.warnings[0].span.line, 2);
    let clean = parse("RUN a \\\n# only a comment\nb\n").unwrap();
    assert!(clean.warnings.is_empty());
}

#[test]
fn trailing_double_escape_does_not_continue() {
    assert_eq!(
        dump("ENV C trailing\\\\\nENV D x\n"),
        "(env \"C\" \"trailing\\\\\\\\\" \"\")\n(env \"D\" \"x\" \"\")"
    );
}

#[test]
fn escape_followed_by_blanks_still_continues() {
    assert_eq!(dump("RUN a \\  \t\nb\n"), "(run \"a b\")");
}

#[test]
fn continuation_at_end_of_file_just_ends() {
    let file = parse("FROM a\nRUN something \\").unwrap();
    assert_eq!(file.nodes[1].args, ["something"]);
    assert_eq!(file.nodes[1].end_line, 2);
    let file = parse("FROM a\nRUN something \\\n\n# c\n").unwrap();
    assert_eq!(file.nodes[1].end_line, 4);
}

#[test]
fn backtick_escape_continues_and_backslash_is_plain_text() {
    let file = parse("# escape=`\nFROM a\nRUN dir c:\\ `\n  && echo x\nCOPY a\\ b\\\n").unwrap();
    assert_eq!(
        file.dump(),
        "(from \"a\")\n(run \"dir c:\\\\   && echo x\")\n(copy \"a\\\\\" \"b\\\\\")"
    );
}

#[test]
fn line_holding_only_the_escape_starts_an_instruction() {
    let file = parse("FROM a\n\\\nRUN x\n").unwrap();
    assert_eq!(file.nodes[1].dump(), "(run \"x\")");
    assert_eq!((file.nodes[1].start_line, file.nodes[1].end_line), (2, 3));
}

#[test]
fn leading_whitespace_of_the_first_line_is_dropped() {
    let file = parse("  \t FROM a\n").unwrap();
    assert_eq!(file.nodes[0].span.column, 5);
    assert_eq!(file.nodes[0].original, "FROM a");
}

#[test]
fn lines_and_spans_of_instructions() {
    let src = "\n# c\nFROM a AS b\n\nRUN x \\\n  y\n";
    let file = parse(src).unwrap();
    let from = &file.nodes[0];
    assert_eq!((from.start_line, from.end_line), (3, 3));
    assert_eq!(
        &src[from.span.offset..from.span.offset + from.span.len],
        "FROM a AS b"
    );
    let run = &file.nodes[1];
    assert_eq!((run.start_line, run.end_line), (5, 6));
    assert_eq!(
        &src[run.span.offset..run.span.offset + run.span.len],
        "RUN x \\\n  y"
    );
    assert_eq!((run.span.line, run.span.column), (5, 1));
    assert_eq!(run.original, "RUN x   y");
}

#[test]
fn keywords_are_lowercased_whatever_their_case() {
    assert_eq!(
        dump("from a\nRun b\nCoPy c d\n"),
        "(from \"a\")\n(run \"b\")\n(copy \"c\" \"d\")"
    );
}

#[test]
fn unknown_keywords_are_kept_not_rejected() {
    let file = parse("FROM a\nFROBNICATE the thing\n").unwrap();
    assert_eq!(file.nodes[1].keyword, "frobnicate");
    assert_eq!(file.nodes[1].dump(), "(frobnicate \"\")");
}

#[test]
fn many_instructions_parse_in_linear_time() {
    let mut src = String::from("FROM alpine\n");
    for i in 0..10_000 {
        src.push_str(&format!(
            "RUN echo {i} && \\\n    true\nENV K{i}=v{i} \"L\"=x\nCOPY --chown=1:1 a{i} /b/\n"
        ));
    }
    // The fastest of a few runs, so a busy machine does not fail the test.
    let mut elapsed = std::time::Duration::MAX;
    let mut file = None;
    for _ in 0..5 {
        let start = std::time::Instant::now();
        file = Some(parse(&src).unwrap());
        elapsed = elapsed.min(start.elapsed());
    }
    let file = file.unwrap();
    assert_eq!(file.nodes.len(), 30_001);
    println!(
        "parsed 30,001 instructions ({} bytes) in {elapsed:?}",
        src.len()
    );
    // Release builds take a few milliseconds; the debug bound only catches
    // quadratic behaviour (which would take minutes here).
    let limit = if cfg!(debug_assertions) { 5_000 } else { 200 };
    assert!(
        elapsed.as_millis() < limit,
        "30,000 instructions took {elapsed:?}"
    );
}
