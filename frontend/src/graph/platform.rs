//! Platforms (`linux/arm64`, `linux/arm/v7`), parsed and normalised with
//! containerd's rules, so that `aarch64`, `arm64` and `arm64/v8` are one
//! platform and `armhf` is `arm/v7`; which image index entry serves a
//! platform ([`Platform::matches`]); and the OCI descriptor's JSON object
//! form of a platform ([`as_oci_object`]), beside the string form that
//! `Platform`'s own serde uses.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An OS/architecture/variant triple, always normalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    /// Empty when the architecture has no variant (or its default one).
    pub variant: String,
}

/// A platform string that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid platform {input:?}: {reason}")]
pub struct InvalidPlatform {
    pub input: String,
    pub reason: &'static str,
}

const KNOWN_OS: &[&str] = &[
    "aix",
    "android",
    "darwin",
    "dragonfly",
    "freebsd",
    "illumos",
    "ios",
    "js",
    "linux",
    "netbsd",
    "openbsd",
    "plan9",
    "solaris",
    "wasip1",
    "windows",
];

impl Platform {
    /// A normalised platform from its parts.
    pub fn new(os: &str, architecture: &str, variant: &str) -> Platform {
        let os = os.to_ascii_lowercase();
        let os = if os == "macos" { "darwin".into() } else { os };
        let (architecture, variant) = normalize_arch(
            &architecture.to_ascii_lowercase(),
            &variant.to_ascii_lowercase(),
        );
        Platform {
            os,
            architecture,
            variant,
        }
    }

    /// The platform this process runs on.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "arm" => "arm",
            "powerpc64" => "ppc64le",
            "s390x" => "s390x",
            "riscv64" => "riscv64",
            "loongarch64" => "loong64",
            other => other,
        };
        Platform::new(std::env::consts::OS, arch, "")
    }

    /// `linux/amd64` or `linux/arm/v7`.
    pub fn to_specifier(&self) -> String {
        self.to_string()
    }

    /// The same platform normalised again: for one built from its public
    /// fields (an image config's `os`/`architecture`/`variant`) rather than
    /// through [`Platform::new`] or parsing.
    pub fn normalized(&self) -> Platform {
        Platform::new(&self.os, &self.architecture, &self.variant)
    }

    /// Whether an image index entry for `candidate` serves a build for
    /// `self`: the same os and architecture after normalisation (so an
    /// `arm64/v8` entry serves `arm64`, and a variant-less `arm` entry is
    /// `arm/v7`), and the same variant when `self` names one. Index
    /// selection prefers an exact match among the matching entries.
    pub fn matches(&self, candidate: &Platform) -> bool {
        let want = self.normalized();
        let have = candidate.normalized();
        want.os == have.os
            && want.architecture == have.architecture
            && (want.variant.is_empty() || want.variant == have.variant)
    }
}

fn normalize_arch(arch: &str, variant: &str) -> (String, String) {
    let (a, v) = match arch {
        "i386" | "i686" | "386" => ("386", ""),
        "x86_64" | "x86-64" | "amd64" => ("amd64", if variant == "v1" { "" } else { variant }),
        "aarch64" | "arm64" => (
            "arm64",
            if matches!(variant, "8" | "v8") {
                ""
            } else {
                variant
            },
        ),
        "armhf" => ("arm", "v7"),
        "armel" => ("arm", "v6"),
        "arm" => (
            "arm",
            match variant {
                "" | "7" => "v7",
                "5" | "6" | "8" => return ("arm".into(), format!("v{variant}")),
                v => v,
            },
        ),
        other => (other, variant),
    };
    (a.to_string(), v.to_string())
}

impl FromStr for Platform {
    type Err = InvalidPlatform;

    /// Parses `os`, `arch`, `os/arch` or `os/arch/variant` like containerd.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| InvalidPlatform {
            input: s.to_string(),
            reason,
        };
        let parts: Vec<&str> = s.trim().split('/').collect();
        if parts.iter().any(|p| p.is_empty()) {
            return Err(err("empty component"));
        }
        let valid = |p: &str| {
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        };
        if !parts.iter().all(|p| valid(p)) {
            return Err(err("unexpected character"));
        }
        let host = Platform::host();
        match parts.as_slice() {
            [one] => {
                let lower = one.to_ascii_lowercase();
                if KNOWN_OS.contains(&lower.as_str()) || lower == "macos" {
                    Ok(Platform::new(&lower, &host.architecture, &host.variant))
                } else {
                    Ok(Platform::new(&host.os, &lower, ""))
                }
            }
            [os, arch] => Ok(Platform::new(os, arch, "")),
            [os, arch, variant] => Ok(Platform::new(os, arch, variant)),
            _ => Err(err("too many components")),
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if !self.variant.is_empty() {
            write!(f, "/{}", self.variant)?;
        }
        Ok(())
    }
}

impl Serialize for Platform {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Platform {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

/// Serde for an `Option<Platform>` as the JSON object of an OCI descriptor
/// (`{"os":"linux","architecture":"arm","variant":"v7"}`), for
/// `#[serde(default, with = "...", skip_serializing_if = "Option::is_none")]`.
/// Reading normalises the platform; `os.version` and `os.features` are
/// accepted and not kept.
pub mod as_oci_object {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::Platform;

