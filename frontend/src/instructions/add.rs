//! `ADD [--chown] [--chmod] [--link] [--exclude]... [--checksum]
//! [--keep-git-dir] [--unpack] <src>... <dest>`: COPY plus URLs, git
//! sources and archive extraction (which the builder does).

use serde::Serialize;

use super::chmod::Chmod;
use super::copy::{CopySource, expand_common, expand_optional, parse_common};
use super::flags::{FlagKind, parse_flags};
use super::{Expander, Origin};
use crate::diagnostic::Diagnostic;
use crate::parser::Node;

/// An ADD instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AddCmd {
    pub origin: Origin,
    pub sources: Vec<CopySource>,
    pub dest: String,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub mode: Option<Chmod>,
    pub link: bool,
    pub excludes: Vec<String>,
    /// `--checksum`: `sha256:<hex>` (or sha384/sha512) for URLs, a commit id
    /// for git sources.
    pub checksum: Option<String>,
    /// `--keep-git-dir`: keep `.git` of a git source.
    pub keep_git_dir: bool,
    /// `--unpack`: `None` = Docker's default (unpack local archives only).
    pub unpack: Option<bool>,
}

impl AddCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<AddCmd, Diagnostic> {
        let flags = parse_flags(
            node,
            source,
            "ADD",
            &[
                ("chown", FlagKind::String),
                ("chmod", FlagKind::String),
                ("link", FlagKind::Bool),
                ("exclude", FlagKind::List),
                ("checksum", FlagKind::String),
                ("keep-git-dir", FlagKind::Bool),
                ("unpack", FlagKind::Bool),
            ],
        )?;
        let c = parse_common(node, source, "ADD", &flags)?;
        let checksum = flags.string("checksum").filter(|c| !c.is_empty());
        if let Some(sum) = checksum.as_deref().filter(|s| !s.contains('$')) {
            validate_checksum(sum)
                .map_err(|msg| Diagnostic::new(format!("ADD: {msg}"), node.locate(source, sum)))?;
        }
        Ok(AddCmd {
            origin: Origin::of(node, source),
            sources: c.sources,
            dest: c.dest,
            chown: c.chown,
            chmod: c.chmod,
            mode: c.mode,
            link: c.link,
            excludes: c.excludes,
            checksum,
            keep_git_dir: flags.bool("keep-git-dir").unwrap_or(false),
            unpack: flags.bool("unpack"),
        })
    }

    /// Like [`super::CopyCmd::expand`], plus `--checksum` (then validated).
    pub fn expand(&mut self, e: &dyn Expander) -> Result<(), Diagnostic> {
        expand_common(
            e,
            &self.origin,
            "ADD",
            &mut self.sources,
            &mut self.dest,
            &mut self.chown,
            &mut self.chmod,
            &mut self.mode,
            &mut self.excludes,
        )?;
        let raw = self.checksum.clone().unwrap_or_default();
        expand_optional(e, &self.origin, "ADD", &mut self.checksum)?;
        if let Some(sum) = &self.checksum {
            validate_checksum(sum).map_err(|msg| self.origin.error(&raw, format!("ADD: {msg}")))?;
        }
        Ok(())
    }
}

/// `--checksum` is a digest (`sha256:` + 64 hex, `sha384:` + 96,
/// `sha512:` + 128) or a git commit id (40 or 64 hex digits).
fn validate_checksum(sum: &str) -> Result<(), String> {
    let is_hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    let ok = match sum.split_once(':') {
        Some((algo, hex)) => {
            let want = match algo {
                "sha256" => 64,
                "sha384" => 96,
                "sha512" => 128,
                _ => {
                    return Err(format!(
                        "unsupported checksum algorithm {algo:?} in {sum:?}"
                    ));
                }
            };
            hex.len() == want && is_hex(hex)
        }
        None => (sum.len() == 40 || sum.len() == 64) && is_hex(sum),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid checksum {sum:?} (expected sha256:<64 hex digits> or a git commit id)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::Instruction;
    use crate::instructions::testutil::{TestExpander, node, parse};

    fn add(n: Node) -> Result<AddCmd, Diagnostic> {
        match parse(&n)? {
            Instruction::Add(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    const SHA: &str = "sha256:24454f830cdb571e2c4ad15481119c43b3cafd48dd869a9b2945d1036d1dc68d";

    #[test]
    fn add_accepts_all_flags() {
        let a = add(node(
            "add",
            &[
                "--chown=1:2",
                "--chmod=644",
                "--link",
                "--exclude=*.o",
                &format!("--checksum={SHA}"),
                "--keep-git-dir=true",
                "--unpack=false",
            ],
            &["https://example.com/a.tar.gz", "/d"],
        ))
        .unwrap();
        assert_eq!(a.checksum.as_deref(), Some(SHA));
        assert!(a.keep_git_dir && a.link);
        assert_eq!(a.unpack, Some(false));
        assert_eq!(a.mode, Some(Chmod::Octal(0o644)));
        assert_eq!(a.excludes, vec!["*.o"]);
    }

    #[test]
    fn add_unpack_defaults_to_unset() {
        assert_eq!(
            add(node("add", &[], &["a.tar", "/d"])).unwrap().unpack,
            None
        );
        assert_eq!(
            add(node("add", &["--unpack"], &["a.tar", "/d"]))
                .unwrap()
                .unpack,
            Some(true)
        );
    }

    #[test]
    fn add_rejects_copy_only_flags() {
        assert!(add(node("add", &["--from=x"], &["a", "/d"])).is_err());
        assert!(add(node("add", &["--parents"], &["a", "/d"])).is_err());
    }

    #[test]
    fn add_requires_two_arguments() {
        let err = add(node("add", &[], &["a"])).unwrap_err();
        assert!(
            err.message
                .starts_with("ADD requires at least two arguments")
        );
    }

    #[test]
    fn add_checksum_is_validated() {
        assert!(add(node("add", &["--checksum=sha256:abc"], &["u", "/d"])).is_err());
        assert!(add(node("add", &["--checksum=md5:abc"], &["u", "/d"])).is_err());
        let commit = "--checksum=0123456789abcdef0123456789abcdef01234567";
        assert!(add(node("add", &[commit], &["git@x:y.git", "/d"])).is_ok());
    }

    #[test]
    fn add_expand_validates_checksum() {
        let mut a = add(node("add", &["--checksum=$SUM"], &["u", "/d"])).unwrap();
        assert!(a.expand(&TestExpander::new(&[("SUM", "nope")])).is_err());
        let mut a = add(node("add", &["--checksum=$SUM"], &["u", "/d"])).unwrap();
        a.expand(&TestExpander::new(&[("SUM", SHA)])).unwrap();
        assert_eq!(a.checksum.as_deref(), Some(SHA));
    }
}
