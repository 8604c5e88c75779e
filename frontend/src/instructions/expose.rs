//! `EXPOSE <port>[/<protocol>] ...`: ports in Docker's port-spec syntax
//! (`80`, `80/tcp`, `8000-8010/udp`, and the `[ip:][hostport:]port` forms
//! docker/go-connections accepts, of which only the container port counts).

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

use super::flags::parse_flags;
use super::{Expander, Origin};
use crate::diagnostic::Diagnostic;
use crate::parser::Node;

/// A transport protocol of an exposed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PortProtocol {
    Tcp,
    Udp,
    Sctp,
}

/// One exposed container port, as the image config's `ExposedPorts` keys it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ExposedPort {
    pub port: u16,
    pub protocol: PortProtocol,
}

impl fmt::Display for ExposedPort {
    /// `80/tcp`: the key of `ExposedPorts` in an image config.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = match self.protocol {
            PortProtocol::Tcp => "tcp",
            PortProtocol::Udp => "udp",
            PortProtocol::Sctp => "sctp",
        };
        write!(f, "{}/{proto}", self.port)
    }
}

/// An EXPOSE instruction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExposeCmd {
    pub origin: Origin,
    /// The port words as written (after `expand`: the expanded words).
    pub ports: Vec<String>,
    /// Every exposed port, ranges unrolled, in order. Filled at parse time
    /// when no word contains `$`; always by [`ExposeCmd::expand`].
    pub exposed: Vec<ExposedPort>,
}

impl ExposeCmd {
    pub(crate) fn parse(node: &Node, source: &str) -> Result<ExposeCmd, Diagnostic> {
        parse_flags(node, source, "EXPOSE", &[])?;
        if node.args.is_empty() {
            return Err(Diagnostic::new(
                "EXPOSE requires at least one argument",
                node.locate(source, ""),
            ));
        }
        let mut exposed = Vec::new();
        if node.args.iter().all(|p| !p.contains('$')) {
            for p in &node.args {
                let ports = parse_port_spec(p).map_err(|msg| {
                    Diagnostic::new(format!("EXPOSE: {msg}"), node.locate(source, p))
                })?;
                exposed.extend(ports);
            }
        }
        Ok(ExposeCmd {
            origin: Origin::of(node, source),
            ports: node.args.clone(),
            exposed,
        })
    }

    /// Expands each word (it may split into several) and validates the ports.
    pub fn expand(&mut self, e: &dyn Expander) -> Result<(), Diagnostic> {
        let mut words = Vec::new();
        let mut exposed = Vec::new();
        for raw in &self.ports {
            let expanded = e.words(raw).map_err(|msg| {
                self.origin
                    .error(raw, format!("EXPOSE: failed to expand {raw:?}: {msg}"))
            })?;
            for w in expanded {
                let ports = parse_port_spec(&w)
                    .map_err(|msg| self.origin.error(raw, format!("EXPOSE: {msg}")))?;
                exposed.extend(ports);
                words.push(w);
            }
        }
        self.ports = words;
        self.exposed = exposed;
        Ok(())
    }
}

/// Parses one port spec: `[ip:[hostport]:]port[-end][/proto]`, where proto is
/// tcp (default), udp or sctp (any case). Returns every container port of
/// the range.
pub fn parse_port_spec(spec: &str) -> Result<Vec<ExposedPort>, String> {
    let bad = |why: &str| format!("invalid port {spec:?}: {why}");
    let (rest, proto) = match spec.rsplit_once('/') {
        Some((r, p)) if !p.is_empty() => (r, p),
        Some((r, _)) => (r, "tcp"),
        None => (spec, "tcp"),
    };
    let protocol = match proto.to_ascii_lowercase().as_str() {
        "tcp" => PortProtocol::Tcp,
        "udp" => PortProtocol::Udp,
        "sctp" => PortProtocol::Sctp,
        _ => {
            return Err(bad(&format!(
                "unknown protocol {proto:?} (expected tcp, udp or sctp)"
            )));
        }
    };
    // Split off an optional `ip:` / `[ipv6]:` and `hostport:` prefix.
    let (ip, host_and_port) = match rest.strip_prefix('[') {
        Some(r) => {
            let (ip, after) = r.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            let after = after
                .strip_prefix(':')
                .ok_or_else(|| bad("expected ':' after ']'"))?;
            (Some(ip), after)
        }
        None => (None, rest),
    };
    let parts: Vec<&str> = host_and_port.split(':').collect();
    let (ip, host_port, container) = match (ip, parts.as_slice()) {
        (None, [c]) => (None, None, *c),
        (None, [h, c]) => (None, Some(*h), *c),
        (None, [i, h, c]) => (Some(*i), Some(*h), *c),
        (Some(i), [h, c]) => (Some(i), Some(*h), *c),
        _ => return Err(bad("too many ':'")),
    };
    if let Some(ip) = ip.filter(|i| !i.is_empty()) {
        ip.parse::<IpAddr>()
            .map_err(|_| bad(&format!("{ip:?} is not an IP address")))?;
    }
    if container.is_empty() {
        return Err(bad("no port specified"));
    }
    let (start, end) = parse_range(container).ok_or_else(|| bad("not a port or port range"))?;
    if let Some(h) = host_port.filter(|h| !h.is_empty()) {
        let (hs, he) = parse_range(h).ok_or_else(|| bad("host port is not a port or range"))?;
        if he - hs != 0 && he - hs != end - start {
            return Err(bad("host and container port ranges differ in size"));
        }
    }
    Ok((start..=end)
        .map(|port| ExposedPort { port, protocol })
        .collect())
}

