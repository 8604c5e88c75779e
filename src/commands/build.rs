//! `hoist build`: flags compatible with `docker buildx build`, turned into a
//! [`BuildRequest`] for the builder.
//! Running the build is `super::build_run`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use hoist_builder::export::spec::{OutputSpec, OutputSpecError};
use hoist_builder::request::{BuildContextSpec, BuildRequest, NetworkMode, SecretSpec, SshSpec};

use super::{UsageError, parse_build_args, parse_platforms};
use crate::failure::Failure;
use crate::progress::ProgressMode;

/// Arguments of `hoist build` (the names and meanings of `docker buildx build`).
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// The build context: a directory, or `-` for a tar archive (or a lone Dockerfile) on stdin
    #[arg(value_name = "PATH|-")]
    pub context: String,
    /// Name of the Dockerfile (default: PATH/Dockerfile; `-` reads stdin)
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<String>,
    /// Name and optionally a tag (`name:tag`); repeatable
    #[arg(short = 't', long = "tag", value_name = "NAME")]
    pub tags: Vec<String>,
    /// The stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Build-time variable `KEY=VALUE`, or `KEY` to take it from the environment
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,
    /// Additional build context `NAME=PATH|docker-image://REF|oci-layout://PATH[:TAG]`
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_contexts: Vec<String>,
    /// Target platforms (`linux/amd64,linux/arm64`); repeatable
    #[arg(long = "platform", value_name = "PLATFORMS")]
    pub platforms: Vec<String>,
    /// Do not use the cache
    #[arg(long = "no-cache")]
    pub no_cache: bool,
    /// Do not use the cache for these stages
    #[arg(long = "no-cache-filter", value_name = "STAGE")]
    pub no_cache_filter: Vec<String>,
    /// Always look up newer versions of base images
    #[arg(long)]
    pub pull: bool,
    /// Network of RUN steps: default, none or host
    #[arg(long, default_value = "default", value_name = "MODE")]
    pub network: String,
    /// Secret for RUN --mount=type=secret: `id=ID[,src=PATH|,env=VAR]`
    #[arg(long = "secret", value_name = "SPEC")]
    pub secrets: Vec<String>,
    /// SSH agent socket or keys for RUN --mount=type=ssh: `default|ID[=PATH,...]`
    #[arg(long = "ssh", value_name = "SPEC")]
    pub ssh: Vec<String>,
    /// Image label `KEY=VALUE`
    #[arg(long = "label", value_name = "KEY=VALUE")]
    pub labels: Vec<String>,
    /// Image annotation `[LEVEL:]KEY=VALUE`
    #[arg(long = "annotation", value_name = "KEY=VALUE")]
    pub annotations: Vec<String>,
    /// Write the image id to this file
    #[arg(long, value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Write build results as JSON to this file
    #[arg(long = "metadata-file", value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Progress output
    #[arg(long, value_enum, default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// No progress; print the image id at the end
    #[arg(short, long)]
    pub quiet: bool,
    /// Data root (images, cache)
    #[arg(long, env = "HOIST_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Steps run at once (default: the number of cores)
    #[arg(long, value_name = "N")]
    pub jobs: Option<usize>,
    /// Output destination `type=TYPE,KEY=VALUE,...` or a directory; repeatable
    #[arg(short = 'o', long = "output", value_name = "SPEC")]
    pub outputs: Vec<String>,
    /// Push the image to its registry
    #[arg(long)]
    pub push: bool,
    /// Keep the image in the local store (the default; accepted for compatibility)
    #[arg(long)]
    pub load: bool,
    /// Registry reachable over plain HTTP; repeatable
    #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
    pub insecure_registries: Vec<String>,
    /// Explain why each step missed the cache
    #[arg(long = "explain-cache")]
    pub explain_cache: bool,
    #[command(flatten)]
    pub cache: super::cache_flags::CacheFlags,
}

/// The context directory and the Dockerfile, read from disk or stdin.
/// Keep it alive for the whole build: a context given on stdin lives in a
/// temporary directory it owns.
#[derive(Debug)]
pub struct BuildInputs {
    pub context: PathBuf,
    pub dockerfile: PathBuf,
    pub dockerfile_text: String,
    _stdin_context: Option<tempfile::TempDir>,
}

