//! Named middleware (`[middleware.<name>]`) as validated settings, one type per `type`.
//!
//! The manifest checks shape, files and impossible combinations; the server builds the
//! running middleware from these (parsing keys and compiling schemas, which can still fail
//! with a diagnostic that names the key).

mod check;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::VariableSource;

pub(crate) use check::{check_chain, check_middleware};

/// One `[middleware.<name>]`.
#[derive(Debug, Clone)]
pub struct MiddlewareSpec {
    /// Its name (the table name), as routes list it.
    pub name: String,
    /// The line of its table, for messages.
    pub line: Option<usize>,
    /// What it does, with its settings.
    pub kind: MiddlewareKind,
}

impl MiddlewareSpec {
    /// The manifest key of one of its settings, such as `middleware.auth.secret`.
    pub fn key(&self, setting: &str) -> String {
        format!("middleware.{}.{setting}", self.name)
    }
}

/// A middleware type and its settings.
#[derive(Debug, Clone)]
pub enum MiddlewareKind {
    /// `type = "jwt"`: a bearer token, verified.
    Jwt(JwtSpec),
    /// `type = "api_key"`: a key from a header or query parameter.
    ApiKey(ApiKeySpec),
    /// `type = "guard"`: requirements on the identity an earlier auth step established.
    Guard(GuardSpec),
    /// `type = "cors"`.
    Cors(CorsSpec),
    /// `type = "rate_limit"`: a token bucket per client.
    RateLimit(RateLimitSpec),
    /// `type = "body_limit"`: requests with a larger body get 413.
    BodyLimit {
        /// The largest body, in bytes.
        max: u64,
    },
    /// `type = "header_limit"`: requests with more or larger headers get 431.
    HeaderLimit {
        /// The most header fields.
        max_count: Option<usize>,
        /// The most bytes of header names and values together.
        max_size: Option<u64>,
    },
    /// `type = "request_timeout"`: a client that does not send its whole body in time gets 408.
    RequestTimeout {
        /// Time from the request head to the end of its body.
        timeout: Duration,
    },
    /// `type = "compression"`.
    Compression(CompressionSpec),
    /// `type = "request_id"`.
    RequestId {
        /// The header that carries the id (lower case).
        header: String,
    },
    /// `type = "json_schema"`.
    JsonSchema(JsonSchemaSpec),
    /// `type = "wasm"`: a component that answers the request or passes it on.
    Wasm {
        /// The component's id.
        component: String,
    },
}

impl MiddlewareKind {
    /// Whether this step establishes who the client is (for `guard` and per-subject limits).
    pub fn authenticates(&self) -> bool {
        matches!(self, Self::Jwt(_) | Self::ApiKey(_) | Self::Wasm { .. })
    }
}

/// A file named in a middleware's settings, resolved against the manifest's directory.
#[derive(Debug, Clone)]
pub struct FileSetting {
    /// The path.
    pub path: PathBuf,
    /// Its manifest key, such as `middleware.auth.jwks_file`.
    pub key: String,
    /// The line of that key.
    pub line: Option<usize>,
}

/// A value that may be a secret (`{{ secret.<name> }}`).
#[derive(Debug, Clone)]
pub struct SecretSetting {
    /// Where the value comes from.
    pub source: VariableSource,
    /// Its manifest key; [`Manifest::resolve_middleware`](crate::Manifest::resolve_middleware)
    /// returns the value under this key.
    pub key: String,
    /// The line of that key.
    pub line: Option<usize>,
}

/// `jwt` settings.
#[derive(Debug, Clone)]
pub struct JwtSpec {
    /// Accepted `alg` values, such as `HS256` or `RS256`.
    pub algorithms: Vec<String>,
    /// Where the verification key comes from.
    pub key: JwtKey,
    /// Accepted `iss` values; empty accepts any.
    pub issuer: Vec<String>,
    /// Accepted `aud` values; empty does not check `aud`.
    pub audience: Vec<String>,
    /// Clock skew allowed for `exp` and `nbf`.
    pub leeway: Duration,
    /// The header carrying `Bearer <token>` (lower case).
    pub header: String,
}