    #[derive(Serialize, Deserialize)]
    struct Object {
        os: String,
        architecture: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        variant: String,
    }

    pub fn serialize<S: Serializer>(p: &Option<Platform>, s: S) -> Result<S::Ok, S::Error> {
        p.as_ref()
            .map(|p| Object {
                os: p.os.clone(),
                architecture: p.architecture.clone(),
                variant: p.variant.clone(),
            })
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Platform>, D::Error> {
        Ok(Option::<Object>::deserialize(d)?
            .map(|o| Platform::new(&o.os, &o.architecture, &o.variant)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        s.parse::<Platform>().unwrap().to_string()
    }

    #[test]
    fn aliases_normalise_like_containerd() {
        assert_eq!(p("linux/x86_64"), "linux/amd64");
        assert_eq!(p("linux/aarch64"), "linux/arm64");
        assert_eq!(p("linux/arm64/v8"), "linux/arm64");
        assert_eq!(p("linux/arm"), "linux/arm/v7");
        assert_eq!(p("linux/armhf"), "linux/arm/v7");
        assert_eq!(p("linux/armel"), "linux/arm/v6");
        assert_eq!(p("linux/arm/7"), "linux/arm/v7");
        assert_eq!(p("linux/i686"), "linux/386");
        assert_eq!(p("Linux/AMD64"), "linux/amd64");
        assert_eq!(p("linux/amd64/v3"), "linux/amd64/v3");
        assert_eq!(p("macos/arm64"), "darwin/arm64");
    }

    #[test]
    fn single_component_is_os_or_arch() {
        let host = Platform::host();
        assert_eq!(p("linux"), format!("linux/{}", host.architecture));
        assert_eq!(p("arm64"), format!("{}/arm64", host.os));
    }

    #[test]
    fn malformed_platforms_are_rejected() {
        for bad in [
            "",
            "linux/",
            "/amd64",
            "linux/amd64/v8/x",
            "linux/am d64",
            "linux//x",
        ] {
            assert!(bad.parse::<Platform>().is_err(), "{bad:?} accepted");
        }
    }

    fn parsed(s: &str) -> Platform {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints_os_arch_variant() {
        let p = parsed("linux/arm/v7");
        assert_eq!(p, Platform::new("linux", "arm", "v7"));
        assert_eq!(p.to_string(), "linux/arm/v7");
        for bad in ["linux/", "/amd64", "a/b/c/d", "linux/am d64"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
    }

    #[test]
    fn aliases_and_default_variants_are_folded() {
        assert_eq!(p("linux/x86_64"), "linux/amd64");
        assert_eq!(p("linux/aarch64/v8"), "linux/arm64");
        assert_eq!(p("linux/armhf"), "linux/arm/v7");
    }

    #[test]
    fn matching_ignores_variant_only_when_none_is_asked_for() {
        let arm = parsed("linux/arm");
        let arm7 = parsed("linux/arm/v7");
        let arm6 = parsed("linux/arm/v6");
        assert!(arm.matches(&arm7));
        assert!(arm7.matches(&arm7));
        assert!(!arm7.matches(&arm6));
        // A variant-less `arm` entry is `arm/v7` (containerd), so the case
        // "a variant is asked for, the entry has none" is amd64's here.
        let amd = parsed("linux/amd64");
        let amd3 = parsed("linux/amd64/v3");
        assert!(amd.matches(&amd3));
        assert!(!amd3.matches(&amd));
        assert!(!amd.matches(&parsed("windows/amd64")));
        assert!(amd.matches(&Platform::new("linux", "amd64", "v1")));
    }

    #[test]
    fn matching_treats_arm64_v8_as_plain_arm64() {
        let arm64 = parsed("linux/arm64");
        let raw_v8 = Platform {
            os: "linux".into(),
            architecture: "aarch64".into(),
            variant: "v8".into(),
        };
        assert!(arm64.matches(&raw_v8));
        assert!(raw_v8.matches(&arm64));
        assert_eq!(raw_v8.normalized(), arm64);
        assert!(!arm64.matches(&parsed("linux/arm/v7")));
    }

    #[test]
    fn host_platform_is_linux() {
        assert_eq!(Platform::host().os, "linux");
    }

    #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
    struct Entry {
        #[serde(
            default,
            with = "as_oci_object",
            skip_serializing_if = "Option::is_none"
        )]
        platform: Option<Platform>,
    }

    #[test]
    fn oci_object_form_round_trips_and_normalises_on_read() {
        let e: Entry = serde_json::from_str(
            r#"{"platform":{"architecture":"arm64","os":"linux","variant":"v8","os.features":["x"]}}"#,
        )
        .unwrap();
        assert_eq!(e.platform, Some(parsed("linux/arm64")));
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"platform":{"os":"linux","architecture":"arm64"}}"#
        );
        let e = Entry {
            platform: Some(parsed("linux/arm/v6")),
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"platform":{"os":"linux","architecture":"arm","variant":"v6"}}"#
        );
        let none: Entry = serde_json::from_str("{}").unwrap();
        assert_eq!(none.platform, None);
        assert_eq!(serde_json::to_string(&none).unwrap(), "{}");
    }
}
