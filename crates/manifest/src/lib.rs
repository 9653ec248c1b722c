//! The `tessera.toml` manifest: schema, parsing, validation and error messages.
//!
//! A manifest routes HTTP paths to WebAssembly components and sets each component's limits:
//!
//! ```toml
//! [[route]]
//! path = "/users/:id/..."
//! component = "users"
//! methods = ["GET", "POST"]
//!
//! [component.users]
//! source = "users.wasm"
//! [component.users.limits]
//! memory = "64MiB"
//! timeout = "5s"
//! max_concurrency = 100
//! ```
//!
//! [`Manifest::load`] reads and validates one; every problem it finds comes back as a
//! [`Diagnostic`] that names the file, the key, the line and the fix.
//!
//! # Layout
//! - `raw`: serde structs mirroring the TOML.
//! - `validate`: from raw structs to the [`Manifest`] model, collecting diagnostics.
//! - `route`: route path patterns.
//! - `model`: the validated types.
//! - `middleware`: named middleware (`[middleware.<name>]`) and route middleware lists.
//! - `grants`: what a component may use (stores, databases, hosts, variables).
//! - `migrations`: `[sql_database.<name>]` and its folder of migrations.
//! - `runtime_config`: the backends behind stores and databases, and secrets.
//! - `resolve`: grants checked against the runtime configuration, variables given values.
//! - `error`: [`Diagnostic`] and [`ManifestError`].

#![forbid(unsafe_code)]

mod build;
mod error;
mod grants;
mod middleware;
mod migrations;
mod model;
mod raw;
mod resolve;
mod route;
mod runtime_config;
mod validate;

use std::path::Path;

/// Request headers through which the host tells a guest how its route matched and who the
/// client is. Client requests never carry headers with this prefix: the host removes them.
pub const RESERVED_HEADER_PREFIX: &str = "tessera-";

pub use build::BuildSpec;
pub use error::{Diagnostic, ManifestError};
pub use grants::{Grants, HostPattern, Named, Variable, VariableSource, is_variable_name};
pub use middleware::{
    ApiKeySpec, CompressionSpec, CorsSpec, FileSetting, GuardSpec, JWT_ALGORITHMS, JsonSchemaSpec,
    JwtKey, JwtSpec, MiddlewareKind, MiddlewareSpec, RateKey, RateLimitSpec, SecretSetting,
    StoreSetting,
};
pub use migrations::{Migration, SqlDatabaseSpec};
pub use model::{ComponentSpec, Handler, Limits, Manifest, Reuse, Route};
pub use resolve::{ResolvedGrants, ResolvedVariable};
pub use route::{PatternError, RoutePattern, Segment};
pub use runtime_config::{
    DEFAULT_MAX_CONNECTIONS, DEFAULT_NAME, KvBackend, RuntimeConfig, SqlBackend,
};
pub use validate::Sources;

impl Manifest {
    /// Reads and validates the manifest at `file`. Relative paths inside it are resolved
    /// against the file's directory.
    pub fn load(file: &Path) -> Result<Self, ManifestError> {
        Self::load_with(file, Sources::Required)
    }

    /// Like [`Manifest::load`], for building: a component with a `build` section may not have
    /// its `source` yet.
    pub fn load_for_build(file: &Path) -> Result<Self, ManifestError> {
        Self::load_with(file, Sources::MayBeUnbuilt)
    }

    fn load_with(file: &Path, sources: Sources) -> Result<Self, ManifestError> {
        let text = Self::read(file)?;
        validate::parse(&text, file, &validate::manifest_dir(file), sources)
    }

    /// Validates manifest text. `file` names the manifest in messages and `dir` is the
    /// directory relative paths are resolved against.
    pub fn parse(text: &str, file: &Path, dir: &Path) -> Result<Self, ManifestError> {
        validate::parse(text, file, dir, Sources::Required)
    }

    fn read(file: &Path) -> Result<String, ManifestError> {
        std::fs::read_to_string(file).map_err(|e| {
            let problem = match e.kind() {
                std::io::ErrorKind::NotFound => "the manifest file does not exist".to_string(),
                _ => format!("the manifest cannot be read: {e}"),
            };
            ManifestError::single(Diagnostic::new(
                file,
                "",
                problem,
                "run in the directory that holds tessera.toml, or pass --manifest <file>",
            ))
        })
    }

