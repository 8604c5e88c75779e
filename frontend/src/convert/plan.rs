//! Planning, before any vertex exists: the global args, each stage's base
//! (scratch, an earlier stage, a named context or an image), the target,
//! and which stages the target needs. Images are resolved here, only for the
//! stages the target needs, because an image's ONBUILD triggers can add
//! dependencies (`COPY --from=...` in a trigger).

use std::collections::{BTreeSet, HashMap};

use super::args::{GlobalScope, ScopeExpander};
use super::{ConvertOptions, ImageResolver, NamedContext, ResolvedImage};
use crate::diagnostic::{Diagnostic, Span};
use crate::graph::Platform;
use crate::instructions::{FromCmd, Instruction, Origin, parse_instruction, parse_stages};
use crate::parser::Dockerfile;
use crate::shell::Lexer;

/// Where a stage's filesystem and config start from.
#[derive(Debug, Clone)]
pub(crate) enum Base {
    Scratch,
    /// An earlier stage (index).
    Stage(usize),
    /// A later stage: an error once the stage is needed.
    Forward(usize),
    /// A registry image.
    Image(String),
    /// A `--build-context` of that name.
    Context(String),
}

/// One stage, planned.
#[derive(Debug, Clone)]
pub(crate) struct StagePlan {
    pub name: Option<String>,
    /// The FROM, expanded with the global args.
    pub from: FromCmd,
    pub base: Base,
    pub platform: Platform,
    pub commands: Vec<Instruction>,
    /// The base's ONBUILD triggers, run before the stage's own commands.
    pub triggers: Vec<Instruction>,
    /// Triggers came from an image's config text: their spans are not in
    /// this Dockerfile, report them at the FROM.
    pub triggers_from_image: bool,
    /// The resolved base image (image bases and image-like named contexts).
    pub resolved: Option<ResolvedImage>,
}

/// A `--from` / `from=` reference, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FromRef {
    Stage(usize),
    Context(String),
    Image(String),
}

/// The whole plan.
#[derive(Debug)]
pub(crate) struct Plan {
    pub stages: Vec<StagePlan>,
    pub global: GlobalScope,
    pub target: usize,
    /// Indices of the stages the target needs, ascending.
    pub reachable: Vec<usize>,
    pub by_name: HashMap<String, usize>,
    /// Global names used by the needed stages' FROM lines and `--from`s.
    pub global_used: BTreeSet<String>,
    pub lexer: Lexer,
}

/// Plans `df`: see the module doc.
pub(crate) fn plan(
    df: &Dockerfile,
    source: &str,
    opts: &ConvertOptions,
    resolver: &dyn ImageResolver,
) -> Result<Plan, Diagnostic> {
    let parsed = parse_stages(&df.nodes, source)?;
    let lexer = Lexer::new(df.escape);
    let global = GlobalScope::evaluate(&parsed.meta_args, opts, lexer)?;

    let mut by_name: HashMap<String, usize> = HashMap::new();
    for (i, s) in parsed.stages.iter().enumerate() {
        if let Some(name) = &s.from.stage_name {
            if let Some(&first) = by_name.get(name) {
                let line = parsed.stages[first].from.origin.start_line;
                return Err(s.from.origin.error(
                    name,
                    format!("duplicate stage name {name:?}: already defined on line {line}"),
                ));
            }
            by_name.insert(name.clone(), i);
        }
    }

    let mut stages = Vec::with_capacity(parsed.stages.len());
    let mut from_matched = Vec::with_capacity(parsed.stages.len());
    for (i, s) in parsed.stages.into_iter().enumerate() {
        let mut from = s.from;
        let e = ScopeExpander::new(lexer, &global.env);
        from.expand(&e)?;
        from_matched.push(e.take_matched());
        let platform = match &from.platform {
            Some(p) => p.parse::<Platform>().map_err(|err| {
                from.origin
                    .error("--platform", format!("FROM --platform: {err}"))
            })?,
            None => opts.target_platform.clone(),
        };
        let base = match by_name.get(&from.image.to_lowercase()) {
            _ if opts.named_contexts.contains_key(&from.image) => Base::Context(from.image.clone()),
            Some(&j) if j < i => Base::Stage(j),
            Some(&j) if j > i => Base::Forward(j),
            _ if from.image == "scratch" => Base::Scratch,
            _ => Base::Image(from.image.clone()),
        };
        stages.push(StagePlan {
            name: from.stage_name.clone(),
            from,
            base,
            platform,
            commands: s.commands,
            triggers: Vec::new(),
            triggers_from_image: false,
            resolved: None,
        });
    }

    let target = match &opts.target {
        Some(t) => match by_name.get(&t.to_lowercase()) {
            Some(&i) => i,
            None => {
                let names: Vec<&str> = stages.iter().filter_map(|s| s.name.as_deref()).collect();
                return Err(Diagnostic::new(
                    format!(
                        "target stage {t:?} could not be found (stages: {})",
                        if names.is_empty() {
                            "none named".to_string()
                        } else {
                            names.join(", ")
                        }
                    ),
                    Span::default(),
                ));
            }
        },
        None => stages.len() - 1,
    };

    let mut plan = Plan {
        stages,
        global,
        target,
        reachable: Vec::new(),
        by_name,
        global_used: BTreeSet::new(),
        lexer,
    };
    let mut visited = vec![false; plan.stages.len()];
    let mut stack = vec![target];
    while let Some(i) = stack.pop() {
        if std::mem::replace(&mut visited[i], true) {
            continue;
        }
        plan.global_used.extend(from_matched[i].iter().cloned());
        stack.extend(plan.visit(i, opts, resolver)?);
    }
    plan.reachable = (0..plan.stages.len()).filter(|&i| visited[i]).collect();
    Ok(plan)
}

