//! Converting the planned stages, one after the other: each stage's start
//! (base image, base stage or scratch), its state (filesystem vertex, image
//! config, state env) and the instructions that only change the config
//! (ENV, ARG, LABEL, CMD, ...). RUN is in [`super::run`], COPY/ADD in
//! [`super::copy`].

use std::collections::{BTreeMap, BTreeSet};

use super::args::{ScopeExpander, StateEnv, display_text};
use super::plan::{Base, Plan};
use super::text::{
    go_list, go_quote, go_quote_list, go_quote_rune, go_set, resolve_path, step_prefix,
};
use super::{ConvertOptions, ImageResolver, NamedContext};
use crate::diagnostic::{Diagnostic, Span};
use crate::graph::{
    FileAction, FileOp, GraphBuilder, Healthcheck, History, ImageConfig, Op, Platform, SourceOp,
    VertexId,
};
use crate::instructions::{CommandLine, HealthcheckCmd, Instruction};

/// `PATH` of a Linux image that sets none.
pub(crate) const DEFAULT_PATH: &str =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
/// The comment BuildKit puts on every history entry it writes.
pub(crate) const HISTORY_COMMENT: &str = "buildkit.dockerfile.v0";

/// What a finished stage leaves for stages built on it (its config is in
/// [`Converter::stages`]).
#[derive(Debug, Clone)]
pub(crate) struct StageOut {
    pub result: VertexId,
    pub env: StateEnv,
    pub args: Vec<String>,
    pub platform: Platform,
}

/// A stage while it is converted.
#[derive(Debug)]
pub(crate) struct StageState {
    pub index: usize,
    /// `build` / `stage-2`, or `None` for a single-stage Dockerfile.
    pub label: Option<String>,
    pub platform: Platform,
    /// The vertex whose result is the stage's filesystem so far.
    pub state: VertexId,
    pub config: ImageConfig,
    pub env: StateEnv,
    /// Names of the ARGs declared so far, in order (for RUN history).
    pub args: Vec<String>,
    /// CMD was set in this stage (ENTRYPOINT then keeps it).
    pub cmd_set: bool,
    pub step: usize,
    pub total: usize,
    /// Set while running an image's ONBUILD triggers: where to report them.
    pub span_override: Option<Span>,
}

/// A build arg a stage declared (for the outline).
#[derive(Debug, Clone)]
pub(crate) struct UsedArg {
    pub name: String,
    pub default: Option<String>,
    pub line: usize,
}

/// Facts gathered during conversion for `outline`.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub args: Vec<UsedArg>,
    /// Secret id → required.
    pub secrets: BTreeMap<String, bool>,
    /// SSH id → required.
    pub ssh: BTreeMap<String, bool>,
}

/// The conversion of a whole plan into vertices.
pub(crate) struct Converter<'a> {
    pub plan: &'a Plan,
    pub opts: &'a ConvertOptions,
    pub resolver: &'a dyn ImageResolver,
    pub gb: GraphBuilder,
    pub done: Vec<Option<StageOut>>,
    /// The converted stages, in graph order.
    pub stages: Vec<crate::graph::Stage>,
    /// Dockerfile stage index → position in `BuildGraph::stages`.
    pub position: Vec<Option<usize>>,
    /// Build args some needed stage declared.
    pub consumed: BTreeSet<String>,
    pub report: Report,
}

impl StageState {
    fn history(&mut self, text: String, layer: bool) {
        self.config.history.push(History {
            created_by: Some(text),
            comment: Some(HISTORY_COMMENT.to_string()),
            empty_layer: !layer,
            ..History::default()
        });
    }

    /// The working directory of a RUN (or the base of a relative path).
    pub fn workdir(&self) -> &str {
        if self.config.config.working_dir.is_empty() {
            "/"
        } else {
            &self.config.config.working_dir
        }
    }

    /// `SHELL` (default `/bin/sh -c`) + the command text.
    pub fn with_shell(&self, args: &[String]) -> Vec<String> {
        let mut out = if self.config.config.shell.is_empty() {
            vec!["/bin/sh".to_string(), "-c".to_string()]
        } else {
            self.config.config.shell.clone()
        };
        out.push(args.join(" "));
        out
    }

    fn command(&self, c: &CommandLine) -> Vec<String> {
        if c.shell_form {
            self.with_shell(&c.args)
        } else {
            c.args.clone()
        }
    }

