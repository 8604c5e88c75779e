//! What to export, as the user asked for it: [`OutputSpec`], parsed from
//! `docker buildx build --output`'s CSV syntax.
//!
//! ```text
//! type=oci,dest=out.tar            type=docker,dest=-        type=local,dest=DIR
//! type=tar,dest=FILE               type=registry,name=REF    "type=image,\"name=a,b\",push=true"
//! DIR                              (a bare path: type=local,dest=DIR; `-`: type=tar,dest=-)
//! ```
//!
//! Fields are split like Go's `encoding/csv` (what buildx uses): a field that
//! starts with `"` runs to the closing quote, `""` inside it is one quote.
//! That is how a `name=` value carrying several comma-separated names is
//! written. The split is hand-written ([`split_csv`], ~40 lines) because the
//! `csv` crate is record-oriented and would be a dependency for one line.
//!
//! This module only parses and validates; the exporters act on the result.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// The exporter an output uses (`type=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputKind {
    /// `type=image`: the local image store (and a registry with `push=true`).
    Image,
    /// `type=registry`: `type=image,push=true`.
    Registry,
    /// `type=docker`: a `docker load`-able tar (to `dest`), or the local store without `dest`.
    Docker,
    /// `type=oci`: an OCI image layout, as a tar (default) or a directory (`tar=false`).
    Oci,
    /// `type=local`: the final filesystem written to a directory.
    Local,
    /// `type=tar`: the final filesystem as a tar file.
    Tar,
    /// `type=cacheonly`: build, export nothing.
    CacheOnly,
}

impl OutputKind {
    /// Every kind, in the order error messages list them.
    pub const ALL: [OutputKind; 7] = [
        OutputKind::Image,
        OutputKind::Registry,
        OutputKind::Docker,
        OutputKind::Oci,
        OutputKind::Local,
        OutputKind::Tar,
        OutputKind::CacheOnly,
    ];

    /// `image, registry, …`: the valid type names, for messages.
    pub fn names() -> String {
        let names: Vec<&str> = OutputKind::ALL.iter().map(|k| k.name()).collect();
        names.join(", ")
    }

    /// The `type=` name.
    pub fn name(self) -> &'static str {
        match self {
            OutputKind::Image => "image",
            OutputKind::Registry => "registry",
            OutputKind::Docker => "docker",
            OutputKind::Oci => "oci",
            OutputKind::Local => "local",
            OutputKind::Tar => "tar",
            OutputKind::CacheOnly => "cacheonly",
        }
    }

    /// The options this type accepts besides `type` (and `annotation.*` /
    /// `annotation-LEVEL.*` where [`OutputKind::takes_annotations`]).
    pub fn options(self) -> &'static [&'static str] {
        const IMAGE: &[&str] = &[
            "name",
            "push",
            "store",
            "compression",
            "compression-level",
            "force-compression",
            "oci-mediatypes",
            "rewrite-timestamp",
        ];
        const ARCHIVE: &[&str] = &[
            "dest",
            "name",
            "tar",
            "compression",
            "compression-level",
            "force-compression",
            "oci-mediatypes",
            "rewrite-timestamp",
        ];
        const FILES: &[&str] = &["dest", "platform-split"];
        match self {
            OutputKind::Image | OutputKind::Registry => IMAGE,
            OutputKind::Docker | OutputKind::Oci => ARCHIVE,
            OutputKind::Local | OutputKind::Tar => FILES,
            OutputKind::CacheOnly => &[],
        }
    }

    /// Whether the output is an image that can carry annotations.
    pub fn takes_annotations(self) -> bool {
        matches!(
            self,
            OutputKind::Image | OutputKind::Registry | OutputKind::Docker | OutputKind::Oci
        )
    }
}

impl fmt::Display for OutputKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for OutputKind {
    type Err = OutputSpecError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OutputKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| OutputSpecError::UnknownType {
                given: s.to_string(),
                valid: OutputKind::names(),
            })
    }
}

