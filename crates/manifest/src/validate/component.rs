//! Checking one `[component.<id>]`: its source, its grants and its limits.

use std::path::Path;
use std::time::Duration;

use toml::Spanned;

use super::{Checker, Sources};
use crate::grants::{Named, Variable, VariableSource, is_variable_name};
use crate::raw::{RawComponent, RawLimits, RawReuse};
use crate::{ComponentSpec, Grants, HostPattern, Limits, Reuse};

/// Whether `id` can name a component (or a middleware): letters, digits, `-` and `_`, starting
/// with a letter or digit.
pub(crate) fn is_component_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

pub(super) fn check_component(
    checker: &mut Checker<'_>,
    id: &str,
    component: &Spanned<RawComponent>,
    dir: &Path,
) -> Option<ComponentSpec> {
    let key = format!("component.{id}");
    let before = checker.diagnostics.len();
    if !is_component_id(id) {
        let line = checker.line(component);
        checker.report(
            &key,
            line,
            format!("\"{id}\" is not a valid component id"),
            "use letters, digits, `-` and `_`, starting with a letter or digit",
        );
    }
    let raw = component.get_ref();
    let source_line = checker.line(&raw.source);
    let source = dir.join(raw.source.get_ref());
    if raw.source.get_ref().is_empty() {
        checker.report(
            format!("{key}.source"),
            source_line,
            "the source is empty",
            "name the component's .wasm file, relative to the manifest",
        );
    } else if source.is_file() {
        // Present.
    } else if raw.build.is_some() && checker.sources == Sources::MayBeUnbuilt && !source.exists() {
        // About to be built.
    } else {
        let problem = if source.exists() {
            format!("{} is not a file", source.display())
        } else {
            format!("{} does not exist", source.display())
        };
        let fix = if raw.build.is_some() {
            "run `tessera build` (or `tessera up --build`), or correct the path (it is relative \
             to the manifest and must be what the build command writes)"
        } else {
            "build the component first, or correct the path (it is relative to the manifest)"
        };
        checker.report(format!("{key}.source"), source_line, problem, fix);
    }
    let mut limits = check_limits(checker, &key, &raw.limits);
    limits.reuse = raw
        .reuse
        .as_ref()
        .map(|reuse| check_reuse(checker, &key, reuse.get_ref()));
    let grants = check_grants(checker, &key, raw);
    let build = raw
        .build
        .as_ref()
        .and_then(|build| crate::build::check_build(checker, &key, build, dir));
    (checker.diagnostics.len() == before).then(|| ComponentSpec {
        id: id.to_string(),
        source,
        source_line,
        limits,
        grants,
        build,
    })
}

/// Checks the shape of a component's grants; whether stores and databases exist is checked
/// against the runtime configuration by [`Manifest::resolve`].
pub(super) fn check_grants(
    checker: &mut Checker<'_>,
    component_key: &str,
    raw: &RawComponent,
) -> Grants {
    let mut grants = Grants::default();
    let names = |checker: &mut Checker<'_>, field: &str, list: &[Spanned<String>]| {
        let mut named: Vec<Named> = Vec::new();
        for name in list {
            let line = checker.line(name);
            if name.get_ref().is_empty() {
                checker.report(
                    format!("{component_key}.{field}"),
                    line,
                    "an empty name",
                    "name a store or database, such as \"default\"",
                );
            } else if !named.iter().any(|n| n.name == *name.get_ref()) {
                named.push(Named {
                    name: name.get_ref().clone(),
                    line,
                });
            }
        }
        named
    };
    grants.key_value_stores = names(checker, "key_value_stores", &raw.key_value_stores);
    grants.sql_databases = names(checker, "sql_databases", &raw.sql_databases);
    for host in &raw.allowed_outbound_hosts {
        match HostPattern::parse(host.get_ref()) {
            Ok(pattern) => grants.allowed_outbound_hosts.push(pattern),
            Err(problem) => {
                let line = checker.line(host);
                checker.report(
                    format!("{component_key}.allowed_outbound_hosts"),
                    line,
                    problem,
                    "see \"Outbound HTTP\" in the README for the pattern syntax",
                );
            }
        }
    }
    for (name, value) in &raw.variables {
        let line = checker.line(value);
        let key = format!("{component_key}.variables.{name}");
        if !is_variable_name(name) {
            checker.report(
                &key,
                line,
                format!("\"{name}\" is not a valid variable name"),
                "use lower-case letters, digits and `_`, starting with a letter",
            );
            continue;
        }
        match VariableSource::parse(value.get_ref()) {
            Ok(source) => {
                grants
                    .variables
                    .insert(name.clone(), Variable { source, line });
            }
            Err(problem) => checker.report(
                &key,
                line,
                problem,
                "write a literal value, or \"{{ secret.<name> }}\" for a secret",
            ),
        }
    }
    grants
}

