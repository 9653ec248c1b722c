//! The Kubernetes base in `deploy/kubernetes`: every object valid against the Kubernetes API
//! schemas in strict mode (`kubernetes-validate` from PyPI, which scripts/test.sh installs),
//! the kustomization listing exactly those objects, and the application it ships served as a
//! pod would serve it: its `tessera.toml` beside the components, its runtime configuration
//! pointed at a real Redis and PostgreSQL.
//!
//! The container image itself is built and run by scripts/image.sh (a release build of a
//! static binary takes longer than the whole test suite).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use tessera_test_support::services::{Postgres, Redis};
use tessera_test_support::{
    Server, ServerOptions, WORKSPACE_ROOT, fastserve_migrations, get, guest,
};

const TESSERA: &str = env!("CARGO_BIN_EXE_tessera");

fn base() -> PathBuf {
    Path::new(WORKSPACE_ROOT).join("deploy/kubernetes")
}

/// The list under `key:` in kustomization.yaml (`resources`), or the `name`s of its entries
/// (`configMapGenerator`).
fn kustomization_list(key: &str, field: &str) -> Vec<String> {
    let text = std::fs::read_to_string(base().join("kustomization.yaml")).expect("kustomization");
    let mut lines = text.lines().skip_while(|line| *line != format!("{key}:"));
    lines
        .next()
        .unwrap_or_else(|| panic!("no `{key}:` in kustomization.yaml"));
    lines
        .take_while(|line| line.starts_with(' ') || line.is_empty())
        .filter_map(|line| line.trim().strip_prefix(&format!("- {field}")))
        .map(|rest| rest.trim().to_string())
        .collect()
}

#[test]
fn the_kubernetes_objects_validate_strictly_and_the_kustomization_lists_them() {
    let mut objects: Vec<String> = std::fs::read_dir(base())
        .expect("deploy/kubernetes")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".yaml") && name != "kustomization.yaml")
        .collect();
    objects.sort();
    let mut resources = kustomization_list("resources", "");
    resources.sort();
    assert_eq!(resources, objects, "kustomization.yaml resources");

    // 1.30: the oldest release with the preStop sleep action on by default.
    for version in ["1.30.0", "1.37.0"] {
        let output = Command::new("kubernetes-validate")
            .current_dir(base())
            .args(["--strict", "--kubernetes-version", version])
            .args(&objects)
            .output()
            .expect(
                "kubernetes-validate is not on PATH: scripts/test.sh installs it \
                 (pip install kubernetes-validate)",
            );
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(output.status.success(), "Kubernetes {version}:\n{report}");
        for object in &objects {
            assert!(
                report.contains(&format!("{object} passed")),
                "{object} not validated against {version}:\n{report}"
            );
        }
    }

    // What the Deployment mounts is what the kustomization generates.
    let deployment = std::fs::read_to_string(base().join("deployment.yaml")).expect("deployment");
    assert_eq!(
        kustomization_list("configMapGenerator", "name:"),
        ["tessera-app"]
    );
    assert_eq!(
        kustomization_list("secretGenerator", "name:"),
        ["tessera-runtime"]
    );
    for reference in [
        "name: tessera-app",
        "secretName: tessera-runtime",
        "image: tessera-app",
    ] {
        assert!(
            deployment.contains(reference),
            "deployment.yaml lacks `{reference}`"
        );
    }
    assert_eq!(kustomization_list("images", "name:"), ["tessera-app"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_app_serves_on_redis_and_postgres_as_a_pod_would() {
    // /app as the image and the ConfigMap make it.
    let app = tempfile::tempdir().expect("tempdir");
    std::fs::copy(base().join("tessera.toml"), app.path().join("tessera.toml")).expect("copy");
    for component in [
        "fastserve_health",
        "fastserve_compute",
        "fastserve_cache",
        "fastserve_db",
    ] {
        std::fs::copy(
            guest(component),
            app.path().join(format!("{component}.wasm")),
        )
        .expect("copy a component");
    }
    fastserve_migrations(&app.path().join("migrations"));

    // The runtime configuration as shipped, with the Services' URLs replaced by real servers'.
    let (redis, postgres) = (Redis::start(), Postgres::start());
    let shipped = std::fs::read_to_string(base().join("runtime.toml")).expect("runtime.toml");
    let runtime = shipped
        .replace("redis://redis:6379", &redis.url())
        .replace("postgres://tessera@postgres:5432/tessera", &postgres.url());
    assert_ne!(
        runtime, shipped,
        "runtime.toml names the redis and postgres Services"
    );
    let runtime_file = app.path().join("runtime.toml");
    std::fs::write(&runtime_file, runtime).expect("write");

    let state = tempfile::tempdir().expect("tempdir");
    let options = ServerOptions::default()
        .env(
            "TESSERA_RUNTIME_CONFIG",
            &runtime_file.display().to_string(),
        )
        .env("TESSERA_STATE_DIR", &state.path().display().to_string())
        .args(["--metrics", "127.0.0.1:0"]);
    let server = Server::start_with(TESSERA, &app.path().join("tessera.toml"), options);
    let metrics = server.logged_addr("metrics: http://");

    assert_eq!(get(server.addr(), "/api/health").await.text(), "ok");
    let quote = get(server.addr(), "/api/db?id=1").await;
    assert_eq!(quote.status, 200);
    assert_eq!(quote.json()["id"], 1);
    let miss = get(server.addr(), "/api/cache?key=deploy").await;
    assert_eq!(miss.header("x-cache"), Some("miss"));
    let hit = get(server.addr(), "/api/cache?key=deploy").await;
    assert_eq!(hit.header("x-cache"), Some("hit"));
    let ready = get(metrics, "/readyz").await;
    assert_eq!((ready.status.as_u16(), ready.text().trim()), (200, "ready"));

    // The key went to Redis under the shipped prefix, not to an embedded store.
    let keys = redis.command(&["KEYS", "fastserve:*"]);
    assert!(keys.contains("deploy"), "Redis keys: {keys}");
    drop(server);
    std::thread::sleep(Duration::from_millis(10));
}
