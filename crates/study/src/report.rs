//! `report.md`: the set-up, the tables, the plots, and where Tessera wins and loses, worked
//! out from the data (every sentence about an outcome is computed, not written in advance).

use std::fmt::Write as _;
use std::path::Path;

use crate::data::{Cell, CellStatus};
use crate::machine::Machine;
use crate::run::Settings;
use crate::stats::Stats;
use crate::systems::System;

/// What the report is made from.
pub struct Inputs<'a> {
    /// How the study was run.
    pub settings: &'a Settings,
    /// Its statistics.
    pub stats: &'a Stats,
    /// How each cell ended.
    pub cells: &'a [Cell],
    /// The machine and versions.
    pub machine: &'a Machine,
    /// The output directory (load.csv and cold.csv are read from it if present).
    pub out: &'a Path,
}

/// A time in ms with a precision that suits it.
pub fn ms(value: f64) -> String {
    if !value.is_finite() {
        "–".into()
    } else if value < 1.0 {
        format!("{value:.3}")
    } else if value < 100.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.0}")
    }
}

/// A p-value; one below what a double holds reads as a bound.
fn p_value(p: f64) -> String {
    if p > 0.0 {
        format!("{p:.2e}")
    } else {
        "< 1e-300".into()
    }
}

fn mb(kb: Option<u64>) -> String {
    kb.map_or_else(|| "–".into(), |kb| format!("{:.1}", kb as f64 / 1024.0))
}

/// How `ratio` (Tessera's time over a peer's) reads.
fn speed(ratio: f64) -> String {
    if ratio < 1.0 {
        format!("{:.2}× faster", 1.0 / ratio)
    } else {
        format!("{ratio:.2}× slower")
    }
}

/// Writes `report.md`.
pub fn write(inputs: &Inputs<'_>) -> anyhow::Result<()> {
    let mut text = String::new();
    header(&mut text, inputs);
    results(&mut text, inputs);
    verdict(&mut text, inputs);
    statistics(&mut text, inputs);
    unfinished(&mut text, inputs);
    load(&mut text, inputs.out)?;
    cold(&mut text, inputs.out)?;
    files(&mut text);
    std::fs::write(inputs.out.join("report.md"), text)?;
    Ok(())
}

fn header(text: &mut String, inputs: &Inputs<'_>) {
    let m = inputs.machine;
    let s = inputs.settings;
    let _ = writeln!(
        text,
        "# The study: Tessera against native Rust and popular frameworks on matrix multiplication\n"
    );
    let _ = writeln!(
        text,
        "Made by `scripts/study.sh` on {}. Figures move from machine to machine and run to run; \
         compare the systems within one run (the ratios), not figures across runs.\n",
        m.date
    );
    let _ = writeln!(text, "## Set-up\n");
    let _ = writeln!(
        text,
        "- Machine: {} ({} logical CPUs), {} of memory, Linux {}.",
        m.cpu, m.cores, m.memory, m.kernel
    );
    let _ = writeln!(
        text,
        "- Sizes n = {}; {} timed runs per system and size after {} warm-up calls; a call longer \
         than {} s is stopped and recorded as `timeout` (and larger sizes of that system are \
         not tried when the last one's time, scaled by n³, would exceed it).",
        s.sizes
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        s.runs,
        s.warmup,
        s.budget.as_secs()
    );
    let _ = writeln!(
        text,
        "- Every system serves `GET /api/matmul?n=` and multiplies `A[i][j] = (31i + 17j) mod \
         100` by `B[i][j] = (13i + 7j) mod 100` as doubles; every answer's checksum (the sum of \
         the product) is checked against an exact computation, and a system that answers wrongly \
         is not reported. Each system × size runs on a freshly started server, so that its peak \
         memory is that size's.\n\
         - Time per request is the client's: from sending the request to reading the last byte, \
         over one keep-alive connection. The server's own compute time (`millis` in the answer) \
         is in `summary.csv` as `server_mean`. Peak memory is `VmHWM` summed over the server's \
         process tree.\n"
    );
    let _ = writeln!(text, "| system | what | algorithm |\n|-|-|-|");
    for system in &s.systems {
        let _ = writeln!(
            text,
            "| `{}` | {} | {} |",
            system.id, system.label, system.algorithm
        );
    }
    let _ = writeln!(text, "\n| component | version |\n|-|-|");
    for (name, version) in &m.versions {
        let _ = writeln!(text, "| {name} | {version} |");
    }
    let _ = writeln!(text);
}

