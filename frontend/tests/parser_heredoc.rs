//! Heredocs in the parser: which instructions take them, delimiters and
//! quoting, `<<-`, several per instruction, bodies and line ranges. Most
//! cases are BuildKit's `TestParseExtractsHeredoc`/`TestParseJSONHeredoc`.

use hoist_frontend::parser::{Dockerfile, Heredoc, parse};

fn doc(name: &str, content: &str, expand: bool, chomp: bool) -> Heredoc {
    Heredoc {
        name: name.to_string(),
        content: content.to_string(),
        expand,
        chomp,
    }
}

fn heredocs_of(file: &Dockerfile, i: usize) -> &[Heredoc] {
    &file.nodes[i].heredocs
}

/// BuildKit's big heredoc fixture, instruction by instruction (with `<<-`
/// bodies already unindented, as our contract says).
#[test]
fn buildkit_heredoc_fixture_extracts_every_body() {
    let src = "
FROM alpine:3.6

ENV NAME=me

RUN ls

USER <<INVALID
INVALID

RUN <<EMPTY
EMPTY

RUN 3<<EMPTY2
EMPTY2

RUN \"<<NOHEREDOC\"

RUN <<INDENT
\tfoo
\tbar
INDENT

RUN <<-UNINDENT
\tbaz
\tquux
UNINDENT

RUN <<-UNINDENT2
\tbaz
\tquux
\tUNINDENT2

RUN <<-EXPAND
\texpand $NAME
EXPAND

RUN <<-'NOEXPAND'
\tdon't expand $NAME
NOEXPAND

RUN <<COPY
echo hello world
echo foo bar
COPY

RUN <<COMMENT
# internal comment
echo hello world
echo foo bar # trailing comment
COMMENT

RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT

COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2

COPY <<EOF /quotes
\"foo\"
'bar'
EOF

COPY <<X <<Y /dest
Y
X
X
Y

RUN <<COMPLEX python3
print('hello world')
COMPLEX

COPY <<file.txt /dest
hello world
file.txt

RUN <<eo'f'
echo foo
eof

RUN <<eo\\'f
echo foo
eo'f

RUN <<'e'o\\'f
echo foo
eo'f

RUN <<'one two'
echo bar
one two

RUN <<$EOF
$EOF

RUN <<  EOF
EOF

RUN <<  EOF  > foo
EOF
\t";
    let file = parse(src).unwrap();
    let expected: Vec<Vec<Heredoc>> = vec![
        vec![],                               // ENV NAME=me
        vec![],                               // RUN ls
        vec![],                               // USER <<INVALID: USER takes no heredoc
        vec![],                               // INVALID: so this line is an instruction
        vec![doc("EMPTY", "", true, false)],  // RUN <<EMPTY
        vec![doc("EMPTY2", "", true, false)], // RUN 3<<EMPTY2
        vec![],                               // RUN "<<NOHEREDOC"
        vec![doc("INDENT", "\tfoo\n\tbar\n", true, false)],
        vec![doc("UNINDENT", "baz\nquux\n", true, true)],
        vec![doc("UNINDENT2", "baz\nquux\n", true, true)],
        vec![doc("EXPAND", "expand $NAME\n", true, true)],
        vec![doc("NOEXPAND", "don't expand $NAME\n", false, true)],
        vec![doc("COPY", "echo hello world\necho foo bar\n", true, false)],
        vec![doc(
            "COMMENT",
            "# internal comment\necho hello world\necho foo bar # trailing comment\n",
            true,
            false,
        )],
        vec![doc("MOUNT", "echo hello\n", true, false)],
        vec![
            doc("FILE1", "content 1\n", true, false),
            doc("FILE2", "content 2\n", true, false),
        ],
        vec![doc("EOF", "\"foo\"\n'bar'\n", true, false)],
        vec![doc("X", "Y\n", true, false), doc("Y", "X\n", true, false)],
        vec![doc("COMPLEX", "print('hello world')\n", true, false)],
        vec![doc("file.txt", "hello world\n", true, false)],
        vec![doc("eof", "echo foo\n", false, false)],
        vec![doc("eo'f", "echo foo\n", true, false)],
        vec![doc("eo'f", "echo foo\n", false, false)],
        vec![doc("one two", "echo bar\n", false, false)],
        vec![doc("$EOF", "", true, false)],
        vec![doc("EOF", "", true, false)],
        vec![doc("EOF", "", true, false)],
    ];
    assert_eq!(file.nodes.len(), expected.len() + 1);
    for (i, want) in expected.iter().enumerate() {
        assert_eq!(
            heredocs_of(&file, i + 1),
            want.as_slice(),
            "instruction {}: {}",
            i + 2,
            file.nodes[i + 1].original
        );
    }
}

