//! One build for several target platforms: the Dockerfile converted once per
//! platform (each with its own `TARGETPLATFORM` and default stage platform)
//! and the graphs merged into one [`BuildGraph`].
//!
//! Merging goes by vertex digest, like [`crate::graph::GraphBuilder`]: a
//! vertex whose definition is the same for every platform (a
//! `FROM --platform=$BUILDPLATFORM` stage that does not read `TARGET*`
//! args, a context read, an http source) is one vertex of the merged graph
//! and so runs once. A vertex that exists for only some of the platforms
//! gets those platforms in its name (`[linux/arm64 stage-1 2/3] RUN ...`),
//! the way BuildKit names per-platform steps. Every platform's stages are
//! kept (appended in platform order), and each platform's target stage is
//! listed in [`PlatformGraph::targets`].
//!
//! A single platform gives exactly the graph [`super::convert`] gives.

use std::collections::HashMap;

use crate::diagnostic::Diagnostic;
use crate::graph::{BuildGraph, Platform, VertexId};
use crate::parser::Dockerfile;

use super::{ConvertOptions, ImageResolver, convert};

/// The merged graph of a multi-platform build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformGraph {
    /// Every platform's vertices (shared ones once) and stages;
    /// `graph.target` is the first platform's target.
    pub graph: BuildGraph,
    /// Per requested platform, in the order asked: its target stage
    /// (an index into `graph.stages`).
    pub targets: Vec<PlatformTarget>,
}

/// One platform's result in a [`PlatformGraph`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformTarget {
    pub platform: Platform,
    /// Position of the target stage in [`BuildGraph::stages`].
    pub stage: usize,
}

impl PlatformGraph {
    /// The vertices whose results the build needs: each target's result.
    pub fn roots(&self) -> Vec<VertexId> {
        let mut roots: Vec<VertexId> = Vec::new();
        for t in &self.targets {
            let r = self.graph.stages[t.stage].result;
            if !roots.contains(&r) {
                roots.push(r);
            }
        }
        roots
    }
}

/// Converts `dockerfile` once per platform of `platforms` (with
/// `opts.target_platform` replaced) and merges the graphs. `platforms`
/// must not be empty; with one platform the graph is [`convert`]'s.
pub fn convert_platforms(
    dockerfile: &Dockerfile,
    source: &str,
    opts: &ConvertOptions,
    platforms: &[Platform],
    resolver: &dyn ImageResolver,
) -> Result<PlatformGraph, Diagnostic> {
    let mut graphs = Vec::with_capacity(platforms.len());
    for p in platforms {
        let mut o = opts.clone();
        o.target_platform = p.clone();
        graphs.push((p.clone(), convert(dockerfile, source, &o, resolver)?));
    }
    Ok(merge(graphs))
}

/// Merges per-platform graphs (see the module doc).
pub fn merge(graphs: Vec<(Platform, BuildGraph)>) -> PlatformGraph {
    if graphs.len() == 1 {
        let (platform, graph) = graphs.into_iter().next().expect("one graph");
        let stage = graph.target;
        return PlatformGraph {
            graph,
            targets: vec![PlatformTarget { platform, stage }],
        };
    }
    // Which platforms use each digest, to name the unshared vertices.
    let mut users: HashMap<&str, Vec<&Platform>> = HashMap::new();
    for (p, g) in &graphs {
        for v in &g.vertices {
            let u = users.entry(v.digest.as_str()).or_default();
            if !u.contains(&p) {
                u.push(p);
            }
        }
    }
    let everyone = graphs.len();
    let names: HashMap<String, Option<String>> = users
        .into_iter()
        .map(|(d, ps)| {
            let label = (ps.len() < everyone).then(|| {
                ps.iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            });
            (d.to_string(), label)
        })
        .collect();

    let mut vertices = Vec::new();
    let mut stages = Vec::new();
    let mut warnings: Vec<Diagnostic> = Vec::new();
    let mut by_digest: HashMap<String, VertexId> = HashMap::new();
    let mut targets = Vec::new();
    for (platform, g) in graphs {
        let stage_offset = stages.len();
        let mut remap = Vec::with_capacity(g.vertices.len());
        for mut v in g.vertices {
            if let Some(id) = by_digest.get(&v.digest) {
                remap.push(*id);
                continue;
            }
            let id = VertexId(vertices.len());
            v.inputs = v.inputs.iter().map(|i| remap[i.0]).collect();
            v.stage = v.stage.map(|s| s + stage_offset);
            if let Some(Some(label)) = names.get(&v.digest) {
                v.name = label_name(&v.name, label);
            }
            by_digest.insert(v.digest.clone(), id);
            remap.push(id);
            vertices.push(v);
        }
        for mut s in g.stages {
            s.result = remap[s.result.0];
            stages.push(s);
        }
        for w in g.warnings {
            if !warnings.contains(&w) {
                warnings.push(w);
            }
        }
        targets.push(PlatformTarget {
            platform,
            stage: stage_offset + g.target,
        });
    }
    let target = targets.first().map_or(0, |t| t.stage);
    PlatformGraph {
        graph: BuildGraph {
            vertices,
            stages,
            target,
            warnings,
        },
        targets,
    }
}

