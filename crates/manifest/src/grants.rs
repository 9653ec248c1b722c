//! What a component may use: key-value stores, SQL databases, outbound hosts and variables.
//!
//! Grants are written in `[component.<id>]` with the names a Spin user knows
//! (`key_value_stores`, `sql_databases`, `allowed_outbound_hosts`, `variables`). Store and
//! database names are checked against the runtime configuration and variables are given their
//! values by [`Manifest::resolve`](crate::Manifest::resolve), before the server binds its port.

use std::collections::BTreeMap;
use std::fmt;

/// The capabilities one component is granted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// Key-value stores it may open by name.
    pub key_value_stores: Vec<Named>,
    /// SQL databases it may open by name.
    pub sql_databases: Vec<Named>,
    /// Where it may send HTTP requests.
    pub allowed_outbound_hosts: Vec<HostPattern>,
    /// Its variables, by name, as written in the manifest.
    pub variables: BTreeMap<String, Variable>,
}

/// A granted name and the manifest line it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    /// The store's or database's name.
    pub name: String,
    /// Its line in the manifest.
    pub line: Option<usize>,
}

/// A variable as written in the manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Where its value comes from.
    pub source: VariableSource,
    /// Its line in the manifest.
    pub line: Option<usize>,
}

/// Where a variable's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VariableSource {
    /// The value written in the manifest.
    Literal(String),
    /// `"{{ secret.<name> }}"`: a secret from the environment (`TESSERA_SECRET_<NAME>`) or the
    /// runtime configuration's `[secrets]`. Its value never appears in a log.
    Secret(String),
}

impl VariableSource {
    /// Parses a variable's manifest value: a literal, or exactly `{{ secret.<name> }}`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let Some(inner) = raw
            .trim()
            .strip_prefix("{{")
            .and_then(|rest| rest.strip_suffix("}}"))
        else {
            if raw.contains("{{") {
                return Err(format!(
                    "\"{raw}\" mixes text with a template; a value is either literal text or exactly \"{{{{ secret.<name> }}}}\""
                ));
            }
            return Ok(Self::Literal(raw.to_string()));
        };
        match inner.trim().strip_prefix("secret.") {
            Some(name) if is_variable_name(name) => Ok(Self::Secret(name.to_string())),
            _ => Err(format!(
                "\"{raw}\" is not a secret reference; write \"{{{{ secret.<name> }}}}\" with a name of lower-case letters, digits and `_`"
            )),
        }
    }
}

