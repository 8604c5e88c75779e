//! The build graph: the contract between the frontend and the builder, like
//! BuildKit's LLB.
//!
//! A [`BuildGraph`] is a DAG of [`Vertex`]es in topological order (every
//! input comes before the vertices that use it). Each vertex has an [`Op`] and
//! a digest of its own definition: the op's canonical JSON plus the digests of
//! its inputs. The same Dockerfile and options therefore give the same digests
//! byte for byte, and changing one instruction changes only its vertex and
//! those after it. Vertices with equal digests are stored once, so identical
//! steps of several stages run once. Display names (`[build 2/4] RUN make`)
//! and source locations are not part of the digest.
//!
//! The graph is serialisable (JSON) and can be drawn as Graphviz DOT.

mod config;
mod dot;
mod op;
mod platform;

use std::collections::HashMap;

use serde::Serialize;
use sha2::{Digest as _, Sha256};

pub use config::{ContainerConfig, Empty, Healthcheck, History, ImageConfig, RootFs};
pub use op::{
    CacheSharing, CopyAction, ExecOp, FileAction, FileOp, InputIndex, Mount, MountKind, Network,
    Op, Security, SourceOp,
};
pub use platform::{InvalidPlatform, Platform, as_oci_object};

use crate::diagnostic::{Diagnostic, Span};

/// Index of a vertex in [`BuildGraph::vertices`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct VertexId(pub usize);

/// One step of the build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vertex {
    /// `sha256:<hex>` of the op and its inputs' digests.
    pub digest: String,
    pub op: Op,
    pub inputs: Vec<VertexId>,
    /// What progress shows: `[stage 2/5] RUN make`, `[internal] load context`.
    pub name: String,
    /// The stage (index into [`BuildGraph::stages`]) the step belongs to.
    pub stage: Option<usize>,
    /// The instruction it came from.
    pub span: Option<Span>,
}

/// One `FROM` section of the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Stage {
    /// `AS name`, lower-cased like Docker compares them.
    pub name: Option<String>,
    /// Position among the Dockerfile's stages.
    pub index: usize,
    pub platform: Platform,
    /// The vertex whose result is the stage's filesystem.
    pub result: VertexId,
    /// The stage's image config. `history` holds the base image's entries
    /// and one per instruction of the stage; entries without `empty_layer`
    /// match, in order, the layer-producing vertices of the stage's chain.
    pub config: ImageConfig,
    /// The `FROM` instruction.
    pub span: Span,
}

/// A whole build: vertices, stages and the stage to produce.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BuildGraph {
    pub vertices: Vec<Vertex>,
    /// Only the stages the target needs, in Dockerfile order.
    pub stages: Vec<Stage>,
    /// Index into `stages` of the stage whose result is the build's result.
    pub target: usize,
    /// Findings that do not stop the build (unused build args, ...).
    pub warnings: Vec<Diagnostic>,
}

/// Builds a graph vertex by vertex, merging vertices with equal digests.
#[derive(Debug, Default)]
pub struct GraphBuilder {
    vertices: Vec<Vertex>,
    by_digest: HashMap<String, VertexId>,
}

impl GraphBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a vertex (or returns the existing one with the same digest).
    /// Inputs must already be in the graph.
    pub fn add(
        &mut self,
        op: Op,
        inputs: Vec<VertexId>,
        name: impl Into<String>,
        stage: Option<usize>,
        span: Option<Span>,
    ) -> VertexId {
        let input_digests: Vec<&str> = inputs
            .iter()
            .map(|i| self.vertices[i.0].digest.as_str())
            .collect();
        let digest = vertex_digest(&op, &input_digests);
        if let Some(id) = self.by_digest.get(&digest) {
            return *id;
        }
        let id = VertexId(self.vertices.len());
        self.vertices.push(Vertex {
            digest: digest.clone(),
            op,
            inputs,
            name: name.into(),
            stage,
            span,
        });
        self.by_digest.insert(digest, id);
        id
    }

    pub fn vertex(&self, id: VertexId) -> &Vertex {
        &self.vertices[id.0]
    }

    /// The vertices added so far.
    pub fn into_vertices(self) -> Vec<Vertex> {
        self.vertices
    }
}

