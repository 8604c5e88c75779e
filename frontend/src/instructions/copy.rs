//! `COPY [--from] [--chown] [--chmod] [--link] [--parents] [--exclude]...
//! <src>... <dest>`: sources (paths, heredocs) and a destination; and the
//! parts ADD shares with it (see [`super::add`]).

use serde::Serialize;

use super::chmod::{Chmod, parse_chmod};
use super::flags::{FlagKind, Flags, parse_flags};
use super::{Expander, Origin, expand_word};
use crate::diagnostic::Diagnostic;
use crate::parser::Node;

/// A file whose content is written inline (`COPY <<EOF /dest`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InlineFile {
    /// The heredoc name, used as the file name when the destination is a directory.
    pub name: String,
    /// The body (expanded by `expand` when `expand` is true).
    pub content: String,
    /// False when the delimiter was quoted: the body is taken literally.
    pub expand: bool,
}

/// One source of a COPY/ADD, in the order written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CopySource {
    /// A path in the context or `--from` stage (ADD: also a URL or git address).
    Path(String),
    /// A heredoc body.
    Heredoc(InlineFile),
}

/// A COPY instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CopyCmd {
    pub origin: Origin,
    pub sources: Vec<CopySource>,
    pub dest: String,
    /// `--from`: a stage name, stage index or image. Expanded with the
    /// global ARGs by [`CopyCmd::expand_from`], not by `expand`.
    pub from: Option<String>,
    /// `--chown=user[:group]`, as written (expanded by `expand`).
    pub chown: Option<String>,
    /// `--chmod`, as written (expanded by `expand`).
    pub chmod: Option<String>,
    /// The validated `--chmod`; filled at parse time when it has no `$`,
    /// always by `expand`.
    pub mode: Option<Chmod>,
    pub link: bool,
    pub parents: bool,
    /// `--exclude` patterns, in order.
    pub excludes: Vec<String>,
}

/// The parts COPY and ADD share.
pub(super) struct Common {
    pub(super) sources: Vec<CopySource>,
    pub(super) dest: String,
    pub(super) chown: Option<String>,
    pub(super) chmod: Option<String>,
    pub(super) mode: Option<Chmod>,
    pub(super) link: bool,
    pub(super) excludes: Vec<String>,
}

pub(super) fn parse_common(
    node: &Node,
    source: &str,
    instruction: &str,
    flags: &Flags,
) -> Result<Common, Diagnostic> {
    if node.args.len() < 2 {
        return Err(Diagnostic::new(
            format!(
                "{instruction} requires at least two arguments, but only {} provided. Destination could not be determined",
                if node.args.is_empty() {
                    "none was"
                } else {
                    "one was"
                }
            ),
            node.locate(source, node.args.first().map_or("", String::as_str)),
        ));
    }
    let (dest, srcs) = node.args.split_last().unwrap_or((&node.args[0], &[]));
    if heredoc_name(dest).is_some() {
        return Err(Diagnostic::new(
            format!("{instruction} cannot accept a heredoc as a destination"),
            node.locate(source, dest),
        ));
    }
    let sources = srcs
        .iter()
        .map(|s| {
            let doc =
                heredoc_name(s).and_then(|name| node.heredocs.iter().find(|h| h.name == name));
            match doc {
                Some(h) => CopySource::Heredoc(InlineFile {
                    name: h.name.clone(),
                    content: h.content.clone(),
                    expand: h.expand,
                }),
                None => CopySource::Path(s.clone()),
            }
        })
        .collect();
    let chmod = flags.string("chmod").filter(|c| !c.is_empty());
    let mode = match &chmod {
        Some(c) if !c.contains('$') => Some(parse_chmod(c).map_err(|msg| {
            Diagnostic::new(format!("{instruction}: {msg}"), node.locate(source, c))
        })?),
        _ => None,
    };
    Ok(Common {
        sources,
        dest: dest.clone(),
        chown: flags.string("chown").filter(|c| !c.is_empty()),
        chmod,
        mode,
        link: flags.bool("link").unwrap_or(false),
        excludes: flags.list("exclude"),
    })
}

/// The heredoc name a source word opens (`<<EOF`, `<<-EOF`, `<<"EOF"`), or
/// `None` when the word is not a heredoc marker.
fn heredoc_name(word: &str) -> Option<&str> {
    let rest = word.strip_prefix("<<")?;
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let name = ['"', '\'']
        .iter()
        .find_map(|q| rest.strip_prefix(*q).and_then(|r| r.strip_suffix(*q)))
        .unwrap_or(rest);
    (!name.is_empty() && !name.contains(['<', ' ', '\t'])).then_some(name)
}

