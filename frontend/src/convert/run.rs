//! RUN → an [`ExecOp`] vertex: the command (exec form, shell form wrapped
//! in SHELL, heredocs), the environment (state env + proxy args), the
//! working directory, user, network, security and `--mount`s, plus its
//! history entry.

use super::args::is_proxy_arg;
use super::plan::FromRef;
use super::stage::{Converter, StageState};
use super::text::resolve_path;
use crate::diagnostic::{Diagnostic, Span};
use crate::graph::{
    CacheSharing, ExecOp, FileAction, FileOp, Mount, MountKind, Network, Op, Security, SourceOp,
    VertexId,
};
use crate::instructions::{self, MountType, NetworkMode, RunCmd, SecurityMode};

/// The inputs of one vertex being assembled: input 0 first, others added
/// once each.
pub(crate) struct Inputs(pub Vec<VertexId>);

impl Inputs {
    pub fn index_of(&mut self, v: VertexId) -> usize {
        match self.0.iter().position(|x| *x == v) {
            Some(i) => i,
            None => {
                self.0.push(v);
                self.0.len() - 1
            }
        }
    }
}

/// `<<EOF`, `<<-EOF`, `<<'EOF'`, `<<"EOF"` naming `name`.
fn is_heredoc_word(word: &str, name: &str) -> bool {
    let Some(rest) = word.strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let unquoted = ['"', '\'']
        .iter()
        .find_map(|q| rest.strip_prefix(*q).and_then(|r| r.strip_suffix(*q)))
        .unwrap_or(rest);
    unquoted == name
}

