//! End-to-end: key-value, SQL, outbound HTTP and variables, through the `caps` guest, on the
//! embedded backends and on real Redis and PostgreSQL servers started by the tests; denied
//! paths; and embedded writes surviving `kill -9`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tessera_test_support::services::{Postgres, Redis};
use tessera_test_support::{
    AppDir, Client, Reply, Server, ServerOptions, component_section, full, request,
};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

/// `caps` with every grant under `/`, and the same build with none under `/denied`.
fn app(runtime_config: Option<&str>) -> AppDir {
    let grants = "key_value_stores = [\"default\"]\nsql_databases = [\"default\"]\n\
                  allowed_outbound_hosts = [\"http://127.0.0.1:*\"]\n\
                  variables = { greeting = \"hello\", token = \"{{ secret.token }}\" }";
    let app = AppDir::new(&format!(
        "[[route]]\npath = \"/...\"\ncomponent = \"caps\"\n\n\
         [[route]]\npath = \"/denied/...\"\ncomponent = \"bare\"\n\n{}\n{}",
        component_section("caps", "caps", grants),
        component_section("bare", "caps", ""),
    ));
    if let Some(config) = runtime_config {
        std::fs::write(app.path().join("runtime.toml"), config).expect("runtime.toml");
    }
    app
}

fn start(app: &AppDir, with_runtime_config: bool) -> Server {
    let mut options = ServerOptions::default().env("TESSERA_SECRET_TOKEN", "s3cret-value");
    if with_runtime_config {
        let file = app.path().join("runtime.toml");
        options = options.args(["--runtime-config".to_string(), file.display().to_string()]);
    }
    Server::start_with(TESSERA, &app.manifest(), options)
}

async fn call(addr: SocketAddr, method: &str, path: &str, body: &str) -> Reply {
    let mut client = Client::http1(addr).await;
    client
        .fetch(
            request(method, path)
                .body(full(body.to_string()))
                .expect("valid request"),
        )
        .await
}

async fn ok_json(addr: SocketAddr, method: &str, path: &str, body: &str) -> Value {
    let reply = call(addr, method, path, body).await;
    assert_eq!(reply.status, 200, "{method} {path}: {}", reply.text());
    reply.json()
}

async fn exercise_kv(addr: SocketAddr) {
    assert_eq!(ok_json(addr, "PUT", "/kv/set?key=a", "hello").await, "ok");
    assert_eq!(ok_json(addr, "GET", "/kv/get?key=a", "").await, "hello");
    assert_eq!(call(addr, "GET", "/kv/get?key=never", "").await.status, 404);
    assert_eq!(ok_json(addr, "GET", "/kv/exists?key=a", "").await, true);

    // Expiry: readable before, gone after, by get and exists alike.
    ok_json(addr, "PUT", "/kv/set?key=short&ttl_ms=400", "soon gone").await;
    ok_json(addr, "PUT", "/kv/set?key=long&ttl_ms=60000", "stays").await;
    assert_eq!(
        ok_json(addr, "GET", "/kv/get?key=short", "").await,
        "soon gone"
    );
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(call(addr, "GET", "/kv/get?key=short", "").await.status, 404);
    assert_eq!(
        ok_json(addr, "GET", "/kv/exists?key=short", "").await,
        false
    );
    assert_eq!(ok_json(addr, "GET", "/kv/get?key=long", "").await, "stays");
    let ttl_zero = call(addr, "PUT", "/kv/set?key=z&ttl_ms=0", "x").await;
    assert_eq!(ttl_zero.status, 500);
    assert!(
        ttl_zero.text().contains("time to live of 0"),
        "{}",
        ttl_zero.text()
    );

    // Atomic counters, readable as decimal text.
    assert_eq!(ok_json(addr, "POST", "/kv/incr?key=n&delta=5", "").await, 5);
    assert_eq!(ok_json(addr, "POST", "/kv/incr?key=n&delta=2", "").await, 7);
    assert_eq!(ok_json(addr, "GET", "/kv/get?key=n", "").await, "7");
    let not_a_number = call(addr, "POST", "/kv/incr?key=a&delta=1", "").await;
    assert_eq!(not_a_number.status, 500, "{}", not_a_number.text());

    let batch = ok_json(addr, "POST", "/kv/batch", "").await;
    assert_eq!(
        batch,
        json!({"got": [["b1", "one"], ["b2", "two"], null], "b1_after_delete": false})
    );
    let mut keys: Vec<String> =
        serde_json::from_value(ok_json(addr, "GET", "/kv/list", "").await).expect("keys");
    keys.sort();
    assert_eq!(keys, ["a", "b2", "long", "n"]);
    ok_json(addr, "DELETE", "/kv/delete?key=a", "").await;
    assert_eq!(call(addr, "GET", "/kv/get?key=a", "").await.status, 404);
}

