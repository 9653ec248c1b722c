//! End-to-end: a backend that fails while the server serves. Redis is killed, and PostgreSQL
//! stopped under load: the routes that use them answer errors promptly (they do not hang),
//! a route that uses neither is not slowed, `/readyz` says which backend is down; the backend
//! comes back and its routes recover without a restart of Tessera, with every acknowledged
//! write kept. `cargo test --test faults -- --nocapture` prints the figures.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use tessera_test_support::services::{Postgres, Redis, runtime_config};
use tessera_test_support::{
    AppDir, Client, Server, ServerOptions, component_section, empty, fastserve_migrations, full,
    get, request,
};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

/// `POST path` through a fresh connection: the status and how long it took.
async fn post(addr: SocketAddr, path: &str) -> (u16, Duration) {
    let started = Instant::now();
    let mut client = Client::http1(addr).await;
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

/// What one load loop saw: when each request was sent (since the load began), its status
/// (0: the connection failed) and how long it took; for writes, the values acknowledged.
#[derive(Default)]
struct Seen {
    requests: Vec<(Duration, u16, Duration)>,
    acknowledged: Vec<i64>,
}

/// Sends requests on one connection (a new one after a failure) until `stop`: reads of a
/// quote, inserts of increasing numbers (`write`), or echoes.
async fn load(addr: SocketAddr, kind: &'static str, stop: Arc<AtomicBool>, began: Instant) -> Seen {
    let mut seen = Seen::default();
    let mut client: Option<Client> = None;
    let mut n = 0i64;
    while !stop.load(Ordering::Relaxed) {
        if client.is_none() {
            client = Client::try_http1(addr).await.ok();
        }
        let Some(connection) = client.as_mut() else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        n += 1;
        let req = match kind {
            "read" => request("GET", &format!("/api/db?id={}", n % 1000 + 1)).body(empty()),
            "write" => request("POST", "/sql/execute").body(full(
                json!({"sql": "INSERT INTO acks (n) VALUES ($1)", "params": [n]}).to_string(),
            )),
            _ => request("GET", "/echo/status?code=200").body(empty()),
        };
        let at = began.elapsed();
        let reply = match connection.send(req.expect("request")).await {
            Ok(response) => tessera_test_support::collect(response).await.ok(),
            Err(_) => None,
        };
        let status = reply.as_ref().map_or(0, |r| r.status.as_u16());
        if reply.is_none() {
            client = None;
        }
        if kind == "write" && status == 200 {
            seen.acknowledged.push(n);
        }
        seen.requests.push((at, status, began.elapsed() - at));
        // Paced, so that two cores serve the load and PostgreSQL's restart too.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_under_load_fails_its_routes_fast_keeps_acknowledged_writes_and_recovers()
{
    let mut postgres = Postgres::start();
    let app = AppDir::new(&format!(
        "[[route]]\npath = \"/api/db\"\ncomponent = \"db\"\n\n\
         [[route]]\npath = \"/sql/...\"\ncomponent = \"caps\"\n\n\
         [[route]]\npath = \"/echo/...\"\ncomponent = \"echo\"\n\n{}{}{}\
         [sql_database.default]\nmigrations = \"migrations\"\n",
        component_section(
            "db",
            "fastserve_db",
            "sql_databases = [\"default\"]\n[component.db.limits]\ntimeout = \"5s\"\n"
        ),
        component_section(
            "caps",
            "caps",
            "sql_databases = [\"default\"]\n[component.caps.limits]\ntimeout = \"5s\"\n"
        ),
        component_section("echo", "wasi_echo", ""),
    ));
    fastserve_migrations(&app.path().join("migrations"));
    let runtime = runtime_config(app.path(), None, Some(&postgres));
    let options = ServerOptions::default()
        .env("TESSERA_RUNTIME_CONFIG", &runtime.display().to_string())
        .args(["--metrics", "127.0.0.1:0"]);
    let server = Server::start_with(TESSERA, &app.manifest(), options);
    let metrics = server.logged_addr("metrics: http://");
    let mut client = Client::http1(server.addr()).await;
    let create = json!({"sql": "CREATE TABLE acks (n INT8 NOT NULL, writer INT4)", "params": []});
    let reply = client
        .fetch(
            request("POST", "/sql/execute")
                .body(full(create.to_string()))
                .unwrap(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let loads: Vec<_> = ["read", "read", "write", "echo"]
        .into_iter()
        .map(|kind| tokio::spawn(load(server.addr(), kind, stop.clone(), began)))
        .collect();
    let (stop_at, restart_at) = (Duration::from_secs(3), Duration::from_secs(8));
    tokio::time::sleep(stop_at).await;
    postgres.kill();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let ready = get(metrics, "/readyz").await;
    let (ready_status, ready_text) = (ready.status.as_u16(), ready.text().trim().to_string());
    tokio::time::sleep(restart_at.saturating_sub(began.elapsed())).await;
    let restarted = began.elapsed();
    postgres.restart();
    let back = began.elapsed();
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, Ordering::Relaxed);
    let mut seen = Vec::new();
    for load in loads {
        seen.push(load.await.expect("load"));
    }
    let ready_after = get(metrics, "/readyz").await.status;

    let requests = |i: usize| seen[i].requests.iter();
    let reads: Vec<_> = requests(0).chain(requests(1)).collect();
    let down = |at: &Duration| *at > stop_at + Duration::from_millis(500) && *at < restarted;
    let during: Vec<_> = reads.iter().filter(|(at, ..)| down(at)).collect();
    let slowest_down = during
        .iter()
        .map(|(.., took)| *took)
        .max()
        .unwrap_or_default();
    let mut statuses: Vec<u16> = during.iter().map(|(_, status, _)| *status).collect();
    statuses.dedup();
    let recovered = reads
        .iter()
        .filter(|(at, status, _)| *at >= back && *status == 200)
        .map(|(at, ..)| *at - back)
        .min();
    let echo = &seen[3].requests;
    let echo_failed = echo.iter().filter(|(_, status, _)| *status != 200).count();
    let echo_slowest = echo
        .iter()
        .map(|(.., took)| *took)
        .max()
        .unwrap_or_default();
    let writes = &seen[2];
    println!(
        "faults: PostgreSQL down for {:?}: {} reads, answered {statuses:?}, slowest {slowest_down:?}; \
         /readyz {ready_status} {ready_text}; reads answered 200 again {recovered:?} after it was back; \
         echo: {} requests, {echo_failed} failed, slowest {echo_slowest:?}; \
         writes: {} sent, {} acknowledged",
        restarted - stop_at,
        during.len(),
        echo.len(),
        writes.requests.len(),
        writes.acknowledged.len(),
    );

    assert!(!during.is_empty());
    assert!(
        during.iter().all(|(_, status, _)| *status == 503),
        "reads while PostgreSQL was down: {statuses:?}\n{}",
        server.log()
    );
    assert!(slowest_down < Duration::from_secs(3), "{slowest_down:?}");
    assert_eq!(ready_status, 503);
    assert!(ready_text.contains("default"), "{ready_text}");
    let recovered = recovered.expect("reads never succeeded after PostgreSQL was back");
    assert!(recovered < Duration::from_secs(5), "{recovered:?}");
    assert_eq!(ready_after, 200);
    assert_eq!(echo_failed, 0);
    assert!(
        echo_slowest < Duration::from_millis(500),
        "{echo_slowest:?}"
    );

    // Every acknowledged insert survived the immediate shutdown.
    let query = json!({"sql": "SELECT n FROM acks ORDER BY n", "params": []});
    let reply = client
        .fetch(
            request("POST", "/sql/query")
                .body(full(query.to_string()))
                .unwrap(),
        )
        .await;
    let stored: Vec<i64> = reply.json()["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|row| row[0].as_i64().expect("n"))
        .collect();
    let missing: Vec<_> = writes
        .acknowledged
        .iter()
        .filter(|n| stored.binary_search(n).is_err())
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert!(!writes.acknowledged.is_empty());
}

/// A tmpfs of a few MiB mounted on a fresh directory: a disk that fills up. Unmounted when
/// dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "mount -t tmpfs failed");
        Self { dir }
    }

    fn resize(&self, size: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .expect("run mount");
        assert!(status.success(), "remount failed");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// The value written under key number `n`: 64 KiB, different for each key.
fn value(n: usize) -> String {
    format!("{n:06}-").repeat(64 * 1024 / 7)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_on_a_full_disk_refuses_writes_keeps_what_it_acknowledged_and_recovers()
{
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .expect("id");
    if String::from_utf8_lossy(&root.stdout).trim() != "0" {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let disk = SmallDisk::mount("4m");
    let app = AppDir::new(&format!(
        "[[route]]\npath = \"/kv/...\"\ncomponent = \"caps\"\n\n{}",
        component_section("caps", "caps", "key_value_stores = [\"default\"]"),
    ));
    let state = disk.dir.path().display().to_string();
    let start = || {
        Server::start_with(
            TESSERA,
            &app.manifest(),
            ServerOptions::default().args(["--state-dir", &state]),
        )
    };
    let server = start();
    let mut client = Client::http1(server.addr()).await;
    let set = async |client: &mut Client, n: usize| {
        let path = format!("/kv/set?key=k{n}");
        client
            .fetch(request("PUT", &path).body(full(value(n))).expect("request"))
            .await
    };

    let mut acknowledged = Vec::new();
    let mut refused = Vec::new();
    for n in 0..200 {
        let reply = set(&mut client, n).await;
        if reply.status == 200 {
            assert!(
                refused.is_empty(),
                "a write succeeded after one was refused"
            );
            acknowledged.push(n);
        } else {
            refused.push((reply.status.as_u16(), reply.text()));
            if refused.len() == 5 {
                break;
            }
        }
    }
    println!(
        "faults: full disk: {} writes of 64 KiB acknowledged, then {:?}",
        acknowledged.len(),
        refused.first()
    );
    assert!(acknowledged.len() >= 5, "the disk filled too early");
    assert_eq!(refused.len(), 5, "the 4 MiB disk never filled");
    for (status, text) in &refused {
        assert_eq!(*status, 500);
        assert!(text.contains("full"), "{text}");
    }
    let check = async |client: &mut Client, keys: &[usize]| {
        for &n in keys {
            let reply = client.get(&format!("/kv/get?key=k{n}")).await;
            assert_eq!(reply.status, 200);
            assert_eq!(
                reply.json(),
                serde_json::Value::String(value(n)),
                "key k{n}"
            );
        }
    };
    check(&mut client, &acknowledged).await;

    // Room again: writes succeed without a restart.
    disk.resize("64m");
    let next = acknowledged.len() + 10;
    assert_eq!(set(&mut client, next).await.status, 200);
    acknowledged.push(next);

    // And everything acknowledged is on disk, intact, for the next process.
    drop(client);
    drop(server);
    let server = start();
    let mut client = Client::http1(server.addr()).await;
    check(&mut client, &acknowledged).await;
}
