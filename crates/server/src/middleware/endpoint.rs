//! The end of a component's chain, and the two things every path to a component shares: how
//! its answer (or its failure) becomes the response, and the request's id.

use std::sync::Arc;

use http::{Method, Request, Response, Uri};
use tessera_runtime::{GuestBody, HttpComponent, InvokeError};

use super::{Chain, RequestBody, Responding, Step};
use crate::{Rejections, ResponseBody};

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

impl Step for Endpoint {
    fn call(&self, request: Request<RequestBody>) -> Responding {
        let component = self.component.clone();
        let rejections = self.rejections.clone();
        Box::pin(async move {
            let (method, uri) = (request.method().clone(), request.uri().clone());
            let id = request_id(&request);
            answer(
                component.handle(request).await,
                &rejections,
                &method,
                &uri,
                id,
            )
        })
    }
}

/// A component's response, or the host's for its failure, logged with the request's id. Every
/// path that calls a component ends here: a route without middleware, the end of a chain,
/// and a Wasm middleware step.
pub(crate) fn answer(
    outcome: Result<Response<GuestBody>, InvokeError>,
    rejections: &Rejections,
    method: &Method,
    uri: &Uri,
    request_id: Option<String>,
) -> Response<ResponseBody> {
    match outcome {
        Ok(response) => response.map(ResponseBody::Guest),
        Err(error) => rejections.reject(error, method, uri, request_id),
    }
}

/// The id a `request_id` step gave the request, if one did.
pub(crate) fn request_id<B>(request: &Request<B>) -> Option<String> {
    request
        .extensions()
        .get::<tower_http::request_id::RequestId>()
        .and_then(|id| id.header_value().to_str().ok())
        .map(str::to_string)
}
