//! An in-guest router, for a component that serves several paths.

use http::{Method, StatusCode};

use crate::{Error, Request, Response, Result};

type Handler = Box<dyn Fn(Request) -> Result<Response>>;

/// Routes requests to handlers by method and path, with the manifest's pattern syntax:
/// exact segments, `:name` parameters (read with [`Request::param`]) and a trailing `/...`
/// (read with [`Request::rest`]). Exact segments beat parameters, parameters beat wildcards.
/// A path no route matches is a 404; a path matched for other methods a 405 with `Allow`.
///
/// Every request runs in a fresh instance, so building the router in the handler costs
/// what building it once would.
///
/// ```no_run
/// use tessera_sdk::{Request, Response, Result, Router};
///
/// fn handle(request: Request) -> Result<Response> {
///     Router::new()
///         .get("/todos", |_| Response::json(&["write docs"]))
///         .get("/todos/:id", |r| Ok(Response::text(format!("todo {}", r.param::<u32>("id")?))))
///         .handle(request)
/// }
/// ```
#[derive(Default)]
pub struct Router {
    routes: Vec<(Option<Method>, Pattern, Handler)>,
}

impl Router {
    /// A router with no routes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Routes `method` requests matching `pattern` to `handler`; `None` for every method.
    ///
    /// # Panics
    /// If `pattern` does not start with `/`, or has `...` anywhere but at its end.
    #[must_use]
    pub fn route(
        mut self,
        method: Option<Method>,
        pattern: &str,
        handler: impl Fn(Request) -> Result<Response> + 'static,
    ) -> Self {
        self.routes
            .push((method, Pattern::parse(pattern), Box::new(handler)));
        self
    }

    /// `GET` (and `HEAD`) requests.
    #[must_use]
    pub fn get(
        self,
        pattern: &str,
        handler: impl Fn(Request) -> Result<Response> + 'static,
    ) -> Self {
        self.route(Some(Method::GET), pattern, handler)
    }

    /// `POST` requests.
    #[must_use]
    pub fn post(
        self,
        pattern: &str,
        handler: impl Fn(Request) -> Result<Response> + 'static,
    ) -> Self {
        self.route(Some(Method::POST), pattern, handler)
    }

    /// `PUT` requests.
    #[must_use]
    pub fn put(
        self,
        pattern: &str,
        handler: impl Fn(Request) -> Result<Response> + 'static,
    ) -> Self {
        self.route(Some(Method::PUT), pattern, handler)
    }

    /// `PATCH` requests.
    #[must_use]
    pub fn patch(
        self,
        pattern: &str,
        handler: impl Fn(Request) -> Result<Response> + 'static,
    ) -> Self {
        self.route(Some(Method::PATCH), pattern, handler)
    }

    /// `DELETE` requests.
    #[must_use]
    pub fn delete(
        self,
        pattern: &str,
        handler: impl Fn(Request) -> Result<Response> + 'static,
    ) -> Self {
        self.route(Some(Method::DELETE), pattern, handler)
    }

    /// Serves `request` with the best-matching route.
    pub fn handle(&self, mut request: Request) -> Result<Response> {
        let path = request.path().to_string();
        let mut best: Option<(Vec<u8>, usize, Captures)> = None;
        let mut allowed: Vec<Method> = Vec::new();
        for (index, (method, pattern, _)) in self.routes.iter().enumerate() {
            let Some((rank, captures)) = pattern.matches(&path) else {
                continue;
            };
            let method_ok = match method {
                None => true,
                Some(m) => {
                    m == request.method() || (*m == Method::GET && request.method() == Method::HEAD)
                }
            };
            if !method_ok {
                allowed.extend(method.clone());
                continue;
            }
            if best.as_ref().is_none_or(|(r, _, _)| rank < *r) {
                best = Some((rank, index, captures));
            }
        }
        match best {
            Some((_, index, (params, rest))) => {
                request.set_params(params, rest);
                (self.routes[index].2)(request)
            }
            None if !allowed.is_empty() => {
                allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                allowed.dedup();
                let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
                Ok(Response::from(Error::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    format!("{} is not allowed on {path}", request.method()),
                ))
                .with_header(http::header::ALLOW, &allow.join(", ")))
            }
            None => Err(Error::not_found(format!("no route for {path}"))),
        }
    }
}

type Captures = (Vec<(String, String)>, Option<String>);

enum Segment {
    Exact(String),
    Param(String),
}

struct Pattern {
    segments: Vec<Segment>,
    wildcard: bool,
}

impl Pattern {
    fn parse(pattern: &str) -> Self {
        assert!(
            pattern.starts_with('/'),
            "route patterns start with `/`: {pattern:?}"
        );
        let (body, wildcard) = match pattern.strip_suffix("/...") {
            Some(body) => (body, true),
            None => (pattern, false),
        };
        let segments = body
            .split('/')
            .filter(|s| !s.is_empty())
            .map(|s| {
                assert!(
                    s != "...",
                    "`...` may only end a route pattern: {pattern:?}"
                );
                match s.strip_prefix(':') {
                    Some(name) => Segment::Param(name.to_ascii_lowercase()),
                    None => Segment::Exact(s.to_string()),
                }
            })
            .collect();
        Self { segments, wildcard }
    }

    /// The match's rank (lower is better: per segment 0 exact, 1 parameter; 2 for the
    /// wildcard) and what it captured.
    fn matches(&self, path: &str) -> Option<(Vec<u8>, Captures)> {
        let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if parts.len() < self.segments.len()
            || (!self.wildcard && parts.len() != self.segments.len())
        {
            return None;
        }
        let mut rank = Vec::with_capacity(self.segments.len() + 1);
        let mut params = Vec::new();
        for (segment, part) in self.segments.iter().zip(&parts) {
            match segment {
                Segment::Exact(exact) if exact == part => rank.push(0),
                Segment::Exact(_) => return None,
                Segment::Param(name) => {
                    rank.push(1);
                    let value = percent_encoding::percent_decode_str(part)
                        .decode_utf8_lossy()
                        .into_owned();
                    params.push((name.clone(), value));
                }
            }
        }
        let rest = self.wildcard.then(|| {
            rank.push(2);
            let rest: Vec<&str> = parts[self.segments.len()..].to_vec();
            if rest.is_empty() {
                String::new()
            } else {
                format!("/{}", rest.join("/"))
            }
        });
        Some((rank, (params, rest)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_beats_parameter_beats_wildcard() {
        let exact = Pattern::parse("/users/me")
            .matches("/users/me")
            .expect("match")
            .0;
        let param = Pattern::parse("/users/:id")
            .matches("/users/me")
            .expect("match")
            .0;
        let wild = Pattern::parse("/users/...")
            .matches("/users/me")
            .expect("match")
            .0;
        assert!(exact < param && param < wild);
    }

    #[test]
    fn captures_parameters_and_rest() {
        let (_, (params, rest)) = Pattern::parse("/files/:owner/...")
            .matches("/files/ann%20b/a/b.txt")
            .expect("match");
        assert_eq!(params, vec![("owner".to_string(), "ann b".to_string())]);
        assert_eq!(rest.as_deref(), Some("/a/b.txt"));
        assert!(Pattern::parse("/files/:owner").matches("/files").is_none());
        assert!(Pattern::parse("/a").matches("/a/b").is_none());
    }
}
