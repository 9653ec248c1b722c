//! Three `tessera up` processes behind Debian's nginx (round robin, passive health checks,
//! `proxy_next_upstream` for idempotent requests), sharing one Redis and one PostgreSQL: under
//! 30 s of load on FastServe's `/api/db` and a key-value counter, one node is killed with
//! SIGKILL and restarted. Every acknowledged increment must be in Redis, GET failures must be
//! no more than the requests that were in flight, and the restarted node must serve again.
//! Prints the figures (`cargo test --test cluster -- --nocapture`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tessera_test_support::services::{Postgres, Redis, free_port, runtime_config};
use tessera_test_support::{
    AppDir, Client, Server, ServerOptions, component_section, empty, fastserve_migrations, get,
    request,
};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");
const LOAD: Duration = Duration::from_secs(30);
const KILL_AT: Duration = Duration::from_secs(10);
const RESTART_AT: Duration = Duration::from_secs(15);
const GET_WORKERS: usize = 6;
const POST_WORKERS: usize = 4;

fn app() -> AppDir {
    let app = AppDir::new(&format!(
        "[[route]]\npath = \"/api/db\"\ncomponent = \"db\"\n\n\
         [[route]]\npath = \"/kv/...\"\ncomponent = \"caps\"\n\n{}{}\
         [sql_database.default]\nmigrations = \"migrations\"\n",
        component_section("db", "fastserve_db", "sql_databases = [\"default\"]"),
        component_section("caps", "caps", "key_value_stores = [\"default\"]"),
    ));
    fastserve_migrations(&app.path().join("migrations"));
    app
}

