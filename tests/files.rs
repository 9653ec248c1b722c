//! Static files routes (`files = "<folder>"`) end to end: content types, index.html,
//! revalidation, ranges, compression through the middleware, and no way out of the folder.

use std::os::unix::fs::symlink;

use http::StatusCode;
use tessera_test_support::{AppDir, Client, Reply, Server, component_section, request_with};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

fn app() -> AppDir {
    let app = AppDir::new(&format!(
        r#"
[middleware.zip]
type = "compression"

[[route]]
path = "/..."
files = "web"

[[route]]
path = "/zipped/..."
files = "web"
middleware = ["zip"]

[[route]]
path = "/api/echo/..."
component = "echo"

{}"#,
        component_section("echo", "wasi_echo", "")
    ));
    let web = app.path().join("web");
    std::fs::create_dir_all(web.join("docs")).expect("mkdir");
    std::fs::create_dir_all(web.join("empty")).expect("mkdir");
    let write = |name: &str, bytes: &[u8]| std::fs::write(web.join(name), bytes).expect("write");
    write("index.html", b"<!doctype html><title>home</title>");
    write("app.js", b"console.log('tessera');");
    write("style.css", b"body { color: black }");
    write("image.png", b"\x89PNG\r\n\x1a\nnot really an image");
    write("module.wasm", b"\0asm\x01\0\0\0");
    write("docs/index.html", b"<!doctype html><title>docs</title>");
    write("my file.txt", b"spaces");
    let text: String = (0..400).map(|i| format!("line {i}\n")).collect();
    write("big.txt", text.as_bytes());
    std::fs::write(app.path().join("secret.txt"), b"outside the folder").expect("write");
    symlink(web.join("big.txt"), web.join("inside-link.txt")).expect("symlink");
    symlink(app.path().join("secret.txt"), web.join("outside-link.txt")).expect("symlink");
    symlink(app.path(), web.join("outside-dir")).expect("symlink");
    app
}

