//! ARG/ENV scoping, build args, predefined platform args and proxy args.

mod convert_support;

use convert_support::*;

#[test]
fn global_arg_visible_in_stage_only_after_arg() {
    let g = build("ARG V=1\nFROM alpine\nRUN echo a\nARG V\nRUN echo b\n");
    let e = execs(&g);
    assert_eq!(env_of(e[0], "V"), None, "not declared in the stage yet");
    assert_eq!(env_of(e[1], "V"), Some("1"), "ARG V takes the global value");
}

#[test]
fn global_arg_expands_from_image_and_platform() {
    let g = build("ARG IMG=alp\nARG TAG=ine\nFROM ${IMG}${TAG}\n");
    assert_eq!(
        g.target_stage().config.config.cmd,
        Some(vec!["/bin/sh".to_string()]),
        "resolved as alpine"
    );
    let g = build("FROM --platform=$BUILDPLATFORM alpine\n");
    assert_eq!(g.target_stage().platform.to_string(), "linux/amd64");
}

#[test]
fn env_wins_over_arg_of_same_name() {
    let g = build("FROM alpine\nARG X=fromarg\nENV X=fromenv\nRUN a\nARG X=again\nRUN b\n");
    let e = execs(&g);
    assert_eq!(env_of(e[0], "X"), Some("fromenv"));
    assert_eq!(
        env_of(e[1], "X"),
        Some("fromenv"),
        "a later ARG does not override ENV"
    );
}

#[test]
fn build_arg_overrides_default() {
    let df = "ARG G=gdef\nFROM alpine\nARG G\nARG S=sdef\nRUN x\n";
    let g = build_with(df, &opts_with_args(&[("G", "gcli"), ("S", "scli")]));
    let e = the_exec(&g);
    assert_eq!(env_of(e, "G"), Some("gcli"));
    assert_eq!(env_of(e, "S"), Some("scli"));
    let g = build(df);
    assert_eq!(env_of(the_exec(&g), "S"), Some("sdef"));
}

#[test]
fn arg_default_expands_with_state_env() {
    let g = build("FROM alpine\nENV BASE=/opt\nARG DIR=$BASE/app\nRUN x\n");
    assert_eq!(env_of(the_exec(&g), "DIR"), Some("/opt/app"));
}

#[test]
fn arg_without_value_is_not_set() {
    let g = build("FROM alpine\nARG NOTHING\nRUN x\n");
    assert_eq!(env_of(the_exec(&g), "NOTHING"), None);
    assert!(!history(&g).last().unwrap().contains('|'));
}

#[test]
fn predefined_platform_args_need_declaration_in_stage() {
    let g = build("FROM alpine\nRUN a\nARG TARGETARCH\nARG BUILDPLATFORM\nRUN b\n");
    let e = execs(&g);
    assert_eq!(env_of(e[0], "TARGETARCH"), None);
    assert_eq!(env_of(e[1], "TARGETARCH"), Some("arm64"));
    assert_eq!(env_of(e[1], "BUILDPLATFORM"), Some("linux/amd64"));
}

#[test]
fn stage_platform_does_not_change_targetplatform() {
    let g = build("FROM --platform=linux/amd64 alpine\nARG TARGETPLATFORM\nRUN x\n");
    assert_eq!(env_of(the_exec(&g), "TARGETPLATFORM"), Some("linux/arm64"));
    assert_eq!(g.target_stage().config.architecture, "amd64");
}

#[test]
fn unused_build_arg_warns() {
    let df = "ARG USED\nFROM alpine:${USED}\nARG STAGE\nRUN x\n";
    let o = opts_with_args(&[
        ("USED", "x"),
        ("STAGE", "y"),
        ("NOPE", "1"),
        ("ALSO", "2"),
        ("HTTP_PROXY", "http://p"),
        ("TARGETARCH", "z"),
    ]);
    let mut r = FakeResolver::new();
    r.images.insert("alpine:x".into(), Default::default());
    let g = try_build_with(df, &o, &r).unwrap();
    let w: Vec<_> = g.warnings.iter().map(|w| w.message.as_str()).collect();
    assert_eq!(
        w,
        ["[Warning] One or more build-args [ALSO NOPE] were not consumed"]
    );
}

#[test]
fn arg_of_unneeded_stage_does_not_consume() {
    let df = "FROM alpine AS other\nARG ONLYTHERE\nFROM alpine\nRUN x\n";
    let g = build_with(df, &opts_with_args(&[("ONLYTHERE", "1")]));
    assert_eq!(g.warnings.len(), 1, "{:?}", g.warnings);
}

#[test]
fn proxy_args_reach_run_without_declaration_and_stay_out_of_history() {
    let df = "FROM alpine\nARG V=1\nRUN x\n";
    let g = build_with(df, &opts_with_args(&[("https_proxy", "http://proxy:3128")]));
    let e = the_exec(&g);
    assert_eq!(env_of(e, "https_proxy"), Some("http://proxy:3128"));
    let h = history(&g).join("\n");
    assert!(!h.contains("proxy"), "{h}");
    assert!(
        g.target_stage()
            .config
            .config
            .env
            .iter()
            .all(|e| !e.contains("proxy"))
    );
    assert!(g.warnings.is_empty());
}

#[test]
fn env_value_expands_previous_env_and_sets_config() {
    let g = build("FROM alpine\nENV A=1 B=${A}2\nENV PATH=/x:$PATH\n");
    let env = &g.target_stage().config.config.env;
    assert_eq!(
        env,
        &["PATH=/x:/usr/bin:/bin", "A=1", "B=2"].map(String::from)
    );
}

#[test]
fn empty_base_name_is_an_error() {
    let err = try_build("ARG IMG\nFROM $IMG\n").unwrap_err();
    assert_eq!(err.message, "FROM: base name ($IMG) should not be blank");
    assert_eq!(err.span.line, 2);
}

#[test]
fn instruction_before_first_from_is_an_error() {
    let err = try_build("ENV A=1\nFROM alpine\n").unwrap_err();
    assert!(
        err.message.contains("ENV must come after a FROM"),
        "{}",
        err.message
    );
}
