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

/// The deployment step: `tessera check` fills a compile cache, the directory is shipped (here:
/// copied elsewhere, as into an image layer), and a new process on it compiles nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_filled_by_check_and_shipped_starts_a_new_process_without_compiling() {
    let app = app();
    let built = tempfile::tempdir().expect("tempdir");
    let output = std::process::Command::new(TESSERA)
        .args(["check", "--manifest"])
        .arg(app.manifest())
        .arg("--cache-dir")
        .arg(built.path())
        .env("TESSERA_LOG", "info")
        .output()
        .expect("run tessera check");
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{log}");
    assert_eq!(log.matches("compiled and cached in").count(), 2, "{log}");

    let shipped = tempfile::tempdir().expect("tempdir");
    for entry in std::fs::read_dir(built.path()).expect("cache dir") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), shipped.path().join(entry.file_name())).expect("copy");
    }
    drop(built);
    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default().cache_dir(shipped.path()),
    );
    let log = server.log();
    assert_eq!(
        log.matches("loaded from the compile cache").count(),
        2,
        "{log}"
    );
    assert!(!log.contains("compiled and cached"), "{log}");
    assert_eq!(get(server.addr(), "/a/status?code=200").await.status, 200);
}

/// With its compile cache warm, a server does not wait for its instance pools: the components
/// (two WASI 0.2 ones and a 0.3 one, which have engines of their own) load onto start-up
/// engines without one and serve, and once the pools are reserved (after the load) they move
/// onto them. A component compiled at start is compiled for the pool, made then (compiling
/// twice would cost more than the pool).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_start_serves_before_its_pool_is_reserved_then_moves_onto_it() {
    let app = AppDir::new(&format!(
        "[[route]]\npath = \"/a/...\"\ncomponent = \"a\"\n\n\
         [[route]]\npath = \"/b/...\"\ncomponent = \"b\"\n\n\
         [[route]]\npath = \"/c/...\"\ncomponent = \"c\"\n\n{}\n{}\n{}",
        component_section("a", "wasi_echo", ""),
        component_section("b", "wstd-echo", ""),
        component_section("c", "p3_echo", ""),
    ));
    let cache = tempfile::tempdir().expect("tempdir");
    let options = || ServerOptions::default().cache_dir(cache.path());
    let cold = Server::start_with(TESSERA, &app.manifest(), options());
    assert_eq!(get(cold.addr(), "/a/status?code=200").await.status, 200);
    let log = cold.log();
    assert_eq!(log.matches("compiled and cached in").count(), 3, "{log}");
    assert!(!log.contains("start-up engine"), "{log}");
    drop(cold);

    let warm = Server::start_with(TESSERA, &app.manifest(), options());
    assert!(
        warm.wait_for_log(
            &["moved 3 components onto the instance pool"],
            Duration::from_secs(10)
        )
        .is_some(),
        "{}",
        warm.log()
    );
    let log = warm.log();
    assert_eq!(
        log.matches("loaded from the compile cache in").count(),
        3,
        "{log}"
    );
    assert_eq!(
        log.matches("onto the start-up engine until the instance pool is reserved")
            .count(),
        3,
        "{log}"
    );
    for path in ["/a/status?code=200", "/b/status?code=200", "/c/hello"] {
        assert_eq!(get(warm.addr(), path).await.status, 200, "{path}");
    }
}

