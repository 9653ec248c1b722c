//! [`Middleware`]: every `[middleware.<name>]` of a manifest, built once at load time (keys
//! parsed, schemas compiled, limiters created), and the errors of building one.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::HeaderName;
use tessera_manifest::{
    CompressionSpec, Diagnostic, FileSetting, Manifest, ManifestError, MiddlewareKind,
};

use tessera_runtime::capabilities::kv::KvStore;

use super::gates::AnyGate;
use super::{api_key, guard, json_schema, jwt, limits, rate_limit, tower_layers};

/// A middleware setting that turned out unusable when it was built (a key file that is not
/// a key, a schema that is not a schema).
#[derive(Debug)]
pub(crate) struct BuildError {
    key: String,
    line: Option<usize>,
    problem: String,
    fix: String,
}

impl BuildError {
    pub(super) fn file(file: &FileSetting, problem: impl std::fmt::Display) -> Self {
        Self {
            key: file.key.clone(),
            line: file.line,
            problem: format!("{} {problem}", file.path.display()),
            fix: "correct the file, or point the key at another".into(),
        }
    }

    pub(super) fn with_fix(mut self, fix: &str) -> Self {
        self.fix = fix.to_string();
        self
    }
}

/// One `[middleware.<name>]`, built: what each route's chain makes a step of.
pub(crate) enum BuiltStep {
    /// Admits or answers a request (see `gate`).
    Gate(AnyGate),
    /// Wrap the rest of the chain.
    Cors(Box<tower_layers::Cors>),
    Compression(CompressionSpec),
    RequestId(HeaderName),
    Wasm(String),
}

/// Every named middleware of a manifest, built.
pub struct Middleware {
    pub(crate) steps: BTreeMap<String, BuiltStep>,
    /// Whether each step of a chain gets a span of its own ([`Middleware::trace_steps`]).
    pub(crate) traced: bool,
}

impl Middleware {
    /// Builds every `[middleware.<name>]`: keys read and parsed, schemas compiled, limiters
    /// created. `secrets` holds the values of secret settings by manifest key
    /// ([`Manifest::resolve_middleware`]).
    pub fn build(
        manifest: &Manifest,
        secrets: &BTreeMap<String, String>,
    ) -> Result<Self, ManifestError> {
        let secret = |key: &str| secrets.get(key).cloned();
        let mut steps = BTreeMap::new();
        let mut diagnostics = Vec::new();
        for (name, spec) in &manifest.middleware {
            let built = match &spec.kind {
                MiddlewareKind::Jwt(jwt) => jwt::Jwt::build(spec, jwt, secret)
                    .map(|j| BuiltStep::Gate(AnyGate::Jwt(Arc::new(j)))),
                MiddlewareKind::ApiKey(keys) => Ok(BuiltStep::Gate(AnyGate::ApiKey(Arc::new(
                    api_key::ApiKey::build(keys, secret),
                )))),
                MiddlewareKind::Guard(guard) => Ok(BuiltStep::Gate(AnyGate::Guard(Arc::new(
                    guard::Guard::build(guard),
                )))),
                MiddlewareKind::RateLimit(limit) => Ok(BuiltStep::Gate(AnyGate::RateLimit(
                    Arc::new(rate_limit::RateLimit::build(name, limit)),
                ))),
                MiddlewareKind::BodyLimit { max } => Ok(BuiltStep::Gate(AnyGate::BodyLimit(
                    Arc::new(limits::BodyLimit { max: *max }),
                ))),
                MiddlewareKind::HeaderLimit {
                    max_count,
                    max_size,
                } => Ok(BuiltStep::Gate(AnyGate::HeaderLimit(Arc::new(
                    limits::HeaderLimit {
                        max_count: *max_count,
                        max_size: *max_size,
                    },
                )))),
                MiddlewareKind::RequestTimeout { timeout } => Ok(BuiltStep::Gate(
                    AnyGate::RequestTimeout(Arc::new(limits::RequestTimeout { timeout: *timeout })),
                )),
                MiddlewareKind::JsonSchema(schema) => json_schema::JsonSchema::build(schema)
                    .map(|s| BuiltStep::Gate(AnyGate::JsonSchema(Arc::new(s)))),
                MiddlewareKind::Cors(cors) => {
                    Ok(BuiltStep::Cors(Box::new(tower_layers::cors(cors))))
                }
                MiddlewareKind::Compression(compression) => {
                    Ok(BuiltStep::Compression(compression.clone()))
                }
                MiddlewareKind::RequestId { header } => Ok(BuiltStep::RequestId(
                    HeaderName::try_from(header.as_str())
                        .expect("the manifest checked the header name"),
                )),
                MiddlewareKind::Wasm { component } => Ok(BuiltStep::Wasm(component.clone())),
            };
            match built {
                Ok(step) => {
                    steps.insert(name.clone(), step);
                }
                Err(error) => diagnostics.push(
                    Diagnostic::new(&manifest.file, error.key, error.problem, error.fix)
                        .at_line(error.line),
                ),
            }
        }
        if diagnostics.is_empty() {
            Ok(Self {
                steps,
                traced: false,
            })
        } else {
            Err(ManifestError { diagnostics })
        }
    }

    /// No middleware at all (for apps whose manifest defines none).
    pub fn none() -> Self {
        Self {
            steps: BTreeMap::new(),
            traced: false,
        }
    }

    /// Gives each `rate_limit` step with a `store` that store, as `open` has it (the
    /// manifest's check made sure it is a Redis one); until then, and if `open` has none,
    /// such a step admits every request.
    pub fn share_limits(&self, open: impl Fn(&str) -> Option<Arc<dyn KvStore>>) {
        for step in self.steps.values() {
            if let BuiltStep::Gate(AnyGate::RateLimit(limit)) = step {
                limit.share(&open);
            }
        }
    }

    /// Composes chains whose steps each make a span when the request is traced (one gate
    /// step per gate, rather than neighbouring gates run as one).
    pub fn trace_steps(&mut self, enabled: bool) {
        self.traced = enabled;
    }

    /// Whether any of `names` answers CORS preflight requests.
    pub(crate) fn has_cors(&self, names: &[String]) -> bool {
        names
            .iter()
            .any(|n| matches!(self.steps.get(n), Some(BuiltStep::Cors(_))))
    }

    /// The header a `request_id` step among `names` uses, if any.
    pub(crate) fn request_id_header(&self, names: &[String]) -> Option<HeaderName> {
        names.iter().find_map(|n| match self.steps.get(n) {
            Some(BuiltStep::RequestId(header)) => Some(header.clone()),
            _ => None,
        })
    }
}
