//! The image config document (`application/vnd.oci.image.config.v1+json`
//! and Docker's `application/vnd.docker.container.image.v1+json`), with
//! Docker's extra fields (`Healthcheck`, `OnBuild`, `Shell`, `ArgsEscaped`).
//!
//! Field names are exactly the JSON ones (`Env`, `Cmd`, `ExposedPorts` inside
//! `config`; `created`, `architecture`, `rootfs` at the top), maps are
//! `BTreeMap` so serialising is deterministic, and fields hoist does not model
//! are kept in `extra` so that reading and writing a config loses nothing.
//! The exporter serialises configs from these same structs.

use std::collections::BTreeMap;

use hoist_snapshotter::digest::Digest;
use serde::{Deserialize, Deserializer, Serialize};

use super::platform::Platform;

/// The top level of an image config.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(default)]
    pub config: ContainerConfig,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub history: Vec<History>,
    /// Fields not modelled above (Docker's `container`, `docker_version`,
    /// `container_config`, ...), kept as they were.
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// The `config` object: how to run a container of the image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    #[serde(rename = "User", default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(
        rename = "ExposedPorts",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub exposed_ports: BTreeMap<String, EmptyObject>,
    #[serde(rename = "Env", default, skip_serializing_if = "Option::is_none")]
    pub env: Option<Vec<String>>,
    #[serde(
        rename = "Entrypoint",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub entrypoint: Option<Vec<String>>,
    #[serde(rename = "Cmd", default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(
        rename = "Volumes",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub volumes: BTreeMap<String, EmptyObject>,
    #[serde(
        rename = "WorkingDir",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub working_dir: Option<String>,
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(
        rename = "StopSignal",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub stop_signal: Option<String>,
    #[serde(
        rename = "ArgsEscaped",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub args_escaped: Option<bool>,
    #[serde(
        rename = "Healthcheck",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub healthcheck: Option<Healthcheck>,
    #[serde(rename = "OnBuild", default, skip_serializing_if = "Option::is_none")]
    pub on_build: Option<Vec<String>>,
    #[serde(rename = "Shell", default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// Docker's other container fields (`Hostname`, `Tty`, `Image`, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Docker's `HEALTHCHECK`; durations are nanoseconds, as Docker writes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Healthcheck {
    #[serde(rename = "Test", default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(rename = "Interval", default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<i64>,
    #[serde(rename = "Timeout", default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    #[serde(
        rename = "StartPeriod",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub start_period: Option<i64>,
    #[serde(
        rename = "StartInterval",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub start_interval: Option<i64>,
    #[serde(rename = "Retries", default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<i64>,
}

/// `rootfs`: the uncompressed digests of the layers, bottom first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub diff_ids: Vec<Digest>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".to_string(),
            diff_ids: Vec::new(),
        }
    }
}

/// One history entry; `empty_layer` ones add no layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub empty_layer: bool,
}

/// The `{}` values of `ExposedPorts` and `Volumes`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EmptyObject {}

impl<'de> Deserialize<'de> for EmptyObject {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Accept `{}`, `null` or anything else: the value carries no meaning.
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(EmptyObject {})
    }
}

fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl ImageConfig {
    /// Parses a config blob.
    pub fn from_json(bytes: &[u8]) -> Result<ImageConfig, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The config as JSON with a stable key order (struct order, maps sorted).
    pub fn to_json(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// The platform the config says the image is for.
    pub fn platform(&self) -> Platform {
        Platform {
            os: self.os.clone(),
            architecture: self.architecture.clone(),
            variant: self.variant.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER_CONFIG: &str = r#"{
      "architecture": "amd64",
      "config": {
        "Hostname": "", "User": "nobody", "AttachStdin": false,
        "ExposedPorts": {"80/tcp": {}, "443/tcp": {}},
        "Env": ["PATH=/usr/bin:/bin"],
        "Cmd": ["sh"], "Entrypoint": null,
        "Healthcheck": {"Test": ["CMD-SHELL", "true"], "Interval": 30000000000, "Retries": 3},
        "ArgsEscaped": true,
        "Image": "sha256:abc",
        "Volumes": {"/data": {}},
        "WorkingDir": "/srv",
        "Labels": {"b": "2", "a": "1"},
        "OnBuild": ["RUN echo hi"],
        "Shell": ["/bin/bash", "-c"],
        "StopSignal": "SIGTERM"
      },
      "container": "0123",
      "created": "2024-01-01T00:00:00Z",
      "docker_version": "24.0.0",
      "history": [{"created": "2024-01-01T00:00:00Z", "created_by": "ADD rootfs /"},
                  {"created_by": "CMD [\"sh\"]", "empty_layer": true}],
      "os": "linux",
      "rootfs": {"type": "layers", "diff_ids": ["sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]}
    }"#;

    #[test]
    fn reads_docker_extra_fields() {
        let c = ImageConfig::from_json(DOCKER_CONFIG.as_bytes()).unwrap();
        assert_eq!(c.config.user.as_deref(), Some("nobody"));
        assert_eq!(c.config.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(c.config.entrypoint, None);
        assert_eq!(c.config.healthcheck.as_ref().unwrap().retries, Some(3));
        assert_eq!(c.config.on_build.as_ref().unwrap()[0], "RUN echo hi");
        assert_eq!(c.config.shell.as_ref().unwrap()[0], "/bin/bash");
        assert_eq!(c.config.args_escaped, Some(true));
        assert_eq!(c.config.stop_signal.as_deref(), Some("SIGTERM"));
        assert!(c.config.exposed_ports.contains_key("443/tcp"));
        assert!(c.config.volumes.contains_key("/data"));
        assert_eq!(c.history.len(), 2);
        assert!(c.history[1].empty_layer);
        assert_eq!(c.rootfs.diff_ids.len(), 1);
        assert_eq!(c.extra["docker_version"], "24.0.0");
        assert_eq!(c.config.extra["Image"], "sha256:abc");
    }

    #[test]
    fn round_trip_keeps_json_names_and_is_deterministic() {
        let c = ImageConfig::from_json(DOCKER_CONFIG.as_bytes()).unwrap();
        let out = c.to_json().unwrap();
        assert_eq!(out, c.to_json().unwrap());
        let again = ImageConfig::from_json(&out).unwrap();
        assert_eq!(again, c);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        for key in [
            "created",
            "architecture",
            "os",
            "history",
            "rootfs",
            "config",
        ] {
            assert!(v.get(key).is_some(), "{key} missing");
        }
        for key in [
            "Env",
            "Cmd",
            "ExposedPorts",
            "Volumes",
            "WorkingDir",
            "Labels",
            "User",
            "Healthcheck",
            "OnBuild",
            "Shell",
            "ArgsEscaped",
            "StopSignal",
        ] {
            assert!(v["config"].get(key).is_some(), "config.{key} missing");
        }
        let text = String::from_utf8(out).unwrap();
        assert!(text.find("\"a\":\"1\"").unwrap() < text.find("\"b\":\"2\"").unwrap());
    }

    #[test]
    fn nulls_read_as_empty() {
        let c = ImageConfig::from_json(
            br#"{"architecture":"amd64","os":"linux","config":{"Labels":null,"ExposedPorts":null},"rootfs":{"type":"layers","diff_ids":null},"history":null}"#,
        )
        .unwrap();
        assert!(c.config.labels.is_empty() && c.rootfs.diff_ids.is_empty() && c.history.is_empty());
    }
}
