//! Tests of `hoist build`'s flags → [`BuildRequest`] conversion.

use std::collections::BTreeMap;

use clap::Parser;
use hoist_builder::export::spec::{OutputDest, OutputKind};
use hoist_builder::request::{BuildContextSpec, NetworkMode, SecretSource};

use super::*;

#[derive(Parser)]
struct TestCli {
    #[command(flatten)]
    build: BuildArgs,
}

fn args(argv: &[&str]) -> BuildArgs {
    TestCli::try_parse_from(std::iter::once("build").chain(argv.iter().copied()))
        .unwrap()
        .build
}

fn inputs() -> BuildInputs {
    BuildInputs {
        context: PathBuf::from("ctx"),
        dockerfile: PathBuf::from("ctx/Dockerfile"),
        dockerfile_text: "FROM scratch\n".into(),
        _stdin_context: None,
    }
}

fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| vars.get(k).cloned()
}

fn request(argv: &[&str]) -> Result<BuildRequest, UsageError> {
    build_request(&args(argv), &inputs(), &env_of(&[]))
}

#[test]
fn build_flag_definitions_are_consistent() {
    use clap::CommandFactory;
    TestCli::command().debug_assert();
}

#[test]
fn defaults_build_for_the_host_into_the_store() {
    let r = request(&["."]).unwrap();
    assert_eq!(r.context, PathBuf::from("ctx"));
    assert_eq!(r.dockerfile_text, "FROM scratch\n");
    assert!(r.platforms.is_empty() && r.outputs.is_empty() && r.tags.is_empty());
    assert_eq!(r.network, NetworkMode::Default);
    assert!(r.jobs >= 1);
    assert!(!r.push && !r.no_cache && !r.pull);
}

#[test]
fn repeatable_flags_accumulate() {
    let r = request(&[
        "-t",
        "a:1",
        "--tag",
        "b",
        "--label",
        "x=1",
        "--label",
        "y",
        "--annotation",
        "index:org.k=v",
        "--insecure-registry",
        "localhost:5000",
        ".",
    ])
    .unwrap();
    assert_eq!(r.tags, ["a:1", "b"]);
    assert_eq!(r.labels.get("x").map(String::as_str), Some("1"));
    assert_eq!(r.labels.get("y").map(String::as_str), Some(""));
    assert_eq!(
        r.annotations,
        [("index:org.k".to_string(), "v".to_string())]
    );
    assert_eq!(r.insecure_registries, ["localhost:5000"]);
}

#[test]
fn build_arg_without_value_comes_from_the_environment() {
    let a = args(&[
        "--build-arg",
        "A=1",
        "--build-arg",
        "HTTP_PROXY",
        "--build-arg",
        "UNSET",
        ".",
    ]);
    let r = build_request(&a, &inputs(), &env_of(&[("HTTP_PROXY", "http://p:3128")])).unwrap();
    assert_eq!(r.build_args.get("A").map(String::as_str), Some("1"));
    assert_eq!(
        r.build_args.get("HTTP_PROXY").map(String::as_str),
        Some("http://p:3128")
    );
    assert!(!r.build_args.contains_key("UNSET"));
    assert_eq!(
        request(&["--build-arg", "=x", "."])
            .unwrap_err()
            .to_string(),
        "invalid --build-arg \"=x\": empty name"
    );
}

#[test]
fn platforms_are_comma_separated_repeatable_and_deduplicated() {
    let r = request(&[
        "--platform",
        "linux/amd64,linux/arm64",
        "--platform",
        "linux/amd64",
        ".",
    ])
    .unwrap();
    let names: Vec<String> = r.platforms.iter().map(|p| p.to_string()).collect();
    assert_eq!(names, ["linux/amd64", "linux/arm64"]);
    assert!(request(&["--platform", "linux/amd64/v1/x", "."]).is_err());
}

#[test]
fn specs_are_parsed_into_typed_values() {
    let r = request(&[
        "--secret",
        "id=npm,src=/n",
        "--ssh",
        "default",
        "--build-context",
        "lib=docker-image://alpine",
        "-o",
        "type=oci,dest=out.tar",
        "-o",
        "dir",
        "--network",
        "none",
        "--no-cache-filter",
        "a,b",
        "--push",
        "--explain-cache",
        "--jobs",
        "3",
        "--target",
        "t",
        "--iidfile",
        "iid",
        "--metadata-file",
        "m.json",
        "--pull",
        "--no-cache",
        ".",
    ])
    .unwrap();
    assert_eq!(r.secrets[0].source, SecretSource::File("/n".into()));
    assert_eq!(r.ssh[0].id, "default");
    assert_eq!(
        r.build_contexts["lib"],
        BuildContextSpec::Image("alpine".into())
    );
    assert_eq!(r.outputs[0].kind, OutputKind::Oci);
    assert_eq!(r.outputs[1].dest, Some(OutputDest::Path("dir".into())));
    assert_eq!(r.network, NetworkMode::None);
    assert_eq!(r.no_cache_filter, ["a", "b"]);
    assert!(r.push && r.explain_cache && r.pull && r.no_cache);
    assert_eq!(r.jobs, 3);
    assert_eq!(r.target.as_deref(), Some("t"));
    assert_eq!(r.iidfile, Some(PathBuf::from("iid")));
    assert_eq!(r.metadata_file, Some(PathBuf::from("m.json")));
}

