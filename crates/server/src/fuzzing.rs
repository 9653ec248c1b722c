//! Entry points for the fuzz targets in `fuzz/` and for their replay on stable
//! (`crates/server/tests/fuzz.rs`): each feeds arbitrary bytes to the server's parsers of
//! client or operator input as a request or a load would, and checks what must hold whatever
//! the input. A panic is a bug. Not an API: hidden from the documentation.

use std::path::Component;

use http::{HeaderMap, HeaderValue, Method, Request};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::Value;

use crate::admin::{AdminToken, Resource, resource};
use crate::middleware::gate::Gate as _;
use crate::middleware::json_schema::{query_object, violations};
use crate::middleware::jwt::{Jwt, Keys, key_set};
use crate::middleware::{AUTH_CLAIMS_HEADER, AUTH_SUBJECT_HEADER, Identity, RequestBody};
use crate::router::{RouteError, Router};

const SECRET: &[u8] = b"the fuzz targets' HS256 secret";

/// `data` split at its first NUL byte (all of it first if there is none).
fn halves(data: &[u8]) -> (&[u8], &[u8]) {
    match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[]),
    }
}

/// What a `jwt` step answers to a request carrying `authorization`; `Ok` with the identity
/// headers it wrote.
fn admit(step: &Jwt, authorization: HeaderValue) -> Result<HeaderMap, String> {
    let mut request = Request::new(RequestBody::default());
    request
        .headers_mut()
        .insert(http::header::AUTHORIZATION, authorization);
    match step.admit(&mut request) {
        Ok(_) => Ok(request.headers().clone()),
        Err(rejection) => {
            let response = rejection.into_response(None);
            assert_eq!(response.status(), 401);
            assert!(response.headers().contains_key("www-authenticate"));
            Err(format!("{:?}", response.headers()))
        }
    }
}

/// JWT: the input as an `Authorization` header for a `jwt` step with an HS256 secret; then,
/// if it is JSON, as the claims of a token signed with that secret (with an `exp` in 2100 if
/// it has none), which must be admitted
/// with those claims (unless its time claims or subject refuse it), twice (the second time
/// from the cache of verified tokens); then a middleware component's identity headers.
pub fn jwt(data: &[u8]) {
    let step = Jwt::with_keys(
        Keys::One(DecodingKey::from_secret(SECRET)),
        vec![Algorithm::HS256],
    );
    if let Ok(value) = HeaderValue::from_bytes(data) {
        let _ = admit(&step, value);
    }
    if let Ok(mut claims) = serde_json::from_slice::<Value>(data) {
        // A token without `exp` is refused before its claims are looked at.
        if let Some(object) = claims.as_object_mut() {
            object.entry("exp").or_insert(4_102_444_800u64.into());
        }
        let token = jsonwebtoken::encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("any JSON value can be signed");
        let bearer = HeaderValue::try_from(format!("Bearer {token}")).expect("base64url");
        let first = admit(&step, bearer.clone());
        let second = admit(&step, bearer);
        assert_eq!(
            first.is_ok(),
            second.is_ok(),
            "the cache changed the verdict"
        );
        if let Ok(headers) = first {
            let passed: Value = serde_json::from_slice(headers[&AUTH_CLAIMS_HEADER].as_bytes())
                .expect("the claims header is JSON");
            assert_eq!(passed, claims);
            let subject = claims
                .get("sub")
                .and_then(Value::as_str)
                .unwrap_or_default();
            assert_eq!(headers[&AUTH_SUBJECT_HEADER].as_bytes(), subject.as_bytes());
        }
    }
    let (subject, claims) = halves(data);
    let mut headers = HeaderMap::new();
    if let (Ok(subject), Ok(claims)) = (
        HeaderValue::from_bytes(subject),
        HeaderValue::from_bytes(claims),
    ) {
        headers.insert(AUTH_SUBJECT_HEADER, subject);
        headers.insert(AUTH_CLAIMS_HEADER, claims);
        if let Some(identity) = Identity::from_headers(&headers) {
            identity.write_headers(&mut headers);
        }
    }
}