/// Reading the context or the Dockerfile failed.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {what} {path}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot extract the build context from stdin")]
    Extract(#[source] hoist_builder::fileop::FileOpError),
    #[error("Dockerfile {path} is not UTF-8 text")]
    NotUtf8 { path: PathBuf },
}

impl BuildInputs {
    /// Reads the Dockerfile (`-f`, default `CONTEXT/Dockerfile`, `-f -` from
    /// stdin) and, for context `-`, extracts the tar on stdin into a
    /// temporary directory; stdin that is not a tar (possibly compressed) is
    /// the Dockerfile of an empty context, as with `docker build - < Dockerfile`.
    pub fn read(args: &BuildArgs) -> Result<BuildInputs, Failure> {
        Self::read_with_stdin(args, &mut std::io::stdin().lock())
    }

    /// [`BuildInputs::read`] with `stdin` standing for standard input.
    pub fn read_with_stdin(args: &BuildArgs, stdin: &mut dyn Read) -> Result<BuildInputs, Failure> {
        let file = args.file.as_deref();
        if args.context == "-" {
            if file == Some("-") {
                return Err(UsageError(
                    "the context and the Dockerfile cannot both be read from stdin (-)".into(),
                )
                .into());
            }
            return Self::read_stdin_context(file, stdin).map_err(Failure::other);
        }
        let context = PathBuf::from(&args.context);
        let (dockerfile, bytes) = match file {
            Some("-") => (
                PathBuf::from("-"),
                read_stdin(stdin).map_err(Failure::other)?,
            ),
            Some(f) => (
                PathBuf::from(f),
                read_file("Dockerfile", Path::new(f)).map_err(Failure::other)?,
            ),
            None => {
                let path = context.join("Dockerfile");
                let bytes = read_file("Dockerfile", &path).map_err(Failure::other)?;
                (path, bytes)
            }
        };
        let dockerfile_text = String::from_utf8(bytes).map_err(|_| {
            Failure::other(InputError::NotUtf8 {
                path: dockerfile.clone(),
            })
        })?;
        Ok(BuildInputs {
            context,
            dockerfile,
            dockerfile_text,
            _stdin_context: None,
        })
    }

    fn read_stdin_context(
        file: Option<&str>,
        stdin: &mut dyn Read,
    ) -> Result<BuildInputs, InputError> {
        let tmp = tempfile::tempdir().map_err(|source| InputError::Io {
            what: "a temporary directory",
            path: std::env::temp_dir(),
            source,
        })?;
        let archive = tmp.path().join("stdin");
        let context = tmp.path().join("context");
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| InputError::Io {
                what: "the build context",
                path,
                source,
            }
        };
        let mut out = std::fs::File::create(&archive).map_err(io(&archive))?;
        std::io::copy(stdin, &mut out).map_err(io(Path::new("-")))?;
        out.flush().map_err(io(&archive))?;
        std::fs::create_dir(&context).map_err(io(&context))?;
        let is_tar =
            hoist_builder::fileop::unpack::is_archive(&archive).map_err(InputError::Extract)?;
        let (dockerfile, text) = if is_tar {
            hoist_builder::fileop::unpack::extract(&archive, &context)
                .map_err(InputError::Extract)?;
            let path = match file {
                Some(f) => PathBuf::from(f),
                None => context.join("Dockerfile"),
            };
            let bytes = read_file("Dockerfile", &path)?;
            (path, bytes)
        } else {
            // Like `docker build - < Dockerfile`: stdin is the Dockerfile.
            let bytes = read_file("stdin", &archive)?;
            (PathBuf::from("-"), bytes)
        };
        let dockerfile_text = String::from_utf8(text).map_err(|_| InputError::NotUtf8 {
            path: dockerfile.clone(),
        })?;
        Ok(BuildInputs {
            context,
            dockerfile,
            dockerfile_text,
            _stdin_context: Some(tmp),
        })
    }
}

