//! `tessera-study`: the study Tessera comes from, reproduced. Run through `scripts/study.sh`,
//! which installs and builds every system first.
//!
//! # Layout
//! - `systems`: the systems compared and how each server starts.
//! - `server`: a server process: start, wait, peak memory of its tree, stop.
//! - `client`: the timed HTTP client.
//! - `run`: the matrix-multiplication study, cell by cell, with budget and resume.
//! - `data`: `raw.csv` and `cells.csv`.
//! - `stats`: summaries, Welch's t-tests, ANOVA (`statrs`).
//! - `plots`: the figures (`plotters`, SVG and PNG).
//! - `load`: the FastServe load study (`--load`, with `oha`).
//! - `cold`: process start to first answer (`--cold-start`).
//! - `machine`: the machine and the versions of every runtime, for the report.
//! - `report`: `report.md`.

mod client;
mod cold;
mod data;
mod load;
mod machine;
mod plots;
mod report;
mod run;
mod server;
mod stats;
mod systems;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Parser;

use systems::Paths;

/// The study: Tessera against native Rust and popular frameworks on matrix multiplication.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    /// Matrix sizes, separated by commas (up to 5000).
    #[arg(long, default_value = "100,200,500,1000,2000", value_delimiter = ',')]
    sizes: Vec<usize>,
    /// Timed runs per system and size.
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Untimed calls before the runs.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// Systems to compare, separated by commas, or `all`.
    #[arg(long, default_value = "all")]
    systems: String,
    /// Where the results go (default: target/study/TIMESTAMP). An existing directory is
    /// resumed: cells already measured there are kept.
    #[arg(long)]
    out: Option<PathBuf>,
    /// The longest one call may take, in seconds; past it the run is stopped and recorded as
    /// `timeout`, and larger sizes of that system are not tried.
    #[arg(long, default_value_t = 120)]
    budget: u64,
    /// Also run the FastServe load study (oha, loopback, bounded).
    #[arg(long)]
    load: bool,
    /// Seconds per load run.
    #[arg(long, default_value_t = 5)]
    load_seconds: u64,
    /// Also measure process start to first answer.
    #[arg(long)]
    cold_start: bool,
    /// Runs per system for --cold-start.
    #[arg(long, default_value_t = 20)]
    cold_runs: usize,
    /// Only write the statistics, plots and report from the data already in --out.
    #[arg(long)]
    report_only: bool,
    /// The repository root.
    #[arg(long, default_value = ".")]
    root: PathBuf,
    /// Where the `tessera` and `study-axum` binaries are.
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Where scripts/study.sh installed the tools (wasmtime, Bun, the Gin binary, oha).
    #[arg(long, default_value = "target/study-tools")]
    tools_dir: PathBuf,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let systems = systems::parse_list(&args.systems).map_err(anyhow::Error::msg)?;
    let mut sizes = args.sizes.clone();
    sizes.sort_unstable();
    sizes.dedup();
    if let Some(bad) = sizes.iter().find(|&&n| n == 0 || n > 5000) {
        bail!("--sizes: {bad} is outside 1..=5000");
    }
    if args.runs < 2 {
        bail!("--runs: at least 2, so that a standard deviation exists");
    }
    let root = args.root.canonicalize().context("--root")?;
    let absolute = |path: &PathBuf| {
        if path.is_absolute() {
            path.clone()
        } else {
            root.join(path)
        }
    };
    let paths = Paths {
        bin_dir: absolute(&args.bin_dir),
        tools_dir: absolute(&args.tools_dir),
        root: root.clone(),
    };
    let out = match &args.out {
        Some(out) => absolute(out),
        None => root.join("target/study").join(
            humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string()
                .replace(':', "-"),
        ),
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    eprintln!("results in {}", out.display());

    let settings = run::Settings {
        sizes,
        runs: args.runs,
        warmup: args.warmup,
        budget: Duration::from_secs(args.budget),
        systems,
    };
    if !args.report_only {
        run::run(&settings, &paths, &out)?;
    }
    // The statistics come from the files, as anyone checking them would read them.
    let (rows, cells) = (data::read_rows(&out)?, data::read_cells(&out)?);
    let stats = stats::compute(&rows);
    stats::write(&stats, &out)?;
    plots::draw(&stats, &out).context("drawing the plots")?;
    if args.load && !args.report_only {
        load::run(
            &settings.systems,
            &paths,
            &out,
            Duration::from_secs(args.load_seconds),
        )?;
    }
    if args.cold_start && !args.report_only {
        cold::run(&settings.systems, &paths, &out, args.cold_runs)?;
    }
    let machine = machine::describe(&paths);
    report::write(&report::Inputs {
        settings: &settings,
        stats: &stats,
        cells: &cells,
        machine: &machine,
        out: &out,
    })?;
    eprintln!("wrote {}", out.join("report.md").display());
    Ok(())
}