async fn fetch(server: &Server, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
    let builder = request_with(method, path, headers);
    Client::http1(server.addr())
        .await
        .fetch(
            builder
                .body(tessera_test_support::empty())
                .expect("a request"),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_are_served_with_types_validators_ranges_and_compression() {
    let app = app();
    let server = Server::start(TESSERA, &app.manifest());

    for (path, content_type, body) in [
        (
            "/",
            "text/html; charset=utf-8",
            &b"<!doctype html><title>home</title>"[..],
        ),
        (
            "/index.html",
            "text/html; charset=utf-8",
            b"<!doctype html><title>home</title>",
        ),
        (
            "/app.js",
            "text/javascript; charset=utf-8",
            b"console.log('tessera');",
        ),
        (
            "/style.css",
            "text/css; charset=utf-8",
            b"body { color: black }",
        ),
        (
            "/image.png",
            "image/png",
            b"\x89PNG\r\n\x1a\nnot really an image",
        ),
        ("/module.wasm", "application/wasm", b"\0asm\x01\0\0\0"),
        (
            "/docs/",
            "text/html; charset=utf-8",
            b"<!doctype html><title>docs</title>",
        ),
        ("/my%20file.txt", "text/plain; charset=utf-8", b"spaces"),
        ("/inside-link.txt", "text/plain; charset=utf-8", b"line 0\n"),
    ] {
        let reply = fetch(&server, "GET", path, &[]).await;
        assert_eq!(reply.status, 200, "{path}: {}", reply.text());
        assert_eq!(reply.header("content-type"), Some(content_type), "{path}");
        assert!(reply.body.starts_with(body), "{path}: {}", reply.text());
        assert_eq!(reply.header("accept-ranges"), Some("bytes"), "{path}");
    }
    // A folder without its slash is sent to it, so that its page's relative links work.
    let folder = fetch(&server, "GET", "/docs?x=1", &[]).await;
    assert_eq!(folder.status, StatusCode::PERMANENT_REDIRECT);
    assert_eq!(folder.header("location"), Some("/docs/?x=1"));
    assert_eq!(
        fetch(&server, "GET", "/empty/", &[]).await.status,
        404,
        "no index.html"
    );
    assert_eq!(fetch(&server, "GET", "/nothing.txt", &[]).await.status, 404);
    // HEAD: the headers without the body; other methods are refused.
    let head = fetch(&server, "HEAD", "/big.txt", &[]).await;
    assert_eq!((head.status.as_u16(), head.body.len()), (200, 0));
    assert!(
        head.header("content-length")
            .is_some_and(|l| l.parse::<usize>().unwrap() > 2000)
    );
    let post = fetch(&server, "POST", "/index.html", &[]).await;
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
    // The component route beside the files route still answers.
    assert_eq!(
        fetch(&server, "GET", "/api/echo/info", &[]).await.status,
        200
    );

    // Revalidation: the ETag (or the date) gets a 304 without a body.
    let first = fetch(&server, "GET", "/app.js", &[]).await;
    let etag = first.header("etag").expect("an ETag").to_string();
    let modified = first
        .header("last-modified")
        .expect("a Last-Modified")
        .to_string();
    let again = fetch(&server, "GET", "/app.js", &[("if-none-match", &etag)]).await;
    assert_eq!((again.status.as_u16(), again.body.len()), (304, 0));
    assert_eq!(again.header("etag"), Some(etag.as_str()));
    let weak = format!("W/{etag}, \"other\"");
    assert_eq!(
        fetch(&server, "GET", "/app.js", &[("if-none-match", &weak)])
            .await
            .status,
        304
    );
    assert_eq!(
        fetch(&server, "GET", "/app.js", &[("if-none-match", "\"stale\"")])
            .await
            .status,
        200
    );
    assert_eq!(
        fetch(
            &server,
            "GET",
            "/app.js",
            &[("if-modified-since", &modified)]
        )
        .await
        .status,
        304
    );
    assert_eq!(
        fetch(
            &server,
            "GET",
            "/app.js",
            &[("if-modified-since", "Mon, 01 Jan 2001 00:00:00 GMT")]
        )
        .await
        .status,
        200
    );

    // Ranges.
    let big = fetch(&server, "GET", "/big.txt", &[]).await.body;
    let len = big.len();
    let part = fetch(&server, "GET", "/big.txt", &[("range", "bytes=7-13")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 7-13/{len}").as_str())
    );
    assert_eq!(&part.body[..], &big[7..14]);
    let tail = fetch(&server, "GET", "/big.txt", &[("range", "bytes=-9")]).await;
    assert_eq!(&tail.body[..], &big[len - 9..]);
    let outside = fetch(
        &server,
        "GET",
        "/big.txt",
        &[("range", &format!("bytes={len}-"))],
    )
    .await;
    assert_eq!(outside.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(
        outside.header("content-range"),
        Some(format!("bytes */{len}").as_str())
    );
    let changed = fetch(
        &server,
        "GET",
        "/big.txt",
        &[("range", "bytes=0-3"), ("if-range", "\"old\"")],
    )
    .await;
    assert_eq!(
        (changed.status.as_u16(), changed.body.len()),
        (200, len),
        "If-Range of another version"
    );
    let current = fetch(&server, "GET", "/big.txt", &[]).await;
    let tag = current.header("etag").unwrap().to_string();
    let same = fetch(
        &server,
        "GET",
        "/big.txt",
        &[("range", "bytes=0-3"), ("if-range", &tag)],
    )
    .await;
    assert_eq!(same.status, StatusCode::PARTIAL_CONTENT);

    // Compression through the route's middleware, but never of a range.
    let zipped = fetch(
        &server,
        "GET",
        "/zipped/big.txt",
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(zipped.status, 200);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert!(
        zipped.body.len() < len / 2,
        "{} of {len} bytes",
        zipped.body.len()
    );
    let plain = fetch(&server, "GET", "/big.txt", &[("accept-encoding", "gzip")]).await;
    assert_eq!(
        plain.header("content-encoding"),
        None,
        "no compression step on this route"
    );
    let ranged = fetch(
        &server,
        "GET",
        "/zipped/big.txt",
        &[("accept-encoding", "gzip"), ("range", "bytes=0-499")],
    )
    .await;
    assert_eq!((ranged.status.as_u16(), ranged.body.len()), (206, 500));
    assert_eq!(ranged.header("content-encoding"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_path_leads_out_of_the_folder() {
    let app = app();
    let server = Server::start(TESSERA, &app.manifest());
    for path in [
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/secret.txt",
        "/docs/../../secret.txt",
        "/docs/%2e%2e/%2e%2e/secret.txt",
        "/docs/..%2f..%2fsecret.txt",
        "/%2f..%2fsecret.txt",
        "/./index.html",
        "/outside-link.txt",
        "/outside-dir/secret.txt",
        "/outside-dir/",
        "/index.html%00.txt",
    ] {
        // Sent as written: the client does not normalise the path.
        let reply = fetch(&server, "GET", path, &[]).await;
        assert_eq!(reply.status, 404, "{path}: {}", reply.text());
        assert!(!reply.text().contains("outside the folder"), "{path}");
    }
}
