//! Behaviour of [`Lexer`]: every modifier, quoting, escapes, word splitting
//! and the matched/unmatched tracking. Many cases are the inputs and outputs
//! of BuildKit's `lex_test.go`, restated as our own tests.

use std::collections::{BTreeMap, BTreeSet};

use super::{Env, Lexer, ShellErrorKind};

fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn names(list: &[&str]) -> BTreeSet<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn word(input: &str, pairs: &[(&str, &str)]) -> String {
    match Lexer::default().process_word(input, &env(pairs)) {
        Ok(out) => out.value,
        Err(err) => panic!("{input:?} failed: {err}"),
    }
}

fn word_error(input: &str, pairs: &[(&str, &str)]) -> ShellErrorKind {
    match Lexer::default().process_word(input, &env(pairs)) {
        Ok(out) => panic!("{input:?} should fail, gave {:?}", out.value),
        Err(err) => err.kind,
    }
}

/// Expands and checks the value plus the matched and unmatched names.
fn check_matches(
    input: &str,
    pairs: &[(&str, &str)],
    value: &str,
    matched: &[&str],
    unmatched: &[&str],
) {
    let out = Lexer::default()
        .process_word(input, &env(pairs))
        .unwrap_or_else(|err| panic!("{input:?} failed: {err}"));
    assert_eq!(out.value, value, "value of {input:?}");
    assert_eq!(out.matched, names(matched), "matched of {input:?}");
    assert_eq!(out.unmatched, names(unmatched), "unmatched of {input:?}");
}

#[test]
fn required_variable_reports_its_message_with_expansions() {
    let set = [("VAR", "plain"), ("ARG", "x")];
    let empty = [("VAR", ""), ("ARG", "x")];
    let unset = [("ARG", "x")];
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";

    assert_eq!(word(no_empty, &set), "plain");
    assert_eq!(
        word_error(no_empty, &empty),
        ShellErrorKind::RequiredVariableEmpty {
            name: "VAR".into(),
            message: "message herex".into()
        }
    );
    assert_eq!(
        word_error(no_empty, &unset),
        ShellErrorKind::RequiredVariableUnset {
            name: "VAR".into(),
            message: "message herex".into()
        }
    );
    assert_eq!(word(no_unset, &set), "plain");
    assert_eq!(word(no_unset, &empty), "");
    assert!(
        word_error(no_unset, &unset)
            .to_string()
            .contains("message herex")
    );
}

