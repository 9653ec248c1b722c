//! End-to-end: replacing a component while the server runs, through the admin endpoint.
//!
//! The `versioned` guest answers with a marker (`tessera-version:NN`); new versions are the
//! same `.wasm` with the digits rewritten, so each is a distinct component (its own digest,
//! its own compilation) without a rebuild.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt as _, StreamBody};
use hyper::body::Frame;
use tessera_test_support::{
    AppDir, Client, ClientBody, Reply, Server, ServerOptions, collect, component_section, empty,
    full, get, guest, request, versioned_guest,
};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");
const TOKEN: &str = "a-test-admin-token";

fn app() -> AppDir {
    app_with("")
}

/// The app, with `v_extra` in the `v` component's section.
fn app_with(v_extra: &str) -> AppDir {
    AppDir::new(&format!(
        "[[route]]\npath = \"/v\"\ncomponent = \"v\"\n\n\
         [[route]]\npath = \"/other/...\"\ncomponent = \"other\"\n\n{}\n{}",
        component_section("v", "versioned", v_extra),
        component_section("other", "wasi_echo", ""),
    ))
}

fn body_version(reply: &Reply) -> u32 {
    reply
        .text()
        .strip_prefix("tessera-version:")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("not a versioned answer: {reply:?}"))
}

/// The admin endpoint's address, from the server's log.
fn admin_addr(server: &Server) -> SocketAddr {
    server.logged_addr("admin endpoint: http://")
}

async fn admin(addr: SocketAddr, method: &str, path: &str, token: &str, body: Vec<u8>) -> Reply {
    Client::http1(addr)
        .await
        .fetch(
            request(method, path)
                .header("authorization", format!("Bearer {token}"))
                .body(full(body))
                .expect("valid request"),
        )
        .await
}

fn start(token_args: &[&str]) -> (AppDir, Server, SocketAddr) {
    start_app(app(), token_args)
}