fn read_stdin(stdin: &mut dyn Read) -> Result<Vec<u8>, InputError> {
    let mut buf = Vec::new();
    stdin
        .read_to_end(&mut buf)
        .map_err(|source| InputError::Io {
            what: "Dockerfile",
            path: PathBuf::from("-"),
            source,
        })?;
    Ok(buf)
}

fn read_file(what: &'static str, path: &Path) -> Result<Vec<u8>, InputError> {
    std::fs::read(path).map_err(|source| InputError::Io {
        what,
        path: path.to_path_buf(),
        source,
    })
}

/// Turns the flags into a [`BuildRequest`]. `env` looks up environment
/// variables (`--build-arg NAME`, `SOURCE_DATE_EPOCH`).
pub fn build_request(
    args: &BuildArgs,
    inputs: &BuildInputs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BuildRequest, UsageError> {
    let build_args = parse_build_args(&args.build_args, env)?;
    let mut build_contexts = BTreeMap::new();
    for value in &args.build_contexts {
        let (name, spec): (String, BuildContextSpec) =
            BuildContextSpec::parse(value).map_err(UsageError::from_display)?;
        build_contexts.insert(name, spec);
    }
    let platforms = parse_platforms(&args.platforms)?;
    let labels = args
        .labels
        .iter()
        .map(|l| match l.split_once('=') {
            Some(("", _)) => Err(UsageError(format!("invalid --label {l:?}: empty key"))),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Ok((l.clone(), String::new())),
        })
        .collect::<Result<_, _>>()?;
    let annotations = args
        .annotations
        .iter()
        .map(|a| match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(UsageError(format!(
                "invalid --annotation {a:?}: expected [LEVEL:]KEY=VALUE"
            ))),
        })
        .collect::<Result<_, _>>()?;
    let outputs = args
        .outputs
        .iter()
        .map(|o| {
            OutputSpec::parse(o).map_err(|e| {
                let reason = match e {
                    OutputSpecError::Syntax { reason, .. } => reason,
                    other => other.to_string(),
                };
                UsageError(format!("invalid --output {o:?}: {reason}"))
            })
        })
        .collect::<Result<_, _>>()?;
    let source_date_epoch = match build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| env("SOURCE_DATE_EPOCH"))
    {
        None => None,
        Some(v) if v.is_empty() => None,
        Some(v) => Some(v.parse::<i64>().map_err(|_| {
            UsageError(format!(
                "invalid SOURCE_DATE_EPOCH {v:?}: expected seconds since 1970"
            ))
        })?),
    };
    let jobs = match args.jobs {
        Some(0) => return Err(UsageError("--jobs must be at least 1".into())),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, usize::from),
    };
    Ok(BuildRequest {
        context: inputs.context.clone(),
        dockerfile: inputs.dockerfile.clone(),
        dockerfile_text: inputs.dockerfile_text.clone(),
        tags: args.tags.clone(),
        target: args.target.clone(),
        build_args,
        build_contexts,
        platforms,
        no_cache: args.no_cache,
        no_cache_filter: args
            .no_cache_filter
            .iter()
            .flat_map(|v| v.split(','))
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        pull: args.pull,
        network: args
            .network
            .parse::<NetworkMode>()
            .map_err(UsageError::from_display)?,
        secrets: args
            .secrets
            .iter()
            .map(|s| SecretSpec::parse_with_env(s, |name| env(name).is_some()))
            .collect::<Result<_, _>>()
            .map_err(UsageError::from_display)?,
        ssh: args
            .ssh
            .iter()
            .map(|s| SshSpec::parse(s))
            .collect::<Result<_, _>>()
            .map_err(UsageError::from_display)?,
        labels,
        annotations,
        outputs,
        push: args.push,
        jobs,
        insecure_registries: args.insecure_registries.clone(),
        source_date_epoch,
        explain_cache: args.explain_cache,
        metadata_file: args.metadata_file.clone(),
        iidfile: args.iidfile.clone(),
        cache_from: args.cache.imports()?,
        cache_to: args.cache.exports()?,
    })
}

/// The data root: `--root`, `HOIST_ROOT`, or the default for this user.
pub fn data_root(args: &BuildArgs, env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    super::resolve_root(args.root.as_deref(), env)
}

#[cfg(test)]
#[path = "build_tests.rs"]
mod tests;
