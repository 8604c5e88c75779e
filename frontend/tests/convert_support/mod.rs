//! Shared helpers of the `convert_*` tests: real parser input, fixed
//! platforms, and a resolver that answers from configs the test makes up
//! (the resolver is an input of the pure conversion).

#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::BTreeMap;

use hoist_frontend::convert::{ConvertOptions, ImageResolver, ResolvedImage, convert};
use hoist_frontend::diagnostic::Diagnostic;
use hoist_frontend::graph::{
    BuildGraph, ContainerConfig, ExecOp, FileAction, ImageConfig, Op, Platform, SourceOp, Vertex,
};
use hoist_frontend::parser::parse;

/// Answers with the configured image configs; records what it was asked.
#[derive(Default)]
pub struct FakeResolver {
    pub images: BTreeMap<String, ImageConfig>,
    pub asked: RefCell<Vec<String>>,
}

impl FakeResolver {
    /// Knows `alpine` (PATH, Cmd ["/bin/sh"]) and any image added.
    pub fn new() -> Self {
        let mut r = FakeResolver::default();
        r.images.insert(
            "alpine".into(),
            ImageConfig {
                config: ContainerConfig {
                    env: vec!["PATH=/usr/bin:/bin".into()],
                    cmd: Some(vec!["/bin/sh".into()]),
                    ..Default::default()
                },
                history: vec![hoist_frontend::graph::History {
                    created_by: Some("base layer".into()),
                    ..Default::default()
                }],
                ..Default::default()
            },
        );
        r
    }

    pub fn with(mut self, name: &str, config: ContainerConfig) -> Self {
        self.images.insert(
            name.into(),
            ImageConfig {
                config,
                ..Default::default()
            },
        );
        self
    }
}

impl ImageResolver for FakeResolver {
    fn resolve(&self, reference: &str, _platform: &Platform) -> Result<ResolvedImage, String> {
        self.asked.borrow_mut().push(reference.to_string());
        let config = self
            .images
            .get(reference)
            .cloned()
            .ok_or_else(|| format!("no image {reference}"))?;
        Ok(ResolvedImage {
            reference: format!("docker.io/library/{reference}"),
            config,
        })
    }
}

/// Options with fixed platforms (target linux/arm64, build linux/amd64).
pub fn opts() -> ConvertOptions {
    ConvertOptions {
        target_platform: "linux/arm64".parse().unwrap(),
        build_platform: "linux/amd64".parse().unwrap(),
        ..ConvertOptions::default()
    }
}

pub fn opts_with_args(args: &[(&str, &str)]) -> ConvertOptions {
    let mut o = opts();
    for (k, v) in args {
        o.build_args.insert(k.to_string(), v.to_string());
    }
    o
}

pub fn try_build_with(
    df: &str,
    opts: &ConvertOptions,
    resolver: &FakeResolver,
) -> Result<BuildGraph, Diagnostic> {
    let parsed = parse(df).expect("test Dockerfile parses");
    let graph = convert(&parsed, df, opts, resolver)?;
    assert_well_formed(&graph);
    Ok(graph)
}

/// Inputs come before their users and every vertex is needed by a stage.
pub fn assert_well_formed(g: &BuildGraph) {
    for (n, v) in g.vertices.iter().enumerate() {
        assert!(v.inputs.iter().all(|i| i.0 < n), "inputs of {n} come first");
        assert!(v.stage.is_none_or(|s| s < g.stages.len()));
    }
    let mut pruned = g.clone();
    let roots: Vec<_> = g.stages.iter().map(|s| s.result).collect();
    pruned.retain_reachable(&roots);
    assert_eq!(
        pruned.vertices.len(),
        g.vertices.len(),
        "every vertex is reachable"
    );
}

pub fn try_build(df: &str) -> Result<BuildGraph, Diagnostic> {
    try_build_with(df, &opts(), &FakeResolver::new())
}

pub fn build(df: &str) -> BuildGraph {
    try_build(df).unwrap_or_else(|d| panic!("convert failed: {}", d.render("Dockerfile", df)))
}

pub fn build_with(df: &str, opts: &ConvertOptions) -> BuildGraph {
    try_build_with(df, opts, &FakeResolver::new())
        .unwrap_or_else(|d| panic!("convert failed: {}", d.render("Dockerfile", df)))
}

/// Every exec op, in graph order.
pub fn execs(g: &BuildGraph) -> Vec<&ExecOp> {
    g.vertices
        .iter()
        .filter_map(|v| match &v.op {
            Op::Exec(e) => Some(e),
            _ => None,
        })
        .collect()
}

/// The only exec op of the graph.
pub fn the_exec(g: &BuildGraph) -> &ExecOp {
    let e = execs(g);
    assert_eq!(e.len(), 1, "expected one RUN: {e:#?}");
    e[0]
}

/// `created_by` of the target's history entries.
pub fn history(g: &BuildGraph) -> Vec<String> {
    g.target_stage()
        .config
        .history
        .iter()
        .map(|h| h.created_by.clone().unwrap_or_default())
        .collect()
}

/// The vertex named exactly `name`.
pub fn named<'g>(g: &'g BuildGraph, name: &str) -> &'g Vertex {
    g.vertices
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| {
            let names: Vec<_> = g.vertices.iter().map(|v| &v.name).collect();
            panic!("no vertex {name:?} in {names:#?}")
        })
}

/// Every file action of the graph.
pub fn file_actions(g: &BuildGraph) -> Vec<&FileAction> {
    g.vertices
        .iter()
        .filter_map(|v| match &v.op {
            Op::File(f) => Some(f.actions.iter()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// Source ops of the graph.
pub fn sources(g: &BuildGraph) -> Vec<&SourceOp> {
    g.vertices
        .iter()
        .filter_map(|v| match &v.op {
            Op::Source(s) => Some(s),
            _ => None,
        })
        .collect()
}

/// `K=V` of an exec's env.
pub fn env_of<'e>(e: &'e ExecOp, k: &str) -> Option<&'e str> {
    e.env
        .iter()
        .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
}
