//! `targets` and `outline`: stages with doc comments, and the args, secrets
//! and SSH ids a target uses.

use hoist_frontend::convert::{
    ConvertOptions, OutlineArg, OutlineSecret, OutlineSsh, outline, targets,
};
use hoist_frontend::parser::parse;

const DF: &str = r#"# syntax=docker/dockerfile:1

# GO_VERSION Go toolchain to build with
ARG GO_VERSION=1.22
ARG UNUSED=x

# build compiles the binary
FROM golang:${GO_VERSION} AS build
# MODE release or debug
ARG MODE=release
ARG TARGETARCH
RUN --mount=type=secret,id=netrc,required --mount=type=ssh go build

# Unrelated stage.
FROM alpine AS other
ARG OTHER=1
RUN --mount=type=secret,id=othersecret true

FROM scratch AS final
COPY --from=build /out /
"#;

#[test]
fn targets_list_every_stage_with_its_doc_comment() {
    let df = parse(DF).unwrap();
    let t = targets(&df, DF).unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].name.as_deref(), Some("build"));
    assert_eq!(t[0].description, "compiles the binary");
    assert_eq!(t[0].base, "golang:${GO_VERSION}");
    assert_eq!(t[1].description, "Unrelated stage.");
    assert_eq!(t[2].description, "");
    assert!(t[2].default && !t[0].default);
    let json = serde_json::to_string(&t[0]).unwrap();
    assert_eq!(
        json,
        r#"{"name":"build","index":0,"base":"golang:${GO_VERSION}","platform":null,"description":"compiles the binary","default":false}"#
    );
}

#[test]
fn outline_lists_args_secrets_and_ssh_of_needed_stages() {
    let df = parse(DF).unwrap();
    let o = outline(&df, DF, &ConvertOptions::default()).unwrap();
    assert_eq!(o.name.as_deref(), Some("final"));
    assert_eq!(
        o.args,
        [
            OutlineArg {
                name: "GO_VERSION".into(),
                value: Some("1.22".into()),
                description: "Go toolchain to build with".into()
            },
            OutlineArg {
                name: "MODE".into(),
                value: Some("release".into()),
                description: "release or debug".into()
            },
        ]
    );
    assert_eq!(
        o.secrets,
        [OutlineSecret {
            id: "netrc".into(),
            required: true
        }]
    );
    assert_eq!(
        o.ssh,
        [OutlineSsh {
            id: "default".into(),
            required: false
        }]
    );
}

#[test]
fn outline_follows_the_target() {
    let df = parse(DF).unwrap();
    let opts = ConvertOptions {
        target: Some("other".into()),
        ..ConvertOptions::default()
    };
    let o = outline(&df, DF, &opts).unwrap();
    assert_eq!(o.description, "Unrelated stage.");
    let names: Vec<_> = o.args.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["OTHER"]);
    assert_eq!(o.secrets[0].id, "othersecret");
}