/// Variable and secret names: lower-case letters, digits and `_`, starting with a letter, so
/// that `TESSERA_VAR_<NAME>` is a valid environment variable.
pub fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// An `allowed_outbound_hosts` entry: `scheme://host[:port]`, where the scheme may be `*`,
/// the host may be `*` or start with `*.`, and the port may be `*`. Without a port, the
/// scheme's default port (80 for http, 443 for https) is the only one allowed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    raw: String,
    scheme: Option<String>,
    host: HostMatch,
    port: PortMatch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostMatch {
    Any,
    /// `*.example.com`: any host ending in `.example.com` (not `example.com` itself).
    Suffix(String),
    Exact(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortMatch {
    Any,
    Default,
    Exact(u16),
}

impl HostPattern {
    /// Parses one entry; the error says what is wrong and how to write it.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let example = "write scheme://host[:port], such as \"https://api.example.com\", \"http://127.0.0.1:*\" or \"https://*.example.com\"";
        let Some((scheme, rest)) = raw.split_once("://") else {
            return Err(format!("\"{raw}\" has no scheme; {example}"));
        };
        let scheme = match scheme {
            "*" => None,
            "http" | "https" => Some(scheme.to_string()),
            other => {
                return Err(format!(
                    "\"{other}\" is not a scheme Tessera can send to; use http, https or *"
                ));
            }
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') || authority.contains('?') {
            return Err(format!(
                "\"{raw}\" has a path; a grant names a host, not a URL path; {example}"
            ));
        }
        let (host, port) = split_port(authority)
            .ok_or_else(|| format!("\"{raw}\" has a malformed port; {example}"))?;
        let port = match port {
            None => PortMatch::Default,
            Some("*") => PortMatch::Any,
            Some(port) => PortMatch::Exact(
                port.parse()
                    .map_err(|_| format!("\"{port}\" is not a port number (1-65535) or *"))?,
            ),
        };
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            HostMatch::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            check_host(suffix, raw)?;
            HostMatch::Suffix(format!(".{suffix}"))
        } else {
            check_host(&host, raw)?;
            HostMatch::Exact(host)
        };
        Ok(Self {
            raw: raw.to_string(),
            scheme,
            host,
            port,
        })
    }

    /// Whether a request to `scheme://host:port` is allowed. `host` may be in any case and an
    /// IPv6 address may be bracketed or not.
    pub fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let default_port = match scheme {
            "http" => 80,
            "https" => 443,
            _ => return false,
        };
        if self.scheme.as_deref().is_some_and(|s| s != scheme) {
            return false;
        }
        let port = port.unwrap_or(default_port);
        let port_ok = match self.port {
            PortMatch::Any => true,
            PortMatch::Default => port == default_port,
            PortMatch::Exact(p) => port == p,
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let host_ok = match &self.host {
            HostMatch::Any => true,
            HostMatch::Suffix(suffix) => {
                host.len() > suffix.len()
                    && host[host.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
            }
            HostMatch::Exact(exact) => {
                exact.trim_start_matches('[').trim_end_matches(']') == host.to_ascii_lowercase()
            }
        };
        port_ok && host_ok
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

/// Splits `host[:port]`, keeping a bracketed IPv6 address whole.
fn split_port(authority: &str) -> Option<(&str, Option<&str>)> {
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let (host, rest) = authority.split_at(end + 1);
        return match rest {
            "" => Some((host, None)),
            _ => rest.strip_prefix(':').map(|port| (host, Some(port))),
        };
    }
    match authority.split_once(':') {
        Some((host, port)) if !port.contains(':') => Some((host, Some(port))),
        Some(_) => None,
        None => Some((authority, None)),
    }
}

fn check_host(host: &str, raw: &str) -> Result<(), String> {
    let valid = !host.is_empty()
        && (host.starts_with('[')
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    if valid {
        Ok(())
    } else {
        Err(format!(
            "\"{raw}\" has a malformed host; use a name, an IP address, `*` or `*.domain`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(pattern: &str, scheme: &str, host: &str, port: Option<u16>) -> bool {
        HostPattern::parse(pattern)
            .unwrap()
            .allows(scheme, host, port)
    }

    #[test]
    fn exact_host_default_port() {
        assert!(allows(
            "https://api.example.com",
            "https",
            "api.example.com",
            None
        ));
        assert!(allows(
            "https://api.example.com",
            "https",
            "API.example.com",
            Some(443)
        ));
        assert!(!allows(
            "https://api.example.com",
            "https",
            "api.example.com",
            Some(8443)
        ));
        assert!(!allows(
            "https://api.example.com",
            "http",
            "api.example.com",
            None
        ));
        assert!(!allows(
            "https://api.example.com",
            "https",
            "example.com",
            None
        ));
    }

    #[test]
    fn wildcards() {
        assert!(allows(
            "http://127.0.0.1:*",
            "http",
            "127.0.0.1",
            Some(8080)
        ));
        assert!(allows("http://127.0.0.1:*", "http", "127.0.0.1", None));
        assert!(!allows(
            "http://127.0.0.1:*",
            "http",
            "127.0.0.2",
            Some(8080)
        ));
        assert!(allows(
            "https://*.example.com",
            "https",
            "a.b.example.com",
            None
        ));
        assert!(!allows(
            "https://*.example.com",
            "https",
            "example.com",
            None
        ));
        assert!(!allows(
            "https://*.example.com",
            "https",
            "badexample.com",
            None
        ));
        assert!(allows("*://*:*", "http", "anything", Some(1)));
        assert!(allows(
            "*://localhost:8080",
            "https",
            "localhost",
            Some(8080)
        ));
        assert!(allows("http://[::1]:*", "http", "[::1]", Some(9)));
    }

    #[test]
    fn malformed_patterns_say_why() {
        for (raw, expected) in [
            ("api.example.com", "has no scheme"),
            ("ftp://x", "not a scheme"),
            ("https://x/path", "has a path"),
            ("http://x:http", "not a port number"),
            ("http://x:1:2", "malformed port"),
            ("http://", "malformed host"),
            ("http://a_b", "malformed host"),
        ] {
            let err = HostPattern::parse(raw).unwrap_err();
            assert!(err.contains(expected), "{raw}: {err}");
        }
    }

    #[test]
    fn variable_sources() {
        assert_eq!(
            VariableSource::parse("hello").unwrap(),
            VariableSource::Literal("hello".into())
        );
        assert_eq!(
            VariableSource::parse("{{ secret.api_token }}").unwrap(),
            VariableSource::Secret("api_token".into())
        );
        assert!(VariableSource::parse("Bearer {{ secret.x }}").is_err());
        assert!(VariableSource::parse("{{ var.x }}").is_err());
        assert!(VariableSource::parse("{{ secret.X }}").is_err());
    }
}
