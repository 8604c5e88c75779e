//! RUN and COPY/ADD vertices: commands, heredocs, mounts, sources,
//! destinations, `--link`, and progress names.

mod convert_support;

use convert_support::*;
use hoist_frontend::graph::{CacheSharing, FileAction, MountKind, Network, Op, Security, SourceOp};

#[test]
fn run_exec_form_is_kept_and_shell_form_wrapped() {
    let g = build("FROM alpine\nRUN [\"echo\", \"$HOME\"]\nRUN echo $HOME\n");
    let e = execs(&g);
    assert_eq!(e[0].args, ["echo", "$HOME"]);
    assert_eq!(e[1].args, ["/bin/sh", "-c", "echo $HOME"]);
    assert_eq!((e[1].cwd.as_str(), e[1].user.as_str()), ("/", ""));
}

#[test]
fn run_flags_set_network_and_security() {
    let g = build("FROM alpine\nRUN --network=none --security=insecure true\n");
    let e = the_exec(&g);
    assert_eq!((e.network, e.security), (Network::None, Security::Insecure));
}

#[test]
fn run_heredoc_with_shebang_runs_file() {
    let g = build("FROM alpine\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\n");
    let e = the_exec(&g);
    assert_eq!(e.args, ["/dev/pipes/EOF"]);
    assert_eq!(e.mounts.len(), 1);
    assert_eq!(e.mounts[0].target, "/dev/pipes/");
    assert!(e.mounts[0].readonly);
    let MountKind::Bind { input, .. } = e.mounts[0].kind else {
        panic!()
    };
    let run = g
        .vertices
        .iter()
        .find(|v| matches!(v.op, Op::Exec(_)))
        .unwrap();
    let file = &g.vertices[run.inputs[input].0];
    let Op::File(f) = &file.op else {
        panic!("{file:?}")
    };
    assert_eq!(
        f.actions[0],
        FileAction::Mkfile {
            path: "/EOF".into(),
            mode: 0o755,
            data: "#!/usr/bin/env python3\nprint(1)\n".into(),
            owner: None
        }
    );
    assert!(matches!(
        g.vertices[file.inputs[0].0].op,
        Op::Source(SourceOp::Scratch)
    ));
}

#[test]
fn run_heredoc_without_shebang_runs_in_shell() {
    let g = build("FROM alpine\nRUN <<EOF\necho a\necho b\nEOF\n");
    assert_eq!(the_exec(&g).args, ["/bin/sh", "-c", "echo a\necho b\n"]);
}

#[test]
fn run_heredoc_inside_a_command_goes_to_the_shell() {
    let g = build("FROM alpine\nRUN cat <<EOF > /f\nhello\nEOF\n");
    assert_eq!(
        the_exec(&g).args,
        ["/bin/sh", "-c", "cat <<EOF > /f\nhello\nEOF"]
    );
}

