//! The admin endpoint: a second, small HTTP listener (loopback by default) that lists the
//! components serving and replaces one from a new `.wasm`, behind a bearer token.
//!
//! | request | answer |
//! |---|---|
//! | `GET /components` | `200` `[{"id","digest","in_flight","ready"}]` |
//! | `PUT /components/<id>` with the `.wasm` as body | `200` `{"id","digest","previous","cache","millis"}` once new requests get it |
//! | `POST /components/<id>/reload` | the same, from the component's `source` file |
//!
//! Failures: `401` without the token, `404` for an unknown component, `413` for a body over
//! [`MAX_UPLOAD`], `422` with `{"error","fix"}` when the new version does not load (the old
//! one keeps serving).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use serde_json::json;
use subtle::ConstantTimeEq;
use tessera_runtime::CacheOutcome;
use tokio::net::TcpListener;

use crate::{LiveApp, ReplaceError};

/// The largest `.wasm` the admin endpoint accepts.
pub const MAX_UPLOAD: usize = 512 * 1024 * 1024;

/// The secret an admin request must carry as `Authorization: Bearer <token>`.
#[derive(Clone)]
pub struct AdminToken(Arc<str>);

impl AdminToken {
    /// A token the caller chose.
    pub fn new(token: impl Into<Arc<str>>) -> Self {
        Self(token.into())
    }

    /// A fresh random token: 32 bytes from the OS, hex encoded.
    pub fn generate() -> io::Result<Self> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(io::Error::other)?;
        Ok(Self(
            bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into(),
        ))
    }

    /// The token itself (to write where the user can read it; never to a log).
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub(crate) fn admits(&self, headers: &http::HeaderMap) -> bool {
        let Some(given) = headers
            .get(AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        else {
            return false;
        };
        // Constant time, so the answer's timing does not leak how much of a guess was right.
        given.ct_eq(self.0.as_bytes()).into()
    }
}

/// The admin listener, bound and ready to serve.
pub struct AdminServer {
    listener: TcpListener,
    live: Arc<LiveApp>,
    token: AdminToken,
}

impl AdminServer {
    /// Binds `addr` for `live`'s admin endpoint.
    pub async fn bind(live: Arc<LiveApp>, addr: SocketAddr, token: AdminToken) -> io::Result<Self> {
        Ok(Self {
            listener: TcpListener::bind(addr).await?,
            live,
            token,
        })
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves admin requests until the task running it is dropped.
    pub async fn run(self) {
        let (live, token) = (self.live, self.token);
        crate::side::serve(self.listener, "admin", move |request| {
            let (live, token) = (live.clone(), token.clone());
            async move { answer(&live, &token, request).await }
        })
        .await;
    }
}

type AdminResponse = Response<Full<Bytes>>;

async fn answer(live: &LiveApp, token: &AdminToken, request: Request<Incoming>) -> AdminResponse {
    if let Some(response) =
        crate::health::answer(Some(live), request.method(), request.uri().path()).await
    {
        return response;
    }
    if !token.admits(request.headers()) {
        let mut response = reply(
            StatusCode::UNAUTHORIZED,
            &json!({
                "error": "the admin endpoint needs `Authorization: Bearer <token>`",
                "fix": "pass the token given to --admin-token (or the one in the file the server logged at start)",
            }),
        );
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, http::HeaderValue::from_static("Bearer"));
        return response;
    }
    let path = request.uri().path().to_string();
    match resource(request.method(), &path) {
        Resource::List => list(live),
        Resource::Upload(id) => {
            let id = id.to_string();
            match Limited::new(request.into_body(), MAX_UPLOAD)
                .collect()
                .await
            {
                Ok(body) => replace(live, &id, Some(body.to_bytes().to_vec())).await,
                Err(error) if error.is::<http_body_util::LengthLimitError>() => reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &json!({ "error": format!("the upload is over {MAX_UPLOAD} bytes") }),
                ),
                Err(error) => reply(
                    StatusCode::BAD_REQUEST,
                    &json!({ "error": format!("the upload was cut off: {error}") }),
                ),
            }
        }
        Resource::Reload(id) => replace(live, id, None).await,
        Resource::WrongMethod => reply(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({ "error": "GET /components, PUT /components/<id>, POST /components/<id>/reload" }),
        ),
        Resource::None => reply(
            StatusCode::NOT_FOUND,
            &json!({ "error": format!("no admin resource at {path}") }),
        ),
    }
}

/// What an authorised admin request asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Resource<'p> {
    /// `GET /components`.
    List,
    /// `PUT /components/<id>`, the body a component.
    Upload(&'p str),
    /// `POST /components/<id>/reload`.
    Reload(&'p str),
    /// One of those paths with another method.
    WrongMethod,
    None,
}

pub(crate) fn resource<'p>(method: &Method, path: &'p str) -> Resource<'p> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (&Method::GET, ["components"]) => Resource::List,
        (&Method::PUT, ["components", id]) => Resource::Upload(id),
        (&Method::POST, ["components", id, "reload"]) => Resource::Reload(id),
        (_, ["components"] | ["components", _] | ["components", _, "reload"]) => {
            Resource::WrongMethod
        }
        _ => Resource::None,
    }
}

fn list(live: &LiveApp) -> AdminResponse {
    let app = live.current();
    let components: Vec<_> = app
        .components()
        .values()
        .map(|c| {
            json!({
                "id": c.id(),
                "digest": c.digest(),
                "in_flight": c.in_flight(),
                "ready": c.ready(),
            })
        })
        .collect();
    reply(StatusCode::OK, &json!(components))
}

async fn replace(live: &LiveApp, id: &str, wasm: Option<Vec<u8>>) -> AdminResponse {
    match live.replace(id, wasm).await {
        Ok(done) => reply(
            StatusCode::OK,
            &json!({
                "id": done.id,
                "digest": done.digest,
                "previous": done.previous,
                "cache": match done.cache {
                    CacheOutcome::Hit => "hit",
                    CacheOutcome::Compiled | CacheOutcome::CompiledUncached => "compiled",
                },
                "millis": done.elapsed.as_secs_f64() * 1000.0,
            }),
        ),
        Err(error) => {
            let status = match error {
                ReplaceError::Unknown(_) => StatusCode::NOT_FOUND,
                ReplaceError::Load { .. } => {
                    tracing::warn!(component = id, "{error}");
                    StatusCode::UNPROCESSABLE_ENTITY
                }
            };
            reply(
                status,
                &json!({ "error": error.to_string(), "fix": error.fix() }),
            )
        }
    }
}

fn reply(status: StatusCode, body: &serde_json::Value) -> AdminResponse {
    let mut response = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
