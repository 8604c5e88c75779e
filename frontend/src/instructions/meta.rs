//! Name/value instructions: `ENV`, `LABEL` (both `k=v ...` and the legacy
//! `k v` form), `ARG NAME[=default] ...`, and the deprecated `MAINTAINER`.

use serde::Serialize;

use super::flags::parse_flags;
use super::{Expander, Origin, exactly_one_arg, expand_word};
use crate::diagnostic::Diagnostic;
use crate::parser::Node;

/// One `name=value` of ENV or LABEL. Quotes are kept until expansion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
    /// Written in the legacy `ENV key value` form (BuildKit warns about it).
    pub legacy: bool,
}

/// An ENV instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvCmd {
    pub origin: Origin,
    pub pairs: Vec<KeyValue>,
}

/// A LABEL instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelCmd {
    pub origin: Origin,
    pub pairs: Vec<KeyValue>,
}

/// One declaration of an ARG line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArgDecl {
    pub name: String,
    /// The default after `=`; `None` for a bare `ARG NAME` (not the same as
    /// `ARG NAME=`, whose default is empty).
    pub default: Option<String>,
}

/// An ARG instruction (one or more declarations).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ArgCmd {
    pub origin: Origin,
    pub args: Vec<ArgDecl>,
}

/// A MAINTAINER instruction (deprecated; becomes the image's author).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaintainerCmd {
    pub origin: Origin,
    pub maintainer: String,
}

fn parse_pairs(node: &Node, source: &str, instruction: &str) -> Result<Vec<KeyValue>, Diagnostic> {
    parse_flags(node, source, instruction, &[])?;
    if node.args.is_empty() {
        return Err(Diagnostic::new(
            format!("{instruction} requires at least one argument"),
            node.locate(source, ""),
        ));
    }
    if !node.args.len().is_multiple_of(3) {
        return Err(Diagnostic::new(
            format!("{instruction}: bad name/value arguments"),
            node.locate(source, ""),
        ));
    }
    node.args
        .chunks(3)
        .map(|c| {
            if c[0].is_empty() {
                return Err(Diagnostic::new(
                    format!("{instruction} names can not be blank"),
                    node.locate(source, &format!("={}", c[1])),
                ));
            }
            Ok(KeyValue {
                key: c[0].clone(),
                value: c[1].clone(),
                legacy: c[2].is_empty(),
            })
        })
        .collect()
}

fn expand_pairs(
    e: &dyn Expander,
    origin: &Origin,
    instruction: &str,
    pairs: &mut [KeyValue],
) -> Result<(), Diagnostic> {
    for kv in pairs {
        let raw_key = kv.key.clone();
        expand_word(e, origin, instruction, &mut kv.key)?;
        if kv.key.is_empty() {
            return Err(origin.error(
                &raw_key,
                format!("{instruction} names can not be blank (after expanding {raw_key:?})"),
            ));
        }
        expand_word(e, origin, instruction, &mut kv.value)?;
    }
    Ok(())
}

impl EnvCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<EnvCmd, Diagnostic> {
        Ok(EnvCmd {
            pairs: parse_pairs(node, source, "ENV")?,
            origin: Origin::of(node, source),
        })
    }

    /// Expands every name and value (all against the scope before this ENV).
    pub fn expand(&mut self, e: &dyn Expander) -> Result<(), Diagnostic> {
        expand_pairs(e, &self.origin, "ENV", &mut self.pairs)
    }
}

impl LabelCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<LabelCmd, Diagnostic> {
        Ok(LabelCmd {
            pairs: parse_pairs(node, source, "LABEL")?,
            origin: Origin::of(node, source),
        })
    }

    /// Expands every name and value.
    pub fn expand(&mut self, e: &dyn Expander) -> Result<(), Diagnostic> {
        expand_pairs(e, &self.origin, "LABEL", &mut self.pairs)
    }
}

