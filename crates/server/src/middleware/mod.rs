//! Route middleware: the steps a route's requests pass before its component, built once at
//! load time from `[middleware.<name>]` and composed per route into one [`Chain`].
//!
//! # Layout
//! - `gate`: the shape of a step that admits or answers a request ([`gate::Gate`]).
//! - `identity`: who the client is, for the guest and for later steps.
//! - `jwt`, `api_key`, `guard`: authentication and authorization.
//! - `rate_limit`, `limits`, `json_schema`: admission.
//! - `tower_layers`: `cors`, `compression` and `request_id` from tower-http.
//! - `wasm`: components as steps.
//!
//! Routes without middleware do not go through any of this (see `service`).

mod api_key;
mod gate;
mod guard;
mod identity;
mod json_schema;
mod jwt;
mod limits;
mod rate_limit;
mod tower_layers;
mod wasm;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use http::{HeaderName, Request, Response};
use tessera_manifest::{
    CompressionSpec, Diagnostic, FileSetting, Manifest, ManifestError, MiddlewareKind,
};
use tessera_runtime::{HttpComponent, WasiBody};
use tower::{Layer as _, Service, ServiceExt};
use tower_http::cors::CorsLayer;

pub use identity::{AUTH_CLAIMS_HEADER, AUTH_METHOD_HEADER, AUTH_SUBJECT_HEADER, Identity};

use crate::{Rejections, ResponseBody};
use gate::{AnyGate, GateStage};

/// The request body inside a middleware chain: the same boxed body a middleware component's
/// outgoing request carries, so that passing one on converts nothing.
pub type RequestBody = WasiBody;

/// What a step's call returns: the response, in time.
pub(crate) type Responding = Pin<Box<dyn Future<Output = Response<ResponseBody>> + Send>>;

/// One step of a chain, holding the rest of the chain after it.
pub(crate) trait Stage: Send + Sync + 'static {
    fn call(&self, request: Request<RequestBody>) -> Responding;
}

/// A route's chain of steps from some step on, ending in its component.
///
/// Steps are called through `&self`, so a request clones nothing but the reference counts
/// a step's future keeps. (A stack of tower services would be cloned whole, layer by layer,
/// for every request: `Service::call` takes `&mut self`.)
#[derive(Clone)]
pub(crate) struct Chain(Arc<dyn Stage>);

impl Chain {
    pub(crate) fn new(stage: impl Stage) -> Self {
        Self(Arc::new(stage))
    }

    pub(crate) fn call(&self, request: Request<RequestBody>) -> Responding {
        self.0.call(request)
    }
}

/// A chain is a tower service too, so that tower-http's layers can wrap the rest of one.
impl Service<Request<RequestBody>> for Chain {
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = Infallibly;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<RequestBody>) -> Self::Future {
        Infallibly(self.0.call(request))
    }
}

/// A step's response as a tower service's result (which cannot be an error), without
/// boxing the step's future a second time.
pub(crate) struct Infallibly(Responding);

impl Future for Infallibly {
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.0.as_mut().poll(cx).map(Ok)
    }
}

/// A tower service (a tower-http layer around the rest of a chain) as a step.
///
/// `Service::call` takes `&mut self`, so a shared service is either cloned per request (what
/// `oneshot` on a clone does) or locked. A clone of a tower-http service copies its settings
/// (for `cors`, vectors of header values: allocations on every request), so the step keeps a
/// few clones, each behind a mutex held only while `call` builds the response future (it
/// awaits nothing). A request takes the first free one and waits only if all are in use.
struct TowerStage<S> {
    services: Box<[Mutex<S>]>,
}

impl<S: Clone> TowerStage<S> {
    fn new(service: S) -> Self {
        let clones = std::thread::available_parallelism().map_or(4, |n| n.get().clamp(2, 16));
        Self {
            services: (0..clones).map(|_| Mutex::new(service.clone())).collect(),
        }
    }
}

impl<S> Stage for TowerStage<S>
where
    S: Service<Request<RequestBody>, Response = Response<ResponseBody>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    fn call(&self, request: Request<RequestBody>) -> Responding {
        let mut service = self
            .services
            .iter()
            .find_map(|s| s.try_lock().ok())
            .unwrap_or_else(|| self.services[0].lock().expect("call does not panic"));
        // tower-http's services are ready when the rest of the chain is, and a `Chain` always
        // is; should one not be, a clone is driven to readiness as tower requires.
        let mut cx = Context::from_waker(std::task::Waker::noop());
        let future = match service.poll_ready(&mut cx) {
            Poll::Ready(Ok(())) => service.call(request),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => {
                let service = service.clone();
                return Box::pin(async move {
                    match service.oneshot(request).await {
                        Ok(response) => response,
                        Err(never) => match never {},
                    }
                });
            }
        };
        drop(service);
        Box::pin(async move {
            match future.await {
                Ok(response) => response,
                Err(never) => match never {},
            }
        })
    }
}

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
    fn file(file: &FileSetting, problem: impl std::fmt::Display) -> Self {
        Self {
            key: file.key.clone(),
            line: file.line,
            problem: format!("{} {problem}", file.path.display()),
            fix: "correct the file, or point the key at another".into(),
        }
    }

    fn with_fix(mut self, fix: &str) -> Self {
        self.fix = fix.to_string();
        self
    }
}

/// One built step.
enum Step {
    /// Admits or answers a request (see `gate`).
    Gate(AnyGate),
    /// Wraps the rest of the chain.
    Wrap(Wrap),
}

enum Wrap {
    Cors(Box<CorsLayer>),
    Compression(CompressionSpec),
    RequestId(HeaderName),
    Wasm(String),
}