#[test]
fn required_variable_without_message_uses_buildkit_wording() {
    let err = Lexer::default()
        .process_word("a${XXX?}", &env(&[]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "failed to process \"a${XXX?}\": XXX: is not allowed to be unset"
    );
    assert_eq!(err.offset, 1);
    assert_eq!(
        word_error("${NULL:?}", &[("NULL", "")]).to_string(),
        "NULL: is not allowed to be empty"
    );
    assert_eq!(
        word_error("${NULL:?}", &[]).to_string(),
        "NULL: is not allowed to be unset"
    );
}

#[test]
fn default_and_alternative_distinguish_unset_from_empty() {
    let pairs = [("FOO", "xxx"), ("BAR", "")];
    check_matches(
        "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
        &pairs,
        "xxx  ccc",
        &["FOO", "BAR"],
        &["BAZ"],
    );
    check_matches(
        "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
        &pairs,
        "xxx bbb ccc",
        &["FOO", "BAR"],
        &["BAZ"],
    );
    check_matches("${FOO:-}", &pairs, "xxx", &["FOO"], &[]);
    check_matches("${FOO:-}", &[], "", &[], &["FOO"]);
    check_matches(
        "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
        &pairs,
        "aaa bbb ",
        &["FOO", "BAR"],
        &["BAZ"],
    );
    check_matches(
        "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
        &pairs,
        "aaa  ",
        &["FOO", "BAR"],
        &["BAZ"],
    );
    check_matches("${FOO?aaa}", &pairs, "xxx", &["FOO"], &[]);
    check_matches("${BAR?bbb}", &pairs, "", &["BAR"], &[]);
    check_matches("${FOO:?aaa}", &pairs, "xxx", &["FOO"], &[]);
}

#[test]
fn required_variable_fails_when_unset_or_empty_with_colon() {
    let pairs = [("FOO", "xxx"), ("BAR", "")];
    for input in ["${BAZ?ccc}", "${BAR:?bbb}", "${BAZ:?ccc}", "${BAZ:?}"] {
        word_error(input, &pairs);
    }
}

#[test]
fn assignment_modifiers_are_unsupported() {
    let pairs = [("FOO", "xxx")];
    let unsupported = |m: &str| ShellErrorKind::UnsupportedModifier { modifier: m.into() };
    assert_eq!(word_error("${FOO=aaa}", &pairs), unsupported("="));
    assert_eq!(word_error("${FOO=:aaa}", &pairs), unsupported("="));
    assert_eq!(word_error("${FOO=}", &[]), unsupported("="));
    assert_eq!(word_error("${FOO:=aaa}", &pairs), unsupported(":="));
    assert_eq!(word_error("${FOO:YYY}", &pairs), unsupported(":Y"));
    assert_eq!(word_error("${FOO:#x}", &pairs), unsupported(":#"));
    assert_eq!(word_error("${FOO:%x}", &pairs), unsupported(":%"));
    assert_eq!(word_error("${.}", &pairs), unsupported("."));
}

#[test]
fn malformed_braces_are_syntax_errors() {
    for input in ["${}", "${}aaa", "${:}", "${:-bbb}", "${{aaa}"] {
        assert_eq!(
            word_error(input, &[]),
            ShellErrorKind::BadSubstitution,
            "{input}"
        );
    }
    for input in [
        "${",
        "${aaa",
        "he${PWD",
        "${aaa:-bbb",
        "${aaa:-bbb ${foo}",
        "${a:",
    ] {
        assert_eq!(
            word_error(input, &[]),
            ShellErrorKind::MissingCloseBrace,
            "{input}"
        );
    }
    // A quote left open inside `${…}` also runs to the end: the brace is missing.
    assert_eq!(
        word_error("${a:-'x}", &[]),
        ShellErrorKind::MissingCloseBrace
    );
    // An error inside a closed nested expansion is kept.
    assert!(matches!(
        word_error("${a:-${b?gone}}", &[]),
        ShellErrorKind::RequiredVariableUnset { .. }
    ));
    assert_eq!(
        word_error("${FOO//ww}", &[("FOO", "xxyy")]),
        ShellErrorKind::MissingSlash
    );
    assert_eq!(
        word_error("${FOO//}", &[("FOO", "xxyy")]),
        ShellErrorKind::MissingSlash
    );
    assert_eq!(
        word_error("${FOO/a/b", &[("FOO", "xxyy")]),
        ShellErrorKind::MissingCloseBrace
    );
    assert_eq!(word("${aaa}}", &[]), "}");
}

#[test]
fn error_offset_points_at_the_construct() {
    let lexer = Lexer::default();
    let at = |input: &str| lexer.process_word(input, &env(&[])).unwrap_err().offset;
    assert_eq!(at("ab'cd"), 2);
    assert_eq!(at("ab\"cd"), 2);
    assert_eq!(at("x${}"), 1);
    assert_eq!(at("x${a:-y"), 1);
    assert_eq!(at("x${a:-${b?m}}"), 6);
}

#[test]
fn prefix_removal_takes_shortest_or_longest_glob_match() {
    let xxyy = [("FOO", "xxyy")];
    // Every regexp metacharacter is literal; `\}` keeps the brace open.
    check_matches(
        "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
        &[("FOO", "()[]{}^$.*?|\\x")],
        "x",
        &["FOO"],
        &[],
    );
    check_matches("${FOO#*x*y}", &xxyy, "y", &["FOO"], &[]);
    check_matches("${FOO#*}", &xxyy, "xxyy", &["FOO"], &[]);
    check_matches(
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "x")],
        "xyy",
        &["FOO", "BAR"],
        &[],
    );
    check_matches(
        "${FOO#$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "xxyy",
        &["FOO", "BAR"],
        &[],
    );
    check_matches("${FOO#}", &xxyy, "xxyy", &["FOO"], &[]);
    check_matches("${FOO##*x}", &xxyy, "yy", &["FOO"], &[]);
    check_matches("${FOO##}", &xxyy, "xxyy", &["FOO"], &[]);
    check_matches("${FOO#?\\?}", &[("FOO", "???y")], "?y", &["FOO"], &[]);
    check_matches("${NOPE#x}", &[], "", &[], &["NOPE"]);
}