/// `80` or `8000-8010` (end ≥ start).
fn parse_range(text: &str) -> Option<(u16, u16)> {
    let number = |s: &str| -> Option<u16> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match text.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b)?);
            (b >= a).then_some((a, b))
        }
        None => number(text).map(|p| (p, p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instructions::Instruction;
    use crate::instructions::testutil::{TestExpander, node, parse};

    fn ports(spec: &str) -> Vec<String> {
        parse_port_spec(spec)
            .unwrap_or_else(|e| panic!("{spec}: {e}"))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn expose_port_defaults_to_tcp() {
        assert_eq!(ports("80"), vec!["80/tcp"]);
        assert_eq!(ports("80/"), vec!["80/tcp"]);
    }

    #[test]
    fn expose_accepts_protocols_in_any_case() {
        assert_eq!(ports("53/udp"), vec!["53/udp"]);
        assert_eq!(ports("53/UDP"), vec!["53/udp"]);
        assert_eq!(ports("9/sctp"), vec!["9/sctp"]);
    }

    #[test]
    fn expose_unrolls_ranges() {
        assert_eq!(
            ports("8000-8002/udp"),
            vec!["8000/udp", "8001/udp", "8002/udp"]
        );
    }

    #[test]
    fn expose_keeps_only_the_container_port_of_mappings() {
        assert_eq!(ports("8080:80"), vec!["80/tcp"]);
        assert_eq!(ports("127.0.0.1:8080:80/udp"), vec!["80/udp"]);
        assert_eq!(ports("127.0.0.1::80"), vec!["80/tcp"]);
        assert_eq!(ports("[::1]:8080:80"), vec!["80/tcp"]);
    }

    #[test]
    fn expose_rejects_bad_ports() {
        for bad in [
            "",
            "abc",
            "80/icmp",
            "65536",
            "-1",
            "90-80",
            "1:2:3:4",
            "x.y:1:2",
            "/tcp",
            "8000-8001:80-82",
            "80-",
        ] {
            assert!(parse_port_spec(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn expose_parses_ports_at_parse_time() {
        let Instruction::Expose(e) = parse(&node("expose", &[], &["80", "443/tcp"])).unwrap()
        else {
            panic!()
        };
        assert_eq!(e.exposed.len(), 2);
    }

    #[test]
    fn expose_rejects_bad_port_pointing_at_it() {
        let n = node("expose", &[], &["80", "http"]);
        let err = parse(&n).unwrap_err();
        assert!(err.message.starts_with("EXPOSE: invalid port \"http\""));
        assert_eq!(err.span.offset, n.original.find("http").unwrap());
    }

    #[test]
    fn expose_requires_an_argument() {
        assert!(parse(&node("expose", &[], &[])).is_err());
    }

    #[test]
    fn expose_validates_ports_after_expansion() {
        let Instruction::Expose(mut e) = parse(&node("expose", &[], &["$PORTS"])).unwrap() else {
            panic!()
        };
        assert!(e.exposed.is_empty());
        e.clone()
            .expand(&TestExpander::new(&[("PORTS", "nope")]))
            .unwrap_err();
        e.expand(&TestExpander::new(&[("PORTS", "80 53/udp")]))
            .unwrap();
        assert_eq!(e.ports, vec!["80", "53/udp"]);
        let got: Vec<String> = e.exposed.iter().map(ToString::to_string).collect();
        assert_eq!(got, vec!["80/tcp", "53/udp"]);
    }
}
