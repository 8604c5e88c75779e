//! What one build is asked to do: [`BuildRequest`], the solver's input, and
//! the parsers for the option values it is built from (`--secret`, `--ssh`,
//! `--build-context`, `--network`), with buildx's syntax.
//!
//! The CLI fills a request from its flags (reading the Dockerfile, extracting
//! a context given on stdin); the builder never looks at the command line.
//! Output specs live in [`crate::export::spec`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use hoist_frontend::graph::Platform;

use crate::export::spec::{OutputSpec, split_csv};

/// Everything one `hoist build` asks for.
#[derive(Debug, Clone, Default)]
pub struct BuildRequest {
    /// The context directory. A context given as `-` (a tar on stdin) has
    /// already been extracted by the CLI into a temporary directory.
    pub context: PathBuf,
    /// Path of the Dockerfile (default `CONTEXT/Dockerfile`; `-` when it
    /// came from stdin); names it in messages and locates its
    /// per-Dockerfile ignore file (`NAME.dockerignore`).
    pub dockerfile: PathBuf,
    /// The Dockerfile's text, already read by the CLI (`-f -` reads stdin).
    pub dockerfile_text: String,
    /// `-t`: names to give the image.
    pub tags: Vec<String>,
    /// `--target`: the stage to build (default: the last one).
    pub target: Option<String>,
    /// `--build-arg`: values for `ARG`s.
    pub build_args: BTreeMap<String, String>,
    /// `--build-context NAME=VALUE`: named contexts, usable in `FROM` and `COPY --from`.
    pub build_contexts: BTreeMap<String, BuildContextSpec>,
    /// `--platform`: target platforms; empty means the host's.
    pub platforms: Vec<Platform>,
    /// `--no-cache`: ignore the cache for every step.
    pub no_cache: bool,
    /// `--no-cache-filter`: stages whose steps ignore the cache.
    pub no_cache_filter: Vec<String>,
    /// `--pull`: re-resolve base image tags even when a local copy exists.
    pub pull: bool,
    /// `--network`: the network of RUN steps without `--network`.
    pub network: NetworkMode,
    /// `--secret`: secrets RUN steps may mount.
    pub secrets: Vec<SecretSpec>,
    /// `--ssh`: SSH agents or keys RUN steps may mount.
    pub ssh: Vec<SshSpec>,
    /// `--label`: labels added to the image config.
    pub labels: BTreeMap<String, String>,
    /// `--annotation [LEVEL:]KEY=VALUE`, in order; the key keeps its level prefix.
    pub annotations: Vec<(String, String)>,
    /// `-o`: where the result goes; empty means the local image store under `tags`.
    pub outputs: Vec<OutputSpec>,
    /// `--push`: also push the image to the registry of each tag.
    pub push: bool,
    /// `--jobs`: how many steps may run at once.
    pub jobs: usize,
    /// `--insecure-registry`: registries reached over plain HTTP (or with
    /// unverified TLS); loopback registries are always allowed plain HTTP.
    pub insecure_registries: Vec<String>,
    /// `SOURCE_DATE_EPOCH`: timestamps for reproducible output.
    pub source_date_epoch: Option<i64>,
    /// `--explain-cache`: report why each step missed the cache.
    pub explain_cache: bool,
    /// `--metadata-file`: write build results as JSON here.
    pub metadata_file: Option<PathBuf>,
    /// `--iidfile`: write the image id here.
    pub iidfile: Option<PathBuf>,
    /// `--cache-from`: caches to read, consulted in order.
    pub cache_from: Vec<crate::remote_cache::CacheImportSpec>,
    /// `--cache-to`: caches to write after the build.
    pub cache_to: Vec<crate::remote_cache::CacheExportSpec>,
}

/// The default network of RUN steps (`--network`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// The builder's default network.
    #[default]
    Default,
    /// Only loopback.
    None,
    /// The host's network.
    Host,
}

impl FromStr for NetworkMode {
    type Err = RequestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "default" => Ok(NetworkMode::Default),
            "none" => Ok(NetworkMode::None),
            "host" => Ok(NetworkMode::Host),
            _ => Err(RequestError::new(
                "network",
                s,
                "unknown network mode; valid modes: default, none, host",
            )),
        }
    }
}

impl From<NetworkMode> for hoist_frontend::graph::Network {
    fn from(mode: NetworkMode) -> Self {
        match mode {
            NetworkMode::Default => hoist_frontend::graph::Network::Default,
            NetworkMode::None => hoist_frontend::graph::Network::None,
            NetworkMode::Host => hoist_frontend::graph::Network::Host,
        }
    }
}

