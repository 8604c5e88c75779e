//! Stages: names, references by name and index, targets and pruning,
//! inheritance from a base stage, ONBUILD triggers.

mod convert_support;

use convert_support::*;
use hoist_frontend::graph::{ContainerConfig, FileAction, Op, SourceOp};

#[test]
fn target_prunes_unneeded_stages() {
    let df = "FROM alpine AS a\nRUN a\nFROM alpine AS b\nRUN b\nFROM a AS c\nRUN c\n";
    let mut o = opts();
    o.target = Some("C".into());
    let g = build_with(df, &o);
    let names: Vec<_> = g.stages.iter().map(|s| s.name.clone().unwrap()).collect();
    assert_eq!(names, ["a", "c"]);
    assert_eq!(g.target, 1);
    assert_eq!(g.target_stage().index, 2);
    let cmds: Vec<_> = execs(&g).iter().map(|e| e.args[2].clone()).collect();
    assert_eq!(cmds, ["a", "c"]);
    assert!(g.vertices.iter().all(|v| v.stage.is_none_or(|s| s < 2)));
}

#[test]
fn only_needed_stages_resolve_their_images() {
    let df = "FROM unknown-image AS unused\nFROM alpine\n";
    let r = FakeResolver::new();
    try_build_with(df, &opts(), &r).unwrap();
    assert_eq!(*r.asked.borrow(), ["alpine"]);
}

#[test]
fn unknown_target_lists_stage_names() {
    let mut o = opts();
    o.target = Some("nope".into());
    let err = try_build_with(
        "FROM alpine AS a\nFROM alpine AS b\n",
        &o,
        &FakeResolver::new(),
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "target stage \"nope\" could not be found (stages: a, b)"
    );
}

/// Builds `df` with target `target`, expecting an error.
fn error_for(df: &str, target: &str) -> hoist_frontend::diagnostic::Diagnostic {
    let mut o = opts();
    o.target = Some(target.into());
    try_build_with(df, &o, &FakeResolver::new()).unwrap_err()
}

