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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRoute {
    pub path: Spanned<String>,
    pub component: Spanned<String>,
    pub methods: Option<Spanned<Vec<Spanned<String>>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawComponent {
    pub source: Spanned<String>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub key_value_stores: Vec<Spanned<String>>,
    #[serde(default)]
    pub sql_databases: Vec<Spanned<String>>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<Spanned<String>>,
    #[serde(default)]
    pub variables: BTreeMap<String, Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLimits {
    /// A size: a string with a unit (`"64MiB"`) or an integer number of bytes.
    pub memory: Option<Spanned<toml::Value>>,
    /// A duration string (`"5s"`, `"250ms"`).
    pub timeout: Option<Spanned<toml::Value>>,
    pub max_concurrency: Option<Spanned<i64>>,
}
