//! End-to-end: route middleware over real HTTP — every built-in on its accept and reject
//! paths, identity headers that clients cannot forge, and a Wasm middleware component that
//! answers or passes on.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tessera_test_support::{
    AppDir, Client, Reply, Server, ServerOptions, component_section, empty, full, request,
    request_with, streamed,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");
const JWT_SECRET: &str = "a-test-secret-that-is-long-enough-for-hs256";

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/jwt")
        .join(name)
        .display()
        .to_string()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn token(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs256(claims: &Value) -> String {
    token(
        Algorithm::HS256,
        &EncodingKey::from_secret(JWT_SECRET.as_bytes()),
        None,
        claims,
    )
}

fn claims(extra: Value) -> Value {
    let mut base = json!({ "sub": "alice", "iss": "https://issuer.test", "aud": "tessera-tests", "exp": now() + 600 });
    if let (Some(base), Value::Object(extra)) = (base.as_object_mut(), extra) {
        base.extend(extra);
    }
    base
}

/// The values of header `name` as the guest saw them (wasi-echo's `info`).
fn seen<'a>(info: &'a Value, name: &str) -> Vec<&'a str> {
    info["headers"]
        .as_array()
        .expect("headers array")
        .iter()
        .filter(|pair| pair[0].as_str() == Some(name))
        .map(|pair| pair[1].as_str().unwrap())
        .collect()
}