#[test]
fn run_mounts_get_buildkit_defaults() {
    let g = build(concat!(
        "FROM alpine\nWORKDIR /src\n",
        "RUN --mount=type=cache,target=.cache ",
        "--mount=type=secret,id=tok ",
        "--mount=type=secret,id=e,env=TOKEN ",
        "--mount=type=ssh ",
        "--mount=type=tmpfs,target=/tmp,size=1m ",
        "--mount=type=bind,source=go.mod,target=/m/go.mod ",
        "--mount=type=cache,target=/c,id=shared,sharing=locked,from=alpine,source=/etc,mode=0700,uid=1 ",
        "make\n",
    ));
    let e = the_exec(&g);
    let m = &e.mounts;
    assert_eq!(m.len(), 7);
    assert_eq!(
        m[0].target, "/src/.cache",
        "relative targets join the workdir"
    );
    assert!(
        matches!(&m[0].kind, MountKind::Cache { id, sharing: CacheSharing::Shared, from: None, mode: 0o755, uid: 0, gid: 0, .. } if id == "/src/.cache")
    );
    assert!(!m[0].readonly);
    assert_eq!(m[1].target, "/run/secrets/tok");
    assert!(
        matches!(&m[1].kind, MountKind::Secret { id, mode: 0o400, required: false, .. } if id == "tok")
    );
    assert_eq!(m[2].target, "/run/secrets/e");
    assert!(matches!(&m[2].kind, MountKind::Secret { env: Some(v), .. } if v == "TOKEN"));
    assert_eq!(m[3].target, "/run/buildkit/ssh_agent.0");
    assert!(matches!(&m[3].kind, MountKind::Ssh { id, mode: 0o600, .. } if id == "default"));
    assert!(matches!(
        m[4].kind,
        MountKind::Tmpfs {
            size: Some(1048576)
        }
    ));
    assert!(m[5].readonly);
    let MountKind::Bind { input, source } = &m[5].kind else {
        panic!()
    };
    assert_eq!(source, "/go.mod");
    let run = g
        .vertices
        .iter()
        .find(|v| matches!(v.op, Op::Exec(_)))
        .unwrap();
    assert!(matches!(&g.vertices[run.inputs[*input].0].op,
        Op::Source(SourceOp::Local { name, include }) if name == "context" && include == &["go.mod".to_string()]));
    assert!(
        matches!(&m[6].kind, MountKind::Cache { id, sharing: CacheSharing::Locked, from: Some(_), mode: 0o700, uid: 1, source, .. } if id == "shared" && source == "/etc")
    );
}

#[test]
fn mount_target_root_is_an_error() {
    let err = try_build("FROM alpine\nRUN --mount=type=cache,target=/ true\n").unwrap_err();
    assert!(err.message.contains("can not be /"), "{}", err.message);
    assert_eq!(err.span.line, 2);
}

#[test]
fn mount_from_stage_binds_its_result() {
    let g = build("FROM alpine AS b\nRUN build\nFROM alpine\nRUN --mount=from=b,target=/b ls /b\n");
    let run = g
        .vertices
        .iter()
        .rev()
        .find(|v| matches!(v.op, Op::Exec(_)))
        .unwrap();
    let Op::Exec(e) = &run.op else { unreachable!() };
    let MountKind::Bind { input, .. } = e.mounts[0].kind else {
        panic!()
    };
    assert_eq!(run.inputs[input], g.stages[0].result);
}

#[test]
fn copy_sources_come_from_one_context_vertex() {
    let g = build("FROM alpine\nWORKDIR /app\nCOPY a.txt dir/ ./\n");
    let copy = g
        .vertices
        .iter()
        .rev()
        .find(|v| matches!(v.op, Op::File(_)))
        .unwrap();
    let Op::File(f) = &copy.op else {
        unreachable!()
    };
    assert_eq!(f.actions.len(), 2);
    for a in &f.actions {
        let FileAction::Copy(c) = a else { panic!() };
        assert_eq!((c.input, c.dest.as_str()), (1, "/app/"));
        assert!(c.contents_only && !c.unpack);
    }
    assert!(matches!(&g.vertices[copy.inputs[1].0].op,
        Op::Source(SourceOp::Local { name, include }) if name == "context" && include == &["a.txt".to_string(), "dir/".to_string()]));
    assert_eq!(
        g.vertices[copy.inputs[1].0].name,
        "[internal] load build context"
    );
}