    /// The component with this id.
    pub fn component(&self, id: &str) -> Option<&ComponentSpec> {
        self.components.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("users.wasm"), b"\0asm").unwrap();
        Manifest::parse(text, Path::new("tessera.toml"), dir.path())
    }

    fn first_error(text: &str) -> Diagnostic {
        parse(text).unwrap_err().diagnostics.remove(0)
    }

    /// Asserts that the diagnostic's problem mentions `text`.
    #[track_caller]
    fn says(d: &Diagnostic, text: &str) {
        assert!(
            d.problem.contains(text),
            "{:?} does not say {text:?}",
            d.problem
        );
    }

    const MINIMAL: &str = r#"
[[route]]
path = "/users/:id/..."
component = "users"
methods = ["GET", "POST"]

[component.users]
source = "users.wasm"
[component.users.limits]
memory = "64MiB"
timeout = "5s"
max_concurrency = 100
"#;

    #[test]
    fn the_minimal_form_parses() {
        let m = parse(MINIMAL).unwrap();
        assert_eq!(m.routes.len(), 1);
        let users = m.component("users").unwrap();
        assert_eq!(users.limits.memory, 64 * 1024 * 1024);
        assert_eq!(users.limits.timeout, std::time::Duration::from_secs(5));
        assert_eq!(users.limits.max_concurrency, 100);
        assert!(users.source.ends_with("users.wasm"));
        assert!(m.routes[0].allows(&http::Method::POST));
        assert!(!m.routes[0].allows(&http::Method::DELETE));
    }

    #[test]
    fn limits_default_when_absent() {
        let m = parse(
            "[[route]]\npath = \"/\"\ncomponent = \"users\"\n[component.users]\nsource = \"users.wasm\"\n",
        )
        .unwrap();
        assert_eq!(m.component("users").unwrap().limits, Limits::default());
        assert!(m.routes[0].allows(&http::Method::PATCH));
    }

    fn with_reuse(reuse: &str) -> String {
        MINIMAL.replace(
            "source = \"users.wasm\"\n",
            &format!("source = \"users.wasm\"\nreuse = {reuse}\n"),
        )
    }

    #[test]
    fn reuse_is_off_by_default_and_takes_defaults_for_keys_left_out() {
        assert_eq!(
            parse(MINIMAL)
                .unwrap()
                .component("users")
                .unwrap()
                .limits
                .reuse,
            None
        );
        let m = parse(&with_reuse("{ max_requests = 16 }")).unwrap();
        let reuse = m.component("users").unwrap().limits.reuse.unwrap();
        assert_eq!(reuse.max_requests, 16);
        assert_eq!(reuse.max_concurrent, 1);
        assert_eq!(reuse.idle_timeout, std::time::Duration::from_secs(1));
        let m = parse(&with_reuse(
            "{ max_requests = 2, max_concurrent = 8, idle_timeout = \"250ms\" }",
        ))
        .unwrap();
        let reuse = m.component("users").unwrap().limits.reuse.unwrap();
        assert_eq!(reuse.idle_timeout, std::time::Duration::from_millis(250));
        assert_eq!(reuse.max_concurrent, 8);
    }

    #[test]
    fn reuse_errors_name_the_key_and_the_fix() {
        let d = first_error(&with_reuse("{ max_concurrent = 0 }"));
        assert_eq!(d.key, "component.users.reuse.max_concurrent");
        says(&d, "not a positive number");
        assert!(d.fix.contains("max_concurrent = 16"), "{}", d.fix);
        assert_eq!(d.line, Some(9));

        let d = first_error(&with_reuse("{ max_requests = 0 }"));
        assert_eq!(d.key, "component.users.reuse.max_requests");
        let d = first_error(&with_reuse("{ idle_timeout = \"forever\" }"));
        assert_eq!(d.key, "component.users.reuse.idle_timeout");
        let d = first_error(&with_reuse("{ max_request = 5 }"));
        assert_eq!(d.key, "component.users.reuse.max_request");
        assert_eq!(d.fix, "did you mean `max_requests`?");
    }

    #[test]
    fn get_implies_head() {
        let m = parse(&MINIMAL.replace("[\"GET\", \"POST\"]", "[\"GET\"]")).unwrap();
        assert!(m.routes[0].allows(&http::Method::HEAD));
    }

    #[test]
    fn unknown_keys_are_named_with_a_suggestion() {
        let d = first_error(&MINIMAL.replace("max_concurrency", "max_concurency"));
        assert_eq!(d.key, "component.users.limits.max_concurency");
        assert_eq!(d.problem, "unknown key");
        assert_eq!(d.fix, "did you mean `max_concurrency`?");
        assert_eq!(d.line, Some(12));
    }

    #[test]
    fn all_semantic_errors_are_reported_in_line_order() {
        let text = MINIMAL
            .replace("\"64MiB\"", "\"64 megs\"")
            .replace("\"5s\"", "\"soon\"")
            .replace("component = \"users\"", "component = \"user\"");
        let errors = parse(&text).unwrap_err().diagnostics;
        let keys: Vec<_> = errors.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "route[0].component",
                "component.users.limits.memory",
                "component.users.limits.timeout"
            ]
        );
        assert_eq!(errors[0].fix, "did you mean \"users\"?");
    }

    #[test]
    fn duplicate_routes_conflict_unless_methods_are_disjoint() {
        let twice =
            format!("{MINIMAL}\n[[route]]\npath = \"/users/:name/...\"\ncomponent = \"users\"\n");
        let d = first_error(&twice);
        assert_eq!(d.key, "route[1].path");
        says(&d, "route[0]");

        let disjoint = format!(
            "{MINIMAL}\n[[route]]\npath = \"/users/:id/...\"\ncomponent = \"users\"\nmethods = [\"DELETE\"]\n"
        );
        assert_eq!(parse(&disjoint).unwrap().routes.len(), 2);
    }

    #[test]
    fn missing_source_file_is_reported() {
        let d = first_error(&MINIMAL.replace("users.wasm", "nope.wasm"));
        assert_eq!(d.key, "component.users.source");
        says(&d, "nope.wasm does not exist");
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let d = first_error("[[route]]\npath = \"/\ncomponent = 1\n");
        says(&d, "this is not valid TOML");
        assert_eq!(d.line, Some(2));
    }

    #[test]
    fn wrong_types_say_what_was_expected() {
        let d =
            first_error(&MINIMAL.replace("max_concurrency = 100", "max_concurrency = \"lots\""));
        assert_eq!(d.key, "component.users.limits.max_concurrency");
        says(&d, "wrong type");
    }

    #[test]
    fn a_queue_holds_zero_or_more_requests() {
        let queued = |line: &str| MINIMAL.replace("max_concurrency = 100", line);
        let limits = parse(&queued("max_queue = 8"))
            .unwrap()
            .component("users")
            .unwrap()
            .limits;
        assert_eq!(limits.max_queue, 8);
        let d = first_error(&queued("max_queue = -1"));
        assert_eq!(d.key, "component.users.limits.max_queue");
        says(&d, "-1 is not a number of requests");
    }

    #[test]
    fn an_empty_manifest_has_no_routes() {
        let d = first_error("");
        assert_eq!(d.key, "route");
    }

    #[test]
    fn routes_run_the_app_defaults_first_and_each_name_once() {
        let text = format!(
            "[middleware.rid]\ntype = \"request_id\"\n[middleware.zip]\ntype = \"compression\"\n\
             [middleware.keys]\ntype = \"api_key\"\nkeys = {{ ci = \"k\" }}\n\
             [app]\nmiddleware = [\"rid\", \"keys\"]\n{MINIMAL}"
        )
        .replace(
            "methods = [\"GET\", \"POST\"]",
            "methods = [\"GET\", \"POST\"]\nmiddleware = [\"zip\", \"rid\"]",
        );
        let m = parse(&text).unwrap();
        assert_eq!(m.routes[0].middleware, ["rid", "keys", "zip"]);
        let MiddlewareKind::Compression(zip) = &m.middleware["zip"].kind else {
            panic!("zip is a compression step");
        };
        assert!(zip.gzip && zip.brotli);
        let MiddlewareKind::ApiKey(keys) = &m.middleware["keys"].kind else {
            panic!("keys is an api_key step");
        };
        assert_eq!(keys.header.as_deref(), Some("x-api-key"));
    }

    #[test]
    fn a_guard_after_authentication_in_the_defaults_is_fine() {
        let text = format!(
            "[middleware.keys]\ntype = \"api_key\"\nkeys = {{ ci = \"k\" }}\n\
             [middleware.ci_only]\ntype = \"guard\"\nsubjects = [\"ci\"]\n\
             [app]\nmiddleware = [\"keys\"]\n{MINIMAL}"
        )
        .replace(
            "methods = [\"GET\", \"POST\"]",
            "middleware = [\"ci_only\"]",
        );
        assert_eq!(
            parse(&text).unwrap().routes[0].middleware,
            ["keys", "ci_only"]
        );
    }

    #[test]
    fn load_names_a_missing_manifest() {
        let err = Manifest::load(&PathBuf::from("/nonexistent/tessera.toml")).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
