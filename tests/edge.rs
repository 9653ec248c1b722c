//! `examples/edge` end to end: every route and its bad input, served by a real `tessera up`
//! from the example's own manifest.

use std::path::{Path, PathBuf};

use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};
use tessera_test_support::{
    Client, Reply, Server, ServerOptions, WORKSPACE_ROOT, full, request_with,
};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");
const SECRET: &str = "edge-test-secret";

fn manifest() -> PathBuf {
    Path::new(WORKSPACE_ROOT).join("examples/edge/tessera.toml")
}

fn start(state: &Path, env: &[(&str, &str)]) -> Server {
    let mut options = ServerOptions::default()
        .args(["--state-dir".to_string(), state.display().to_string()])
        .env("TESSERA_SECRET_JWT_SECRET", SECRET);
    for (key, value) in env {
        options = options.env(key, value);
    }
    Server::start_with(TESSERA, &manifest(), options)
}

async fn call(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let builder = request_with(method, path, headers);
    Client::http1(server.addr())
        .await
        .fetch(builder.body(full(body.to_string())).expect("a request"))
        .await
}

async fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> Reply {
    call(server, "GET", path, headers, "").await
}

async fn post_json(server: &Server, path: &str, body: &Value) -> Reply {
    call(
        server,
        "POST",
        path,
        &[("content-type", "application/json")],
        &body.to_string(),
    )
    .await
}

