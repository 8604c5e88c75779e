//! Digests: deterministic, local to what changed, shared between equal steps.

mod convert_support;

use convert_support::*;

const DF: &str = "ARG V=1\nFROM alpine AS a\nARG V\nENV X=$V\nRUN one\nCOPY f /f\nRUN two\nRUN three\nFROM scratch\nCOPY --from=a /f /g\n";

fn digests(df: &str) -> Vec<String> {
    build(df)
        .vertices
        .iter()
        .map(|v| v.digest.clone())
        .collect()
}

#[test]
fn same_dockerfile_gives_identical_digests() {
    let a = build(DF);
    let b = build(DF);
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap(),
        "the whole graph is byte-identical"
    );
    assert!(
        a.vertices
            .iter()
            .all(|v| v.digest.starts_with("sha256:") && v.digest.len() == 71)
    );
}

#[test]
fn changing_one_run_changes_only_it_and_later_vertices() {
    let before = build(DF);
    let after = build(&DF.replace("RUN two", "RUN TWO"));
    assert_eq!(before.vertices.len(), after.vertices.len());
    let changed: Vec<&str> = before
        .vertices
        .iter()
        .zip(&after.vertices)
        .filter(|(x, y)| x.digest != y.digest)
        .map(|(x, _)| x.name.as_str())
        .collect();
    assert_eq!(
        changed,
        [
            "[a 4/5] RUN two",
            "[a 5/5] RUN three",
            "[stage-1 1/1] COPY --from=a /f /g"
        ]
    );
}

#[test]
fn build_arg_value_changes_digests_from_its_first_use() {
    let a = digests(DF);
    let mut o = opts();
    o.build_args.insert("V".into(), "2".into());
    let b: Vec<_> = build_with(DF, &o)
        .vertices
        .iter()
        .map(|v| v.digest.clone())
        .collect();
    assert_eq!(a[0], b[0], "the image source does not depend on V");
    assert_ne!(a.last(), b.last());
}

#[test]
fn identical_stages_share_vertices() {
    let one = build("FROM alpine\nRUN make\nCOPY x /x\n");
    let two = build(
        "FROM alpine AS a\nRUN make\nCOPY x /x\nFROM alpine AS b\nRUN make\nCOPY x /x\nFROM scratch\nCOPY --from=a /x /a\nCOPY --from=b /x /b\n",
    );
    let a = two.stages[0].result;
    let b = two.stages[1].result;
    assert_eq!(a, b, "both stages end in the same vertex");
    let steps = two
        .vertices
        .iter()
        .filter(|v| v.stage == Some(0) || v.stage == Some(1))
        .count();
    let single_steps = one.vertices.iter().filter(|v| v.stage == Some(0)).count();
    assert_eq!(steps, single_steps);
}
