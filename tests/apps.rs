//! The study's applications end to end: `examples/matmul` and `examples/fastserve`, served by
//! a real `tessera up` over HTTP as their READMEs say, FastServe on embedded storage and on
//! Redis + PostgreSQL, with the SQL migrations it relies on.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use matmul_core::{Kernel, Matrix, study_checksum};
use serde_json::json;
use tessera_test_support::services::{self, Postgres, Redis};
use tessera_test_support::{
    AppDir, Client, Reply, Server, ServerOptions, WORKSPACE_ROOT, full, get, request,
    status_of_head,
};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

fn example(name: &str) -> PathBuf {
    Path::new(WORKSPACE_ROOT).join(format!("examples/{name}/tessera.toml"))
}

fn state_args(state: &Path) -> ServerOptions {
    ServerOptions::default().args(["--state-dir".to_string(), state.display().to_string()])
}

/// `POST path` with a body and content type.
async fn post(addr: std::net::SocketAddr, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
    Client::http1(addr)
        .await
        .fetch(
            request("POST", path)
                .header("content-type", content_type)
                .body(full(body))
                .expect("valid request"),
        )
        .await
}

/// A 400 whose JSON error mentions `needle`.
fn assert_bad_request(reply: &Reply, needle: &str, what: &str) {
    assert_eq!(reply.status, 400, "{what}: {}", reply.text());
    let error = reply.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(error.contains(needle), "{what}: {error:?} lacks {needle:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_matmul_checksums_kernels_and_bad_input() {
    let server = Server::start(TESSERA, &example("matmul"));
    let addr = server.addr();

    // The issue's figures, and a size that is no multiple of the fast kernel's tiles, against
    // the same kernels compiled natively.
    for (n, expected) in [(3_u64, 29_898_u64), (100, 2_450_250_000)] {
        for kernel in ["naive", "fast"] {
            let reply = get(addr, &format!("/api/matmul?n={n}&kernel={kernel}")).await;
            assert_eq!(reply.status, 200, "{}", reply.text());
            let body = reply.json();
            assert_eq!(body["checksum"], json!(expected), "n={n} {kernel}");
            assert_eq!(
                (body["n"].as_u64(), body["kernel"].as_str()),
                (Some(n), Some(kernel))
            );
            assert!(
                body["millis"].as_f64().is_some_and(|ms| ms >= 0.0),
                "{body}"
            );
        }
    }
    let native = study_checksum(257, Kernel::Naive) as u64;
    for kernel in ["naive", "fast"] {
        let body = get(addr, &format!("/api/matmul?n=257&kernel={kernel}"))
            .await
            .json();
        assert_eq!(body["checksum"], json!(native), "{kernel}");
    }
    assert_eq!(get(addr, "/api/matmul?n=4").await.json()["kernel"], "naive");

    for (query, needle) in [
        ("n=0", "out of range"),
        ("n=5001", "out of range"),
        ("n=abc", "not a number"),
        ("n=-3", "not a number"),
        ("kernel=fast", "give the size"),
        ("n=10&kernel=strassen", "unknown kernel \"strassen\""),
    ] {
        assert_bad_request(
            &get(addr, &format!("/api/matmul?{query}")).await,
            needle,
            query,
        );
    }

    // POST: a product by hand, and a rectangular one against the native kernel.
    let reply = post(
        addr,
        "/api/matmul",
        "application/json",
        br#"{"a": [[1, 2], [3, 4]], "b": [[5, 6], [7, 8]]}"#.to_vec(),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json(), json!({"c": [[19.0, 22.0], [43.0, 50.0]]}));
    let a = Matrix::from_fn(13, 21, |i, j| ((i * 7 + j * 3) % 11) as f64 - 4.5);
    let b = Matrix::from_fn(21, 9, |i, j| ((i * 5 + j) % 13) as f64 / 4.0);
    let body = json!({"a": a.to_rows(), "b": b.to_rows()})
        .to_string()
        .into_bytes();
    let reply = post(addr, "/api/matmul?kernel=fast", "application/json", body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        reply.json(),
        json!({"c": a.multiply(&b, Kernel::Naive).unwrap().to_rows()})
    );

    for (body, needle) in [
        (
            r#"{"a": [[1, 2], [3]], "b": [[1], [2]]}"#,
            "matrix a is ragged",
        ),
        (
            r#"{"a": [[1, 2, 3]], "b": [[1], [2]]}"#,
            "a is 1×3 and b is 2×1",
        ),
        (r#"{"a": [], "b": [[1]]}"#, "matrix a is empty"),
        (r#"{"a": [[1]]}"#, "missing field `b`"),
        (r#"{"a": [[1]], "b": [[1]"#, "line 1"),
    ] {
        let reply = post(
            addr,
            "/api/matmul",
            "application/json",
            body.as_bytes().to_vec(),
        )
        .await;
        assert_bad_request(&reply, needle, body);
    }
    let reply = post(addr, "/api/matmul", "text/plain", b"[[1]]".to_vec()).await;
    assert_eq!(reply.status, 415, "{}", reply.text());
    // Over the manifest's 8 MiB body limit: refused as soon as the head announces it, before
    // the body is sent or the component runs.
    assert_eq!(
        status_of_head(addr, "POST /api/matmul", "application/json", 9 << 20).await,
        413
    );
    let put = Client::http1(addr)
        .await
        .fetch(request("PUT", "/api/matmul").body(full("")).unwrap())
        .await;
    assert_eq!(put.status, 405);
}

/// Whether a core module inside the component at `path` multiplies with 128-bit SIMD: the
/// manifest's `+simd128` build flag took effect.
fn uses_simd(path: &Path) -> bool {
    let bytes = std::fs::read(path).expect("the matmul component is built");
    for payload in wasmparser::Parser::new(0).parse_all(&bytes) {
        if let Ok(wasmparser::Payload::CodeSectionEntry(body)) = payload {
            let mut operators = body.get_operators_reader().expect("operators");
            while !operators.eof() {
                if let Ok(wasmparser::Operator::F64x2Mul) = operators.read() {
                    return true;
                }
            }
        }
    }
    false
}

#[test]
fn examples_matmul_is_built_with_simd() {
    let wasm = Path::new(WORKSPACE_ROOT).join("target/wasm-simd/wasm32-wasip2/release/matmul.wasm");
    assert!(uses_simd(&wasm), "{} has no f64x2.mul", wasm.display());
    // And the check can fail: a component built without the flag has none.
    assert!(!uses_simd(&tessera_test_support::guest("hello")));
}

/// Every FastServe route and its bad input, on whatever storage the server was given.
async fn exercise_fastserve(addr: std::net::SocketAddr) {
    let health = get(addr, "/api/health").await;
    assert_eq!(
        (health.status.as_u16(), health.text().as_str()),
        (200, "ok")
    );
    assert!(
        health
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/plain"))
    );
    let refused = post(addr, "/api/health", "text/plain", Vec::new()).await;
    assert_eq!(refused.status, 405);

    assert_eq!(
        get(addr, "/api/compute").await.json(),
        json!({"n": 30, "fib": 832_040})
    );
    assert_eq!(
        get(addr, "/api/compute?n=0").await.json(),
        json!({"n": 0, "fib": 0})
    );
    assert_eq!(
        get(addr, "/api/compute?n=20").await.json(),
        json!({"n": 20, "fib": 6765})
    );
    for query in ["n=41", "n=-1", "n=abc", "n=2.5"] {
        let reply = get(addr, &format!("/api/compute?{query}")).await;
        assert_bad_request(&reply, "not a whole number in 0..=40", query);
    }

    // The cache: a slow miss, then hits with the same value, until the TTL ends.
    let key = format!("k{}", std::process::id());
    let start = Instant::now();
    let miss = get(addr, &format!("/api/cache?key={key}&ttl=2")).await;
    assert!(
        start.elapsed() >= Duration::from_millis(100),
        "the lookup waits 100 ms"
    );
    assert_eq!(miss.status, 200, "{}", miss.text());
    assert_eq!(miss.header("x-cache"), Some("miss"));
    let value = miss.json()["value"].clone();
    assert!(
        value
            .as_str()
            .is_some_and(|v| v.starts_with(&format!("value of {key}"))),
        "{value}"
    );
    assert_eq!(miss.json()["cached"], json!(false));
    let hit = get(addr, &format!("/api/cache?key={key}&ttl=2")).await;
    assert_eq!(hit.header("x-cache"), Some("hit"));
    assert_eq!(
        hit.json(),
        json!({"key": key, "value": value, "cached": true})
    );
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let expired = get(addr, &format!("/api/cache?key={key}")).await;
    assert_eq!(expired.header("x-cache"), Some("miss"));
    assert_ne!(expired.json()["value"], value, "looked up again");
    for (query, needle) in [
        ("", "give a key"),
        ("key=", "give a key"),
        ("key=a&ttl=0", "ttl = \"0\""),
        ("key=a&ttl=soon", "ttl = \"soon\""),
        ("key=a&ttl=86401", "1..=86400"),
    ] {
        let reply = get(addr, &format!("/api/cache?{query}")).await;
        assert_bad_request(&reply, needle, query);
    }
    let long = "k".repeat(201);
    assert_bad_request(
        &get(addr, &format!("/api/cache?key={long}")).await,
        "at most 200",
        "long key",
    );

    // The database: the migrations' first and last rows, unknown ids, a random one.
    let first = get(addr, "/api/db?id=1").await;
    assert_eq!(first.status, 200, "{}", first.text());
    let first = first.json();
    assert_eq!(
        (&first["id"], &first["author"], &first["source"]),
        (
            &json!(1),
            &json!("George Washington"),
            &json!("State of the Union address, 1790")
        )
    );
    assert!(
        first["quote"].as_str().is_some_and(|q| q.len() >= 60),
        "{first}"
    );
    let last = get(addr, "/api/db?id=1000").await.json();
    assert_eq!(last["author"], "Joseph R Biden");
    for id in ["0", "1001", "-5"] {
        let reply = get(addr, &format!("/api/db?id={id}")).await;
        assert_eq!(reply.status, 404, "id={id}: {}", reply.text());
        assert!(
            reply.json()["error"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("no quote {id}"))
        );
    }
    assert_bad_request(&get(addr, "/api/db?id=one").await, "not a number", "id=one");
    let mut ids = std::collections::BTreeSet::new();
    for _ in 0..20 {
        let quote = get(addr, "/api/db").await.json();
        let id = quote["id"].as_i64().expect("an id");
        assert!((1..=1000).contains(&id), "{quote}");
        assert!(
            quote["quote"].as_str().is_some_and(|q| !q.is_empty()),
            "{quote}"
        );
        ids.insert(id);
    }
    assert!(ids.len() >= 10, "20 random quotes gave only ids {ids:?}");
}

/// Fails unless the server has logged `line` (start-up lines are logged before it serves).
fn assert_logged(server: &Server, line: &str) {
    assert!(
        server.log().contains(line),
        "no {line:?} in:\n{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_fastserve_on_embedded_storage() {
    let state = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(TESSERA, &example("fastserve"), state_args(state.path()));
    assert_logged(
        &server,
        "SQL database default: applied 0001_create_quotes, 0002_quotes",
    );
    exercise_fastserve(server.addr()).await;
    drop(server);

    // A restart applies nothing again.
    let server = Server::start_with(TESSERA, &example("fastserve"), state_args(state.path()));
    assert_logged(&server, "SQL database default: migrations up to date (2)");
    assert_eq!(get(server.addr(), "/api/db?id=1001").await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_fastserve_on_redis_and_postgres_with_two_hosts_starting_at_once() {
    let redis = Redis::start();
    let postgres = Postgres::start();
    let state = tempfile::tempdir().expect("tempdir");
    let config = services::runtime_config(state.path(), Some(&redis), Some(&postgres));
    let options = || {
        ServerOptions::default()
            .args(["--runtime-config".to_string(), config.display().to_string()])
    };
    // Both hosts migrate the one database at the same moment.
    let starts: Vec<_> = (0..2)
        .map(|_| {
            let options = options();
            std::thread::spawn(move || Server::start_with(TESSERA, &example("fastserve"), options))
        })
        .collect();
    let servers: Vec<Server> = starts
        .into_iter()
        .map(|start| start.join().expect("a host started"))
        .collect();
    let applied = |server: &Server| {
        server
            .log()
            .contains("applied 0001_create_quotes, 0002_quotes")
    };
    let up_to_date = |server: &Server| server.log().contains("migrations up to date (2)");
    assert_eq!(
        servers
            .iter()
            .map(|s| (applied(s), up_to_date(s)))
            .filter(|&(a, _)| a)
            .count(),
        1,
        "exactly one host applies the migrations:\n{}\n---\n{}",
        servers[0].log(),
        servers[1].log()
    );
    assert!(servers.iter().any(up_to_date));
    assert!(
        servers[0].log().contains("postgres at"),
        "{}",
        servers[0].log()
    );
    exercise_fastserve(servers[0].addr()).await;
    // The other host shares the data: the value cached through the first is a hit here.
    let key = "shared";
    let miss = get(servers[0].addr(), &format!("/api/cache?key={key}")).await;
    assert_eq!(miss.header("x-cache"), Some("miss"));
    let hit = get(servers[1].addr(), &format!("/api/cache?key={key}")).await;
    assert_eq!(hit.header("x-cache"), Some("hit"));
    assert_eq!(hit.json()["value"], miss.json()["value"]);
}

/// A copy of FastServe's db component and migrations in a directory of its own.
fn quotes_app() -> AppDir {
    let app = AppDir::new(&format!(
        "[[route]]\npath = \"/api/db\"\ncomponent = \"db\"\n\n{}\
         [sql_database.default]\nmigrations = \"migrations\"\n",
        tessera_test_support::component_section(
            "db",
            "fastserve_db",
            "sql_databases = [\"default\"]"
        )
    ));
    let migrations = app.path().join("migrations");
    std::fs::create_dir(&migrations).expect("migrations dir");
    for file in ["0001_create_quotes.sql", "0002_quotes.sql"] {
        std::fs::copy(
            Path::new(WORKSPACE_ROOT)
                .join("examples/fastserve/migrations")
                .join(file),
            migrations.join(file),
        )
        .expect("copy a migration");
    }
    app
}

/// Runs `tessera check` or `tessera up` on `app`; its success and log. An `up` that is still
/// running after a minute is serving, which these tests never expect: it is stopped and
/// reported as a failure of the test.
fn tessera(command: &str, app: &AppDir) -> (bool, String) {
    let log = app.path().join(format!("{command}.log"));
    let mut tessera = std::process::Command::new(TESSERA);
    tessera.arg(command);
    if command == "up" {
        tessera.args(["--listen", "127.0.0.1:0"]);
    }
    let mut child = tessera
        .arg("--manifest")
        .arg(app.manifest())
        .arg("--state-dir")
        .arg(app.path().join("state"))
        .arg("--cache-dir")
        .arg(tessera_test_support::shared_cache_dir())
        .env("TESSERA_LOG", "info")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).expect("create the log"))
        .spawn()
        .expect("run tessera");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for tessera") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "tessera {command} is still running after 60 s:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (
        status.success(),
        std::fs::read_to_string(&log).expect("read the log"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrations_that_fail_or_changed_are_refused_before_serving() {
    let app = quotes_app();
    let migrations = app.path().join("migrations");
    let broken = migrations.join("0003_broken.sql");
    std::fs::write(
        &broken,
        "UPDATE quotes SET author = 'nobody';\nINSERT INTO no_such_table VALUES (1);\n",
    )
    .expect("write");

    // `check` tries the pending files and refuses; `up` does not start.
    for command in ["check", "up"] {
        let (ok, log) = tessera(command, &app);
        assert!(!ok, "{command} succeeded:\n{log}");
        assert!(
            log.contains(
                "`sql_database.default.migrations`: database \"default\": 0003_broken.sql failed:"
            ) && log.contains("no_such_table")
                && log.contains("nothing was applied"),
            "{command}:\n{log}"
        );
    }
    // Nothing of it stayed, not even the files before it, which apply with it or not at all.
    std::fs::remove_file(&broken).expect("remove");
    let (ok, log) = tessera("check", &app);
    assert!(ok, "{log}");
    assert!(
        log.contains("0001_create_quotes, 0002_quotes would apply cleanly"),
        "{log}"
    );
    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        state_args(&app.path().join("state")),
    );
    let quote = get(server.addr(), "/api/db?id=1").await.json();
    assert_eq!(quote["author"], "George Washington", "{quote}");
    drop(server);

    // An applied file that changed is refused, naming it.
    let first = migrations.join("0001_create_quotes.sql");
    let text = std::fs::read_to_string(&first).expect("read");
    std::fs::write(&first, text.replace("quote TEXT", "quote VARCHAR(500)")).expect("write");
    let (ok, log) = tessera("up", &app);
    assert!(!ok, "{log}");
    assert!(
        log.contains("0001_create_quotes.sql was changed after it was applied"),
        "{log}"
    );
    assert!(log.contains("put the change in a new migration"), "{log}");
    std::fs::write(&first, text).expect("restore");
    let (ok, log) = tessera("check", &app);
    assert!(ok && log.contains("migrations up to date (2)"), "{log}");
}

#[test]
fn both_apps_build_with_tessera_build() {
    // The test support built the same components with the same commands and flags, so cargo
    // finds them fresh; what is tested is that the manifests' build sections work as written.
    for (app, components) in [("matmul", 1), ("fastserve", 4)] {
        let state = tempfile::tempdir().expect("tempdir");
        let output = std::process::Command::new(TESSERA)
            .args(["build", "--manifest"])
            .arg(example(app))
            .arg("--state-dir")
            .arg(state.path())
            .output()
            .expect("run tessera build");
        let log = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{app}:\n{log}");
        assert!(
            log.contains(&format!("built {components}, up to date 0, failed 0")),
            "{app}:\n{log}"
        );
    }
}

#[test]
fn the_quotes_are_attributed_public_domain_text() {
    let sql = std::fs::read_to_string(
        Path::new(WORKSPACE_ROOT).join("examples/fastserve/migrations/0002_quotes.sql"),
    )
    .expect("read");
    let rows: Vec<&str> = sql
        .lines()
        .filter(|l| l.starts_with("INSERT INTO quotes"))
        .collect();
    assert_eq!(rows.len(), 1000);
    assert!(sql.starts_with("-- 1000 quotations from the State of the Union addresses"));
    for (i, row) in rows.iter().enumerate() {
        assert!(
            row.starts_with(&format!(
                "INSERT INTO quotes (id, quote, author, source) VALUES ({}, '",
                i + 1
            )),
            "{row}"
        );
        assert!(row.contains("'State of the Union address, "), "{row}");
    }
}
