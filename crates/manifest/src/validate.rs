//! From TOML text to a validated [`Manifest`], collecting every problem with its key and line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::error::{Diagnostic, Lines, ManifestError, did_you_mean};
use crate::grants::{Named, Variable, VariableSource, is_variable_name};
use crate::middleware::{check_chain, check_middleware};
use crate::raw::{RawComponent, RawLimits, RawManifest, RawRoute};
use crate::{ComponentSpec, Grants, HostPattern, Limits, Manifest, Route, RoutePattern};

/// Collects diagnostics against one file.
pub(crate) struct Checker<'a> {
    file: &'a Path,
    sources: Sources,
    lines: Lines<'a>,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Checker<'_> {
    pub(crate) fn line<T>(&self, value: &Spanned<T>) -> Option<usize> {
        Some(self.lines.line_of(value.span().start))
    }

    pub(crate) fn report(
        &mut self,
        key: impl Into<String>,
        line: Option<usize>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.diagnostics
            .push(Diagnostic::new(self.file, key, problem, fix).at_line(line));
    }
}

/// Parses and validates manifest text. `file` is how messages name the file; `dir` is where
/// relative paths point from.
/// Whether every component's `source` must exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// Yes: the app is about to be served or checked.
    Required,
    /// Not for components with a `build` section: the app is about to be built.
    MayBeUnbuilt,
}

pub(crate) fn parse(
    text: &str,
    file: &Path,
    dir: &Path,
    sources: Sources,
) -> Result<Manifest, ManifestError> {
    let raw: RawManifest = parse_raw(text, file)?;
    let mut checker = Checker {
        file,
        sources,
        lines: Lines::new(text),
        diagnostics: Vec::new(),
    };

    let mut components = BTreeMap::new();
    for (id, component) in &raw.component {
        if let Some(spec) = check_component(&mut checker, id, component, dir) {
            components.insert(spec.id.clone(), spec);
        }
    }
    let component_ids: Vec<&str> = raw.component.keys().map(String::as_str).collect();

    let mut middleware = BTreeMap::new();
    for (name, table) in &raw.middleware {
        if let Some(spec) = check_middleware(&mut checker, name, table, dir, &component_ids) {
            middleware.insert(name.clone(), spec);
        }
    }
    let middleware_names: Vec<&str> = raw.middleware.keys().map(String::as_str).collect();
    let defaults: &[Spanned<String>] = raw
        .app
        .as_ref()
        .and_then(|app| app.middleware.as_ref())
        .map_or(&[], |list| list.get_ref());
    let defaults_authenticate = check_chain(
        &mut checker,
        "app.middleware",
        defaults,
        &middleware,
        &middleware_names,
        false,
    );

    let mut routes = Vec::new();
    for (index, route) in raw.route.iter().enumerate() {
        if let Some(mut checked) = check_route(&mut checker, index, route, &component_ids) {
            let own: &[Spanned<String>] = route
                .get_ref()
                .middleware
                .as_ref()
                .map_or(&[], |list| list.get_ref());
            let mut chain: Vec<Spanned<String>> = defaults.to_vec();
            for name in own {
                if !chain.iter().any(|n| n.get_ref() == name.get_ref()) {
                    chain.push(name.clone());
                }
            }
            check_chain(
                &mut checker,
                &format!("route[{index}].middleware"),
                &chain[defaults.len()..],
                &middleware,
                &middleware_names,
                defaults_authenticate,
            );
            checked.middleware = chain.into_iter().map(Spanned::into_inner).collect();
            routes.push(checked);
        }
    }
    check_duplicates(&mut checker, &routes, &raw.route);

    if raw.route.is_empty() {
        checker.report(
            "route",
            None,
            "the manifest has no [[route]], so nothing would be served",
            "add a route, for example:\n\n    [[route]]\n    path = \"/...\"\n    component = \"<id>\"",
        );
    }

    if checker.diagnostics.is_empty() {
        Ok(Manifest {
            file: file.to_path_buf(),
            dir: dir.to_path_buf(),
            routes,
            components,
            middleware,
        })
    } else {
        checker
            .diagnostics
            .sort_by_key(|d| d.line.unwrap_or(usize::MAX));
        Err(ManifestError {
            diagnostics: checker.diagnostics,
        })
    }
}