/// A refused option value: which option, what was given and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid --{option} value {value:?}: {reason}")]
pub struct RequestError {
    pub option: &'static str,
    pub value: String,
    pub reason: String,
}

impl RequestError {
    fn new(option: &'static str, value: &str, reason: impl fmt::Display) -> RequestError {
        RequestError {
            option,
            value: value.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Where a secret's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    File(PathBuf),
    /// The value of this environment variable of the hoist process.
    Env(String),
}

/// One `--secret`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretSpec {
    /// What `RUN --mount=type=secret,id=…` names.
    pub id: String,
    pub source: SecretSource,
}

impl SecretSpec {
    /// Parses `id=ID[,src=PATH|,env=VAR][,type=file|env]` (`source=` is an
    /// alias of `src=`). Without `type`, `src` means a file and `env` a
    /// variable; with neither, the variable named `ID` if it is set, else
    /// the file `ID`. For `type=env`, `src` names the variable. The id
    /// defaults to the file's name or the variable's name.
    pub fn parse(input: &str) -> Result<SecretSpec, RequestError> {
        Self::parse_with_env(input, |name| std::env::var_os(name).is_some())
    }

    /// [`SecretSpec::parse`] with `env_is_set` answering whether a variable exists.
    pub fn parse_with_env(
        input: &str,
        env_is_set: impl Fn(&str) -> bool,
    ) -> Result<SecretSpec, RequestError> {
        let err = |reason: String| RequestError::new("secret", input, reason);
        let (mut kind, mut id, mut src, mut env) = (None, None, None, None);
        for field in split_csv(input).map_err(err)? {
            let Some((key, value)) = field.split_once('=') else {
                return Err(err(format!("{field:?} is not KEY=VALUE")));
            };
            match key.trim().to_ascii_lowercase().as_str() {
                "type" => match value {
                    "file" => kind = Some(false),
                    "env" => kind = Some(true),
                    _ => return Err(err(format!("unknown type {value:?}; valid: file, env"))),
                },
                "id" => id = Some(value.to_string()),
                "src" | "source" => src = Some(value.to_string()),
                "env" => env = Some(value.to_string()),
                other => {
                    return Err(err(format!(
                        "unknown key {other:?}; valid keys: id, type, src, source, env"
                    )));
                }
            }
        }
        // kind: Some(true) = type=env, Some(false) = type=file.
        let source = match (kind, src, env) {
            (_, Some(_), Some(_)) => return Err(err("give src or env, not both".to_string())),
            (Some(true), Some(var), None) | (_, None, Some(var)) => SecretSource::Env(var),
            (Some(false) | None, None, None) => {
                let Some(id) = id.as_deref() else {
                    return Err(err("missing id=".to_string()));
                };
                if kind.is_none() && env_is_set(id) {
                    SecretSource::Env(id.to_string())
                } else {
                    SecretSource::File(PathBuf::from(id))
                }
            }
            (Some(true), None, None) => match id.as_deref() {
                Some(id) => SecretSource::Env(id.to_string()),
                None => return Err(err("missing id=".to_string())),
            },
            (_, Some(path), None) => SecretSource::File(PathBuf::from(path)),
        };
        let id = match id {
            Some(id) => id,
            None => match &source {
                SecretSource::Env(var) => var.clone(),
                SecretSource::File(path) => path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| err("missing id=".to_string()))?,
            },
        };
        if id.is_empty() {
            return Err(err("empty id".to_string()));
        }
        Ok(SecretSpec { id, source })
    }
}

/// One `--ssh`: an agent socket or key files exposed under an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshSpec {
    /// What `RUN --mount=type=ssh,id=…` names (`default` when it names none).
    pub id: String,
    /// Agent sockets or private key files; empty means `$SSH_AUTH_SOCK`.
    pub paths: Vec<PathBuf>,
}

impl SshSpec {
    /// Parses `ID` or `ID=PATH[,PATH…]` (`default`, `default=/path/sock`, `key=a,b`).
    pub fn parse(input: &str) -> Result<SshSpec, RequestError> {
        let (id, paths) = match input.split_once('=') {
            Some((id, paths)) => (id, Some(paths)),
            None => (input, None),
        };
        if id.is_empty() {
            return Err(RequestError::new("ssh", input, "missing id (e.g. default)"));
        }
        let paths = match paths {
            None => Vec::new(),
            Some(list) => {
                let paths: Vec<PathBuf> = list.split(',').map(PathBuf::from).collect();
                if paths.iter().any(|p| p.as_os_str().is_empty()) {
                    return Err(RequestError::new("ssh", input, "empty path"));
                }
                paths
            }
        };
        Ok(SshSpec {
            id: id.to_string(),
            paths,
        })
    }
}

