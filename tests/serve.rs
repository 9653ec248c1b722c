//! End-to-end: standard `wasi:http/proxy` components from three guest toolchains (the `wasi`
//! crate, `wstd`, `wit-bindgen`) served unchanged over real HTTP/1.1 and HTTP/2.

use std::time::Duration;

use http::HeaderMap;
use tessera_test_support::{
    AppDir, Client, Server, component_section, empty, full, pattern, request, streamed,
};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

/// The three toolchains' echo guests, each behind its own prefix.
const TOOLCHAINS: &[(&str, &str)] = &[
    ("wasi", "wasi_echo"),
    ("wstd", "wstd-echo"),
    ("bindgen", "bindgen_echo"),
];

fn echo_app() -> AppDir {
    let mut manifest = String::new();
    for (id, stem) in TOOLCHAINS {
        manifest.push_str(&format!(
            "[[route]]\npath = \"/{id}/...\"\ncomponent = \"{id}\"\n\n"
        ));
        manifest.push_str(&component_section(id, stem, ""));
    }
    manifest.push_str(
        "[[route]]\npath = \"/users/:id/posts/:post_id\"\ncomponent = \"wasi\"\nmethods = [\"GET\", \"POST\"]\n\n\
         [[route]]\npath = \"/users/me/posts/:post_id\"\ncomponent = \"wstd\"\n\n\
         [[route]]\npath = \"/files/...\"\ncomponent = \"bindgen\"\n",
    );
    AppDir::new(&manifest)
}

