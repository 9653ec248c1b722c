//! Grants checked against the runtime configuration, and variables given their values.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::{Diagnostic, ManifestError, did_you_mean};
use crate::{
    HostPattern, KvBackend, Manifest, MiddlewareKind, RuntimeConfig, SecretSetting, StoreSetting,
    VariableSource,
};

/// What one component may use, every name known to exist and every variable with a value.
#[derive(Debug, Clone, Default)]
pub struct ResolvedGrants {
    /// Key-value stores it may open.
    pub key_value_stores: Vec<String>,
    /// SQL databases it may open.
    pub sql_databases: Vec<String>,
    /// Where it may send HTTP requests.
    pub allowed_outbound_hosts: Vec<HostPattern>,
    /// Its variables, sorted by name.
    pub variables: Vec<ResolvedVariable>,
}

/// A variable with its value.
#[derive(Clone, PartialEq, Eq)]
pub struct ResolvedVariable {
    /// Its name, as the component asks for it.
    pub name: String,
    /// Its value.
    pub value: String,
    /// Whether it came from a secret; its value is then never printed.
    pub secret: bool,
}

impl fmt::Debug for ResolvedVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value: &dyn fmt::Debug = if self.secret {
            &"<secret>"
        } else {
            &self.value
        };
        f.debug_struct("ResolvedVariable")
            .field("name", &self.name)
            .field("value", value)
            .finish()
    }
}

/// The environment variable that overrides variable `name`.
pub fn variable_env(name: &str) -> String {
    format!("TESSERA_VAR_{}", name.to_ascii_uppercase())
}

/// The environment variable that holds secret `name`.
pub fn secret_env(name: &str) -> String {
    format!("TESSERA_SECRET_{}", name.to_ascii_uppercase())
}

/// The value of secret `name`: `TESSERA_SECRET_<NAME>` from `env`, else the runtime
/// configuration's `[secrets]`.
fn secret_value(
    name: &str,
    runtime: &RuntimeConfig,
    env: &impl Fn(&str) -> Option<String>,
) -> Option<String> {
    env(&secret_env(name)).or_else(|| runtime.secrets.get(name).cloned())
}

