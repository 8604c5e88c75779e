//! Image references (`busybox`, `user/app:1.0`, `host:5000/x@sha256:…`),
//! parsed and normalised with the rules of Docker's
//! `distribution/reference.ParseNormalizedNamed`:
//!
//! - The first `/`-separated component is the registry when it contains a
//!   `.` or a `:`, is `localhost`, or has an uppercase letter; otherwise the
//!   registry is `docker.io`. `index.docker.io` is the same as `docker.io`.
//! - On `docker.io`, a one-component path gets `library/` in front.
//! - Path components are lowercase: `[a-z0-9]+` joined by `.`, `_`, `__` or
//!   runs of `-`. The path is at most 255 characters.
//! - A tag is `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`; a reference without tag
//!   or digest gets `latest`. With both a tag and a digest, the digest is what
//!   is pulled; the tag is kept only for display.
//! - 64 hex digits alone are refused (they look like an image id).
//!
//! Hand-written: oci-spec's `Reference` parser does not apply Docker's
//! normalisation and error messages, and the rules fit in one small file.

use std::fmt;
use std::str::FromStr;

use hoist_snapshotter::digest::Digest;

/// The registry of names without one.
pub const DOCKER_HUB: &str = "docker.io";

/// A reference that is not valid; the message follows Docker's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    #[error("invalid reference format: {0:?}")]
    InvalidFormat(String),
    #[error("invalid reference format: repository name ({path}) must be lowercase in {input:?}")]
    Uppercase { input: String, path: String },
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    #[error("invalid reference {0:?}: repository name must not be more than 255 characters")]
    NameTooLong(String),
    #[error(
        "invalid reference {input:?}: digest {digest:?} is not supported (only sha256 with 64 hex digits)"
    )]
    UnsupportedDigest { input: String, digest: String },
}