/// The value of one `--build-context NAME=VALUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildContextSpec {
    /// A local directory.
    Local(PathBuf),
    /// `docker-image://REF`: an image, used in place of `FROM NAME`.
    Image(String),
    /// `oci-layout://PATH[:TAG|@DIGEST]`: an image from an OCI layout directory.
    OciLayout {
        path: PathBuf,
        /// The tag or `@digest` after the path; `None` = the layout's only image.
        reference: Option<String>,
    },
    /// `https://…`, `http://…` or a Git address (`git@…`, `…​.git`, `git://…`).
    Url(String),
}

impl BuildContextSpec {
    /// Parses `NAME=VALUE`, returning the name and its context.
    pub fn parse(input: &str) -> Result<(String, BuildContextSpec), RequestError> {
        let err = |reason: &str| RequestError::new("build-context", input, reason);
        let Some((name, value)) = input.split_once('=') else {
            return Err(err("expected NAME=VALUE"));
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(err("empty name"));
        }
        if value.is_empty() {
            return Err(err("empty value"));
        }
        let spec = if let Some(reference) = value.strip_prefix("docker-image://") {
            if reference.is_empty() {
                return Err(err("docker-image:// needs an image reference"));
            }
            BuildContextSpec::Image(reference.to_string())
        } else if let Some(rest) = value.strip_prefix("oci-layout://") {
            let (path, reference) = split_layout_reference(rest);
            if path.is_empty() {
                return Err(err("oci-layout:// needs a path"));
            }
            BuildContextSpec::OciLayout {
                path: PathBuf::from(path),
                reference,
            }
        } else if ["https://", "http://", "git://", "git@", "ssh://"]
            .iter()
            .any(|p| value.starts_with(p))
            || value.ends_with(".git")
        {
            BuildContextSpec::Url(value.to_string())
        } else if value.contains("://") {
            return Err(err(
                "unknown scheme; valid: a path, docker-image://, oci-layout://, https://, git",
            ));
        } else {
            BuildContextSpec::Local(PathBuf::from(value))
        };
        Ok((name.to_string(), spec))
    }
}

