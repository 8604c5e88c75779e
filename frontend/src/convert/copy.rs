//! COPY and ADD → a [`FileOp`] vertex with one copy per source: from the
//! build context, a named context, a stage, an image, an inline heredoc
//! file, or (ADD) a URL or git repository; `--link` copies onto scratch and
//! merges; plus the history entry.

use super::args::ScopeExpander;
use super::run::Inputs;
use super::stage::{Converter, StageState};
use super::text::resolve_dest;
use crate::diagnostic::{Diagnostic, Span};
use crate::graph::{CopyAction, FileAction, FileOp, Op, SourceOp, VertexId};
use crate::instructions::{AddCmd, Chmod, CopyCmd, CopySource};

/// What COPY and ADD share, after expansion.
struct CopySpec {
    keyword: &'static str,
    sources: Vec<CopySource>,
    dest: String,
    from: Option<String>,
    chown: Option<String>,
    chmod: Option<String>,
    mode: Option<Chmod>,
    link: bool,
    parents: bool,
    excludes: Vec<String>,
    /// ADD only: (unpack flag, checksum, keep git dir).
    add: Option<(Option<bool>, Option<String>, bool)>,
}

/// A remote ADD source.
enum Remote {
    Http {
        url: String,
        filename: String,
    },
    Git {
        url: String,
        reference: String,
        subdir: String,
    },
}

fn remote(src: &str) -> Option<Remote> {
    let http = src.starts_with("http://") || src.starts_with("https://");
    let (base, fragment) = match src.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (src, None),
    };
    let git = src.starts_with("git@")
        || src.starts_with("git://")
        || src.starts_with("ssh://")
        || (http && base.ends_with(".git"));
    if git {
        let (reference, subdir) = match fragment {
            Some(f) => match f.split_once(':') {
                Some((r, s)) => (r.to_string(), s.to_string()),
                None => (f.to_string(), String::new()),
            },
            None => (String::new(), String::new()),
        };
        return Some(Remote::Git {
            url: base.to_string(),
            reference,
            subdir,
        });
    }
    if http {
        let no_query = src.split(['?', '#']).next().unwrap_or(src);
        let after_scheme = no_query.split_once("://").map_or("", |(_, r)| r);
        let filename = match after_scheme.split_once('/') {
            Some((_, path)) => path.rsplit('/').next().unwrap_or(""),
            None => "",
        };
        let filename = if filename.is_empty() {
            "__unnamed__".to_string()
        } else {
            filename.to_string()
        };
        return Some(Remote::Http {
            url: src.to_string(),
            filename,
        });
    }
    None
}

fn has_wildcard(p: &str) -> bool {
    p.contains(['*', '?', '['])
}

