//! Checking `[middleware.<name>]` tables and the middleware lists of routes.
//!
//! `check_middleware` checks the keys a table may have for its `type`, then hands it to that
//! type's check: `auth.rs` (jwt, api_key, guard), `cors.rs`, `traffic.rs` (rate and header
//! limits, compression, JSON schemas), or `wasm` below. `settings.rs` holds what they share.

mod auth;
mod chain;
mod cors;
mod settings;
mod traffic;

use std::path::Path;

use toml::Spanned;

use super::{MiddlewareKind, MiddlewareSpec};
use crate::error::did_you_mean;
use crate::raw::RawMiddleware;
use crate::validate::Checker;
pub(crate) use chain::check_chain;
use settings::Settings;

/// The types and the keys each takes (besides `type`).
const TYPES: &[(&str, &[&str])] = &[
    (
        "jwt",
        &[
            "algorithms",
            "secret",
            "public_key_file",
            "jwks_file",
            "issuer",
            "audience",
            "leeway",
            "header",
        ],
    ),
    ("api_key", &["header", "query", "keys"]),
    (
        "guard",
        &["claims", "roles", "roles_claim", "scopes", "subjects"],
    ),
    (
        "cors",
        &[
            "allow_origins",
            "allow_methods",
            "allow_headers",
            "expose_headers",
            "allow_credentials",
            "max_age",
        ],
    ),
    ("rate_limit", &["requests", "per", "burst", "key", "store"]),
    ("body_limit", &["max"]),
    ("header_limit", &["max_count", "max_size"]),
    ("request_timeout", &["timeout"]),
    ("compression", &["algorithms", "min_size"]),
    ("request_id", &["header"]),
    ("json_schema", &["schema", "query_schema", "max"]),
    ("wasm", &["component"]),
];

/// The keys set in a raw table, by name.
fn present(raw: &RawMiddleware) -> Vec<&'static str> {
    let keys = [
        ("algorithms", raw.algorithms.is_some()),
        ("secret", raw.secret.is_some()),
        ("public_key_file", raw.public_key_file.is_some()),
        ("jwks_file", raw.jwks_file.is_some()),
        ("issuer", raw.issuer.is_some()),
        ("audience", raw.audience.is_some()),
        ("leeway", raw.leeway.is_some()),
        ("header", raw.header.is_some()),
        ("query", raw.query.is_some()),
        ("keys", raw.keys.is_some()),
        ("claims", raw.claims.is_some()),
        ("roles", raw.roles.is_some()),
        ("roles_claim", raw.roles_claim.is_some()),
        ("scopes", raw.scopes.is_some()),
        ("subjects", raw.subjects.is_some()),
        ("allow_origins", raw.allow_origins.is_some()),
        ("allow_methods", raw.allow_methods.is_some()),
        ("allow_headers", raw.allow_headers.is_some()),
        ("expose_headers", raw.expose_headers.is_some()),
        ("allow_credentials", raw.allow_credentials.is_some()),
        ("max_age", raw.max_age.is_some()),
        ("requests", raw.requests.is_some()),
        ("per", raw.per.is_some()),
        ("burst", raw.burst.is_some()),
        ("key", raw.key.is_some()),
        ("store", raw.store.is_some()),
        ("max", raw.max.is_some()),
        ("max_count", raw.max_count.is_some()),
        ("max_size", raw.max_size.is_some()),
        ("timeout", raw.timeout.is_some()),
        ("min_size", raw.min_size.is_some()),
        ("schema", raw.schema.is_some()),
        ("query_schema", raw.query_schema.is_some()),
        ("component", raw.component.is_some()),
    ];
    keys.into_iter()
        .filter_map(|(name, set)| set.then_some(name))
        .collect()
}

