//! embed-axum end to end: the axum program started as a user would, its native routes and the
//! mounted Tessera application answering side by side, and a component replaced through the
//! library while it serves.

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use tessera_test_support::{Client, full, get, request, versioned_guest};

struct Program(std::process::Child);

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start() -> (Program, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_embed-axum"))
        .arg("127.0.0.1:0")
        .env("TESSERA_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start embed-axum");
    let stdout = child.stdout.take().expect("piped");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("its first line");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .parse()
        .expect("an address");
    (Program(child), addr)
}

async fn put(addr: SocketAddr, path: &str, body: Vec<u8>) -> tessera_test_support::Reply {
    Client::http1(addr)
        .await
        .fetch(request("PUT", path).body(full(body)).expect("a request"))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_and_wasm_routes_side_by_side_and_a_live_replacement() {
    let (_program, addr) = start();
    assert!(
        get(addr, "/")
            .await
            .text()
            .starts_with("native axum routes")
    );
    assert_eq!(
        get(addr, "/native/sum/2/40").await.json(),
        serde_json::json!({"sum": 42})
    );
    // The mounted app: its route /hello under the prefix; the prefix is not one of its paths.
    let hello = get(addr, "/wasm/hello").await;
    assert_eq!(
        (hello.status.as_u16(), hello.text().as_str()),
        (200, "Hello from Tessera!\n")
    );
    assert_eq!(get(addr, "/hello").await.status, 404, "axum: no such route");
    let unrouted = get(addr, "/wasm/nothing").await;
    assert_eq!(unrouted.status, 404, "Tessera's router");
    assert_eq!(unrouted.json()["error"], "no route matches this path");

    // Replaced through the library while serving.
    let replaced = put(addr, "/admin/components/hello", versioned_guest(7)).await;
    assert_eq!(replaced.status, 200, "{}", replaced.text());
    assert_eq!(get(addr, "/wasm/hello").await.text(), "tessera-version:07");
    let refused = put(addr, "/admin/components/hello", b"not wasm".to_vec()).await;
    assert_eq!(refused.status, 422, "{}", refused.text());
    assert_eq!(
        get(addr, "/wasm/hello").await.text(),
        "tessera-version:07",
        "the old version serves on"
    );
    assert_eq!(
        put(addr, "/admin/components/nope", versioned_guest(8))
            .await
            .status,
        404
    );
}
