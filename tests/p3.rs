//! End-to-end: WASI 0.3 components (`wasi:http/handler@0.3.0`), served beside WASI 0.2 ones.
//!
//! The guest is `tests/guests/p3-echo`, built with the `wasip3` crate (the Bytecode Alliance's
//! WASI 0.3 bindings for Rust); what it answers on each path is listed there.

use std::time::Duration;

use http::HeaderMap;
use tessera_test_support::{
    AppDir, Client, Reply, Server, ServerOptions, component_section, empty, full, get, pattern,
    request, request_with, streamed, versioned_guest,
};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");
const TOKEN: &str = "a-test-admin-token";

/// `/p3/...` on the 0.3 guest (with the `default` store and tight limits), `/p2/...` on the
/// 0.2 echo guest, `/bare/...` on the 0.3 guest with no grants, `/locked/...` behind an API
/// key, `/gated/...` and `/gated-p2/...` behind the 0.3 middleware component, `/tenant/...`
/// behind a 0.2 one (examples/tenant-gate).
fn app(p3_extra: &str) -> AppDir {
    AppDir::new(&format!(
        "[middleware.keys]\ntype = \"api_key\"\nkeys = {{ client = \"k-1\" }}\n\n\
         [middleware.gate]\ntype = \"wasm\"\ncomponent = \"gate\"\n\n\
         [middleware.tenants]\ntype = \"wasm\"\ncomponent = \"tenant-gate\"\n\n\
         [[route]]\npath = \"/tenant/...\"\ncomponent = \"p3\"\nmiddleware = [\"tenants\"]\n\n\
         [[route]]\npath = \"/gated/...\"\ncomponent = \"p3\"\nmiddleware = [\"gate\"]\n\n\
         [[route]]\npath = \"/gated-p2/...\"\ncomponent = \"p2\"\nmiddleware = [\"gate\"]\n\n\
         [[route]]\npath = \"/p3/...\"\ncomponent = \"p3\"\n\n\
         [[route]]\npath = \"/p2/...\"\ncomponent = \"p2\"\n\n\
         [[route]]\npath = \"/bare/...\"\ncomponent = \"bare\"\n\n\
         [[route]]\npath = \"/locked/...\"\ncomponent = \"p3\"\nmiddleware = [\"keys\"]\n\n\
         {}\n{}\n{}\n{}\n{}",
        component_section("gate", "p3_gate", ""),
        component_section(
            "tenant-gate",
            "tenant-gate",
            "variables = { tenants = \"acme,globex\" }",
        ),
        component_section(
            "p3",
            "p3_echo",
            &format!(
                "key_value_stores = [\"default\"]\n\
                 sql_databases = [\"default\"]\n\
                 variables = {{ greeting = \"hello from 0.3\" }}\n\
                 allowed_outbound_hosts = [\"http://127.0.0.1:*\"]\n{p3_extra}\n\
                 [component.p3.limits]\ntimeout = \"1s\"\nmemory = \"32MiB\""
            ),
        ),
        component_section("p2", "wasi_echo", ""),
        component_section("bare", "p3_echo", ""),
    ))
}

/// `GET path` with `headers`, on `client`'s connection.
async fn get_with(client: &mut Client, path: &str, headers: &[(&str, &str)]) -> Reply {
    client
        .fetch(
            request_with("GET", path, headers)
                .body(empty())
                .expect("valid request"),
        )
        .await
}

/// A server for `app` with its admin endpoint, and the endpoint's address.
fn start_with_admin(app: &AppDir) -> (Server, std::net::SocketAddr) {
    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default().args(["--admin", "127.0.0.1:0", "--admin-token", TOKEN]),
    );
    let admin_at = server.logged_addr("admin endpoint: http://");
    (server, admin_at)
}