impl Converter<'_> {
    pub(crate) fn run(
        &mut self,
        st: &mut StageState,
        mut run: RunCmd,
        shown: String,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let mut inputs = Inputs(vec![st.state]);
        let mut mounts = Vec::new();
        let mut args = std::mem::take(&mut run.command.args);
        let mut wrap_in_shell = run.command.shell_form;
        if !run.heredocs.is_empty() && run.command.shell_form {
            let line = args.join(" ");
            let only = &run.heredocs[0];
            if run.heredocs.len() == 1 && is_heredoc_word(line.trim(), &only.name) {
                if only.content.starts_with("#!") {
                    let scratch = self.scratch();
                    let file = Op::File(FileOp {
                        actions: vec![FileAction::Mkfile {
                            path: format!("/{}", only.name),
                            mode: 0o755,
                            data: only.content.clone(),
                            owner: None,
                        }],
                    });
                    let pos = self.stage_pos(st.index);
                    let v = self.gb.add(
                        file,
                        vec![scratch],
                        format!("[internal] heredoc {}", only.name),
                        pos,
                        Some(span),
                    );
                    let input = inputs.index_of(v);
                    mounts.push(Mount {
                        target: "/dev/pipes/".to_string(),
                        readonly: true,
                        kind: MountKind::Bind {
                            input,
                            source: "/".to_string(),
                        },
                    });
                    args = vec![format!("/dev/pipes/{}", only.name)];
                    wrap_in_shell = false;
                } else {
                    args = vec![only.content.clone()];
                }
            } else {
                let mut text = line;
                for h in &run.heredocs {
                    text.push('\n');
                    text.push_str(&h.content);
                    text.push_str(&h.name);
                }
                args = vec![text];
            }
        }
        let args = if wrap_in_shell {
            st.with_shell(&args)
        } else {
            args
        };

        let cwd = st.workdir().to_string();
        let mut ssh_index = 0;
        for m in &run.mounts {
            let mut mount = self.mount(st, m, &cwd, &mut inputs, &run, span)?;
            if let MountKind::Ssh { .. } = mount.kind {
                // Like BuildKit: the i-th ssh mount of a step defaults to
                // /run/buildkit/ssh_agent.i, so two agents never share a target.
                if m.target.as_deref().is_none_or(str::is_empty) {
                    mount.target = format!("/run/buildkit/ssh_agent.{ssh_index}");
                }
                ssh_index += 1;
            }
            mounts.push(mount);
        }

        let mut env = st.env.to_list();
        for (k, v) in &self.opts.build_args {
            if is_proxy_arg(k) && crate::shell::Env::get(&st.env, k).is_none() {
                env.push(format!("{k}={v}"));
            }
        }
        let op = Op::Exec(ExecOp {
            args: args.clone(),
            env,
            cwd,
            user: st.config.config.user.clone(),
            network: match run.network {
                NetworkMode::Default => Network::Default,
                NetworkMode::None => Network::None,
                NetworkMode::Host => Network::Host,
            },
            security: match run.security {
                SecurityMode::Sandbox => Security::Sandbox,
                SecurityMode::Insecure => Security::Insecure,
            },
            mounts,
        });
        let name = format!("{}{shown}", st.next_step());
        let pos = self.stage_pos(st.index);
        st.state = self.gb.add(op, inputs.0, name, pos, Some(span));

        let mut arg_pairs = Vec::new();
        for a in &st.args {
            if let Some(v) = crate::shell::Env::get(&st.env, a) {
                arg_pairs.push(format!("{a}={v}"));
            }
        }
        let mut text = String::from("RUN ");
        if !arg_pairs.is_empty() {
            text.push_str(&format!("|{} {} ", arg_pairs.len(), arg_pairs.join(" ")));
        }
        text.push_str(&args.join(" "));
        text.push_str(" # buildkit");
        st.add_history(text, true);
        Ok(())
    }

    /// One `RUN --mount`, its `from` added to `inputs`.
    fn mount(
        &mut self,
        st: &StageState,
        m: &instructions::Mount,
        cwd: &str,
        inputs: &mut Inputs,
        run: &RunCmd,
        span: Span,
    ) -> Result<Mount, Diagnostic> {
        let err = |msg: String| {
            let mut d = run.origin.error("--mount", format!("RUN --mount: {msg}"));
            if st.span_override.is_some() {
                d.span = span;
            }
            d
        };
        let target = match (&m.target, m.kind) {
            (Some(t), _) if !t.is_empty() => resolve_path(cwd, t),
            (_, MountType::Secret) => match (&m.id, &m.source, &m.env) {
                (Some(id), _, _) | (None, Some(id), _) => format!("/run/secrets/{id}"),
                (None, None, Some(_)) => String::new(),
                _ => return Err(err("secret mount needs an id, a target or env".into())),
            },
            (_, MountType::Ssh) => "/run/buildkit/ssh_agent.0".to_string(),
            _ => return Err(err("mount requires a target".into())),
        };
        if target == "/" {
            return Err(err("the target of a mount can not be /".into()));
        }
        let source = format!(
            "/{}",
            resolve_path("/", m.source.as_deref().unwrap_or("/")).trim_start_matches('/')
        );
        let kind = match m.kind {
            MountType::Bind => {
                let v = match &m.from {
                    Some(f) => self.source_of(st, f, &[], run, span)?,
                    None => {
                        let include = match m.source.as_deref() {
                            None | Some("") | Some(".") | Some("/") => vec![],
                            Some(s) => vec![s.to_string()],
                        };
                        self.context_vertex("context", include)
                    }
                };
                MountKind::Bind {
                    input: inputs.index_of(v),
                    source,
                }
            }
            MountType::Cache => {
                let from = match &m.from {
                    Some(f) => {
                        let v = self.source_of(st, f, &[], run, span)?;
                        Some(inputs.index_of(v))
                    }
                    None => None,
                };
                MountKind::Cache {
                    id: m.id.clone().unwrap_or_else(|| target.clone()),
                    sharing: match m.sharing {
                        instructions::CacheSharing::Shared => CacheSharing::Shared,
                        instructions::CacheSharing::Private => CacheSharing::Private,
                        instructions::CacheSharing::Locked => CacheSharing::Locked,
                    },
                    from,
                    source,
                    mode: m.mode.unwrap_or(0o755),
                    uid: m.uid.unwrap_or(0),
                    gid: m.gid.unwrap_or(0),
                }
            }
            MountType::Tmpfs => MountKind::Tmpfs { size: m.size },
            MountType::Secret => {
                let id = m
                    .id
                    .clone()
                    .or_else(|| m.source.clone())
                    .unwrap_or_else(|| target.rsplit('/').next().unwrap_or_default().to_string());
                self.report
                    .secrets
                    .entry(id.clone())
                    .and_modify(|r| *r |= m.required)
                    .or_insert(m.required);
                MountKind::Secret {
                    id,
                    env: m.env.clone(),
                    required: m.required,
                    mode: m.mode.unwrap_or(0o400),
                    uid: m.uid.unwrap_or(0),
                    gid: m.gid.unwrap_or(0),
                }
            }
            MountType::Ssh => {
                let id = m.id.clone().unwrap_or_else(|| "default".to_string());
                self.report
                    .ssh
                    .entry(id.clone())
                    .and_modify(|r| *r |= m.required)
                    .or_insert(m.required);
                MountKind::Ssh {
                    id,
                    required: m.required,
                    mode: m.mode.unwrap_or(0o600),
                    uid: m.uid.unwrap_or(0),
                    gid: m.gid.unwrap_or(0),
                }
            }
        };
        Ok(Mount {
            target,
            readonly: m.readonly,
            kind,
        })
    }

    /// The vertex a `--from` / `from=` name reads: a stage's result, a named
    /// context or an image. `include` selects paths of a local context.
    pub(crate) fn source_of(
        &mut self,
        st: &StageState,
        name: &str,
        include: &[String],
        run_or_copy: &dyn HasOrigin,
        span: Span,
    ) -> Result<VertexId, Diagnostic> {
        let origin = run_or_copy.origin();
        let reference = self
            .plan
            .resolve_ref(name, st.index, origin, name, self.opts)
            .map_err(|mut d| {
                if st.span_override.is_some() {
                    d.span = span;
                }
                d
            })?;
        match reference {
            FromRef::Stage(j) => match &self.done[j] {
                Some(out) => Ok(out.result),
                None => Err(origin.error(name, format!("internal: stage {name:?} not converted"))),
            },
            FromRef::Context(n) => {
                let ctx = self.opts.named_contexts.get(&n).cloned();
                match ctx {
                    Some(super::NamedContext::Local { name: dir }) => {
                        Ok(self.context_vertex(&dir, include.to_vec()))
                    }
                    Some(super::NamedContext::Image(r)) => self.image_vertex(st, &r, origin),
                    Some(super::NamedContext::OciLayout { path, tag }) => {
                        let op = SourceOp::OciLayout {
                            path: path.clone(),
                            tag: tag.clone(),
                            platform: st.platform.clone(),
                        };
                        let shown = super::plan::oci_layout_reference(&path, tag.as_deref());
                        Ok(self.gb.add(
                            Op::Source(op),
                            vec![],
                            format!("[internal] load {shown}"),
                            None,
                            None,
                        ))
                    }
                    None => self.image_vertex(st, &n, origin),
                }
            }
            FromRef::Image(r) => self.image_vertex(st, &r, origin),
        }
    }

    /// An image source vertex for a `--from` image (resolved for its
    /// normalised reference).
    fn image_vertex(
        &mut self,
        st: &StageState,
        reference: &str,
        origin: &instructions::Origin,
    ) -> Result<VertexId, Diagnostic> {
        let r = super::plan::resolve(self.resolver, reference, &st.platform, origin)?;
        let op = SourceOp::Image {
            reference: r.reference.clone(),
            platform: st.platform.clone(),
        };
        Ok(self.gb.add(
            Op::Source(op),
            vec![],
            format!("[internal] load image {}", r.reference),
            None,
            None,
        ))
    }

    /// A local context source reading `include` (empty = everything).
    pub(crate) fn context_vertex(&mut self, name: &str, include: Vec<String>) -> VertexId {
        let shown = if name == "context" {
            "[internal] load build context".to_string()
        } else {
            format!("[internal] load build context {name}")
        };
        self.gb.add(
            Op::Source(SourceOp::Local {
                name: name.to_string(),
                include,
            }),
            vec![],
            shown,
            None,
            None,
        )
    }
}

/// Instructions that can name a `--from`.
pub(crate) trait HasOrigin {
    fn origin(&self) -> &instructions::Origin;
}

impl HasOrigin for RunCmd {
    fn origin(&self) -> &instructions::Origin {
        &self.origin
    }
}

impl HasOrigin for instructions::CopyCmd {
    fn origin(&self) -> &instructions::Origin {
        &self.origin
    }
}
