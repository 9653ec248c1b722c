//! The study's HTTP client: one keep-alive connection per server, timed from sending the
//! request to reading the last byte of the answer.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A blocking HTTP/1.1 client with a deadline per request.
pub struct Client {
    agent: ureq::Agent,
}

/// An answer and how long it took.
#[derive(Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// The body.
    pub body: String,
    /// From sending the request to reading the last byte.
    pub elapsed: Duration,
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// It ran past the deadline.
    #[error("no answer within the deadline")]
    Timeout,
    /// Anything else: refused, reset, malformed.
    #[error("{0}")]
    Other(String),
}

impl Client {
    /// A client whose every request must finish within `timeout`.
    pub fn new(timeout: Duration) -> Self {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self { agent }
    }

    /// `GET http://<addr><path>`.
    pub fn get(&self, addr: SocketAddr, path: &str) -> Result<Reply, Failure> {
        let url = format!("http://{addr}{path}");
        let start = Instant::now();
        let failure = |e: ureq::Error| match e {
            ureq::Error::Timeout(_) => Failure::Timeout,
            other => Failure::Other(other.to_string()),
        };
        let mut response = self.agent.get(&url).call().map_err(failure)?;
        let body = response.body_mut().read_to_string().map_err(failure)?;
        Ok(Reply {
            status: response.status().as_u16(),
            body,
            elapsed: start.elapsed(),
        })
    }
}