/// A host whose address space cannot hold the instance pool (64 GB here; 1,000 slots reserve
/// about 4 TB), with its components in the compile cache: `up` serves on the start-up engine,
/// says once why, and deadlines hold there; `check` reports the engine's failure, as a start
/// that must compile does (`ui.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_room_for_the_pool_a_warm_start_serves_on_the_start_up_engine() {
    let app = AppDir::new(&format!(
        "[[route]]\npath = \"/a/...\"\ncomponent = \"a\"\n\n{}",
        component_section(
            "a",
            "wasi_echo",
            "[component.a.limits]\ntimeout = \"300ms\""
        ),
    ));
    let cache = tempfile::tempdir().expect("tempdir");
    drop(Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default().cache_dir(cache.path()),
    ));
    let limited = app.path().join("tessera-with-64-gb");
    std::fs::write(
        &limited,
        format!("#!/bin/sh\nulimit -v 64000000 && exec \"{TESSERA}\" \"$@\"\n"),
    )
    .expect("write the wrapper");
    std::fs::set_permissions(
        &limited,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .expect("chmod");
    let limited = limited.to_str().expect("a UTF-8 path");

    let server = Server::start_with(
        limited,
        &app.manifest(),
        ServerOptions::default().cache_dir(cache.path()),
    );
    assert!(
        server
            .wait_for_log(
                &[
                    "the WebAssembly engine could not start",
                    "serving on the start-up engine"
                ],
                Duration::from_secs(10)
            )
            .is_some(),
        "{}",
        server.log()
    );
    assert_eq!(get(server.addr(), "/a/status?code=200").await.status, 200);
    let started = Instant::now();
    assert_eq!(get(server.addr(), "/a/loop").await.status, 504);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(get(server.addr(), "/a/status?code=200").await.status, 200);
    assert_eq!(
        server.log().matches("could not start").count(),
        1,
        "{}",
        server.log()
    );

    let check = std::process::Command::new(limited)
        .args(["check", "--manifest"])
        .arg(app.manifest())
        .arg("--cache-dir")
        .arg(cache.path())
        .env("TESSERA_LOG", "off")
        .output()
        .expect("run tessera check");
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(!check.status.success(), "{stderr}");
    assert_eq!(
        stderr
            .matches("the WebAssembly engine could not start")
            .count(),
        1,
        "{stderr}"
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

/// `GET path` on `addr`: status and body.
async fn probe(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let reply = get(addr, path).await;
    (reply.status.as_u16(), reply.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_turns_off_on_sigterm_while_requests_drain() {
    let app = app();
    let mut server = Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default().args([
            "--metrics",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--admin-token",
            "a-health-test-token",
        ]),
    );
    let metrics = server.logged_addr("metrics: http://");
    let admin = server.logged_addr("admin endpoint: http://");
    for side in [metrics, admin] {
        // No token needed, on either listener.
        assert_eq!(probe(side, "/healthz").await, (200, "ok\n".into()));
        assert_eq!(probe(side, "/readyz").await, (200, "ready\n".into()));
    }
    let addr = server.addr();
    let in_flight = tokio::spawn(async move { get(addr, "/a/sleep?ms=1500").await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.signal("TERM");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Draining: not ready, still alive, and the request in flight finishes.
    assert_eq!(
        probe(metrics, "/readyz").await,
        (503, "not ready: draining\n".into())
    );
    assert_eq!(probe(metrics, "/healthz").await.0, 200);
    assert_eq!(in_flight.await.expect("task").status, 200);
    let status = server
        .wait_exit(Duration::from_secs(10))
        .expect("tessera did not exit");
    assert_eq!(status.code(), Some(0), "{}", server.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_says_which_backend_does_not_answer() {
    let redis = tessera_test_support::services::Redis::start();
    let app = AppDir::new(&format!(
        "[[route]]\npath = \"/kv/...\"\ncomponent = \"caps\"\n\n{}",
        component_section("caps", "caps", "key_value_stores = [\"default\"]"),
    ));
    let runtime = tessera_test_support::services::runtime_config(app.path(), Some(&redis), None);
    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default().args([
            "--metrics".to_string(),
            "127.0.0.1:0".into(),
            "--runtime-config".into(),
            runtime.display().to_string(),
        ]),
    );
    let metrics = server.logged_addr("metrics: http://");
    assert_eq!(probe(metrics, "/readyz").await, (200, "ready\n".into()));
    drop(redis);
    let started = Instant::now();
    let (status, text) = probe(metrics, "/readyz").await;
    assert_eq!(status, 503, "{text}");
    assert!(
        text.starts_with("not ready: key-value store \"default\"")
            || text.starts_with("not ready: backends did not answer"),
        "{text}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "bounded by the probe timeout"
    );
    // Liveness is not readiness: the process is fine.
    assert_eq!(probe(metrics, "/healthz").await.0, 200);
}