/// Layer compression (`compression=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Zstd,
    Uncompressed,
}

impl Compression {
    /// The highest `compression-level` this codec accepts (levels start at 0).
    pub fn max_level(self) -> u32 {
        match self {
            Compression::Gzip => 9,
            Compression::Zstd => 22,
            Compression::Uncompressed => 0,
        }
    }
}

/// Where an archive or directory output goes (`dest=`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputDest {
    /// `dest=-`: standard output.
    Stdout,
    Path(PathBuf),
}

/// One `--output`, parsed and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputSpec {
    pub kind: OutputKind,
    /// `dest=`; required for `local`, `tar` and `oci`. `docker` without it
    /// means the local image store (hoist has no daemon to load into).
    pub dest: Option<OutputDest>,
    /// `name=`: image names, comma-separated in the value.
    pub names: Vec<String>,
    /// `push=true`; always true for `registry`.
    pub push: bool,
    /// `compression=`; `None` leaves the exporter's default (gzip).
    pub compression: Option<Compression>,
    /// `compression-level=`, checked against the codec's range.
    pub compression_level: Option<u32>,
    /// `force-compression=true`: recompress layers already stored with another codec.
    pub force_compression: bool,
    /// `oci-mediatypes=`; `None` leaves the exporter's default (OCI types,
    /// except `docker`, which uses Docker's).
    pub oci_mediatypes: Option<bool>,
    /// `rewrite-timestamp=true`: clamp file times in layers to `SOURCE_DATE_EPOCH`.
    pub rewrite_timestamp: bool,
    /// `tar=`: for `oci`/`docker`, false writes a layout directory at `dest`.
    pub tar: bool,
    /// `annotation.KEY=V` → (`KEY`, V); `annotation-LEVEL.KEY=V` → (`LEVEL:KEY`, V),
    /// the same `[LEVEL:]KEY` form `--annotation` uses.
    pub annotations: Vec<(String, String)>,
    /// `store=`: for `image`/`registry`, whether the image is also kept in
    /// the local store (default true).
    pub store: bool,
    /// `platform-split=`: for `local`/`tar` of a multi-platform build, one
    /// subdirectory per platform. `None` = the exporter's default.
    pub platform_split: Option<bool>,
}

/// Why an `--output` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputSpecError {
    #[error("unknown output type {given:?}; valid types: {valid}")]
    UnknownType { given: String, valid: String },
    #[error("unknown option {key:?} for type={kind}; valid options: {valid}")]
    UnknownOption {
        kind: OutputKind,
        key: String,
        valid: String,
    },
    #[error("invalid value {value:?} for {key}: expected {expected}")]
    InvalidValue {
        key: String,
        value: String,
        expected: String,
    },
    #[error("output type={kind} needs dest=PATH")]
    MissingDest { kind: OutputKind },
    #[error("output type={kind} cannot write to standard output (dest=-)")]
    StdoutNotAllowed { kind: OutputKind },
    #[error("invalid output {input:?}: {reason}")]
    Syntax { input: String, reason: String },
}

/// Splits one CSV record the way Go's `encoding/csv` does with default
/// settings: `,` separates fields; a field starting with `"` is quoted,
/// `""` inside it is a literal quote, and only `,` or the end may follow the
/// closing quote; a `"` inside an unquoted field is an error.
pub fn split_csv(input: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted field".to_string()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(c) => return Err(format!("unexpected {c:?} after a closing quote")),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some('"') => return Err("bare \" in an unquoted field".to_string()),
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

/// Parses a boolean like Go's `strconv.ParseBool` (what buildx accepts).
pub(crate) fn parse_bool(key: &str, value: &str) -> Result<bool, OutputSpecError> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(OutputSpecError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            expected: "true or false".to_string(),
        }),
    }
}

