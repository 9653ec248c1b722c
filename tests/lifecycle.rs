//! End-to-end: the compile cache across restarts, and graceful shutdown on SIGTERM/SIGINT.

use std::time::{Duration, Instant};

use tessera_test_support::{AppDir, Server, ServerOptions, component_section, get};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

fn app() -> AppDir {
    AppDir::new(&format!(
        "[[route]]\npath = \"/a/...\"\ncomponent = \"a\"\n\n\
         [[route]]\npath = \"/b/...\"\ncomponent = \"b\"\n\n{}\n{}",
        component_section("a", "wasi_echo", ""),
        component_section("b", "wstd-echo", ""),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarting_with_unchanged_components_compiles_nothing() {
    let app = app();
    let cache = tempfile::tempdir().expect("tempdir");
    let options = || ServerOptions::default().cache_dir(cache.path());

    let first = Server::start_with(TESSERA, &app.manifest(), options());
    assert_eq!(
        first.log().matches("compiled and cached in").count(),
        2,
        "{}",
        first.log()
    );
    assert_eq!(get(first.addr(), "/a/status?code=200").await.status, 200);
    drop(first);
    let cached = std::fs::read_dir(cache.path()).expect("cache dir").count();
    assert_eq!(cached, 2, "one cache entry per component");

    let second = Server::start_with(TESSERA, &app.manifest(), options());
    let log = second.log();
    assert_eq!(
        log.matches("loaded from the compile cache").count(),
        2,
        "{log}"
    );
    assert!(!log.contains("compiled and cached"), "{log}");
    assert_eq!(get(second.addr(), "/b/status?code=200").await.status, 200);
    assert_eq!(
        std::fs::read_dir(cache.path()).expect("cache dir").count(),
        cached
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_cache_entry_is_recompiled() {
    let app = app();
    let cache = tempfile::tempdir().expect("tempdir");
    drop(Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default().cache_dir(cache.path()),
    ));
    for entry in std::fs::read_dir(cache.path()).expect("cache dir") {
        std::fs::write(entry.expect("entry").path(), b"not a compiled component")
            .expect("overwrite");
    }
    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default().cache_dir(cache.path()),
    );
    assert_eq!(
        server.log().matches("compiled and cached in").count(),
        2,
        "{}",
        server.log()
    );
    assert_eq!(get(server.addr(), "/a/status?code=200").await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_then_exits_0() {
    for signal in ["TERM", "INT"] {
        let app = app();
        let mut server = Server::start(TESSERA, &app.manifest());
        let addr = server.addr();
        let in_flight = tokio::spawn(async move { get(addr, "/a/sleep?ms=700").await });
        tokio::time::sleep(Duration::from_millis(200)).await;
        server.signal(signal);

        let reply = in_flight.await.expect("task");
        assert_eq!(
            reply.status, 200,
            "SIG{signal}: the in-flight request was cut off"
        );
        assert_eq!(reply.text(), "slept 700ms\n");
        let status = server
            .wait_exit(Duration::from_secs(10))
            .expect("tessera did not exit");
        assert_eq!(status.code(), Some(0), "SIG{signal}: {}", server.log());
        // Stopped accepting: nothing listens any more.
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_is_bounded_by_the_grace_period() {
    let app = app();
    let mut server = Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default().args(["--shutdown-grace", "500ms"]),
    );
    let addr = server.addr();
    let stuck = tokio::spawn(async move {
        tessera_test_support::Client::http1(addr)
            .await
            .send(
                tessera_test_support::request("GET", "/a/sleep?ms=20000")
                    .body(tessera_test_support::empty())
                    .expect("request"),
            )
            .await
            .is_ok()
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let signalled = Instant::now();
    server.signal("TERM");
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("tessera did not exit");
    assert_eq!(status.code(), Some(0), "{}", server.log());
    let took = signalled.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(
        server.log().contains("did not finish within"),
        "{}",
        server.log()
    );
    assert!(
        !stuck.await.expect("task"),
        "the stuck request cannot have completed"
    );
}