#[test]
fn json_form_never_takes_heredocs() {
    let file =
        parse("FROM alpine\nRUN [\"whoami\"]\nRUN [\"<<EOF\"]\nRUN [\"<<'EOF'\"]\n").unwrap();
    assert_eq!(file.nodes.len(), 4);
    assert!(file.nodes.iter().all(|n| n.heredocs.is_empty()));
    assert_eq!(file.nodes[2].args, ["<<EOF"]);
}

#[test]
fn heredoc_args_stay_in_the_instruction_and_bodies_are_skipped() {
    let file = parse("FROM a\nCOPY <<A <<B /dest/\none\nA\ntwo\nB\nRUN next\n").unwrap();
    assert_eq!(file.nodes[1].args, ["<<A", "<<B", "/dest/"]);
    assert_eq!(file.nodes[1].original, "COPY <<A <<B /dest/");
    assert_eq!(file.nodes[2].dump(), "(run \"next\")");
}

#[test]
fn heredoc_after_a_command_prefix_with_redirect() {
    let file = parse("FROM a\nRUN cat <<EOF > /etc/f\nline 1\nline 2\nEOF\n").unwrap();
    let run = &file.nodes[1];
    assert_eq!(run.args, ["cat <<EOF > /etc/f"]);
    assert_eq!(run.heredocs, [doc("EOF", "line 1\nline 2\n", true, false)]);
}

#[test]
fn several_heredocs_on_run_with_a_command_between() {
    let src = "FROM a\nRUN python3 <<PY && sh <<'SH'\nprint(1)\nPY\necho $HOME\nSH\n";
    let file = parse(src).unwrap();
    assert_eq!(
        file.nodes[1].heredocs,
        [
            doc("PY", "print(1)\n", true, false),
            doc("SH", "echo $HOME\n", false, false)
        ]
    );
}

#[test]
fn double_quoted_delimiter_disables_expansion() {
    let file = parse("FROM a\nRUN <<\"EOT\"\necho $X\nEOT\n").unwrap();
    assert_eq!(
        file.nodes[1].heredocs,
        [doc("EOT", "echo $X\n", false, false)]
    );
}

#[test]
fn dash_heredoc_strips_leading_tabs_but_not_spaces() {
    let file = parse("FROM a\nRUN <<-EOF\n\t\tx\n  y\n\t EOF\n\tEOF\n").unwrap();
    assert_eq!(file.nodes[1].heredocs[0].content, "x\n  y\n EOF\n");
    assert_eq!(file.nodes[1].end_line, 6);
}

#[test]
fn plain_heredoc_delimiter_must_match_the_whole_line() {
    let file = parse("FROM a\nRUN <<EOF\n\tEOF\nEOF \nEOF\n").unwrap();
    assert_eq!(file.nodes[1].heredocs[0].content, "\tEOF\nEOF \n");
}

#[test]
fn heredoc_body_lines_are_raw_text() {
    // No continuation joining, no comment removal, no escape handling.
    let file = parse("FROM a\nRUN <<EOF\na \\\n# c\n\n  b\nEOF\n").unwrap();
    assert_eq!(file.nodes[1].heredocs[0].content, "a \\\n# c\n\n  b\n");
}

#[test]
fn heredoc_lines_count_in_the_end_line() {
    let file = parse("FROM a\nCOPY <<A <<B /d\n1\nA\n2\nB\n\nRUN x\n").unwrap();
    let copy = &file.nodes[1];
    assert_eq!((copy.start_line, copy.end_line), (2, 6));
    assert_eq!((file.nodes[2].start_line, file.nodes[2].end_line), (8, 8));
}

#[test]
fn heredoc_marker_on_a_continued_line() {
    let file = parse("FROM a\nRUN --network=none \\\n  cat <<EOF\nbody\nEOF\n").unwrap();
    let run = &file.nodes[1];
    assert_eq!(run.flags, ["--network=none"]);
    assert_eq!(run.heredocs, [doc("EOF", "body\n", true, false)]);
    assert_eq!((run.start_line, run.end_line), (2, 5));
}

