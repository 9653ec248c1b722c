//! `type = "wasm"`: a component as a middleware step. It receives the request like any
//! handler and either answers it, or passes it on by sending an outgoing request to
//! `http://next.tessera.internal/<path>`: the host runs the rest of the chain in-process with
//! that request and gives the guest the response, which it may change before answering.

use std::pin::Pin;
use std::sync::Arc;
use std::task::Context;

use http::header::HOST;
use http::uri::PathAndQuery;
use http::{HeaderMap, Request, Uri};
use http_body_util::BodyExt;
use tessera_runtime::{HttpComponent, HttpError, Next, WasiBody};

use super::identity::Identity;
use super::{Chain, RequestBody, Responding, Step, answer, request_id};
use crate::body::NextFrame;
use crate::{RESERVED_HEADER_PREFIX, Rejections, ResponseBody};

pub(crate) struct WasmStep {
    component: Arc<HttpComponent>,
    next: Chain,
    rejections: Arc<Rejections>,
}

impl WasmStep {
    pub(crate) fn wrap(
        component: Arc<HttpComponent>,
        rejections: Arc<Rejections>,
        next: Chain,
    ) -> Chain {
        Chain::new(Self {
            component,
            next,
            rejections,
        })
    }
}

impl Step for WasmStep {
    fn call(&self, request: Request<RequestBody>) -> Responding {
        let component = self.component.clone();
        let rejections = self.rejections.clone();
        let chain = self.next.clone();
        Box::pin(async move {
            let (method, uri) = (request.method().clone(), request.uri().clone());
            let id = request_id(&request);
            let original = Original::of(&request);
            let next: Next = Box::new(move |passed: Request<WasiBody>| {
                Box::pin(async move {
                    let request = original.restore(passed);
                    let response = chain.call(request).await;
                    response.map(|body| Relayed::spawn(body).boxed_unsync())
                })
            });
            let outcome = component.handle_with_next(request, next).await;
            answer(outcome, &rejections, &method, &uri, id)
        })
    }
}

/// What the host keeps of the request a middleware component received, to rebuild the
/// request it passes on: the URI's scheme and authority, `Host`, the host-set `tessera-*`
/// headers (route, parameters, identity) and the extensions earlier steps added.
struct Original {
    uri: Uri,
    host: Option<http::HeaderValue>,
    reserved: HeaderMap,
    extensions: http::Extensions,
}

impl Original {
    fn of(request: &Request<RequestBody>) -> Self {
        let reserved = request
            .headers()
            .iter()
            .filter(|(name, _)| name.as_str().starts_with(RESERVED_HEADER_PREFIX))
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        Self {
            uri: request.uri().clone(),
            host: request.headers().get(HOST).cloned(),
            reserved,
            extensions: request.extensions().clone(),
        }
    }

    /// The request the guest passed on, as the next step sees it: the guest's method, path,
    /// query, headers and body; the original's authority and the host's own headers.
    fn restore(self, passed: Request<WasiBody>) -> Request<RequestBody> {
        let (mut parts, body) = passed.into_parts();
        let mut uri = self.uri.into_parts();
        uri.path_and_query = Some(
            parts
                .uri
                .path_and_query()
                .cloned()
                .unwrap_or_else(|| PathAndQuery::from_static("/")),
        );
        parts.uri = Uri::from_parts(uri).expect("an original URI with a new path is a URI");
        if let Some(host) = self.host {
            parts.headers.insert(HOST, host);
        }
        let passed_identity = !self
            .reserved
            .contains_key(super::identity::AUTH_SUBJECT_HEADER);
        for (name, value) in &self.reserved {
            parts.headers.insert(name, value.clone());
        }
        parts.extensions = self.extensions;
        // A middleware component that authenticates passes the identity on in the identity
        // headers; later steps (guard, rate limits) see it like a built-in's.
        if passed_identity && let Some(identity) = Identity::from_headers(&parts.headers) {
            parts.extensions.insert(identity);
        }
        Request::from_parts(parts, body)
    }
}

/// How many frames of the next step's response may wait for the middleware component to
/// read them.
const RELAY_FRAMES: usize = 64;

/// The next step's response body, driven by a task of its own.
///
/// A handler's instance runs only while its response body is polled (see `invoke`). A
/// middleware component usually finishes sending the request body before it reads the
/// response (wstd's `Client::send` does): if the handler streams its answer as it reads, the
/// two would wait on each other. Driving the handler's body here, with a bounded buffer, lets
/// it keep reading — as a TCP connection's buffers would between two servers.
struct Relayed {
    frames: tokio::sync::mpsc::Receiver<Result<http_body::Frame<bytes::Bytes>, HttpError>>,
}

impl Relayed {
    fn spawn(mut body: ResponseBody) -> Self {
        let (sender, frames) = tokio::sync::mpsc::channel(RELAY_FRAMES);
        tokio::spawn(async move {
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|e| HttpError::InternalError(Some(e.to_string())));
                if sender.send(frame).await.is_err() {
                    break; // the middleware dropped the response: stop the handler
                }
            }
        });
        Self { frames }
    }
}

impl http_body::Body for Relayed {
    type Data = bytes::Bytes;
    type Error = HttpError;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> NextFrame<HttpError> {
        self.frames.poll_recv(cx)
    }
}