impl Plan {
    /// Resolves stage `i`'s base and returns the stages it needs.
    fn visit(
        &mut self,
        i: usize,
        opts: &ConvertOptions,
        resolver: &dyn ImageResolver,
    ) -> Result<Vec<usize>, Diagnostic> {
        let mut deps = Vec::new();
        let stage = &self.stages[i];
        let origin = stage.from.origin.clone();
        let platform = stage.platform.clone();
        let mut resolved = None;
        let mut triggers = Vec::new();
        let mut from_image = false;
        match stage.base.clone() {
            Base::Scratch => {}
            Base::Stage(j) => {
                deps.push(j);
                for c in &self.stages[j].commands {
                    if let Instruction::Onbuild(o) = c {
                        triggers.push((*o.trigger).clone());
                    }
                }
            }
            Base::Forward(j) => return Err(self.forward_error(&stage.from.image, j, &origin)),
            Base::Image(reference) => {
                resolved = Some(resolve(resolver, &reference, &platform, &origin)?)
            }
            Base::Context(name) => match opts.named_contexts.get(&name) {
                Some(NamedContext::Image(r)) => {
                    resolved = Some(resolve(resolver, r, &platform, &origin)?)
                }
                Some(NamedContext::OciLayout { path, tag }) => {
                    let reference = oci_layout_reference(path, tag.as_deref());
                    resolved = Some(resolve(resolver, &reference, &platform, &origin)?)
                }
                _ => {}
            },
        }
        if let Some(r) = &resolved {
            from_image = !r.config.config.on_build.is_empty();
            for text in &r.config.config.on_build {
                triggers.push(parse_trigger(text, &origin)?);
            }
        }
        let mut used = BTreeSet::new();
        for c in triggers.iter().chain(self.stages[i].commands.iter()) {
            for (name, needle) in self.references(c, &mut used)? {
                if let FromRef::Stage(j) = self.resolve_ref(&name, i, c.origin(), &needle, opts)? {
                    deps.push(j);
                }
            }
        }
        self.global_used.extend(used);
        let stage = &mut self.stages[i];
        stage.resolved = resolved;
        stage.triggers = triggers;
        stage.triggers_from_image = from_image;
        Ok(deps)
    }

    /// The stage/image names an instruction reads from (`COPY --from`,
    /// `RUN --mount from=`), with the text to point errors at.
    fn references(
        &self,
        c: &Instruction,
        used: &mut BTreeSet<String>,
    ) -> Result<Vec<(String, String)>, Diagnostic> {
        let mut out = Vec::new();
        match c {
            Instruction::Copy(copy) if copy.from.is_some() => {
                let mut copy = copy.clone();
                let e = ScopeExpander::new(self.lexer, &self.global.env);
                copy.expand_from(&e)?;
                used.extend(e.take_matched());
                if let Some(f) = copy.from {
                    out.push((f, "--from".to_string()));
                }
            }
            Instruction::Run(run) => {
                for spec in &run.mount_specs {
                    if let Some(f) = mount_from(spec) {
                        out.push((f, spec.clone()));
                    }
                }
            }
            _ => {}
        }
        Ok(out)
    }