/// Replaces component `id` through the admin endpoint with `wasm`.
async fn replace(admin_at: std::net::SocketAddr, id: &str, wasm: Vec<u8>) -> Reply {
    let headers = [("authorization", format!("Bearer {TOKEN}"))];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    Client::http1(admin_at)
        .await
        .fetch(
            request_with("PUT", &format!("/components/{id}"), &headers)
                .body(full(wasm))
                .expect("valid request"),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasi_0_3_component_serves_beside_a_0_2_one_with_middleware_and_the_access_log() {
    let app = app("");
    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default().args(["--access-log"]),
    );
    let addr = server.addr();
    let reply = get(addr, "/p3/hello?x=1").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "p3 GET /p3/hello");
    let reply = get(addr, "/p2/status?code=201").await;
    assert_eq!(
        reply.status,
        201,
        "the 0.2 component beside it: {}",
        reply.text()
    );

    // A host middleware step in front of a 0.3 component.
    assert_eq!(get(addr, "/locked/hello").await.status, 401);
    let mut client = Client::http1(addr).await;
    let reply = get_with(&mut client, "/locked/hello", &[("x-api-key", "k-1")]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "p3 GET /locked/hello");

    for path in ["/p3/hello", "/locked/hello"] {
        server
            .wait_for_log(&[path, "component=\"p3\""], Duration::from_secs(5))
            .unwrap_or_else(|| panic!("an access log line for {path}:\n{}", server.log()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mebibyte_streams_both_ways_with_trailers() {
    let app = app("");
    let server = Server::start(TESSERA, &app.manifest());
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", "sent-last".parse().expect("a header value"));
    let mut client = Client::http2(server.addr()).await;
    let reply = client
        .fetch(
            request("POST", "/p3/echo")
                .body(streamed(16, 64 << 10, Some(trailers)))
                .expect("valid request"),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.body.len(), 1 << 20);
    assert!(
        reply.body == pattern(1 << 20),
        "the body came back unchanged"
    );
    assert_eq!(
        reply
            .trailers
            .as_ref()
            .and_then(|t| t.get("x-checksum"))
            .and_then(|v| v.to_str().ok()),
        Some("sent-last"),
        "the request's trailers came back as the response's"
    );

    // Written by a task of the guest after its handler returned.
    let reply = get(server.addr(), "/p3/big?bytes=3000000").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body.len(), 3_000_000);
    assert_eq!(&reply.body[..28], b"abcdefghijklmnopqrstuvwxyzab");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadline_memory_cap_and_trap_are_contained() {
    let app = app("");
    let server = Server::start(TESSERA, &app.manifest());
    let addr = server.addr();
    let started = std::time::Instant::now();
    assert_eq!(get(addr, "/p3/loop").await.status, 504);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "stopped at its deadline"
    );
    assert_eq!(get(addr, "/p3/grow").await.status, 500);
    assert_eq!(get(addr, "/p3/trap").await.status, 500);
    for failure in [
        "did not finish within its 1s deadline",
        "exceeded its memory cap of 32.0 MiB",
        "component \"p3\" crashed",
    ] {
        server
            .wait_for_log(&[failure], Duration::from_secs(5))
            .unwrap_or_else(|| panic!("{failure} in the log:\n{}", server.log()));
    }
    // And it serves on.
    assert_eq!(get(addr, "/p3/hello").await.status, 200);
    assert_eq!(get(addr, "/p2/status?code=200").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn granted_stores_databases_and_variables_are_usable_and_others_refused() {
    let app = app("");
    let server = Server::start(TESSERA, &app.manifest());
    let addr = server.addr();
    assert_eq!(get(addr, "/p3/kv?key=colour&value=teal").await.status, 200);
    let reply = get(addr, "/p3/kv?key=colour").await;
    assert_eq!(
        (reply.status.as_u16(), reply.text().as_str()),
        (200, "teal")
    );
    let reply = get(addr, "/bare/kv?key=colour").await;
    assert_eq!(reply.status, 403, "no grant, no store: {}", reply.text());

    // SQL (the embedded database) and variables, granted and not.
    for (n, expected) in [(5, "count=1 sum=5"), (7, "count=2 sum=12")] {
        let reply = get(addr, &format!("/p3/sql?n={n}")).await;
        assert_eq!(
            (reply.status.as_u16(), reply.text().as_str()),
            (200, expected)
        );
    }
    assert_eq!(get(addr, "/bare/sql?n=1").await.status, 403);
    let reply = get(addr, "/p3/config?key=greeting").await;
    assert_eq!(
        (reply.status.as_u16(), reply.text().as_str()),
        (200, "hello from 0.3")
    );
    // A variable the component was not given is refused (as on 0.2), not merely unset.
    assert_eq!(get(addr, "/p3/config?key=other").await.status, 403);
    assert_eq!(get(addr, "/bare/config?key=greeting").await.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_goes_to_granted_hosts_only() {
    let app = app("");
    let server = Server::start(TESSERA, &app.manifest());
    let addr = server.addr();
    // The server itself is the upstream: its 0.2 route answers with the status asked for.
    let path = format!("/p3/fetch?port={}&path=/p2/status", addr.port());
    let reply = get(addr, &path).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "upstream 200");
    let reply = get(addr, &path.replace("/p3/", "/bare/")).await;
    assert_eq!(reply.status, 502, "not granted: {}", reply.text());
    assert!(
        reply.text().contains("HttpRequestDenied"),
        "{}",
        reply.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_reuse_requests_share_an_instance_up_to_max_requests_and_never_after_a_trap() {
    let app = app("reuse = { max_requests = 3 }");
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;
    let mut seen = Vec::new();
    for _ in 0..7 {
        let reply = client.get("/p3/visits").await;
        assert_eq!(reply.status, 200);
        seen.push(reply.text());
        // The instance goes back when the guest's call returns, just after the response.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(seen, ["1", "2", "3", "1", "2", "3", "1"]);
    assert_eq!(client.get("/p3/trap").await.status, 500);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(
        client.get("/p3/visits").await.text(),
        "1",
        "a fresh instance"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_2_component_is_replaced_by_a_0_3_one_while_serving() {
    let app = app("");
    let (server, admin_at) = start_with_admin(&app);
    let p3 = std::fs::read(tessera_test_support::guest("p3_echo")).expect("the 0.3 guest");
    // The 0.2 guest's own answer first, so the change shows.
    assert_eq!(get(server.addr(), "/p2/status?code=202").await.status, 202);
    let reply = replace(admin_at, "p2", p3).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let reply = get(server.addr(), "/p2/status?code=202").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "p3 GET /p2/status");
    // And back to 0.2.
    let reply = replace(admin_at, "p2", versioned_guest(2)).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_ne!(
        get(server.addr(), "/p2/hello").await.text(),
        "p3 GET /p2/hello"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wasi_0_3_middleware_component_chains_to_0_3_and_0_2_components() {
    let app = app("");
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http2(server.addr()).await;
    // Refused by the step itself: the component behind it never runs.
    assert_eq!(client.get("/gated/hello").await.status, 403);
    for (path, expected) in [
        ("/gated/hello", "p3 GET /gated/hello"),
        ("/gated-p2/status?code=202", ""),
    ] {
        let reply = get_with(&mut client, path, &[("x-tenant", "acme")]).await;
        assert_eq!(reply.header("x-gate-served"), Some("p3"), "{path}");
        if expected.is_empty() {
            assert_eq!(reply.status, 202, "{path}: {}", reply.text());
        } else {
            assert_eq!(
                (reply.status.as_u16(), reply.text().as_str()),
                (200, expected)
            );
        }
    }
    // The header the step added reached the component: the 0.2 echo guest shows what it got.
    let reply = get_with(&mut client, "/gated-p2/info", &[("x-tenant", "globex")]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply.text().contains("x-tenant-id") && reply.text().contains("globex"),
        "{}",
        reply.text()
    );
    // A 0.2 middleware component in front of a 0.3 one.
    let reply = get_with(&mut client, "/tenant/hello", &[("x-tenant", "acme")]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.text(), "p3 GET /tenant/hello");
    assert!(
        reply.header("x-tenant-served").is_some(),
        "{:?}",
        reply.headers
    );
    // A 1 MiB body streams through the step both ways.
    let reply = client
        .fetch(
            request("POST", "/gated/echo")
                .header("x-tenant", "acme")
                .body(streamed(16, 64 << 10, None))
                .expect("valid request"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.body == pattern(1 << 20),
        "the body came through unchanged"
    );
}

/// `GET path` on a connection of its own: the answers' text, in the order sent.
async fn at_once(addr: std::net::SocketAddr, path: &str, n: usize) -> Vec<(u16, String)> {
    let mut tasks = Vec::new();
    for _ in 0..n {
        let path = path.to_string();
        tasks.push(tokio::spawn(async move {
            let reply = get(addr, &path).await;
            (reply.status.as_u16(), reply.text())
        }));
    }
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("request task"));
    }
    answers
}

/// The `visits=V most=M` answer of `nap`.
fn nap_counts(text: &str) -> (u32, u32) {
    let field = |name: &str| -> u32 {
        text.split(' ')
            .find_map(|pair| pair.strip_prefix(name))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text:?}"))
    };
    (field("visits="), field("most="))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_max_concurrent_a_0_3_instance_serves_requests_at_once_and_fails_them_together() {
    let app = app("reuse = { max_requests = 100, max_concurrent = 8 }");
    let server = Server::start(TESSERA, &app.manifest());
    let addr = server.addr();

    // Eight naps of 400 ms at once: instances take up to eight each, so some share one.
    let started = std::time::Instant::now();
    let answers = at_once(addr, "/p3/nap?ms=400", 8).await;
    let elapsed = started.elapsed();
    let counts: Vec<(u32, u32)> = answers
        .iter()
        .map(|(status, text)| {
            assert_eq!(*status, 200, "{text}");
            nap_counts(text)
        })
        .collect();
    assert!(
        counts.iter().any(|&(_, most)| most >= 2),
        "no instance had two requests at once: {counts:?}"
    );
    assert!(elapsed < Duration::from_millis(2400), "{elapsed:?}");

    // The instances stay for the next requests, also behind the middleware step (which
    // keeps one request per instance). Which instance takes a request is Wasmtime's worker
    // queue's choice (it may start a fresh one while the others are busy marking themselves
    // free), so this asks only that instances served again.
    let mut client = Client::http1(addr).await;
    let mut visits = Vec::new();
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        visits.push(nap_counts(&client.get("/p3/nap?ms=1").await.text()).0);
    }
    assert!(
        visits.iter().any(|&v| v > 1),
        "no instance served again: {visits:?}"
    );
    let gated = get_with(&mut client, "/gated/hello", &[("x-tenant", "acme")]).await;
    assert_eq!(gated.text(), "p3 GET /gated/hello");

    // A trap fails the requests sharing its instance and ends it; a guest past its
    // deadline is answered 504; the server serves on, on fresh instances.
    let (trapped, napping) = tokio::join!(get(addr, "/p3/trap"), get(addr, "/p3/nap?ms=300"));
    assert_eq!(trapped.status, 500);
    assert!(
        matches!(napping.status.as_u16(), 200 | 500),
        "{}",
        napping.text()
    );
    let started = std::time::Instant::now();
    assert_eq!(get(addr, "/p3/loop").await.status, 504);
    assert!(started.elapsed() < Duration::from_secs(5));
    let (visits, _) = nap_counts(&get(addr, "/p3/nap?ms=1").await.text());
    assert!(
        visits <= 2,
        "a fresh instance, not the one that trapped: {visits}"
    );
    server
        .wait_for_log(
            &["did not finish within its 1s deadline"],
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("the deadline in the log:\n{}", server.log()));
}

#[test]
fn a_0_2_component_with_max_concurrent_is_refused_with_the_fix() {
    let app = AppDir::new(&format!(
        "[[route]]\npath = \"/p2/...\"\ncomponent = \"p2\"\n\n{}",
        component_section("p2", "wasi_echo", "reuse = { max_concurrent = 4 }"),
    ));
    let output = std::process::Command::new(TESSERA)
        .args(["check", "--manifest"])
        .arg(app.manifest())
        .env("TESSERA_LOG", "off")
        .output()
        .expect("tessera check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("is a WASI 0.2 component, which takes one request at a time"),
        "{stderr}"
    );
    assert!(stderr.contains("set `max_concurrent = 1`"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_0_3_component_with_max_concurrent_is_replaced_under_load_losing_no_request() {
    let app = app("reuse = { max_requests = 1000, max_concurrent = 8 }");
    let (server, admin_at) = start_with_admin(&app);
    let addr = server.addr();
    let wasm = std::fs::read(tessera_test_support::guest("p3_echo")).expect("the 0.3 guest");
    let mut load = tokio::task::JoinSet::new();
    for _ in 0..6 {
        load.spawn(async move {
            let mut client = Client::http1(addr).await;
            let mut statuses = Vec::new();
            for _ in 0..40 {
                statuses.push(client.get("/p3/nap?ms=5").await.status.as_u16());
            }
            statuses
        });
    }
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let reply = replace(admin_at, "p3", wasm.clone()).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }
    let mut statuses = Vec::new();
    while let Some(done) = load.join_next().await {
        statuses.extend(done.expect("a load task"));
    }
    assert_eq!(statuses.len(), 240);
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
}
