//! Outbound HTTP (`wasi:http/outgoing-handler`): allowed only to the hosts a component's
//! `allowed_outbound_hosts` grant matches, and sent through one pooled client, so requests to
//! the same origin reuse connections across guest requests (Wasmtime's default sender opens
//! a new connection for each).

use std::time::Duration;

use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use super::{Capabilities, error_chain};

/// How long a connection attempt may take unless the guest asks for less.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The HTTP(S) client shared by every component.
#[derive(Clone)]
pub struct OutboundClient {
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, WasiBody>,
}

impl Default for OutboundClient {
    fn default() -> Self {
        Self::new()
    }
}

impl OutboundClient {
    /// A client trusting the Web PKI roots (webpki-roots), speaking HTTP/1.1 over TCP or TLS.
    pub fn new() -> Self {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(CONNECT_TIMEOUT));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(https);
        Self { client }
    }

    /// Sends `request`, waiting at most the guest's first-byte timeout for the response head.
    pub(crate) async fn send(
        &self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
    ) -> Result<http::Response<WasiBody>, Error> {
        let first_byte = options.and_then(|o| o.first_byte_timeout);
        let sent = self.client.request(request);
        let response = match first_byte {
            Some(limit) => tokio::time::timeout(limit, sent)
                .await
                .map_err(|_| Error::ConnectionReadTimeout)?,
            None => sent.await,
        }
        .map_err(client_error)?;
        Ok(response.map(|body| body.map_err(Error::from).boxed_unsync()))
    }
}

#[expect(clippy::needless_pass_by_value, reason = "passed to map_err by name")]
fn client_error(e: hyper_util::client::legacy::Error) -> Error {
    let text = error_chain(&e);
    if e.is_connect() {
        if text.contains("dns error") || text.contains("failed to lookup") {
            return Error::DnsError {
                rcode: None,
                info_code: None,
            };
        }
        if text.contains("timed out") {
            return Error::ConnectionTimeout;
        }
        if text.contains("certificate") || text.contains("tls") || text.contains("TLS") {
            return Error::TlsCertificateError;
        }
        return Error::ConnectionRefused;
    }
    Error::InternalError(Some(text))
}

impl Capabilities {
    /// The `allowed_outbound_hosts` entry that lets this component send a request to `uri`
    /// (as written in the manifest), or `None`, the refusal logged.
    pub(crate) fn allow_outbound(&self, method: &http::Method, uri: &http::Uri) -> Option<String> {
        let allowed = match (uri.scheme_str(), uri.host()) {
            (Some(scheme), Some(host)) => self
                .allowed_outbound_hosts
                .iter()
                .find(|pattern| pattern.allows(scheme, host, uri.port_u16())),
            _ => None,
        };
        if allowed.is_none() {
            // Only scheme and authority: a path or query may carry tokens.
            let origin = format!(
                "{}://{}",
                uri.scheme_str().unwrap_or("?"),
                uri.authority().map_or("?", |a| a.as_str())
            );
            tracing::warn!(
                component = %self.component,
                "outbound HTTP refused: {method} {origin} matches nothing in the component's allowed_outbound_hosts"
            );
        }
        allowed.map(ToString::to_string)
    }
}
