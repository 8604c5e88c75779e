//! Graphviz DOT rendering of a [`BuildGraph`]: one cluster per stage, one
//! node per vertex labelled with its name, edges from inputs to users.
//! A vertex's `stage` is its stage's position in `BuildGraph::stages`.

use std::fmt::Write;

use super::{BuildGraph, Op};

/// DOT-quotes a label.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(super) fn render(g: &BuildGraph) -> String {
    let mut out = String::from(
        "digraph build {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n",
    );
    let node = |i: usize| {
        let v = &g.vertices[i];
        let shape = match v.op {
            Op::Source(_) => "ellipse",
            Op::Exec(_) => "box",
            Op::File(_) => "note",
            Op::Merge => "invtriangle",
        };
        format!("    v{i} [label={}, shape={shape}];\n", quote(&v.name))
    };
    for (si, stage) in g.stages.iter().enumerate() {
        let label = stage
            .name
            .clone()
            .unwrap_or_else(|| format!("stage {}", stage.index));
        let _ = writeln!(
            out,
            "  subgraph cluster_{si} {{\n    label={};",
            quote(&label)
        );
        for (i, v) in g.vertices.iter().enumerate() {
            if v.stage == Some(si) {
                out.push_str(&node(i));
            }
        }
        out.push_str("  }\n");
    }
    for (i, v) in g.vertices.iter().enumerate() {
        if v.stage.is_none_or(|s| s >= g.stages.len()) {
            out.push_str(&node(i)[2..]);
        }
    }
    for (i, v) in g.vertices.iter().enumerate() {
        for inp in &v.inputs {
            let _ = writeln!(out, "  v{} -> v{i};", inp.0);
        }
    }
    out.push_str("}\n");
    out
}