fn header_value<'a>(info: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    info["headers"]
        .as_array()
        .expect("headers array")
        .iter()
        .filter(|pair| pair[0].as_str() == Some(name))
        .map(|pair| pair[1].as_str().expect("header value"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_toolchains_see_method_path_query_and_headers() {
    let app = echo_app();
    let server = Server::start(TESSERA, &app.manifest());
    for http2 in [false, true] {
        let mut client = if http2 {
            Client::http2(server.addr()).await
        } else {
            Client::http1(server.addr()).await
        };
        for (id, _) in TOOLCHAINS {
            let reply = client
                .fetch(
                    request("POST", &format!("/{id}/a/info?x=1&y=%C3%A9"))
                        .header("x-custom", "one")
                        .header("x-custom", "two")
                        // Reserved headers from the client never reach the guest.
                        .header("tessera-route", "/forged")
                        .header("tessera-param-id", "forged")
                        .body(full("ignored"))
                        .expect("request"),
                )
                .await;
            assert_eq!(reply.status, 200, "{id}: {}", reply.text());
            let info = reply.json();
            assert_eq!(info["method"], "POST", "{id}");
            assert_eq!(
                info["path_with_query"],
                format!("/{id}/a/info?x=1&y=%C3%A9"),
                "{id}"
            );
            assert_eq!(header_value(&info, "x-custom"), ["one", "two"], "{id}");
            assert_eq!(
                header_value(&info, "tessera-route"),
                [format!("/{id}/...")],
                "{id}"
            );
            assert_eq!(
                header_value(&info, "tessera-path-rest"),
                ["/a/info"],
                "{id}"
            );
            assert!(
                header_value(&info, "tessera-param-id").is_empty(),
                "{id}: forged header passed"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_and_wildcards_reach_the_guest_in_headers() {
    let app = echo_app();
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;

    let info = client.get("/users/42/posts/info").await.json();
    assert_eq!(info["toolchain"], "wasi");
    assert_eq!(
        header_value(&info, "tessera-route"),
        ["/users/:id/posts/:post_id"]
    );
    assert_eq!(header_value(&info, "tessera-param-id"), ["42"]);
    assert_eq!(header_value(&info, "tessera-param-post_id"), ["info"]);

    // An exact segment beats a parameter.
    let info = client.get("/users/me/posts/info").await.json();
    assert_eq!(info["toolchain"], "wstd");

    let info = client.get("/files/a/b/info").await.json();
    assert_eq!(info["toolchain"], "wit-bindgen");
    assert_eq!(header_value(&info, "tessera-path-rest"), ["/a/b/info"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_answers_404_and_405_without_a_guest() {
    let app = echo_app();
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;

    let reply = client.get("/nowhere").await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"], "no route matches this path");

    let reply = client
        .fetch(
            request("DELETE", "/users/1/posts/2")
                .body(empty())
                .expect("request"),
        )
        .await;
    assert_eq!(reply.status, 405);
    assert_eq!(reply.header("allow"), Some("GET, POST, HEAD"));

    // HEAD is allowed wherever GET is.
    let reply = client
        .fetch(
            request("HEAD", "/users/1/posts/info")
                .body(empty())
                .expect("request"),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert!(reply.body.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_codes_pass_through() {
    let app = echo_app();
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;
    for (id, _) in TOOLCHAINS {
        for code in [200, 201, 204, 301, 400, 404, 418, 500, 503] {
            let reply = client.get(&format!("/{id}/status?code={code}")).await;
            assert_eq!(reply.status.as_u16(), code, "{id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_stream_both_ways() {
    let app = echo_app();
    let server = Server::start(TESSERA, &app.manifest());
    const CHUNK: usize = 64 << 10;
    const CHUNKS: usize = 128; // 8 MiB, well above any buffer on the way.
    for http2 in [false, true] {
        for (id, _) in TOOLCHAINS {
            let mut client = if http2 {
                Client::http2(server.addr()).await
            } else {
                Client::http1(server.addr()).await
            };
            let reply = client
                .fetch(
                    request("POST", &format!("/{id}/echo"))
                        .header("content-type", "application/octet-stream")
                        .body(streamed(CHUNKS, CHUNK, None))
                        .expect("request"),
                )
                .await;
            assert_eq!(reply.status, 200, "{id} http2={http2}");
            assert_eq!(reply.body.len(), CHUNKS * CHUNK, "{id} http2={http2}");
            assert!(
                reply.body.chunks(CHUNK).all(|c| c == pattern(CHUNK)),
                "{id} http2={http2}: echoed body differs"
            );

            let size = 5 * 1024 * 1024 + 17;
            let reply = client.get(&format!("/{id}/stream?bytes={size}")).await;
            assert_eq!(reply.status, 200, "{id}");
            assert_eq!(reply.body.len(), size, "{id}");
            assert!(
                reply
                    .body
                    .chunks(65536)
                    .all(|c| c == &pattern(65536)[..c.len()]),
                "{id}"
            );
        }
    }
}

/// The reply carries the trailer `name: value`.
fn assert_trailer(reply: &tessera_test_support::Reply, name: &str, value: &str, id: &str) {
    let trailers = reply
        .trailers
        .as_ref()
        .unwrap_or_else(|| panic!("{id}: no trailers"));
    assert_eq!(
        trailers.get(name).map(|v| v.as_bytes()),
        Some(value.as_bytes()),
        "{id}: trailer {name}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailers_travel_over_http2_both_ways() {
    let app = echo_app();
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http2(server.addr()).await;
    for (id, _) in TOOLCHAINS {
        let reply = client.get(&format!("/{id}/trailers")).await;
        assert_eq!(reply.status, 200, "{id}");
        assert_eq!(reply.text(), "body before trailers\n", "{id}");
        assert_trailer(&reply, "x-trailer", "done", id);

        let mut sent = HeaderMap::new();
        sent.insert("x-checksum", "abc123".parse().expect("header value"));
        let reply = client
            .fetch(
                request("POST", &format!("/{id}/echo"))
                    .body(streamed(3, 1000, Some(sent)))
                    .expect("request"),
            )
            .await;
        assert_eq!(reply.body.len(), 3000, "{id}");
        assert_trailer(&reply, "x-checksum", "abc123", id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailers_travel_over_http1_chunked_when_asked_for() {
    let app = echo_app();
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;
    for (id, _) in TOOLCHAINS {
        let reply = client
            .fetch(
                request("GET", &format!("/{id}/trailers"))
                    .header("te", "trailers")
                    .body(empty())
                    .expect("request"),
            )
            .await;
        assert_eq!(reply.status, 200, "{id}");
        assert_trailer(&reply, "x-trailer", "done", id);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_and_concurrent_http2_streams() {
    let app = echo_app();
    let server = Server::start(TESSERA, &app.manifest());

    // Many requests on one HTTP/1.1 connection: keep-alive.
    let mut client = Client::http1(server.addr()).await;
    for i in 0..50 {
        let reply = client
            .get(&format!("/wasi/status?code={}", 200 + i % 2))
            .await;
        assert_eq!(reply.status.as_u16(), 200 + i % 2);
        assert_eq!(reply.version, http::Version::HTTP_11);
    }

    // Concurrent streams on one HTTP/2 connection, each its own instance.
    let client = Client::http2(server.addr()).await;
    let Client::Http2(sender) = client else {
        unreachable!()
    };
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let mut client = Client::Http2(sender.clone());
        tasks.spawn(async move {
            let reply = client.get(&format!("/wasi/sleep?ms={}", 50 + i)).await;
            assert_eq!(reply.version, http::Version::HTTP_2);
            reply.status
        });
    }
    let started = std::time::Instant::now();
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.expect("task"), 200);
    }
    // Twenty 50–70 ms sleeps ran at the same time, not one after another (1.2 s).
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_output_is_logged_with_its_component() {
    let app = echo_app();
    let server = Server::start(TESSERA, &app.manifest());
    assert_eq!(
        tessera_test_support::get(server.addr(), "/wasi/log")
            .await
            .status,
        200
    );
    assert!(
        server
            .wait_for_log(&["wasi", "a line on stdout"], Duration::from_secs(5))
            .is_some(),
        "{}",
        server.log()
    );
    assert!(
        server
            .wait_for_log(&["wasi", "a line on stderr"], Duration::from_secs(5))
            .is_some(),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_hello_answers() {
    let manifest = std::path::Path::new(tessera_test_support::WORKSPACE_ROOT)
        .join("examples/hello/tessera.toml");
    let server = Server::start(TESSERA, &manifest);
    let reply = tessera_test_support::get(server.addr(), "/").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.text(), "Hello from Tessera!\n");
}

/// Every request gets an instance that has served no other request: the `visits` counter, a
/// static in the guest, reads 1 every time, one request after another (when the host has
/// made the next instance ahead of the request) and many at once (when it has not).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_gets_an_instance_that_served_no_other() {
    let app = echo_app();
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;
    for _ in 0..30 {
        let reply = client.get("/wasi/visits").await;
        assert_eq!((reply.status.as_u16(), reply.text()), (200, "1".into()));
        // Time for the next instance to be made before the next request.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let Client::Http2(sender) = Client::http2(server.addr()).await else {
        unreachable!()
    };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..40 {
        let mut client = Client::Http2(sender.clone());
        tasks.spawn(async move { client.get("/wasi/visits").await.text() });
    }
    while let Some(visits) = tasks.join_next().await {
        assert_eq!(visits.expect("task"), "1");
    }
}

/// A request head past `--max-header-bytes` (default 64 KiB) is refused before any Wasm runs:
/// 431 over HTTP/1.1, a refused stream over HTTP/2; the server serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_heads_past_the_header_limit_are_refused() {
    let app = echo_app();
    let big = |kb: usize| {
        request("GET", "/wasi/info")
            .header("x-big", "a".repeat(kb * 1024))
            .body(empty())
            .expect("valid request")
    };
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;
    assert_eq!(client.fetch(big(32)).await.status, 200);
    let refused = Client::http1(server.addr()).await.fetch(big(200)).await;
    assert_eq!(refused.status, 431);
    let Client::Http2(mut h2) = Client::http2(server.addr()).await else {
        unreachable!()
    };
    assert!(
        h2.send_request(big(200)).await.is_err(),
        "HTTP/2 accepted 200 KB of headers"
    );
    assert_eq!(
        tessera_test_support::get(server.addr(), "/wasi/status?code=204")
            .await
            .status,
        204
    );

    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        tessera_test_support::ServerOptions::default().args(["--max-header-bytes", "16KiB"]),
    );
    assert_eq!(
        Client::http1(server.addr())
            .await
            .fetch(big(32))
            .await
            .status,
        431
    );
}
