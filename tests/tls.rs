//! End-to-end: HTTPS with `--tls-cert` and `--tls-key`: HTTP/2 and HTTP/1.1 chosen by ALPN,
//! the scheme components see, the certificate re-read on SIGHUP without dropping connections,
//! and the errors for certificates that cannot be served.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use tessera_test_support::tls::{TestCa, connect, years};
use tessera_test_support::{AppDir, Server, ServerOptions, component_section, shared_cache_dir};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

fn app() -> AppDir {
    AppDir::new(&format!(
        "[[route]]\npath = \"/...\"\ncomponent = \"echo\"\n\n{}",
        component_section("echo", "wasi_echo", ""),
    ))
}

fn https(app: &AppDir, cert: &Path, key: &Path) -> Server {
    let options = ServerOptions::default().args([
        "--tls-cert".to_string(),
        cert.display().to_string(),
        "--tls-key".to_string(),
        key.display().to_string(),
    ]);
    Server::start_with(TESSERA, &app.manifest(), options)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_http2_and_http1_by_alpn_and_components_see_https() {
    let app = app();
    let ca = TestCa::new();
    let leaf = ca.leaf("first", years::CURRENT);
    let (cert, key) = leaf.write(app.path());
    // It starts: the support crate waits for `serving https://`.
    let server = https(&app, &cert, &key);

    for (offered, expected) in [
        (vec![&b"h2"[..], b"http/1.1"], Some(&b"h2"[..])),
        (vec![&b"http/1.1"[..]], Some(&b"http/1.1"[..])),
        (vec![], None),
    ] {
        let (mut client, negotiated) = connect(server.addr(), ca.client_config(&offered))
            .await
            .expect("TLS connection");
        assert_eq!(negotiated.alpn.as_deref(), expected, "offered {offered:?}");
        assert_eq!(negotiated.leaf, leaf.der);
        let reply = client.get("/info?x=1").await;
        assert_eq!(reply.status, 200);
        let info = reply.json();
        assert_eq!(info["scheme"], "https", "{info}");
        assert_eq!(info["path_with_query"], "/info?x=1", "{info}");
        let version = if expected == Some(b"h2") {
            http::Version::HTTP_2
        } else {
            http::Version::HTTP_11
        };
        assert_eq!(reply.version, version);
    }

    // Cleartext on the TLS port is not served.
    let plain = tessera_test_support::Client::try_http1(server.addr()).await;
    if let Ok(mut plain) = plain {
        let sent = plain
            .send(
                tessera_test_support::request("GET", "/info")
                    .body(tessera_test_support::empty())
                    .unwrap(),
            )
            .await;
        assert!(
            sent.is_err(),
            "a cleartext request on the TLS port got an answer"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_rereads_the_certificate_and_open_connections_stay() {
    let app = app();
    let ca = TestCa::new();
    let first = ca.leaf("first", years::CURRENT);
    let (cert, key) = first.write(app.path());
    let server = https(&app, &cert, &key);
    let config = ca.client_config(&[b"h2", b"http/1.1"]);

    let (mut open, negotiated) = connect(server.addr(), config.clone()).await.expect("TLS");
    assert_eq!(negotiated.leaf, first.der);
    assert_eq!(open.get("/status?code=200").await.status, 200);

    let second = ca.leaf("second", years::CURRENT);
    second.write(app.path());
    server.signal("HUP");
    server
        .wait_for_log(
            &["SIGHUP: TLS certificate re-read"],
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no reload logged:\n{}", server.log()));
    let (mut fresh, negotiated) = connect(server.addr(), config.clone()).await.expect("TLS");
    assert_eq!(
        negotiated.leaf, second.der,
        "a new connection gets the new certificate"
    );
    assert_eq!(fresh.get("/status?code=200").await.status, 200);
    assert_eq!(
        open.get("/status?code=201").await.status,
        201,
        "the connection opened before the reload still serves"
    );

    // A broken file on reload keeps the certificate served so far.
    std::fs::write(&cert, "not a certificate").expect("write");
    server.signal("HUP");
    let line = server
        .wait_for_log(&["SIGHUP:", "still serving"], Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no reload error logged:\n{}", server.log()));
    assert!(line.contains("cert.pem"), "{line}");
    let (mut after, negotiated) = connect(server.addr(), config).await.expect("TLS");
    assert_eq!(negotiated.leaf, second.der);
    assert_eq!(after.get("/status?code=200").await.status, 200);
}

/// `tessera up` with these TLS arguments: its exit status and stderr.
fn up_fails(app: &AppDir, args: &[&str]) -> String {
    let output = Command::new(TESSERA)
        .arg("up")
        .arg("--manifest")
        .arg(app.manifest())
        .args(["--listen", "127.0.0.1:0", "--cache-dir"])
        .arg(shared_cache_dir())
        .args(args)
        .env("TESSERA_LOG", "info")
        .env_remove("TESSERA_TLS_CERT")
        .env_remove("TESSERA_TLS_KEY")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run tessera up");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!output.status.success(), "tessera up started: {stderr}");
    assert!(!stderr.contains("serving"), "{stderr}");
    stderr
}

#[test]
fn certificates_that_cannot_be_served_stop_the_start_with_the_reason() {
    let app = app();
    let ca = TestCa::new();
    let dir = app.path();
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path.display().to_string()
    };
    let good = ca.leaf("good", years::CURRENT);
    let other = ca.leaf("other", years::CURRENT);
    let cert = write("good.pem", &good.cert_pem);
    let key = write("good.key", &good.key_pem);
    let other_key = write("other.key", &other.key_pem);
    let old = ca.leaf("old", years::EXPIRED);
    let expired = write("expired.pem", &old.cert_pem);
    let expired_key = write("expired.key", &old.key_pem);
    let future = write("future.pem", &ca.leaf("new", years::FUTURE).cert_pem);
    let garbage = write("garbage.pem", "hello\n");
    let missing = dir.join("missing.pem").display().to_string();

    let cases: [(&str, Vec<&str>, &[&str]); 6] = [
        (
            "missing certificate",
            vec!["--tls-cert", &missing, "--tls-key", &key],
            &[
                "cannot read the TLS certificate",
                "missing.pem",
                "No such file",
            ],
        ),
        (
            "not PEM",
            vec!["--tls-cert", &garbage, "--tls-key", &key],
            &["garbage.pem", "no certificate in it", "BEGIN CERTIFICATE"],
        ),
        (
            "key of another certificate",
            vec!["--tls-cert", &cert, "--tls-key", &other_key],
            &[
                "other.key",
                "does not belong to the certificate",
                "good.pem",
            ],
        ),
        (
            "a certificate as the key",
            vec!["--tls-cert", &cert, "--tls-key", &cert],
            &["good.pem", "no private key in it"],
        ),
        (
            "expired",
            vec!["--tls-cert", &expired, "--tls-key", &expired_key],
            &["expired.pem", "expired on", "2020", "renew it"],
        ),
        (
            "not valid yet",
            vec!["--tls-cert", &future, "--tls-key", &key],
            &["future.pem", "is not valid before", "2090"],
        ),
    ];
    for (case, args, needles) in cases {
        let stderr = up_fails(&app, &args);
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "{case}: `{needle}` not in\n{stderr}"
            );
        }
    }

    let stderr = up_fails(&app, &["--tls-cert", &cert]);
    assert!(stderr.contains("--tls-key"), "{stderr}");
}
