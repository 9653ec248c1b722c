//! A gate: a middleware step that looks at a request and either lets it through (possibly
//! changed) or answers it itself, without the rest of the chain (and without any Wasm).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{HeaderValue, Request, Response};
use tower_http::request_id::RequestId;

use super::{Chain, RequestBody, Responding, Stage};
use crate::{Rejection, ResponseBody};

/// What a gate decided: go on with the request (as the gate left it; a gate that wrapped the
/// body adds a [`Watch`] that reports a body breaking its rule while the rest of the chain
/// reads it), or refuse it.
pub(crate) type Verdict = Result<Option<Watch>, Rejection>;

/// A step that admits or answers requests, at once: it looks at the request, may change it
/// in place (headers, extensions, body), and decides. Taking the request by reference keeps
/// it where it is: passed by value, it would be copied into and out of every gate.
pub(crate) trait Gate: Send + Sync + 'static {
    fn admit(&self, request: &mut Request<RequestBody>) -> Verdict;
}

/// Why a watched request body was cut off.
#[derive(Debug, Clone, Copy)]
pub(crate) enum BodyFault {
    TooLarge(u64),
    TooSlow(Duration),
}

/// Shared between a gate and the body it wrapped: set when the body is cut off. The
/// component that was reading it fails or answers as it sees fit; the client is told what
/// really happened (413 or 408) instead.
#[derive(Clone, Default)]
pub(crate) struct Watch(Arc<OnceLock<BodyFault>>);

impl Watch {
    pub(crate) fn report(&self, fault: BodyFault) {
        let _ = self.0.set(fault);
    }

    fn verdict(&self) -> Option<Rejection> {
        self.0.get().map(|fault| match *fault {
            BodyFault::TooLarge(limit) => Rejection::PayloadTooLarge { limit },
            BodyFault::TooSlow(timeout) => Rejection::RequestTimeout { timeout },
        })
    }
}

/// Any built-in gate.
#[derive(Clone)]
pub(crate) enum AnyGate {
    Jwt(Arc<super::jwt::Jwt>),
    ApiKey(Arc<super::api_key::ApiKey>),
    Guard(Arc<super::guard::Guard>),
    RateLimit(Arc<super::rate_limit::RateLimit>),
    BodyLimit(Arc<super::limits::BodyLimit>),
    HeaderLimit(Arc<super::limits::HeaderLimit>),
    RequestTimeout(Arc<super::limits::RequestTimeout>),
    /// The one that waits: it reads the body.
    JsonSchema(Arc<super::json_schema::JsonSchema>),
}

impl AnyGate {
    /// The verdict of a gate that decides at once; `None` for one that must wait.
    fn admit_now(&self, request: &mut Request<RequestBody>) -> Option<Verdict> {
        Some(match self {
            Self::Jwt(g) => g.admit(request),
            Self::ApiKey(g) => g.admit(request),
            Self::Guard(g) => g.admit(request),
            Self::RateLimit(g) => g.admit(request),
            Self::BodyLimit(g) => g.admit(request),
            Self::HeaderLimit(g) => g.admit(request),
            Self::RequestTimeout(g) => g.admit(request),
            Self::JsonSchema(_) => return None,
        })
    }

    async fn admit(&self, request: &mut Request<RequestBody>) -> Verdict {
        match self {
            Self::JsonSchema(g) => g.admit(request).await,
            other => other.admit_now(request).expect("only json_schema waits"),
        }
    }
}

/// Runs consecutive gates, in order, in front of the rest of the chain.
///
/// Gates that decide at once run inside [`Stage::call`], so a chain of them adds no future
/// of its own: a request they pass goes straight on to the rest of the chain, and one they
/// refuse is answered with a ready response. Only a gate that waits (`json_schema`), or a
/// body being watched, needs a future around the rest.
pub(crate) struct GateStage {
    gates: Arc<[AnyGate]>,
    next: Chain,
}

impl GateStage {
    /// `gates` in reverse order (as a chain is built, from its end); none leaves `next`
    /// as it is.
    pub(crate) fn wrap(mut gates: Vec<AnyGate>, next: Chain) -> Chain {
        if gates.is_empty() {
            return next;
        }
        gates.reverse();
        Chain::new(Self {
            gates: gates.into(),
            next,
        })
    }
}

impl Stage for GateStage {
    fn call(&self, mut request: Request<RequestBody>) -> Responding {
        let mut watches = Vec::new();
        for (at, gate) in self.gates.iter().enumerate() {
            match gate.admit_now(&mut request) {
                Some(Ok(watch)) => watches.extend(watch),
                Some(Err(rejection)) => {
                    let response = refuse(request_id(&request).as_ref(), rejection);
                    return Box::pin(std::future::ready(response));
                }
                None => {
                    let (gates, next) = (self.gates.clone(), self.next.clone());
                    return Box::pin(async move {
                        for gate in &gates[at..] {
                            match gate.admit(&mut request).await {
                                Ok(watch) => watches.extend(watch),
                                Err(rejection) => {
                                    return refuse(request_id(&request).as_ref(), rejection);
                                }
                            }
                        }
                        let id = request_id(&request);
                        watched(next.call(request), watches, id).await
                    });
                }
            }
        }
        if watches.is_empty() {
            return self.next.call(request);
        }
        let id = request_id(&request);
        Box::pin(watched(self.next.call(request), watches, id))
    }
}

/// The rest of the chain's response, unless a watched body broke its gate's rule meanwhile.
async fn watched(
    responding: Responding,
    watches: Vec<Watch>,
    request_id: Option<HeaderValue>,
) -> Response<ResponseBody> {
    let response = responding.await;
    match watches.iter().find_map(Watch::verdict) {
        Some(rejection) => refuse(request_id.as_ref(), rejection),
        None => response,
    }
}

/// The id a `request_id` step gave the request: a rejection's body carries it.
fn request_id(request: &Request<RequestBody>) -> Option<HeaderValue> {
    request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.header_value().clone())
}

fn refuse(request_id: Option<&HeaderValue>, rejection: Rejection) -> Response<ResponseBody> {
    rejection.into_response(request_id.and_then(|id| id.to_str().ok()))
}
