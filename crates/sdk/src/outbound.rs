//! Outbound HTTP (`wasi:http/outgoing-handler`), to the hosts the manifest's
//! `allowed_outbound_hosts` allows.

use std::io::{Read as _, Write as _};

use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use serde::de::DeserializeOwned;
use wasip2::http::outgoing_handler;
use wasip2::http::types::{
    ErrorCode, Fields, Method as WasiMethod, OutgoingBody, OutgoingRequest, Scheme,
};

use crate::{Error, Result};

/// A request to another service.
///
/// ```no_run
/// use tessera_sdk::outbound::OutboundRequest;
/// # fn main() -> tessera_sdk::Result<()> {
/// let reply = OutboundRequest::get("https://api.example.com/quote")
///     .header("accept", "application/json")
///     .send()?;
/// let quote: serde_json::Value = reply.json()?;
/// # Ok(()) }
/// ```
pub struct OutboundRequest {
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl OutboundRequest {
    /// A request with this method to `url` (absolute: scheme, host, path).
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        Self {
            method,
            url: url.into(),
            headers: HeaderMap::new(),
            body: Vec::new(),
        }
    }

    /// A `GET`.
    pub fn get(url: impl Into<String>) -> Self {
        Self::new(Method::GET, url)
    }

    /// A `POST` with this body.
    pub fn post(url: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        Self::new(Method::POST, url).body(body)
    }

    /// Adds a header (an invalid name or value is dropped).
    #[must_use]
    pub fn header(mut self, name: &str, value: &str) -> Self {
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            self.headers.append(name, value);
        }
        self
    }

    /// Sets the body.
    #[must_use]
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// Sends it and reads the whole response. A host the component may not reach, or a
    /// network failure, is a 502 that says which.
    pub fn send(self) -> Result<OutboundResponse> {
        let uri: Uri = self
            .url
            .parse()
            .map_err(|e| Error::internal(format!("invalid URL {:?}: {e}", self.url)))?;
        let authority = uri
            .authority()
            .ok_or_else(|| Error::internal(format!("URL {:?} has no host", self.url)))?;
        let entries: Vec<(String, Vec<u8>)> = self
            .headers
            .iter()
            .map(|(n, v)| (n.as_str().to_string(), v.as_bytes().to_vec()))
            .collect();
        let fields = Fields::from_list(&entries)
            .map_err(|e| Error::internal(format!("invalid outbound headers: {e:?}")))?;
        let request = OutgoingRequest::new(fields);
        let method = match self.method.as_str() {
            "GET" => WasiMethod::Get,
            "HEAD" => WasiMethod::Head,
            "POST" => WasiMethod::Post,
            "PUT" => WasiMethod::Put,
            "DELETE" => WasiMethod::Delete,
            "PATCH" => WasiMethod::Patch,
            "OPTIONS" => WasiMethod::Options,
            other => WasiMethod::Other(other.to_string()),
        };
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::Http,
            Some("https") | None => Scheme::Https,
            Some(other) => Scheme::Other(other.to_string()),
        };
        let invalid =
            |what: &str| Error::internal(format!("invalid outbound {what} in {:?}", self.url));
        request
            .set_method(&method)
            .map_err(|()| invalid("method"))?;
        request
            .set_scheme(Some(&scheme))
            .map_err(|()| invalid("scheme"))?;
        request
            .set_authority(Some(authority.as_str()))
            .map_err(|()| invalid("host"))?;
        request
            .set_path_with_query(uri.path_and_query().map(|p| p.as_str()))
            .map_err(|()| invalid("path"))?;
        let body = request.body().expect("a new request has a body");
        let pending = outgoing_handler::handle(request, None).map_err(|e| failed(&self.url, &e))?;
        {
            let mut stream = body.write().expect("a new body has a stream");
            stream
                .write_all(&self.body)
                .map_err(|e| Error::bad_gateway(format!("sending to {}: {e}", self.url)))?;
        }
        OutgoingBody::finish(body, None).map_err(|e| failed(&self.url, &e))?;
        pending.subscribe().block();
        let response = pending
            .get()
            .expect("the response is ready after the pollable fired")
            .expect("the response is taken once")
            .map_err(|e| failed(&self.url, &e))?;
        let status = StatusCode::from_u16(response.status())
            .map_err(|_| Error::bad_gateway(format!("{} answered an invalid status", self.url)))?;
        let mut headers = HeaderMap::new();
        for (name, value) in response.headers().entries() {
            if let (Ok(n), Ok(v)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                headers.append(n, v);
            }
        }
        let incoming = response
            .consume()
            .map_err(|()| Error::internal("the response body was taken"))?;
        let mut bytes = Vec::new();
        {
            let mut stream = incoming
                .stream()
                .map_err(|()| Error::internal("the response stream was taken"))?;
            stream
                .read_to_end(&mut bytes)
                .map_err(|e| Error::bad_gateway(format!("reading from {}: {e}", self.url)))?;
        }
        drop(incoming);
        Ok(OutboundResponse {
            status,
            headers,
            body: bytes,
        })
    }
}

/// A response from another service, read whole.
#[derive(Debug)]
pub struct OutboundResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: HeaderMap,
    /// The body.
    pub body: Vec<u8>,
}

impl OutboundResponse {
    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body deserialised from JSON; anything else is a 502.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            Error::bad_gateway(format!("the upstream answer is not the JSON expected: {e}"))
        })
    }
}

fn failed(url: &str, error: &ErrorCode) -> Error {
    match error {
        ErrorCode::HttpRequestDenied => Error::bad_gateway(format!(
            "{url} is not allowed for this component (add its host to allowed_outbound_hosts in tessera.toml)"
        )),
        other => Error::bad_gateway(format!("request to {url} failed: {other:?}")),
    }
}