async fn get(client: &mut Client, path: &str, headers: &[(&str, &str)]) -> Reply {
    client
        .fetch(request_with("GET", path, headers).body(empty()).unwrap())
        .await
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

const AUTH_APP: &str = r#"
[middleware.auth]
type = "jwt"
secret = "{{ secret.jwt_key }}"
issuer = "https://issuer.test"
audience = "tessera-tests"
leeway = "30s"

[middleware.admins]
type = "guard"
roles = ["admin"]

[middleware.readers]
type = "guard"
scopes = ["notes:read"]
claims = { tenant = "acme" }

[middleware.es]
type = "jwt"
public_key_file = "ES_PUBLIC"

[middleware.jwks]
type = "jwt"
jwks_file = "JWKS"

[middleware.keys]
type = "api_key"
header = "x-api-key"
query = "api_key"
keys = { ci = "{{ secret.ci_key }}", dashboard = "literal-dashboard-key" }

[[route]]
path = "/open/..."
component = "echo"

[[route]]
path = "/api/..."
component = "echo"
middleware = ["auth"]

[[route]]
path = "/admin/..."
component = "echo"
middleware = ["auth", "admins"]

[[route]]
path = "/notes/..."
component = "echo"
middleware = ["auth", "readers"]

[[route]]
path = "/es/..."
component = "echo"
middleware = ["es"]

[[route]]
path = "/jwks/..."
component = "echo"
middleware = ["jwks"]

[[route]]
path = "/keyed/..."
component = "echo"
middleware = ["keys"]
"#;

fn auth_server() -> (AppDir, Server) {
    let manifest = AUTH_APP
        .replace("ES_PUBLIC", &fixture("ec-public.pem"))
        .replace("JWKS", &fixture("jwks.json"))
        + &component_section("echo", "wasi_echo", "");
    let app = AppDir::new(&manifest);
    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default()
            .env("TESSERA_SECRET_JWT_KEY", JWT_SECRET)
            .env("TESSERA_SECRET_CI_KEY", "ci-key-from-env"),
    );
    (app, server)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_accepts_valid_tokens_and_rejects_the_rest_with_a_challenge() {
    let (_app, server) = auth_server();
    let mut client = Client::http1(server.addr()).await;

    let missing = get(&mut client, "/api/info", &[]).await;
    assert_eq!(missing.status, 401);
    assert_eq!(
        missing.header("www-authenticate"),
        Some("Bearer realm=\"auth\"")
    );

    let good = hs256(&claims(json!({ "roles": ["admin"], "name": "Zoë" })));
    let reply = get(
        &mut client,
        "/api/info",
        &[("authorization", &bearer(&good))],
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let info = reply.json();
    assert_eq!(seen(&info, "tessera-auth-subject"), ["alice"]);
    assert_eq!(seen(&info, "tessera-auth-method"), ["jwt"]);
    let claims_seen: Value = serde_json::from_str(seen(&info, "tessera-auth-claims")[0]).unwrap();
    assert_eq!(claims_seen["roles"], json!(["admin"]));
    assert_eq!(claims_seen["name"], "Zoë");

    let cases = [
        ("expired", claims(json!({ "exp": now() - 120 })), "expired"),
        (
            "not yet valid",
            claims(json!({ "nbf": now() + 120 })),
            "not valid yet",
        ),
        (
            "wrong issuer",
            claims(json!({ "iss": "https://evil.test" })),
            "issuer",
        ),
        (
            "wrong audience",
            claims(json!({ "aud": "someone-else" })),
            "audience",
        ),
    ];
    for (what, claims, expected) in cases {
        let reply = get(
            &mut client,
            "/api/info",
            &[("authorization", &bearer(&hs256(&claims)))],
        )
        .await;
        assert_eq!(reply.status, 401, "{what}");
        let challenge = reply.header("www-authenticate").unwrap();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{what}: {challenge}"
        );
        assert!(reply.text().contains(expected), "{what}: {}", reply.text());
    }
    // Within the 30 s leeway an expired token still passes.
    let lenient = hs256(&claims(json!({ "exp": now() - 10 })));
    let reply = get(
        &mut client,
        "/api/info",
        &[("authorization", &bearer(&lenient))],
    )
    .await;
    assert_eq!(reply.status, 200);

    let forged = token(
        Algorithm::HS256,
        &EncodingKey::from_secret(b"another secret entirely, long enough"),
        None,
        &claims(json!({})),
    );
    let reply = get(
        &mut client,
        "/api/info",
        &[("authorization", &bearer(&forged))],
    )
    .await;
    assert_eq!(reply.status, 401);
    assert!(reply.text().contains("signature"), "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_verifies_es256_from_a_pem_file_and_rs256_from_a_jwks() {
    let (_app, server) = auth_server();
    let mut client = Client::http1(server.addr()).await;
    let ec = EncodingKey::from_ec_pem(&std::fs::read(fixture("ec-private.pem")).unwrap()).unwrap();
    let rsa =
        EncodingKey::from_rsa_pem(&std::fs::read(fixture("rsa-private.pem")).unwrap()).unwrap();
    let c = claims(json!({}));

    let es = token(Algorithm::ES256, &ec, None, &c);
    assert_eq!(
        get(&mut client, "/es/info", &[("authorization", &bearer(&es))])
            .await
            .status,
        200
    );
    let rs = token(Algorithm::RS256, &rsa, Some("test-rsa"), &c);
    assert_eq!(
        get(
            &mut client,
            "/jwks/info",
            &[("authorization", &bearer(&rs))]
        )
        .await
        .status,
        200
    );

    // The wrong key, an unknown kid, an algorithm the key does not do: all 401.
    let unknown_kid = token(Algorithm::RS256, &rsa, Some("other"), &c);
    for (path, token) in [
        ("/es/info", &rs),
        ("/jwks/info", &unknown_kid),
        ("/jwks/info", &es),
        ("/es/info", &hs256(&c)),
    ] {
        let reply = get(&mut client, path, &[("authorization", &bearer(token))]).await;
        assert_eq!(reply.status, 401, "{path}: {}", reply.text());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guards_check_roles_scopes_and_claims() {
    let (_app, server) = auth_server();
    let mut client = Client::http1(server.addr()).await;
    let admin = hs256(&claims(json!({ "roles": ["admin", "user"] })));
    let user = hs256(&claims(json!({ "roles": ["user"] })));
    assert_eq!(
        get(
            &mut client,
            "/admin/info",
            &[("authorization", &bearer(&admin))]
        )
        .await
        .status,
        200
    );
    let reply = get(
        &mut client,
        "/admin/info",
        &[("authorization", &bearer(&user))],
    )
    .await;
    assert_eq!(reply.status, 403);
    assert!(reply.text().contains("admin"), "{}", reply.text());
    // No token at all is the auth step's 401, before the guard.
    assert_eq!(get(&mut client, "/admin/info", &[]).await.status, 401);

    let reader = hs256(&claims(
        json!({ "scope": "notes:read notes:write", "tenant": "acme" }),
    ));
    let other_tenant = hs256(&claims(
        json!({ "scope": "notes:read", "tenant": "globex" }),
    ));
    let no_scope = hs256(&claims(json!({ "scp": ["notes:write"], "tenant": "acme" })));
    assert_eq!(
        get(
            &mut client,
            "/notes/info",
            &[("authorization", &bearer(&reader))]
        )
        .await
        .status,
        200
    );
    assert_eq!(
        get(
            &mut client,
            "/notes/info",
            &[("authorization", &bearer(&other_tenant))]
        )
        .await
        .status,
        403
    );
    let reply = get(
        &mut client,
        "/notes/info",
        &[("authorization", &bearer(&no_scope))],
    )
    .await;
    assert_eq!(reply.status, 403);
    assert!(reply.text().contains("notes:read"), "{}", reply.text());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_from_a_header_or_the_query() {
    let (_app, server) = auth_server();
    let mut client = Client::http1(server.addr()).await;
    let reply = get(&mut client, "/keyed/info", &[]).await;
    assert_eq!(reply.status, 401);
    assert_eq!(
        reply.header("www-authenticate"),
        Some("ApiKey header=\"x-api-key\"")
    );
    assert_eq!(
        get(&mut client, "/keyed/info", &[("x-api-key", "wrong")])
            .await
            .status,
        401
    );

    let reply = get(
        &mut client,
        "/keyed/info",
        &[("x-api-key", "ci-key-from-env")],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(seen(&reply.json(), "tessera-auth-subject"), ["ci"]);
    let reply = get(
        &mut client,
        "/keyed/info?api_key=literal-dashboard-key",
        &[],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(seen(&reply.json(), "tessera-auth-subject"), ["dashboard"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_headers_from_clients_never_reach_a_guest() {
    let (_app, server) = auth_server();
    let mut client = Client::http1(server.addr()).await;
    let forged = [
        ("tessera-auth-subject", "root"),
        ("tessera-auth-claims", "{\"roles\":[\"admin\"]}"),
        ("tessera-auth-method", "jwt"),
    ];
    let reply = get(&mut client, "/open/info", &forged).await;
    let info = reply.json();
    for (name, _) in forged {
        assert!(seen(&info, name).is_empty(), "{name} reached the guest");
    }
    // On an authenticated route the host's values replace the client's.
    let mut headers = forged.to_vec();
    let good = hs256(&claims(json!({})));
    let auth = bearer(&good);
    headers.push(("authorization", &auth));
    let info = get(&mut client, "/api/info", &headers).await.json();
    assert_eq!(seen(&info, "tessera-auth-subject"), ["alice"]);
    // A forged identity does not get past a guard either.
    assert_eq!(get(&mut client, "/admin/info", &forged).await.status, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_answers_preflights_in_the_host_and_marks_responses() {
    let manifest = format!(
        r#"
[middleware.cors]
type = "cors"
allow_origins = ["https://app.example.com"]
allow_methods = ["GET", "POST"]
allow_headers = ["content-type", "authorization"]
expose_headers = ["x-request-id"]
allow_credentials = true
max_age = "10m"

[[route]]
path = "/api/..."
component = "echo"
methods = ["GET", "POST"]
middleware = ["cors"]

{}"#,
        component_section("echo", "wasi_echo", "")
    );
    let app = AppDir::new(&manifest);
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;

    let preflight = |origin: &'static str| {
        request("OPTIONS", "/api/info")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(empty())
            .unwrap()
    };
    let reply = client.fetch(preflight("https://app.example.com")).await;
    assert!(reply.status.is_success(), "{}", reply.status);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(reply.header("access-control-max-age"), Some("600"));
    assert!(
        reply
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST")
    );
    assert!(
        reply.body.is_empty(),
        "the host answered, not the component"
    );

    // A disallowed origin learns nothing: no CORS header at all, on a preflight or not.
    for reply in [
        client.fetch(preflight("https://evil.example.com")).await,
        get(
            &mut client,
            "/api/info",
            &[("origin", "https://evil.example.com")],
        )
        .await,
    ] {
        let cors: Vec<&str> = reply
            .headers
            .keys()
            .map(|name| name.as_str())
            .filter(|name| name.starts_with("access-control-"))
            .collect();
        assert!(cors.is_empty(), "{cors:?}");
        assert!(reply.header("vary").is_some());
    }

    let reply = get(
        &mut client,
        "/api/info",
        &[("origin", "https://app.example.com")],
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(
        reply.header("access-control-expose-headers"),
        Some("x-request-id")
    );
    assert_eq!(reply.json()["method"], "GET");

    // A plain OPTIONS (not a preflight) to a route without OPTIONS is still a 405.
    let reply = client
        .fetch(request("OPTIONS", "/api/info").body(empty()).unwrap())
        .await;
    assert_eq!(reply.status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_per_ip_and_per_subject() {
    let manifest = format!(
        r#"
[middleware.per_ip]
type = "rate_limit"
requests = 3
per = "1m"

[middleware.keys]
type = "api_key"
keys = {{ a = "key-a", b = "key-b" }}

[middleware.per_key]
type = "rate_limit"
requests = 2
per = "1h"
key = "subject"

[[route]]
path = "/ip/..."
component = "echo"
middleware = ["per_ip"]

[[route]]
path = "/key/..."
component = "echo"
middleware = ["keys", "per_key"]

{}"#,
        component_section("echo", "wasi_echo", "")
    );
    let app = AppDir::new(&manifest);
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;
    for _ in 0..3 {
        assert_eq!(get(&mut client, "/ip/info", &[]).await.status, 200);
    }
    let reply = get(&mut client, "/ip/info", &[]).await;
    assert_eq!(reply.status, 429);
    let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=20).contains(&retry), "{retry}");
    assert_eq!(reply.header("ratelimit-limit"), Some("3"));
    assert_eq!(reply.header("ratelimit-remaining"), Some("0"));
    assert!(reply.header("ratelimit-reset").is_some());

    for _ in 0..2 {
        assert_eq!(
            get(&mut client, "/key/info", &[("x-api-key", "key-a")])
                .await
                .status,
            200
        );
    }
    assert_eq!(
        get(&mut client, "/key/info", &[("x-api-key", "key-a")])
            .await
            .status,
        429
    );
    // Another subject has its own bucket.
    assert_eq!(
        get(&mut client, "/key/info", &[("x-api-key", "key-b")])
            .await
            .status,
        200
    );
}

/// Sends a request head announcing `length` bytes, then only `sent` of them, and waits for
/// the answer (raw TCP: the test clients cannot stall a body).
async fn stalled_request(
    addr: std::net::SocketAddr,
    path: &str,
    length: usize,
    sent: usize,
) -> String {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("POST {path} HTTP/1.1\r\nhost: test\r\ncontent-length: {length}\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&vec![b'x'; sent]).await.unwrap();
    let mut answer = vec![0; 4096];
    let n = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut answer))
        .await
        .expect("an answer before the test gives up")
        .unwrap();
    String::from_utf8_lossy(&answer[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_header_and_time_limits_answer_413_431_408() {
    let manifest = format!(
        r#"
[middleware.small]
type = "body_limit"
max = "1KiB"

[middleware.few_headers]
type = "header_limit"
max_count = 8
max_size = "1KiB"

[middleware.quick]
type = "request_timeout"
timeout = "300ms"

[[route]]
path = "/small/..."
component = "echo"
middleware = ["small"]

[[route]]
path = "/headers/..."
component = "echo"
middleware = ["few_headers"]

[[route]]
path = "/quick/..."
component = "echo"
middleware = ["quick"]

{}"#,
        component_section("echo", "wasi_echo", "")
    );
    let app = AppDir::new(&manifest);
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;

    let reply = client
        .fetch(
            request("POST", "/small/echo")
                .body(full(vec![b'a'; 1000]))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), 1000);
    let reply = client
        .fetch(
            request("POST", "/small/echo")
                .body(full(vec![b'a'; 2000]))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, 413, "declared length");
    // A chunked body is cut off where it crosses the limit; the client hears 413, not
    // whatever the component made of the broken stream.
    let mut client = Client::http1(server.addr()).await;
    let reply = client
        .fetch(
            request("POST", "/small/count")
                .body(streamed(4, 1024, None))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, 413, "streamed: {}", reply.text());
    let mut client = Client::http1(server.addr()).await;
    let reply = client
        .fetch(
            request("POST", "/small/count")
                .body(streamed(1, 1000, None))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (reply.status.as_u16(), reply.text().as_str()),
        (200, "1000")
    );

    let mut client = Client::http1(server.addr()).await;
    assert_eq!(
        get(&mut client, "/headers/info", &[("x-a", "1")])
            .await
            .status,
        200
    );
    let many: Vec<(String, String)> = (0..10)
        .map(|i| (format!("x-h{i}"), "v".to_string()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    assert_eq!(get(&mut client, "/headers/info", &many).await.status, 431);
    let big = "v".repeat(2000);
    assert_eq!(
        get(&mut client, "/headers/info", &[("x-big", &big)])
            .await
            .status,
        431
    );

    let answer = stalled_request(server.addr(), "/quick/count", 100, 10).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let answer = stalled_request(server.addr(), "/quick/count", 10, 10).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compression_follows_accept_encoding() {
    let manifest = format!(
        "[middleware.zip]\ntype = \"compression\"\n\n[[route]]\npath = \"/z/...\"\ncomponent = \"echo\"\nmiddleware = [\"zip\"]\n\n{}",
        component_section("echo", "wasi_echo", "")
    );
    let app = AppDir::new(&manifest);
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;
    for (accept, expected) in [
        ("gzip", Some("gzip")),
        ("br", Some("br")),
        ("identity", None),
    ] {
        let reply = get(
            &mut client,
            "/z/stream?bytes=20000",
            &[("accept-encoding", accept)],
        )
        .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-encoding"), expected, "{accept}");
        if expected.is_some() {
            assert!(
                reply.body.len() < 20000,
                "{accept}: {} bytes",
                reply.body.len()
            );
        } else {
            assert_eq!(reply.body.len(), 20000);
        }
    }
    // Small responses are not worth it.
    let reply = get(
        &mut client,
        "/z/status?code=200",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(reply.header("content-encoding"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_ids_are_generated_or_propagated_and_logged() {
    let manifest = format!(
        "[middleware.rid]\ntype = \"request_id\"\n\n[middleware.keys]\ntype = \"api_key\"\nkeys = {{ client = \"k-1\" }}\n\n[app]\nmiddleware = [\"rid\"]\n\n[[route]]\npath = \"/...\"\ncomponent = \"echo\"\n\n[[route]]\npath = \"/locked/...\"\ncomponent = \"echo\"\nmiddleware = [\"keys\"]\n\n{}",
        component_section("echo", "wasi_echo", "")
    );
    let app = AppDir::new(&manifest);
    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default().args(["--access-log"]),
    );
    let mut client = Client::http1(server.addr()).await;
    let reply = get(&mut client, "/info", &[]).await;
    let generated = reply.header("x-request-id").unwrap().to_string();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    assert_eq!(seen(&reply.json(), "x-request-id"), [generated.as_str()]);

    let reply = get(
        &mut client,
        "/info",
        &[("x-request-id", "client-chosen-id")],
    )
    .await;
    assert_eq!(reply.header("x-request-id"), Some("client-chosen-id"));
    // A failing component's error body and log line carry the same id.
    let reply = get(
        &mut client,
        "/panic",
        &[("x-request-id", "failing-request-7")],
    )
    .await;
    assert_eq!(reply.status, 500);
    assert_eq!(reply.json()["request_id"], "failing-request-7");
    // So does a rejection by a later step.
    let reply = get(
        &mut client,
        "/locked/info",
        &[("x-request-id", "refused-request-8")],
    )
    .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.header("x-request-id"), Some("refused-request-8"));
    assert_eq!(reply.json()["request_id"], "refused-request-8");
    for needle in [
        "request_id=failing-request-7",
        "request_id=client-chosen-id",
    ] {
        let line = server.wait_for_log(&[needle], Duration::from_secs(5));
        assert!(line.is_some(), "no {needle} in the log:\n{}", server.log());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_schema_validates_bodies_and_queries() {
    let app = AppDir::new(&format!(
        r#"
[middleware.person]
type = "json_schema"
schema = "person.json"
query_schema = "query.json"
max = "4KiB"

[[route]]
path = "/people/..."
component = "echo"
middleware = ["person"]

{}"#,
        component_section("echo", "wasi_echo", "")
    ));
    std::fs::write(
        app.path().join("person.json"),
        r#"{"type":"object","required":["name","age"],"properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0},"tags":{"type":"array","items":{"type":"string"}}}}"#,
    )
    .unwrap();
    std::fs::write(
        app.path().join("query.json"),
        r#"{"type":"object","properties":{"limit":{"type":"integer","maximum":100}}}"#,
    )
    .unwrap();
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;
    let post = |body: &str, content_type: &str| {
        request("POST", "/people/echo?limit=10")
            .header("content-type", content_type)
            .body(full(body.to_string()))
            .unwrap()
    };
    let good = r#"{"name":"Ada","age":36,"tags":["math"]}"#;
    let reply = client.fetch(post(good, "application/json")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.text(),
        good,
        "the validated body reaches the component intact"
    );

    let reply = client
        .fetch(post(
            r#"{"name":"Ada","age":-1,"tags":[7]}"#,
            "application/json",
        ))
        .await;
    assert_eq!(reply.status, 422);
    let paths: Vec<String> = reply.json()["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    assert!(
        paths.contains(&"/age".to_string()) && paths.contains(&"/tags/0".to_string()),
        "{paths:?}"
    );

    let reply = client
        .fetch(post(r#"{"name": "Ada", "#, "application/json"))
        .await;
    assert_eq!(reply.status, 400);
    assert!(reply.text().contains("line 1"), "{}", reply.text());
    assert_eq!(client.fetch(post(good, "text/plain")).await.status, 415);
    let huge = format!(r#"{{"name":"{}","age":1}}"#, "a".repeat(5000));
    assert_eq!(
        client.fetch(post(&huge, "application/json")).await.status,
        413
    );

    let reply = get(&mut client, "/people/info?limit=1000", &[]).await;
    assert_eq!(reply.status, 422);
    assert_eq!(reply.json()["errors"][0]["path"], "query/limit");
    assert_eq!(
        get(&mut client, "/people/info?limit=5", &[]).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasm_middleware_answers_or_passes_on() {
    let manifest = format!(
        r#"
[middleware.tenants]
type = "wasm"
component = "gate"

[middleware.rid]
type = "request_id"

[[route]]
path = "/t/:name/..."
component = "echo"
middleware = ["rid", "tenants"]

[[route]]
path = "/direct/..."
component = "echo"

{}{}"#,
        component_section("echo", "wasi_echo", ""),
        component_section(
            "gate",
            "tenant-gate",
            "variables = { tenants = \"acme,globex\" }"
        )
    );
    let app = AppDir::new(&manifest);
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;

    // Short-circuit: the middleware answers; the handler never runs.
    let reply = get(&mut client, "/t/x/info", &[]).await;
    assert_eq!(reply.status, 403);
    assert_eq!(reply.json()["error"], "unknown tenant");
    let reply = get(&mut client, "/t/x/info", &[("x-tenant", "initech")]).await;
    assert_eq!(reply.status, 403);

    // Pass-through: the request reaches the handler changed, the response comes back marked.
    let reply = get(&mut client, "/t/x/info?q=1", &[("x-tenant", "ACME")]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.header("x-tenant-served"), Some("acme"));
    assert!(reply.header("x-request-id").is_some());
    let info = reply.json();
    assert_eq!(info["path_with_query"], "/t/x/info?q=1");
    assert_eq!(seen(&info, "x-tenant-id"), ["acme"]);
    assert_eq!(seen(&info, "tessera-param-name"), ["x"]);
    assert_eq!(seen(&info, "tessera-route"), ["/t/:name/..."]);
    assert_eq!(seen(&info, "x-request-id").len(), 1);

    // Bodies stream through both ways.
    let reply = client
        .fetch(
            request("POST", "/t/x/echo")
                .header("x-tenant", "globex")
                .body(streamed(8, 16 * 1024, None))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), 8 * 16 * 1024);

    // A handler (not a middleware step) cannot reach the reserved authority.
    let reply = get(
        &mut client,
        "/direct/outbound?authority=next.tessera.internal",
        &[],
    )
    .await;
    assert!(
        reply.text().contains("HttpRequestDenied"),
        "{}",
        reply.text()
    );
    assert!(
        server
            .wait_for_log(
                &["only a middleware step may send one"],
                Duration::from_secs(5)
            )
            .is_some()
    );
}
