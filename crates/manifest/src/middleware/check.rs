//! Checking `[middleware.<name>]` tables and the middleware lists of routes.

use std::collections::BTreeMap;
use std::path::Path;

use toml::Spanned;

use super::{
    ApiKeySpec, CompressionSpec, CorsSpec, FileSetting, GuardSpec, JWT_ALGORITHMS, JsonSchemaSpec,
    JwtKey, JwtSpec, MiddlewareKind, MiddlewareSpec, RateKey, RateLimitSpec, SecretSetting,
};
use crate::VariableSource;
use crate::error::did_you_mean;
use crate::raw::RawMiddleware;
use crate::validate::{Checker, duration_of, size_of};

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
    ("rate_limit", &["requests", "per", "burst", "key"]),
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

/// Checks the settings of one middleware table.
struct Settings<'c, 'a> {
    checker: &'c mut Checker<'a>,
    name: &'c str,
    dir: &'c Path,
    table_line: Option<usize>,
}

impl Settings<'_, '_> {
    fn key(&self, setting: &str) -> String {
        format!("middleware.{}.{setting}", self.name)
    }

    fn report<T>(
        &mut self,
        setting: &str,
        at: Option<&Spanned<T>>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        let line = at.map_or(self.table_line, |v| self.checker.line(v));
        let key = self.key(setting);
        self.checker.report(key, line, problem, fix);
    }

    fn missing(&mut self, setting: &str, example: &str) {
        let key = self.key(setting);
        let line = self.table_line;
        self.checker.report(
            key,
            line,
            "this required key is missing",
            format!("add `{example}`"),
        );
    }

    fn file(&mut self, value: &Spanned<String>, setting: &str) -> Option<FileSetting> {
        let path = self.dir.join(value.get_ref());
        if !path.is_file() {
            self.report(
                setting,
                Some(value),
                format!("{} does not exist", path.display()),
                "correct the path (it is relative to the manifest)",
            );
            return None;
        }
        Some(FileSetting {
            path,
            key: self.key(setting),
            line: self.checker.line(value),
        })
    }

    fn secret(&mut self, value: &Spanned<String>, key: String) -> Option<SecretSetting> {
        let line = self.checker.line(value);
        match VariableSource::parse(value.get_ref()) {
            Ok(VariableSource::Literal(text)) if text.is_empty() => {
                self.checker.report(
                    key,
                    line,
                    "the value is empty",
                    "write the value, or \"{{ secret.<name> }}\" to take it from a secret",
                );
                None
            }
            Ok(source) => Some(SecretSetting { source, key, line }),
            Err(problem) => {
                self.checker.report(
                    key,
                    line,
                    problem,
                    "write a literal value, or \"{{ secret.<name> }}\" for a secret",
                );
                None
            }
        }
    }

    fn size(&mut self, value: &Spanned<toml::Value>, setting: &str) -> Option<u64> {
        let size = size_of(value.get_ref());
        if size.is_none() {
            self.report(
                setting,
                Some(value),
                format!("{} is not a size", value.get_ref()),
                "write a number and a unit, such as \"1MiB\" or \"16KiB\"",
            );
        }
        size
    }

    fn required_size(
        &mut self,
        value: Option<&Spanned<toml::Value>>,
        setting: &str,
        example: &str,
    ) -> Option<u64> {
        match value {
            Some(value) => self.size(value, setting),
            None => {
                self.missing(setting, example);
                None
            }
        }
    }

    fn duration(
        &mut self,
        value: &Spanned<toml::Value>,
        setting: &str,
    ) -> Option<std::time::Duration> {
        match duration_of(value.get_ref()) {
            Some(d) => Some(d),
            None => {
                self.report(
                    setting,
                    Some(value),
                    format!("{} is not a duration", value.get_ref()),
                    "write a number and a unit, such as \"30s\", \"250ms\" or \"1m\"",
                );
                None
            }
        }
    }

    fn required_duration(
        &mut self,
        value: Option<&Spanned<toml::Value>>,
        setting: &str,
        example: &str,
    ) -> Option<std::time::Duration> {
        match value {
            Some(value) => match self.duration(value, setting)? {
                d if d.is_zero() => {
                    self.report(
                        setting,
                        Some(value),
                        "the duration is zero",
                        format!("use a positive duration, such as `{example}`"),
                    );
                    None
                }
                d => Some(d),
            },
            None => {
                self.missing(setting, example);
                None
            }
        }
    }

    fn positive(&mut self, value: &Spanned<i64>, setting: &str) -> Option<u32> {
        match u32::try_from(*value.get_ref()) {
            Ok(n) if n > 0 => Some(n),
            _ => {
                self.report(
                    setting,
                    Some(value),
                    format!("{} is not a positive number", value.get_ref()),
                    "use a whole number of at least 1",
                );
                None
            }
        }
    }