/// Deserializes the TOML, turning the first syntax or schema error into a diagnostic.
pub(crate) fn parse_raw<T: serde::de::DeserializeOwned>(
    text: &str,
    file: &Path,
) -> Result<T, ManifestError> {
    let lines = Lines::new(text);
    let deserializer = toml::Deserializer::parse(text).map_err(|e| {
        ManifestError::single(
            Diagnostic::new(
                file,
                "",
                format!("this is not valid TOML: {}", e.message().trim_end()),
                "correct the TOML syntax at this line (https://toml.io)",
            )
            .at_line(e.span().map(|s| lines.line_of(s.start))),
        )
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e
            .path()
            .iter()
            .map(ToString::to_string)
            .filter(|s| !s.starts_with("$__") && s != "?")
            .collect::<Vec<_>>()
            .join(".")
            .replace(".[", "[");
        let inner = e.inner();
        let line = inner.span().map(|s| lines.line_of(s.start));
        ManifestError::single(schema_diagnostic(file, key, inner.message()).at_line(line))
    })
}

/// Explains a serde error (unknown key, missing key, wrong type) in the manifest's terms.
fn schema_diagnostic(file: &Path, key: String, message: &str) -> Diagnostic {
    let ticked: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
    // serde_path_to_error includes an unknown key in the path, but not a missing one.
    let join = |prefix: &str, name: &str| {
        if prefix == name || prefix.ends_with(&format!(".{name}")) {
            prefix.to_string()
        } else if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}.{name}")
        }
    };
    if let (Some(rest), Some(&field)) = (message.strip_prefix("unknown field"), ticked.first()) {
        let expected = &ticked[1..];
        let fix = match did_you_mean(field, expected.iter().copied()) {
            Some(close) => format!("did you mean `{close}`?"),
            None if rest.contains("there are no fields") => "remove it".to_string(),
            None => format!(
                "remove it, or use one of the keys this table has: {}",
                expected.join(", ")
            ),
        };
        return Diagnostic::new(file, join(&key, field), "unknown key", fix);
    }
    if let (true, Some(&field)) = (message.starts_with("missing field"), ticked.first()) {
        return Diagnostic::new(
            file,
            join(&key, field),
            "this required key is missing",
            missing_key_fix(field),
        );
    }
    if message.starts_with("invalid type") {
        let expected = message.rsplit("expected ").next().unwrap_or("another type");
        return Diagnostic::new(
            file,
            key,
            format!("wrong type: {message}"),
            format!("write the value as {expected}"),
        );
    }
    Diagnostic::new(
        file,
        key,
        message.to_string(),
        "see the manifest reference in the README",
    )
}

fn missing_key_fix(field: &str) -> String {
    match field {
        "path" => "add the route's path, such as `path = \"/users/:id\"`".into(),
        "component" => "add the id of the component that serves it: `component = \"<id>\"`".into(),
        "source" => "add the component's file: `source = \"component.wasm\"`".into(),
        "command" => "add the command that builds the component: \
                      `command = \"cargo build --release --target wasm32-wasip2\"`"
            .into(),
        other => format!("add `{other} = ...`"),
    }
}

