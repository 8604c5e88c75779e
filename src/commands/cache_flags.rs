//! `--cache-to` and `--cache-from` of `hoist build` (buildx syntax), parsed
//! into the builder's cache specs.

use clap::Args;
use hoist_builder::remote_cache::{CacheExportSpec, CacheImportSpec};

use super::UsageError;

/// The shared-cache flags, flattened into `hoist build`'s arguments.
#[derive(Debug, Clone, Default, Args)]
pub struct CacheFlags {
    /// Cache to write: `type=registry,ref=REF`, `type=local,dest=DIR` or
    /// `type=inline`, with `mode=min|max`, `compression=`, `ignore-error=`; repeatable
    #[arg(long = "cache-to", value_name = "SPEC")]
    pub cache_to: Vec<String>,
    /// Cache to read, in order: `type=registry,ref=REF`, `type=local,src=DIR`
    /// or an image reference (inline cache); repeatable
    #[arg(long = "cache-from", value_name = "SPEC")]
    pub cache_from: Vec<String>,
}

impl CacheFlags {
    /// The parsed `--cache-to` values.
    pub fn exports(&self) -> Result<Vec<CacheExportSpec>, UsageError> {
        self.cache_to
            .iter()
            .map(|s| CacheExportSpec::parse(s).map_err(UsageError::from_display))
            .collect()
    }

    /// The parsed `--cache-from` values.
    pub fn imports(&self) -> Result<Vec<CacheImportSpec>, UsageError> {
        self.cache_from
            .iter()
            .map(|s| CacheImportSpec::parse(s).map_err(UsageError::from_display))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        cache: CacheFlags,
    }

    #[test]
    fn cache_flags_are_repeatable_and_parsed_in_order() {
        let cli = Cli::parse_from([
            "x",
            "--cache-from",
            "type=local,src=/a",
            "--cache-from",
            "img:1",
            "--cache-to",
            "type=inline",
        ]);
        let imports = cli.cache.imports().unwrap();
        assert_eq!(imports.len(), 2);
        assert_eq!(
            imports[1],
            CacheImportSpec::Registry {
                reference: "img:1".into()
            }
        );
        assert_eq!(cli.cache.exports().unwrap().len(), 1);
    }

    #[test]
    fn bad_cache_to_is_a_usage_error_naming_the_flag() {
        let cli = Cli::parse_from(["x", "--cache-to", "type=nowhere"]);
        let e = cli.cache.exports().unwrap_err();
        assert!(e.0.contains("--cache-to"), "{}", e.0);
    }
}
