//! Registry credentials, read the way the docker CLI reads them: from
//! `config.json` in `$DOCKER_CONFIG` or `~/.docker` (`auths` entries,
//! per-registry `credHelpers`, a global `credsStore`), through the
//! `docker_credential` crate, which runs `docker-credential-<name> get`.
//!
//! Docker Hub's credentials are stored under `https://index.docker.io/v1/`;
//! every other registry under its host (and port).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use docker_credential::{CredentialRetrievalError, DockerCredential};

use super::reference::DOCKER_HUB;

/// How to authenticate to one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    Basic { username: String, password: String },
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => write!(f, "Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
        }
    }
}

/// Credentials that exist but cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("reading credentials for {registry} from {config}: {message}")]
    Lookup {
        registry: String,
        config: PathBuf,
        message: String,
    },
    #[error(
        "credentials for {registry} in {config} are an identity token, which hoist cannot use yet; log in with a username and password"
    )]
    IdentityToken { registry: String, config: PathBuf },
}

/// The docker CLI's config directory: `$DOCKER_CONFIG`, else `~/.docker`.
pub fn default_config_dir() -> Option<PathBuf> {
    std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".docker")))
}

/// The key credentials of `registry` are stored under.
pub fn server_key(registry: &str) -> &str {
    if registry == DOCKER_HUB || registry == "index.docker.io" {
        "https://index.docker.io/v1/"
    } else {
        registry
    }
}

/// The credentials for `registry` from `config_dir/config.json`; anonymous
/// when there is no config file or it has nothing for this registry.
pub fn credentials_for(
    registry: &str,
    config_dir: Option<&Path>,
) -> Result<Credentials, CredentialsError> {
    let Some(dir) = config_dir
        .map(Path::to_path_buf)
        .or_else(default_config_dir)
    else {
        return Ok(Credentials::Anonymous);
    };
    let config = dir.join("config.json");
    let file = match File::open(&config) {
        Ok(f) => f,
        Err(_) => return Ok(Credentials::Anonymous),
    };
    let lookup = |message: String| CredentialsError::Lookup {
        registry: registry.to_string(),
        config: config.clone(),
        message,
    };
    match docker_credential::get_credential_from_reader(BufReader::new(file), server_key(registry))
    {
        Ok(DockerCredential::UsernamePassword(username, password)) => {
            Ok(Credentials::Basic { username, password })
        }
        Ok(DockerCredential::IdentityToken(_)) => Err(CredentialsError::IdentityToken {
            registry: registry.to_string(),
            config,
        }),
        Err(CredentialRetrievalError::NoCredentialConfigured) => Ok(Credentials::Anonymous),
        // A helper that has nothing for this server answers with an error too;
        // docker treats "credentials not found" as anonymous.
        Err(CredentialRetrievalError::HelperFailure { stdout, .. })
            if stdout.contains("credentials not found") =>
        {
            Ok(Credentials::Anonymous)
        }
        Err(e) => Err(lookup(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_config(json: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("config.json"), json).unwrap();
        dir
    }

    #[test]
    fn auths_entry_gives_basic_credentials() {
        // "user:pass" in base64.
        let dir = write_config(r#"{"auths":{"127.0.0.1:5000":{"auth":"dXNlcjpwYXNz"}}}"#);
        let c = credentials_for("127.0.0.1:5000", Some(dir.path())).unwrap();
        assert_eq!(
            c,
            Credentials::Basic {
                username: "user".into(),
                password: "pass".into()
            }
        );
        let other = credentials_for("127.0.0.1:5001", Some(dir.path())).unwrap();
        assert_eq!(other, Credentials::Anonymous);
    }

    #[test]
    fn docker_hub_uses_the_index_v1_key() {
        let dir = write_config(r#"{"auths":{"https://index.docker.io/v1/":{"auth":"dTpw"}}}"#);
        let c = credentials_for("docker.io", Some(dir.path())).unwrap();
        assert!(matches!(c, Credentials::Basic { username, .. } if username == "u"));
    }

    #[test]
    fn missing_config_is_anonymous() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            credentials_for("example.com", Some(dir.path())).unwrap(),
            Credentials::Anonymous
        );
    }

    #[test]
    fn missing_helper_is_an_error_naming_the_registry() {
        let dir = write_config(r#"{"credHelpers":{"example.com":"hoist-does-not-exist"}}"#);
        let err = credentials_for("example.com", Some(dir.path())).unwrap_err();
        assert!(err.to_string().contains("example.com"), "{err}");
    }
}
