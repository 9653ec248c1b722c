//! The built-in gates, as one type: what a route's chain holds for each gate step.

use std::sync::Arc;

use http::Request;

use super::gate::{Gate as _, Verdict};
use super::{RequestBody, api_key, guard, json_schema, jwt, limits, rate_limit};

/// Any built-in gate.
#[derive(Clone)]
pub(crate) enum AnyGate {
    Jwt(Arc<jwt::Jwt>),
    ApiKey(Arc<api_key::ApiKey>),
    Guard(Arc<guard::Guard>),
    RateLimit(Arc<rate_limit::RateLimit>),
    BodyLimit(Arc<limits::BodyLimit>),
    HeaderLimit(Arc<limits::HeaderLimit>),
    RequestTimeout(Arc<limits::RequestTimeout>),
    /// One that waits: it reads the body. (A `rate_limit` with a `store` waits too, for
    /// the store.)
    JsonSchema(Arc<json_schema::JsonSchema>),
}

impl AnyGate {
    /// The verdict of a gate that decides at once; `None` for one that must wait.
    pub(super) fn admit_now(&self, request: &mut Request<RequestBody>) -> Option<Verdict> {
        Some(match self {
            Self::Jwt(g) => g.admit(request),
            Self::ApiKey(g) => g.admit(request),
            Self::Guard(g) => g.admit(request),
            Self::RateLimit(g) if g.is_shared() => return None,
            Self::RateLimit(g) => g.admit(request),
            Self::BodyLimit(g) => g.admit(request),
            Self::HeaderLimit(g) => g.admit(request),
            Self::RequestTimeout(g) => g.admit(request),
            Self::JsonSchema(_) => return None,
        })
    }

    pub(super) async fn admit(&self, request: &mut Request<RequestBody>) -> Verdict {
        match self {
            Self::JsonSchema(g) => g.admit(request).await,
            Self::RateLimit(g) if g.is_shared() => g.admit_shared(request).await,
            other => other
                .admit_now(request)
                .expect("only json_schema and shared rate limits wait"),
        }
    }
}
