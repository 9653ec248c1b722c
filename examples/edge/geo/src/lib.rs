//! Edge: `GET /api/geo`, personalisation from the visitor's country as the edge proxy reports
//! it: the `x-country` header (as CDNs set it), else the `country` query parameter. Answers
//! `{"country", "region", "greeting", "source"}`; with `redirect=1`, a 302 to `/<region>/`.
//! An unknown or missing country gets the `global` region and an English greeting.

use serde::Serialize;
use tessera_sdk::{Request, Response, Result, StatusCode};

/// ISO 3166 code, region, greeting in the country's main language.
const COUNTRIES: &[(&str, &str, &str)] = &[
    ("US", "na", "Hello"),
    ("CA", "na", "Hello"),
    ("MX", "na", "Hola"),
    ("BR", "sa", "Olá"),
    ("AR", "sa", "Hola"),
    ("CL", "sa", "Hola"),
    ("GB", "eu", "Hello"),
    ("IE", "eu", "Hello"),
    ("FR", "eu", "Bonjour"),
    ("DE", "eu", "Guten Tag"),
    ("AT", "eu", "Grüß Gott"),
    ("CH", "eu", "Grüezi"),
    ("ES", "eu", "Hola"),
    ("PT", "eu", "Olá"),
    ("IT", "eu", "Ciao"),
    ("NL", "eu", "Hallo"),
    ("SE", "eu", "Hej"),
    ("PL", "eu", "Dzień dobry"),
    ("JP", "apac", "こんにちは"),
    ("CN", "apac", "你好"),
    ("KR", "apac", "안녕하세요"),
    ("IN", "apac", "नमस्ते"),
    ("AU", "apac", "G'day"),
    ("NZ", "apac", "Kia ora"),
    ("ZA", "africa", "Hello"),
    ("NG", "africa", "Hello"),
    ("KE", "africa", "Jambo"),
    ("EG", "mea", "مرحبا"),
    ("AE", "mea", "مرحبا"),
    ("IL", "mea", "שלום"),
];

const DEFAULT_REGION: &str = "global";

#[derive(Serialize)]
struct Geo {
    country: Option<String>,
    region: &'static str,
    greeting: &'static str,
    /// Where the country came from: `header`, `query`, or `default` when neither gave a
    /// known one.
    source: &'static str,
}

#[expect(
    clippy::needless_pass_by_value,
    reason = "http_component! hands the request over"
)]
fn handle(request: Request) -> Result<Response> {
    let (country, source) = match (request.header("x-country"), request.query_param("country")) {
        (Some(header), _) => (Some(header.trim().to_ascii_uppercase()), "header"),
        (None, Some(query)) => (Some(query.trim().to_ascii_uppercase()), "query"),
        (None, None) => (None, "default"),
    };
    let known = country
        .as_deref()
        .and_then(|c| COUNTRIES.iter().find(|(code, _, _)| *code == c));
    let geo = match known {
        Some(&(_, region, greeting)) => Geo {
            country,
            region,
            greeting,
            source,
        },
        None => Geo {
            country,
            region: DEFAULT_REGION,
            greeting: "Hello",
            source: "default",
        },
    };
    if request.query_param("redirect").as_deref() == Some("1") {
        return Ok(
            Response::redirect(StatusCode::FOUND, &format!("/{}/", geo.region))
                .with_header("vary", "x-country"),
        );
    }
    Ok(Response::json(&geo)?.with_header("vary", "x-country"))
}

tessera_sdk::http_component!(handle);