pub(crate) fn is_component_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn check_component(
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
    let limits = check_limits(checker, &key, &raw.limits);
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
fn check_grants(checker: &mut Checker<'_>, component_key: &str, raw: &RawComponent) -> Grants {
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

fn check_limits(checker: &mut Checker<'_>, component_key: &str, raw: &RawLimits) -> Limits {
    let mut limits = Limits::default();
    let key = |name: &str| format!("{component_key}.limits.{name}");
    if let Some(memory) = &raw.memory {
        match size_of(memory.get_ref()) {
            Some(bytes) if (Limits::MIN_MEMORY..=Limits::MAX_MEMORY).contains(&bytes) => {
                limits.memory = bytes;
            }
            Some(_) => {
                let line = checker.line(memory);
                checker.report(
                    key("memory"),
                    line,
                    format!("{} is outside 64KiB..=4GiB", memory.get_ref()),
                    "a WebAssembly memory holds at least one 64KiB page and at most 4GiB",
                );
            }
            None => {
                let line = checker.line(memory);
                checker.report(
                    key("memory"),
                    line,
                    format!("{} is not a size", memory.get_ref()),
                    "write a number and a unit, such as \"64MiB\", \"512KiB\" or \"1GiB\"",
                );
            }
        }
    }
    if let Some(timeout) = &raw.timeout {
        match duration_of(timeout.get_ref()) {
            Some(d) if !d.is_zero() && d <= Limits::MAX_TIMEOUT => limits.timeout = d,
            Some(_) => {
                let line = checker.line(timeout);
                checker.report(
                    key("timeout"),
                    line,
                    format!("{} is outside 1ms..=1h", timeout.get_ref()),
                    "give each request a deadline between 1ms and 1h, such as \"5s\"",
                );
            }
            None => {
                let line = checker.line(timeout);
                checker.report(
                    key("timeout"),
                    line,
                    format!("{} is not a duration", timeout.get_ref()),
                    "write a number and a unit, such as \"5s\", \"250ms\" or \"2m\"",
                );
            }
        }
    }
    if let Some(max) = &raw.max_concurrency {
        match u32::try_from(*max.get_ref()) {
            Ok(n) if n >= 1 => limits.max_concurrency = n,
            _ => {
                let line = checker.line(max);
                checker.report(
                    key("max_concurrency"),
                    line,
                    format!("{} is not a positive number of instances", max.get_ref()),
                    "allow at least 1 instance at once, such as `max_concurrency = 100`",
                );
            }
        }
    }
    limits
}

pub(crate) fn size_of(value: &toml::Value) -> Option<u64> {
    match value {
        toml::Value::Integer(n) => u64::try_from(*n).ok(),
        toml::Value::String(s) => s.trim().parse::<bytesize::ByteSize>().ok().map(|b| b.0),
        _ => None,
    }
}

pub(crate) fn duration_of(value: &toml::Value) -> Option<Duration> {
    match value {
        toml::Value::String(s) => humantime::parse_duration(s.trim()).ok(),
        _ => None,
    }
}

fn check_route(
    checker: &mut Checker<'_>,
    index: usize,
    route: &Spanned<RawRoute>,
    component_ids: &[&str],
) -> Option<Route> {
    let key = format!("route[{index}]");
    let raw = route.get_ref();
    let before = checker.diagnostics.len();

    let pattern = match RoutePattern::parse(raw.path.get_ref()) {
        Ok(pattern) => Some(pattern),
        Err(e) => {
            let line = checker.line(&raw.path);
            checker.report(format!("{key}.path"), line, e.problem, e.fix);
            None
        }
    };

    let component = raw.component.get_ref();
    if !component_ids.contains(&component.as_str()) {
        let line = checker.line(&raw.component);
        let fix = match did_you_mean(component, component_ids.iter().copied()) {
            Some(close) => format!("did you mean \"{close}\"?"),
            None if component_ids.is_empty() => {
                format!("declare it: [component.{component}] with source = \"<file>.wasm\"")
            }
            None => format!(
                "declare [component.{component}], or use one of: {}",
                component_ids.join(", ")
            ),
        };
        checker.report(
            format!("{key}.component"),
            line,
            format!("unknown component \"{component}\""),
            fix,
        );
    }

    let methods = raw.methods.as_ref().map(|methods| {
        let mut parsed: Vec<http::Method> = Vec::new();
        if methods.get_ref().is_empty() {
            let line = checker.line(methods);
            checker.report(
                format!("{key}.methods"),
                line,
                "the list of methods is empty, so the route would answer nothing",
                "list at least one method, or remove `methods` to accept every method",
            );
        }
        for method in methods.get_ref() {
            let text = method.get_ref();
            match http::Method::from_bytes(text.as_bytes()) {
                Ok(m) if text.bytes().all(|b| !b.is_ascii_lowercase()) => {
                    if !parsed.contains(&m) {
                        parsed.push(m);
                    }
                }
                _ => {
                    let line = checker.line(method);
                    checker.report(
                        format!("{key}.methods"),
                        line,
                        format!("\"{text}\" is not an HTTP method"),
                        "write methods in upper case, such as [\"GET\", \"POST\"]",
                    );
                }
            }
        }
        parsed
    });

    if checker.diagnostics.len() != before {
        return None;
    }
    Some(Route {
        index,
        pattern: pattern.expect("no diagnostic means the pattern parsed"),
        component: component.clone(),
        methods,
        middleware: Vec::new(),
    })
}

/// Two routes with the same shape (same segments, any parameter names) conflict unless their
/// method lists are disjoint.
fn check_duplicates(checker: &mut Checker<'_>, routes: &[Route], raw: &[Spanned<RawRoute>]) {
    for (i, later) in routes.iter().enumerate() {
        let Some(earlier) = routes[..i]
            .iter()
            .find(|r| r.pattern.shape() == later.pattern.shape() && methods_overlap(r, later))
        else {
            continue;
        };
        let line = checker.line(&raw[later.index].get_ref().path);
        let same = if earlier.pattern.raw == later.pattern.raw {
            format!("route[{}] has the same path", earlier.index)
        } else {
            format!(
                "route[{}] (\"{}\") matches the same requests",
                earlier.index, earlier.pattern
            )
        };
        checker.report(
            format!("route[{}].path", later.index),
            line,
            format!("\"{}\" is routed twice: {same}", later.pattern),
            "remove one of the two routes, or give them `methods` lists that do not overlap",
        );
    }
}

fn methods_overlap(a: &Route, b: &Route) -> bool {
    match (&a.methods, &b.methods) {
        (Some(a), Some(b)) => a.iter().any(|m| b.contains(m)),
        _ => true,
    }
}

/// Resolves `dir` for a manifest path: its parent, or `.` for a bare file name.
pub(crate) fn manifest_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
