//! The built-ins tower-http already does well: `cors`, `compression`, `request_id`.

use std::sync::Arc;

use http::header::ORIGIN;
use http::{HeaderName, HeaderValue, Method, Request, Response};
use http_body_util::BodyExt;
use tessera_manifest::{CompressionSpec, CorsSpec};
use tower::{Layer, ServiceBuilder, ServiceExt};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowHeaders, AllowMethods, AllowOrigin, CorsLayer, ExposeHeaders};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use super::{Chain, RequestBody, Responding, Step, TowerStep};
use crate::ResponseBody;

/// A `cors` step: tower-http's CORS layer around the rest of the chain, and the origins it
/// allows (`None` for `"*"`).
pub(crate) struct Cors {
    layer: CorsLayer,
    origins: Option<Arc<[HeaderValue]>>,
}

impl Cors {
    pub(crate) fn wrap(&self, inner: Chain) -> Chain {
        let cors = Chain::new(TowerStep::new(self.layer.layer(inner)));
        match &self.origins {
            None => cors,
            Some(origins) => Chain::new(OnlyAllowedOrigins {
                cors,
                origins: origins.clone(),
            }),
        }
    }
}

/// tower-http leaves out `Access-Control-Allow-Origin` for an origin it does not allow, but
/// still answers such a preflight with `Access-Control-Allow-Methods` and the like. A
/// disallowed origin gets no CORS header at all here (`Vary` stays): nothing tells it what
/// the route would accept.
struct OnlyAllowedOrigins {
    cors: Chain,
    origins: Arc<[HeaderValue]>,
}

impl Step for OnlyAllowedOrigins {
    fn call(&self, request: Request<RequestBody>) -> Responding {
        let disallowed = request
            .headers()
            .get(ORIGIN)
            .is_some_and(|origin| !self.origins.contains(origin));
        let responding = self.cors.call(request);
        if !disallowed {
            return responding;
        }
        Box::pin(async move {
            let mut response = responding.await;
            let cors_headers: Vec<HeaderName> = response
                .headers()
                .keys()
                .filter(|name| name.as_str().starts_with("access-control-"))
                .cloned()
                .collect();
            for name in cors_headers {
                response.headers_mut().remove(name);
            }
            response
        })
    }
}

pub(crate) fn cors(spec: &CorsSpec) -> Cors {
    let any = |list: &[String]| list.len() == 1 && list[0] == "*";
    let origins = (!any(&spec.allow_origins)).then(|| {
        spec.allow_origins
            .iter()
            .map(|o| HeaderValue::try_from(o.as_str()).expect("the manifest checked origins"))
            .collect()
    });
    Cors {
        layer: cors_layer(spec),
        origins,
    }
}

fn cors_layer(spec: &CorsSpec) -> CorsLayer {
    let any = |list: &[String]| list.len() == 1 && list[0] == "*";
    let mut layer = CorsLayer::new();
    layer = if any(&spec.allow_origins) {
        layer.allow_origin(AllowOrigin::any())
    } else {
        let origins = spec
            .allow_origins
            .iter()
            .map(|o| HeaderValue::try_from(o.as_str()).expect("the manifest checked origins"));
        layer.allow_origin(AllowOrigin::list(origins))
    };
    layer = if any(&spec.allow_methods) {
        layer.allow_methods(AllowMethods::any())
    } else if spec.allow_methods.is_empty() {
        // Without a list, the simple methods and the ones browsers preflight most.
        layer.allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
    } else {
        layer.allow_methods(AllowMethods::list(spec.allow_methods.iter().map(|m| {
            Method::from_bytes(m.as_bytes()).expect("the manifest checked methods")
        })))
    };
    let names = |list: &[String]| -> Vec<HeaderName> {
        list.iter()
            .map(|h| {
                HeaderName::try_from(h.to_ascii_lowercase())
                    .expect("the manifest checked header names")
            })
            .collect()
    };
    layer = if any(&spec.allow_headers) {
        layer.allow_headers(AllowHeaders::any())
    } else {
        layer.allow_headers(AllowHeaders::list(names(&spec.allow_headers)))
    };
    layer = if any(&spec.expose_headers) {
        layer.expose_headers(ExposeHeaders::any())
    } else {
        layer.expose_headers(ExposeHeaders::list(names(&spec.expose_headers)))
    };
    layer = layer.allow_credentials(spec.allow_credentials);
    if let Some(max_age) = spec.max_age {
        layer = layer.max_age(max_age);
    }
    layer
}

/// Not content that is compressed already, that clients expect uncompressed, or a part of a
/// file (a 206 answers a byte range of the file as stored; compressing it would send bytes
/// of another representation).
fn worth_compressing(min_size: u16) -> impl Predicate {
    let whole = |status: http::StatusCode, _, headers: &http::HeaderMap, _: &http::Extensions| {
        status != http::StatusCode::PARTIAL_CONTENT
            && !headers.contains_key(http::header::CONTENT_RANGE)
    };
    SizeAbove::new(min_size)
        .and(whole)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
        .and(NotForContentType::const_new("video/"))
        .and(NotForContentType::const_new("audio/"))
        .and(NotForContentType::const_new("font/woff"))
        .and(NotForContentType::const_new("application/zip"))
        .and(NotForContentType::const_new("application/gzip"))
        .and(NotForContentType::const_new("application/x-gzip"))
        .and(NotForContentType::const_new("application/zstd"))
        .and(NotForContentType::const_new("application/x-7z-compressed"))
        .and(NotForContentType::const_new("application/x-brotli"))
        .and(NotForContentType::const_new("application/wasm"))
}

pub(crate) fn compression(spec: &CompressionSpec, inner: Chain) -> Chain {
    let layer = CompressionLayer::new()
        .gzip(spec.gzip)
        .br(spec.brotli)
        .compress_when(worth_compressing(spec.min_size));
    Chain::new(TowerStep::new(layer.layer(inner).map_response(
        |response: Response<_>| {
            response.map(|body| ResponseBody::Boxed(body.map_err(Into::into).boxed_unsync()))
        },
    )))
}

pub(crate) fn request_id(header: &HeaderName, inner: Chain) -> Chain {
    let service = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(header.clone(), MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(header.clone()))
        .service(inner);
    Chain::new(TowerStep::new(service))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(content_type: &str, size: usize) -> Response<String> {
        let mut response = Response::new("x".repeat(size));
        response
            .headers_mut()
            .insert("content-type", HeaderValue::try_from(content_type).unwrap());
        response
    }

    #[test]
    fn compressed_and_small_content_is_left_alone() {
        let worth = worth_compressing(256);
        assert!(worth.should_compress(&response("application/json", 1000)));
        assert!(worth.should_compress(&response("text/html; charset=utf-8", 1000)));
        assert!(!worth.should_compress(&response("application/json", 100)));
        for skipped in [
            "image/png",
            "video/mp4",
            "application/zip",
            "font/woff2",
            "application/wasm",
        ] {
            assert!(
                !worth.should_compress(&response(skipped, 1000)),
                "{skipped}"
            );
        }
    }
}
