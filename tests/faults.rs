//! End-to-end: a backend that fails while the server serves. Redis is killed under load: the
//! route that uses it answers errors promptly (it does not hang), a route that does not use it
//! is not slowed, `/readyz` says which store is down; Redis comes back and the route recovers
//! without a restart of Tessera. `cargo test --test faults -- --nocapture` prints the figures.

use std::time::{Duration, Instant};

use tessera_test_support::services::{Redis, runtime_config};
use tessera_test_support::{AppDir, Server, ServerOptions, component_section, empty, get, request};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

/// `POST path` through a fresh connection: the status and how long it took.
async fn post(addr: std::net::SocketAddr, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let mut client = tessera_test_support::Client::http1(addr).await;
    let reply = client
        .fetch(request("POST", path).body(empty()).expect("request"))
        .await;
    (reply.status.as_u16(), started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_killed_under_load_fails_its_route_fast_spares_the_others_and_recovers() {
    let mut redis = Redis::start();
    let app = AppDir::new(&format!(
        "[[route]]\npath = \"/kv/...\"\ncomponent = \"caps\"\n\n\
         [[route]]\npath = \"/echo/...\"\ncomponent = \"echo\"\n\n{}{}",
        component_section(
            "caps",
            "caps",
            "key_value_stores = [\"default\"]\n[component.caps.limits]\ntimeout = \"5s\"\n"
        ),
        component_section("echo", "wasi_echo", ""),
    ));
    let runtime = runtime_config(app.path(), Some(&redis), None);
    let options = ServerOptions::default()
        .env("TESSERA_RUNTIME_CONFIG", &runtime.display().to_string())
        .args(["--metrics", "127.0.0.1:0"]);
    let server = Server::start_with(TESSERA, &app.manifest(), options);
    let metrics = server.logged_addr("metrics: http://");
    let incr = "/kv/incr?store=default&key=hits";
    assert_eq!(post(server.addr(), incr).await.0, 200);

    redis.kill();
    // While Redis is down: the key-value route errs, each answer well inside the component's
    // 5 s deadline; the other route is served as before.
    let mut kv = Vec::new();
    let mut echo = Vec::new();
    for _ in 0..8 {
        kv.push(post(server.addr(), incr).await);
        let started = Instant::now();
        assert_eq!(
            get(server.addr(), "/echo/status?code=200").await.status,
            200
        );
        echo.push(started.elapsed());
    }
    let ready = get(metrics, "/readyz").await;
    let slowest_kv = kv.iter().map(|(_, took)| *took).max().expect("requests");
    let slowest_echo = echo.iter().max().copied().expect("requests");
    println!(
        "faults: Redis down: key-value route {:?}, slowest {slowest_kv:?}; echo route slowest \
         {slowest_echo:?}; /readyz {} {}",
        kv.iter().map(|(status, _)| *status).collect::<Vec<_>>(),
        ready.status,
        ready.text().trim()
    );
    assert!(kv.iter().all(|(status, _)| *status >= 500), "{kv:?}");
    assert!(slowest_kv < Duration::from_secs(2), "{kv:?}");
    assert!(slowest_echo < Duration::from_millis(500), "{echo:?}");
    assert_eq!(ready.status, 503);
    assert!(ready.text().contains("default"), "{}", ready.text());

    redis.restart();
    let started = Instant::now();
    loop {
        let (status, _) = post(server.addr(), incr).await;
        if status == 200 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the key-value route did not recover; last status {status}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!(
        "faults: Redis back: the route answered 200 after {:?}",
        started.elapsed()
    );
    assert_eq!(get(metrics, "/readyz").await.status, 200);
}
