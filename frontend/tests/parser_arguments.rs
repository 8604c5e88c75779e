//! How the parser splits flags and arguments per instruction: JSON (exec)
//! form and its fallback, flags, ENV/LABEL/ARG words, HEALTHCHECK, ONBUILD.

use hoist_frontend::parser::parse;

fn node_dump(line: &str) -> String {
    parse(line).unwrap().nodes[0].dump()
}

#[test]
fn exec_form_decodes_go_json_escapes() {
    assert_eq!(
        node_dump(r#"CMD ["a\u00e9\n", "\/x", "\ud83d\ude00"]"#),
        "(cmd \"aé\\n\" \"/x\" \"😀\")"
    );
    assert!(parse("CMD [\"a\"]").unwrap().nodes[0].json);
}

#[test]
fn exec_form_with_lone_surrogate_gives_replacement_character() {
    assert_eq!(node_dump(r#"RUN ["\udc00"]"#), "(run \"\u{fffd}\")");
}

#[test]
fn invalid_json_falls_back_to_shell_form() {
    for (line, dump) in [
        ("CMD ['a']", "(cmd \"['a']\")"),
        ("CMD [\"a\",]", "(cmd \"[\\\"a\\\",]\")"),
        ("CMD [\"a\"] b", "(cmd \"[\\\"a\\\"] b\")"),
        ("CMD [\"a\"", "(cmd \"[\\\"a\\\"\")"),
        ("COPY [\"a b\" c", "(copy \"[\\\"a\" \"b\\\"\" \"c\")"),
        ("RUN [1e999]", "(run \"[1e999]\")"),
    ] {
        let file = parse(line).unwrap();
        assert_eq!(file.nodes[0].dump(), dump, "{line}");
        assert!(!file.nodes[0].json, "{line}");
    }
}

#[test]
fn json_array_with_a_non_string_is_an_error_at_the_array() {
    for line in [
        "CMD [1]",
        "RUN [\"a\", null]",
        "COPY [[\"a\"], \"b\"]",
        "HEALTHCHECK CMD [true]",
    ] {
        let err = parse(line).unwrap_err();
        assert_eq!(
            err.message, "when using JSON array syntax, arrays must be comprised of strings only",
            "{line}"
        );
        assert_eq!(&line[err.span.offset..err.span.offset + 1], "[", "{line}");
    }
}

#[test]
fn empty_json_array_gives_no_arguments() {
    let file = parse("CMD []").unwrap();
    assert_eq!(file.nodes[0].dump(), "(cmd)");
    assert!(file.nodes[0].json);
}

#[test]
fn flags_come_before_arguments_on_every_instruction() {
    assert_eq!(
        node_dump("RUN --mount=type=cache,target=/root/.cache --network=none make"),
        "(run [\"--mount=type=cache,target=/root/.cache\" \"--network=none\"] \"make\")"
    );
    assert_eq!(
        node_dump("COPY --from=build --chown=1:1 [\"a b\", \"/c/\"]"),
        "(copy [\"--from=build\" \"--chown=1:1\"] \"a b\" \"/c/\")"
    );
    assert_eq!(
        node_dump("FROM --platform=$BUILDPLATFORM a"),
        "(from [\"--platform=$BUILDPLATFORM\"] \"a\")"
    );
}

#[test]
fn bare_flag_and_quoted_flag_values() {
    let file = parse("COPY --link --chmod=\"0644\" a b").unwrap();
    assert_eq!(file.nodes[0].flags, ["--link", "--chmod=0644"]);
    assert_eq!(file.nodes[0].args, ["a", "b"]);
}

#[test]
fn double_dash_ends_the_flags() {
    assert_eq!(
        node_dump("COPY --a=1 -- --b c"),
        "(copy [\"--a=1\"] \"--b\" \"c\")"
    );
}

#[test]
fn from_and_expose_split_on_blanks_without_quotes() {
    assert_eq!(
        node_dump("FROM a\tAS  \"b c\""),
        "(from \"a\" \"AS\" \"\\\"b\" \"c\\\"\")"
    );
    assert_eq!(
        node_dump("EXPOSE 80/tcp 443"),
        "(expose \"80/tcp\" \"443\")"
    );
}

#[test]
fn shell_form_keeps_the_whole_rest() {
    assert_eq!(node_dump("RUN  echo  'a  b'  "), "(run \"echo  'a  b'\")");
    assert_eq!(node_dump("WORKDIR /a b"), "(workdir \"/a b\")");
    assert_eq!(node_dump("USER"), "(user)");
}

#[test]
fn arg_words_keep_quotes_and_escapes() {
    assert_eq!(
        node_dump("ARG abc=\"123 456\" def x=a\\ b"),
        "(arg \"abc=\\\"123 456\\\"\" \"def\" \"x=a\\\\ b\")"
    );
}

#[test]
fn env_and_label_old_and_new_forms() {
    assert_eq!(node_dump("ENV A b c"), "(env \"A\" \"b c\" \"\")");
    assert_eq!(
        node_dump("LABEL a=1 \"b c\"='d e'"),
        "(label \"a\" \"1\" \"=\" \"\\\"b c\\\"\" \"'d e'\" \"=\")"
    );
    assert_eq!(node_dump("ENV a="), "(env \"a\" \"\" \"=\")");
}

#[test]
fn env_errors() {
    let err = parse("FROM a\nENV PATH\n").unwrap_err();
    assert_eq!(err.message, "ENV must have two arguments");
    assert_eq!((err.span.line, err.span.column), (2, 5));
    let err = parse("FROM a\nLABEL a=b c\n").unwrap_err();
    assert!(
        err.message.contains("can't find = in \"c\""),
        "{}",
        err.message
    );
    assert_eq!((err.span.line, err.span.column), (2, 11));
}

#[test]
fn healthcheck_forms() {
    assert_eq!(node_dump("HEALTHCHECK NONE"), "(healthcheck \"NONE\")");
    assert_eq!(
        node_dump("HEALTHCHECK --interval=5s CMD curl -f x"),
        "(healthcheck [\"--interval=5s\"] \"CMD\" \"curl -f x\")"
    );
}

#[test]
fn onbuild_wraps_its_trigger() {
    assert_eq!(
        node_dump("ONBUILD COPY --from=x a b"),
        "(onbuild (copy [\"--from=x\"] \"a\" \"b\"))"
    );
    assert_eq!(node_dump("ONBUILD"), "(onbuild)");
    let file = parse("ONBUILD RUN [\"a\"]").unwrap();
    let trigger = file.nodes[0].next.as_deref().unwrap();
    assert!(trigger.json);
    assert!(!file.nodes[0].json);
    assert_eq!(trigger.original, "RUN [\"a\"]");
    assert_eq!(trigger.span.column, 9);
}

#[test]
fn dump_quotes_like_go() {
    assert_eq!(
        node_dump("RUN [\"\\u0000\\u007f\\u00a0\\t\", \"\\\"\\\\\"]"),
        "(run \"\\x00\\x7f\\u00a0\\t\" \"\\\"\\\\\")"
    );
}
