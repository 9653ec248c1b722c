//! The matrix-multiplication study: every system × size is one cell, measured on a freshly
//! started server (so that its peak memory is that size's), with warm-up calls, timed runs,
//! the checksum checked on every answer, and a budget per run.
//!
//! Cells are written to `raw.csv` (and their outcome to `cells.csv`) as they finish, so an
//! interrupted study resumes from what was written: a finished cell is not measured again.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::client::{Client, Failure};
use crate::data::{Cell, CellStatus, Row};
use crate::server::Launch;
use crate::systems::{App, Paths, System};

/// What to measure.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The matrix sizes, ascending.
    pub sizes: Vec<usize>,
    /// Timed runs per cell.
    pub runs: usize,
    /// Untimed calls before them.
    pub warmup: usize,
    /// The longest a single call may take.
    pub budget: Duration,
    /// The systems, in order.
    pub systems: Vec<&'static System>,
}

/// The sum of the entries of the study's `A·B` for size `n`, computed exactly in O(n²):
/// Σ_ij C_ij = Σ_k (Σ_i A_ik)(Σ_j B_kj).
pub fn expected_checksum(n: usize) -> u128 {
    let n = n as u128;
    (0..n)
        .map(|k| {
            let column_of_a: u128 = (0..n).map(|i| (31 * i + 17 * k) % 100).sum();
            let row_of_b: u128 = (0..n).map(|j| (13 * k + 7 * j) % 100).sum();
            column_of_a * row_of_b
        })
        .sum()
}

/// The checksum and server time of a matmul answer, if it has them.
fn parse_answer(body: &str) -> Option<(u128, f64)> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let checksum = match &value["checksum"] {
        serde_json::Value::Number(number) => number.as_u64().map(u128::from).or_else(|| {
            number
                .as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                .map(|f| f as u128)
        })?,
        _ => return None,
    };
    Some((checksum, value["millis"].as_f64()?))
}

/// Runs every cell not already in `out`, appending each to its files as it finishes.
pub fn run(settings: &Settings, paths: &Paths, out: &Path) -> anyhow::Result<()> {
    let (rows, mut cells) = crate::data::resume(out, settings.runs)?;
    let done: Vec<(String, usize)> = cells.iter().map(|c| (c.system.clone(), c.n)).collect();
    let todo: Vec<(&System, usize)> = settings
        .systems
        .iter()
        .flat_map(|s| settings.sizes.iter().map(move |&n| (*s, n)))
        .filter(|(s, n)| !done.contains(&(s.id.to_string(), *n)))
        .collect();
    if !done.is_empty() {
        eprintln!(
            "resuming: {} cells already measured, {} to go",
            done.len(),
            todo.len()
        );
    }
    let calls = (settings.runs + settings.warmup) as u64;
    let progress = ProgressBar::new(todo.len() as u64 * calls);
    progress.set_style(
        ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} calls  {msg}")
            .expect("the template is valid"),
    );
    let mut model = Model::from_rows(&rows);
    for (index, &(system, n)) in todo.iter().enumerate() {
        let previous = cells
            .iter()
            .filter(|c| c.system == system.id && c.n < n)
            .max_by_key(|c| c.n);
        let refused = cells
            .iter()
            .any(|c| c.system == system.id && c.status == CellStatus::Refused);
        let (cell_rows, cell) = if refused {
            // A system that answered wrongly is not measured further.
            (
                Vec::new(),
                Cell::new(
                    system.id,
                    n,
                    CellStatus::Refused,
                    "an earlier size answered a wrong checksum",
                ),
            )
        } else if let Some(reason) = over_budget(previous, &model, system.id, n, settings.budget) {
            let rows = (1..=settings.runs)
                .map(|run| Row::timeout(system.id, n, run, None))
                .collect();
            (
                rows,
                Cell::new(system.id, n, CellStatus::PredictedTimeout, &reason),
            )
        } else {
            measure(
                system,
                n,
                settings,
                paths,
                out,
                &progress,
                &model,
                &todo[index..],
            )?
        };
        progress.set_position((index as u64 + 1) * calls);
        // Without a terminal the bar is hidden, and so is its println: the log gets the line.
        if progress.is_hidden() {
            eprintln!("{}", describe(&cell, &cell_rows));
        } else {
            progress.println(describe(&cell, &cell_rows));
        }
        model.learn(&cell_rows);
        crate::data::append(out, &cell_rows, &cell)?;
        cells.push(cell);
    }
    progress.finish_and_clear();
    let _ = std::fs::remove_dir(out.join("servers"));
    Ok(())
}