/// `[stage 2/3] RUN x` → `[linux/arm64 stage 2/3] RUN x`; names without
/// a bracket get the label in front.
fn label_name(name: &str, label: &str) -> String {
    match name.strip_prefix('[') {
        Some(rest) => format!("[{label} {rest}"),
        None => format!("[{label}] {name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::NoResolver;
    use crate::graph::{Op, SourceOp};

    fn platforms(list: &[&str]) -> Vec<Platform> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    fn build(df: &str, list: &[&str]) -> PlatformGraph {
        let parsed = crate::parser::parse(df).unwrap();
        let opts = ConvertOptions {
            build_platform: "linux/amd64".parse().unwrap(),
            ..ConvertOptions::default()
        };
        convert_platforms(&parsed, df, &opts, &platforms(list), &NoResolver).unwrap()
    }

    const CROSS: &str = "FROM --platform=$BUILDPLATFORM alpine AS build\n\
        RUN make\n\
        FROM alpine\n\
        ARG TARGETARCH\n\
        COPY --from=build /out/$TARGETARCH /app\n\
        RUN ls\n";

    #[test]
    fn build_platform_stage_is_one_vertex_for_every_target() {
        let g = build(CROSS, &["linux/amd64", "linux/arm64"]);
        let makes: Vec<_> = g
            .graph
            .vertices
            .iter()
            .filter(|v| v.name.ends_with("RUN make"))
            .collect();
        assert_eq!(makes.len(), 1, "{:#?}", g.graph.vertices);
        assert!(!makes[0].name.contains("linux/"), "{}", makes[0].name);
        let lss: Vec<_> = g
            .graph
            .vertices
            .iter()
            .filter(|v| v.name.ends_with("RUN ls"))
            .map(|v| v.name.clone())
            .collect();
        assert_eq!(lss.len(), 2);
        assert!(lss[0].starts_with("[linux/amd64 "), "{lss:?}");
        assert!(lss[1].starts_with("[linux/arm64 "), "{lss:?}");
    }

    #[test]
    fn each_platform_gets_its_target_stage_and_image_platform() {
        let g = build(CROSS, &["linux/amd64", "linux/arm64", "linux/arm/v7"]);
        assert_eq!(g.targets.len(), 3);
        let archs: Vec<_> = g
            .targets
            .iter()
            .map(|t| {
                let s = &g.graph.stages[t.stage];
                assert_eq!(s.platform, t.platform);
                (s.config.architecture.clone(), s.config.variant.clone())
            })
            .collect();
        assert_eq!(
            archs,
            [
                ("amd64".into(), String::new()),
                ("arm64".into(), String::new()),
                ("arm".into(), "v7".into())
            ]
        );
        assert_eq!(g.roots().len(), 3);
        let images: Vec<_> = g
            .graph
            .vertices
            .iter()
            .filter_map(|v| match &v.op {
                Op::Source(SourceOp::Image { platform, .. }) => Some(platform.to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(
            images,
            ["linux/amd64", "linux/arm64", "linux/arm/v7"],
            "the build stage's image is the amd64 one, shared"
        );
    }

    #[test]
    fn merged_inputs_point_at_merged_vertices() {
        let g = build(CROSS, &["linux/amd64", "linux/arm64"]);
        for (i, v) in g.graph.vertices.iter().enumerate() {
            for input in &v.inputs {
                assert!(input.0 < i, "topological order kept");
            }
            let digests: Vec<&str> = v
                .inputs
                .iter()
                .map(|x| g.graph.vertices[x.0].digest.as_str())
                .collect();
            assert_eq!(crate::graph::vertex_digest(&v.op, &digests), v.digest);
        }
    }

    #[test]
    fn each_platform_sees_its_own_target_args_and_the_same_build_args() {
        let df = "FROM alpine\n\
            ARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDPLATFORM BUILDARCH\n\
            RUN echo\n";
        let g = build(df, &["linux/arm/v7", "linux/arm64"]);
        let envs: Vec<Vec<String>> = g
            .graph
            .vertices
            .iter()
            .filter_map(|v| match &v.op {
                Op::Exec(e) => Some(e.env.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(envs.len(), 2);
        for (env, (platform, arch, variant)) in envs
            .iter()
            .zip([("linux/arm/v7", "arm", "v7"), ("linux/arm64", "arm64", "")])
        {
            for want in [
                format!("TARGETPLATFORM={platform}"),
                "TARGETOS=linux".to_string(),
                format!("TARGETARCH={arch}"),
                format!("TARGETVARIANT={variant}"),
                "BUILDPLATFORM=linux/amd64".to_string(),
                "BUILDARCH=amd64".to_string(),
            ] {
                assert!(env.contains(&want), "{want} in {env:?}");
            }
        }
    }

    #[test]
    fn one_platform_gives_the_plain_conversion() {
        let df = "FROM alpine\nRUN ls\n";
        let parsed = crate::parser::parse(df).unwrap();
        let opts = ConvertOptions::default();
        let single = convert(&parsed, df, &opts, &NoResolver).unwrap();
        let multi = convert_platforms(
            &parsed,
            df,
            &opts,
            std::slice::from_ref(&opts.target_platform),
            &NoResolver,
        )
        .unwrap();
        assert_eq!(multi.graph, single);
        assert_eq!(multi.targets[0].stage, single.target);
    }
}
