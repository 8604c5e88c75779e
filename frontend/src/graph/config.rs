//! The image config: what `docker inspect` shows under `Config`, plus the
//! image-level fields (`architecture`, `os`, `history`, `rootfs`).
//!
//! One type serves reading base images' configs, building a stage's config
//! and writing the final image. Field names and JSON shapes are Docker's
//! (`Env`, `ExposedPorts`, `Healthcheck` with nanosecond durations, ...), so a
//! config read and written again keeps its meaning. Maps are `BTreeMap` so the
//! serialised JSON, and with it the config digest, is stable.
//!
//! Fields hoist does not model (Docker's `container_config`,
//! `docker_version`, `Hostname`, `Image`, ...) are kept in the `extra` maps
//! of [`ImageConfig`] and [`ContainerConfig`] (`#[serde(flatten)]`, sorted),
//! so that a base image's config read from a registry, an OCI layout or a
//! `docker save` archive and written again loses nothing; the builder's
//! image-source tests pin this. A step that derives a *new* image config
//! from a base image and wants BuildKit's output (which drops such fields)
//! clears both maps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Platform;

/// An empty JSON object, the value type of `ExposedPorts` and `Volumes`.
/// Reading accepts `{}`, `null` or any other value: it carries no meaning.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Empty {}

impl<'de> Deserialize<'de> for Empty {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        serde::de::IgnoredAny::deserialize(d)?;
        Ok(Empty {})
    }
}

/// Docker's `Healthcheck` (durations in nanoseconds, 0 = inherit/default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", args...]` or `["CMD-SHELL", command]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub timeout: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_period: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub start_interval: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: i64,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// The runtime configuration of a container started from the image.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerConfig {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub exposed_ports: BTreeMap<String, Empty>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub env: Vec<String>,
    /// `None` = not set (inherit); `Some([])` = explicitly empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd: Option<Vec<String>>,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub volumes: BTreeMap<String, Empty>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub working_dir: String,
    #[serde(
        default,
        skip_serializing_if = "BTreeMap::is_empty",
        deserialize_with = "null_default"
    )]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub args_escaped: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub on_build: Vec<String>,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub shell: Vec<String>,
    /// Docker's other container fields (`Hostname`, `Tty`, `Image`, ...),
    /// kept as they were (see the module doc).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Accepts `null` for a field whose type has a default (Docker writes
/// `"Env": null` in some configs).
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// One entry of the image history.
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

/// The `rootfs` of an image: its layers' uncompressed digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, deserialize_with = "null_default")]
    pub diff_ids: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            kind: "layers".into(),
            diff_ids: Vec::new(),
        }
    }
}

/// A whole image config (the `application/vnd.oci.image.config.v1+json` blob).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    /// `os.version` (Windows images name the OS build here).
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// `os.features` (Windows images).
    #[serde(
        rename = "os.features",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_features: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub variant: String,
    #[serde(default)]
    pub config: ContainerConfig,
    #[serde(default)]
    pub rootfs: RootFs,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_default"
    )]
    pub history: Vec<History>,
    /// Fields not modelled above (Docker's `container`, `docker_version`,
    /// `container_config`, ...), kept as they were (see the module doc).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
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

    /// The platform the config says the image is for, normalised.
    pub fn platform(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, &self.variant)
    }
}