fn results(text: &mut String, inputs: &Inputs<'_>) {
    let stats = inputs.stats;
    let _ = writeln!(text, "## Time per request\n");
    let _ = writeln!(
        text,
        "![time per request, log-log](time-log.png)\n\n\
         ![time per request, linear](time-linear.png)\n\n\
         ![Tessera's time over each peer's](ratio.png)\n"
    );
    for n in stats.sizes() {
        let tessera = stats.summary("tessera", n);
        let _ = writeln!(text, "### n = {n}\n");
        let _ = writeln!(
            text,
            "| system | runs | mean ± sd (ms) | median | 95 % CI | min | max | server (ms) | peak MB | tessera / system |\n\
             |-|-|-|-|-|-|-|-|-|-|"
        );
        for system in stats.systems() {
            let Some(s) = stats.summary(system.id, n) else {
                continue;
            };
            let ratio = tessera
                .map(|t| t.mean / s.mean)
                .filter(|r| r.is_finite())
                .map_or_else(|| "–".into(), |r| format!("{r:.2}"));
            if s.runs == 0 {
                let _ = writeln!(
                    text,
                    "| `{}` | 0 | timeout ({} runs stopped) | | | | | | {} | |",
                    s.system,
                    s.timeouts,
                    mb(s.peak_rss_kb)
                );
                continue;
            }
            let _ = writeln!(
                text,
                "| `{}` | {} | {} ± {} | {} | {}–{} | {} | {} | {} | {} | {} |",
                s.system,
                s.runs,
                ms(s.mean),
                ms(s.sd),
                ms(s.median),
                ms(s.ci95.0),
                ms(s.ci95.1),
                ms(s.min),
                ms(s.max),
                ms(s.server_mean),
                mb(s.peak_rss_kb),
                ratio
            );
        }
        let _ = writeln!(text);
    }
    let _ = writeln!(text, "## Peak memory\n\n![peak memory](memory.png)\n");
}

/// The Tessera row's mean over `peer`'s at `n`, and the t-test's p, when both were measured.
fn compare(stats: &Stats, tessera: &str, peer: &str, n: usize) -> Option<(f64, f64)> {
    let (a, b) = (stats.summary(tessera, n)?, stats.summary(peer, n)?);
    if a.runs == 0 || b.runs == 0 {
        return None;
    }
    let p = stats
        .ttests
        .iter()
        .find(|t| t.n == n && t.system == tessera && t.vs == peer)
        .map_or(f64::NAN, |t| t.p);
    Some((a.mean / b.mean, p))
}