fn start_app(app: AppDir, token_args: &[&str]) -> (AppDir, Server, SocketAddr) {
    let server = Server::start_with(
        TESSERA,
        &app.manifest(),
        ServerOptions::default()
            .args(["--admin", "127.0.0.1:0"])
            .args(token_args.iter().copied()),
    );
    let admin = admin_addr(&server);
    (app, server, admin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_replacements_under_load_fail_no_request() {
    replacements_under_load(app(), 20, Duration::from_secs(30)).await;
}

/// The same with `reuse`: idle instances of a replaced version go with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacements_under_load_with_reuse_fail_no_request() {
    let app = app_with("reuse = { max_requests = 1000 }");
    replacements_under_load(app, 6, Duration::from_secs(10)).await;
}

/// `swaps` live replacements of `v` spread over `load_for` of requests on 8 connections: no
/// request fails, every version is served, and no connection goes back to an older one.
async fn replacements_under_load(app: AppDir, swaps: u32, load_for: Duration) {
    const CONNECTIONS: usize = 8;
    let (_app, server, admin_at) = start_app(app, &["--admin-token", TOKEN]);
    let addr = server.addr();
    assert_eq!(body_version(&get(addr, "/v").await), 0);

    let started = Instant::now();
    // The load runs for load_for, and on until the last swap is done if swaps ran late (each
    // compiles a new component on a machine the load keeps busy).
    let (swapping_tx, swapping) = tokio::sync::watch::channel(true);
    let mut load = tokio::task::JoinSet::new();
    for connection in 0..CONNECTIONS {
        let swapping = swapping.clone();
        load.spawn(async move {
            // Both protocols: HTTP/2 multiplexes, HTTP/1.1 keeps one request at a time.
            let mut client = if connection % 4 == 3 {
                Client::http2(addr).await
            } else {
                Client::http1(addr).await
            };
            let (mut served, mut failed, mut seen) = (0u32, Vec::new(), Vec::<u32>::new());
            while started.elapsed() < load_for || *swapping.borrow() {
                let outcome = client
                    .send(request("GET", "/v").body(empty()).expect("valid request"))
                    .await;
                match outcome {
                    Ok(response) => match collect(response).await {
                        Ok(reply) if reply.status == 200 => {
                            served += 1;
                            let v = body_version(&reply);
                            if seen.last() != Some(&v) {
                                seen.push(v);
                            }
                        }
                        Ok(reply) => failed.push(format!("{}: {}", reply.status, reply.text())),
                        Err(error) => failed.push(format!("body: {error}")),
                    },
                    Err(error) => failed.push(format!("request: {error}")),
                }
            }
            (served, failed, seen)
        });
    }

    let mut digests = Vec::new();
    let mut swap_millis = Vec::new();
    for n in 1..=swaps {
        // Spread over the load: swap n at n/(swaps+1) of it, or at once if running late.
        tokio::time::sleep_until((started + load_for * n / (swaps + 1)).into()).await;
        let reply = admin(admin_at, "PUT", "/components/v", TOKEN, versioned_guest(n)).await;
        assert_eq!(reply.status, 200, "swap {n}: {}", reply.text());
        let done = reply.json();
        digests.push(done["digest"].as_str().expect("a digest").to_string());
        swap_millis.push(done["millis"].as_f64().expect("millis"));
        // Once the admin call returns, new requests get the new version.
        assert_eq!(
            body_version(&get(addr, "/v").await),
            n,
            "right after swap {n}"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    swapping_tx.send(false).expect("load tasks are running");

    let (mut served, mut failures, mut per_connection) = (0, Vec::new(), Vec::new());
    while let Some(joined) = load.join_next().await {
        let (s, f, seen) = joined.expect("a load task panicked");
        served += s;
        failures.extend(f);
        per_connection.push(seen);
    }
    assert!(
        failures.is_empty(),
        "{} failed requests: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    digests.dedup();
    assert_eq!(
        digests.len(),
        swaps as usize,
        "every version has its own digest"
    );
    let mut all_seen: Vec<u32> = per_connection.iter().flatten().copied().collect();
    all_seen.sort_unstable();
    all_seen.dedup();
    assert_eq!(
        all_seen,
        (0..=swaps).collect::<Vec<_>>(),
        "the load saw every version"
    );
    for seen in &per_connection {
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "a connection went back to an older version: {seen:?}"
        );
    }
    // The other component was never touched.
    assert_eq!(get(addr, "/other/status?code=201").await.status, 201);
    swap_millis.sort_by(f64::total_cmp);
    eprintln!(
        "{served} requests in {:.1} s, 0 failed, {swaps} swaps; swap time median {:.0} ms, max {:.0} ms",
        started.elapsed().as_secs_f64(),
        swap_millis[swap_millis.len() / 2],
        swap_millis[swap_millis.len() - 1]
    );
}

/// A request body whose chunks the test sends when it chooses.
fn held_body() -> (tokio::sync::mpsc::Sender<Bytes>, ClientBody) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(4);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|chunk| (Ok::<_, Infallible>(Frame::data(chunk)), rx))
    });
    (tx, StreamBody::new(stream).boxed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flight_requests_finish_on_the_old_version_and_broken_versions_are_refused() {
    let state = tempfile::tempdir().expect("tempdir");
    let state_arg = state.path().display().to_string();
    let (_app, server, admin_at) = start(&["--state-dir", &state_arg]);
    let addr = server.addr();

    // No --admin-token: the server made one, readable by its owner only.
    let token_file = state.path().join("admin-token");
    let token = std::fs::read_to_string(&token_file).expect("the server wrote its admin token");
    assert_eq!(token.len(), 64);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&token_file)
            .expect("metadata")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(
        !server.log().contains(&token),
        "the token never reaches the log"
    );

    // A request in flight when the swap happens finishes on the old version.
    let (tx, body) = held_body();
    let mut client = Client::http1(addr).await;
    let in_flight = tokio::spawn(async move {
        let response = client
            .send(request("POST", "/v").body(body).expect("valid request"))
            .await
            .expect("request");
        collect(response).await.expect("body")
    });
    tx.send(Bytes::from_static(b"first half "))
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let swapped = admin(admin_at, "PUT", "/components/v", &token, versioned_guest(7)).await;
    assert_eq!(swapped.status, 200, "{}", swapped.text());
    assert_eq!(body_version(&get(addr, "/v").await), 7);
    tx.send(Bytes::from_static(b"second half"))
        .await
        .expect("send");
    drop(tx);
    let old = in_flight.await.expect("in-flight request");
    assert_eq!(old.status, 200);
    assert_eq!(
        body_version(&old),
        0,
        "the in-flight request stays on the old version"
    );
    assert_eq!(old.header("x-received"), Some("22"));

    // Broken versions are refused with the reason; the current one keeps serving.
    let garbage = admin(
        admin_at,
        "PUT",
        "/components/v",
        &token,
        b"not wasm".to_vec(),
    )
    .await;
    assert_eq!(garbage.status, 422, "{}", garbage.text());
    assert!(
        garbage.json()["error"]
            .as_str()
            .unwrap()
            .contains("the old one keeps serving")
    );
    assert!(garbage.json()["fix"].is_string());
    let not_http = std::fs::read(guest("not_http")).expect("read not-http guest");
    let refused = admin(admin_at, "PUT", "/components/v", &token, not_http).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert!(
        refused.text().contains("incoming-handler"),
        "{}",
        refused.text()
    );
    assert_eq!(body_version(&get(addr, "/v").await), 7);
    assert!(
        server
            .wait_for_log(&["was refused"], Duration::from_secs(5))
            .is_some(),
        "{}",
        server.log()
    );

    // The token is required, and only the right one will do.
    for wrong in ["", "nope"] {
        let denied = admin(admin_at, "PUT", "/components/v", wrong, versioned_guest(9)).await;
        assert_eq!(denied.status, 401);
        assert_eq!(denied.header("www-authenticate"), Some("Bearer"));
    }
    assert_eq!(body_version(&get(addr, "/v").await), 7);
    let unknown = admin(
        admin_at,
        "PUT",
        "/components/nope",
        &token,
        versioned_guest(9),
    )
    .await;
    assert_eq!(unknown.status, 404, "{}", unknown.text());

    // The listing shows the version serving; reload goes back to the source file.
    let listed = admin(admin_at, "GET", "/components", &token, Vec::new()).await;
    assert_eq!(listed.status, 200);
    let listed = listed.json();
    let v = listed
        .as_array()
        .and_then(|all| all.iter().find(|c| c["id"] == "v"))
        .expect("component v listed")
        .clone();
    assert_eq!(v["digest"], swapped.json()["digest"]);
    let reloaded = admin(admin_at, "POST", "/components/v/reload", &token, Vec::new()).await;
    assert_eq!(reloaded.status, 200, "{}", reloaded.text());
    assert_eq!(reloaded.json()["previous"], swapped.json()["digest"]);
    assert_eq!(
        reloaded.json()["cache"],
        "hit",
        "the source version was compiled at start"
    );
    assert_eq!(body_version(&get(addr, "/v").await), 0);
}

