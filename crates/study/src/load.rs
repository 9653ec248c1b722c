//! `--load`: the FastServe load study, with `oha` on loopback, each run bounded in time.
//!
//! For every system: `/api/health` and `/api/compute?n=20` at 1, 32 and 128 connections, with
//! keep-alive and without, and over HTTP/2 (h2c) where the server speaks it. For Tessera
//! also: the same two routes with the `compression` middleware answering gzip, and
//! `/api/cache` and `/api/db` on the embedded stores and on Redis + PostgreSQL (started here on
//! loopback). Written to `load.csv`.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tessera_test_support::services::{self, Postgres, Redis};

use crate::server::{Launch, Running};
use crate::systems::{App, Paths, Server, System, one_per_server};

const ROUTES: [&str; 2] = ["/api/health", "/api/compute?n=20"];
const CONNECTIONS: [usize; 3] = [1, 32, 128];

/// One oha run's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Requests per second.
    pub rps: f64,
    /// Median latency, ms.
    pub p50_ms: f64,
    /// 99th percentile, ms.
    pub p99_ms: f64,
    /// Share of requests that got an answer (any status).
    pub success_rate: f64,
    /// Share of answers that were 200.
    pub ok_rate: f64,
}

/// How one run was made.
#[derive(Debug, Clone, Copy)]
struct Setup<'a> {
    system: &'a str,
    route: &'a str,
    connections: usize,
    keepalive: bool,
    http2: bool,
    gzip: bool,
    storage: &'a str,
}

impl<'a> Setup<'a> {
    /// `connections` on `route` of `system`, with keep-alive, over HTTP/1.1, uncompressed,
    /// on the default storage.
    fn new(system: &'a str, route: &'a str, connections: usize) -> Self {
        Self {
            system,
            route,
            connections,
            keepalive: true,
            http2: false,
            gzip: false,
            storage: "",
        }
    }
}

/// Reads oha's JSON output.
fn parse(json: &str) -> anyhow::Result<Measured> {
    let value: serde_json::Value =
        serde_json::from_str(json).context("oha's output is not JSON")?;
    let number = |pointer: &str| {
        value
            .pointer(pointer)
            .and_then(serde_json::Value::as_f64)
            .with_context(|| format!("oha's output has no {pointer}"))
    };
    let statuses = value["statusCodeDistribution"].as_object();
    let answered: f64 = statuses.map_or(0.0, |s| s.values().filter_map(|v| v.as_f64()).sum());
    let ok = statuses
        .and_then(|s| s.get("200"))
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0);
    Ok(Measured {
        rps: number("/summary/requestsPerSec")?,
        p50_ms: number("/latencyPercentiles/p50").unwrap_or(f64::NAN) * 1000.0,
        p99_ms: number("/latencyPercentiles/p99").unwrap_or(f64::NAN) * 1000.0,
        success_rate: number("/summary/successRate")?,
        ok_rate: if answered > 0.0 { ok / answered } else { 0.0 },
    })
}