impl OutputSpec {
    /// An output of `kind` with every option at its default.
    pub fn new(kind: OutputKind) -> OutputSpec {
        OutputSpec {
            kind,
            dest: None,
            names: Vec::new(),
            push: kind == OutputKind::Registry,
            compression: None,
            compression_level: None,
            force_compression: false,
            oci_mediatypes: None,
            rewrite_timestamp: false,
            tar: true,
            annotations: Vec::new(),
            store: true,
            platform_split: None,
        }
    }

    /// Parses one `--output` value (see the module doc for the syntax).
    pub fn parse(input: &str) -> Result<OutputSpec, OutputSpecError> {
        let syntax = |reason: String| OutputSpecError::Syntax {
            input: input.to_string(),
            reason,
        };
        let fields = split_csv(input).map_err(syntax)?;
        if let [only] = fields.as_slice()
            && !only.contains('=')
        {
            if only.is_empty() {
                return Err(syntax("empty value".to_string()));
            }
            // Like buildx: `-o -` is the filesystem as a tar on stdout.
            if only == "-" {
                let mut spec = OutputSpec::new(OutputKind::Tar);
                spec.dest = Some(OutputDest::Stdout);
                return Ok(spec);
            }
            let mut spec = OutputSpec::new(OutputKind::Local);
            spec.dest = Some(OutputDest::Path(PathBuf::from(only)));
            return Ok(spec);
        }
        let mut pairs = Vec::with_capacity(fields.len());
        let mut kind = None;
        for field in &fields {
            let Some((key, value)) = field.split_once('=') else {
                return Err(syntax(format!("{field:?} is not KEY=VALUE")));
            };
            let key = key.trim().to_ascii_lowercase();
            if key == "type" {
                kind = Some(value.parse::<OutputKind>()?);
            } else {
                pairs.push((key, value.to_string()));
            }
        }
        let Some(kind) = kind else {
            return Err(syntax(format!(
                "missing type=; valid types: {}",
                OutputKind::names()
            )));
        };
        let mut spec = OutputSpec::new(kind);
        for (key, value) in pairs {
            spec.set(&key, &value)?;
        }
        spec.validate()?;
        Ok(spec)
    }

    fn set(&mut self, key: &str, value: &str) -> Result<(), OutputSpecError> {
        if self.kind.takes_annotations()
            && let Some(annotation) = annotation_key(key)
        {
            self.annotations.push((annotation, value.to_string()));
            return Ok(());
        }
        if !self.kind.options().contains(&key) {
            let mut valid = self.kind.options().to_vec();
            if self.kind.takes_annotations() {
                valid.push("annotation.KEY");
                valid.push("annotation-LEVEL.KEY");
            }
            return Err(OutputSpecError::UnknownOption {
                kind: self.kind,
                key: key.to_string(),
                valid: if valid.is_empty() {
                    "none".to_string()
                } else {
                    valid.join(", ")
                },
            });
        }
        let invalid = |expected: &str| OutputSpecError::InvalidValue {
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        };
        match key {
            "dest" => {
                self.dest = Some(match value {
                    "" => return Err(invalid("a path or -")),
                    "-" => OutputDest::Stdout,
                    path => OutputDest::Path(PathBuf::from(path)),
                })
            }
            "name" => self.names.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(String::from),
            ),
            "push" => self.push = parse_bool(key, value)?,
            "store" => self.store = parse_bool(key, value)?,
            "tar" => self.tar = parse_bool(key, value)?,
            "force-compression" => self.force_compression = parse_bool(key, value)?,
            "rewrite-timestamp" => self.rewrite_timestamp = parse_bool(key, value)?,
            "oci-mediatypes" => self.oci_mediatypes = Some(parse_bool(key, value)?),
            "platform-split" => self.platform_split = Some(parse_bool(key, value)?),
            "compression" => {
                self.compression = Some(match value {
                    "gzip" => Compression::Gzip,
                    "zstd" => Compression::Zstd,
                    "uncompressed" => Compression::Uncompressed,
                    _ => return Err(invalid("gzip, zstd or uncompressed")),
                })
            }
            "compression-level" => {
                self.compression_level = Some(
                    value
                        .parse::<u32>()
                        .map_err(|_| invalid("a non-negative integer"))?,
                )
            }
            _ => unreachable!("every listed option is handled above"),
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), OutputSpecError> {
        match (self.kind, &self.dest) {
            (OutputKind::Local | OutputKind::Tar | OutputKind::Oci, None) => {
                return Err(OutputSpecError::MissingDest { kind: self.kind });
            }
            (OutputKind::Local, Some(OutputDest::Stdout)) => {
                return Err(OutputSpecError::StdoutNotAllowed { kind: self.kind });
            }
            (OutputKind::Oci | OutputKind::Docker, Some(OutputDest::Stdout)) if !self.tar => {
                return Err(OutputSpecError::StdoutNotAllowed { kind: self.kind });
            }
            _ => {}
        }
        if let Some(level) = self.compression_level {
            let codec = self.compression.unwrap_or(Compression::Gzip);
            if level > codec.max_level() {
                return Err(OutputSpecError::InvalidValue {
                    key: "compression-level".to_string(),
                    value: level.to_string(),
                    expected: format!("0 to {} for this compression", codec.max_level()),
                });
            }
        }
        if self.kind == OutputKind::Registry && !self.push {
            return Err(OutputSpecError::InvalidValue {
                key: "push".to_string(),
                value: "false".to_string(),
                expected: "true for type=registry (use type=image to not push)".to_string(),
            });
        }
        Ok(())
    }
}