/// Where a `jwt` middleware's key comes from.
#[derive(Debug, Clone)]
pub enum JwtKey {
    /// An HMAC secret (`HS*`).
    Secret(SecretSetting),
    /// A PEM public key (`RS*`, `PS*`, `ES*`, `EdDSA`).
    PublicKeyFile(FileSetting),
    /// A JSON Web Key Set, chosen by the token's `kid`.
    JwksFile(FileSetting),
}

/// The `jwt` algorithms Tessera verifies.
pub const JWT_ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
    "ES384", "EdDSA",
];

/// `api_key` settings.
#[derive(Debug, Clone)]
pub struct ApiKeySpec {
    /// The header that carries the key (lower case), if any.
    pub header: Option<String>,
    /// The query parameter that carries the key, if any.
    pub query: Option<String>,
    /// Key name (the subject a guest sees) to key value.
    pub keys: Vec<(String, SecretSetting)>,
}

/// `guard` settings: every listed requirement must hold.
#[derive(Debug, Clone, Default)]
pub struct GuardSpec {
    /// Claims that must have these values (or, for array claims, contain them).
    pub claims: BTreeMap<String, toml::Value>,
    /// At least one of these roles must be in the roles claim.
    pub roles: Vec<String>,
    /// The claim that holds roles.
    pub roles_claim: String,
    /// Every one of these scopes must be granted (`scope`, space-separated, or `scp`).
    pub scopes: Vec<String>,
    /// The subject must be one of these.
    pub subjects: Vec<String>,
}

/// `cors` settings.
#[derive(Debug, Clone)]
pub struct CorsSpec {
    /// Allowed origins; `["*"]` allows any.
    pub allow_origins: Vec<String>,
    /// Allowed methods; `["*"]` allows any.
    pub allow_methods: Vec<String>,
    /// Allowed request headers; `["*"]` allows any.
    pub allow_headers: Vec<String>,
    /// Response headers the browser may read.
    pub expose_headers: Vec<String>,
    /// Whether credentials (cookies, authorization) are allowed.
    pub allow_credentials: bool,
    /// How long a preflight answer may be cached.
    pub max_age: Option<Duration>,
}

/// What a rate limit counts per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateKey {
    /// The client's IP address.
    Ip,
    /// The authenticated subject (a JWT's `sub`, or an API key's name).
    Subject,
}

/// `rate_limit` settings: `requests` per `per`, with bursts of up to `burst`.
#[derive(Debug, Clone)]
pub struct RateLimitSpec {
    /// Requests allowed per period.
    pub requests: u32,
    /// The period.
    pub per: Duration,
    /// The largest burst.
    pub burst: u32,
    /// What is counted.
    pub key: RateKey,
    /// The key-value store (a Redis one) that holds the buckets, shared by every node that
    /// uses it; without one the buckets are in this process.
    pub store: Option<StoreSetting>,
}

/// A setting that names a key-value store.
#[derive(Debug, Clone)]
pub struct StoreSetting {
    /// The store's name in the runtime configuration.
    pub name: String,
    /// Its manifest key (such as `middleware.limit.store`).
    pub key: String,
    /// The line of that key.
    pub line: Option<usize>,
}

/// `compression` settings.
#[derive(Debug, Clone)]
pub struct CompressionSpec {
    /// Whether gzip is offered.
    pub gzip: bool,
    /// Whether brotli is offered.
    pub brotli: bool,
    /// Responses smaller than this are sent as they are.
    pub min_size: u16,
}

/// `json_schema` settings.
#[derive(Debug, Clone)]
pub struct JsonSchemaSpec {
    /// The schema for the request body.
    pub schema: Option<FileSetting>,
    /// The schema for the query parameters, as an object of strings (numbers and booleans
    /// converted where the schema says so).
    pub query_schema: Option<FileSetting>,
    /// The largest body read for validation.
    pub max: u64,
}
