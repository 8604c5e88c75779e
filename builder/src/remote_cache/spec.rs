//! `--cache-to` and `--cache-from` values, with buildx's syntax: CSV fields
//! `type=...,key=value`, or (for `--cache-from`) a plain image reference,
//! which means `type=registry,ref=REF`.
//!
//! - `--cache-to type=registry,ref=REF[,mode=min|max][,compression=gzip|zstd|uncompressed][,ignore-error=BOOL]`
//! - `--cache-to type=local,dest=DIR[,mode=...][,compression=...][,ignore-error=BOOL]`
//! - `--cache-to type=inline` (records inside the image manifest's annotations)
//! - `--cache-from type=registry,ref=REF` · `type=local,src=DIR` · `REF`
//!
//! Options buildx knows that hoist has no use for (`oci-mediatypes`,
//! `image-manifest`, `tag`, `digest`, `compression-level`, `force-compression`)
//! are accepted and ignored, so shared CI scripts work unchanged.

use std::path::PathBuf;

use crate::export::spec::{Compression, parse_bool, split_csv};

/// Which vertices a cache export writes records for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// The steps whose results are layers of the final image.
    #[default]
    Min,
    /// Every step of every stage that was built.
    Max,
}

/// Where a cache export goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheExportTarget {
    /// A cache artifact pushed to `ref` (a tag or repository).
    Registry { reference: String },
    /// An OCI layout directory.
    Local { dest: PathBuf },
    /// Records inside the exported image's manifest annotations.
    Inline,
}

/// One `--cache-to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheExportSpec {
    pub target: CacheExportTarget,
    pub mode: CacheMode,
    /// Layer compression of newly written blobs (`None`: gzip).
    pub compression: Option<Compression>,
    /// `ignore-error=` (default true): an export failure is only a warning.
    pub ignore_error: bool,
    /// `cache-mounts=true`: also export `RUN --mount=type=cache` contents.
    pub cache_mounts: bool,
}

/// Where a cache import reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheImportSpec {
    /// A cache artifact, or an image with inline cache, at `ref`.
    Registry { reference: String },
    /// An OCI layout directory written by `type=local,dest=`.
    Local { src: PathBuf },
}

/// A refused `--cache-to`/`--cache-from` value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --{flag} {value:?}: {reason}")]
pub struct CacheSpecError {
    pub flag: &'static str,
    pub value: String,
    pub reason: String,
}

fn fields(flag: &'static str, input: &str) -> Result<Vec<(String, String)>, CacheSpecError> {
    let err = |reason: String| CacheSpecError {
        flag,
        value: input.to_string(),
        reason,
    };
    split_csv(input)
        .map_err(err)?
        .into_iter()
        .filter(|f| !f.is_empty())
        .map(|f| match f.split_once('=') {
            Some((k, v)) => Ok((k.trim().to_ascii_lowercase(), v.to_string())),
            None => Err(err(format!("{f:?} is not KEY=VALUE"))),
        })
        .collect()
}

/// Options buildx accepts that do not change what hoist writes.
const IGNORED: &[&str] = &[
    "oci-mediatypes",
    "image-manifest",
    "tag",
    "digest",
    "compression-level",
    "force-compression",
    "name",
];

impl CacheExportSpec {
    /// Parses one `--cache-to` value.
    pub fn parse(input: &str) -> Result<CacheExportSpec, CacheSpecError> {
        let err = |reason: String| CacheSpecError {
            flag: "cache-to",
            value: input.to_string(),
            reason,
        };
        let mut kind = None;
        let (mut reference, mut dest) = (None, None);
        let mut spec = CacheExportSpec {
            target: CacheExportTarget::Inline,
            mode: CacheMode::Min,
            compression: None,
            ignore_error: true,
            cache_mounts: false,
        };
        for (k, v) in fields("cache-to", input)? {
            let boolean = |v: &str| parse_bool(&k, v).map_err(|e| err(e.to_string()));
            match k.as_str() {
                "type" => kind = Some(v),
                "ref" => reference = Some(v),
                "dest" => dest = Some(PathBuf::from(v)),
                "mode" => {
                    spec.mode = match v.as_str() {
                        "min" => CacheMode::Min,
                        "max" => CacheMode::Max,
                        _ => return Err(err(format!("mode={v}: expected min or max"))),
                    }
                }
                "compression" => {
                    spec.compression = Some(match v.as_str() {
                        "gzip" => Compression::Gzip,
                        "zstd" => Compression::Zstd,
                        "uncompressed" => Compression::Uncompressed,
                        _ => {
                            return Err(err(format!(
                                "compression={v}: expected gzip, zstd or uncompressed"
                            )));
                        }
                    })
                }
                "ignore-error" => spec.ignore_error = boolean(&v)?,
                "cache-mounts" => spec.cache_mounts = boolean(&v)?,
                k if IGNORED.contains(&k) => {}
                _ => return Err(err(format!("unknown option {k:?}"))),
            }
        }
        spec.target = match kind.as_deref() {
            Some("registry") => CacheExportTarget::Registry {
                reference: reference.ok_or_else(|| err("type=registry needs ref=".into()))?,
            },
            Some("local") => CacheExportTarget::Local {
                dest: dest.ok_or_else(|| err("type=local needs dest=DIR".into()))?,
            },
            Some("inline") => {
                if spec.mode == CacheMode::Max {
                    return Err(err("type=inline supports only mode=min".into()));
                }
                CacheExportTarget::Inline
            }
            Some(t) => {
                return Err(err(format!(
                    "unknown type {t:?}; valid types: registry, local, inline"
                )));
            }
            None => return Err(err("type= is required".into())),
        };
        Ok(spec)
    }
}