#[test]
fn add_takes_heredocs_too() {
    let file = parse("FROM a\nADD <<EOF /x\nhi\nEOF\n").unwrap();
    assert_eq!(file.nodes[1].heredocs, [doc("EOF", "hi\n", true, false)]);
}

#[test]
fn other_instructions_take_no_heredocs() {
    for keyword in [
        "CMD",
        "ENTRYPOINT",
        "HEALTHCHECK CMD",
        "LABEL a",
        "WORKDIR",
        "SHELL",
    ] {
        let file = parse(&format!("FROM a\n{keyword} <<EOF\nEOF\n")).unwrap();
        assert_eq!(file.nodes.len(), 3, "{keyword}");
        assert!(file.nodes[1].heredocs.is_empty(), "{keyword}");
        assert_eq!(file.nodes[2].keyword, "eof", "{keyword}");
    }
}

#[test]
fn onbuild_trigger_owns_its_heredocs() {
    let file =
        parse("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\nONBUILD COPY <<F /f\nx\nF\n").unwrap();
    let onbuild = &file.nodes[1];
    assert!(onbuild.heredocs.is_empty());
    let trigger = onbuild.next.as_deref().unwrap();
    assert_eq!(trigger.keyword, "run");
    assert_eq!(trigger.heredocs, [doc("EOF", "echo hi\n", true, false)]);
    assert_eq!((onbuild.start_line, onbuild.end_line), (2, 4));
    assert_eq!((trigger.start_line, trigger.end_line), (2, 4));
    let copy = file.nodes[2].next.as_deref().unwrap();
    assert_eq!(copy.heredocs, [doc("F", "x\n", true, false)]);
    assert_eq!(file.nodes[2].dump(), "(onbuild (copy \"<<F\" \"/f\"))");
}

#[test]
fn onbuild_of_other_instructions_takes_no_heredocs() {
    let file = parse("FROM a\nONBUILD CMD <<EOF\nEOF\n").unwrap();
    assert_eq!(file.nodes.len(), 3);
    let file = parse("FROM a\nONBUILD RUN [\"<<EOF\"]\nRUN x\n").unwrap();
    assert_eq!(file.nodes.len(), 3);
}

#[test]
fn unterminated_heredoc_is_an_error_at_its_marker() {
    let src = "FROM a\nRUN echo && cat <<EOF\nline\n";
    let err = parse(src).unwrap_err();
    assert!(
        err.message.starts_with("unterminated heredoc"),
        "{}",
        err.message
    );
    assert_eq!((err.span.line, err.span.column), (2, 17));
    assert_eq!(
        &src[err.span.offset..err.span.offset + err.span.len],
        "<<EOF"
    );
}

#[test]
fn second_unterminated_heredoc_is_an_error_too() {
    let err = parse("FROM a\nCOPY <<A <<B /d\na\nA\nb\n").unwrap_err();
    assert!(err.message.contains("`B`"), "{}", err.message);
    assert_eq!((err.span.line, err.span.column), (2, 10));
}

#[test]
fn unclosed_quote_on_the_line_means_no_heredoc() {
    // BuildKit's word splitting fails on the unclosed quote, so the line has
    // no heredocs and the following lines are instructions.
    let file = parse("FROM a\nRUN cat <<EOF 'oops\nEOF\n").unwrap();
    assert!(file.nodes[1].heredocs.is_empty());
    assert_eq!(file.nodes[2].keyword, "eof");
}

#[test]
fn crlf_heredoc_bodies_use_lf_and_crlf_delimiters_match() {
    let file = parse("FROM a\r\nRUN <<EOF\r\nx\r\n\r\ny\r\nEOF\r\nRUN z\r\n").unwrap();
    assert_eq!(file.nodes[1].heredocs[0].content, "x\n\ny\n");
    assert_eq!(file.nodes[2].args, ["z"]);
}

#[test]
fn heredoc_delimiter_at_end_of_file_without_newline() {
    let file = parse("FROM a\nRUN <<EOF\nx\nEOF").unwrap();
    assert_eq!(file.nodes[1].heredocs[0].content, "x\n");
    assert_eq!(file.nodes[1].end_line, 4);
}