/// JWKS: the input as a `jwks_file`; a usable set then verifies a token it did not sign
/// (refused, with a reason).
pub fn jwks(data: &[u8]) {
    match key_set(data) {
        Ok((keys, algorithms)) => {
            let Some(first) = algorithms.first().copied() else {
                return;
            };
            let step = Jwt::with_keys(keys, algorithms);
            let token = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &serde_json::json!({"sub": "x"}),
                &EncodingKey::from_secret(SECRET),
            )
            .expect("sign");
            let bearer = HeaderValue::try_from(format!("Bearer {token}")).expect("base64url");
            // An HS256 key in the set could be the fuzz secret itself; any other refuses.
            if first != Algorithm::HS256 {
                assert!(admit(&step, bearer).is_err());
            } else {
                let _ = admit(&step, bearer);
            }
        }
        Err(bad) => assert!(!bad.problem.is_empty()),
    }
}

/// `json_schema`'s `query_schema`: the input's first half as the schema, the second as the
/// query string; the query as the JSON object the schema is checked against, and the 422 the
/// violations make.
pub fn query_schema(data: &[u8]) {
    let (schema, query) = halves(data);
    let (Ok(schema), Ok(query)) = (
        serde_json::from_slice::<Value>(schema),
        std::str::from_utf8(query),
    ) else {
        return;
    };
    let object = query_object(query, &schema);
    assert!(object.is_object());
    if let Ok(validator) = jsonschema::validator_for(&schema)
        && let Some(rejection) = violations(&validator, &object, "query")
    {
        assert_eq!(rejection.into_response(None).status(), 422);
    }
}

/// A files route: the input as the rest of the request's path (never a path out of the
/// folder), and as `Range` and `If-None-Match` headers.
pub fn static_files(data: &[u8]) {
    if let Some(path) = crate::files::relative_path(data) {
        for component in path.components() {
            assert!(
                matches!(component, Component::Normal(_)),
                "{path:?} leaves the folder"
            );
        }
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for length in [0, 1, 100, u64::MAX] {
        if let Ok(Some((start, end))) = crate::files::byte_range(text, length) {
            assert!(
                start <= end && end < length,
                "{text:?} of {length}: {start}-{end}"
            );
        }
    }
    let _ = crate::files::none_match(text, "\"1f-5\"");
}

/// The admin endpoint: the input's first half as `<METHOD> <path>`, the second as the
/// `Authorization` header, checked against a token.
pub fn admin(data: &[u8]) {
    let (line, authorization) = halves(data);
    let Ok(line) = std::str::from_utf8(line) else {
        return;
    };
    let (method, path) = line.split_once(' ').unwrap_or((line, "/"));
    if let Ok(method) = Method::from_bytes(method.as_bytes()) {
        match resource(&method, path) {
            Resource::Upload(id) | Resource::Reload(id) => assert!(!id.contains('/')),
            Resource::List | Resource::WrongMethod | Resource::None => {}
        }
    }
    if let Ok(value) = HeaderValue::from_bytes(authorization) {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::AUTHORIZATION, value);
        let token = AdminToken::new("fuzz-token");
        assert_eq!(
            token.admits(&headers),
            authorization == b"Bearer fuzz-token"
        );
    }
}

/// Routing: the input's lines as route paths (those that parse, up to eight), the last line
/// as a request path; the route found must match the path segment by segment, and a path no
/// route matches must find none.
pub fn router(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines: Vec<&str> = text.lines().collect();
    let Some(path) = lines.pop() else {
        return;
    };
    let mut router = Router::new();
    let mut patterns = Vec::new();
    for line in lines.into_iter().take(8) {
        if let Ok(pattern) = tessera_manifest::RoutePattern::parse(line)
            && router.insert(&pattern, None, patterns.len()).is_ok()
        {
            patterns.push(pattern);
        }
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let matches = |pattern: &tessera_manifest::RoutePattern| {
        let fixed = pattern.segments.len();
        let length_fits = if pattern.wildcard {
            segments.len() >= fixed
        } else {
            segments.len() == fixed
        };
        length_fits
            && pattern
                .segments
                .iter()
                .zip(&segments)
                .all(|(s, p)| match s {
                    tessera_manifest::Segment::Static(text) => text == p,
                    tessera_manifest::Segment::Param(_) => true,
                })
    };
    match router.at(&Method::GET, path) {
        Ok(found) => {
            let pattern = &patterns[*found.value];
            assert!(matches(pattern), "{path:?} routed to {:?}", pattern.raw);
            for (_, value) in found.params() {
                assert!(!value.is_empty() && !value.contains('/'));
            }
        }
        Err(RouteError::NotFound) => {
            let missed = patterns.iter().find(|p| matches(p));
            assert!(missed.is_none(), "{path:?} matches {missed:?}, not found");
        }
        Err(RouteError::MethodNotAllowed(_)) => panic!("no route has methods"),
    }
}