impl Manifest {
    /// Checks every component's store and database grants against `runtime` and gives every
    /// variable its value: `TESSERA_VAR_<NAME>` from `env` if set, else the manifest's literal,
    /// or for `{{ secret.<name> }}` the `TESSERA_SECRET_<NAME>` environment variable, else the
    /// runtime configuration's `[secrets]`. Every problem is reported against the manifest
    /// with the component and key named.
    pub fn resolve(
        &self,
        runtime: &RuntimeConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<BTreeMap<String, ResolvedGrants>, ManifestError> {
        let mut diagnostics = Vec::new();
        let mut resolved = BTreeMap::new();
        for (id, spec) in &self.components {
            let grants = &spec.grants;
            let key = format!("component.{id}");
            let mut out = ResolvedGrants {
                allowed_outbound_hosts: grants.allowed_outbound_hosts.clone(),
                ..ResolvedGrants::default()
            };
            for (field, granted, defined, section, what, out) in [
                (
                    "key_value_stores",
                    &grants.key_value_stores,
                    runtime.key_value_stores.keys().collect::<Vec<_>>(),
                    "key_value_store",
                    "key-value store",
                    &mut out.key_value_stores,
                ),
                (
                    "sql_databases",
                    &grants.sql_databases,
                    runtime.sql_databases.keys().collect::<Vec<_>>(),
                    "sql_database",
                    "SQL database",
                    &mut out.sql_databases,
                ),
            ] {
                for named in granted {
                    if defined.iter().any(|d| **d == named.name) {
                        out.push(named.name.clone());
                        continue;
                    }
                    let close = did_you_mean(&named.name, defined.iter().map(|d| d.as_str()));
                    let fix = match close {
                        Some(close) => format!("did you mean \"{close}\"?"),
                        None => format!(
                            "define [{section}.{}] in {}, or use \"default\"",
                            named.name,
                            runtime.describe()
                        ),
                    };
                    diagnostics.push(
                        Diagnostic::new(
                            &self.file,
                            format!("{key}.{field}"),
                            format!("unknown {what} \"{}\" for component \"{id}\"", named.name),
                            fix,
                        )
                        .at_line(named.line),
                    );
                }
            }
            for (name, variable) in &grants.variables {
                let overridden = env(&variable_env(name));
                // A literal always has a value; a secret may have none (then `Err(name)`).
                let value = match &variable.source {
                    VariableSource::Literal(value) => {
                        Ok((overridden.unwrap_or_else(|| value.clone()), false))
                    }
                    VariableSource::Secret(secret) => overridden
                        .or_else(|| secret_value(secret, runtime, &env))
                        .map(|value| (value, true))
                        .ok_or(secret),
                };
                match value {
                    Ok((value, secret)) => out.variables.push(ResolvedVariable {
                        name: name.clone(),
                        value,
                        secret,
                    }),
                    Err(secret) => diagnostics.push(self.missing_secret(
                        format!("{key}.variables.{name}"),
                        variable.line,
                        secret,
                        runtime,
                    )),
                }
            }
            resolved.insert(id.clone(), out);
        }
        if diagnostics.is_empty() {
            Ok(resolved)
        } else {
            diagnostics.sort_by_key(|d| d.line.unwrap_or(usize::MAX));
            Err(ManifestError { diagnostics })
        }
    }

    /// The stores that `rate_limit` steps share their buckets through (`store = "..."`).
    pub fn shared_limit_stores(&self) -> impl Iterator<Item = &StoreSetting> {
        self.middleware
            .values()
            .filter_map(|spec| match &spec.kind {
                MiddlewareKind::RateLimit(limit) => limit.store.as_ref(),
                _ => None,
            })
    }

    /// Why `store` cannot hold rate-limit buckets shared by several nodes, if it cannot: it
    /// is not defined, or it is embedded (private to this process).
    fn unshareable(&self, store: &StoreSetting, runtime: &RuntimeConfig) -> Option<Diagnostic> {
        let (problem, fix) = match runtime.key_value_stores.get(&store.name) {
            Some(KvBackend::Redis { .. }) => return None,
            Some(KvBackend::Embedded { .. }) => (
                format!(
                    "the key-value store \"{}\" is embedded, private to this process: buckets \
                     kept in it would still be per node",
                    store.name
                ),
                format!(
                    "give [key_value_store.{}] type = \"redis\" in {}, or remove `store` for a \
                     limit per node",
                    store.name,
                    runtime.describe()
                ),
            ),
            None => (
                format!("unknown key-value store \"{}\"", store.name),
                match did_you_mean(
                    &store.name,
                    runtime.key_value_stores.keys().map(String::as_str),
                ) {
                    Some(close) => format!("did you mean \"{close}\"?"),
                    None => format!(
                        "define [key_value_store.{}] with type = \"redis\" in {}",
                        store.name,
                        runtime.describe()
                    ),
                },
            ),
        };
        Some(Diagnostic::new(&self.file, store.key.clone(), problem, fix).at_line(store.line))
    }

    fn missing_secret(
        &self,
        key: impl Into<String>,
        line: Option<usize>,
        secret: &str,
        runtime: &RuntimeConfig,
    ) -> Diagnostic {
        Diagnostic::new(
            &self.file,
            key,
            format!("the secret \"{secret}\" has no value"),
            format!(
                "set the environment variable {}, or add {secret} = \"...\" under [secrets] in {}",
                secret_env(secret),
                runtime.describe()
            ),
        )
        .at_line(line)
    }

    /// Gives every middleware setting that may be a secret (a `jwt` secret, `api_key` keys)
    /// its value, by manifest key (such as `middleware.auth.secret`). Secrets come from
    /// `TESSERA_SECRET_<NAME>` in `env`, else the runtime configuration's `[secrets]`.
    pub fn resolve_middleware(
        &self,
        runtime: &RuntimeConfig,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<BTreeMap<String, String>, ManifestError> {
        let mut values = BTreeMap::new();
        let mut diagnostics = Vec::new();
        let settings = self.middleware.values().flat_map(|spec| match &spec.kind {
            MiddlewareKind::Jwt(jwt) => match &jwt.key {
                crate::JwtKey::Secret(secret) => vec![secret],
                _ => Vec::new(),
            },
            MiddlewareKind::ApiKey(api_key) => api_key.keys.iter().map(|(_, s)| s).collect(),
            _ => Vec::new(),
        });
        for setting in settings {
            let SecretSetting { source, key, line } = setting;
            let name = match source {
                VariableSource::Literal(value) => {
                    values.insert(key.clone(), value.clone());
                    continue;
                }
                VariableSource::Secret(name) => name,
            };
            match secret_value(name, runtime, &env) {
                Some(value) => {
                    values.insert(key.clone(), value);
                }
                None => diagnostics.push(self.missing_secret(key, *line, name, runtime)),
            }
        }
        for store in self.shared_limit_stores() {
            if let Some(diagnostic) = self.unshareable(store, runtime) {
                diagnostics.push(diagnostic);
            }
        }
        if diagnostics.is_empty() {
            Ok(values)
        } else {
            diagnostics.sort_by_key(|d| d.line.unwrap_or(usize::MAX));
            Err(ManifestError { diagnostics })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn app(grants: &str) -> (tempfile::TempDir, Manifest) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.wasm"), b"").unwrap();
        let text = format!(
            "[[route]]\npath = \"/\"\ncomponent = \"a\"\n\n[component.a]\nsource = \"a.wasm\"\n{grants}"
        );
        let file = dir.path().join("tessera.toml");
        let manifest = Manifest::parse(&text, &file, dir.path()).unwrap();
        (dir, manifest)
    }

    fn runtime() -> RuntimeConfig {
        RuntimeConfig::parse(
            "[key_value_store.cache]\ntype = \"embedded\"\n[secrets]\ntoken = \"from-file\"\n",
            Path::new("/app/runtime.toml"),
            None,
        )
        .unwrap()
    }

    #[test]
    fn known_names_and_values_resolve() {
        let (_dir, manifest) = app(
            "key_value_stores = [\"default\", \"cache\"]\nsql_databases = [\"default\"]\n\
             variables = { greeting = \"hello\", token = \"{{ secret.token }}\" }\n",
        );
        let resolved = manifest.resolve(&runtime(), |_| None).unwrap();
        let a = &resolved["a"];
        assert_eq!(a.key_value_stores, ["default", "cache"]);
        assert_eq!(a.sql_databases, ["default"]);
        assert_eq!(a.variables[0].value, "hello");
        assert!(!a.variables[0].secret);
        assert_eq!(a.variables[1].value, "from-file");
        assert!(a.variables[1].secret);
        assert!(!format!("{:?}", a.variables[1]).contains("from-file"));
    }

    #[test]
    fn the_environment_overrides() {
        let (_dir, manifest) =
            app("variables = { greeting = \"hello\", token = \"{{ secret.token }}\" }\n");
        let env = |name: &str| match name {
            "TESSERA_VAR_GREETING" => Some("hi".to_string()),
            "TESSERA_SECRET_TOKEN" => Some("from-env".to_string()),
            _ => None,
        };
        let resolved = manifest.resolve(&runtime(), env).unwrap();
        assert_eq!(resolved["a"].variables[0].value, "hi");
        assert_eq!(resolved["a"].variables[1].value, "from-env");
    }

    #[test]
    fn unknown_names_and_missing_secrets_are_named() {
        let (_dir, manifest) = app(
            "key_value_stores = [\"cach\"]\nsql_databases = [\"main\"]\n\
             variables = { api_token = \"{{ secret.api_token }}\" }\n",
        );
        let err = manifest
            .resolve(&runtime(), |_| None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`component.a.key_value_stores`: unknown key-value store \"cach\" for component \"a\""), "{err}");
        assert!(err.contains("did you mean \"cache\"?"), "{err}");
        assert!(
            err.contains("unknown SQL database \"main\" for component \"a\""),
            "{err}"
        );
        assert!(
            err.contains(
                "define [sql_database.main] in the runtime configuration /app/runtime.toml"
            ),
            "{err}"
        );
        assert!(
            err.contains("the secret \"api_token\" has no value"),
            "{err}"
        );
        assert!(err.contains("TESSERA_SECRET_API_TOKEN"), "{err}");
    }

    #[test]
    fn a_shared_rate_limit_needs_a_redis_store() {
        let (_dir, manifest) = app(
            "\n[middleware.limit]\ntype = \"rate_limit\"\nrequests = 10\nper = \"1m\"\nstore = \"shared\"\n",
        );
        let config =
            |text: &str| RuntimeConfig::parse(text, Path::new("/app/runtime.toml"), None).unwrap();
        let redis = config("[key_value_store.shared]\ntype = \"redis\"\nurl = \"redis://h\"\n");
        assert!(manifest.resolve_middleware(&redis, |_| None).is_ok());
        assert_eq!(
            manifest
                .shared_limit_stores()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>(),
            ["shared"]
        );

        let err = manifest
            .resolve_middleware(
                &config("[key_value_store.shard]\ntype = \"redis\"\nurl = \"redis://h\"\n"),
                |_| None,
            )
            .unwrap_err()
            .to_string();
        assert!(err.contains("middleware.limit.store"), "{err}");
        assert!(err.contains("unknown key-value store \"shared\""), "{err}");
        assert!(err.contains("did you mean \"shard\"?"), "{err}");

        let err = manifest
            .resolve_middleware(
                &config("[key_value_store.shared]\ntype = \"embedded\"\n"),
                |_| None,
            )
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is embedded, private to this process"),
            "{err}"
        );
        assert!(err.contains("type = \"redis\""), "{err}");
    }
}