/// Expands the fields COPY and ADD share.
#[allow(clippy::too_many_arguments)]
pub(super) fn expand_common(
    e: &dyn Expander,
    origin: &Origin,
    instruction: &str,
    sources: &mut [CopySource],
    dest: &mut String,
    chown: &mut Option<String>,
    chmod: &mut Option<String>,
    mode: &mut Option<Chmod>,
    excludes: &mut [String],
) -> Result<(), Diagnostic> {
    for s in sources.iter_mut() {
        match s {
            CopySource::Path(p) => expand_word(e, origin, instruction, p)?,
            CopySource::Heredoc(f) if f.expand => {
                f.content = e.raw(&f.content).map_err(|msg| {
                    origin.error(
                        &f.name,
                        format!("{instruction}: failed to expand heredoc {}: {msg}", f.name),
                    )
                })?;
            }
            CopySource::Heredoc(_) => {}
        }
    }
    expand_word(e, origin, instruction, dest)?;
    expand_optional(e, origin, instruction, chown)?;
    let raw_chmod = chmod.clone();
    expand_optional(e, origin, instruction, chmod)?;
    *mode = match chmod {
        Some(c) => Some(parse_chmod(c).map_err(|msg| {
            origin.error(
                raw_chmod.as_deref().unwrap_or(""),
                format!("{instruction}: {msg}"),
            )
        })?),
        None => None,
    };
    for x in excludes.iter_mut() {
        expand_word(e, origin, instruction, x)?;
    }
    Ok(())
}

/// Expands an optional flag value; an empty result means "not given".
pub(super) fn expand_optional(
    e: &dyn Expander,
    origin: &Origin,
    instruction: &str,
    value: &mut Option<String>,
) -> Result<(), Diagnostic> {
    if let Some(v) = value {
        expand_word(e, origin, instruction, v)?;
        if v.is_empty() {
            *value = None;
        }
    }
    Ok(())
}