/// Every named middleware of a manifest, built.
pub struct Middleware {
    steps: BTreeMap<String, Step>,
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
                    .map(|j| Step::Gate(AnyGate::Jwt(Arc::new(j)))),
                MiddlewareKind::ApiKey(keys) => Ok(Step::Gate(AnyGate::ApiKey(Arc::new(
                    api_key::ApiKey::build(keys, secret),
                )))),
                MiddlewareKind::Guard(guard) => Ok(Step::Gate(AnyGate::Guard(Arc::new(
                    guard::Guard::build(guard),
                )))),
                MiddlewareKind::RateLimit(limit) => Ok(Step::Gate(AnyGate::RateLimit(Arc::new(
                    rate_limit::RateLimit::build(limit),
                )))),
                MiddlewareKind::BodyLimit { max } => Ok(Step::Gate(AnyGate::BodyLimit(Arc::new(
                    limits::BodyLimit { max: *max },
                )))),
                MiddlewareKind::HeaderLimit {
                    max_count,
                    max_size,
                } => Ok(Step::Gate(AnyGate::HeaderLimit(Arc::new(
                    limits::HeaderLimit {
                        max_count: *max_count,
                        max_size: *max_size,
                    },
                )))),
                MiddlewareKind::RequestTimeout { timeout } => Ok(Step::Gate(
                    AnyGate::RequestTimeout(Arc::new(limits::RequestTimeout { timeout: *timeout })),
                )),
                MiddlewareKind::JsonSchema(schema) => json_schema::JsonSchema::build(schema)
                    .map(|s| Step::Gate(AnyGate::JsonSchema(Arc::new(s)))),
                MiddlewareKind::Cors(cors) => {
                    Ok(Step::Wrap(Wrap::Cors(Box::new(tower_layers::cors(cors)))))
                }
                MiddlewareKind::Compression(compression) => {
                    Ok(Step::Wrap(Wrap::Compression(compression.clone())))
                }
                MiddlewareKind::RequestId { header } => Ok(Step::Wrap(Wrap::RequestId(
                    HeaderName::try_from(header.as_str())
                        .expect("the manifest checked the header name"),
                ))),
                MiddlewareKind::Wasm { component } => Ok(Step::Wrap(Wrap::Wasm(component.clone()))),
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
            Ok(Self { steps })
        } else {
            Err(ManifestError { diagnostics })
        }
    }

    /// No middleware at all (for apps whose manifest defines none).
    pub fn none() -> Self {
        Self {
            steps: BTreeMap::new(),
        }
    }

    /// Whether any of `names` answers CORS preflight requests.
    pub(crate) fn has_cors(&self, names: &[String]) -> bool {
        names
            .iter()
            .any(|n| matches!(self.steps.get(n), Some(Step::Wrap(Wrap::Cors(_)))))
    }

    /// The header a `request_id` step among `names` uses, if any.
    pub(crate) fn request_id_header(&self, names: &[String]) -> Option<HeaderName> {
        names.iter().find_map(|n| match self.steps.get(n) {
            Some(Step::Wrap(Wrap::RequestId(header))) => Some(header.clone()),
            _ => None,
        })
    }

    /// The chain for a route: `names` in order, then `endpoint` (what answers the route: its
    /// component, [`component_endpoint`], or its files).
    pub(crate) fn chain(
        &self,
        names: &[String],
        endpoint: Chain,
        components: &BTreeMap<String, Arc<HttpComponent>>,
        rejections: &Arc<Rejections>,
    ) -> Chain {
        let mut chain = endpoint;
        // Gates next to each other run as one step: one future for all of them.
        let mut gates = Vec::new();
        for name in names.iter().rev() {
            let step = self
                .steps
                .get(name)
                .expect("the manifest checked middleware names");
            let wrap = match step {
                Step::Gate(gate) => {
                    gates.push(gate.clone());
                    continue;
                }
                Step::Wrap(wrap) => wrap,
            };
            chain = GateStage::wrap(std::mem::take(&mut gates), chain);
            chain = match wrap {
                Wrap::Cors(cors) => Chain::new(TowerStage::new(cors.layer(chain))),
                Wrap::Compression(spec) => tower_layers::compression(spec, chain),
                Wrap::RequestId(header) => tower_layers::request_id(header, chain),
                Wrap::Wasm(id) => {
                    let component = components
                        .get(id)
                        .expect("the manifest checked the component")
                        .clone();
                    wasm::WasmStep::wrap(component, rejections.clone(), chain)
                }
            };
        }
        GateStage::wrap(gates, chain)
    }
}

/// The end of a component's route's chain: the component.
pub(crate) fn component_endpoint(
    component: Arc<HttpComponent>,
    rejections: Arc<Rejections>,
) -> Chain {
    Chain::new(Endpoint {
        component,
        rejections,
    })
}

struct Endpoint {
    component: Arc<HttpComponent>,
    rejections: Arc<Rejections>,
}

impl Stage for Endpoint {
    fn call(&self, request: Request<RequestBody>) -> Responding {
        let component = self.component.clone();
        let rejections = self.rejections.clone();
        Box::pin(async move {
            let (method, uri) = (request.method().clone(), request.uri().clone());
            let request_id = request_id_of(&request);
            match component.handle(request).await {
                Ok(response) => response.map(ResponseBody::Guest),
                Err(error) => rejections.reject(error, &method, &uri, request_id),
            }
        })
    }
}

/// The id a `request_id` step gave the request, if one did.
fn request_id_of<B>(request: &Request<B>) -> Option<String> {
    request
        .extensions()
        .get::<tower_http::request_id::RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map(str::to_string)
}