async fn exercise_denied_kv(server: &Server) {
    let addr = server.addr();
    let denied = call(addr, "GET", "/denied/kv/get?key=a", "").await;
    assert_eq!(denied.status, 403, "{}", denied.text());
    assert_eq!(denied.text(), "Error::AccessDenied");
    let unknown = call(addr, "GET", "/kv/get?store=nope&key=a", "").await;
    assert_eq!(unknown.text(), "Error::NoSuchStore");
    assert!(
        server
            .wait_for_log(
                &["component=bare", "key-value store \"default\" refused: it is not in the component's key_value_stores grant"],
                Duration::from_secs(5)
            )
            .is_some(),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_value_on_the_embedded_store() {
    let app = app(None);
    let server = start(&app, false);
    exercise_kv(server.addr()).await;
    exercise_denied_kv(&server).await;
    assert!(app.path().join(".tessera/kv/default.sqlite").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_value_on_redis() {
    let redis = Redis::start();
    let app = app(Some(&format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\nprefix = \"test:\"\n",
        redis.url()
    )));
    let server = start(&app, true);
    assert!(
        server
            .log()
            .contains("key-value store default: redis at redis://127.0.0.1")
    );
    exercise_kv(server.addr()).await;
    exercise_denied_kv(&server).await;
    assert!(!app.path().join(".tessera/kv").exists(), "nothing embedded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_backend_fails_before_binding() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let app = app(Some(&format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\n\
         [sql_database.default]\ntype = \"postgres\"\nurl = \"postgres://u:hunter2@127.0.0.1:{port}/db\"\n"
    )));
    let output = std::process::Command::new(TESSERA)
        .env("TESSERA_SECRET_TOKEN", "s3cret-value")
        .args(["check", "--runtime-config"])
        .arg(app.path().join("runtime.toml"))
        .arg("--manifest")
        .arg(app.manifest())
        .env("TESSERA_LOG", "off")
        .output()
        .expect("tessera check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("`key_value_store.default`: cannot open key-value store \"default\" (redis at redis://127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("`sql_database.default`: cannot open SQL database \"default\" (postgres at postgres://u:***@127.0.0.1:"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    assert!(stderr.contains("fix: start the server"), "{stderr}");
}

/// Types for the test table in each dialect.
struct Dialect {
    create: &'static str,
    unique_violation: &'static str,
}

const SQLITE: Dialect = Dialect {
    create: "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL, data BLOB, ok BOOLEAN)",
    unique_violation: "ConstraintViolation",
};

const POSTGRES: Dialect = Dialect {
    create: "CREATE TABLE items (id INT4 PRIMARY KEY, name TEXT NOT NULL, score FLOAT8, data BYTEA, ok BOOL)",
    unique_violation: "23505",
};

fn statement(sql: &str, params: Value) -> String {
    let mut statement = json!({"sql": sql});
    statement["params"] = params;
    statement.to_string()
}

async fn exercise_sql(addr: SocketAddr, dialect: &Dialect) {
    ok_json(
        addr,
        "POST",
        "/sql/execute",
        &statement(dialect.create, json!([])),
    )
    .await;
    let insert = "INSERT INTO items (id, name, score, data, ok) VALUES ($1, $2, $3, $4, $5)";
    let hostile = "x'); DROP TABLE items; --";
    let changed = ok_json(
        addr,
        "POST",
        "/sql/execute",
        &statement(insert, json!([1, hostile, 2.5, {"blob": [0, 255]}, true])),
    )
    .await;
    assert_eq!(changed, json!({"changed": 1}));
    ok_json(
        addr,
        "POST",
        "/sql/execute",
        &statement(insert, json!([2, "second", null, null, false])),
    )
    .await;

    let rows = ok_json(
        addr,
        "POST",
        "/sql/query",
        &statement(
            "SELECT id, name, score, data FROM items WHERE id = $1",
            json!([1]),
        ),
    )
    .await;
    assert_eq!(rows["rows"], json!([[1, hostile, 2.5, {"blob": [0, 255]}]]));
    let names: Vec<&str> = rows["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .map(|c| c["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names, ["id", "name", "score", "data"]);
    let nulls = ok_json(
        addr,
        "POST",
        "/sql/query",
        &statement("SELECT score, data FROM items WHERE id = $1", json!([2])),
    )
    .await;
    assert_eq!(nulls["rows"], json!([[null, null]]));

    // SQL errors come back typed, with the backend's code.
    let duplicate = call(
        addr,
        "POST",
        "/sql/execute",
        &statement(insert, json!([1, "dup", null, null, null])),
    )
    .await;
    assert_eq!(duplicate.status, 400);
    assert!(
        duplicate.text().contains(dialect.unique_violation),
        "{}",
        duplicate.text()
    );
    let syntax = call(
        addr,
        "POST",
        "/sql/query",
        &statement("SELEC nonsense", json!([])),
    )
    .await;
    assert_eq!(syntax.status, 400);
    assert!(syntax.text().starts_with("Error::Sql"), "{}", syntax.text());

    // Transactions: commit keeps, rollback discards, and one left open is rolled back when
    // the connection is dropped, leaving the pooled connection clean for the next request.
    let tx = |id: i64| {
        json!({"statements": [{"sql": insert, "params": [id, "tx", null, null, null]}]}).to_string()
    };
    ok_json(addr, "POST", "/sql/tx?then=commit", &tx(10)).await;
    ok_json(addr, "POST", "/sql/tx?then=rollback", &tx(11)).await;
    ok_json(addr, "POST", "/sql/tx", &tx(12)).await;
    for _ in 0..3 {
        let count = ok_json(
            addr,
            "POST",
            "/sql/query",
            &statement(
                "SELECT id FROM items WHERE id >= $1 ORDER BY id",
                json!([10]),
            ),
        )
        .await;
        assert_eq!(count["rows"], json!([[10]]));
    }
    let denied = call(
        addr,
        "POST",
        "/denied/sql/query",
        &statement("SELECT 1", json!([])),
    )
    .await;
    assert_eq!(
        (denied.status.as_u16(), denied.text().as_str()),
        (403, "Error::AccessDenied")
    );
    let unknown = call(
        addr,
        "POST",
        "/sql/query?db=other",
        &statement("SELECT 1", json!([])),
    )
    .await;
    assert_eq!(
        (unknown.status.as_u16(), unknown.text().as_str()),
        (404, "Error::NoSuchDatabase")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_on_sqlite() {
    let app = app(None);
    let server = start(&app, false);
    exercise_sql(server.addr(), &SQLITE).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_on_postgres() {
    let postgres = Postgres::start();
    let app = app(Some(&format!(
        "[sql_database.default]\ntype = \"postgres\"\nurl = \"{}\"\nmax_connections = 2\n",
        postgres.url()
    )));
    let server = start(&app, true);
    exercise_sql(server.addr(), &POSTGRES).await;
    // A value that does not fit the column's type is a conversion error, not a wrong write.
    let overflow = call(
        server.addr(),
        "POST",
        "/sql/execute",
        &statement(
            "INSERT INTO items (id, name) VALUES ($1, $2)",
            json!([1_i64 << 40, "big"]),
        ),
    )
    .await;
    assert_eq!(overflow.status, 400);
    assert!(
        overflow.text().starts_with("Error::Conversion"),
        "{}",
        overflow.text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn variables_secrets_and_overrides() {
    let app = app(None);
    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default()
            .env("TESSERA_SECRET_TOKEN", "s3cret-value")
            .env("TESSERA_VAR_GREETING", "bonjour"),
    );
    let addr = server.addr();
    assert_eq!(
        ok_json(addr, "GET", "/config?key=greeting", "").await,
        "bonjour"
    );
    assert_eq!(
        ok_json(addr, "GET", "/config?key=token", "").await,
        "s3cret-value"
    );
    let all = ok_json(addr, "GET", "/config/all", "").await;
    assert_eq!(
        all,
        json!([["greeting", "bonjour"], ["token", "s3cret-value"]])
    );
    let other = call(addr, "GET", "/config?key=other", "").await;
    assert_eq!(other.status, 403);
    assert!(other.text().contains("not granted"), "{}", other.text());
    let denied = call(addr, "GET", "/denied/config?key=greeting", "").await;
    assert_eq!(denied.status, 403);
    assert_eq!(
        ok_json(addr, "GET", "/denied/config/all", "").await,
        json!([])
    );
    assert!(
        server
            .wait_for_log(&["variable \"other\" refused"], Duration::from_secs(5))
            .is_some()
    );
    assert!(
        !server.log().contains("s3cret-value"),
        "a secret reached the log"
    );

    // Without the secret, the app does not start, and says which variable lacks what.
    let output = std::process::Command::new(TESSERA)
        .args(["check", "--manifest"])
        .arg(app.manifest())
        .env("TESSERA_LOG", "off")
        .env_remove("TESSERA_SECRET_TOKEN")
        .output()
        .expect("tessera check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("`component.caps.variables.token`: the secret \"token\" has no value"),
        "{stderr}"
    );
    assert!(stderr.contains("TESSERA_SECRET_TOKEN"), "{stderr}");
}

/// An HTTP/1.1 origin on loopback that counts the connections it accepts.
async fn origin() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = connections.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let body = format!("origin saw {}", req.uri().path());
                        Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(
                            bytes::Bytes::from(body),
                        )))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, connections)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_http_only_to_granted_hosts_with_connection_reuse() {
    let (origin, connections) = origin().await;
    let app = app(None);
    let server = start(&app, false);
    let addr = server.addr();
    for i in 0..3 {
        let reply = ok_json(
            addr,
            "GET",
            &format!("/http?url=http://{origin}/item{i}"),
            "",
        )
        .await;
        assert_eq!(
            reply,
            json!({"status": 200, "body": format!("origin saw /item{i}")})
        );
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "one pooled connection for three requests"
    );

    // Not granted at all, and granted for 127.0.0.1 but asked for localhost.
    let port = origin.port();
    for path in [
        format!("/denied/http?url=http://{origin}/x"),
        format!("/http?url=http://localhost:{port}/x"),
        format!("/http?url=https://127.0.0.1:{port}/x"),
    ] {
        let reply = call(addr, "GET", &path, "").await;
        assert_eq!(reply.status, 502, "{path}");
        assert!(
            reply.text().contains("HttpRequestDenied"),
            "{path}: {}",
            reply.text()
        );
    }
    assert_eq!(
        connections.load(Ordering::SeqCst),
        1,
        "refused requests never connect"
    );
    assert!(
        server
            .wait_for_log(
                &["outbound HTTP refused: GET http://localhost:"],
                Duration::from_secs(5)
            )
            .is_some(),
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_writes_survive_kill_9() {
    let app = app(None);
    let mut server = start(&app, false);
    let addr = server.addr();
    ok_json(
        addr,
        "PUT",
        "/kv/set?key=durable",
        "written before the crash",
    )
    .await;
    ok_json(
        addr,
        "POST",
        "/sql/execute",
        &statement(SQLITE.create, json!([])),
    )
    .await;
    ok_json(
        addr,
        "POST",
        "/sql/execute",
        &statement(
            "INSERT INTO items (id, name) VALUES ($1, $2)",
            json!([7, "durable"]),
        ),
    )
    .await;
    server.signal("KILL");
    server.wait_exit(Duration::from_secs(10)).expect("killed");
    drop(server);

    let server = start(&app, false);
    let addr = server.addr();
    assert_eq!(
        ok_json(addr, "GET", "/kv/get?key=durable", "").await,
        "written before the crash"
    );
    let rows = ok_json(
        addr,
        "POST",
        "/sql/query",
        &statement("SELECT name FROM items WHERE id = $1", json!([7])),
    )
    .await;
    assert_eq!(rows["rows"], json!([["durable"]]));
}

/// The embedded key-value store is served from memory, so only one host may hold it: a second
/// `tessera up` on the same state directory stops before binding and says why, while
/// `tessera check` still works beside the running host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_host_on_the_same_embedded_store_is_refused() {
    let app = app(None);
    let server = start(&app, false);
    ok_json(server.addr(), "PUT", "/kv/set?key=k", "v").await;
    let run = |command: &str| {
        std::process::Command::new(TESSERA)
            .env("TESSERA_SECRET_TOKEN", "s3cret-value")
            .env("TESSERA_LOG", "off")
            .args([command, "--manifest"])
            .arg(app.manifest())
            .args(if command == "up" {
                &["--listen", "127.0.0.1:0"][..]
            } else {
                &[]
            })
            .output()
            .expect("tessera runs")
    };
    let second = run("up");
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(
        stderr.contains("`key_value_store.default`: cannot open key-value store \"default\"")
            && stderr.contains("default.sqlite is in use by another Tessera host"),
        "{stderr}"
    );
    assert!(
        stderr.contains("fix: stop the other host, or give this one its own --state-dir"),
        "{stderr}"
    );
    let check = run("check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    // The first host is unharmed.
    assert_eq!(
        ok_json(server.addr(), "GET", "/kv/get?key=k", "").await,
        "v"
    );
}

fn example(name: &str, state: &tempfile::TempDir) -> Server {
    let manifest = std::path::Path::new(tessera_test_support::WORKSPACE_ROOT)
        .join(format!("examples/{name}/tessera.toml"));
    Server::start_with(
        TESSERA,
        &manifest,
        ServerOptions::default().args([
            "--state-dir".to_string(),
            state.path().display().to_string(),
        ]),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_kv_cache_hits_until_the_ttl_expires() {
    let state = tempfile::tempdir().expect("tempdir");
    let server = Server::start_with(
        TESSERA,
        &std::path::Path::new(tessera_test_support::WORKSPACE_ROOT)
            .join("examples/kv-cache/tessera.toml"),
        ServerOptions::default()
            .args([
                "--state-dir".to_string(),
                state.path().display().to_string(),
            ])
            .env("TESSERA_VAR_TTL_MS", "600"),
    );
    let addr = server.addr();
    let first = call(addr, "GET", "/fib/25", "").await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json(), json!({"n": 25, "fib": "75025"}));
    assert_eq!(first.header("x-cache"), Some("miss"));
    let second = call(addr, "GET", "/fib/25", "").await;
    assert_eq!(second.header("x-cache"), Some("hit"));
    assert_eq!(second.json(), first.json());
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        call(addr, "GET", "/fib/25", "").await.header("x-cache"),
        Some("miss")
    );
    assert_eq!(call(addr, "GET", "/fib/99", "").await.status, 400);
    assert!(state.path().join("kv/default.sqlite").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_notes_stores_and_lists() {
    let state = tempfile::tempdir().expect("tempdir");
    let server = example("notes", &state);
    let addr = server.addr();
    for (text, id) in [("buy milk", 1), ("it's a 'quoted' note", 2)] {
        let created = call(addr, "POST", "/notes", text).await;
        assert_eq!(created.status, 201, "{}", created.text());
        assert_eq!(created.json(), json!({"id": id}));
    }
    assert_eq!(
        ok_json(addr, "GET", "/notes", "").await,
        json!([{"id": 2, "body": "it's a 'quoted' note"}, {"id": 1, "body": "buy milk"}])
    );
    assert_eq!(
        ok_json(addr, "GET", "/notes/1", "").await,
        json!({"id": 1, "body": "buy milk"})
    );
    assert_eq!(call(addr, "GET", "/notes/9", "").await.status, 404);
    assert_eq!(call(addr, "DELETE", "/notes/1", "").await.status, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn examples_notes_on_postgres() {
    let postgres = Postgres::start();
    let state = tempfile::tempdir().expect("tempdir");
    let config =
        tessera_test_support::services::runtime_config(state.path(), None, Some(&postgres));
    let server = Server::start_with(
        TESSERA,
        &std::path::Path::new(tessera_test_support::WORKSPACE_ROOT)
            .join("examples/notes/tessera.toml"),
        ServerOptions::default()
            .args(["--runtime-config".to_string(), config.display().to_string()]),
    );
    let addr = server.addr();
    assert_eq!(
        call(addr, "POST", "/notes", "on postgres").await.status,
        201
    );
    assert_eq!(
        ok_json(addr, "GET", "/notes", "").await,
        json!([{"id": 1, "body": "on postgres"}])
    );
}