    /// Resolves a `--from` name seen in stage `current`: a named context
    /// (which replaces a stage of the same name, as in BuildKit), a stage
    /// name, a stage index, else an image.
    pub fn resolve_ref(
        &self,
        name: &str,
        current: usize,
        origin: &Origin,
        needle: &str,
        opts: &ConvertOptions,
    ) -> Result<FromRef, Diagnostic> {
        if opts.named_contexts.contains_key(name) {
            return Ok(FromRef::Context(name.to_string()));
        }
        if let Some(&j) = self.by_name.get(&name.to_lowercase()) {
            return match j.cmp(&current) {
                std::cmp::Ordering::Less => Ok(FromRef::Stage(j)),
                std::cmp::Ordering::Greater => Err(self.forward_error(name, j, origin)),
                std::cmp::Ordering::Equal => Err(origin.error(
                    needle,
                    format!("circular dependency: stage {name:?} refers to itself"),
                )),
            };
        }
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
            return match name.parse::<usize>() {
                Ok(n) if n < current => Ok(FromRef::Stage(n)),
                _ => Err(origin.error(
                    needle,
                    format!(
                        "invalid stage index {name}: only the {current} stage(s) before this one can be referenced"
                    ),
                )),
            };
        }
        Ok(FromRef::Image(name.to_string()))
    }

    fn forward_error(&self, name: &str, later: usize, origin: &Origin) -> Diagnostic {
        let defined = self.stages[later].from.origin.start_line;
        origin.error(
            name,
            format!(
                "stage {name:?} is defined after this one (defined on line {defined}, used on line {}); a stage can only use stages defined before it",
                origin.start_line
            ),
        )
    }
}

/// The reference handed to the resolver for an OCI-layout named context.
pub(crate) fn oci_layout_reference(path: &str, tag: Option<&str>) -> String {
    match tag {
        Some(t) => format!("oci-layout://{path}:{t}"),
        None => format!("oci-layout://{path}"),
    }
}

/// Calls the resolver, locating its error at `origin`.
pub(crate) fn resolve(
    resolver: &dyn ImageResolver,
    reference: &str,
    platform: &Platform,
    origin: &Origin,
) -> Result<ResolvedImage, Diagnostic> {
    resolver.resolve(reference, platform).map_err(|msg| {
        origin.error(
            reference,
            format!("failed to resolve image {reference:?} for {platform}: {msg}"),
        )
    })
}

/// Parses one ONBUILD trigger text of an image config.
fn parse_trigger(text: &str, at: &Origin) -> Result<Instruction, Diagnostic> {
    let fail = |msg: String| {
        at.error(
            "",
            format!("ONBUILD trigger {text:?} of the base image: {msg}"),
        )
    };
    let df = crate::parser::parse(text).map_err(|d| fail(d.message))?;
    let [node] = df.nodes.as_slice() else {
        return Err(fail("expected exactly one instruction".to_string()));
    };
    let instruction = parse_instruction(node, text).map_err(|d| fail(d.message))?;
    match instruction {
        Instruction::From(_) | Instruction::Onbuild(_) | Instruction::Maintainer(_) => {
            Err(fail(format!(
                "{} isn't allowed as an ONBUILD trigger",
                instruction.keyword()
            )))
        }
        other => Ok(other),
    }
}

/// The `from=` value of a `RUN --mount` spec, as written.
pub(crate) fn mount_from(spec: &str) -> Option<String> {
    spec.split(',').find_map(|field| {
        let (k, v) = field.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("from") {
            return None;
        }
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|x| x.strip_suffix('"'))
            .unwrap_or(v);
        (!v.is_empty()).then(|| v.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_from_finds_the_from_field_in_any_case() {
        assert_eq!(
            mount_from("type=bind,FROM=build,target=/x").as_deref(),
            Some("build")
        );
        assert_eq!(
            mount_from("from=\"img:1\",target=/x").as_deref(),
            Some("img:1")
        );
        assert_eq!(mount_from("type=cache,target=/x"), None);
        assert_eq!(mount_from("from=,target=/x"), None);
    }

    #[test]
    fn oci_layout_reference_includes_the_tag() {
        assert_eq!(oci_layout_reference("/l", Some("v1")), "oci-layout:///l:v1");
        assert_eq!(oci_layout_reference("/l", None), "oci-layout:///l");
    }
}