pub(super) fn check_limits(checker: &mut Checker<'_>, at: &str, raw: &RawLimits) -> Limits {
    let mut limits = Limits::default();
    let key = |name: &str| format!("{at}.limits.{name}");
    if let Some(memory) = &raw.memory {
        let bytes = checker.size(key("memory"), memory, "\"64MiB\", \"512KiB\" or \"1GiB\"");
        let fits = |b: &u64| (Limits::MIN_MEMORY..=Limits::MAX_MEMORY).contains(b);
        let why = "a WebAssembly memory holds at least one 64KiB page and at most 4GiB";
        if let Some(bytes) =
            checker.within(key("memory"), memory, bytes, fits, ("64KiB..=4GiB", why))
        {
            limits.memory = bytes;
        }
    }
    if let Some(timeout) = &raw.timeout {
        let eg = "\"5s\", \"250ms\" or \"2m\"";
        let why = "give each request a deadline between 1ms and 1h, such as \"5s\"";
        if let Some(d) = up_to_an_hour(checker, key("timeout"), timeout, eg, why) {
            limits.timeout = d;
        }
    }
    if let Some(max) = &raw.max_concurrency {
        let fix = "allow at least 1 instance at once, such as `max_concurrency = 100`";
        if let Some(n) = positive(checker, key("max_concurrency"), max, "instances", fix) {
            limits.max_concurrency = n;
        }
    }
    if let Some(max) = &raw.max_queue {
        match u32::try_from(*max.get_ref()) {
            Ok(n) => limits.max_queue = n,
            Err(_) => {
                let line = checker.line(max);
                checker.report(
                    key("max_queue"),
                    line,
                    format!("{} is not a number of requests", max.get_ref()),
                    "let 0 or more requests wait for an instance, such as `max_queue = 64`",
                );
            }
        }
    }
    limits
}

/// `value` as a duration from 1ms to 1h ([`Limits::MAX_TIMEOUT`]), or a report saying why
/// not (`eg`: examples of the syntax; `why`: the range's reason).
fn up_to_an_hour(
    checker: &mut Checker<'_>,
    key: String,
    value: &Spanned<toml::Value>,
    eg: &str,
    why: &str,
) -> Option<Duration> {
    let d = checker.duration(key.clone(), value, eg);
    let fits = |d: &Duration| !d.is_zero() && *d <= Limits::MAX_TIMEOUT;
    checker.within(key, value, d, fits, ("1ms..=1h", why))
}

/// `value` as a positive `u32`, or a report that it is not a positive number of `what`.
fn positive(
    checker: &mut Checker<'_>,
    key: String,
    value: &Spanned<i64>,
    what: &str,
    fix: &str,
) -> Option<u32> {
    match u32::try_from(*value.get_ref()) {
        Ok(n) if n >= 1 => Some(n),
        _ => {
            let line = checker.line(value);
            let problem = format!("{} is not a positive number of {what}", value.get_ref());
            checker.report(key, line, problem, fix);
            None
        }
    }
}

/// Checks `[component.<id>] reuse = { ... }`; keys left out take [`Reuse`]'s defaults.
fn check_reuse(checker: &mut Checker<'_>, at: &str, raw: &RawReuse) -> Reuse {
    let mut reuse = Reuse::default();
    let key = |name: &str| format!("{at}.reuse.{name}");
    if let Some(max) = &raw.max_requests {
        let fix = "let an instance serve at least 1 request, such as `max_requests = 128`";
        if let Some(n) = positive(checker, key("max_requests"), max, "requests", fix) {
            reuse.max_requests = n;
        }
    }
    if let Some(max) = &raw.max_concurrent {
        // Whether the component can take more than one is known once it is loaded: a WASI 0.2
        // component cannot, and loading it says so.
        let fix = "let an instance take at least 1 request at a time, such as `max_concurrent = \
                   16` for a WASI 0.3 component (a WASI 0.2 one takes 1)";
        if let Some(n) = positive(checker, key("max_concurrent"), max, "requests", fix) {
            reuse.max_concurrent = n;
        }
    }
    if let Some(idle) = &raw.idle_timeout {
        let eg = "\"1s\", \"500ms\" or \"1m\"";
        let why = "keep an idle instance between 1ms and 1h, such as \"1s\"";
        if let Some(d) = up_to_an_hour(checker, key("idle_timeout"), idle, eg, why) {
            reuse.idle_timeout = d;
        }
    }
    reuse
}