impl ArgCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<ArgCmd, Diagnostic> {
        parse_flags(node, source, "ARG", &[])?;
        if node.args.is_empty() {
            return Err(Diagnostic::new(
                "ARG requires at least one argument",
                node.locate(source, ""),
            ));
        }
        let args = node
            .args
            .iter()
            .map(|word| {
                let (name, default) = match word.split_once('=') {
                    Some((n, v)) => (n, Some(v.to_string())),
                    None => (word.as_str(), None),
                };
                if name.is_empty() {
                    return Err(Diagnostic::new(
                        "ARG names can not be blank",
                        node.locate(source, word),
                    ));
                }
                Ok(ArgDecl {
                    name: name.to_string(),
                    default,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(ArgCmd {
            origin: Origin::of(node, source),
            args,
        })
    }

    /// Expands names and defaults (BuildKit expands both).
    pub fn expand(&mut self, e: &dyn Expander) -> Result<(), Diagnostic> {
        for a in &mut self.args {
            let raw = a.name.clone();
            expand_word(e, &self.origin, "ARG", &mut a.name)?;
            if a.name.is_empty() {
                return Err(self.origin.error(&raw, "ARG names can not be blank"));
            }
            if let Some(d) = &mut a.default {
                expand_word(e, &self.origin, "ARG", d)?;
            }
        }
        Ok(())
    }
}

impl MaintainerCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<MaintainerCmd, Diagnostic> {
        parse_flags(node, source, "MAINTAINER", &[])?;
        let maintainer = exactly_one_arg(node, source, "MAINTAINER")?.to_string();
        Ok(MaintainerCmd {
            origin: Origin::of(node, source),
            maintainer,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::Instruction;
    use crate::instructions::testutil::{TestExpander, node, parse};

    fn kv(key: &str, value: &str, legacy: bool) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
            legacy,
        }
    }

    fn env(args: &[&str]) -> Result<EnvCmd, Diagnostic> {
        match parse(&node("env", &[], args))? {
            Instruction::Env(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    fn arg(args: &[&str]) -> Result<ArgCmd, Diagnostic> {
        match parse(&node("arg", &[], args))? {
            Instruction::Arg(c) => Ok(c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn env_accepts_several_pairs() {
        let e = env(&["A", "1", "=", "B", "\"two words\"", "="]).unwrap();
        assert_eq!(
            e.pairs,
            vec![kv("A", "1", false), kv("B", "\"two words\"", false)]
        );
    }

    #[test]
    fn env_accepts_legacy_form() {
        let e = env(&["PATH", "/usr/bin:/bin", ""]).unwrap();
        assert_eq!(e.pairs, vec![kv("PATH", "/usr/bin:/bin", true)]);
    }

    #[test]
    fn env_requires_an_argument() {
        assert_eq!(
            env(&[]).unwrap_err().message,
            "ENV requires at least one argument"
        );
    }

    #[test]
    fn env_rejects_blank_name() {
        assert_eq!(
            env(&["", "x", "="]).unwrap_err().message,
            "ENV names can not be blank"
        );
    }

    #[test]
    fn env_rejects_flags() {
        assert!(parse(&node("env", &["--x=1"], &["A", "1", "="])).is_err());
    }

    #[test]
    fn env_expand_substitutes_names_and_values() {
        let mut e = env(&["${K}", "\"$V and more\"", "="]).unwrap();
        e.expand(&TestExpander::new(&[("K", "NAME"), ("V", "value")]))
            .unwrap();
        assert_eq!(e.pairs, vec![kv("NAME", "value and more", false)]);
    }

    #[test]
    fn env_expand_rejects_name_that_expands_to_nothing() {
        let mut e = env(&["$EMPTY", "x", "="]).unwrap();
        assert!(e.expand(&TestExpander::new(&[])).is_err());
    }

    #[test]
    fn label_accepts_both_forms_and_expands() {
        let n = node(
            "label",
            &[],
            &["org.opencontainers.image.version", "$V", "="],
        );
        let Instruction::Label(mut l) = parse(&n).unwrap() else {
            panic!()
        };
        l.expand(&TestExpander::new(&[("V", "1.2")])).unwrap();
        assert_eq!(
            l.pairs,
            vec![kv("org.opencontainers.image.version", "1.2", false)]
        );
        let n = node("label", &[], &["desc", "a b c", ""]);
        let Instruction::Label(l) = parse(&n).unwrap() else {
            panic!()
        };
        assert!(l.pairs[0].legacy);
    }

    #[test]
    fn label_requires_an_argument() {
        assert!(parse(&node("label", &[], &[])).is_err());
    }

    #[test]
    fn arg_accepts_several_declarations() {
        let a = arg(&["A", "B=1", "C=", "D=\"x y\""]).unwrap();
        let got: Vec<_> = a
            .args
            .iter()
            .map(|d| (d.name.as_str(), d.default.as_deref()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("A", None),
                ("B", Some("1")),
                ("C", Some("")),
                ("D", Some("\"x y\""))
            ]
        );
    }

    #[test]
    fn arg_requires_an_argument() {
        assert_eq!(
            arg(&[]).unwrap_err().message,
            "ARG requires at least one argument"
        );
    }

    #[test]
    fn arg_rejects_blank_name() {
        assert_eq!(
            arg(&["=x"]).unwrap_err().message,
            "ARG names can not be blank"
        );
    }

    #[test]
    fn arg_expand_substitutes_default() {
        let mut a = arg(&["V=${BASE}-1"]).unwrap();
        a.expand(&TestExpander::new(&[("BASE", "3")])).unwrap();
        assert_eq!(a.args[0].default.as_deref(), Some("3-1"));
    }

    #[test]
    fn maintainer_takes_one_argument() {
        let n = node("maintainer", &[], &["Jane <jane@example.com>"]);
        let Instruction::Maintainer(m) = parse(&n).unwrap() else {
            panic!()
        };
        assert_eq!(m.maintainer, "Jane <jane@example.com>");
        assert!(parse(&node("maintainer", &[], &[])).is_err());
    }
}