fn sizes_list(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn range(ratios: &[f64]) -> String {
    let (low, high) = ratios
        .iter()
        .fold((f64::MAX, f64::MIN), |(l, h), &r| (l.min(r), h.max(r)));
    if (high - low).abs() < 0.005 {
        format!("{low:.2}×")
    } else {
        format!("{low:.2}–{high:.2}×")
    }
}

/// Where each Tessera row wins and loses against each peer, and the targets.
fn verdict(text: &mut String, inputs: &Inputs<'_>) {
    let stats = inputs.stats;
    let sizes = stats.sizes();
    let _ = writeln!(text, "## Where Tessera wins and where it loses\n");
    let _ = writeln!(
        text,
        "Computed from the runs above: \"faster\" and \"slower\" mean a difference of the means \
         with p < 0.05 (Welch's t-test); the factor is the peer's mean time over Tessera's.\n"
    );
    for tessera in stats.systems().into_iter().filter(|s| s.is_tessera()) {
        let _ = writeln!(text, "`{}` ({}):\n", tessera.id, tessera.algorithm);
        for peer in stats.systems().into_iter().filter(|s| !s.is_tessera()) {
            let (mut faster, mut slower, mut same, mut stopped) = (vec![], vec![], vec![], vec![]);
            let (mut fast_ratios, mut slow_ratios) = (vec![], vec![]);
            for &n in &sizes {
                match compare(stats, tessera.id, peer.id, n) {
                    Some((ratio, p)) if p < 0.05 && ratio < 1.0 => {
                        faster.push(n);
                        fast_ratios.push(1.0 / ratio);
                    }
                    Some((ratio, p)) if p < 0.05 => {
                        slower.push(n);
                        slow_ratios.push(ratio);
                    }
                    Some(_) => same.push(n),
                    None => {
                        if stats.summary(peer.id, n).is_some_and(|s| s.runs == 0) {
                            stopped.push(n);
                        }
                    }
                }
            }
            let mut parts = Vec::new();
            if !faster.is_empty() {
                parts.push(format!(
                    "faster at n = {} ({})",
                    sizes_list(&faster),
                    range(&fast_ratios)
                ));
            }
            if !slower.is_empty() {
                parts.push(format!(
                    "slower at n = {} ({} the time)",
                    sizes_list(&slower),
                    range(&slow_ratios)
                ));
            }
            if !same.is_empty() {
                parts.push(format!(
                    "no significant difference at n = {}",
                    sizes_list(&same)
                ));
            }
            if !stopped.is_empty() {
                parts.push(format!(
                    "`{}` exceeded the budget at n = {}",
                    peer.id,
                    sizes_list(&stopped)
                ));
            }
            if !parts.is_empty() {
                let _ = writeln!(text, "- against `{}`: {}.", peer.id, parts.join("; "));
            }
        }
        let _ = writeln!(text);
    }
    targets(text, stats, &sizes);
    let _ = writeln!(
        text,
        "Why, in general (the mechanisms; the figures above say how much each weighs here):\n\n\
         - Every Tessera request runs in a fresh WebAssembly instance, made from a pooling \
         allocator and a pre-linked component, with a deadline and a memory cap; the request \
         passes the router and the Wasm boundary both ways. That fixed cost, tens of \
         microseconds, is what separates Tessera from native axum when the computation is \
         small (docs/performance.md measures it on a hello component).\n\
         - When the computation dominates, the difference is the code: Cranelift compiles the \
         component's Wasm (with 128-bit SIMD), LLVM compiles axum's native code, and Tessera's \
         deadline needs an epoch check at every loop header, which costs vector loops a \
         spill and reload of their registers on every trip (docs/performance.md, \"Matrix \
         multiplication\"). `wasmtime serve` runs the same component without a deadline (it \
         checks epochs only when given `-W timeout`).\n\
         - Go compiles ahead of time without vectorising this loop; Node.js and Bun JIT-compile \
         JavaScript on `Float64Array`s; the JVM's C2 compiler can vectorise it once it is hot \
         (the warm-up calls give it that chance); CPython interprets every multiply-add, which \
         is why FastAPI's pure-Python row is orders of magnitude slower. `fastapi-numpy` and \
         `tessera-fast` are different algorithms (BLAS; cache blocking with SIMD) and are \
         listed apart for that reason.\n\
         - Memory: each server's peak holds three n×n matrices of doubles (24 n² bytes) plus \
         its runtime: a Wasm instance's linear memory grows to hold the matrices and is \
         returned after the request; the JVM, V8 and CPython keep larger heaps.\n"
    );
}

/// The targets, checked against the data.
fn targets(text: &mut String, stats: &Stats, sizes: &[usize]) {
    let _ = writeln!(text, "Targets:\n");
    let non_rust: Vec<&System> = stats
        .systems()
        .into_iter()
        .filter(|s| !s.is_tessera() && !matches!(s.id, "axum" | "wasmtime"))
        .collect();
    let check = |row: &str, peers: &[&System], from: usize| -> (Vec<String>, usize) {
        let mut misses = Vec::new();
        let mut checked = 0;
        for &n in sizes.iter().filter(|&&n| n >= from) {
            for peer in peers {
                let Some(peer_summary) = stats.summary(peer.id, n) else {
                    continue;
                };
                checked += 1;
                if peer_summary.runs == 0 {
                    continue; // the peer exceeded the budget: Tessera is faster
                }
                match compare(stats, row, peer.id, n) {
                    Some((ratio, _)) if ratio < 1.0 => {}
                    Some((ratio, _)) => {
                        misses.push(format!("`{}` at n = {n} ({})", peer.id, speed(ratio)));
                    }
                    None => misses.push(format!("`{}` at n = {n} (Tessera not measured)", peer.id)),
                }
            }
        }
        (misses, checked)
    };
    let verdict = |(misses, checked): (Vec<String>, usize)| {
        if checked == 0 {
            "not measured in this run".to_string()
        } else if misses.is_empty() {
            format!("met ({checked} comparisons)")
        } else {
            format!("not met: {}", misses.join(", "))
        }
    };
    let _ = writeln!(
        text,
        "- `tessera` faster than every non-Rust peer at every n ≥ 200: {}.",
        verdict(check("tessera", &non_rust, 200))
    );
    let all_peers: Vec<&System> = stats
        .systems()
        .into_iter()
        .filter(|s| !s.is_tessera())
        .collect();
    let _ = writeln!(
        text,
        "- `tessera-fast` faster than every peer at n ≥ 500: {}.",
        verdict(check("tessera-fast", &all_peers, 500))
    );
    let added = match (stats.summary("tessera", 100), stats.summary("axum", 100)) {
        (Some(t), Some(a)) if t.runs > 0 && a.runs > 0 => {
            let delta = t.mean - a.mean;
            format!(
                "{} ms (mean {} against {} ms; medians {} and {}): {}",
                ms(delta),
                ms(t.mean),
                ms(a.mean),
                ms(t.median),
                ms(a.median),
                if delta < 0.1 { "met" } else { "not met" }
            )
        }
        _ => "not measured in this run (it needs tessera and axum at n = 100)".into(),
    };
    let _ = writeln!(
        text,
        "- Tessera's added time over axum at n = 100 under 0.1 ms: {added}.\n"
    );
}

/// A markdown table.
fn table(text: &mut String, header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) {
    let _ = writeln!(
        text,
        "| {} |\n|{}",
        header.join(" | "),
        "-|".repeat(header.len())
    );
    for row in rows {
        let _ = writeln!(text, "| {} |", row.join(" | "));
    }
    let _ = writeln!(text);
}

fn statistics(text: &mut String, inputs: &Inputs<'_>) {
    let stats = inputs.stats;
    let _ = writeln!(
        text,
        "## Statistics\n\nOne-way ANOVA over every system measured at each size (η²: the share \
         of the variance that lies between systems):\n"
    );
    table(
        text,
        &["n", "systems", "F", "p", "η²"],
        stats.anovas.iter().map(|a| {
            vec![
                a.n.to_string(),
                a.groups.to_string(),
                format!("{:.1}", a.f),
                p_value(a.p),
                format!("{:.3}", a.eta_squared),
            ]
        }),
    );
    let _ = writeln!(
        text,
        "Welch's t-tests of each Tessera row against each peer (t < 0: Tessera faster; d: \
         Cohen's d with the pooled standard deviation):\n"
    );
    table(
        text,
        &["n", "system", "vs", "t", "df", "p", "d"],
        stats.ttests.iter().map(|t| {
            let test = [t.t, t.df].map(|v| format!("{v:.2}"));
            let [tt, df] = test;
            vec![
                t.n.to_string(),
                format!("`{}`", t.system),
                format!("`{}`", t.vs),
                tt,
                df,
                p_value(t.p),
                format!("{:.2}", t.cohens_d),
            ]
        }),
    );
}

fn unfinished(text: &mut String, inputs: &Inputs<'_>) {
    let cells: Vec<&Cell> = inputs
        .cells
        .iter()
        .filter(|c| c.status != CellStatus::Done)
        .collect();
    if cells.is_empty() {
        return;
    }
    let _ = writeln!(
        text,
        "## Cells that did not finish\n\nNone is left out of the tables silently: a `timeout` \
         appears there as such, a `refused` system (a wrong checksum) is not reported at all.\n\n\
         | system | n | outcome | detail |\n|-|-|-|-|"
    );
    for cell in cells {
        let _ = writeln!(
            text,
            "| `{}` | {} | {} | {} |",
            cell.system,
            cell.n,
            cell.status.as_str(),
            cell.detail.replace('|', "\\|")
        );
    }
    let _ = writeln!(text);
}

fn load(text: &mut String, out: &Path) -> anyhow::Result<()> {
    let path = out.join("load.csv");
    if !path.exists() {
        return Ok(());
    }
    let _ = writeln!(
        text,
        "## Load: the FastServe routes under oha\n\nRequests per second, and median and 99th \
         percentile latency in ms, over a fixed time per run on loopback (oha and the server \
         share the machine's cores).\n\n\
         | system | route | connections | keep-alive | protocol | gzip | storage | req/s | p50 | p99 |\n\
         |-|-|-|-|-|-|-|-|-|-|"
    );
    let mut reader = csv::Reader::from_path(&path)?;
    for record in reader.records() {
        let r = record?;
        let field = |i: usize| r.get(i).unwrap_or_default().to_string();
        let _ = writeln!(
            text,
            "| `{}` | `{}` | {} | {} | {} | {} | {} | {:.0} | {} | {} |",
            field(0),
            field(1),
            field(2),
            if field(3) == "true" { "on" } else { "off" },
            field(4),
            if field(5) == "true" { "on" } else { "" },
            field(6),
            field(7).parse::<f64>().unwrap_or(f64::NAN),
            ms(field(8).parse().unwrap_or(f64::NAN)),
            ms(field(9).parse().unwrap_or(f64::NAN)),
        );
    }
    let _ = writeln!(text);
    Ok(())
}

fn cold(text: &mut String, out: &Path) -> anyhow::Result<()> {
    let path = out.join("cold.csv");
    if !path.exists() {
        return Ok(());
    }
    let mut reader = csv::Reader::from_path(&path)?;
    let mut groups: Vec<((String, String), Vec<f64>)> = Vec::new();
    for record in reader.records() {
        let r = record?;
        let key = (
            r.get(0).unwrap_or_default().to_string(),
            r.get(1).unwrap_or_default().to_string(),
        );
        let ms: f64 = r.get(3).unwrap_or_default().parse()?;
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, times)) => times.push(ms),
            None => groups.push((key, vec![ms])),
        }
    }
    let _ = writeln!(
        text,
        "## Cold start\n\nFrom starting the server's process to its first 200 on the matmul \
         route (or `/api/health`), in ms.\n\n| system | how | runs | median | min | max |\n|-|-|-|-|-|-|"
    );
    for ((system, variant), mut times) in groups {
        times.sort_by(f64::total_cmp);
        let middle = times.len() / 2;
        let median = if times.len() % 2 == 1 {
            times[middle]
        } else {
            (times[middle - 1] + times[middle]) / 2.0
        };
        let _ = writeln!(
            text,
            "| `{system}` | {variant} | {} | {} | {} | {} |",
            times.len(),
            ms(median),
            ms(times[0]),
            ms(times[times.len() - 1])
        );
    }
    let _ = writeln!(text);
    Ok(())
}

fn files(text: &mut String) {
    let _ = writeln!(
        text,
        "## Files\n\n- `raw.csv`: every timed call (`system,n,run,client_ms,server_ms,peak_rss_kb`; \
         `client_ms` is `timeout` for a stopped run).\n\
         - `summary.csv`, `ttests.csv`, `anova.csv`: the statistics above.\n\
         - `cells.csv`: how every system × size ended.\n\
         - `time-linear`, `time-log`, `memory`, `ratio`: the plots, as `.svg` and `.png`.\n\
         - `load.csv`, `cold.csv`: with `--load` and `--cold-start`."
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(ms(0.12345), "0.123");
        assert_eq!(ms(12.345), "12.35");
        assert_eq!(ms(1234.5), "1234");
        assert_eq!(speed(0.5), "2.00× faster");
        assert_eq!(speed(1.5), "1.50× slower");
        assert_eq!(range(&[1.2, 3.4]), "1.20–3.40×");
    }
}