#[test]
fn suffix_removal_takes_shortest_or_longest_glob_match() {
    let xxyy = [("FOO", "xxyy")];
    check_matches("${FOO%%\\**}", &[("FOO", "xx**")], "xx", &["FOO"], &[]);
    check_matches(
        "${ABC:-.}${FOO%x}${ABC:-.}",
        &xxyy,
        ".xxyy.",
        &["FOO"],
        &["ABC"],
    );
    check_matches("${FOO%%\\**\\*}", &[("FOO", "a***yy*")], "a", &["FOO"], &[]);
    check_matches("${FOO%}", &xxyy, "xxyy", &["FOO"], &[]);
    check_matches(
        "${FOO%%$BAR}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "xxyy",
        &["FOO", "BAR"],
        &[],
    );
    assert_eq!(word("${F%.*}", &[("F", "app.tar.gz")]), "app.tar");
    assert_eq!(word("${F%%.*}", &[("F", "app.tar.gz")]), "app");
}

#[test]
fn quoting_a_wildcard_does_not_make_it_literal() {
    // Quotes are removed before the glob is read, as in BuildKit.
    assert_eq!(word("${F#'*'.}", &[("F", "a.b.c")]), "b.c");
    assert_eq!(word("${F#\"*\".}", &[("F", "a.b.c")]), "b.c");
    assert_eq!(word("${F#\\*}", &[("F", "*a")]), "a");
}

#[test]
fn brackets_in_patterns_are_literal() {
    assert_eq!(word("${F#[ab]}", &[("F", "[ab]c")]), "c");
    assert_eq!(word("${F#[ab]}", &[("F", "abc")]), "abc");
}

#[test]
fn invalid_pattern_escape_is_an_error() {
    assert_eq!(
        word_error("${F#\\x}", &[("F", "x")]),
        ShellErrorKind::InvalidPattern {
            pattern: "\\x".into(),
            escaped: Some('x')
        }
    );
    assert_eq!(
        word_error("${F#$P}", &[("F", "x"), ("P", "a\\")]).to_string(),
        "invalid pattern (a\\) in substitution: invalid escape '\\'"
    );
}

#[test]
fn substitution_replaces_first_or_every_match() {
    check_matches(
        "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
        &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
        "/foo.*/*.txt - /foo..*.txt",
        &["FOO", "NEEDLE"],
        &[],
    );
    check_matches(
        "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
        &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
        "/tmp/bar.txt - /bar.txt",
        &["FOO", "NEEDLE"],
        &[],
    );
    check_matches(
        "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "/a/foo/b/c.txt"),
            ("NEEDLE", "/?/"),
            ("REPLACEMENT", "/"),
        ],
        "/foo/b/c.txt - /foo/c.txt",
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    );
    check_matches(
        "${FOO/$NEEDLE/$REPLACEMENT}",
        &[
            ("FOO", "http://google.de"),
            ("NEEDLE", "http://"),
            ("REPLACEMENT", "https://"),
        ],
        "https://google.de",
        &["FOO", "NEEDLE", "REPLACEMENT"],
        &[],
    );
}

#[test]
fn substitution_keeps_escapes_of_separators_in_the_replacement() {
    check_matches(
        "${FOO//\\//\\/}",
        &[("FOO", "/tmp/foo.txt")],
        "\\/tmp\\/foo.txt",
        &["FOO"],
        &[],
    );
}

#[test]
fn substitution_with_empty_parts_does_not_crash() {
    check_matches(
        "${FOO/$BAR/ww}",
        &[("FOO", "xxyy"), ("BAR", "")],
        "wwxxyy",
        &["FOO", "BAR"],
        &[],
    );
    check_matches("${FOO///}", &[("FOO", "xxyy")], "xxyy", &["FOO"], &[]);
    check_matches("${FOO///}", &[], "", &[], &["FOO"]);
}

#[test]
fn optional_platform_suffix_expands_only_when_set() {
    let release =
        "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    let base = [("VERSION", "v1.2.3"), ("TARGETOS", "linux")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(extra);
        word(release, &pairs)
    };
    assert_eq!(
        with(&[("TARGETARCH", "arm"), ("TARGETVARIANT", "v7")]),
        "something-v1.2.3.linux-arm-v7.tar.gz"
    );
    assert_eq!(
        with(&[("TARGETARCH", "arm64"), ("TARGETVARIANT", "")]),
        "something-v1.2.3.linux-arm64.tar.gz"
    );
    assert_eq!(
        with(&[("TARGETARCH", "arm64")]),
        "something-v1.2.3.linux-arm64.tar.gz"
    );
}