    fn header_name(&mut self, value: Option<&Spanned<String>>, default: &str) -> Option<String> {
        let Some(value) = value else {
            return Some(default.to_string());
        };
        let name = value.get_ref().to_ascii_lowercase();
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            self.report(
                "header",
                Some(value),
                format!("\"{}\" is not a header name", value.get_ref()),
                "use letters, digits and `-`, such as \"x-api-key\"",
            );
            return None;
        }
        if name.starts_with(crate::RESERVED_HEADER_PREFIX) {
            self.report(
                "header",
                Some(value),
                format!("\"{name}\" is reserved for headers the host sets"),
                "pick a name that does not start with \"tessera-\"",
            );
            return None;
        }
        Some(name)
    }

    fn strings(list: Option<&Vec<Spanned<String>>>) -> Vec<String> {
        list.map(|l| l.iter().map(|s| s.get_ref().clone()).collect())
            .unwrap_or_default()
    }

    /// A string or a list of strings.
    fn one_or_many(&mut self, value: Option<&Spanned<toml::Value>>, setting: &str) -> Vec<String> {
        let Some(value) = value else {
            return Vec::new();
        };
        match value.get_ref() {
            toml::Value::String(s) => vec![s.clone()],
            toml::Value::Array(items) if items.iter().all(toml::Value::is_str) => items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_string))
                .collect(),
            other => {
                self.report(
                    setting,
                    Some(value),
                    format!("wrong type: {other}"),
                    "write a string, or a list of strings",
                );
                Vec::new()
            }
        }
    }

    fn jwt(&mut self, raw: &RawMiddleware) -> Option<JwtSpec> {
        let sources = [
            raw.secret.as_ref().map(|_| "secret"),
            raw.public_key_file.as_ref().map(|_| "public_key_file"),
            raw.jwks_file.as_ref().map(|_| "jwks_file"),
        ];
        let given: Vec<&str> = sources.into_iter().flatten().collect();
        if given.len() != 1 {
            let problem = if given.is_empty() {
                "a jwt middleware needs a key to verify tokens with".to_string()
            } else {
                format!(
                    "{} are given; tokens are verified with exactly one",
                    given.join(" and ")
                )
            };
            self.report::<()>(
                given.first().copied().unwrap_or("secret"),
                None,
                problem,
                "set one of `secret = \"{{ secret.jwt_key }}\"` (HS256/384/512), `public_key_file = \"key.pem\"` or `jwks_file = \"jwks.json\"`",
            );
            return None;
        }
        let key = if let Some(secret) = &raw.secret {
            JwtKey::Secret(self.secret(secret, self.key("secret"))?)
        } else if let Some(file) = &raw.public_key_file {
            JwtKey::PublicKeyFile(self.file(file, "public_key_file")?)
        } else {
            let file = raw
                .jwks_file
                .as_ref()
                .expect("exactly one key source is set");
            JwtKey::JwksFile(self.file(file, "jwks_file")?)
        };
        let mut algorithms = Vec::new();
        for alg in raw.algorithms.iter().flatten() {
            let name = alg.get_ref();
            let Some(known) = JWT_ALGORITHMS.iter().find(|a| a.eq_ignore_ascii_case(name)) else {
                self.report(
                    "algorithms",
                    Some(alg),
                    format!("unknown JWT algorithm \"{name}\""),
                    format!("use one of: {}", JWT_ALGORITHMS.join(", ")),
                );
                return None;
            };
            let hmac = known.starts_with("HS");
            if hmac != matches!(key, JwtKey::Secret(_)) {
                let (problem, fix) = if hmac {
                    (
                        format!(
                            "{known} needs a shared `secret`, but this middleware verifies with a public key"
                        ),
                        "use RS256, ES256 or another public-key algorithm, or verify with `secret`",
                    )
                } else {
                    (
                        format!(
                            "{known} needs a public key, but this middleware verifies with a shared `secret`"
                        ),
                        "use HS256, HS384 or HS512, or verify with `public_key_file` or `jwks_file`",
                    )
                };
                self.report("algorithms", Some(alg), problem, fix);
                return None;
            }
            algorithms.push((*known).to_string());
        }
        if raw.algorithms.as_ref().is_some_and(Vec::is_empty) {
            self.report::<()>(
                "algorithms",
                None,
                "the list of algorithms is empty",
                "list at least one, such as [\"HS256\"], or remove the key",
            );
            return None;
        }
        let leeway = match &raw.leeway {
            Some(value) => self.duration(value, "leeway")?,
            None => std::time::Duration::from_secs(60),
        };
        Some(JwtSpec {
            algorithms,
            key,
            issuer: self.one_or_many(raw.issuer.as_ref(), "issuer"),
            audience: self.one_or_many(raw.audience.as_ref(), "audience"),
            leeway,
            header: self.header_name(raw.header.as_ref(), "authorization")?,
        })
    }

    fn api_key(&mut self, raw: &RawMiddleware) -> Option<ApiKeySpec> {
        let header = match (&raw.header, &raw.query) {
            (None, None) => Some("x-api-key".to_string()),
            (header, _) => match header {
                Some(_) => Some(self.header_name(raw.header.as_ref(), "x-api-key")?),
                None => None,
            },
        };
        let Some(keys) = raw.keys.as_ref().filter(|k| !k.is_empty()) else {
            self.missing(
                "keys",
                "keys = { my_client = \"{{ secret.my_client_key }}\" }",
            );
            return None;
        };
        let mut out = Vec::new();
        for (name, value) in keys {
            let key = self.key(&format!("keys.{name}"));
            out.push((name.clone(), self.secret(value, key)?));
        }
        Some(ApiKeySpec {
            header,
            query: raw.query.as_ref().map(|q| q.get_ref().clone()),
            keys: out,
        })
    }

    fn guard(&mut self, raw: &RawMiddleware) -> Option<GuardSpec> {
        let spec = GuardSpec {
            claims: raw
                .claims
                .iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.get_ref().clone()))
                .collect::<BTreeMap<_, _>>(),
            roles: Self::strings(raw.roles.as_ref()),
            roles_claim: raw
                .roles_claim
                .as_ref()
                .map_or_else(|| "roles".to_string(), |c| c.get_ref().clone()),
            scopes: Self::strings(raw.scopes.as_ref()),
            subjects: Self::strings(raw.subjects.as_ref()),
        };
        if spec.claims.is_empty()
            && spec.roles.is_empty()
            && spec.scopes.is_empty()
            && spec.subjects.is_empty()
        {
            self.report::<()>(
                "type",
                None,
                "this guard requires nothing, so it would let every client through",
                "add `roles = [...]`, `scopes = [...]`, `subjects = [...]` or `claims = { ... }`",
            );
            return None;
        }
        Some(spec)
    }

    fn cors(&mut self, raw: &RawMiddleware) -> Option<CorsSpec> {
        let spec = CorsSpec {
            allow_origins: Self::strings(raw.allow_origins.as_ref()),
            allow_methods: Self::strings(raw.allow_methods.as_ref()),
            allow_headers: Self::strings(raw.allow_headers.as_ref()),
            expose_headers: Self::strings(raw.expose_headers.as_ref()),
            allow_credentials: raw.allow_credentials.as_ref().is_some_and(|c| *c.get_ref()),
            max_age: match &raw.max_age {
                Some(value) => Some(self.duration(value, "max_age")?),
                None => None,
            },
        };
        if spec.allow_origins.is_empty() {
            self.missing(
                "allow_origins",
                "allow_origins = [\"https://app.example.com\"]",
            );
            return None;
        }
        for origin in raw.allow_origins.iter().flatten() {
            let text = origin.get_ref();
            let ok = text == "*"
                || (text.starts_with("http://") || text.starts_with("https://"))
                    && !text.ends_with('/')
                    && http::HeaderValue::from_str(text).is_ok();
            if !ok {
                self.report(
                    "allow_origins",
                    Some(origin),
                    format!("\"{text}\" is not an origin"),
                    "write scheme://host[:port] with no path or trailing slash, or \"*\"",
                );
                return None;
            }
        }
        for (setting, list) in [
            ("allow_methods", &raw.allow_methods),
            ("allow_headers", &raw.allow_headers),
            ("expose_headers", &raw.expose_headers),
        ] {
            for item in list.iter().flatten() {
                let text = item.get_ref();
                let valid = text == "*"
                    || if setting == "allow_methods" {
                        http::Method::from_bytes(text.as_bytes()).is_ok()
                    } else {
                        http::HeaderName::from_bytes(text.to_ascii_lowercase().as_bytes()).is_ok()
                    };
                if !valid {
                    self.report(
                        setting,
                        Some(item),
                        format!("\"{text}\" is not valid here"),
                        "list HTTP methods or header names, or \"*\"",
                    );
                    return None;
                }
            }
        }
        let wildcard = |list: &[String]| list.iter().any(|s| s == "*");
        if spec.allow_credentials {
            for (setting, list) in [
                ("allow_origins", &spec.allow_origins),
                ("allow_methods", &spec.allow_methods),
                ("allow_headers", &spec.allow_headers),
                ("expose_headers", &spec.expose_headers),
            ] {
                if wildcard(list) {
                    let at = raw.allow_credentials.as_ref();
                    self.report(
                        setting,
                        at,
                        format!("\"*\" in `{setting}` cannot be combined with `allow_credentials = true` (browsers reject it)"),
                        format!("list the allowed values in `{setting}`, or drop `allow_credentials`"),
                    );
                    return None;
                }
            }
        }
        for (setting, list) in [
            ("allow_origins", &spec.allow_origins),
            ("allow_methods", &spec.allow_methods),
            ("allow_headers", &spec.allow_headers),
            ("expose_headers", &spec.expose_headers),
        ] {
            if wildcard(list) && list.len() > 1 {
                self.report::<()>(
                    setting,
                    None,
                    "\"*\" is listed together with other values",
                    "use either \"*\" alone or a list of values",
                );
                return None;
            }
        }
        Some(spec)
    }

    fn rate_limit(&mut self, raw: &RawMiddleware) -> Option<RateLimitSpec> {
        let Some(requests) = &raw.requests else {
            self.missing("requests", "requests = 100");
            return None;
        };
        let requests = self.positive(requests, "requests")?;
        let per = self.required_duration(raw.per.as_ref(), "per", "per = \"1m\"")?;
        let burst = match &raw.burst {
            Some(burst) => self.positive(burst, "burst")?,
            None => requests,
        };
        let key = match raw.key.as_ref().map(|k| (k, k.get_ref().as_str())) {
            None | Some((_, "ip")) => RateKey::Ip,
            Some((_, "subject")) => RateKey::Subject,
            Some((value, other)) => {
                self.report(
                    "key",
                    Some(value),
                    format!("cannot rate-limit by \"{other}\""),
                    "use \"ip\" (the client's address) or \"subject\" (the JWT subject or API key name)",
                );
                return None;
            }
        };
        if per.checked_div(requests).is_none_or(|d| d.is_zero()) {
            self.report::<()>(
                "requests",
                None,
                format!("{requests} requests per {per:?} is finer than a nanosecond per request"),
                "use a longer `per` or fewer `requests`",
            );
            return None;
        }
        Some(RateLimitSpec {
            requests,
            per,
            burst,
            key,
        })
    }

    fn header_limit(&mut self, raw: &RawMiddleware) -> Option<MiddlewareKind> {
        if raw.max_count.is_none() && raw.max_size.is_none() {
            self.missing("max_size", "max_size = \"16KiB\"");
            return None;
        }
        let max_count = match &raw.max_count {
            Some(count) => Some(self.positive(count, "max_count")? as usize),
            None => None,
        };
        let max_size = match &raw.max_size {
            Some(size) => Some(self.size(size, "max_size")?),
            None => None,
        };
        Some(MiddlewareKind::HeaderLimit {
            max_count,
            max_size,
        })
    }

    fn compression(&mut self, raw: &RawMiddleware) -> Option<CompressionSpec> {
        let (mut gzip, mut brotli) = (raw.algorithms.is_none(), raw.algorithms.is_none());
        for alg in raw.algorithms.iter().flatten() {
            match alg.get_ref().as_str() {
                "gzip" => gzip = true,
                "br" | "brotli" => brotli = true,
                other => {
                    self.report(
                        "algorithms",
                        Some(alg),
                        format!("unknown compression \"{other}\""),
                        "use \"gzip\" and/or \"br\"",
                    );
                    return None;
                }
            }
        }
        if !gzip && !brotli {
            self.report::<()>(
                "algorithms",
                None,
                "no compression is enabled",
                "list \"gzip\" and/or \"br\", or remove the middleware",
            );
            return None;
        }
        let min_size = match &raw.min_size {
            Some(size) => {
                let bytes = self.size(size, "min_size")?;
                match u16::try_from(bytes) {
                    Ok(n) => n,
                    Err(_) => {
                        self.report(
                            "min_size",
                            Some(size),
                            format!("{bytes} bytes is above the largest threshold, 65535 bytes"),
                            "use a threshold of at most 65535 bytes, such as \"32KiB\"",
                        );
                        return None;
                    }
                }
            }
            None => 256,
        };
        Some(CompressionSpec {
            gzip,
            brotli,
            min_size,
        })
    }

    fn json_schema(&mut self, raw: &RawMiddleware) -> Option<JsonSchemaSpec> {
        if raw.schema.is_none() && raw.query_schema.is_none() {
            self.missing("schema", "schema = \"schemas/body.json\"");
            return None;
        }
        let schema = match &raw.schema {
            Some(file) => Some(self.file(file, "schema")?),
            None => None,
        };
        let query_schema = match &raw.query_schema {
            Some(file) => Some(self.file(file, "query_schema")?),
            None => None,
        };
        let max = match &raw.max {
            Some(max) => self.size(max, "max")?,
            None => 1024 * 1024,
        };
        Some(JsonSchemaSpec {
            schema,
            query_schema,
            max,
        })
    }

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
