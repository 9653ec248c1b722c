//! Checking a middleware list: every name defined, every step after what it needs.

use std::collections::BTreeMap;

use toml::Spanned;

use super::super::{MiddlewareKind, MiddlewareSpec, RateKey};
use crate::error::did_you_mean;
use crate::validate::Checker;

/// Checks a middleware list (`[app]`'s, or a route's own steps after it): every name
/// defined, and each step's prerequisites before it. `authenticated` says whether an earlier
/// list already has an authentication step; returns whether this one ends authenticated.
pub(crate) fn check_chain(
    checker: &mut Checker<'_>,
    key: &str,
    names: &[Spanned<String>],
    defined: &BTreeMap<String, MiddlewareSpec>,
    all_names: &[&str],
    mut authenticated: bool,
) -> bool {
    for name in names {
        let line = checker.line(name);
        let Some(spec) = defined.get(name.get_ref()) else {
            if all_names.contains(&name.get_ref().as_str()) {
                continue; // defined, but its own table has errors that are already reported
            }
            let fix = match did_you_mean(name.get_ref(), all_names.iter().copied()) {
                Some(close) => format!("did you mean \"{close}\"?"),
                None => format!(
                    "define [middleware.{}] with a `type`, or remove it from the list",
                    name.get_ref()
                ),
            };
            checker.report(
                key,
                line,
                format!("unknown middleware \"{}\"", name.get_ref()),
                fix,
            );
            continue;
        };
        let needs_identity = match &spec.kind {
            MiddlewareKind::Guard(_) => Some("a guard checks the identity"),
            MiddlewareKind::RateLimit(limit) if limit.key == RateKey::Subject => {
                Some("a rate limit by subject counts per authenticated client")
            }
            _ => None,
        };
        if let Some(why) = needs_identity
            && !authenticated
        {
            checker.report(
                key,
                line,
                format!(
                    "\"{}\" runs before any jwt, api_key or wasm step; {why} that such a step establishes",
                    name.get_ref()
                ),
                "list an authentication middleware before it",
            );
        }
        authenticated |= spec.kind.authenticates();
    }
    authenticated
}
