//! `FROM [--platform=<platform>] <image> [AS <name>]`: the start of a stage.

use serde::Serialize;

use super::flags::{FlagKind, parse_flags};
use super::{Expander, Origin, expand_word};
use crate::diagnostic::Diagnostic;
use crate::parser::Node;

/// A FROM instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FromCmd {
    pub origin: Origin,
    /// The base: an image reference, a stage name or `scratch` (unexpanded
    /// until [`FromCmd::expand`]).
    pub image: String,
    /// The stage name after `AS`, lower-cased; `None` when unnamed.
    pub stage_name: Option<String>,
    /// `--platform`, unexpanded until [`FromCmd::expand`].
    pub platform: Option<String>,
}

impl FromCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<FromCmd, Diagnostic> {
        let flags = parse_flags(node, source, "FROM", &[("platform", FlagKind::String)])?;
        let stage_name = match node.args.as_slice() {
            [_] => None,
            [_, as_word, name] if as_word.eq_ignore_ascii_case("as") => {
                let lower = name.to_lowercase();
                if !is_valid_stage_name(&lower) {
                    return Err(Diagnostic::new(
                        format!(
                            "invalid name for build stage: {name:?}, name can't start with a number or contain symbols"
                        ),
                        node.locate(source, name),
                    ));
                }
                Some(lower)
            }
            args => {
                let at = match args.get(1) {
                    Some(word) => node.locate(source, word),
                    None => node.locate(source, ""),
                };
                return Err(Diagnostic::new(
                    "FROM requires either one or three arguments (FROM <image> [AS <name>])",
                    at,
                ));
            }
        };
        Ok(FromCmd {
            origin: Origin::of(node, source),
            image: node.args[0].clone(),
            stage_name,
            platform: flags.string("platform").filter(|p| !p.is_empty()),
        })
    }

    /// Expands the image and `--platform`. Docker expands both with the
    /// global ARGs (those before the first FROM), so pass such an expander.
    pub fn expand(&mut self, e: &dyn Expander) -> Result<(), Diagnostic> {
        let raw = self.image.clone();
        expand_word(e, &self.origin, "FROM", &mut self.image)?;
        if self.image.is_empty() {
            return Err(self
                .origin
                .error(&raw, format!("FROM: base name ({raw}) should not be blank")));
        }
        if let Some(p) = &mut self.platform {
            expand_word(e, &self.origin, "FROM", p)?;
        }
        Ok(())
    }
}

/// BuildKit's stage-name rule: `^[a-z][a-z0-9-_.]*$` (after lower-casing).
fn is_valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::Instruction;
    use crate::instructions::testutil::{TestExpander, node, parse};

    fn from(flags: &[&str], args: &[&str]) -> Result<FromCmd, Diagnostic> {
        match parse(&node("from", flags, args))? {
            Instruction::From(f) => Ok(f),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn from_accepts_a_bare_image() {
        let f = from(&[], &["alpine:3.20"]).unwrap();
        assert_eq!(f.image, "alpine:3.20");
        assert_eq!((f.stage_name, f.platform), (None, None));
    }

    #[test]
    fn from_as_is_case_insensitive_and_lowercases_the_name() {
        let f = from(&[], &["golang", "As", "Builder"]).unwrap();
        assert_eq!(f.stage_name.as_deref(), Some("builder"));
    }

    #[test]
    fn from_rejects_two_arguments() {
        let err = from(&[], &["golang", "AS"]).unwrap_err();
        assert!(err.message.starts_with("FROM requires either one or three"));
    }

    #[test]
    fn from_rejects_three_arguments_without_as() {
        let err = from(&[], &["golang", "TO", "x"]).unwrap_err();
        assert!(err.message.starts_with("FROM requires either one or three"));
    }

    #[test]
    fn from_rejects_no_arguments() {
        assert!(from(&[], &[]).is_err());
    }

    #[test]
    fn from_rejects_stage_name_starting_with_a_digit() {
        let err = from(&[], &["golang", "AS", "1st"]).unwrap_err();
        assert!(
            err.message
                .contains("invalid name for build stage: \"1st\"")
        );
    }

    #[test]
    fn from_rejects_stage_name_with_symbols() {
        assert!(from(&[], &["golang", "AS", "a$b"]).is_err());
        assert!(from(&[], &["golang", "AS", "a-b_c.d9"]).is_ok());
    }

    #[test]
    fn from_platform_flag_is_kept() {
        let f = from(&["--platform=$BUILDPLATFORM"], &["golang"]).unwrap();
        assert_eq!(f.platform.as_deref(), Some("$BUILDPLATFORM"));
    }

    #[test]
    fn from_rejects_unknown_flag() {
        let err = from(&["--plat=x"], &["golang"]).unwrap_err();
        assert!(err.message.contains("unknown flag for FROM: --plat"));
    }

    #[test]
    fn from_expand_substitutes_image_and_platform() {
        let mut f = from(&["--platform=${P}"], &["alpine:${V}", "AS", "base"]).unwrap();
        f.expand(&TestExpander::new(&[("P", "linux/arm64"), ("V", "3.20")]))
            .unwrap();
        assert_eq!(f.image, "alpine:3.20");
        assert_eq!(f.platform.as_deref(), Some("linux/arm64"));
    }

    #[test]
    fn from_expand_rejects_empty_base_name() {
        let mut f = from(&[], &["$UNSET"]).unwrap();
        let err = f.expand(&TestExpander::new(&[])).unwrap_err();
        assert_eq!(err.message, "FROM: base name ($UNSET) should not be blank");
    }
}
