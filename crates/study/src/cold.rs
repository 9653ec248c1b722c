//! `--cold-start`: from starting a server's process to its first 200, for every system, and
//! for Tessera three ways: with an empty compile cache (it compiles the component), with a
//! warm one (a restart), and after `tessera check` filled it (what a deployment step does).
//! Written to `cold.csv` (`system,variant,run,ms`).

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::{Context as _, bail};

use crate::server::Launch;
use crate::systems::{App, Paths, Server, System, one_per_server};

/// How a Tessera start is prepared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// Whatever the system does on a normal start.
    Default,
    /// A new, empty compile cache every run.
    EmptyCache,
    /// The same cache every run, filled by an untimed start first.
    WarmCache,
    /// A new cache every run, filled by `tessera check` just before.
    AfterCheck,
}

impl Variant {
    fn name(self) -> &'static str {
        match self {
            Self::Default => "default",
            Self::EmptyCache => "empty compile cache",
            Self::WarmCache => "warm compile cache",
            Self::AfterCheck => "after tessera check",
        }
    }
}

/// Measures every system `runs` times.
pub fn run(systems: &[&System], paths: &Paths, out: &Path, runs: usize) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_path(out.join("cold.csv"))?;
    writer.write_record(["system", "variant", "run", "ms"])?;
    let scratch = out.join("cold");
    for system in one_per_server(systems) {
        let variants: &[Variant] = if system.server == Server::Tessera {
            &[Variant::EmptyCache, Variant::WarmCache, Variant::AfterCheck]
        } else {
            &[Variant::Default]
        };
        for &variant in variants {
            let mut times = Vec::new();
            for run in 0..=runs {
                // Run 0 is untimed: it warms the file cache (and, for WarmCache, the compile
                // cache), so that every timed run starts the same way.
                let dir = match variant {
                    Variant::WarmCache | Variant::Default => scratch.join(system.id),
                    _ => scratch.join(format!("{}-{run}", system.id)),
                };
                if variant == Variant::AfterCheck {
                    check(paths, &dir)?;
                }
                let mut server = Launch::new(system, App::Matmul, paths, &dir).spawn()?;
                let took = server
                    .wait_ready(&system.ready_path(App::Matmul), Duration::from_secs(180))
                    .with_context(|| {
                        format!("{} did not start: {}", system.id, server.log_tail())
                    })?;
                server.stop();
                if run > 0 {
                    times.push(took.as_secs_f64() * 1000.0);
                    writer.write_record([
                        system.id.to_string(),
                        variant.name().to_string(),
                        run.to_string(),
                        format!("{:.3}", took.as_secs_f64() * 1000.0),
                    ])?;
                }
                if !matches!(variant, Variant::WarmCache | Variant::Default) {
                    let _ = std::fs::remove_dir_all(&dir);
                }
            }
            writer.flush()?;
            times.sort_by(f64::total_cmp);
            eprintln!(
                "cold start {:<10} {:<22} median {:.1} ms",
                system.id,
                variant.name(),
                times[times.len() / 2]
            );
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// `tessera check` with the compile cache the next start will use.
fn check(paths: &Paths, dir: &Path) -> anyhow::Result<()> {
    let status = Command::new(paths.bin_dir.join("tessera"))
        .arg("check")
        .arg("--manifest")
        .arg(paths.root.join("examples/matmul/tessera.toml"))
        .arg("--cache-dir")
        .arg(dir.join("compile-cache"))
        .arg("--state-dir")
        .arg(dir.join("state"))
        .env("TESSERA_LOG", "off")
        .stdout(std::process::Stdio::null())
        .status()?;
    if !status.success() {
        bail!("tessera check failed ({status})");
    }
    Ok(())
}