fn token(subject: &str, expires_in: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    jsonwebtoken::encode(
        &Header::default(),
        &json!({"sub": subject, "exp": now + expires_in, "roles": ["reader"]}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("a token")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_edge_serves_every_route() {
    let state = tempfile::tempdir().expect("tempdir");
    let server = start(state.path(), &[]);

    // The two-tier read.
    let miss = get(&server, "/api/user/7", &[]).await;
    assert_eq!(miss.status, 200, "{}", miss.text());
    assert_eq!(miss.header("x-cache"), Some("miss"));
    let user = miss.json();
    assert_eq!(user["id"], 7);
    assert!(
        user["email"].as_str().unwrap().ends_with("7@example.com"),
        "{user}"
    );
    let hit = get(&server, "/api/user/7", &[]).await;
    assert_eq!((hit.header("x-cache"), hit.json()), (Some("hit"), user));
    assert_eq!(get(&server, "/api/user/999", &[]).await.status, 404);
    assert_eq!(get(&server, "/api/user/seven", &[]).await.status, 400);

    // Geography.
    for (headers, query, expected) in [
        (
            vec![("x-country", "de")],
            "",
            json!({"country": "DE", "region": "eu", "greeting": "Guten Tag", "source": "header"}),
        ),
        (
            vec![],
            "?country=jp",
            json!({"country": "JP", "region": "apac", "greeting": "こんにちは", "source": "query"}),
        ),
        (
            vec![("x-country", "BR")],
            "?country=jp",
            json!({"country": "BR", "region": "sa", "greeting": "Olá", "source": "header"}),
        ),
        (
            vec![("x-country", "XX")],
            "",
            json!({"country": "XX", "region": "global", "greeting": "Hello", "source": "default"}),
        ),
        (
            vec![],
            "",
            json!({"country": null, "region": "global", "greeting": "Hello", "source": "default"}),
        ),
    ] {
        let reply = get(&server, &format!("/api/geo{query}"), &headers).await;
        assert_eq!(reply.json(), expected, "{headers:?} {query}");
        assert_eq!(reply.header("vary"), Some("x-country"));
    }
    let redirect = get(&server, "/api/geo?country=br&redirect=1", &[]).await;
    assert_eq!(
        (redirect.status.as_u16(), redirect.header("location")),
        (302, Some("/sa/"))
    );
    let unknown = get(&server, "/api/geo?redirect=1", &[("x-country", "ZZ")]).await;
    assert_eq!(unknown.header("location"), Some("/global/"));

    // A/B: assigned once, then sticky; about even over many visitors.
    let first = get(&server, "/api/ab", &[]).await;
    let body = first.json();
    let group = body["group"].as_str().unwrap().to_string();
    assert!(group == "A" || group == "B");
    assert_eq!(body["assigned"], true);
    assert_eq!(
        first.header("set-cookie"),
        Some(
            format!("test-group={group}; Path=/; Max-Age=2592000; HttpOnly; Secure; SameSite=Lax")
                .as_str()
        )
    );
    assert_eq!(first.header("cache-control"), Some("private, max-age=300"));
    let cookie = format!("session=x; test-group={group}");
    let again = get(&server, "/api/ab", &[("cookie", &cookie)]).await;
    assert_eq!(again.json(), json!({"group": group, "assigned": false}));
    assert_eq!(again.header("set-cookie"), None);
    let forged = get(&server, "/api/ab", &[("cookie", "test-group=C")]).await;
    assert_eq!(forged.json()["assigned"], true);
    let mut a = 0;
    for _ in 0..200 {
        if get(&server, "/api/ab", &[]).await.json()["group"] == "A" {
            a += 1;
        }
    }
    assert!((60..=140).contains(&a), "{a} of 200 in group A");

    // Analytics: validated by the schema step, stored, summarised.
    for (kind, name, ts) in [
        ("pageview", "/home", 1000),
        ("pageview", "/home", 2000),
        ("click", "buy", 3000),
        ("pageview", "/pricing", 4000),
    ] {
        let reply = post_json(
            &server,
            "/api/analytics",
            &json!({"type": kind, "name": name, "timestamp": ts, "properties": {"ref": "test"}}),
        )
        .await;
        assert_eq!(reply.status, 201, "{}", reply.text());
        assert_eq!(reply.json()["id"].as_str().map(str::len), Some(32));
    }
    for (body, status, needle) in [
        (json!({"type": "pageview", "timestamp": 1}), 422, "name"),
        (
            json!({"type": "teleport", "name": "x", "timestamp": 1}),
            422,
            "/type",
        ),
        (
            json!({"type": "click", "name": "x", "timestamp": -5}),
            422,
            "/timestamp",
        ),
        (
            json!({"type": "click", "name": "x", "timestamp": 1, "secret": true}),
            422,
            "secret",
        ),
        (
            json!({"type": "click", "name": "x", "timestamp": 1, "properties": {"nested": {"a": 1}}}),
            422,
            "/properties/nested",
        ),
    ] {
        let reply = post_json(&server, "/api/analytics", &body).await;
        assert_eq!(reply.status, status, "{body}: {}", reply.text());
        assert!(reply.text().contains(needle), "{body}: {}", reply.text());
    }
    let not_json = call(
        &server,
        "POST",
        "/api/analytics",
        &[("content-type", "text/plain")],
        "hi",
    )
    .await;
    assert_eq!(not_json.status, 415);
    let broken = call(
        &server,
        "POST",
        "/api/analytics",
        &[("content-type", "application/json")],
        "{\"type\":",
    )
    .await;
    assert_eq!(broken.status, 400);
    let summary = get(&server, "/api/analytics/summary", &[]).await.json();
    assert_eq!(
        summary,
        json!({"since": 0, "total": 4, "counts": [
            {"type": "pageview", "name": "/home", "count": 2},
            {"type": "click", "name": "buy", "count": 1},
            {"type": "pageview", "name": "/pricing", "count": 1}]})
    );
    let later = get(&server, "/api/analytics/summary?since=2500", &[])
        .await
        .json();
    assert_eq!(later["total"], 2);
    assert_eq!(
        get(&server, "/api/analytics/summary?since=yesterday", &[])
            .await
            .status,
        400
    );

    // The transform, by the manifest's mapping.
    let reply = post_json(
        &server,
        "/api/transform",
        &json!({"user": {"firstName": "Ada", "lastName": "Byron", "email": "ADA@Example.COM"}, "country": "gb", "age": "36", "internal": true}),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({"first_name": "Ada", "last_name": "Byron", "email": "ada@example.com", "country": "GB", "age": 36, "plan": "free"})
    );
    let many = post_json(
        &server,
        "/api/transform",
        &json!([{"age": 1}, {"age": 2, "country": null}]),
    )
    .await;
    assert_eq!(
        many.json(),
        json!([{"age": 1, "country": "ZZ", "plan": "free"}, {"age": 2, "country": "ZZ", "plan": "free"}])
    );
    let bad_age = post_json(&server, "/api/transform", &json!({"age": "old"})).await;
    assert_eq!(bad_age.status, 422, "{}", bad_age.text());
    assert!(
        bad_age.text().contains("age: \\\"old\\\" is not a number"),
        "{}",
        bad_age.text()
    );
    assert_eq!(
        post_json(&server, "/api/transform", &json!("text"))
            .await
            .status,
        400
    );
    assert_eq!(
        post_json(&server, "/api/transform", &json!([1]))
            .await
            .status,
        400
    );

    // Behind the jwt step.
    assert_eq!(get(&server, "/api/private/profile", &[]).await.status, 401);
    let bearer = format!("Bearer {}", token("user-42", 600));
    let private = get(
        &server,
        "/api/private/profile",
        &[("authorization", &bearer)],
    )
    .await;
    assert_eq!(private.status, 200, "{}", private.text());
    assert_eq!(private.json()["subject"], "user-42");
    assert_eq!(private.json()["claims"]["roles"], json!(["reader"]));
    let expired = format!("Bearer {}", token("user-42", -600));
    assert_eq!(
        get(
            &server,
            "/api/private/profile",
            &[("authorization", &expired)]
        )
        .await
        .status,
        401
    );

    // Stored durably: a restart on the same state still has the events.
    drop(server);
    let server = start(
        state.path(),
        &[(
            "TESSERA_VAR_MAPPING",
            r#"{"fields": [{"from": "a", "to": "b"}], "keep_unmapped": true}"#,
        )],
    );
    assert_eq!(
        get(&server, "/api/analytics/summary", &[]).await.json()["total"],
        4
    );
    // And the mapping is a variable: replaced from the environment, no rebuild.
    let reply = post_json(&server, "/api/transform", &json!({"a": 1, "c": 2})).await;
    assert_eq!(reply.json(), json!({"b": 1, "c": 2}));
}