/// Runs oha against `url` and reads what it measured.
fn oha(
    paths: &Paths,
    url: &str,
    setup: &Setup<'_>,
    seconds: u64,
    headers: &[&str],
) -> anyhow::Result<Measured> {
    let mut command = Command::new(paths.oha());
    command
        .args(["--no-tui", "--output-format", "json", "-c"])
        .arg(setup.connections.to_string())
        .arg("-z")
        .arg(format!("{seconds}s"));
    if !setup.keepalive {
        command.arg("--disable-keepalive");
    }
    if setup.http2 {
        command.arg("--http2");
    }
    for header in headers {
        command.args(["-H", header]);
    }
    let output = command.arg(url).output().with_context(|| {
        format!(
            "running {}: did scripts/study.sh install oha?",
            paths.oha().display()
        )
    })?;
    if !output.status.success() {
        bail!("oha failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    parse(&String::from_utf8_lossy(&output.stdout))
}

/// Whether the server answers HTTP/2 with prior knowledge (h2c).
fn speaks_h2c(paths: &Paths, server: &Running, route: &str) -> bool {
    let output = Command::new(paths.oha())
        .args([
            "--no-tui",
            "--output-format",
            "json",
            "--http2",
            "-n",
            "3",
            "-c",
            "1",
        ])
        .arg(format!("http://{}{route}", server.addr()))
        .output();
    output
        .ok()
        .and_then(|o| parse(&String::from_utf8_lossy(&o.stdout)).ok())
        .is_some_and(|m| m.success_rate == 1.0 && m.ok_rate == 1.0)
}

/// Runs the load study for `systems` and writes `load.csv`.
pub fn run(
    systems: &[&'static System],
    paths: &Paths,
    out: &Path,
    duration: Duration,
) -> anyhow::Result<()> {
    let seconds = duration.as_secs().max(1);
    let mut writer = csv::Writer::from_path(out.join("load.csv"))?;
    writer.write_record([
        "system",
        "route",
        "connections",
        "keepalive",
        "protocol",
        "gzip",
        "storage",
        "rps",
        "p50_ms",
        "p99_ms",
        "success_rate",
        "ok_rate",
    ])?;
    let mut record = |setup: &Setup<'_>, measured: &Measured| -> anyhow::Result<()> {
        eprintln!(
            "load {:<10} {:<18} c={:<3} {:<13} {:<8} {:<9} {:>9.0} req/s  p50 {:>8.3} ms  p99 {:>8.3} ms",
            setup.system,
            setup.route,
            setup.connections,
            if setup.keepalive {
                "keep-alive"
            } else {
                "no keep-alive"
            },
            if setup.http2 { "h2c" } else { "http/1.1" },
            if setup.gzip { "gzip" } else { "" },
            measured.rps,
            measured.p50_ms,
            measured.p99_ms
        );
        writer.write_record([
            setup.system.to_string(),
            setup.route.to_string(),
            setup.connections.to_string(),
            setup.keepalive.to_string(),
            if setup.http2 { "h2c" } else { "http/1.1" }.to_string(),
            setup.gzip.to_string(),
            setup.storage.to_string(),
            format!("{:.1}", measured.rps),
            format!("{:.4}", measured.p50_ms),
            format!("{:.4}", measured.p99_ms),
            format!("{:.4}", measured.success_rate),
            format!("{:.4}", measured.ok_rate),
        ])?;
        writer.flush()?;
        Ok(())
    };
    let scratch = out.join("load");
    for system in one_per_server(systems) {
        for route in ROUTES {
            let dir = scratch.join(format!("{}-{}", system.id, route.len()));
            let server = Launch::new(system, App::FastServe(route), paths, &dir).start()?;
            let url = format!("http://{}{route}", server.addr());
            let h2 = speaks_h2c(paths, &server, route);
            for connections in CONNECTIONS {
                for (keepalive, http2) in [(true, false), (false, false), (true, true)] {
                    if http2 && !h2 {
                        continue;
                    }
                    let setup = Setup {
                        keepalive,
                        http2,
                        ..Setup::new(system.id, route, connections)
                    };
                    record(&setup, &oha(paths, &url, &setup, seconds, &[])?)?;
                }
            }
            server.stop();
        }
        if system.server == Server::Tessera {
            tessera_extras(system, paths, &scratch, seconds, &mut record)?;
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// Tessera's gzip runs and its storage-backed routes on both kinds of storage.
fn tessera_extras(
    system: &System,
    paths: &Paths,
    scratch: &Path,
    seconds: u64,
    record: &mut impl FnMut(&Setup<'_>, &Measured) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    // The FastServe app with every route behind the compression middleware, compressing
    // whatever it answers (min_size 0), so that the cost is there on these small bodies.
    let dir = scratch.join("tessera-gzip");
    std::fs::create_dir_all(&dir)?;
    let manifest = std::fs::read_to_string(paths.root.join("examples/fastserve/tessera.toml"))?
        .replace(
            "\"../../target/",
            &format!("\"{}/target/", paths.root.display()),
        )
        .replace(
            "migrations = \"migrations\"",
            &format!(
                "migrations = \"{}/examples/fastserve/migrations\"",
                paths.root.display()
            ),
        )
        .replace(
            "workdir = \"",
            &format!("workdir = \"{}/examples/fastserve/", paths.root.display()),
        );
    std::fs::write(
        dir.join("fastserve-gzip.toml"),
        format!(
            "[middleware.gzip]\ntype = \"compression\"\nalgorithms = [\"gzip\"]\nmin_size = 0\n\n[app]\nmiddleware = [\"gzip\"]\n\n{manifest}"
        ),
    )?;
    let server = Launch::new(system, App::FastServeGzip, paths, &dir).start()?;
    for route in ROUTES {
        let url = format!("http://{}{route}", server.addr());
        for connections in CONNECTIONS {
            let setup = Setup {
                gzip: true,
                ..Setup::new(system.id, route, connections)
            };
            record(
                &setup,
                &oha(paths, &url, &setup, seconds, &["accept-encoding: gzip"])?,
            )?;
        }
    }
    server.stop();

    let redis = Redis::start();
    let postgres = Postgres::start();
    for storage in ["embedded", "redis+postgres"] {
        let dir = scratch.join(format!("tessera-{storage}"));
        std::fs::create_dir_all(&dir)?;
        let mut launch = Launch::new(system, App::FastServe("/api/db"), paths, &dir);
        if storage != "embedded" {
            // The runtime configuration goes in by its environment variable, as in a container.
            let config = services::runtime_config(&dir, Some(&redis), Some(&postgres));
            launch = launch.env(
                "TESSERA_RUNTIME_CONFIG",
                config.to_string_lossy().into_owned(),
            );
        }
        let server = launch.start()?;
        for route in ["/api/cache?key=load", "/api/db"] {
            let url = format!("http://{}{route}", server.addr());
            for connections in CONNECTIONS {
                let setup = Setup {
                    storage,
                    ..Setup::new(system.id, route, connections)
                };
                record(&setup, &oha(paths, &url, &setup, seconds, &[])?)?;
            }
        }
        server.stop();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oha_json_is_read() {
        let json = r#"{"summary":{"successRate":1.0,"total":5.0,"requestsPerSec":1234.5},
            "latencyPercentiles":{"p50":0.0005,"p99":0.002},
            "statusCodeDistribution":{"200":90,"503":10}}"#;
        let m = parse(json).unwrap();
        assert_eq!((m.rps, m.success_rate), (1234.5, 1.0));
        assert!((m.p50_ms - 0.5).abs() < 1e-9 && (m.p99_ms - 2.0).abs() < 1e-9);
        assert!((m.ok_rate - 0.9).abs() < 1e-9);
    }
}
