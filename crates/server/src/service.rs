//! The request path: route, tell the guest how it matched, run the component, answer.

use std::time::Instant;

use bytes::Bytes;
use http::header::HOST;
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::Body;
use tessera_runtime::InvokeError;

use crate::app::{PATH_REST_HEADER, RESERVED_HEADER_PREFIX, ROUTE_HEADER};
use crate::router::RouteError;
use crate::{App, Rejection, ResponseBody};

impl App {
    /// Serves one request. `host` is the value for a missing `Host` header (HTTP/1.0
    /// clients): the address the connection was accepted on.
    pub async fn handle<B>(&self, request: Request<B>, host: &HeaderValue) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<tessera_runtime::HttpError>,
    {
        let started = self.access_log.then(Instant::now);
        let (mut parts, body) = request.into_parts();
        let matched = match self.router.at(&parts.method, parts.uri.path()) {
            Ok(matched) => matched,
            Err(error) => {
                let rejection = match error {
                    RouteError::NotFound => Rejection::NotFound,
                    RouteError::MethodNotAllowed(methods) => Rejection::MethodNotAllowed(methods),
                };
                let response = rejection.into_response(None);
                self.log_access(started, &parts.method, &parts.uri, "-", &response);
                return response;
            }
        };
        let target = matched.value;

        let headers = &mut parts.headers;
        remove_reserved(headers);
        headers.insert(ROUTE_HEADER, target.route.clone());
        for (name, (_, value)) in target.param_headers.iter().zip(matched.params()) {
            if let Ok(value) = HeaderValue::from_str(value) {
                headers.insert(name.clone(), value);
            }
        }
        if target.wildcard
            && let Some(Ok(rest)) = matched.rest.map(HeaderValue::from_str)
        {
            headers.insert(PATH_REST_HEADER, rest);
        }
        if parts.uri.authority().is_none() && !headers.contains_key(HOST) {
            headers.insert(HOST, host.clone());
        }

        let component = &target.component;
        let (method, uri) = (parts.method.clone(), parts.uri.clone());
        let response = match component.handle(Request::from_parts(parts, body)).await {
            Ok(response) => response.map(ResponseBody::Guest),
            Err(error) => self.reject(error, &method, &uri),
        };
        self.log_access(started, &method, &uri, component.id(), &response);
        response
    }

    fn reject(
        &self,
        error: InvokeError,
        method: &http::Method,
        uri: &http::Uri,
    ) -> Response<ResponseBody> {
        let component = error.component().to_string();
        let message = error.to_string();
        let rejection = Rejection::Invoke(error);
        let status = rejection.status();
        // Guest failures get a request id that links the client's answer to this log line;
        // an overloaded component is not a failure and logs at warn.
        let request_id = (status.is_server_error()
            && status != http::StatusCode::SERVICE_UNAVAILABLE)
            .then(|| self.request_ids.next());
        match &request_id {
            Some(id) => tracing::error!(
                request_id = %id,
                component,
                %method,
                path = uri.path(),
                status = status.as_u16(),
                "{message}"
            ),
            None => tracing::warn!(
                component,
                %method,
                path = uri.path(),
                status = status.as_u16(),
                "{message}"
            ),
        }
        rejection.into_response(request_id.as_deref())
    }

    fn log_access(
        &self,
        started: Option<Instant>,
        method: &http::Method,
        uri: &http::Uri,
        component: &str,
        response: &Response<ResponseBody>,
    ) {
        if let Some(started) = started {
            tracing::info!(
                target: "tessera::access",
                %method,
                path = uri.path(),
                status = response.status().as_u16(),
                component,
                micros = started.elapsed().as_micros() as u64,
            );
        }
    }
}

/// Removes every `tessera-*` header a client sent, so a guest can trust the ones it sees.
fn remove_reserved(headers: &mut HeaderMap) {
    let is_reserved = |name: &http::HeaderName| name.as_str().starts_with(RESERVED_HEADER_PREFIX);
    if headers.keys().any(is_reserved) {
        let reserved: Vec<_> = headers.keys().filter(|n| is_reserved(n)).cloned().collect();
        for name in reserved {
            headers.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_headers_are_removed() {
        let mut headers = HeaderMap::new();
        headers.insert("tessera-param-id", HeaderValue::from_static("forged"));
        headers.insert("tessera-route", HeaderValue::from_static("forged"));
        headers.insert("x-other", HeaderValue::from_static("kept"));
        remove_reserved(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-other"));
    }
}