#[test]
fn matched_and_unmatched_record_each_lookup_once() {
    check_matches("x", &[("DUMMY", "dummy")], "x", &[], &[]);
    check_matches("x ${UNUSED}", &[("DUMMY", "dummy")], "x ", &[], &["UNUSED"]);
    check_matches("x ${FOO}", &[("FOO", "y")], "x y", &["FOO"], &[]);
    check_matches("$A$A${A}${B:-$A}", &[("A", "a")], "aaaa", &["A"], &["B"]);
    // Names inside single quotes or after an escaped `$` are not looked up.
    check_matches("'$A'\\$B", &[], "$A$B", &[], &[]);
    // Positional and special parameters are looked up like any name.
    check_matches("$1$@", &[], "", &[], &["1", "@"]);
}

#[test]
fn backtick_escape_replaces_backslash() {
    let lexer = Lexer::new('`');
    let pairs = env(&[("PWD", "/home")]);
    let w = |input: &str| lexer.process_word(input, &pairs).unwrap().value;
    assert_eq!(w("he`$PWD"), "he$PWD");
    assert_eq!(w("c:\\dir\\$PWD"), "c:\\dir\\/home");
    assert_eq!(w("a` b"), "a b");
    assert_eq!(w("\"a`\"b\""), "a\"b");
    assert_eq!(w("\"a``b\""), "a`b");
    assert_eq!(w("\"a`xb\""), "a`xb");
    assert_eq!(w("\"a\\b\""), "a\\b");
    assert_eq!(w("end`"), "end");
    // The glob escape stays `\` whatever the Dockerfile escape is.
    assert_eq!(
        lexer
            .process_word("${F#\\*}", &env(&[("F", "*x")]))
            .unwrap()
            .value,
        "x"
    );
    let words = lexer.process_words("a` b c", &pairs).unwrap().value;
    assert_eq!(words, ["a b", "c"]);
}

#[test]
fn double_quotes_escape_only_quote_dollar_and_escape() {
    let pairs = [("PWD", "/home")];
    assert_eq!(word("\"a\\\"b\"", &pairs), "a\"b");
    assert_eq!(word("\"\\$PWD\"", &pairs), "$PWD");
    assert_eq!(word("\"\\\\$PWD\"", &pairs), "\\/home");
    assert_eq!(word("\"\\t\\`\"", &pairs), "\\t\\`");
}

#[test]
fn process_words_splits_unquoted_text_and_values_only() {
    let lexer = Lexer::default();
    let pairs = env(&[("SPACE", "abc  def"), ("EMPTY", "")]);
    let words = |input: &str| lexer.process_words(input, &pairs).unwrap().value;
    assert_eq!(words("hello${SPACE}bye"), ["helloabc", "defbye"]);
    assert_eq!(words("hello\"${SPACE}\"bye"), ["helloabc  defbye"]);
    assert_eq!(words("  a   b  "), ["a", "b"]);
    assert_eq!(words("a\\ b 'c d' \"e f\""), ["a b", "c d", "e f"]);
    assert_eq!(words("'' \"\" $EMPTY ${EMPTY}"), Vec::<String>::new());
    assert_eq!(words("a\tb\nc"), ["a", "b", "c"]);
    // A nested expansion adds to the word being built.
    assert_eq!(words("a${NOPE:-b}c"), ["abc"]);
    // The value of an unquoted `${…}` is split even if its default is quoted.
    assert_eq!(words("${NOPE:-\"x y\"}"), ["x", "y"]);
    assert!(lexer.process_words("a 'b", &pairs).is_err());
}

#[test]
fn process_words_tracks_names_too() {
    let out = Lexer::default()
        .process_words("$A ${B:-x}", &env(&[("A", "1 2")]))
        .unwrap();
    assert_eq!(out.value, ["1", "2", "x"]);
    assert_eq!(out.matched, names(&["A"]));
    assert_eq!(out.unmatched, names(&["B"]));
}

