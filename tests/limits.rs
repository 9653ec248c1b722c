//! End-to-end: per-request limits. A guest that loops, grows past its memory cap, panics,
//! overflows its stack or never answers gets the right status; the log names the component
//! and the reason; the server keeps serving every route, even while a guest loops on its only
//! worker thread.

use std::time::Duration;

use tessera_test_support::{AppDir, Client, Server, component_section, get};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

fn limits_app() -> AppDir {
    let manifest = format!(
        "[[route]]\npath = \"/bad/...\"\ncomponent = \"bad\"\n\n\
         [[route]]\npath = \"/narrow/...\"\ncomponent = \"narrow\"\n\n\
         [[route]]\npath = \"/good/...\"\ncomponent = \"good\"\n\n\
         {}\n{}\n{}",
        component_section(
            "bad",
            "wasi_echo",
            "[component.bad.limits]\nmemory = \"16MiB\"\ntimeout = \"300ms\"",
        ),
        component_section(
            "narrow",
            "wasi_echo",
            "[component.narrow.limits]\nmax_concurrency = 1",
        ),
        component_section("good", "wstd-echo", ""),
    );
    AppDir::new(&manifest)
}

/// The limits app on a server whose instance pool has one slot.
fn pool_of_one() -> (AppDir, Server) {
    let app = limits_app();
    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        tessera_test_support::ServerOptions::default().args(["--max-instances", "1"]),
    );
    (app, server)
}

async fn assert_all_routes_serve(server: &Server) {
    for path in [
        "/bad/status?code=200",
        "/narrow/status?code=200",
        "/good/status?code=200",
    ] {
        assert_eq!(
            get(server.addr(), path).await.status,
            200,
            "{path} after a failure"
        );
    }
}