/// Why a cell is not worth running: the previous size timed out, or its time scaled by n³
/// exceeds the budget.
fn over_budget(
    previous: Option<&Cell>,
    model: &Model,
    system: &str,
    n: usize,
    budget: Duration,
) -> Option<String> {
    let previous = previous?;
    if matches!(
        previous.status,
        CellStatus::Timeout | CellStatus::PredictedTimeout
    ) {
        return Some(format!("n = {} already exceeded the budget", previous.n));
    }
    let predicted = model.seconds(system, n)?;
    (predicted > budget.as_secs_f64()).then(|| {
        format!(
            "predicted {predicted:.0} s per run from n = {} (time × (n/{})³), over the {} s budget",
            previous.n,
            previous.n,
            budget.as_secs()
        )
    })
}

/// One cell on a fresh server.
#[expect(clippy::too_many_arguments, reason = "the cell's context, passed once")]
fn measure(
    system: &System,
    n: usize,
    settings: &Settings,
    paths: &Paths,
    out: &Path,
    progress: &ProgressBar,
    model: &Model,
    remaining: &[(&System, usize)],
) -> anyhow::Result<(Vec<Row>, Cell)> {
    let scratch = out.join("servers").join(format!("{}-{n}", system.id));
    let server = match Launch::new(system, App::Matmul, paths, &scratch).start() {
        Ok(server) => server,
        Err(error) => {
            return Ok((
                Vec::new(),
                Cell::new(system.id, n, CellStatus::Failed, &format!("{error:#}")),
            ));
        }
    };
    let client = Client::new(settings.budget);
    let path = system.matmul_path(n);
    let expected = expected_checksum(n);
    let mut rows = Vec::new();
    let mut status = (CellStatus::Done, String::new());
    let eta = model.remaining(remaining, settings);
    for call in 1..=settings.warmup + settings.runs {
        let run = call.checked_sub(settings.warmup).filter(|&r| r > 0);
        progress.set_message(format!(
            "{} n={n} {} · about {} left",
            system.id,
            match run {
                Some(run) => format!("run {run}/{}", settings.runs),
                None => format!("warm-up {call}/{}", settings.warmup),
            },
            humantime::format_duration(Duration::from_secs(eta as u64))
        ));
        match client.get(server.addr(), &path) {
            Ok(reply) if reply.status == 200 => match parse_answer(&reply.body) {
                Some((checksum, millis)) if checksum == expected => {
                    if let Some(run) = run {
                        rows.push(Row {
                            system: system.id.into(),
                            n,
                            run,
                            client_ms: Some(reply.elapsed.as_secs_f64() * 1000.0),
                            server_ms: Some(millis),
                            peak_rss_kb: None,
                        });
                    }
                }
                Some((checksum, _)) => {
                    status = (
                        CellStatus::Refused,
                        format!("answered checksum {checksum}, expected {expected}"),
                    );
                    rows.clear();
                    break;
                }
                None => {
                    status = (
                        CellStatus::Failed,
                        format!("an answer without checksum and millis: {}", reply.body),
                    );
                    break;
                }
            },
            Ok(reply) => {
                status = (
                    CellStatus::Failed,
                    format!("HTTP {}: {}", reply.status, reply.body),
                );
                break;
            }
            Err(Failure::Timeout) => {
                let first = run.unwrap_or(1);
                rows.extend(
                    (first..=settings.runs).map(|run| Row::timeout(system.id, n, run, None)),
                );
                status = (
                    CellStatus::Timeout,
                    format!(
                        "a call took longer than the {} s budget",
                        settings.budget.as_secs()
                    ),
                );
                break;
            }
            Err(Failure::Other(error)) => {
                status = (
                    CellStatus::Failed,
                    format!("{error}; the server's log: {}", server.log_tail()),
                );
                break;
            }
        }
        progress.inc(1);
    }
    let peak = server.peak_rss_kb();
    server.stop();
    if status.0 == CellStatus::Failed {
        rows.clear();
    }
    for row in &mut rows {
        row.peak_rss_kb = Some(peak);
    }
    let _ = std::fs::remove_dir_all(&scratch);
    Ok((rows, Cell::new(system.id, n, status.0, &status.1)))
}