#[test]
fn bad_values_are_usage_errors_naming_the_flag() {
    let e = request(&["-o", "type=zip", "."]).unwrap_err().to_string();
    assert!(
        e.starts_with("invalid --output \"type=zip\": unknown output type"),
        "{e}"
    );
    let e = request(&["--network", "bridge", "."])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--network"), "{e}");
    let e = request(&["--secret", "id=x,type=vault", "."])
        .unwrap_err()
        .to_string();
    assert!(e.contains("--secret"), "{e}");
    assert!(request(&["--jobs", "0", "."]).is_err());
    assert!(request(&["--annotation", "novalue", "."]).is_err());
    let f: Failure = request(&["--ssh", "=x", "."]).unwrap_err().into();
    assert_eq!(
        format!("{:?}", f.exit_code()),
        format!("{:?}", std::process::ExitCode::from(2))
    );
}

#[test]
fn source_date_epoch_comes_from_the_build_arg_or_the_environment() {
    let a = args(&["."]);
    let r = build_request(
        &a,
        &inputs(),
        &env_of(&[("SOURCE_DATE_EPOCH", "1700000000")]),
    )
    .unwrap();
    assert_eq!(r.source_date_epoch, Some(1_700_000_000));
    let r = request(&["--build-arg", "SOURCE_DATE_EPOCH=5", "."]).unwrap();
    assert_eq!(r.source_date_epoch, Some(5));
    assert!(request(&["--build-arg", "SOURCE_DATE_EPOCH=soon", "."]).is_err());
}

#[test]
fn quiet_progress_and_load_are_accepted() {
    let a = args(&["-q", "--load", "--progress", "rawjson", "."]);
    assert!(a.quiet && a.load);
    assert_eq!(a.progress, ProgressMode::Rawjson);
    assert!(TestCli::try_parse_from(["build", "--progress", "fancy", "."]).is_err());
}

#[test]
fn data_root_prefers_the_flag() {
    let a = args(&["--root", "/tmp/r", "."]);
    assert_eq!(data_root(&a, &env_of(&[])), PathBuf::from("/tmp/r"));
}

#[test]
fn inputs_read_the_default_dockerfile_of_the_context() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM alpine\n").unwrap();
    let a = args(&[dir.path().to_str().unwrap()]);
    let i = BuildInputs::read(&a).unwrap();
    assert_eq!(i.dockerfile, dir.path().join("Dockerfile"));
    assert_eq!(i.dockerfile_text, "FROM alpine\n");
    let a = args(&[
        "-f",
        "/nonexistent/Dockerfile.dev",
        dir.path().to_str().unwrap(),
    ]);
    let e = BuildInputs::read(&a).unwrap_err();
    assert!(
        e.render(crate::render::Style::PLAIN).starts_with(
            "error: cannot read Dockerfile /nonexistent/Dockerfile.dev\n  caused by: "
        )
    );
}

#[test]
fn context_and_dockerfile_cannot_both_come_from_stdin() {
    let a = args(&["-f", "-", "-"]);
    let e = BuildInputs::read(&a).unwrap_err();
    assert!(matches!(e, Failure::Usage(_)), "{e:?}");
}

fn tar_of(dir: &std::path::Path, extra: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new("tar")
        .args(extra)
        .args(["-C", dir.to_str().unwrap(), "-cf", "-", "."])
        .output()
        .expect("GNU tar is needed for this test");
    assert!(out.status.success());
    out.stdout
}

#[test]
fn a_tar_on_stdin_is_extracted_as_the_context() {
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("Dockerfile"), "FROM scratch\nCOPY app /\n").unwrap();
    std::fs::write(src.path().join("app"), "binary").unwrap();
    for compress in [&[][..], &["-z"]] {
        let tar = tar_of(src.path(), compress);
        let i = BuildInputs::read_with_stdin(&args(&["-"]), &mut tar.as_slice()).unwrap();
        assert_eq!(i.dockerfile_text, "FROM scratch\nCOPY app /\n");
        assert_eq!(
            std::fs::read_to_string(i.context.join("app")).unwrap(),
            "binary"
        );
        assert_eq!(i.dockerfile, i.context.join("Dockerfile"));
        let context = i.context.clone();
        drop(i);
        assert!(
            !context.exists(),
            "the temporary context goes away with the inputs"
        );
    }
}

#[test]
fn a_dockerfile_on_stdin_builds_with_an_empty_context() {
    let mut stdin: &[u8] = b"FROM alpine\nRUN true\n";
    let i = BuildInputs::read_with_stdin(&args(&["-"]), &mut stdin).unwrap();
    assert_eq!(i.dockerfile_text, "FROM alpine\nRUN true\n");
    assert_eq!(i.dockerfile, PathBuf::from("-"));
    assert_eq!(std::fs::read_dir(&i.context).unwrap().count(), 0);
}

#[test]
fn dockerfile_dash_reads_stdin_with_a_directory_context() {
    let dir = tempfile::tempdir().unwrap();
    let mut stdin: &[u8] = b"FROM scratch\n";
    let a = args(&["-f", "-", dir.path().to_str().unwrap()]);
    let i = BuildInputs::read_with_stdin(&a, &mut stdin).unwrap();
    assert_eq!(i.context, dir.path());
    assert_eq!(i.dockerfile_text, "FROM scratch\n");
}