impl CopyCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<CopyCmd, Diagnostic> {
        let flags = parse_flags(
            node,
            source,
            "COPY",
            &[
                ("from", FlagKind::String),
                ("chown", FlagKind::String),
                ("chmod", FlagKind::String),
                ("link", FlagKind::Bool),
                ("parents", FlagKind::Bool),
                ("exclude", FlagKind::List),
            ],
        )?;
        let c = parse_common(node, source, "COPY", &flags)?;
        Ok(CopyCmd {
            origin: Origin::of(node, source),
            sources: c.sources,
            dest: c.dest,
            from: flags.string("from").filter(|f| !f.is_empty()),
            chown: c.chown,
            chmod: c.chmod,
            mode: c.mode,
            link: c.link,
            parents: flags.bool("parents").unwrap_or(false),
            excludes: c.excludes,
        })
    }

    /// Expands sources, destination, `--chown`, `--chmod` (then validates
    /// it), `--exclude` and expandable heredoc bodies. Not `--from`.
    pub fn expand(&mut self, e: &dyn Expander) -> Result<(), Diagnostic> {
        expand_common(
            e,
            &self.origin,
            "COPY",
            &mut self.sources,
            &mut self.dest,
            &mut self.chown,
            &mut self.chmod,
            &mut self.mode,
            &mut self.excludes,
        )
    }

    /// Expands `--from` with the global (pre-FROM) ARGs, as BuildKit does.
    pub fn expand_from(&mut self, global: &dyn Expander) -> Result<(), Diagnostic> {
        expand_optional(global, &self.origin, "COPY", &mut self.from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::Instruction;
    use crate::instructions::testutil::{TestExpander, json_node, node, parse, with_heredoc};

    fn copy(n: Node) -> Result<CopyCmd, Diagnostic> {
        match parse(&n)? {
            Instruction::Copy(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn copy_splits_sources_and_destination() {
        let c = copy(node("copy", &[], &["a", "b/*.txt", "/dest/"])).unwrap();
        assert_eq!(
            c.sources,
            vec![
                CopySource::Path("a".into()),
                CopySource::Path("b/*.txt".into())
            ]
        );
        assert_eq!(c.dest, "/dest/");
        assert!(c.from.is_none() && c.chown.is_none() && !c.link && !c.parents);
    }

    #[test]
    fn copy_accepts_json_form() {
        let c = copy(json_node("copy", &[], &["a b", "/d"])).unwrap();
        assert_eq!(c.sources, vec![CopySource::Path("a b".into())]);
    }

    #[test]
    fn copy_requires_two_arguments() {
        let err = copy(node("copy", &[], &["onlyone"])).unwrap_err();
        assert!(
            err.message
                .starts_with("COPY requires at least two arguments")
        );
        assert!(copy(node("copy", &[], &[])).is_err());
    }

    #[test]
    fn copy_accepts_all_flags() {
        let c = copy(node(
            "copy",
            &[
                "--from=build",
                "--chown=app:app",
                "--chmod=0755",
                "--link",
                "--parents",
                "--exclude=*.md",
                "--exclude=tmp/",
            ],
            &["a", "/d"],
        ))
        .unwrap();
        assert_eq!(c.from.as_deref(), Some("build"));
        assert_eq!(c.chown.as_deref(), Some("app:app"));
        assert_eq!(c.mode, Some(Chmod::Octal(0o755)));
        assert!(c.link && c.parents);
        assert_eq!(c.excludes, vec!["*.md", "tmp/"]);
    }

    #[test]
    fn copy_rejects_add_only_flags() {
        let err = copy(node("copy", &["--checksum=x"], &["a", "/d"])).unwrap_err();
        assert!(err.message.contains("unknown flag for COPY: --checksum"));
        assert!(copy(node("copy", &["--keep-git-dir"], &["a", "/d"])).is_err());
    }

    #[test]
    fn copy_chmod_accepts_symbolic_mode() {
        let c = copy(node("copy", &["--chmod=u+x,g=r"], &["a", "/d"])).unwrap();
        assert_eq!(c.mode, Some(Chmod::Symbolic("u+x,g=r".into())));
    }

    #[test]
    fn copy_chmod_rejects_bad_mode_pointing_at_it() {
        let n = node("copy", &["--chmod=u+q"], &["a", "/d"]);
        let err = copy(n.clone()).unwrap_err();
        assert!(err.message.starts_with("COPY: invalid chmod parameter"));
        assert_eq!(err.span.offset, n.original.find("u+q").unwrap());
    }

    #[test]
    fn copy_link_false_is_false() {
        assert!(
            !copy(node("copy", &["--link=false"], &["a", "/d"]))
                .unwrap()
                .link
        );
    }

    #[test]
    fn copy_heredoc_source_becomes_inline_file() {
        let n = with_heredoc(
            node("copy", &[], &["<<EOF", "x", "/d/"]),
            "EOF",
            "hello $NAME\n",
            true,
        );
        let c = copy(n).unwrap();
        assert_eq!(
            c.sources[0],
            CopySource::Heredoc(InlineFile {
                name: "EOF".into(),
                content: "hello $NAME\n".into(),
                expand: true
            })
        );
        assert_eq!(c.sources[1], CopySource::Path("x".into()));
    }

    #[test]
    fn copy_heredoc_with_quoted_or_chomped_marker_is_found() {
        let n = with_heredoc(
            node("copy", &[], &["<<-\"END\"", "/d"]),
            "END",
            "x\n",
            false,
        );
        assert!(matches!(
            copy(n).unwrap().sources[0],
            CopySource::Heredoc(_)
        ));
    }

    #[test]
    fn copy_rejects_heredoc_destination() {
        let n = with_heredoc(node("copy", &[], &["a", "<<EOF"]), "EOF", "x\n", true);
        let err = copy(n).unwrap_err();
        assert_eq!(err.message, "COPY cannot accept a heredoc as a destination");
    }

    #[test]
    fn copy_expand_substitutes_paths_chown_chmod_excludes_and_heredoc() {
        let n = with_heredoc(
            node(
                "copy",
                &["--from=$STAGE", "--chown=$U", "--chmod=$M", "--exclude=$X"],
                &["<<EOF", "$SRC", "/app/$DIR"],
            ),
            "EOF",
            "v=\"$V\"\n",
            true,
        );
        let mut c = copy(n).unwrap();
        assert_eq!(c.mode, None);
        let e = TestExpander::new(&[
            ("U", "1000"),
            ("M", "640"),
            ("X", "*.log"),
            ("SRC", "src"),
            ("DIR", "bin"),
            ("V", "1"),
            ("STAGE", "other"),
        ]);
        c.expand(&e).unwrap();
        assert_eq!(c.sources[1], CopySource::Path("src".into()));
        assert_eq!(c.dest, "/app/bin");
        assert_eq!(c.chown.as_deref(), Some("1000"));
        assert_eq!(c.mode, Some(Chmod::Octal(0o640)));
        assert_eq!(c.excludes, vec!["*.log"]);
        let CopySource::Heredoc(f) = &c.sources[0] else {
            panic!()
        };
        assert_eq!(f.content, "v=\"1\"\n", "heredoc bodies keep their quotes");
        assert_eq!(
            c.from.as_deref(),
            Some("$STAGE"),
            "--from is left to expand_from"
        );
        c.expand_from(&e).unwrap();
        assert_eq!(c.from.as_deref(), Some("other"));
    }

    #[test]
    fn copy_expand_leaves_quoted_heredoc_alone() {
        let n = with_heredoc(node("copy", &[], &["<<'EOF'", "/d"]), "EOF", "$V\n", false);
        let mut c = copy(n).unwrap();
        c.expand(&TestExpander::new(&[("V", "1")])).unwrap();
        let CopySource::Heredoc(f) = &c.sources[0] else {
            panic!()
        };
        assert_eq!(f.content, "$V\n");
    }

    #[test]
    fn copy_expand_rejects_bad_chmod_after_expansion() {
        let mut c = copy(node("copy", &["--chmod=$M"], &["a", "/d"])).unwrap();
        let err = c.expand(&TestExpander::new(&[("M", "999")])).unwrap_err();
        assert!(err.message.contains("invalid chmod parameter"));
    }

    #[test]
    fn copy_expand_drops_chown_that_expands_to_nothing() {
        let mut c = copy(node("copy", &["--chown=$NOBODY"], &["a", "/d"])).unwrap();
        c.expand(&TestExpander::new(&[])).unwrap();
        assert_eq!(c.chown, None);
    }
}