fn describe(cell: &Cell, rows: &[Row]) -> String {
    let mut times: Vec<f64> = rows.iter().filter_map(|r| r.client_ms).collect();
    times.sort_by(f64::total_cmp);
    let detail = if cell.detail.is_empty() {
        String::new()
    } else {
        format!(": {}", cell.detail)
    };
    match (cell.status, times.get(times.len() / 2)) {
        (CellStatus::Done, Some(median)) => format!(
            "{:<14} n={:<5} {} runs, median {median:.3} ms, peak {:.1} MB",
            cell.system,
            cell.n,
            times.len(),
            rows.first().and_then(|r| r.peak_rss_kb).unwrap_or(0) as f64 / 1024.0
        ),
        _ => format!(
            "{:<14} n={:<5} {}{detail}",
            cell.system,
            cell.n,
            cell.status.as_str()
        ),
    }
}

/// Seconds per call, per system, from the largest size measured so far; times scale as n³.
struct Model {
    observed: BTreeMap<String, (usize, f64)>,
}

impl Model {
    fn from_rows(rows: &[Row]) -> Self {
        let mut model = Self {
            observed: BTreeMap::new(),
        };
        model.learn(rows);
        model
    }

    fn learn(&mut self, rows: &[Row]) {
        let mut by_cell: BTreeMap<(String, usize), Vec<f64>> = BTreeMap::new();
        for row in rows {
            if let Some(ms) = row.client_ms {
                by_cell
                    .entry((row.system.clone(), row.n))
                    .or_default()
                    .push(ms / 1000.0);
            }
        }
        for ((system, n), mut seconds) in by_cell {
            seconds.sort_by(f64::total_cmp);
            let median = seconds[seconds.len() / 2];
            let entry = self.observed.entry(system).or_insert((n, median));
            if n >= entry.0 {
                *entry = (n, median);
            }
        }
    }

    /// The predicted seconds per call of `system` at size `n`.
    fn seconds(&self, system: &str, n: usize) -> Option<f64> {
        let &(at, seconds) = self.observed.get(system)?;
        Some(seconds * (n as f64 / at as f64).powi(3))
    }

    /// The predicted seconds left for these cells: each call capped by the budget, plus a few
    /// seconds per server start; a system not measured yet is guessed from the slowest one.
    fn remaining(&self, cells: &[(&System, usize)], settings: &Settings) -> f64 {
        let calls = (settings.warmup + settings.runs) as f64;
        let budget = settings.budget.as_secs_f64();
        cells
            .iter()
            .map(|(system, n)| {
                let guess = self
                    .seconds(system.id, *n)
                    .or_else(|| {
                        self.observed
                            .keys()
                            .filter_map(|s| self.seconds(s, *n))
                            .max_by(f64::total_cmp)
                    })
                    .unwrap_or(0.01);
                guess.min(budget) * calls + 2.0
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_checksum_formula_matches_the_product() {
        assert_eq!(expected_checksum(3), 29_898);
        assert_eq!(expected_checksum(100), 2_450_250_000);
        for n in [1, 7, 64, 131] {
            let product = matmul_core::study_checksum(n, matmul_core::Kernel::Naive);
            assert_eq!(expected_checksum(n), product as u128, "n = {n}");
        }
        // Within f64's exact integers at the largest size the endpoint accepts.
        assert!(expected_checksum(5000) < 1 << 53);
    }

    #[test]
    fn answers_are_read_as_integers_or_integral_floats() {
        assert_eq!(
            parse_answer(r#"{"n":3,"checksum":29898,"millis":0.5}"#),
            Some((29_898, 0.5))
        );
        assert_eq!(
            parse_answer(r#"{"checksum":2450250000.0,"millis":1}"#),
            Some((2_450_250_000, 1.0))
        );
        assert_eq!(parse_answer(r#"{"checksum":1.5,"millis":1}"#), None);
        assert_eq!(parse_answer("oops"), None);
    }
}
