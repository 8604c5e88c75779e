//! `hoist targets`, `hoist outline` and `hoist graph` end to end: the real
//! binary on a Dockerfile in a temp dir.

use std::path::Path;
use std::process::{Command, Output};

const HOIST: &str = env!("CARGO_BIN_EXE_hoist");

const DOCKERFILE: &str = "\
# syntax=docker/dockerfile:1
ARG GO_VERSION=1.22
# base is the shared base
FROM golang:${GO_VERSION} AS base
FROM alpine
# build compiles the app
FROM base AS build
# VERSION sets the version
ARG VERSION=dev
RUN --mount=type=secret,id=github_token,required=true --mount=type=ssh echo $VERSION
# release ships it
FROM scratch AS release
COPY --from=build /out /
";

fn hoist(dir: &Path, args: &[&str]) -> Output {
    Command::new(HOIST)
        .args(args)
        .current_dir(dir)
        .env_remove("NO_COLOR")
        .output()
        .expect("run hoist")
}

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), DOCKERFILE).unwrap();
    dir
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[test]
fn targets_lists_named_stages_with_descriptions_and_marks_the_default() {
    let dir = project();
    let o = hoist(dir.path(), &["targets"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "TARGET              DESCRIPTION\n\
         base                is the shared base\n\
         build               compiles the app\n\
         release (default)   ships it\n"
    );
}

#[test]
fn targets_json_lists_every_stage() {
    let dir = project();
    let o = hoist(dir.path(), &["targets", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 4);
    assert_eq!(v[3]["name"], "release");
    assert_eq!(v[3]["default"], true);
}

#[test]
fn outline_prints_target_args_secrets_and_ssh() {
    let dir = project();
    let o = hoist(dir.path(), &["outline", "--target", "build"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    assert_eq!(
        text(&o.stdout),
        "TARGET:      build\n\
         DESCRIPTION: compiles the app\n\
         \n\
         BUILD ARG    VALUE   DESCRIPTION\n\
         GO_VERSION   1.22\n\
         VERSION      dev     sets the version\n\
         \n\
         SECRET         REQUIRED\n\
         github_token   true\n\
         \n\
         SSH       REQUIRED\n\
         default   false\n"
    );
}

#[test]
fn outline_json_has_the_same_content() {
    let dir = project();
    let o = hoist(dir.path(), &["outline", "--format", "json"]);
    assert_eq!(o.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["name"], "release");
    assert_eq!(v["secrets"][0]["id"], "github_token");
}

#[test]
fn graph_prints_json_and_dot() {
    let dir = project();
    let o = hoist(dir.path(), &["graph", "--platform", "linux/arm64"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let vertices = v["vertices"].as_array().unwrap();
    assert!(
        vertices
            .iter()
            .any(|x| x["name"].as_str().unwrap().contains("RUN"))
    );
    assert!(
        vertices
            .iter()
            .all(|x| x["digest"].as_str().unwrap().starts_with("sha256:"))
    );
    let o = hoist(
        dir.path(),
        &["graph", "--format", "dot", "--target", "build"],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(
        text(&o.stdout).starts_with("digraph build {"),
        "{}",
        text(&o.stdout)
    );
}

#[test]
fn unknown_target_fails_with_the_stage_list() {
    let dir = project();
    let o = hoist(dir.path(), &["graph", "--target", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        text(&o.stderr),
        "error: Dockerfile: target stage \"nope\" could not be found (stages: base, build, release)\n"
    );
}

#[test]
fn graph_takes_one_platform() {
    let dir = project();
    let o = hoist(
        dir.path(),
        &["graph", "--platform", "linux/amd64,linux/arm64"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(text(&o.stderr), "error: hoist graph takes one --platform\n");
}

#[test]
fn dockerfile_errors_in_targets_are_located() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM a\nRUN <<EOF\n").unwrap();
    let o = hoist(dir.path(), &["targets"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        text(&o.stderr).starts_with("Dockerfile:2:5: unterminated heredoc"),
        "{}",
        text(&o.stderr)
    );
}