/// `annotation.KEY` → `KEY`; `annotation-LEVEL.KEY` → `LEVEL:KEY`.
fn annotation_key(key: &str) -> Option<String> {
    if let Some(k) = key.strip_prefix("annotation.") {
        return (!k.is_empty()).then(|| k.to_string());
    }
    let rest = key.strip_prefix("annotation-")?;
    let (level, k) = rest.split_once('.')?;
    (!level.is_empty() && !k.is_empty()).then(|| format!("{level}:{k}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> Option<OutputDest> {
        Some(OutputDest::Path(PathBuf::from(p)))
    }

    #[test]
    fn oci_tar_output_parses_dest() {
        let o = OutputSpec::parse("type=oci,dest=out.tar").unwrap();
        assert_eq!(o.kind, OutputKind::Oci);
        assert_eq!(o.dest, path("out.tar"));
        assert!(o.tar);
    }

    #[test]
    fn docker_output_to_stdout() {
        let o = OutputSpec::parse("type=docker,dest=-").unwrap();
        assert_eq!(
            (o.kind, o.dest),
            (OutputKind::Docker, Some(OutputDest::Stdout))
        );
    }

    #[test]
    fn bare_path_means_local_directory() {
        let o = OutputSpec::parse("out/dir").unwrap();
        assert_eq!((o.kind, o.dest), (OutputKind::Local, path("out/dir")));
    }

    #[test]
    fn quoted_name_field_carries_several_names() {
        let o = OutputSpec::parse(r#"type=image,"name=a:1,b:2",push=true"#).unwrap();
        assert_eq!(o.names, ["a:1", "b:2"]);
        assert!(o.push);
        assert!(o.store);
    }

    #[test]
    fn registry_output_implies_push() {
        let o = OutputSpec::parse("type=registry,name=localhost:5000/app").unwrap();
        assert!(o.push);
        assert_eq!(o.names, ["localhost:5000/app"]);
        let e = OutputSpec::parse("type=registry,name=x,push=false").unwrap_err();
        assert!(e.to_string().contains("type=registry"), "{e}");
    }

    #[test]
    fn typed_fields_are_parsed() {
        let o = OutputSpec::parse(
            "type=oci,dest=d,tar=false,compression=zstd,compression-level=19,\
             force-compression=true,oci-mediatypes=1,rewrite-timestamp=true,\
             annotation.org.opencontainers.image.title=x,annotation-index.k=v",
        )
        .unwrap();
        assert!(!o.tar);
        assert_eq!(o.compression, Some(Compression::Zstd));
        assert_eq!(o.compression_level, Some(19));
        assert!(o.force_compression && o.rewrite_timestamp);
        assert_eq!(o.oci_mediatypes, Some(true));
        assert_eq!(
            o.annotations,
            [
                (
                    "org.opencontainers.image.title".to_string(),
                    "x".to_string()
                ),
                ("index:k".to_string(), "v".to_string())
            ]
        );
    }

    #[test]
    fn unknown_type_lists_the_valid_types() {
        let e = OutputSpec::parse("type=zip,dest=x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown output type \"zip\"; valid types: image, registry, docker, oci, local, tar, cacheonly"
        );
    }

    #[test]
    fn unknown_option_lists_the_valid_options_for_the_type() {
        let e = OutputSpec::parse("type=local,dest=x,push=true").unwrap_err();
        assert_eq!(
            e.to_string(),
            "unknown option \"push\" for type=local; valid options: dest, platform-split"
        );
        let e = OutputSpec::parse("type=cacheonly,dest=x").unwrap_err();
        assert!(e.to_string().ends_with("valid options: none"), "{e}");
        let e = OutputSpec::parse("type=image,dest=x").unwrap_err();
        assert!(
            e.to_string().contains("valid options: name, push, store"),
            "{e}"
        );
        assert!(e.to_string().contains("annotation.KEY"), "{e}");
    }

    #[test]
    fn bad_values_are_refused_with_what_was_expected() {
        let e = OutputSpec::parse("type=image,push=yes").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid value \"yes\" for push: expected true or false"
        );
        let e = OutputSpec::parse("type=image,compression=lz4").unwrap_err();
        assert!(e.to_string().contains("gzip, zstd or uncompressed"), "{e}");
        let e = OutputSpec::parse("type=image,compression-level=12").unwrap_err();
        assert!(e.to_string().contains("0 to 9"), "{e}");
        assert!(OutputSpec::parse("type=image,compression=zstd,compression-level=12").is_ok());
    }

    #[test]
    fn file_outputs_need_a_dest() {
        for t in ["local", "tar", "oci"] {
            let e = OutputSpec::parse(&format!("type={t}")).unwrap_err();
            assert_eq!(e.to_string(), format!("output type={t} needs dest=PATH"));
        }
        assert_eq!(OutputSpec::parse("type=docker").unwrap().dest, None);
        assert!(OutputSpec::parse("type=local,dest=-").is_err());
    }

    #[test]
    fn bare_dash_means_tar_on_stdout() {
        let o = OutputSpec::parse("-").unwrap();
        assert_eq!(
            (o.kind, o.dest),
            (OutputKind::Tar, Some(OutputDest::Stdout))
        );
    }

    #[test]
    fn malformed_fields_are_syntax_errors() {
        assert!(matches!(
            OutputSpec::parse("dest=x").unwrap_err(),
            OutputSpecError::Syntax { .. }
        ));
        assert!(matches!(
            OutputSpec::parse("type=image,push").unwrap_err(),
            OutputSpecError::Syntax { .. }
        ));
        assert!(matches!(
            OutputSpec::parse(r#"type=image,"name=a"#).unwrap_err(),
            OutputSpecError::Syntax { .. }
        ));
    }

    #[test]
    fn split_csv_follows_go_quoting() {
        assert_eq!(split_csv("a,b").unwrap(), ["a", "b"]);
        assert_eq!(split_csv(r#""a,b",c"#).unwrap(), ["a,b", "c"]);
        assert_eq!(split_csv(r#""say ""hi""""#).unwrap(), [r#"say "hi""#]);
        assert_eq!(split_csv("a,").unwrap(), ["a", ""]);
        assert!(split_csv(r#"a"b"#).is_err());
        assert!(split_csv(r#""a"b"#).is_err());
    }
}