fn assert_logged(server: &Server, needles: &[&str]) {
    assert!(
        server
            .wait_for_log(needles, Duration::from_secs(5))
            .is_some(),
        "no log line with {needles:?}:\n{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_get_their_status_and_a_log_line() {
    let app = limits_app();
    let server = Server::start(TESSERA, &app.manifest());
    let cases: &[(&str, u16, &[&str])] = &[
        (
            "/bad/loop",
            504,
            &["component \"bad\" did not finish within its 300ms deadline"],
        ),
        (
            "/bad/grow?mb=64",
            500,
            &["component \"bad\" exceeded its memory cap of 16.0 MiB"],
        ),
        ("/bad/panic", 500, &["component \"bad\" crashed", "panic"]),
        ("/bad/stack", 500, &["component \"bad\" crashed", "stack"]),
        (
            "/bad/no-response",
            500,
            &["component \"bad\" returned without sending a response"],
        ),
    ];
    for (path, status, needles) in cases {
        let started = std::time::Instant::now();
        let reply = get(server.addr(), path).await;
        assert_eq!(reply.status.as_u16(), *status, "{path}: {}", reply.text());
        let body = reply.json();
        assert_eq!(body["status"], *status, "{path}");
        if *status == 500 {
            // The request id in a 500 leads to the log line that explains it.
            let id = body["request_id"].as_str().expect("a request id in a 500");
            assert_logged(&server, &[id]);
        }
        assert_logged(&server, needles);
        assert_all_routes_serve(&server).await;
        if *status == 504 {
            let elapsed = started.elapsed();
            assert!(
                elapsed >= Duration::from_millis(300) && elapsed < Duration::from_secs(3),
                "{elapsed:?}"
            );
        }
    }
    // Below the cap, growing works.
    assert_eq!(get(server.addr(), "/bad/grow?mb=4").await.status, 200);
    // The guest's panic message starts with a blank line, which is not logged.
    let log = server.log();
    let blank = log.lines().find(|line| {
        line.split_once("tessera::guest:")
            .is_some_and(|(_, rest)| rest.trim_start().starts_with("component="))
    });
    assert!(blank.is_none(), "a blank guest line was logged:\n{log}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_after_the_response_head_cuts_the_body_and_is_logged() {
    let app = limits_app();
    let server = Server::start(TESSERA, &app.manifest());
    let mut client = Client::http1(server.addr()).await;
    let response = client
        .send(
            tessera_test_support::request("GET", "/bad/late-trap")
                .body(tessera_test_support::empty())
                .expect("request"),
        )
        .await
        .expect("the head arrives");
    assert_eq!(response.status(), 200);
    assert!(
        tessera_test_support::collect(response).await.is_err(),
        "the body must end in an error, not look complete"
    );
    assert_logged(&server, &["component \"bad\"", "response body cut short"]);
    assert_all_routes_serve(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_at_its_concurrency_cap_gets_503() {
    let app = limits_app();
    let server = Server::start(TESSERA, &app.manifest());
    let addr = server.addr();
    let slow = tokio::spawn(async move { get(addr, "/narrow/sleep?ms=1500").await });
    // Give the slow request time to take the only slot (probing earlier could take the slot
    // first and turn the slow request away instead).
    tokio::time::sleep(Duration::from_millis(400)).await;
    let busy = get(addr, "/narrow/status?code=200").await;
    assert_eq!(busy.status, 503, "{}", busy.text());
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_logged(
        &server,
        &["component \"narrow\" is at its limit of 1 concurrent instances"],
    );
    // Other components are not affected by one component's cap.
    assert_eq!(get(addr, "/good/status?code=200").await.status, 200);
    assert_eq!(slow.await.expect("task").status, 200);
    assert_all_routes_serve(&server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_over_the_cap_waits_in_the_queue_and_one_over_the_queue_gets_503() {
    let app = AppDir::new(&format!(
        "[[route]]\npath = \"/q/...\"\ncomponent = \"q\"\n\n{}",
        component_section(
            "q",
            "wasi_echo",
            "[component.q.limits]\nmax_concurrency = 1\nmax_queue = 1\ntimeout = \"5s\"",
        ),
    ));
    let server = Server::start(TESSERA, &app.manifest());
    let addr = server.addr();
    let started = std::time::Instant::now();
    let slow = tokio::spawn(async move { get(addr, "/q/sleep?ms=1200").await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A client that gives up while waiting gives its place back.
    let gone = tokio::spawn(async move { get(addr, "/q/status?code=200").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    gone.abort();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let queued = tokio::spawn(async move { get(addr, "/q/status?code=200").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    // One running, one waiting: the queue is full.
    let refused = get(addr, "/q/status?code=200").await;
    assert_eq!(refused.status, 503, "{}", refused.text());
    assert_eq!(refused.header("retry-after"), Some("1"));
    assert!(!slow.is_finished() && !queued.is_finished());
    // The waiting one is served once the running one is done.
    assert_eq!(queued.await.expect("task").status, 200);
    assert!(started.elapsed() >= Duration::from_millis(1200));
    assert_eq!(slow.await.expect("task").status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_is_refused_without_a_grant() {
    let app = limits_app();
    let server = Server::start(TESSERA, &app.manifest());
    let reply = get(server.addr(), "/good/status?code=200").await;
    assert_eq!(reply.status, 200);
    let reply = get(server.addr(), "/bad/outbound").await;
    assert_eq!(reply.status, 200);
    assert!(
        reply.text().contains("HttpRequestDenied"),
        "{}",
        reply.text()
    );
    assert_logged(&server, &["bad", "outbound"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_instance_pool_gets_503_not_500() {
    let (_app, server) = pool_of_one();
    let addr = server.addr();
    let slow = tokio::spawn(async move { get(addr, "/narrow/sleep?ms=1200").await });
    tokio::time::sleep(Duration::from_millis(400)).await;
    // Another component, below its own cap, finds no slot in the server's pool.
    let busy = get(addr, "/good/status?code=200").await;
    assert_eq!(busy.status, 503, "{}", busy.text());
    assert_eq!(busy.header("retry-after"), Some("1"));
    assert_logged(
        &server,
        &["component \"good\"", "pool is full", "--max-instances"],
    );
    assert_eq!(slow.await.expect("task").status, 200);
    assert_eq!(get(addr, "/good/status?code=200").await.status, 200);
}

/// A guest computing without end does not hold its worker thread: on a server with one
/// worker, another route is answered while the loop still runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_looping_guest_does_not_hold_up_other_requests() {
    let app = AppDir::new(&format!(
        "[[route]]\npath = \"/spin/...\"\ncomponent = \"spin\"\n\n\
         [[route]]\npath = \"/good/...\"\ncomponent = \"good\"\n\n{}\n{}",
        component_section(
            "spin",
            "wasi_echo",
            "[component.spin.limits]\ntimeout = \"3s\""
        ),
        component_section("good", "wstd-echo", ""),
    ));
    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        tessera_test_support::ServerOptions::default().env("TOKIO_WORKER_THREADS", "1"),
    );
    let addr = server.addr();
    let looping = tokio::spawn(async move { get(addr, "/spin/loop").await });
    // Nothing is logged before the loop's 504; it reaches the guest within milliseconds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for _ in 0..3 {
        // Bounded: a held worker would never answer (the deadline's timer needs it too).
        let reply =
            tokio::time::timeout(Duration::from_secs(2), get(addr, "/good/status?code=200"))
                .await
                .expect("another route answered while a guest loops on the only worker");
        assert_eq!(reply.status, 200);
    }
    assert!(
        !looping.is_finished(),
        "the loop ended (or was answered) before the other requests: it held the only worker"
    );
    assert_eq!(looping.await.expect("task").status, 504);
}

/// A client sending its requests one after another never finds the pool full, even when the
/// pool has one slot: an instance whose response has been written but whose store is still
/// being dropped gives its slot back before the next request is turned away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_after_another_fits_a_pool_of_one() {
    let (_app, server) = pool_of_one();
    let addr = server.addr();
    for n in 0..300 {
        let reply = get(addr, "/good/status?code=200").await;
        assert_eq!(reply.status, 200, "request {n}: {}", reply.text());
    }
}

/// An instance made ahead of its request (a spare) never turns a request away: when the pool
/// is full, a request of another component takes the spare's slot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spare_gives_its_slot_to_a_request() {
    let app = AppDir::new(&format!(
        "[[route]]\npath = \"/slow/...\"\ncomponent = \"slow\"\n\n\
         [[route]]\npath = \"/a/...\"\ncomponent = \"a\"\n\n\
         [[route]]\npath = \"/b/...\"\ncomponent = \"b\"\n\n{}\n{}\n{}",
        component_section("slow", "wasi_echo", ""),
        component_section("a", "wstd-echo", ""),
        component_section("b", "wasi_echo", ""),
    ));
    // Four slots, of which one may hold a spare.
    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        tessera_test_support::ServerOptions::default().args(["--max-instances", "4"]),
    );
    let addr = server.addr();
    // After its response, `a` makes its spare: one slot.
    assert_eq!(get(addr, "/a/status?code=200").await.status, 200);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Three requests that take their time fill the rest.
    let slow: Vec<_> = (0..3)
        .map(|_| tokio::spawn(async move { get(addr, "/slow/sleep?ms=1500").await }))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let reply = get(addr, "/b/status?code=200").await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    for request in slow {
        assert_eq!(request.await.expect("task").status, 200);
    }
}