/// A normalised image reference: registry, repository path, tag, digest.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses and normalises `input` like `docker pull` does.
    pub fn parse(input: &str) -> Result<Reference, ReferenceError> {
        let invalid = || ReferenceError::InvalidFormat(input.to_string());
        if input.len() == 64 && input.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ReferenceError::HexName(input.to_string()));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, digest)) => (rest, Some(parse_digest(input, digest)?)),
            None => (input, None),
        };
        // A tag is after the last ':' that comes after the last '/'.
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => {
                let tag = &rest[last_slash + i + 1..];
                if !is_tag(tag) {
                    return Err(invalid());
                }
                (&rest[..last_slash + i], Some(tag.to_string()))
            }
            None => (rest, None),
        };
        let (registry, path) = split_registry(name);
        if !is_domain(registry) {
            return Err(invalid());
        }
        if path.is_empty() || !path.split('/').all(is_path_component) {
            let lower = path.to_ascii_lowercase();
            if !path.is_empty() && lower.split('/').all(is_path_component) {
                return Err(ReferenceError::Uppercase {
                    input: input.to_string(),
                    path: path.to_string(),
                });
            }
            return Err(invalid());
        }
        if path.len() > 255 {
            return Err(ReferenceError::NameTooLong(input.to_string()));
        }
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_string()
        };
        let tag = match (&tag, &digest) {
            (None, None) => Some("latest".to_string()),
            _ => tag,
        };
        Ok(Reference {
            registry: registry.to_string(),
            repository,
            tag,
            digest,
        })
    }

    /// The registry host (and port): `docker.io`, `127.0.0.1:5000`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path in the registry: `library/busybox`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// `registry/repository` without tag or digest.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same name pinned to `digest` (the tag is kept for display).
    pub fn with_digest(&self, digest: Digest) -> Reference {
        Reference {
            digest: Some(digest),
            ..self.clone()
        }
    }

    /// The same name with `tag` and no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse(s)
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl serde::Serialize for Reference {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Reference {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Docker's `splitDockerDomain`, before validation.
fn split_registry(name: &str) -> (&str, &str) {
    match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.to_ascii_lowercase() != first =>
        {
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    }
}

fn parse_digest(input: &str, digest: &str) -> Result<Digest, ReferenceError> {
    let invalid = || ReferenceError::InvalidFormat(input.to_string());
    let (alg, hex) = digest.split_once(':').ok_or_else(invalid)?;
    let alg_ok = !alg.is_empty()
        && alg.split(['-', '_', '+', '.']).all(|part| {
            let mut bytes = part.bytes();
            bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
                && bytes.all(|b| b.is_ascii_alphanumeric())
        });
    if !alg_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    digest
        .parse()
        .map_err(|_| ReferenceError::UnsupportedDigest {
            input: input.to_string(),
            digest: digest.to_string(),
        })
}

fn is_tag(tag: &str) -> bool {
    let mut bytes = tag.bytes();
    tag.len() <= 128
        && bytes
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `[a-z0-9]+` joined by `.`, `_`, `__` or one or more `-`.
fn is_path_component(component: &str) -> bool {
    let b = component.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &component[start..i];
        let ok = matches!(sep, "." | "_" | "__") || sep.bytes().all(|c| c == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// A host name, IPv4 address or bracketed IPv6 address, with an optional port.
fn is_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((inside, after)) = rest.split_once(']') else {
            return false;
        };
        if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (domain, None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    if domain.starts_with('[') {
        return true;
    }
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    /// Docker's ParseNormalizedNamed cases (name only; `:latest` added).
    #[test]
    fn normalises_names_like_docker() {
        let cases = [
            ("busybox", "docker.io/library/busybox:latest"),
            ("user/app", "docker.io/user/app:latest"),
            ("docker/docker", "docker.io/docker/docker:latest"),
            ("library/debian", "docker.io/library/debian:latest"),
            (
                "localhost/library/debian",
                "localhost/library/debian:latest",
            ),
            ("localhost/debian", "localhost/debian:latest"),
            ("LOCALDOMAIN/debian", "LOCALDOMAIN/debian:latest"),
            ("docker.io/debian", "docker.io/library/debian:latest"),
            (
                "index.docker.io/docker/docker",
                "docker.io/docker/docker:latest",
            ),
            ("index.docker.io/debian", "docker.io/library/debian:latest"),
            (
                "127.0.0.1:5000/docker/docker",
                "127.0.0.1:5000/docker/docker:latest",
            ),
            ("127.0.0.1:5000/debian", "127.0.0.1:5000/debian:latest"),
            ("192.168.0.1", "docker.io/library/192.168.0.1:latest"),
            ("192.168.0.1:80", "docker.io/library/192.168.0.1:80"),
            ("192.168.0.1:8/debian", "192.168.0.1:8/debian:latest"),
            ("[fc00::1]:5000/docker", "[fc00::1]:5000/docker:latest"),
            ("[2001:db8::1]/repo:tag", "[2001:db8::1]/repo:tag"),
            ("Docker/docker", "Docker/docker:latest"),
            (
                "docker---rules/docker",
                "docker.io/docker---rules/docker:latest",
            ),
            ("dock__er/docker", "docker.io/dock__er/docker:latest"),
            ("d/docker", "docker.io/d/docker:latest"),
            ("foo_bar.com:8080", "docker.io/library/foo_bar.com:8080"),
            (
                "lowercase:Uppercase",
                "docker.io/library/lowercase:Uppercase",
            ),
            (
                "b.gcr.io/test.example.com/my-app:test.example.com",
                "b.gcr.io/test.example.com/my-app:test.example.com",
            ),
            (
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
                "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
            ),
            ("localhost:5000/x", "localhost:5000/x:latest"),
        ];
        for (input, want) in cases {
            let got = Reference::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
            assert_eq!(got.to_string(), want, "{input}");
        }
    }

    #[test]
    fn splits_registry_repository_tag_and_digest() {
        let r = Reference::parse(&format!("test:5000/repo:tag@sha256:{HEX}")).unwrap();
        assert_eq!(r.registry(), "test:5000");
        assert_eq!(r.repository(), "repo");
        assert_eq!(r.tag(), Some("tag"));
        assert_eq!(r.digest().unwrap().hex(), HEX);
        let r = Reference::parse(&format!("busybox@sha256:{HEX}")).unwrap();
        assert_eq!(r.tag(), None, "a digest alone gets no latest tag");
        assert_eq!(
            r.to_string(),
            format!("docker.io/library/busybox@sha256:{HEX}")
        );
        let r = Reference::parse("test.com:5000").unwrap();
        assert_eq!(
            (r.repository(), r.tag()),
            ("library/test.com", Some("5000"))
        );
    }

    #[test]
    fn long_path_under_a_registry_is_accepted_up_to_255() {
        let ok = format!("example.com/{}:tag", "a".repeat(255));
        assert!(Reference::parse(&ok).is_ok());
        let bad = format!("domain/{}:tag", "a".repeat(256));
        assert!(matches!(
            Reference::parse(&bad),
            Err(ReferenceError::NameTooLong(_))
        ));
    }

    #[test]
    fn uppercase_repository_is_rejected_naming_the_path() {
        for (input, path) in [
            ("docker/Docker", "docker/Docker"),
            ("docker.io/docker/Docker", "docker/Docker"),
            ("Uppercase:tag", "Uppercase"),
            ("test:5000/Uppercase/lowercase:tag", "Uppercase/lowercase"),
        ] {
            match Reference::parse(input) {
                Err(ReferenceError::Uppercase { path: p, .. }) => assert_eq!(p, path, "{input}"),
                other => panic!("{input}: {other:?}"),
            }
        }
    }

    #[test]
    fn malformed_references_are_rejected() {
        let too_long_ns = format!("{}/docker", "a_b".repeat(90));
        for input in [
            "",
            ":justtag",
            &format!("@sha256:{HEX}"),
            "repo@sha256:ffffffffffffffffffffffffffffffffff",
            &format!("validname@invaliddigest:{HEX}"),
            "aa/asdf$$^/aa",
            "[2001:db8::1]",
            "[2001:db8::1]:5000",
            "[fe80::1%eth0]:5000/repo",
            "https://github.com/docker/docker",
            "-docker",
            "-docker/docker",
            "-docker.io/docker/docker",
            "docker///docker",
            "docker.io/docker///docker",
            "fc00::1:5000/debian",
            "[2001:db8:3:4::192.0.2.33]:5000/debian",
            "docker-/docker",
            "____/____",
            "_docker/_docker",
            "dock..er/docker",
            "dock_.er/docker",
            "dock-.er/docker",
            "docker/",
            "test image:1",
            "private@registry:5000/test",
            "name:tag:tag",
            &too_long_ns,
        ] {
            assert!(Reference::parse(input).is_err(), "{input:?} accepted");
        }
    }

    #[test]
    fn sixty_four_hex_digits_alone_are_refused_but_fine_as_a_path() {
        let hex = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";
        assert!(matches!(
            Reference::parse(hex),
            Err(ReferenceError::HexName(_))
        ));
        let r = Reference::parse(&format!("docker.io/{hex}")).unwrap();
        assert_eq!(r.repository(), format!("library/{hex}"));
    }

    #[test]
    fn non_sha256_digest_is_refused_as_unsupported() {
        let input = format!(
            "xn--7o8h.com/myimage:xn--7o8h.com@sha512:{}",
            "f".repeat(128)
        );
        assert!(matches!(
            Reference::parse(&input),
            Err(ReferenceError::UnsupportedDigest { .. })
        ));
    }

    #[test]
    fn serde_uses_the_normalised_string() {
        let r = Reference::parse("busybox:1.36").unwrap();
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(json, "\"docker.io/library/busybox:1.36\"");
        assert_eq!(serde_json::from_str::<Reference>(&json).unwrap(), r);
    }
}
