//! The manifest as written: serde structs that mirror the TOML, before validation.
//!
//! Values that need checking beyond their TOML type are kept as [`Spanned`] so that a
//! validation error can name the line they are on.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawManifest {
    #[serde(default)]
    pub route: Vec<Spanned<RawRoute>>,
    #[serde(default)]
    pub component: BTreeMap<String, Spanned<RawComponent>>,
    #[serde(default)]
    pub middleware: BTreeMap<String, Spanned<RawMiddleware>>,
    #[serde(default)]
    pub sql_database: BTreeMap<String, Spanned<RawSqlDatabase>>,
    pub app: Option<RawApp>,
}

/// `[app]`: settings for every route.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawApp {
    /// Middleware that runs on every route, before the route's own list.
    #[serde(default)]
    pub middleware: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub path: Spanned<String>,
    pub component: Option<Spanned<String>>,
    /// A folder of static files, instead of a component.
    pub files: Option<Spanned<String>>,
    pub methods: Option<Spanned<Vec<Spanned<String>>>>,
    pub middleware: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawComponent {
    pub source: Spanned<String>,
    #[serde(default)]
    pub limits: RawLimits,
    pub reuse: Option<Spanned<RawReuse>>,
    #[serde(default)]
    pub key_value_stores: Vec<Spanned<String>>,
    #[serde(default)]
    pub sql_databases: Vec<Spanned<String>>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<Spanned<String>>,
    #[serde(default)]
    pub variables: BTreeMap<String, Spanned<String>>,
    pub build: Option<RawBuild>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    /// A size: a string with a unit (`"64MiB"`) or an integer number of bytes.
    pub memory: Option<Spanned<toml::Value>>,
    /// A duration string (`"5s"`, `"250ms"`).
    pub timeout: Option<Spanned<toml::Value>>,
    pub max_concurrency: Option<Spanned<i64>>,
    pub max_queue: Option<Spanned<i64>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReuse {
    pub max_requests: Option<Spanned<i64>>,
    pub max_concurrent: Option<Spanned<i64>>,
    /// A duration string (`"1s"`).
    pub idle_timeout: Option<Spanned<toml::Value>>,
}

/// One `[middleware.<name>]`. Every type's keys live in one flat struct, so that unknown keys
/// are caught with a suggestion and every value keeps its line; which keys apply to which
/// `type` is checked afterwards (`middleware::check`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMiddleware {
    #[serde(rename = "type")]
    pub kind: Spanned<String>,
    // jwt (and `algorithms` for compression)
    pub algorithms: Option<Vec<Spanned<String>>>,
    pub secret: Option<Spanned<String>>,
    pub public_key_file: Option<Spanned<String>>,
    pub jwks_file: Option<Spanned<String>>,
    pub issuer: Option<Spanned<toml::Value>>,
    pub audience: Option<Spanned<toml::Value>>,
    pub leeway: Option<Spanned<toml::Value>>,
    // jwt, api_key, request_id
    pub header: Option<Spanned<String>>,
    // api_key
    pub query: Option<Spanned<String>>,
    pub keys: Option<BTreeMap<String, Spanned<String>>>,
    // guard
    pub claims: Option<BTreeMap<String, Spanned<toml::Value>>>,
    pub roles: Option<Vec<Spanned<String>>>,
    pub roles_claim: Option<Spanned<String>>,
    pub scopes: Option<Vec<Spanned<String>>>,
    pub subjects: Option<Vec<Spanned<String>>>,
    // cors
    pub allow_origins: Option<Vec<Spanned<String>>>,
    pub allow_methods: Option<Vec<Spanned<String>>>,
    pub allow_headers: Option<Vec<Spanned<String>>>,
    pub expose_headers: Option<Vec<Spanned<String>>>,
    pub allow_credentials: Option<Spanned<bool>>,
    pub max_age: Option<Spanned<toml::Value>>,
    // rate_limit
    pub requests: Option<Spanned<i64>>,
    pub per: Option<Spanned<toml::Value>>,
    pub burst: Option<Spanned<i64>>,
    pub key: Option<Spanned<String>>,
    pub store: Option<Spanned<String>>,
    // body_limit, json_schema
    pub max: Option<Spanned<toml::Value>>,
    // header_limit
    pub max_count: Option<Spanned<i64>>,
    pub max_size: Option<Spanned<toml::Value>>,
    // request_timeout
    pub timeout: Option<Spanned<toml::Value>>,
    // compression
    pub min_size: Option<Spanned<toml::Value>>,
    // json_schema
    pub schema: Option<Spanned<String>>,
    pub query_schema: Option<Spanned<String>>,
    // wasm
    pub component: Option<Spanned<String>>,
}

/// `[component.<id>.build]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBuild {
    pub command: Spanned<String>,
    pub workdir: Option<Spanned<String>>,
    #[serde(default)]
    pub watch: Vec<Spanned<String>>,
}

/// `[sql_database.<name>]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSqlDatabase {
    pub migrations: Option<Spanned<String>>,
}
