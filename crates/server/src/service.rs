//! The request path: route, tell the guest how it matched, run the component, answer.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;

use http::header::{ACCESS_CONTROL_REQUEST_METHOD, CONNECTION, HOST, TRANSFER_ENCODING};
use http::{HeaderMap, HeaderValue, Method, Request, Response, Version};
use http_body::Body;
use http_body_util::BodyExt;

use crate::app::{Endpoint, PATH_REST_HEADER, RESERVED_HEADER_PREFIX, ROUTE_HEADER};
use crate::body::Holding;
use crate::middleware::{BodyFault, Watch, answer};
use crate::router::RouteError;
use crate::trace::{ServerSpan, server_span};
use crate::{App, Rejection, ResponseBody};

/// Where a request came from, as the accept loop knows it.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The value for a missing `Host` header (HTTP/1.0 clients): the address the connection
    /// was accepted on.
    pub host: HeaderValue,
    /// The client's address.
    pub peer: SocketAddr,
    /// Whether the connection is TLS: requests that do not say their scheme (HTTP/1.1's
    /// origin-form) are then given `https`, which is what components see.
    pub secure: bool,
    /// Whether this server read the request off the wire: its HTTP/1 framing is then checked
    /// (`ambiguous`). A request handed in by another server (Tessera as a library) was that
    /// server's to check, and one built in a test need not say `Host`.
    pub wire: bool,
    /// The client's IP address as text, for the traces' `client.address`: formatted on the
    /// connection's first traced request, not on every one (it was a third of the request
    /// span's instructions).
    client_ip: OnceLock<Arc<str>>,
}

impl Connection {
    /// A connection from `peer`, accepted on `host` (see the fields).
    pub fn new(host: HeaderValue, peer: SocketAddr, secure: bool, wire: bool) -> Self {
        Self {
            host,
            peer,
            secure,
            wire,
            client_ip: OnceLock::new(),
        }
    }

    /// The client's IP address as text.
    pub(crate) fn client_ip(&self) -> Arc<str> {
        self.client_ip
            .get_or_init(|| self.peer.ip().to_string().into())
            .clone()
    }
}

/// The client's address, in a request's extensions for middleware (per-IP rate limits).
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

impl App {
    /// Serves one request that arrived on `connection`.
    pub async fn handle<B>(
        &self,
        request: Request<B>,
        connection: &Connection,
    ) -> Response<ResponseBody>
    where
        B: Body<Data = Bytes> + Send + 'static,
        B::Error: Into<tessera_runtime::HttpError>,
    {
        let started = self.access_log.then(Instant::now);
        let (mut parts, body) = request.into_parts();
        if connection.wire
            && let Some(problem) = ambiguous(&parts)
        {
            let mut response = Rejection::BadRequest {
                message: problem.into(),
            }
            .into_response(None);
            response
                .headers_mut()
                .insert(CONNECTION, HeaderValue::from_static("close"));
            return self.unrouted(started, &parts, connection, response);
        }
        let matched = match self.router.at(&parts.method, parts.uri.path()) {
            Ok(matched) => matched,
            Err(RouteError::MethodNotAllowed(methods)) => match preflight_method(&parts)
                .and_then(|wanted| self.router.at(&wanted, parts.uri.path()).ok())
                .filter(|matched| matched.value.cors)
            {
                Some(matched) => matched,
                None => {
                    let response = Rejection::MethodNotAllowed(methods).into_response(None);
                    return self.unrouted(started, &parts, connection, response);
                }
            },
            Err(RouteError::NotFound) => {
                let response = Rejection::NotFound.into_response(None);
                return self.unrouted(started, &parts, connection, response);
            }
        };
        let target = matched.value;
        let meter = target.meter.as_ref().map(|route| {
            let (meter, usage) = route.start();
            parts.extensions.insert(usage);
            meter
        });
        let trace = self
            .tracer
            .as_ref()
            .map(|tracer| server_span(tracer, &parts, Some(&target.pattern), connection));
        if let Some(trace) = &trace {
            parts.extensions.insert(trace.clone());
        }

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
            headers.insert(HOST, connection.host.clone());
        }
        if connection.secure
            && parts.uri.scheme().is_none()
            && let Some(uri) = with_https(&parts.uri, headers.get(HOST))
        {
            parts.uri = uri;
        }