/// Checks one `[middleware.<name>]`.
pub(crate) fn check_middleware(
    checker: &mut Checker<'_>,
    name: &str,
    table: &Spanned<RawMiddleware>,
    dir: &Path,
    component_ids: &[&str],
) -> Option<MiddlewareSpec> {
    let raw = table.get_ref();
    let line = checker.line(table);
    let key = |setting: &str| format!("middleware.{name}.{setting}");
    let before = checker.diagnostics.len();
    if !crate::validate::is_component_id(name) {
        checker.report(
            format!("middleware.{name}"),
            line,
            format!("\"{name}\" is not a valid middleware name"),
            "use letters, digits, `-` and `_`, starting with a letter or digit",
        );
    }
    let kind = raw.kind.get_ref().as_str();
    let Some((_, allowed)) = TYPES.iter().find(|(t, _)| *t == kind) else {
        let names: Vec<&str> = TYPES.iter().map(|(t, _)| *t).collect();
        let fix = match did_you_mean(kind, names.iter().copied()) {
            Some(close) => format!("did you mean \"{close}\"?"),
            None => format!("use one of: {}", names.join(", ")),
        };
        let line = checker.line(&raw.kind);
        checker.report(
            key("type"),
            line,
            format!("unknown middleware type \"{kind}\""),
            fix,
        );
        return None;
    };
    for setting in present(raw) {
        if !allowed.contains(&setting) {
            checker.report(
                key(setting),
                line,
                format!("`{setting}` does not apply to a {kind} middleware"),
                format!(
                    "remove it; a {kind} middleware takes: {}",
                    if allowed.is_empty() {
                        "nothing else".to_string()
                    } else {
                        allowed.join(", ")
                    }
                ),
            );
        }
    }
    if checker.diagnostics.len() != before {
        return None;
    }
    let mut s = Settings {
        checker,
        name,
        dir,
        table_line: line,
    };
    let kind = match kind {
        "jwt" => s.jwt(raw).map(MiddlewareKind::Jwt),
        "api_key" => s.api_key(raw).map(MiddlewareKind::ApiKey),
        "guard" => s.guard(raw).map(MiddlewareKind::Guard),
        "cors" => s.cors(raw).map(MiddlewareKind::Cors),
        "rate_limit" => s.rate_limit(raw).map(MiddlewareKind::RateLimit),
        "body_limit" => s
            .required_size(raw.max.as_ref(), "max", "max = \"1MiB\"")
            .map(|max| MiddlewareKind::BodyLimit { max }),
        "header_limit" => s.header_limit(raw),
        "request_timeout" => s
            .required_duration(raw.timeout.as_ref(), "timeout", "timeout = \"10s\"")
            .map(|timeout| MiddlewareKind::RequestTimeout { timeout }),
        "compression" => s.compression(raw).map(MiddlewareKind::Compression),
        "request_id" => {
            let header = s.header_name(raw.header.as_ref(), "x-request-id");
            header.map(|header| MiddlewareKind::RequestId { header })
        }
        "json_schema" => s.json_schema(raw).map(MiddlewareKind::JsonSchema),
        "wasm" => s.wasm(raw, component_ids),
        _ => unreachable!("every name in TYPES is handled"),
    };
    (s.checker.diagnostics.len() == before)
        .then_some(kind)
        .flatten()
        .map(|kind| MiddlewareSpec {
            name: name.to_string(),
            line,
            kind,
        })
}

impl Settings<'_, '_> {
    fn wasm(&mut self, raw: &RawMiddleware, component_ids: &[&str]) -> Option<MiddlewareKind> {
        let Some(component) = &raw.component else {
            self.missing("component", "component = \"<id>\"");
            return None;
        };
        let id = component.get_ref();
        if !component_ids.contains(&id.as_str()) {
            let fix = match did_you_mean(id, component_ids.iter().copied()) {
                Some(close) => format!("did you mean \"{close}\"?"),
                None => format!("declare [component.{id}] with source = \"<file>.wasm\""),
            };
            self.report(
                "component",
                Some(component),
                format!("unknown component \"{id}\""),
                fix,
            );
            return None;
        }
        Some(MiddlewareKind::Wasm {
            component: id.clone(),
        })
    }
}
