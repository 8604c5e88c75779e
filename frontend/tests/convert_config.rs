//! The image config and history each instruction writes.

mod convert_support;

use convert_support::*;
use hoist_frontend::graph::{FileAction, History, Op};

#[test]
fn entrypoint_clears_inherited_cmd() {
    let g = build("FROM alpine\nENTRYPOINT [\"/app\"]\n");
    let c = &g.target_stage().config.config;
    assert_eq!(c.entrypoint, Some(vec!["/app".to_string()]));
    assert_eq!(
        c.cmd, None,
        "alpine's Cmd does not survive a new ENTRYPOINT"
    );
}

#[test]
fn entrypoint_keeps_cmd_set_in_the_same_stage() {
    let g = build("FROM alpine\nCMD [\"--help\"]\nENTRYPOINT [\"/app\"]\n");
    assert_eq!(
        g.target_stage().config.config.cmd,
        Some(vec!["--help".to_string()])
    );
}

#[test]
fn shell_form_cmd_wraps_in_current_shell() {
    let g = build(
        "FROM alpine\nCMD echo one\nSHELL [\"/bin/bash\", \"-eu\", \"-c\"]\nENTRYPOINT exec app\n",
    );
    let c = &g.target_stage().config.config;
    assert_eq!(
        c.cmd,
        Some(vec!["/bin/sh".into(), "-c".into(), "echo one".into()])
    );
    assert_eq!(
        c.entrypoint,
        Some(vec![
            "/bin/bash".into(),
            "-eu".into(),
            "-c".into(),
            "exec app".into()
        ])
    );
    assert!(c.args_escaped);
    assert_eq!(c.shell, ["/bin/bash", "-eu", "-c"]);
}

#[test]
fn shell_applies_to_later_runs() {
    let g = build("FROM alpine\nSHELL [\"/bin/bash\", \"-c\"]\nRUN echo $0\n");
    assert_eq!(the_exec(&g).args, ["/bin/bash", "-c", "echo $0"]);
}

#[test]
fn expose_range_expands_to_each_port() {
    let g = build("FROM alpine\nARG P=8080\nEXPOSE 80 ${P}/udp 9000-9002\n");
    let ports: Vec<_> = g
        .target_stage()
        .config
        .config
        .exposed_ports
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        ports,
        ["80/tcp", "8080/udp", "9000/tcp", "9001/tcp", "9002/tcp"]
    );
}