#[test]
fn copy_relative_dest_joins_workdir() {
    let g = build("FROM alpine\nWORKDIR /app\nCOPY a b\nCOPY c .\n");
    let dests: Vec<_> = file_actions(&g)
        .into_iter()
        .filter_map(|a| match a {
            FileAction::Copy(c) => Some(c.dest.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(dests, ["/app/b", "/app/"]);
}

#[test]
fn copy_several_sources_need_a_directory_dest() {
    for df in [
        "FROM alpine\nCOPY a b /dest\n",
        "FROM alpine\nCOPY *.txt /dest\n",
    ] {
        let err = try_build(df).unwrap_err();
        assert_eq!(
            err.message,
            "When using COPY with more than one source file, the destination must be a directory and end with a /"
        );
    }
    build("FROM alpine\nCOPY a b /dest/\n");
}

#[test]
fn copy_heredoc_source_is_a_file_on_scratch() {
    let g = build("FROM alpine\nARG N=x\nCOPY <<EOF /etc/conf\nname=$N\nEOF\n");
    let mkfile = file_actions(&g)
        .into_iter()
        .find_map(|a| match a {
            FileAction::Mkfile {
                path, mode, data, ..
            } => Some((path.clone(), *mode, data.clone())),
            _ => None,
        })
        .unwrap();
    assert_eq!(mkfile, ("/EOF".to_string(), 0o644, "name=x\n".to_string()));
}

#[test]
fn copy_link_builds_a_merge() {
    let g = build("FROM alpine\nCOPY --link app /app\n");
    let merge = g.vertices.last().unwrap();
    assert!(matches!(merge.op, Op::Merge));
    assert_eq!(merge.inputs.len(), 2);
    let copy = &g.vertices[merge.inputs[1].0];
    assert!(matches!(copy.op, Op::File(_)));
    assert!(matches!(
        g.vertices[copy.inputs[0].0].op,
        Op::Source(SourceOp::Scratch)
    ));
    assert!(matches!(
        g.vertices[merge.inputs[0].0].op,
        Op::Source(SourceOp::Image { .. })
    ));
    assert_eq!(
        g.target_stage().result,
        hoist_frontend::graph::VertexId(g.vertices.len() - 1)
    );
}

#[test]
fn add_url_becomes_http_source() {
    let g = build(
        "FROM alpine\nADD --checksum=sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef https://example.com/f.tar.gz /x/\n",
    );
    assert!(sources(&g).iter().any(|s| matches!(s,
        SourceOp::Http { url, checksum: Some(_), filename } if url == "https://example.com/f.tar.gz" && filename == "f.tar.gz")));
    let FileAction::Copy(c) = file_actions(&g)[0] else {
        panic!()
    };
    assert_eq!(c.sources, ["/f.tar.gz"]);
    assert!(!c.unpack, "URLs are not unpacked");
}

#[test]
fn add_git_url_becomes_git_source() {
    let g = build("FROM alpine\nADD --keep-git-dir https://github.com/a/b.git#v1.0:docs /docs\n");
    assert!(sources(&g).iter().any(|s| matches!(s,
        SourceOp::Git { url, reference, subdir, keep_git_dir: true } if url == "https://github.com/a/b.git" && reference == "v1.0" && subdir == "docs")));
}

#[test]
fn add_unpacks_local_archives_unless_told_not_to() {
    let unpack = |df: &str| {
        let g = build(df);
        let FileAction::Copy(c) = file_actions(&g)[0] else {
            panic!()
        };
        c.unpack
    };
    assert!(unpack("FROM alpine\nADD a.tar /\n"));
    assert!(!unpack("FROM alpine\nADD --unpack=false a.tar /\n"));
    assert!(!unpack("FROM alpine\nCOPY a.tar /\n"));
}

#[test]
fn vertex_names_show_stage_step_and_expanded_text() {
    let g =
        build("FROM alpine AS build\nARG V=1\nRUN echo $V $UNSET \"q\"\nFROM build\nCOPY a /a\n");
    let names: Vec<_> = g.vertices.iter().map(|v| v.name.as_str()).collect();
    assert!(
        names.contains(&"[build 1/2] FROM docker.io/library/alpine"),
        "{names:?}"
    );
    assert!(
        names.contains(&"[build 2/2] RUN echo 1 $UNSET \"q\""),
        "{names:?}"
    );
    assert!(names.contains(&"[stage-1 1/1] COPY a /a"), "{names:?}");
}

#[test]
fn single_stage_names_have_no_stage_and_pad_the_index() {
    let mut df = String::from("FROM alpine\n");
    for i in 0..10 {
        df.push_str(&format!("run step{i}\n"));
    }
    let g = build(&df);
    named(&g, "[ 1/11] FROM docker.io/library/alpine");
    named(&g, "[ 2/11] RUN step0");
    named(&g, "[11/11] RUN step9");
    let run = named(&g, "[ 2/11] RUN step0");
    assert_eq!(run.span.unwrap().line, 2);
    assert_eq!(run.stage, Some(0));
}
