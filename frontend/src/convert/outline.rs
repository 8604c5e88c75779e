//! What `hoist targets` and `hoist outline` print (like `docker buildx build
//! --call=targets` / `--call=outline`): the stages with their doc comments,
//! and, for one target, the build args, secrets and SSH ids it uses.
//!
//! A doc comment is the run of `#` lines directly above an instruction
//! (parser directives excluded), joined with spaces; a leading word equal to
//! the stage or arg name is dropped (`# build compiles the app` on `FROM
//! ... AS build` describes it as `compiles the app`).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::args::PREDEFINED;
use super::{ConvertOptions, NoResolver, convert_with_report};
use crate::diagnostic::Diagnostic;
use crate::instructions::parse_stages;
use crate::parser::Dockerfile;

/// One stage, as `hoist targets` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `AS name` (lower-cased), if any.
    pub name: Option<String>,
    /// Position among the Dockerfile's stages.
    pub index: usize,
    /// The FROM image as written (unexpanded).
    pub base: String,
    /// `FROM --platform` as written.
    pub platform: Option<String>,
    pub description: String,
    /// The stage built without `--target` (the last one).
    pub default: bool,
}

/// One build arg of the outline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutlineArg {
    pub name: String,
    /// The default value (expanded), if any.
    pub value: Option<String>,
    pub description: String,
}

/// A secret id used by a `RUN --mount=type=secret`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutlineSecret {
    pub id: String,
    pub required: bool,
}

/// An SSH id used by a `RUN --mount=type=ssh`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutlineSsh {
    pub id: String,
    pub required: bool,
}

/// What building one target needs from the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outline {
    /// The target stage's name, if it has one.
    pub name: Option<String>,
    pub description: String,
    pub args: Vec<OutlineArg>,
    pub secrets: Vec<OutlineSecret>,
    pub ssh: Vec<OutlineSsh>,
}

/// Every stage with its doc comment; the last is the default.
pub fn targets(dockerfile: &Dockerfile, source: &str) -> Result<Vec<TargetInfo>, Diagnostic> {
    let stages = parse_stages(&dockerfile.nodes, source)?;
    let last = stages.stages.len().saturating_sub(1);
    Ok(stages
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| TargetInfo {
            name: s.from.stage_name.clone(),
            index: i,
            base: s.from.image.clone(),
            platform: s.from.platform.clone(),
            description: doc_comment(
                source,
                s.from.origin.start_line,
                s.from.stage_name.as_deref(),
            ),
            default: i == last,
        })
        .collect())
}

/// The build args, secrets and SSH ids the target (`opts.target`) and the
/// stages it needs use. Base images are not resolved (their ONBUILD
/// triggers are not seen).
pub fn outline(
    dockerfile: &Dockerfile,
    source: &str,
    opts: &ConvertOptions,
) -> Result<Outline, Diagnostic> {
    let (_, plan, report) = convert_with_report(dockerfile, source, opts, &NoResolver)?;
    let target = &plan.stages[plan.target];
    let mut used = plan.global_used.clone();
    plan.global.close_over(&mut used);
    let mut seen = BTreeSet::new();
    let mut args = Vec::new();
    for g in &plan.global.args {
        if used.contains(&g.name)
            && !PREDEFINED.contains(&g.name.as_str())
            && seen.insert(g.name.clone())
        {
            args.push(OutlineArg {
                name: g.name.clone(),
                value: g.default.clone(),
                description: doc_comment(source, g.line, Some(&g.name)),
            });
        }
    }
    for a in &report.args {
        if PREDEFINED.contains(&a.name.as_str()) || !seen.insert(a.name.clone()) {
            continue;
        }
        let mut description = doc_comment(source, a.line, Some(&a.name));
        if description.is_empty()
            && let Some(g) = plan.global.args.iter().find(|g| g.name == a.name)
        {
            description = doc_comment(source, g.line, Some(&g.name));
        }
        args.push(OutlineArg {
            name: a.name.clone(),
            value: a.default.clone(),
            description,
        });
    }
    Ok(Outline {
        name: target.name.clone(),
        description: doc_comment(
            source,
            target.from.origin.start_line,
            target.name.as_deref(),
        ),
        args,
        secrets: report
            .secrets
            .iter()
            .map(|(id, required)| OutlineSecret {
                id: id.clone(),
                required: *required,
            })
            .collect(),
        ssh: report
            .ssh
            .iter()
            .map(|(id, required)| OutlineSsh {
                id: id.clone(),
                required: *required,
            })
            .collect(),
    })
}

/// The doc comment directly above 1-based `line` (see the module doc).
fn doc_comment(source: &str, line: usize, name: Option<&str>) -> String {
    let lines: Vec<&str> = source.lines().take(line.saturating_sub(1)).collect();
    let mut comment = Vec::new();
    for l in lines.iter().rev() {
        let t = l.trim();
        let Some(body) = t.strip_prefix('#') else {
            break;
        };
        if is_directive(body) {
            break;
        }
        comment.push(body.strip_prefix(' ').unwrap_or(body).trim_end());
    }
    comment.reverse();
    let text = comment.join(" ").trim().to_string();
    match name {
        Some(n) => match text.split_once(char::is_whitespace) {
            Some((first, rest)) if first == n => rest.trim_start().to_string(),
            None if text == n => String::new(),
            _ => text,
        },
        None => text,
    }
}

fn is_directive(body: &str) -> bool {
    let Some((key, _)) = body.split_once('=') else {
        return false;
    };
    let key = key.trim().to_ascii_lowercase();
    matches!(key.as_str(), "syntax" | "escape" | "check")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_comment_joins_lines_and_strips_the_name() {
        let src = "# syntax=docker/dockerfile:1\n# build compiles\n# the app\nFROM a AS build\n";
        assert_eq!(doc_comment(src, 4, Some("build")), "compiles the app");
        assert_eq!(doc_comment("# syntax=x\nFROM a\n", 2, None), "");
        assert_eq!(doc_comment("x\n\nFROM a\n", 3, None), "");
    }
}