impl Converter<'_> {
    pub(crate) fn copy(
        &mut self,
        st: &mut StageState,
        mut c: CopyCmd,
        shown: String,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let e = ScopeExpander::quiet(self.plan.lexer, &self.plan.global.env);
        c.expand_from(&e)?;
        let spec = CopySpec {
            keyword: "COPY",
            sources: std::mem::take(&mut c.sources),
            dest: std::mem::take(&mut c.dest),
            from: c.from.take(),
            chown: c.chown.take(),
            chmod: c.chmod.take(),
            mode: c.mode.take(),
            link: c.link,
            parents: c.parents,
            excludes: std::mem::take(&mut c.excludes),
            add: None,
        };
        self.copy_like(st, spec, &c, shown, span)
    }

    pub(crate) fn add(
        &mut self,
        st: &mut StageState,
        a: AddCmd,
        shown: String,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let origin_holder = CopyCmd {
            origin: a.origin.clone(),
            sources: vec![],
            dest: String::new(),
            from: None,
            chown: None,
            chmod: None,
            mode: None,
            link: false,
            parents: false,
            excludes: vec![],
        };
        let spec = CopySpec {
            keyword: "ADD",
            sources: a.sources,
            dest: a.dest,
            from: None,
            chown: a.chown,
            chmod: a.chmod,
            mode: a.mode,
            link: a.link,
            parents: false,
            excludes: a.excludes,
            add: Some((a.unpack, a.checksum, a.keep_git_dir)),
        };
        self.copy_like(st, spec, &origin_holder, shown, span)
    }

    fn copy_like(
        &mut self,
        st: &mut StageState,
        c: CopySpec,
        holder: &CopyCmd,
        shown: String,
        span: Span,
    ) -> Result<(), Diagnostic> {
        let origin = &holder.origin;
        let many = c.sources.len() > 1
            || c.sources.iter().any(
                |s| matches!(s, CopySource::Path(p) if has_wildcard(p) && remote(p).is_none()),
            );
        let dest_is_dir = c.dest.is_empty() || c.dest == "." || c.dest.ends_with('/');
        if many && !dest_is_dir {
            return Err(origin.error(
                &c.dest,
                format!(
                    "When using {} with more than one source file, the destination must be a directory and end with a /",
                    c.keyword
                ),
            ));
        }
        let dest = resolve_dest(st.workdir(), &c.dest);
        let link = c.link && c.chmod.is_none();
        let base = if link { self.scratch() } else { st.state };
        let mut inputs = Inputs(vec![base]);
        let chmod = c.mode.as_ref().map(|m| match m {
            Chmod::Octal(m) => format!("{m:04o}"),
            Chmod::Symbolic(s) => s.clone(),
        });
        let (unpack_flag, checksum, keep_git_dir) =
            c.add.clone().unwrap_or((Some(false), None, false));

        // Local paths: one context (or --from) input shared by all of them.
        let is_local = |s: &CopySource| match s {
            CopySource::Path(p) => c.add.is_none() || c.from.is_some() || remote(p).is_none(),
            CopySource::Heredoc(_) => false,
        };
        let local: Vec<String> = c
            .sources
            .iter()
            .filter(|s| is_local(s))
            .filter_map(|s| match s {
                CopySource::Path(p) => Some(p.clone()),
                CopySource::Heredoc(_) => None,
            })
            .collect();
        let mut local_input = None;
        let mut absolute_sources = false;
        if !local.is_empty() {
            let v = match &c.from {
                Some(f) => {
                    let v = self.source_of(st, f, &local, holder, span)?;
                    absolute_sources =
                        !matches!(self.gb.vertex(v).op, Op::Source(SourceOp::Local { .. }));
                    v
                }
                None => self.context_vertex("context", local),
            };
            local_input = Some(inputs.index_of(v));
        }

        let mut actions = Vec::with_capacity(c.sources.len());
        let pos = self.stage_pos(st.index);
        for s in &c.sources {
            let (input, source, unpack) = match s {
                CopySource::Path(p) if is_local(s) => {
                    let source = if absolute_sources && !p.starts_with('/') {
                        format!("/{p}")
                    } else {
                        p.clone()
                    };
                    let unpack = c.add.is_some() && unpack_flag.unwrap_or(true);
                    (local_input.unwrap_or(0), source, unpack)
                }
                CopySource::Path(p) => {
                    let (op, source) = match remote(p) {
                        Some(Remote::Http { url, filename }) => (
                            SourceOp::Http {
                                url,
                                checksum: checksum.clone(),
                                filename: filename.clone(),
                            },
                            format!("/{filename}"),
                        ),
                        Some(Remote::Git {
                            url,
                            reference,
                            subdir,
                        }) => (
                            SourceOp::Git {
                                url,
                                reference,
                                subdir,
                                keep_git_dir,
                            },
                            "/".to_string(),
                        ),
                        None => continue,
                    };
                    let v = self.gb.add(
                        Op::Source(op),
                        vec![],
                        format!("[internal] load remote {p}"),
                        None,
                        None,
                    );
                    (inputs.index_of(v), source, unpack_flag.unwrap_or(false))
                }
                CopySource::Heredoc(h) => {
                    let scratch = self.scratch();
                    let op = Op::File(FileOp {
                        actions: vec![FileAction::Mkfile {
                            path: format!("/{}", h.name),
                            mode: 0o644,
                            data: h.content.clone(),
                            owner: None,
                        }],
                    });
                    let v: VertexId = self.gb.add(
                        op,
                        vec![scratch],
                        format!("[internal] heredoc {}", h.name),
                        pos,
                        Some(span),
                    );
                    (inputs.index_of(v), format!("/{}", h.name), false)
                }
            };
            actions.push(FileAction::Copy(CopyAction {
                input,
                sources: vec![source],
                dest: dest.clone(),
                owner: c.chown.clone(),
                chmod: chmod.clone(),
                exclude: c.excludes.clone(),
                parents: c.parents,
                unpack,
                contents_only: true,
            }));
        }

        let name = format!("{}{shown}", st.next_step());
        let copied = self.gb.add(
            Op::File(FileOp { actions }),
            inputs.0,
            name.clone(),
            pos,
            Some(span),
        );
        st.state = if link {
            self.gb
                .add(Op::Merge, vec![st.state, copied], name, pos, Some(span))
        } else {
            copied
        };

        let mut text = c.keyword.to_string();
        if c.parents {
            text.push_str(" --parents");
        }
        if let Some(o) = &c.chown {
            text.push_str(&format!(" --chown={o}"));
        }
        if let Some(m) = &c.chmod {
            text.push_str(&format!(" --chmod={m}"));
        }
        for s in &c.sources {
            if let CopySource::Path(p) = s {
                text.push(' ');
                text.push_str(p);
            }
        }
        for s in &c.sources {
            if let CopySource::Heredoc(h) = s {
                text.push_str(&format!(" <<{}", h.name));
            }
        }
        text.push_str(&format!(" {} # buildkit", c.dest));
        st.add_history(text, true);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_sources_are_recognised() {
        assert!(
            matches!(remote("https://x.org/a/b.tgz?x=1"), Some(Remote::Http { filename, .. }) if filename == "b.tgz")
        );
        assert!(
            matches!(remote("https://x.org"), Some(Remote::Http { filename, .. }) if filename == "__unnamed__")
        );
        assert!(
            matches!(remote("https://github.com/a/b.git#v1:docs"), Some(Remote::Git { reference, subdir, .. }) if reference == "v1" && subdir == "docs")
        );
        assert!(matches!(
            remote("git@github.com:a/b.git"),
            Some(Remote::Git { .. })
        ));
        assert!(remote("src/*.rs").is_none());
    }
}