/// The next instance of a component is made after each of its requests and shown as `ready`;
/// none is made before the first request, and a new version starts without one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_instance_is_made_after_a_request_and_not_kept_across_versions() {
    let (_app, server, admin_at) = start(&["--admin-token", TOKEN]);
    let addr = server.addr();
    let ready = |id: &'static str| async move {
        let listed = admin(admin_at, "GET", "/components", TOKEN, Vec::new()).await;
        listed
            .json()
            .as_array()
            .and_then(|all| all.iter().find(|c| c["id"] == id))
            .map(|c| c["ready"].as_u64().expect("ready is a number"))
            .expect("the component is listed")
    };
    let eventually_ready = |id: &'static str| async move {
        let deadline = Instant::now() + Duration::from_secs(5);
        while ready(id).await != 1 {
            assert!(Instant::now() < deadline, "no instance of {id} made ahead");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    assert_eq!(ready("other").await, 0, "nothing is made before a request");
    assert_eq!(get(addr, "/other/visits").await.text(), "1");
    eventually_ready("other").await;
    // The request takes the waiting instance, which had served nothing, and another follows.
    assert_eq!(get(addr, "/other/visits").await.text(), "1");
    eventually_ready("other").await;

    assert_eq!(body_version(&get(addr, "/v").await), 0);
    eventually_ready("v").await;
    let swapped = admin(admin_at, "PUT", "/components/v", TOKEN, versioned_guest(3)).await;
    assert_eq!(swapped.status, 200, "{}", swapped.text());
    assert_eq!(
        ready("v").await,
        0,
        "the old version's instance is not kept"
    );
    assert_eq!(body_version(&get(addr, "/v").await), 3);
    eventually_ready("v").await;
}
