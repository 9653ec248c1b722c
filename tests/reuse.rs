//! End-to-end: `[component.<id>] reuse`, instances that serve more than one request.
//!
//! The `wasi` echo guest's `visits` command answers how many requests its instance has served,
//! this one included (a static counter in the guest): 1 on a fresh instance, 1, 2, 3... on a
//! reused one.

use std::time::Duration;

use tessera_test_support::{AppDir, Client, Server, collect, component_section, empty, request};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

fn app(reuse: &str, limits: &str) -> AppDir {
    AppDir::new(&format!(
        "[[route]]\npath = \"/echo/...\"\ncomponent = \"echo\"\n\n{}",
        component_section(
            "echo",
            "wasi_echo",
            &format!("reuse = {reuse}\n[component.echo.limits]\n{limits}")
        ),
    ))
}

/// One request after another on one connection; the pause lets the host put the instance
/// back (it does so when the guest's call returns, which may be just after the response).
async fn visits(client: &mut Client) -> u32 {
    let reply = client.get("/echo/visits").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    tokio::time::sleep(Duration::from_millis(20)).await;
    reply.text().parse().expect("a count")
}

async fn status_after_pause(client: &mut Client, path: &str) -> u16 {
    let status = client.get(path).await.status.as_u16();
    tokio::time::sleep(Duration::from_millis(20)).await;
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_serves_up_to_max_requests_then_a_fresh_one_takes_over() {
    let app = app("{ max_requests = 4 }", "");
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.push(visits(&mut client).await);
    }
    assert_eq!(seen, [1, 2, 3, 4, 1, 2, 3, 4, 1, 2]);
    // An error the guest answers itself is a request served well: the instance stays, and
    // the request counts towards its max_requests (the guest counts only `visits`).
    assert_eq!(
        status_after_pause(&mut client, "/echo/status?code=500").await,
        500
    );
    assert_eq!(visits(&mut client).await, 3);
    assert_eq!(visits(&mut client).await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_trapped_ran_late_or_hit_its_memory_cap_is_never_reused() {
    let app = app(
        "{ max_requests = 100 }",
        "timeout = \"1s\"\nmemory = \"16MiB\"",
    );
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;
    assert_eq!(visits(&mut client).await, 1);
    for (failure, status) in [
        ("/echo/panic", 500),
        ("/echo/loop", 504),
        ("/echo/grow?mb=64", 500),
        ("/echo/late-trap", 200),
    ] {
        assert_eq!(visits(&mut client).await, 2, "before {failure}");
        if failure == "/echo/late-trap" {
            // The head was sent, then the guest trapped: the body is cut short.
            let mut fresh = Client::http1(server.addr()).await;
            let outcome = fresh
                .send(
                    request("GET", failure)
                        .body(empty())
                        .expect("valid request"),
                )
                .await
                .expect("a response head");
            assert_eq!(outcome.status().as_u16(), status);
            assert!(collect(outcome).await.is_err());
            tokio::time::sleep(Duration::from_millis(20)).await;
        } else {
            assert_eq!(
                status_after_pause(&mut client, failure).await,
                status,
                "{failure}"
            );
        }
        // The instance that failed is gone; the next request starts on a fresh one.
        assert_eq!(visits(&mut client).await, 1, "after {failure}");
    }
    assert!(
        server
            .wait_for_log(&["the test asked for a panic"], Duration::from_secs(5))
            .is_some(),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_instance_is_dropped_after_its_idle_timeout() {
    let app = app("{ idle_timeout = \"300ms\" }", "");
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;
    assert_eq!(visits(&mut client).await, 1);
    assert_eq!(visits(&mut client).await, 2);
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(visits(&mut client).await, 1);
}

/// Without `reuse` the contract is unchanged: see `serve.rs`,
/// `every_request_gets_an_instance_that_served_no_other`. With it, requests at once get
/// instances of their own (a WASI 0.2 instance serves one request at a time), and every
/// instance stays within `max_requests`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_at_once_get_instances_of_their_own_each_within_max_requests() {
    let app = app("{ max_requests = 8 }", "");
    let server = Server::start(TESSERA, &app.manifest());
    let Client::Http2(sender) = Client::http2(server.addr()).await else {
        unreachable!()
    };
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let mut client = Client::Http2(sender.clone());
        tasks.spawn(async move {
            let mut counts = Vec::new();
            for _ in 0..10 {
                let reply = client.get("/echo/visits").await;
                assert_eq!(reply.status, 200);
                counts.push(reply.text().parse::<u32>().expect("a count"));
            }
            counts
        });
    }
    let mut all = Vec::new();
    while let Some(counts) = tasks.join_next().await {
        all.extend(counts.expect("task"));
    }
    assert_eq!(all.len(), 160);
    assert!(all.iter().all(|&n| (1..=8).contains(&n)), "{all:?}");
    assert!(
        all.iter().any(|&n| n > 1),
        "no instance was reused: {all:?}"
    );
}
