//! From TOML text to a validated [`Manifest`], collecting every problem with its key and line.
//!
//! `parse` reads the file, then checks each component (`component.rs`), each route and the
//! routes that would answer the same requests (`route.rs`), and the middleware
//! (`crate::middleware`) and the SQL databases' migrations (`crate::migrations`), reporting
//! every problem into one [`Checker`].

mod component;
mod route;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::Manifest;
use crate::error::{Diagnostic, Lines, ManifestError, did_you_mean};
use crate::middleware::{check_chain, check_middleware};
use crate::migrations::check_sql_database;
use crate::raw::RawManifest;
use component::check_component;
pub(crate) use component::is_component_id;
use route::{check_duplicates, check_route};

/// A setting's value as written, with its place in the file.
pub(crate) type Setting = Spanned<toml::Value>;

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

    /// A size (`"64MiB"` or a number of bytes) at `key`; reports anything else. `examples`
    /// completes the fix: "write a number and a unit, such as <examples>".
    pub(crate) fn size(&mut self, key: String, value: &Setting, examples: &str) -> Option<u64> {
        self.read(key, value, size_of, "a size", examples)
    }

    /// A duration (`"5s"`, `"250ms"`) at `key`; reports anything else, as [`Checker::size`].
    pub(crate) fn duration(&mut self, key: String, value: &Setting, eg: &str) -> Option<Duration> {
        self.read(key, value, duration_of, "a duration", eg)
    }

    fn read<T>(
        &mut self,
        key: String,
        value: &Spanned<toml::Value>,
        parse: fn(&toml::Value) -> Option<T>,
        what: &str,
        examples: &str,
    ) -> Option<T> {
        let parsed = parse(value.get_ref());
        if parsed.is_none() {
            let line = self.line(value);
            let fix = format!("write a number and a unit, such as {examples}");
            self.report(key, line, format!("{} is not {what}", value.get_ref()), fix);
        }
        parsed
    }

    /// `parsed` if `fits` it; otherwise reports that `value` is outside `range`.
    pub(crate) fn within<T>(
        &mut self,
        key: String,
        value: &Spanned<toml::Value>,
        parsed: Option<T>,
        fits: impl Fn(&T) -> bool,
        (range, fix): (&str, &str),
    ) -> Option<T> {
        let parsed = parsed?;
        if fits(&parsed) {
            return Some(parsed);
        }
        let line = self.line(value);
        self.report(
            key,
            line,
            format!("{} is outside {range}", value.get_ref()),
            fix,
        );
        None
    }
}

/// Whether every component's `source` must exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources {
    /// Yes: the app is about to be served or checked.
    Required,
    /// Not for components with a `build` section: the app is about to be built.
    MayBeUnbuilt,
}

/// Parses and validates manifest text. `file` is how messages name the file; `dir` is where
/// relative paths point from.
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
        if let Some(mut checked) = check_route(&mut checker, index, route, &component_ids, dir) {
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

    let mut sql_databases = BTreeMap::new();
    for (name, table) in &raw.sql_database {
        let granted = raw.component.values().any(|component| {
            component
                .get_ref()
                .sql_databases
                .iter()
                .any(|granted| granted.get_ref() == name)
        });
        if let Some(spec) = check_sql_database(&mut checker, name, table, dir, granted) {
            sql_databases.insert(name.clone(), spec);
        }
    }

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
            sql_databases,
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

fn size_of(value: &toml::Value) -> Option<u64> {
    match value {
        toml::Value::Integer(n) => u64::try_from(*n).ok(),
        toml::Value::String(s) => s.trim().parse::<bytesize::ByteSize>().ok().map(|b| b.0),
        _ => None,
    }
}

fn duration_of(value: &toml::Value) -> Option<Duration> {
    match value {
        toml::Value::String(s) => humantime::parse_duration(s.trim()).ok(),
        _ => None,
    }
}

/// Resolves `dir` for a manifest path: its parent, or `.` for a bare file name.
pub(crate) fn manifest_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}