/// The digest of an op with the given input digests.
pub fn vertex_digest(op: &Op, input_digests: &[&str]) -> String {
    #[derive(Serialize)]
    struct Definition<'a> {
        op: &'a Op,
        inputs: &'a [&'a str],
    }
    thread_local! {
        // Reused between calls: converting a large Dockerfile digests
        // thousands of ops, and the allocation showed up in profiles.
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let hash = BUF.with(|buf| {
        let mut buf = buf.borrow_mut();
        buf.clear();
        // Serialising derived structs and Vecs cannot fail: no maps with
        // non-string keys, no floats.
        let _ = serde_json::to_writer(
            &mut *buf,
            &Definition {
                op,
                inputs: input_digests,
            },
        );
        Sha256::digest(&*buf)
    });
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hash.iter() {
        out.push(HEX[usize::from(b >> 4)] as char);
        out.push(HEX[usize::from(b & 15)] as char);
    }
    out
}

impl BuildGraph {
    pub fn vertex(&self, id: VertexId) -> &Vertex {
        &self.vertices[id.0]
    }

    /// The stage the build produces.
    pub fn target_stage(&self) -> &Stage {
        &self.stages[self.target]
    }

    /// Graphviz DOT: stages as clusters, edges from inputs to users.
    pub fn to_dot(&self) -> String {
        dot::render(self)
    }

    /// Keeps only the vertices reachable from `roots`, renumbering ids
    /// (topological order is preserved).
    pub fn retain_reachable(&mut self, roots: &[VertexId]) {
        let mut keep = vec![false; self.vertices.len()];
        let mut stack: Vec<VertexId> = roots.to_vec();
        while let Some(v) = stack.pop() {
            if !std::mem::replace(&mut keep[v.0], true) {
                stack.extend(self.vertices[v.0].inputs.iter().copied());
            }
        }
        let mut remap = vec![None; self.vertices.len()];
        let mut next = 0;
        for (i, k) in keep.iter().enumerate() {
            if *k {
                remap[i] = Some(VertexId(next));
                next += 1;
            }
        }
        let old = std::mem::take(&mut self.vertices);
        for (i, mut v) in old.into_iter().enumerate() {
            if keep[i] {
                v.inputs = v.inputs.iter().filter_map(|x| remap[x.0]).collect();
                self.vertices.push(v);
            }
        }
        for s in &mut self.stages {
            if let Some(r) = remap[s.result.0] {
                s.result = r;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(cmd: &str) -> Op {
        Op::Exec(ExecOp {
            args: vec!["/bin/sh".into(), "-c".into(), cmd.into()],
            env: vec![],
            cwd: "/".into(),
            user: String::new(),
            network: Network::Default,
            security: Security::Sandbox,
            mounts: vec![],
        })
    }

    #[test]
    fn identical_vertices_are_added_once() {
        let mut g = GraphBuilder::new();
        let base = g.add(Op::Source(SourceOp::Scratch), vec![], "scratch", None, None);
        let a = g.add(exec("make"), vec![base], "[a 1/1] RUN make", Some(0), None);
        let b = g.add(exec("make"), vec![base], "[b 1/1] RUN make", Some(1), None);
        assert_eq!(a, b);
        assert_eq!(g.into_vertices().len(), 2);
    }

    #[test]
    fn digest_depends_on_op_and_inputs_not_on_name() {
        let mut g = GraphBuilder::new();
        let base = g.add(Op::Source(SourceOp::Scratch), vec![], "x", None, None);
        let a = g.add(exec("one"), vec![base], "n1", None, None);
        let b = g.add(exec("two"), vec![base], "n1", None, None);
        let c = g.add(exec("two"), vec![a], "n1", None, None);
        let d = [a, b, c].map(|v| g.vertex(v).digest.clone());
        assert!(d[0] != d[1] && d[1] != d[2] && d[0] != d[2]);
        assert_eq!(
            vertex_digest(&exec("one"), &[&g.vertex(base).digest]),
            d[0],
            "digest is a pure function of the definition"
        );
    }

    #[test]
    fn retain_reachable_drops_unneeded_vertices_and_renumbers() {
        let mut gb = GraphBuilder::new();
        let s = gb.add(Op::Source(SourceOp::Scratch), vec![], "s", None, None);
        let unused = gb.add(exec("unused"), vec![s], "u", None, None);
        let used = gb.add(exec("used"), vec![s], "x", None, None);
        let mut g = BuildGraph {
            vertices: gb.into_vertices(),
            stages: vec![],
            target: 0,
            warnings: vec![],
        };
        assert_eq!(unused, VertexId(1));
        g.retain_reachable(&[used]);
        assert_eq!(g.vertices.len(), 2);
        assert_eq!(g.vertices[1].inputs, vec![VertexId(0)]);
        assert_eq!(g.vertices[1].name, "x");
    }
}