    /// Counts a step and returns its progress name prefix.
    pub fn next_step(&mut self) -> String {
        self.step += 1;
        step_prefix(self.label.as_deref(), self.step, self.total)
    }

    pub fn add_history(&mut self, text: String, layer: bool) {
        self.history(text, layer);
    }
}

/// Whether an instruction makes a counted step (`[2/5]`).
fn is_step(i: &Instruction) -> bool {
    matches!(
        i,
        Instruction::Run(_) | Instruction::Copy(_) | Instruction::Add(_) | Instruction::Workdir(_)
    )
}

/// An empty config for `platform`.
fn empty_config(platform: &Platform) -> ImageConfig {
    ImageConfig {
        architecture: platform.architecture.clone(),
        os: platform.os.clone(),
        variant: platform.variant.clone(),
        ..ImageConfig::default()
    }
}

impl Converter<'_> {
    /// The stage label of progress names.
    fn label(&self, index: usize) -> Option<String> {
        if self.plan.stages.len() == 1 {
            return None;
        }
        Some(match &self.plan.stages[index].name {
            Some(n) => n.clone(),
            None => format!("stage-{index}"),
        })
    }

    /// The graph position of stage `index`'s vertices.
    pub fn stage_pos(&self, index: usize) -> Option<usize> {
        self.position.get(index).copied().flatten()
    }

    pub fn scratch(&mut self) -> VertexId {
        self.gb.add(
            Op::Source(SourceOp::Scratch),
            vec![],
            "[internal] scratch",
            None,
            None,
        )
    }

    /// Converts stage `i` (its dependencies are already converted) and
    /// appends it to `stages`.
    pub fn convert_stage(
        &mut self,
        i: usize,
        commands: Vec<Instruction>,
    ) -> Result<(), Diagnostic> {
        let plan = self.plan;
        let sp = &plan.stages[i];
        let pos = self.stage_pos(i);
        let from_span = sp.from.origin.span;
        let counts_from = matches!(sp.base, Base::Image(_) | Base::Context(_));
        let total = commands
            .iter()
            .chain(sp.triggers.iter())
            .filter(|c| is_step(c))
            .count()
            + usize::from(counts_from);
        let mut st = StageState {
            index: i,
            label: self.label(i),
            platform: sp.platform.clone(),
            state: VertexId(0),
            config: ImageConfig::default(),
            env: StateEnv::default(),
            args: Vec::new(),
            cmd_set: false,
            step: 0,
            total,
            span_override: None,
        };
        let image_start = |st: &mut StageState, conv: &mut Self, op: SourceOp, shown: &str| {
            let name = format!("{}FROM {shown}", st.next_step());
            st.state = conv
                .gb
                .add(Op::Source(op), vec![], name, pos, Some(from_span));
        };
        match &sp.base {
            Base::Stage(j) => {
                let (Some(out), Some(base)) = (
                    self.done[*j].clone(),
                    self.stage_pos(*j).and_then(|p| self.stages.get(p)),
                ) else {
                    return Err(sp
                        .from
                        .origin
                        .error("", "internal: base stage not converted"));
                };
                st.config = base.config.clone();
                st.state = out.result;
                st.config.config.on_build.clear();
                st.env = out.env;
                st.args = out.args;
                st.platform = out.platform;
            }
            Base::Scratch | Base::Forward(_) => {
                st.state = self.scratch();
                st.config = empty_config(&st.platform);
            }
            Base::Image(_) | Base::Context(_) => {
                let context = match &sp.base {
                    Base::Context(n) => self.opts.named_contexts.get(n),
                    _ => None,
                };
                match (context, &sp.resolved) {
                    (Some(NamedContext::Local { name }), _) => {
                        let op = SourceOp::Local {
                            name: name.clone(),
                            include: vec![],
                        };
                        image_start(&mut st, self, op, &sp.from.image);
                        st.config = empty_config(&st.platform);
                    }
                    (Some(NamedContext::OciLayout { path, tag }), Some(r)) => {
                        let op = SourceOp::OciLayout {
                            path: path.clone(),
                            tag: tag.clone(),
                            platform: st.platform.clone(),
                        };
                        image_start(&mut st, self, op, &r.reference);
                        st.config = r.config.clone();
                    }
                    (_, Some(r)) => {
                        let op = SourceOp::Image {
                            reference: r.reference.clone(),
                            platform: st.platform.clone(),
                        };
                        image_start(&mut st, self, op, &r.reference);
                        st.config = r.config.clone();
                    }
                    (_, None) => {
                        return Err(sp
                            .from
                            .origin
                            .error("", "internal: base image not resolved"));
                    }
                }
                st.config.config.on_build.clear();
            }
        }
        if !matches!(sp.base, Base::Stage(_)) {
            st.config.architecture = st.platform.architecture.clone();
            st.config.os = st.platform.os.clone();
            st.config.variant = st.platform.variant.clone();
            if st.config.config.env_get("PATH").is_none() {
                st.config.config.env_set("PATH", DEFAULT_PATH);
            }
            st.env = StateEnv::from_list(&st.config.config.env);
        }
        if sp.triggers_from_image {
            st.span_override = Some(from_span);
        }
        for t in &sp.triggers {
            self.dispatch(&mut st, t.clone())?;
        }
        st.span_override = None;
        for c in commands {
            self.dispatch(&mut st, c)?;
        }
        self.stages.push(crate::graph::Stage {
            name: sp.name.clone(),
            index: i,
            platform: st.platform.clone(),
            result: st.state,
            config: st.config,
            span: from_span,
        });
        self.done[i] = Some(StageOut {
            result: st.state,
            env: st.env,
            args: st.args,
            platform: st.platform,
        });
        Ok(())
    }

    /// Applies one instruction to the stage.
    fn dispatch(&mut self, st: &mut StageState, mut ins: Instruction) -> Result<(), Diagnostic> {
        let relocate = |mut d: Diagnostic, st: &StageState| {
            if let Some(s) = st.span_override {
                d.span = s;
                d.message = format!("ONBUILD trigger of the base image: {}", d.message);
            }
            d
        };
        let lexer = self.plan.lexer;
        let shown = display_text(lexer, &ins.origin().text, &st.env);
        {
            let e = ScopeExpander::quiet(lexer, &st.env);
            ins.expand(&e).map_err(|d| relocate(d, st))?;
        }
        let span = st.span_override.unwrap_or(ins.origin().span);
        let result = match ins {
            Instruction::Run(run) => self.run(st, run, shown, span),
            Instruction::Copy(copy) => self.copy(st, copy, shown, span),
            Instruction::Add(add) => self.add(st, add, shown, span),
            other => {
                self.metadata(st, other, shown, span);
                Ok(())
            }
        };
        result.map_err(|d| relocate(d, st))
    }

    /// Instructions that change only the config (and WORKDIR's mkdir).
    fn metadata(&mut self, st: &mut StageState, ins: Instruction, shown: String, span: Span) {
        let cfg = &mut st.config.config;
        match ins {
            Instruction::Env(c) => {
                let mut parts = Vec::new();
                for kv in &c.pairs {
                    cfg.env_set(&kv.key, &kv.value);
                    st.env.set(&kv.key, &kv.value);
                    parts.push(format!("{}={}", kv.key, kv.value));
                }
                st.history(format!("ENV {}", parts.join(" ")), false);
            }
            Instruction::Arg(c) => {
                let mut parts = Vec::new();
                for decl in &c.args {
                    let given = self.opts.build_args.get(&decl.name);
                    if given.is_some() {
                        self.consumed.insert(decl.name.clone());
                    }
                    let value = given
                        .cloned()
                        .or_else(|| decl.default.clone())
                        .or_else(|| self.plan.global.env.get(&decl.name).cloned());
                    if let Some(v) = &value
                        && st.config.config.env_get(&decl.name).is_none()
                    {
                        st.env.set(&decl.name, v);
                    }
                    if !st.args.contains(&decl.name) {
                        st.args.push(decl.name.clone());
                    }
                    let default = decl.default.clone().or_else(|| {
                        self.plan
                            .global
                            .args
                            .iter()
                            .rev()
                            .find(|g| g.name == decl.name)
                            .and_then(|g| g.default.clone())
                    });
                    self.report.args.push(super::stage::UsedArg {
                        name: decl.name.clone(),
                        default,
                        line: c.origin.start_line,
                    });
                    parts.push(match &decl.default {
                        Some(d) => format!("{}={d}", decl.name),
                        None => decl.name.clone(),
                    });
                }
                st.history(format!("ARG {}", parts.join(" ")), false);
            }
            Instruction::Label(c) => {
                let mut parts = Vec::new();
                for kv in &c.pairs {
                    cfg.labels.insert(kv.key.clone(), kv.value.clone());
                    parts.push(format!("{}={}", kv.key, kv.value));
                }
                st.history(format!("LABEL {}", parts.join(" ")), false);
            }
            Instruction::Maintainer(c) => {
                st.config.author = Some(c.maintainer.clone());
                st.history(format!("MAINTAINER {}", c.maintainer), false);
            }
            Instruction::Expose(c) => {
                let mut keys = BTreeMap::new();
                for p in &c.exposed {
                    cfg.exposed_ports.insert(p.to_string(), Default::default());
                    keys.insert(p.to_string(), ());
                }
                st.history(format!("EXPOSE {}", go_set(&keys)), false);
            }
            Instruction::Volume(c) => {
                for v in &c.volumes {
                    cfg.volumes.insert(v.clone(), Default::default());
                }
                st.history(format!("VOLUME {}", go_list(&c.volumes)), false);
            }
            Instruction::User(c) => {
                cfg.user = c.user.clone();
                st.history(format!("USER {}", c.user), false);
            }
            Instruction::StopSignal(c) => {
                cfg.stop_signal = c.signal.clone();
                st.history(format!("STOPSIGNAL {}", c.signal), false);
            }
            Instruction::Shell(c) => {
                cfg.shell = c.shell.clone();
                st.history(format!("SHELL {}", go_list(&c.shell)), false);
            }
            Instruction::Cmd(c) => {
                let args = st.command(&c.command);
                let cfg = &mut st.config.config;
                cfg.cmd = Some(args.clone());
                cfg.args_escaped = true;
                st.cmd_set = true;
                st.history(format!("CMD {}", go_quote_list(&args)), false);
            }
            Instruction::Entrypoint(c) => {
                let args = st.command(&c.command);
                let cfg = &mut st.config.config;
                cfg.entrypoint = Some(args.clone());
                if !st.cmd_set {
                    cfg.cmd = None;
                }
                st.history(format!("ENTRYPOINT {}", go_quote_list(&args)), false);
            }
            Instruction::Healthcheck(c) => {
                let text = healthcheck_history(&c);
                cfg.healthcheck = Some(Healthcheck {
                    test: c.test.to_config_test(),
                    interval: nanos(c.interval),
                    timeout: nanos(c.timeout),
                    start_period: nanos(c.start_period),
                    start_interval: nanos(c.start_interval),
                    retries: i64::from(c.retries),
                });
                st.history(text, false);
            }
            Instruction::Onbuild(c) => {
                cfg.on_build.push(c.expression.clone());
                st.history(format!("ONBUILD {}", c.expression), false);
            }
            Instruction::Workdir(c) => {
                let abs = resolve_path(st.workdir(), &c.path);
                st.config.config.working_dir = abs.clone();
                if abs == "/" {
                    st.history(format!("WORKDIR {abs}"), false);
                } else {
                    let owner = Some(st.config.config.user.clone()).filter(|u| !u.is_empty());
                    let op = Op::File(FileOp {
                        actions: vec![FileAction::Mkdir {
                            path: abs.clone(),
                            mode: 0o755,
                            make_parents: true,
                            owner,
                        }],
                    });
                    let name = format!("{}{shown}", st.next_step());
                    let pos = self.stage_pos(st.index);
                    st.state = self.gb.add(op, vec![st.state], name, pos, Some(span));
                    st.history(format!("WORKDIR {abs}"), true);
                }
            }
            // Handled by the caller; FROM never reaches a stage's commands.
            Instruction::Run(_)
            | Instruction::Copy(_)
            | Instruction::Add(_)
            | Instruction::From(_) => {}
        }
    }
}

fn nanos(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// BuildKit's `fmt.Sprintf("HEALTHCHECK %q", health)` of Docker's
/// `*HealthConfig`: `&{["CMD-SHELL" "x"] "30s" "0s" "0s" "0s" '\x03'}`.
fn healthcheck_history(c: &HealthcheckCmd) -> String {
    use crate::instructions::duration::format_go_duration;
    let d = |x: std::time::Duration| go_quote(&format_go_duration(nanos(x)));
    format!(
        "HEALTHCHECK &{{{} {} {} {} {} {}}}",
        go_quote_list(&c.test.to_config_test()),
        d(c.interval),
        d(c.timeout),
        d(c.start_period),
        d(c.start_interval),
        go_quote_rune(c.retries)
    )
}