#[test]
fn env_impls_agree_on_set_unset_and_last_pair_wins() {
    let pairs = vec![
        ("car".to_string(), "hat".to_string()),
        ("car".to_string(), "bike".to_string()),
    ];
    assert_eq!(Env::get(&pairs, "car"), Some("bike"));
    assert_eq!(Env::get(&pairs, "foo"), None);
    let slice: &[(&str, &str)] = &[("foo", "")];
    assert_eq!(Env::get(slice, "foo"), Some(""));
    let hash: std::collections::HashMap<String, String> = [("foo".to_string(), "bar".to_string())]
        .into_iter()
        .collect();
    assert_eq!(Env::get(&hash, "foo"), Some("bar"));
    assert_eq!(
        Lexer::default().process_word("$foo", &hash).unwrap().value,
        "bar"
    );
}

#[test]
fn substitution_on_unset_variable_matches_the_empty_value() {
    assert_eq!(word("${UNSET/*/x}", &[]), "x");
    assert_eq!(word("${UNSET/a/x}", &[]), "");
    assert!(matches!(
        word_error("${UNSET/\\q/x}", &[]),
        ShellErrorKind::InvalidPattern { .. }
    ));
}

#[test]
fn raw_quotes_keep_quote_characters() {
    let lexer = Lexer::default().with_raw_quotes(true);
    let pairs = env(&[("A", "1 2")]);
    let out = lexer.process_words("'a b' \"c $A\" d", &pairs).unwrap();
    assert_eq!(out.value, ["'a b'", "\"c 1 2\"", "d"]);
    assert_eq!(lexer.process_word("x'$A'", &pairs).unwrap().value, "x'$A'");
}

#[test]
fn raw_escapes_keep_escape_characters() {
    let lexer = Lexer::default().with_raw_escapes(true);
    let pairs = env(&[("A", "v")]);
    assert_eq!(
        lexer.process_word("a\\ b\\$A", &pairs).unwrap().value,
        "a\\ b\\$A"
    );
    assert_eq!(
        lexer.process_words("a\\ b c", &pairs).unwrap().value,
        ["a\\ b", "c"]
    );
    assert_eq!(
        lexer.process_word("\"\\$A\\x\"", &pairs).unwrap().value,
        "\\$A\\\\x"
    );
    // Inside `${…:-w}` escapes are processed as usual.
    assert_eq!(
        lexer.process_word("${N:-\\$A}", &pairs).unwrap().value,
        "$A"
    );
}

#[test]
fn skip_process_quotes_treats_quotes_as_text() {
    let lexer = Lexer::default().with_skip_process_quotes(true);
    let pairs = env(&[("A", "v")]);
    assert_eq!(
        lexer
            .process_word("echo '$A' \"$A\" it's", &pairs)
            .unwrap()
            .value,
        "echo 'v' \"v\" it's"
    );
    assert_eq!(lexer.process_word("\\$A", &pairs).unwrap().value, "$A");
    assert_eq!(
        lexer.process_words("'a b'", &pairs).unwrap().value,
        ["'a", "b'"]
    );
}

#[test]
fn skip_unset_env_keeps_references_to_unset_variables() {
    let lexer = Lexer::default().with_skip_unset_env(true);
    let pairs = env(&[("A", "v"), ("E", "")]);
    let w = |input: &str| lexer.process_word(input, &pairs).unwrap().value;
    assert_eq!(w("$A $U ${U} ${A}"), "v $U ${U} v");
    assert_eq!(w("${U:-$A} ${U+x} ${U?gone}"), "${U:-v} ${U+x} ${U?gone}");
    assert_eq!(w("${E:-d}"), "d");
    assert_eq!(w("${U#a*} ${U//a/b}"), "${U#a*} ${U//a/b}");
    let out = lexer.process_word("$U", &pairs).unwrap();
    assert_eq!(out.unmatched, names(&["U"]));
}

#[test]
fn plain_words_expand_to_themselves() {
    let lexer = Lexer::default();
    let out = lexer.process_word("/usr/local/bin x", &env(&[])).unwrap();
    assert_eq!(out.value, "/usr/local/bin x");
    assert!(out.matched.is_empty() && out.unmatched.is_empty());
    assert_eq!(
        lexer.process_words(" a\tb  c ", &env(&[])).unwrap().value,
        ["a", "b", "c"]
    );
}