impl CacheImportSpec {
    /// Parses one `--cache-from` value; a value without `=` is an image
    /// reference (`type=registry,ref=VALUE`).
    pub fn parse(input: &str) -> Result<CacheImportSpec, CacheSpecError> {
        let err = |reason: String| CacheSpecError {
            flag: "cache-from",
            value: input.to_string(),
            reason,
        };
        if !input.contains('=') {
            if input.trim().is_empty() {
                return Err(err("empty value".into()));
            }
            return Ok(CacheImportSpec::Registry {
                reference: input.trim().to_string(),
            });
        }
        let (mut kind, mut reference, mut src) = (None, None, None);
        for (k, v) in fields("cache-from", input)? {
            match k.as_str() {
                "type" => kind = Some(v),
                "ref" => reference = Some(v),
                "src" => src = Some(PathBuf::from(v)),
                k if IGNORED.contains(&k) || k == "mode" => {}
                _ => return Err(err(format!("unknown option {k:?}"))),
            }
        }
        match kind.as_deref().unwrap_or("registry") {
            "registry" => Ok(CacheImportSpec::Registry {
                reference: reference.ok_or_else(|| err("type=registry needs ref=".into()))?,
            }),
            "local" => Ok(CacheImportSpec::Local {
                src: src.ok_or_else(|| err("type=local needs src=DIR".into()))?,
            }),
            t => Err(err(format!(
                "unknown type {t:?}; valid types: registry, local"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_to_registry_parses_mode_compression_and_ignore_error() {
        let s = CacheExportSpec::parse(
            "type=registry,ref=127.0.0.1:5000/cache:x,mode=max,compression=zstd,ignore-error=false",
        )
        .unwrap();
        assert_eq!(
            s.target,
            CacheExportTarget::Registry {
                reference: "127.0.0.1:5000/cache:x".into()
            }
        );
        assert_eq!(s.mode, CacheMode::Max);
        assert_eq!(s.compression, Some(Compression::Zstd));
        assert!(!s.ignore_error);
    }

    #[test]
    fn cache_to_defaults_to_mode_min_and_ignoring_errors() {
        let s = CacheExportSpec::parse("type=local,dest=/tmp/c").unwrap();
        assert_eq!(s.mode, CacheMode::Min);
        assert!(s.ignore_error);
        assert_eq!(
            s.target,
            CacheExportTarget::Local {
                dest: "/tmp/c".into()
            }
        );
        assert_eq!(
            CacheExportSpec::parse("type=inline").unwrap().target,
            CacheExportTarget::Inline
        );
    }

    #[test]
    fn cache_to_refuses_missing_targets_and_unknown_values() {
        for bad in [
            "type=registry",
            "type=local",
            "type=s3,ref=x",
            "type=local,dest=d,mode=all",
            "type=local,dest=d,bogus=1",
            "mode=max",
            "type=inline,mode=max",
        ] {
            assert!(CacheExportSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cache_from_plain_reference_means_registry() {
        assert_eq!(
            CacheImportSpec::parse("myimage:latest").unwrap(),
            CacheImportSpec::Registry {
                reference: "myimage:latest".into()
            }
        );
        assert_eq!(
            CacheImportSpec::parse("type=local,src=/c").unwrap(),
            CacheImportSpec::Local { src: "/c".into() }
        );
        assert!(CacheImportSpec::parse("type=local").is_err());
        assert!(CacheImportSpec::parse("type=gha").is_err());
    }
}