impl ContainerConfig {
    /// The value of `name` in `Env`, if set.
    pub fn env_get(&self, name: &str) -> Option<&str> {
        self.env.iter().find_map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k == name).then_some(v)
        })
    }

    /// Sets `name=value` in `Env`, replacing an existing entry in place.
    pub fn env_set(&mut self, name: &str, value: &str) {
        let entry = format!("{name}={value}");
        match self
            .env
            .iter_mut()
            .find(|kv| kv.split_once('=').map_or(kv.as_str(), |(k, _)| k) == name)
        {
            Some(slot) => *slot = entry,
            None => self.env.push(entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_json_round_trips_with_docker_field_names() {
        let json = r#"{"architecture":"amd64","os":"linux","config":{"ExposedPorts":{"80/tcp":{}},"Env":["PATH=/bin"],"Cmd":["sh"],"Healthcheck":{"Test":["CMD-SHELL","true"],"Interval":30000000000},"OnBuild":["RUN x"],"Shell":["/bin/sh","-c"]},"rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"history":[{"created_by":"x","empty_layer":true}]}"#;
        let cfg: ImageConfig = serde_json::from_str(json).unwrap();
        assert_eq!(cfg.config.env_get("PATH"), Some("/bin"));
        assert_eq!(
            cfg.config.healthcheck.as_ref().unwrap().interval,
            30_000_000_000
        );
        assert_eq!(serde_json::to_string(&cfg).unwrap(), json);
    }

    #[test]
    fn null_fields_in_old_configs_read_as_empty() {
        let cfg: ImageConfig = serde_json::from_str(
            r#"{"architecture":"amd64","os":"linux","config":{"Env":null,"Cmd":null,"Labels":null,"Hostname":"x"},"rootfs":{"type":"layers","diff_ids":null}}"#,
        )
        .unwrap();
        assert!(cfg.config.env.is_empty() && cfg.config.cmd.is_none());
    }

    #[test]
    fn explicitly_empty_entrypoint_is_kept_apart_from_unset() {
        let mut c = ContainerConfig::default();
        assert_eq!(serde_json::to_string(&c).unwrap(), "{}");
        c.entrypoint = Some(vec![]);
        assert_eq!(serde_json::to_string(&c).unwrap(), r#"{"Entrypoint":[]}"#);
    }

    #[test]
    fn env_set_replaces_in_place_and_appends_new_names() {
        let mut c = ContainerConfig {
            env: vec!["A=1".into(), "B=2".into()],
            ..Default::default()
        };
        c.env_set("A", "3");
        c.env_set("C", "4");
        assert_eq!(c.env, ["A=3", "B=2", "C=4"]);
    }

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
        assert_eq!(c.config.user, "nobody");
        assert_eq!(c.config.cmd, Some(vec!["sh".to_string()]));
        assert_eq!(c.config.entrypoint, None);
        assert_eq!(c.config.healthcheck.as_ref().unwrap().retries, 3);
        assert_eq!(c.config.on_build[0], "RUN echo hi");
        assert_eq!(c.config.shell[0], "/bin/bash");
        assert!(c.config.args_escaped);
        assert_eq!(c.config.stop_signal, "SIGTERM");
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

    #[test]
    fn os_version_and_features_round_trip_under_their_dotted_names() {
        let json = r#"{"architecture":"amd64","os":"windows","os.version":"10.0.17763.1","os.features":["win32k"],"config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = ImageConfig::from_json(json.as_bytes()).unwrap();
        assert_eq!(c.os_version.as_deref(), Some("10.0.17763.1"));
        assert_eq!(c.os_features, Some(vec!["win32k".to_string()]));
        assert!(c.extra.is_empty());
        assert_eq!(String::from_utf8(c.to_json().unwrap()).unwrap(), json);
    }

    #[test]
    fn platform_of_a_config_is_normalised() {
        let c = ImageConfig::from_json(
            br#"{"architecture":"aarch64","os":"linux","variant":"v8","config":{},"rootfs":{"type":"layers","diff_ids":[]}}"#,
        )
        .unwrap();
        assert_eq!(c.platform().to_string(), "linux/arm64");
    }

    #[test]
    fn empty_object_values_accept_null() {
        let c: ContainerConfig =
            serde_json::from_str(r#"{"ExposedPorts":{"80/tcp":null},"Volumes":{"/v":{}}}"#)
                .unwrap();
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"ExposedPorts":{"80/tcp":{}},"Volumes":{"/v":{}}}"#
        );
    }
}
