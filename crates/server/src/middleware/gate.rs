//! A gate: a middleware step that looks at a request and either lets it through (possibly
//! changed) or answers it itself, without the rest of the chain (and without any Wasm); and
//! [`GateStep`], which runs consecutive gates as one step. The gates themselves are listed in
//! `gates`.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::{Request, Response};

use super::endpoint::request_id;
use super::gates::AnyGate;
use super::{Chain, RequestBody, Responding, Step};
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
    /// The body itself failed: malformed chunks, or the client gone mid-body.
    Broken,
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

    pub(crate) fn verdict(&self) -> Option<Rejection> {
        self.0.get().map(|fault| match *fault {
            BodyFault::TooLarge(limit) => Rejection::PayloadTooLarge { limit },
            BodyFault::TooSlow(timeout) => Rejection::RequestTimeout { timeout },
            BodyFault::Broken => Rejection::BadRequest {
                message: "the request body is malformed or ended early".into(),
            },
        })
    }
}

/// Runs consecutive gates, in order, in front of the rest of the chain.
///
/// Gates that decide at once run inside [`Step::call`], so a chain of them adds no future
/// of its own: a request they pass goes straight on to the rest of the chain, and one they
/// refuse is answered with a ready response. Only a gate that waits (`json_schema`), or a
/// body being watched, needs a future around the rest.
pub(crate) struct GateStep {
    /// Each gate with its name in the manifest (`[middleware.<name>]`).
    gates: Arc<[(Arc<str>, AnyGate)]>,
    next: Chain,
}

/// On a response a gate answered: the name of the step that refused the request (for the
/// `tessera_middleware_rejections_total` metric).
#[derive(Debug, Clone)]
pub(crate) struct RejectedBy(pub(crate) Arc<str>);

impl GateStep {
    /// `gates` in reverse order (as a chain is built, from its end); none leaves `next`
    /// as it is.
    pub(crate) fn wrap(mut gates: Vec<(Arc<str>, AnyGate)>, next: Chain) -> Chain {
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

impl Step for GateStep {
    fn call(&self, mut request: Request<RequestBody>) -> Responding {
        let mut watches = Vec::new();
        for (at, (name, gate)) in self.gates.iter().enumerate() {
            match gate.admit_now(&mut request) {
                Some(Ok(watch)) => watches.extend(watch.map(|w| (name.clone(), w))),
                Some(Err(rejection)) => {
                    let response = refuse(request_id(&request).as_deref(), rejection, name);
                    return Box::pin(std::future::ready(response));
                }
                None => {
                    let (gates, next) = (self.gates.clone(), self.next.clone());
                    return Box::pin(async move {
                        for (name, gate) in &gates[at..] {
                            match gate.admit(&mut request).await {
                                Ok(watch) => watches.extend(watch.map(|w| (name.clone(), w))),
                                Err(rejection) => {
                                    let id = request_id(&request);
                                    return refuse(id.as_deref(), rejection, name);
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
    watches: Vec<(Arc<str>, Watch)>,
    request_id: Option<String>,
) -> Response<ResponseBody> {
    let response = responding.await;
    let broken = watches
        .iter()
        .find_map(|(name, watch)| Some((name, watch.verdict()?)));
    match broken {
        Some((name, rejection)) => refuse(request_id.as_deref(), rejection, name),
        None => response,
    }
}

/// A rejection's response by step `name`, its body carrying the request's id (from a
/// `request_id` step).
fn refuse(
    request_id: Option<&str>,
    rejection: Rejection,
    name: &Arc<str>,
) -> Response<ResponseBody> {
    let mut response = rejection.into_response(request_id);
    response.extensions_mut().insert(RejectedBy(name.clone()));
    response
}