/// nginx in front of `nodes`, on its own loopback port; killed when dropped.
struct Nginx {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(nodes: &[SocketAddr]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        for sub in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
            std::fs::create_dir(root.join(sub)).expect("mkdir");
        }
        // Workers may run as another user (nginx started as root drops to `nobody`).
        let _ = Command::new("chmod")
            .args(["-R", "a+rwx"])
            .arg(root)
            .status();
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let servers: String = nodes
            .iter()
            .map(|node| format!("    server {node} max_fails=1 fail_timeout=2s;\n"))
            .collect();
        let r = root.display();
        let config = format!(
            "daemon off;\nworker_processes 1;\npid {r}/nginx.pid;\nerror_log {r}/error.log warn;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  keepalive_requests 1000000;\n\
             client_body_temp_path {r}/body;\n  proxy_temp_path {r}/proxy;\n\
             fastcgi_temp_path {r}/fastcgi;\n  uwsgi_temp_path {r}/uwsgi;\n  scgi_temp_path {r}/scgi;\n\
             upstream tessera {{\n{servers}    keepalive 32;\n  }}\n\
             server {{\n    listen {addr};\n    location / {{\n\
             proxy_pass http://tessera;\n      proxy_http_version 1.1;\n\
             proxy_set_header Connection \"\";\n      proxy_connect_timeout 1s;\n\
             proxy_next_upstream error timeout http_502 http_503;\n\
             proxy_next_upstream_tries 3;\n    }}\n  }}\n}}\n"
        );
        let conf = root.join("nginx.conf");
        std::fs::write(&conf, config).expect("write nginx.conf");
        // Debian puts it in /usr/sbin, which a non-root PATH may lack.
        let nginx = ["/usr/sbin/nginx", "nginx"]
            .into_iter()
            .find(|path| Path::new(path).exists())
            .unwrap_or("nginx");
        let child = Command::new(nginx)
            .arg("-p")
            .arg(root)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot run nginx: scripts/test.sh installs it (apt-get install nginx)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            assert!(Instant::now() < deadline, "nginx did not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Self {
            child,
            addr,
            _dir: dir,
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: the master stops its workers (killed, it would leave them
        // running).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `tessera up` of `manifest` per options, started at once.
fn start_nodes(manifest: &Path, options: impl Iterator<Item = ServerOptions>) -> Vec<Server> {
    std::thread::scope(|scope| {
        let starts: Vec<_> = options
            .map(|options| scope.spawn(move || Server::start_with(TESSERA, manifest, options)))
            .collect();
        starts
            .into_iter()
            .map(|s| s.join().expect("start"))
            .collect()
    })
}

#[derive(Default)]
struct Tally {
    gets_ok: u64,
    gets_failed: u64,
    posts_failed: u64,
    acknowledged: Vec<u64>,
    /// What failed: when (since the load began), and the status or error.
    failures: Vec<(Duration, String)>,
}

/// One client's loop until `stop`: GETs of quotes, or POSTs of increments.
async fn worker(
    nginx: SocketAddr,
    post: bool,
    stop: Arc<AtomicBool>,
    n: u64,
    began: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut client = None;
    let mut id = n;
    while !stop.load(Ordering::Relaxed) {
        if client.is_none() {
            client = Client::try_http1(nginx).await.ok();
        }
        let Some(connection) = client.as_mut() else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        id = id % 1000 + 1;
        let req = if post {
            request("POST", "/kv/incr?store=default&key=hits")
        } else {
            request("GET", &format!("/api/db?id={id}"))
        };
        let outcome = match connection.send(req.body(empty()).expect("request")).await {
            Ok(response) => tessera_test_support::collect(response).await.ok(),
            Err(_) => None,
        };
        let what = match &outcome {
            Some(reply) if reply.status != 200 => Some(reply.status.to_string()),
            Some(_) => None,
            None => Some("connection to nginx failed".to_string()),
        };
        let what = what.map(|what| format!("{} {what}", if post { "POST" } else { "GET" }));
        if let Some(what) = what {
            tally.failures.push((began.elapsed(), what));
        }
        match (post, outcome) {
            (false, Some(reply)) if reply.status == 200 => tally.gets_ok += 1,
            (true, Some(reply)) if reply.status == 200 => {
                tally
                    .acknowledged
                    .push(reply.text().trim().parse().expect("a count"));
            }
            (post, outcome) => {
                if outcome.is_none() {
                    client = None;
                }
                if post {
                    tally.posts_failed += 1;
                } else {
                    tally.gets_failed += 1;
                }
            }
        }
    }
    tally
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_under_load_loses_no_acknowledged_write() {
    let (redis, postgres) = (Redis::start(), Postgres::start());
    let app = app();
    let runtime = runtime_config(app.path(), Some(&redis), Some(&postgres));
    let ports: Vec<SocketAddr> = (0..3)
        .map(|_| format!("127.0.0.1:{}", free_port()).parse().expect("addr"))
        .collect();
    let options = |addr: SocketAddr| {
        ServerOptions::default()
            .listen(addr)
            .env("TESSERA_RUNTIME_CONFIG", &runtime.display().to_string())
            .args(["--access-log"])
    };
    // All three at once on one PostgreSQL: the migrations run once.
    let mut nodes = start_nodes(&app.manifest(), ports.iter().map(|&addr| options(addr)));
    let nginx = Nginx::start(&ports);
    assert_eq!(get(nginx.addr, "/api/db?id=7").await.json()["id"], 7);

    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let workers: Vec<_> = (0..GET_WORKERS + POST_WORKERS)
        .map(|n| {
            tokio::spawn(worker(
                nginx.addr,
                n >= GET_WORKERS,
                stop.clone(),
                n as u64 * 97,
                began,
            ))
        })
        .collect();
    let started = Instant::now();
    tokio::time::sleep(KILL_AT).await;
    nodes[1].signal("KILL");
    nodes[1]
        .wait_exit(Duration::from_secs(5))
        .expect("the killed node exits");
    tokio::time::sleep(RESTART_AT - KILL_AT).await;
    let restarted_at = Instant::now();
    nodes[1] = tokio::task::spawn_blocking({
        let (manifest, options) = (app.manifest(), options(ports[1]));
        move || Server::start_with(TESSERA, &manifest, options)
    })
    .await
    .expect("restart");
    let restart_took = restarted_at.elapsed();
    tokio::time::sleep(LOAD.saturating_sub(started.elapsed())).await;
    stop.store(true, Ordering::Relaxed);
    let mut tally = Tally::default();
    for worker in workers {
        let t = worker.await.expect("worker");
        tally.gets_ok += t.gets_ok;
        tally.gets_failed += t.gets_failed;
        tally.posts_failed += t.posts_failed;
        tally.acknowledged.extend(t.acknowledged);
        tally.failures.extend(t.failures);
    }
    tally.failures.sort_by_key(|(at, _)| *at);
    for (at, what) in &tally.failures {
        println!("cluster: failed at {at:?}: {what}");
    }
    let elapsed = started.elapsed();

    let in_redis: u64 = redis
        .command(&["GET", "hits"])
        .trim()
        .parse()
        .expect("a count in Redis");
    let acknowledged: BTreeSet<u64> = tally.acknowledged.iter().copied().collect();
    // The restarted process's access log: what nginx sent it.
    let served_after_restart = nodes[1]
        .log()
        .lines()
        .filter(|line| line.contains("tessera::access") && line.contains("status=200"))
        .count();
    println!(
        "cluster: {:.1} s of load; GET /api/db {} ok, {} failed; POST increments {} acknowledged, \
         {} failed; Redis counter {}; node 1 killed at {:?}, restarted at {:?} (start {:?}), \
         then served {} requests; {:.0} req/s through nginx",
        elapsed.as_secs_f64(),
        tally.gets_ok,
        tally.gets_failed,
        acknowledged.len(),
        tally.posts_failed,
        in_redis,
        KILL_AT,
        RESTART_AT,
        restart_took,
        served_after_restart,
        (tally.gets_ok + tally.gets_failed + tally.acknowledged.len() as u64 + tally.posts_failed)
            as f64
            / elapsed.as_secs_f64(),
    );

    // Every acknowledged increment happened, once: the counts acknowledged are distinct and
    // the counter is at least as high as the number of them. An increment whose answer was
    // lost with the killed node may be counted without being acknowledged.
    assert_eq!(
        acknowledged.len(),
        tally.acknowledged.len(),
        "a count acknowledged twice"
    );
    assert!(in_redis >= acknowledged.len() as u64);
    assert!(acknowledged.last().is_some_and(|&max| max <= in_redis));
    assert!(
        in_redis - acknowledged.len() as u64 <= tally.posts_failed,
        "more increments than answered or failed"
    );
    // nginx retries a GET whose node died on another node; at most those in flight fail.
    assert!(
        tally.gets_failed <= GET_WORKERS as u64,
        "{} GETs failed",
        tally.gets_failed
    );
    assert!(
        tally.gets_ok > 1000 && acknowledged.len() > 100,
        "too little load went through"
    );
    assert!(
        served_after_restart > 0,
        "the restarted node got no requests"
    );
    let direct = get(ports[1], "/api/db?id=3").await;
    assert_eq!(direct.json()["id"], 3);
}

/// Three nodes that share their rate-limit buckets through Redis (`store = "default"`) admit
/// `burst` requests in all, however the requests are spread over them and however many arrive
/// at once; a limit without a store admits `burst` per node. With Redis gone, the shared
/// limit lets requests through (and says so in the log) rather than failing its route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limits_with_a_store_are_shared_by_the_nodes() {
    let mut redis = Redis::start();
    let limit = |name: &str, burst: u32, store: &str| {
        format!(
            "[middleware.{name}]\ntype = \"rate_limit\"\nrequests = {burst}\nper = \"1h\"\n{store}\n"
        )
    };
    let app = AppDir::new(&format!(
        "{}{}{}\
         [[route]]\npath = \"/shared/...\"\ncomponent = \"echo\"\nmiddleware = [\"shared\"]\n\n\
         [[route]]\npath = \"/burst/...\"\ncomponent = \"echo\"\nmiddleware = [\"burst\"]\n\n\
         [[route]]\npath = \"/local/...\"\ncomponent = \"echo\"\nmiddleware = [\"local\"]\n\n{}",
        limit("shared", 10, "store = \"default\""),
        limit("burst", 25, "store = \"default\""),
        limit("local", 10, ""),
        component_section("echo", "wasi_echo", ""),
    ));
    let runtime = runtime_config(app.path(), Some(&redis), None);
    let nodes = start_nodes(
        &app.manifest(),
        (0..3).map(|_| {
            ServerOptions::default().env("TESSERA_RUNTIME_CONFIG", &runtime.display().to_string())
        }),
    );
    let addrs: Vec<SocketAddr> = nodes.iter().map(Server::addr).collect();

    // One after another, round robin over the nodes.
    let mut statuses = Vec::new();
    for n in 0..30 {
        statuses.push(get(addrs[n % 3], "/shared/info").await.status);
    }
    assert_eq!(statuses[..10], [200; 10], "{statuses:?}");
    assert_eq!(statuses[10..], [429; 20], "{statuses:?}");
    let refused = get(addrs[1], "/shared/info").await;
    let retry: u64 = refused
        .header("retry-after")
        .expect("retry-after")
        .parse()
        .unwrap();
    assert!(
        (300..=360).contains(&retry),
        "one request per 6 min: {retry}"
    );

    // All at once: the script runs atomically in Redis, so exactly the burst gets through.
    let concurrent: Vec<_> = (0..75)
        .map(|n| tokio::spawn(get(addrs[n % 3], "/burst/info")))
        .collect();
    let mut admitted = 0;
    for request in concurrent {
        match request.await.expect("request").status.as_u16() {
            200 => admitted += 1,
            status => assert_eq!(status, 429),
        }
    }
    assert_eq!(admitted, 25, "75 requests at once over 3 nodes, burst 25");

    // Without a store, each node has its own buckets.
    let mut admitted = 0;
    for n in 0..36 {
        if get(addrs[n % 3], "/local/info").await.status == 200 {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 30, "10 per node");

    // The buckets are in Redis, under the store's keys.
    let keys = redis.command(&["KEYS", "*ratelimit:*"]);
    assert!(keys.contains("ratelimit:shared:ip:127.0.0.1"), "{keys}");

    redis.kill();
    let started = Instant::now();
    assert_eq!(get(addrs[0], "/shared/info").await.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // The warning is logged before the response is sent, but reaches the test through the
    // node's stderr pipe and the thread that reads it: wait for it rather than race it.
    assert!(
        nodes[0]
            .wait_for_log(
                &["admitting requests until it answers"],
                Duration::from_secs(5)
            )
            .is_some(),
        "{}",
        nodes[0].log()
    );
}
