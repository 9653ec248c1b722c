//! The incoming request.

use std::io::Read;
use std::str::FromStr;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use serde::de::DeserializeOwned;
use wasip2::http::types::{IncomingBody, IncomingRequest, Method as WasiMethod};
use wasip2::io::streams::InputStream;

use crate::{Error, Result};

/// Header prefix of the route's `:name` parameters (set by the host, `tessera-param-<name>`).
const PARAM_PREFIX: &str = "tessera-param-";

/// An HTTP request, as the host passed it to the component.
///
/// Path parameters come from the manifest route's `:name` segments (or from a
/// [`Router`](crate::Router) pattern); the body is read when asked for, whole
/// ([`Request::bytes`], [`Request::text`], [`Request::json`]) or as a stream
/// ([`Request::body_reader`]).
pub struct Request {
    method: Method,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    params: Vec<(String, String)>,
    rest: Option<String>,
    incoming: Option<IncomingRequest>,
}

impl Request {
    pub(crate) fn from_incoming(incoming: IncomingRequest) -> Result<Self> {
        let method = match incoming.method() {
            WasiMethod::Get => Method::GET,
            WasiMethod::Head => Method::HEAD,
            WasiMethod::Post => Method::POST,
            WasiMethod::Put => Method::PUT,
            WasiMethod::Delete => Method::DELETE,
            WasiMethod::Connect => Method::CONNECT,
            WasiMethod::Options => Method::OPTIONS,
            WasiMethod::Trace => Method::TRACE,
            WasiMethod::Patch => Method::PATCH,
            WasiMethod::Other(other) => Method::from_bytes(other.as_bytes())
                .map_err(|_| Error::bad_request(format!("invalid method {other:?}")))?,
        };
        let path_with_query = incoming.path_with_query().unwrap_or_else(|| "/".into());
        let (path, query) = match path_with_query.split_once('?') {
            Some((path, query)) => (path.to_string(), Some(query.to_string())),
            None => (path_with_query, None),
        };
        let mut headers = HeaderMap::new();
        for (name, value) in incoming.headers().entries() {
            if let (Ok(name), Ok(value)) =
                (HeaderName::try_from(name), HeaderValue::try_from(value))
            {
                headers.append(name, value);
            }
        }
        let mut params = Vec::new();
        for (name, value) in &headers {
            if let Some(param) = name.as_str().strip_prefix(PARAM_PREFIX) {
                params.push((
                    param.to_string(),
                    decode(value.to_str().unwrap_or_default()),
                ));
            }
        }
        let rest = headers
            .get("tessera-path-rest")
            .and_then(|v| v.to_str().ok())
            .map(decode);
        Ok(Self {
            method,
            path,
            query,
            headers,
            params,
            rest,
            incoming: Some(incoming),
        })
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The path, as the client sent it (percent-encoded), without the query.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The query string, without the `?`.
    pub fn query(&self) -> Option<&str> {
        self.query.as_deref()
    }

    /// The first value of query parameter `name`, decoded.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .ok()?
            .into_iter()
            .find_map(|(k, v)| (k == name).then_some(v))
    }

    /// The query deserialised into `T` (a struct with `#[derive(Deserialize)]`); a query that
    /// does not fit is a 400 naming the problem.
    pub fn query_as<T: DeserializeOwned>(&self) -> Result<T> {
        serde_urlencoded::from_str(self.query.as_deref().unwrap_or_default())
            .map_err(|e| Error::bad_request(format!("invalid query: {e}")))
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// A header's value as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Path parameter `name` (a route's `:name` segment), decoded and parsed into `T`. A value
    /// that does not parse is a 400; a name the route does not have is a 500 (a bug in the
    /// component or its manifest).
    pub fn param<T>(&self, name: &str) -> Result<T>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let value = self
            .param_str(name)
            .ok_or_else(|| Error::internal(format!("the route has no path parameter `{name}`")))?;
        value
            .parse()
            .map_err(|e| Error::bad_request(format!("path parameter `{name}` ({value:?}): {e}")))
    }

    /// Path parameter `name`, decoded, as text.
    pub fn param_str(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.params
            .iter()
            .rev()
            .find_map(|(k, v)| (*k == name).then_some(v.as_str()))
    }

    /// For a `/...` route, the rest of the path after the matched segments (decoded).
    pub fn rest(&self) -> Option<&str> {
        self.rest.as_deref()
    }

    /// The authenticated subject, if an auth middleware step passed the request
    /// (`tessera-auth-subject`).
    pub fn subject(&self) -> Option<&str> {
        self.header("tessera-auth-subject")
    }

    /// The authenticated claims (a JWT's payload), if any (`tessera-auth-claims`).
    pub fn claims(&self) -> Option<serde_json::Value> {
        serde_json::from_str(self.header("tessera-auth-claims")?).ok()
    }

    pub(crate) fn set_params(&mut self, params: Vec<(String, String)>, rest: Option<String>) {
        self.params.extend(params);
        if rest.is_some() {
            self.rest = rest;
        }
    }

    /// The body as a stream, for bodies too large to hold at once. Once taken, the body cannot
    /// be read again.
    pub fn body_reader(&mut self) -> Result<BodyReader> {
        let incoming = self
            .incoming
            .take()
            .ok_or_else(|| Error::internal("the request body was already read"))?;
        let body = incoming
            .consume()
            .map_err(|()| Error::internal("the request body was already taken"))?;
        let stream = body
            .stream()
            .map_err(|()| Error::internal("the request body stream was already taken"))?;
        Ok(BodyReader {
            stream,
            _body: body,
            _request: incoming,
        })
    }

    /// The whole body.
    pub fn bytes(&mut self) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.body_reader()?
            .read_to_end(&mut bytes)
            .map_err(|e| Error::bad_request(format!("the request body was cut off: {e}")))?;
        Ok(bytes)
    }

    /// The whole body as UTF-8 text; anything else is a 400.
    pub fn text(&mut self) -> Result<String> {
        String::from_utf8(self.bytes()?)
            .map_err(|_| Error::bad_request("the request body is not UTF-8 text"))
    }

    /// The body deserialised from JSON. A `Content-Type` other than JSON is a 415; a body
    /// that is not JSON, or not the shape `T` wants, is a 400 naming the line and column.
    pub fn json<T: DeserializeOwned>(&mut self) -> Result<T> {
        if let Some(content_type) = self.header("content-type") {
            let essence = content_type.split(';').next().unwrap_or_default().trim();
            if !(essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")) {
                return Err(Error::new(
                    http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    format!("expected a JSON body, got content-type {content_type}"),
                ));
            }
        }
        let bytes = self.bytes()?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::bad_request(format!("invalid JSON body: {e}")))
    }
}

/// The request body as a [`Read`] stream.
pub struct BodyReader {
    // Fields drop in order: the stream before the body, the body before the request, as
    // WASI requires of child resources.
    stream: InputStream,
    _body: IncomingBody,
    _request: IncomingRequest,
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        Read::read(&mut self.stream, buf)
    }
}

fn decode(value: &str) -> String {
    percent_encoding::percent_decode_str(value)
        .decode_utf8_lossy()
        .into_owned()
}