#[test]
fn workdir_creates_directory_with_layer() {
    let g = build("FROM alpine\nUSER app\nWORKDIR /srv\nWORKDIR data\nWORKDIR /\n");
    let mkdirs: Vec<_> = file_actions(&g)
        .into_iter()
        .filter_map(|a| match a {
            FileAction::Mkdir {
                path,
                mode,
                make_parents,
                owner,
            } => Some((path.clone(), *mode, *make_parents, owner.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(
        mkdirs,
        [
            ("/srv".to_string(), 0o755, true, Some("app".to_string())),
            (
                "/srv/data".to_string(),
                0o755,
                true,
                Some("app".to_string())
            ),
        ]
    );
    let h = &g.target_stage().config.history;
    let workdirs: Vec<_> = h
        .iter()
        .filter(|e| e.created_by.as_deref().unwrap_or("").starts_with("WORKDIR"))
        .map(|e| (e.created_by.clone().unwrap(), e.empty_layer))
        .collect();
    assert_eq!(
        workdirs,
        [
            ("WORKDIR /srv".to_string(), false),
            ("WORKDIR /srv/data".to_string(), false),
            ("WORKDIR /".to_string(), true),
        ]
    );
    assert_eq!(g.target_stage().config.config.working_dir, "/");
}

#[test]
fn base_image_workdir_applies_without_mkdir() {
    let r = FakeResolver::new().with(
        "withwd",
        hoist_frontend::graph::ContainerConfig {
            working_dir: "/base".into(),
            ..Default::default()
        },
    );
    let g = try_build_with("FROM withwd\nRUN pwd\n", &opts(), &r).unwrap();
    assert_eq!(the_exec(&g).cwd, "/base");
    assert!(file_actions(&g).is_empty());
}

#[test]
fn image_without_path_gets_the_default_path() {
    let r = FakeResolver::new().with("nopath", Default::default());
    let g = try_build_with("FROM nopath\nRUN x\n", &opts(), &r).unwrap();
    let path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    assert_eq!(env_of(the_exec(&g), "PATH"), Some(path));
    assert_eq!(g.target_stage().config.config.env_get("PATH"), Some(path));
}

#[test]
fn metadata_instructions_set_the_config() {
    let g = build(concat!(
        "FROM alpine\n",
        "LABEL a=1 \"b c\"=\"d e\"\n",
        "MAINTAINER me@x\n",
        "VOLUME /data /cache\n",
        "USER 1000:1000\n",
        "STOPSIGNAL SIGTERM\n",
        "HEALTHCHECK --interval=5s --retries=3 CMD curl -f http://localhost/\n",
        "ONBUILD RUN echo later\n",
    ));
    let cfg = &g.target_stage().config;
    let c = &cfg.config;
    assert_eq!(c.labels.get("b c").map(String::as_str), Some("d e"));
    assert_eq!(cfg.author.as_deref(), Some("me@x"));
    assert_eq!(
        c.volumes.keys().cloned().collect::<Vec<_>>(),
        ["/cache", "/data"]
    );
    assert_eq!(
        (c.user.as_str(), c.stop_signal.as_str()),
        ("1000:1000", "SIGTERM")
    );
    let hc = c.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, ["CMD-SHELL", "curl -f http://localhost/"]);
    assert_eq!((hc.interval, hc.retries), (5_000_000_000, 3));
    assert_eq!(c.on_build, ["RUN echo later"]);
}

#[test]
fn healthcheck_none_disables() {
    let g = build("FROM alpine\nHEALTHCHECK NONE\n");
    assert_eq!(
        g.target_stage()
            .config
            .config
            .healthcheck
            .as_ref()
            .unwrap()
            .test,
        ["NONE"]
    );
}

#[test]
fn labels_option_goes_to_target_only() {
    let mut o = opts();
    o.labels
        .insert("org.opencontainers.image.version".into(), "1.0".into());
    let g = build_with("FROM alpine AS a\nLABEL a=1\nFROM a\n", &o);
    assert!(
        !g.stages[0]
            .config
            .config
            .labels
            .contains_key("org.opencontainers.image.version")
    );
    let l = &g.target_stage().config.config.labels;
    assert_eq!(
        l.get("org.opencontainers.image.version")
            .map(String::as_str),
        Some("1.0")
    );
    assert_eq!(l.get("a").map(String::as_str), Some("1"));
}

#[test]
fn history_matches_buildkit_format() {
    let df = concat!(
        "FROM alpine\n",
        "ARG V=1 W\n",
        "ENV A=x B=y\n",
        "RUN make all\n",
        "COPY --chown=app --chmod=644 a b <<EOF /dst/\nhi\nEOF\n",
        "WORKDIR /w\n",
        "EXPOSE 81 80\n",
        "VOLUME /v\n",
        "USER app\n",
        "LABEL k=v\n",
        "SHELL [\"/bin/bash\", \"-c\"]\n",
        "CMD [\"a\", \"b c\"]\n",
        "ENTRYPOINT run \"x\"\n",
        "STOPSIGNAL 9\n",
        "HEALTHCHECK --timeout=3s CMD true\n",
        "ONBUILD RUN x\n",
        "MAINTAINER m\n",
    );
    let g = build(df);
    assert_eq!(
        history(&g),
        [
            "base layer",
            "ARG V=1 W",
            "ENV A=x B=y",
            "RUN |1 V=1 /bin/sh -c make all # buildkit",
            "COPY --chown=app --chmod=644 a b <<EOF /dst/ # buildkit",
            "WORKDIR /w",
            "EXPOSE map[80/tcp:{} 81/tcp:{}]",
            "VOLUME [/v]",
            "USER app",
            "LABEL k=v",
            "SHELL [/bin/bash -c]",
            "CMD [\"a\" \"b c\"]",
            "ENTRYPOINT [\"/bin/bash\" \"-c\" \"run \\\"x\\\"\"]",
            "STOPSIGNAL 9",
            "HEALTHCHECK &{[\"CMD-SHELL\" \"true\"] \"0s\" \"3s\" \"0s\" \"0s\" '\\x00'}",
            "ONBUILD RUN x",
            "MAINTAINER m",
        ]
    );
    let h: &Vec<History> = &g.target_stage().config.history;
    let layers: Vec<bool> = h[1..].iter().map(|e| !e.empty_layer).collect();
    assert_eq!(
        layers,
        [
            false, false, true, true, true, false, false, false, false, false, false, false, false,
            false, false, false
        ]
    );
    assert!(
        h[1..]
            .iter()
            .all(|e| e.comment.as_deref() == Some("buildkit.dockerfile.v0"))
    );
}

#[test]
fn layer_history_entries_match_layer_vertices_in_order() {
    let g = build("FROM alpine\nRUN a\nENV X=1\nCOPY f /f\nWORKDIR /x\n");
    let layer_ops = g
        .vertices
        .iter()
        .filter(|v| v.stage.is_some() && matches!(v.op, Op::Exec(_) | Op::File(_)))
        .count();
    let new_layers = g.target_stage().config.history[1..]
        .iter()
        .filter(|h| !h.empty_layer)
        .count();
    assert_eq!(layer_ops, new_layers);
}