/// `dir:tag` → (`dir`, `tag`); `dir@sha256:…` → (`dir`, `@sha256:…`). A `:`
/// inside a path component before the last `/` is part of the path.
fn split_layout_reference(rest: &str) -> (&str, Option<String>) {
    if let Some(at) = rest.rfind('@') {
        return (&rest[..at], Some(rest[at..].to_string()));
    }
    let last_component = rest.rfind('/').map_or(0, |i| i + 1);
    match rest[last_component..].rfind(':') {
        Some(i) => {
            let colon = last_component + i;
            (&rest[..colon], Some(rest[colon + 1..].to_string()))
        }
        None => (rest, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> bool {
        false
    }

    #[test]
    fn secret_from_file_with_id() {
        let s = SecretSpec::parse_with_env("id=x,src=f", no_env).unwrap();
        assert_eq!(s.id, "x");
        assert_eq!(s.source, SecretSource::File("f".into()));
        let s = SecretSpec::parse_with_env("id=x,source=/a/b", no_env).unwrap();
        assert_eq!(s.source, SecretSource::File("/a/b".into()));
    }

    #[test]
    fn secret_from_env_variable() {
        let s = SecretSpec::parse_with_env("id=tok,env=GH_TOKEN", no_env).unwrap();
        assert_eq!(
            (s.id.as_str(), s.source),
            ("tok", SecretSource::Env("GH_TOKEN".into()))
        );
        let s = SecretSpec::parse_with_env("type=env,id=X", no_env).unwrap();
        assert_eq!(s.source, SecretSource::Env("X".into()));
        let s = SecretSpec::parse_with_env("type=env,id=x,src=VAR", no_env).unwrap();
        assert_eq!(s.source, SecretSource::Env("VAR".into()));
    }

    #[test]
    fn secret_id_defaults_to_file_or_variable_name() {
        let s = SecretSpec::parse_with_env("src=/run/keys/npmrc", no_env).unwrap();
        assert_eq!(s.id, "npmrc");
        let s = SecretSpec::parse_with_env("env=API_KEY", no_env).unwrap();
        assert_eq!(s.id, "API_KEY");
    }

    #[test]
    fn secret_with_only_an_id_prefers_a_set_variable() {
        let s = SecretSpec::parse_with_env("id=TOKEN", |v| v == "TOKEN").unwrap();
        assert_eq!(s.source, SecretSource::Env("TOKEN".into()));
        let s = SecretSpec::parse_with_env("id=TOKEN", no_env).unwrap();
        assert_eq!(s.source, SecretSource::File("TOKEN".into()));
        let s = SecretSpec::parse_with_env("type=file,id=TOKEN", |_| true).unwrap();
        assert_eq!(s.source, SecretSource::File("TOKEN".into()));
    }

    #[test]
    fn bad_secrets_are_refused_with_reasons() {
        let msg = |s: &str| {
            SecretSpec::parse_with_env(s, no_env)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            msg("id=x,type=vault"),
            "invalid --secret value \"id=x,type=vault\": unknown type \"vault\"; valid: file, env"
        );
        assert!(msg("id=x,mode=0400").contains("unknown key \"mode\""));
        assert!(msg("type=file").contains("missing id="));
        assert!(msg("id=x,src=a,env=B").contains("not both"));
        assert!(msg("id").contains("not KEY=VALUE"));
    }

    #[test]
    fn ssh_default_and_paths() {
        assert_eq!(
            SshSpec::parse("default").unwrap(),
            SshSpec {
                id: "default".into(),
                paths: vec![]
            }
        );
        assert_eq!(
            SshSpec::parse("default=/path/sock").unwrap().paths,
            [PathBuf::from("/path/sock")]
        );
        let s = SshSpec::parse("key=a,b").unwrap();
        assert_eq!(
            (s.id.as_str(), s.paths),
            ("key", vec!["a".into(), "b".into()])
        );
    }

    #[test]
    fn bad_ssh_values_are_refused() {
        assert_eq!(
            SshSpec::parse("=x").unwrap_err().to_string(),
            "invalid --ssh value \"=x\": missing id (e.g. default)"
        );
        assert!(
            SshSpec::parse("k=a,")
                .unwrap_err()
                .to_string()
                .contains("empty path")
        );
    }

    #[test]
    fn build_context_kinds() {
        let p = |s: &str| BuildContextSpec::parse(s).unwrap();
        assert_eq!(
            p("src=../lib"),
            ("src".into(), BuildContextSpec::Local("../lib".into()))
        );
        assert_eq!(
            p("alpine=docker-image://alpine:3.20").1,
            BuildContextSpec::Image("alpine:3.20".into())
        );
        assert_eq!(
            p("base=oci-layout://./layout:v1").1,
            BuildContextSpec::OciLayout {
                path: "./layout".into(),
                reference: Some("v1".into())
            }
        );
        assert_eq!(
            p("base=oci-layout:///srv/my:dir/layout").1,
            BuildContextSpec::OciLayout {
                path: "/srv/my:dir/layout".into(),
                reference: None
            }
        );
        assert_eq!(
            p("b=oci-layout://l@sha256:abc").1,
            BuildContextSpec::OciLayout {
                path: "l".into(),
                reference: Some("@sha256:abc".into())
            }
        );
        assert_eq!(
            p("g=https://github.com/a/b.git").1,
            BuildContextSpec::Url("https://github.com/a/b.git".into())
        );
    }

    #[test]
    fn bad_build_contexts_are_refused() {
        let msg = |s: &str| BuildContextSpec::parse(s).unwrap_err().to_string();
        assert_eq!(
            msg("nothing"),
            "invalid --build-context value \"nothing\": expected NAME=VALUE"
        );
        assert!(msg("=x").contains("empty name"));
        assert!(msg("a=").contains("empty value"));
        assert!(msg("a=docker-image://").contains("needs an image reference"));
        assert!(msg("a=s3://bucket").contains("unknown scheme"));
    }

    #[test]
    fn network_modes_parse() {
        assert_eq!("host".parse::<NetworkMode>().unwrap(), NetworkMode::Host);
        assert_eq!("none".parse::<NetworkMode>().unwrap(), NetworkMode::None);
        assert_eq!(
            "default".parse::<NetworkMode>().unwrap(),
            NetworkMode::Default
        );
        assert!(
            "bridge"
                .parse::<NetworkMode>()
                .unwrap_err()
                .to_string()
                .contains("valid modes: default, none, host")
        );
    }
}