#[test]
fn forward_stage_reference_is_an_error_with_line() {
    let err = error_for(
        "FROM alpine AS a\nCOPY --from=later /x /x\nFROM alpine AS later\n",
        "a",
    );
    assert!(
        err.message
            .contains("stage \"later\" is defined after this one"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("line 3") && err.message.contains("line 2"),
        "{}",
        err.message
    );
    assert_eq!(err.span.line, 2);

    let err = error_for("FROM b AS a\nFROM alpine AS b\n", "a");
    assert!(
        err.message.contains("defined after this one"),
        "{}",
        err.message
    );
    assert_eq!(err.span.line, 1);

    let err = error_for(
        "FROM alpine AS a\nRUN --mount=type=bind,from=later,target=/m true\nFROM alpine AS later\n",
        "a",
    );
    assert!(
        err.message.contains("defined after this one"),
        "{}",
        err.message
    );
}

#[test]
fn copy_from_own_stage_is_an_error() {
    let err = try_build("FROM alpine AS me\nCOPY --from=me /a /b\n").unwrap_err();
    assert!(
        err.message.contains("circular dependency"),
        "{}",
        err.message
    );
}

#[test]
fn numeric_from_must_name_an_earlier_stage() {
    let g = build("FROM alpine\nRUN one\nFROM scratch\nCOPY --from=0 /a /a\n");
    let run = g
        .vertices
        .iter()
        .position(|v| matches!(v.op, Op::Exec(_)))
        .unwrap();
    let copy = g
        .vertices
        .iter()
        .find(|v| matches!(v.op, Op::File(_)))
        .unwrap();
    assert_eq!(copy.inputs[1].0, run);
    let err = error_for("FROM alpine AS a\nCOPY --from=1 /a /a\nFROM alpine\n", "a");
    assert!(
        err.message.contains("invalid stage index 1"),
        "{}",
        err.message
    );
}

#[test]
fn duplicate_stage_name_is_an_error() {
    let err = try_build("FROM alpine AS x\nFROM alpine AS X\n").unwrap_err();
    assert_eq!(
        err.message,
        "duplicate stage name \"x\": already defined on line 1"
    );
    assert_eq!(err.span.line, 2);
}

#[test]
fn copy_from_stage_uses_its_result_vertex() {
    let g = build("FROM alpine AS build\nRUN make\nFROM scratch\nCOPY --from=build /out /app/\n");
    let build_result = g.stages[0].result;
    let copy = g
        .vertices
        .iter()
        .find(|v| matches!(v.op, Op::File(_)))
        .unwrap();
    assert_eq!(copy.inputs[1], build_result);
    let Op::File(f) = &copy.op else {
        unreachable!()
    };
    let FileAction::Copy(c) = &f.actions[0] else {
        panic!()
    };
    assert_eq!(
        (c.input, c.sources.as_slice(), c.dest.as_str()),
        (1, &["/out".to_string()][..], "/app/")
    );
}

#[test]
fn copy_from_unknown_name_is_an_image() {
    let mut r = FakeResolver::new();
    r.images.insert("busybox".into(), Default::default());
    let g = try_build_with(
        "FROM scratch\nCOPY --from=busybox /bin/sh /sh\n",
        &opts(),
        &r,
    )
    .unwrap();
    assert!(sources(&g).iter().any(|s| matches!(s,
        SourceOp::Image { reference, .. } if reference == "docker.io/library/busybox")));
}

#[test]
fn copy_from_named_context_reads_it() {
    let mut o = opts();
    o.named_contexts.insert(
        "assets".into(),
        hoist_frontend::convert::NamedContext::Local {
            name: "assets".into(),
        },
    );
    let g = build_with("FROM scratch\nCOPY --from=assets logo.png /\n", &o);
    assert!(sources(&g).iter().any(|s| matches!(s,
        SourceOp::Local { name, include } if name == "assets" && include == &["logo.png".to_string()])));
}

#[test]
fn from_stage_inherits_config_and_env() {
    let g = build("FROM alpine AS base\nENV A=1\nWORKDIR /w\nUSER app\nFROM base\nRUN x\n");
    let e = the_exec(&g);
    assert_eq!(env_of(e, "A"), Some("1"));
    assert_eq!((e.cwd.as_str(), e.user.as_str()), ("/w", "app"));
    assert_eq!(g.target_stage().config.config.working_dir, "/w");
    let run = g
        .vertices
        .iter()
        .find(|v| matches!(v.op, Op::Exec(_)))
        .unwrap();
    assert_eq!(run.inputs[0], g.stages[0].result);
}

#[test]
fn from_scratch_starts_empty_with_default_path() {
    let g = build("FROM scratch\n");
    assert!(matches!(
        g.vertices[g.target_stage().result.0].op,
        Op::Source(SourceOp::Scratch)
    ));
    let c = &g.target_stage().config;
    assert_eq!(
        c.config.env,
        ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    );
    assert!(c.history.is_empty());
    assert_eq!((c.os.as_str(), c.architecture.as_str()), ("linux", "arm64"));
}

#[test]
fn onbuild_triggers_of_base_image_run_at_from() {
    let r = FakeResolver::new().with(
        "onbuilder",
        ContainerConfig {
            on_build: vec!["RUN echo triggered".into(), "ENV T=1".into()],
            ..Default::default()
        },
    );
    let g = try_build_with("FROM onbuilder\nRUN mine\n", &opts(), &r).unwrap();
    let cmds: Vec<_> = execs(&g).iter().map(|e| e.args[2].clone()).collect();
    assert_eq!(cmds, ["echo triggered", "mine"]);
    assert_eq!(env_of(execs(&g)[1], "T"), Some("1"));
    assert!(g.target_stage().config.config.on_build.is_empty());
    let names: Vec<_> = g.vertices.iter().map(|v| v.name.as_str()).collect();
    assert!(names.contains(&"[2/3] RUN echo triggered"), "{names:?}");
}

#[test]
fn onbuild_of_base_stage_runs_in_child_and_is_not_kept() {
    let g = build("FROM alpine AS base\nONBUILD RUN echo child\nRUN parent\nFROM base\n");
    let cmds: Vec<_> = execs(&g).iter().map(|e| e.args[2].clone()).collect();
    assert_eq!(cmds, ["parent", "echo child"]);
    assert_eq!(g.stages[0].config.config.on_build, ["RUN echo child"]);
    assert!(g.target_stage().config.config.on_build.is_empty());
}

#[test]
fn broken_onbuild_trigger_of_image_is_reported_at_from() {
    let r = FakeResolver::new().with(
        "bad",
        ContainerConfig {
            on_build: vec!["COPY onlyone".into()],
            ..Default::default()
        },
    );
    let err = try_build_with("FROM alpine\nFROM bad\n", &opts(), &r).unwrap_err();
    assert!(err.message.contains("ONBUILD trigger"), "{}", err.message);
    assert_eq!(err.span.line, 2);
}

#[test]
fn unresolvable_image_is_an_error_at_from() {
    let err = try_build("FROM alpine\nFROM nosuch:1\n").unwrap_err();
    assert!(err.message.contains("nosuch:1"), "{}", err.message);
    assert_eq!(err.span.line, 2);
}

#[test]
fn stage_name_is_case_insensitive_in_references() {
    let g = build("FROM alpine AS Build\nRUN x\nFROM BUILD\n");
    assert_eq!(g.stages.len(), 2);
    assert_eq!(g.stages[0].name.as_deref(), Some("build"));
}

#[test]
fn named_context_replaces_a_stage_of_the_same_name() {
    let mut o = opts();
    o.named_contexts.insert(
        "deps".into(),
        hoist_frontend::convert::NamedContext::Image("alpine".into()),
    );
    let df = "FROM scratch AS deps\nRUN never\nFROM deps\nCOPY --from=deps /x /y\n";
    let g = try_build_with(df, &o, &FakeResolver::new()).unwrap();
    assert!(execs(&g).is_empty(), "the replaced stage is not built");
    assert_eq!(g.stages.len(), 1);
    assert!(
        matches!(&g.vertices[0].op, Op::Source(SourceOp::Image { reference, .. }) if reference == "docker.io/library/alpine")
    );
}

#[test]
fn from_named_local_context_reads_the_directory() {
    let mut o = opts();
    o.named_contexts.insert(
        "base".into(),
        hoist_frontend::convert::NamedContext::Local {
            name: "basedir".into(),
        },
    );
    let g = try_build_with("FROM base\nRUN ls\n", &o, &FakeResolver::new()).unwrap();
    assert!(matches!(&g.vertices[0].op,
        Op::Source(SourceOp::Local { name, include }) if name == "basedir" && include.is_empty()));
    assert_eq!(g.vertices[0].name, "[1/2] FROM base");
}