        let (method, uri) = (parts.method.clone(), parts.uri.clone());
        // A body that breaks off (malformed chunks, a client gone mid-body) fails the
        // component reading it; the client, not the component, is to blame for that.
        let watch = (!body.is_end_stream()).then(Watch::default);
        let body = {
            let watch = watch.clone();
            body.map_err(move |error| {
                if let Some(watch) = &watch {
                    watch.report(BodyFault::Broken);
                }
                error
            })
        };
        let mut response = match (&target.chain, &target.endpoint) {
            // The common case stays as lean as it was before middleware existed: no boxed
            // body, no extensions, no service stack.
            (None, Endpoint::Component(component)) => {
                let outcome = component.handle(Request::from_parts(parts, body)).await;
                answer(outcome, &self.rejections, &method, &uri, None)
            }
            (None, Endpoint::Files(files)) => files.serve(&Request::from_parts(parts, ())).await,
            (Some(chain), _) => {
                parts.extensions.insert(ClientAddr(connection.peer));
                let body = body.map_err(Into::into).boxed_unsync();
                chain.call(Request::from_parts(parts, body)).await
            }
        };
        if response.status().is_server_error()
            && let Some(rejection) = watch.and_then(|watch| watch.verdict())
        {
            response = rejection.into_response(None);
        }
        let request_id = target
            .request_id_header
            .as_ref()
            .and_then(|name| response.headers().get(name));
        self.log_access(
            started,
            &method,
            &uri,
            target.endpoint.name(),
            request_id,
            &response,
        );
        let meter = meter.map(|meter| meter.count(&method, &response));
        let span = trace.map(|trace| ServerSpan::answered(trace, response.status()));
        if meter.is_none() && span.is_none() {
            return response;
        }
        Holding::wrap(response, (meter, span))
    }

    /// Logs, counts and traces a request no route matched.
    fn unrouted(
        &self,
        started: Option<Instant>,
        parts: &http::request::Parts,
        connection: &Connection,
        response: Response<ResponseBody>,
    ) -> Response<ResponseBody> {
        self.log_access(started, &parts.method, &parts.uri, "-", None, &response);
        if let Some(metrics) = &self.metrics {
            metrics.unrouted(&parts.method, response.status());
        }
        if let Some(tracer) = &self.tracer {
            let trace = server_span(tracer, parts, None, connection);
            drop(ServerSpan::answered(trace, response.status()));
        }
        response
    }

    fn log_access(
        &self,
        started: Option<Instant>,
        method: &Method,
        uri: &http::Uri,
        component: &str,
        request_id: Option<&HeaderValue>,
        response: &Response<ResponseBody>,
    ) {
        if let Some(started) = started {
            let request_id = request_id
                .and_then(|v| v.to_str().ok())
                .map(tracing::field::display);
            tracing::info!(
                target: "tessera::access",
                %method,
                path = uri.path(),
                status = response.status().as_u16(),
                component,
                request_id,
                micros = started.elapsed().as_micros() as u64,
            );
        }
    }
}

/// For a CORS preflight (`OPTIONS` with `Access-Control-Request-Method`), the method of the
/// request it asks about: a `cors` step on that method's route answers the preflight even
/// though the route does not accept `OPTIONS`.
fn preflight_method(parts: &http::request::Parts) -> Option<Method> {
    if parts.method != Method::OPTIONS {
        return None;
    }
    let wanted = parts.headers.get(ACCESS_CONTROL_REQUEST_METHOD)?;
    Method::from_bytes(wanted.as_bytes()).ok()
}

/// What makes an HTTP/1 request's framing ambiguous that hyper lets through. A proxy in front
/// may read such a request differently from hyper, and take the rest of its body for another
/// request (request smuggling), so it is refused and its connection closed (RFC 9112, 3.2 and
/// 6.3). hyper itself refuses differing `Content-Length`s, codings other than a final
/// `chunked`, `Transfer-Encoding` in HTTP/1.0 and obsolete line folding; it keeps one of two
/// equal `Content-Length`s, and drops `Content-Length` beside `Transfer-Encoding` (closing the
/// connection after the answer), so neither reaches this check.
fn ambiguous(parts: &http::request::Parts) -> Option<&'static str> {
    if !matches!(parts.version, Version::HTTP_10 | Version::HTTP_11) {
        return None;
    }
    let headers = &parts.headers;
    if headers.contains_key(TRANSFER_ENCODING) {
        let mut codings = headers
            .get_all(TRANSFER_ENCODING)
            .iter()
            .flat_map(|value| value.as_bytes().split(|&b| b == b','));
        let chunked = codings
            .next()
            .is_some_and(|coding| coding.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        if !chunked || codings.next().is_some() {
            return Some("Transfer-Encoding must be `chunked`, once");
        }
    }
    match headers.get_all(HOST).iter().count() {
        0 if parts.version == Version::HTTP_11 => Some("an HTTP/1.1 request needs a Host header"),
        0 | 1 => None,
        _ => Some("the request has more than one Host header"),
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

/// `uri` (origin-form, as HTTP/1.1 sends it) made absolute with the `https` scheme and the
/// `Host` header's authority; `None` if the `Host` header is not an authority.
fn with_https(uri: &http::Uri, host: Option<&HeaderValue>) -> Option<http::Uri> {
    let authority = http::uri::Authority::try_from(host?.as_bytes()).ok()?;
    let mut parts = uri.clone().into_parts();
    parts.scheme = Some(http::uri::Scheme::HTTPS);
    parts.authority = Some(authority);
    if parts.path_and_query.is_none() {
        parts.path_and_query = Some(http::uri::PathAndQuery::from_static("/"));
    }
    http::Uri::from_parts(parts).ok()
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
