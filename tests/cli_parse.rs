//! `hoist parse` end to end: the real binary on Dockerfiles in a temp dir,
//! pinning stdout, the exact non-terminal error rendering and exit codes.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const HOIST: &str = env!("CARGO_BIN_EXE_hoist");

fn hoist(dir: &Path, args: &[&str]) -> Output {
    Command::new(HOIST)
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .output()
        .expect("run hoist")
}

fn with_dockerfile(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), text).unwrap();
    dir
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn parse_prints_the_dump_of_the_default_dockerfile() {
    let dir = with_dockerfile(
        "FROM alpine AS build\nRUN --mount=type=cache,target=/c make \\\n  all\nCOPY a b\n",
    );
    let o = hoist(dir.path(), &["parse"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "(from \"alpine\" \"AS\" \"build\")\n\
         (run [\"--mount=type=cache,target=/c\"] \"make   all\")\n\
         (copy \"a\" \"b\")\n"
    );
    assert_eq!(stderr(&o), "");
}

#[test]
fn parse_json_format_is_a_json_document() {
    let dir = with_dockerfile("# syntax=docker/dockerfile:1\nFROM scratch\n");
    let o = hoist(dir.path(), &["parse", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["directives"]["syntax"], "docker/dockerfile:1");
    assert_eq!(v["instructions"][0]["keyword"], "from");
    assert_eq!(v["instructions"][0]["args"][0], "scratch");
}

#[test]
fn parse_error_shows_location_source_line_and_caret_and_exits_1() {
    let dir = with_dockerfile("FROM alpine\nRUN <<EOF\necho hi\n");
    let o = hoist(dir.path(), &["parse", "-f", "Dockerfile"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stdout(&o), "");
    assert_eq!(
        stderr(&o),
        "Dockerfile:2:5: unterminated heredoc: no line `EOF` ends it\n\
         2 | RUN <<EOF\n  \
           |     ^^^^^\n"
    );
}

#[test]
fn parse_error_names_the_file_as_given() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(
        dir.path().join("sub/app.Dockerfile"),
        "# escape=x\nFROM a\n",
    )
    .unwrap();
    let o = hoist(dir.path(), &["parse", "-f", "sub/app.Dockerfile"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "sub/app.Dockerfile:1:10: invalid escape token 'x' does not match ` or \\\n\
         1 | # escape=x\n  \
           |          ^\n"
    );
}

#[test]
fn parse_warnings_go_to_stderr_and_do_not_fail() {
    let dir = with_dockerfile("FROM a\nRUN a \\\n\n  b\n");
    let o = hoist(dir.path(), &["parse"]);
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stdout(&o), "(from \"a\")\n(run \"a   b\")\n");
    assert_eq!(
        stderr(&o),
        "Dockerfile:3:1: warning: empty continuation line (empty continuation lines will become errors in a future release)\n\
         3 | \n  \
           | ^\n"
    );
}

#[test]
fn parse_reads_standard_input_for_dash() {
    let mut child = Command::new(HOIST)
        .args(["parse", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"FROM a\nRUN <<EOF\n")
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).starts_with("Dockerfile:2:5: "), "{}", stderr(&o));
}

#[test]
fn missing_dockerfile_is_an_error_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    let o = hoist(dir.path(), &["parse", "-f", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "error: cannot read Dockerfile nope\n  caused by: No such file or directory (os error 2)\n"
    );
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["parse", "--bogus"][..],
        &[],
        &["frobnicate"],
        &["parse", "-f"],
    ] {
        let o = hoist(dir.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
        assert_eq!(stdout(&o), "", "{args:?}");
        assert!(
            stderr(&o).contains("error:") || stderr(&o).contains("Usage: hoist"),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn an_invalid_format_is_a_usage_error() {
    let dir = with_dockerfile("FROM a\n");
    let o = hoist(dir.path(), &["parse", "--format", "yaml"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("[possible values: dump, json]"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn help_lists_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let o = hoist(dir.path(), &["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for command in ["parse", "targets", "outline", "graph"] {
        assert!(text.contains(&format!("  {command} ")), "{command}: {text}");
    }
}

/// Runs `hoist ARGS` under a pseudo-terminal (util-linux `script`).
fn on_a_terminal(dir: &Path, args: &str, no_color: bool) -> (Option<i32>, String) {
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &format!("{HOIST} {args}"), "/dev/null"])
        .current_dir(dir)
        .env("TERM", "xterm-256color")
        .env("COLUMNS", "80")
        .stdin(Stdio::null());
    if no_color {
        cmd.env("NO_COLOR", "1");
    } else {
        cmd.env_remove("NO_COLOR");
    }
    let o = cmd.output().expect(
        "util-linux `script` is needed to test terminal rendering (apt-get install util-linux)",
    );
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).replace("\r\n", "\n"),
    )
}

#[test]
fn on_a_terminal_errors_are_drawn_by_miette_with_colours() {
    let dir = with_dockerfile("FROM alpine\nRUN <<EOF\n");
    let (code, out) = on_a_terminal(dir.path(), "parse", false);
    assert_eq!(code, Some(1));
    assert!(out.contains("unterminated heredoc"), "{out}");
    assert!(out.contains("Dockerfile:2:5"), "{out}");
    assert!(out.contains('╭'), "{out}");
    assert!(
        out.contains('\u{1b}'),
        "colours expected on a terminal: {out:?}"
    );
}

#[test]
fn no_color_turns_colours_off_on_a_terminal() {
    let dir = with_dockerfile("FROM alpine\nRUN <<EOF\n");
    let (code, out) = on_a_terminal(dir.path(), "parse", true);
    assert_eq!(code, Some(1));
    assert!(out.contains("  × unterminated heredoc"), "{out}");
    assert!(out.contains("╭─[Dockerfile:2:5]"), "{out}");
    assert!(!out.contains('\u{1b}'), "no colours with NO_COLOR: {out:?}");
}

#[test]
fn ctrl_c_exits_with_130() {
    // `parse -f -` waits on stdin, which stays open: only SIGINT ends it.
    let mut child = Command::new(HOIST)
        .args(["parse", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let pid = i32::try_from(child.id()).unwrap();
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    // `wait` closes the child's stdin first; keep it open so that only the
    // signal can end the child (EOF would end it with exit code 1).
    let _stdin = child.stdin.take();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{status:?}");
}
