//! The statistics of the study, with `statrs` for every distribution: a summary per system and
//! size, Welch's t-test of each Tessera row against each peer, and a one-way ANOVA over all
//! systems at each size. Times are the client's (send to last byte), in ms.

use std::collections::BTreeMap;
use std::path::Path;

use statrs::distribution::{ContinuousCDF as _, FisherSnedecor, StudentsT};
use statrs::statistics::{Data, Median as _, Statistics as _};

use crate::data::Row;
use crate::systems::{self, System};

/// One system at one size.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The system's id.
    pub system: String,
    /// The size.
    pub n: usize,
    /// Runs measured (timeouts excluded).
    pub runs: usize,
    /// Runs stopped at the budget.
    pub timeouts: usize,
    /// Mean, ms.
    pub mean: f64,
    /// Sample standard deviation, ms.
    pub sd: f64,
    /// Median, ms.
    pub median: f64,
    /// Fastest run, ms.
    pub min: f64,
    /// Slowest run, ms.
    pub max: f64,
    /// The 95 % confidence interval of the mean (Student's t), ms.
    pub ci95: (f64, f64),
    /// The mean of the server's own compute times, ms.
    pub server_mean: f64,
    /// Peak resident memory of the server's process tree, KiB.
    pub peak_rss_kb: Option<u64>,
}

/// Welch's t-test of a Tessera row against a peer at one size.
#[derive(Debug, Clone, PartialEq)]
pub struct TTest {
    /// The size.
    pub n: usize,
    /// The Tessera row.
    pub system: String,
    /// The peer.
    pub vs: String,
    /// t (negative: the Tessera row is faster).
    pub t: f64,
    /// Welch–Satterthwaite degrees of freedom.
    pub df: f64,
    /// Two-sided p-value.
    pub p: f64,
    /// Cohen's d with the pooled standard deviation (negative: the Tessera row is faster).
    pub cohens_d: f64,
}

/// A one-way ANOVA over every system measured at one size.
#[derive(Debug, Clone, PartialEq)]
pub struct Anova {
    /// The size.
    pub n: usize,
    /// F.
    pub f: f64,
    /// Its p-value.
    pub p: f64,
    /// η², the share of the variance between systems.
    pub eta_squared: f64,
    /// Systems compared.
    pub groups: usize,
}

/// Everything computed from the rows.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// By system (in the study's order) then size.
    pub summaries: Vec<Summary>,
    /// Tessera rows against peers.
    pub ttests: Vec<TTest>,
    /// One per size with two systems or more.
    pub anovas: Vec<Anova>,
}

impl Stats {
    /// The summary of `system` at `n`.
    pub fn summary(&self, system: &str, n: usize) -> Option<&Summary> {
        self.summaries
            .iter()
            .find(|s| s.system == system && s.n == n)
    }

    /// Every size, ascending.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes: Vec<usize> = self.summaries.iter().map(|s| s.n).collect();
        sizes.sort_unstable();
        sizes.dedup();
        sizes
    }

    /// Every system present, in the study's order.
    pub fn systems(&self) -> Vec<&'static System> {
        systems::ALL
            .iter()
            .filter(|s| self.summaries.iter().any(|m| m.system == s.id))
            .collect()
    }
}

/// The times of each system at each size, timeouts left out.
fn groups(rows: &[Row]) -> BTreeMap<(usize, String), Vec<f64>> {
    let mut groups: BTreeMap<(usize, String), Vec<f64>> = BTreeMap::new();
    for row in rows {
        let times = groups.entry((row.n, row.system.clone())).or_default();
        if let Some(ms) = row.client_ms {
            times.push(ms);
        }
    }
    groups
}

/// Computes everything. Systems with fewer than two runs at a size have no t-test there and
/// are left out of that size's ANOVA.
pub fn compute(rows: &[Row]) -> Stats {
    let groups = groups(rows);
    let mut stats = Stats::default();
    for system in systems::ALL {
        for ((n, id), times) in &groups {
            if id != system.id {
                continue;
            }
            let cell: Vec<&Row> = rows
                .iter()
                .filter(|r| r.n == *n && &r.system == id)
                .collect();
            stats.summaries.push(summarize(id, *n, times, &cell));
        }
    }
    let sizes: Vec<usize> = stats.sizes();
    for &n in &sizes {
        let at_n: Vec<(&String, &Vec<f64>)> = groups
            .iter()
            .filter(|((m, _), times)| *m == n && times.len() >= 2)
            .map(|((_, id), times)| (id, times))
            .collect();
        for (id, times) in &at_n {
            let Some(system) = systems::find(id).filter(|s| s.is_tessera()) else {
                continue;
            };
            for (other, other_times) in &at_n {
                if other == id || systems::find(other).is_some_and(System::is_tessera) {
                    continue;
                }
                if let Some((t, df, p)) = welch(times, other_times) {
                    stats.ttests.push(TTest {
                        n,
                        system: system.id.into(),
                        vs: (*other).clone(),
                        t,
                        df,
                        p,
                        cohens_d: cohens_d(times, other_times),
                    });
                }
            }
        }
        let samples: Vec<&[f64]> = at_n.iter().map(|(_, t)| t.as_slice()).collect();
        if let Some((f, p, eta_squared)) = anova(&samples) {
            stats.anovas.push(Anova {
                n,
                f,
                p,
                eta_squared,
                groups: samples.len(),
            });
        }
    }
    stats
}

fn summarize(system: &str, n: usize, times: &[f64], cell: &[&Row]) -> Summary {
    let runs = times.len();
    let nan = f64::NAN;
    let (mean, sd) = (times.iter().mean(), times.iter().std_dev());
    let ci95 = if runs >= 2 {
        let t = StudentsT::new(0.0, 1.0, (runs - 1) as f64)
            .expect("at least one degree of freedom")
            .inverse_cdf(0.975);
        let half = t * sd / (runs as f64).sqrt();
        (mean - half, mean + half)
    } else {
        (nan, nan)
    };
    let server: Vec<f64> = cell.iter().filter_map(|r| r.server_ms).collect();
    Summary {
        system: system.into(),
        n,
        runs,
        timeouts: cell.iter().filter(|r| r.client_ms.is_none()).count(),
        mean: if runs > 0 { mean } else { nan },
        sd: if runs >= 2 { sd } else { nan },
        median: if runs > 0 {
            Data::new(times.to_vec()).median()
        } else {
            nan
        },
        min: if runs > 0 {
            statrs::statistics::Statistics::min(times.iter())
        } else {
            nan
        },
        max: if runs > 0 {
            statrs::statistics::Statistics::max(times.iter())
        } else {
            nan
        },
        ci95,
        server_mean: if server.is_empty() {
            nan
        } else {
            server.iter().mean()
        },
        peak_rss_kb: cell.iter().filter_map(|r| r.peak_rss_kb).max(),
    }
}

/// Welch's unequal-variance t-test: (t, degrees of freedom, two-sided p). `None` when both
/// samples have no variance (t is undefined).
pub fn welch(a: &[f64], b: &[f64]) -> Option<(f64, f64, f64)> {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let (va, vb) = (a.iter().variance() / na, b.iter().variance() / nb);
    let se2 = va + vb;
    // Both samples constant: no test (this also catches NaN).
    if se2.is_nan() || se2 <= 0.0 {
        return None;
    }
    let t = (a.iter().mean() - b.iter().mean()) / se2.sqrt();
    let df = se2 * se2 / (va * va / (na - 1.0) + vb * vb / (nb - 1.0));
    let p = 2.0 * StudentsT::new(0.0, 1.0, df).ok()?.cdf(-t.abs());
    Some((t, df, p))
}

/// Cohen's d: the difference of the means over the pooled standard deviation.
fn cohens_d(a: &[f64], b: &[f64]) -> f64 {
    let (na, nb) = (a.len() as f64, b.len() as f64);
    let pooled = (((na - 1.0) * a.iter().variance() + (nb - 1.0) * b.iter().variance())
        / (na + nb - 2.0))
        .sqrt();
    (a.iter().mean() - b.iter().mean()) / pooled
}

/// One-way ANOVA: (F, p, η²). `None` for fewer than two groups or no variance within them.
pub fn anova(groups: &[&[f64]]) -> Option<(f64, f64, f64)> {
    let k = groups.len();
    let total: usize = groups.iter().map(|g| g.len()).sum();
    if k < 2 || total <= k {
        return None;
    }
    let grand = groups.iter().flat_map(|g| g.iter()).mean();
    let between: f64 = groups
        .iter()
        .map(|g| g.len() as f64 * (g.iter().mean() - grand).powi(2))
        .sum();
    let within: f64 = groups
        .iter()
        .map(|g| {
            let mean = g.iter().mean();
            g.iter().map(|x| (x - mean).powi(2)).sum::<f64>()
        })
        .sum();
    if within.is_nan() || within <= 0.0 {
        return None;
    }
    let (df1, df2) = ((k - 1) as f64, (total - k) as f64);
    let f = (between / df1) / (within / df2);
    let p = FisherSnedecor::new(df1, df2).ok()?.sf(f);
    Some((f, p, between / (between + within)))
}

/// A number for a CSV: empty when undefined.
fn cell(value: f64, decimals: usize) -> String {
    if value.is_finite() {
        format!("{value:.decimals$}")
    } else {
        String::new()
    }
}

/// Writes one CSV file: its header, then a record per row.
fn write_csv<const N: usize>(
    path: &Path,
    header: [&str; N],
    records: impl Iterator<Item = [String; N]>,
) -> anyhow::Result<()> {
    let mut writer = csv::Writer::from_path(path)?;
    writer.write_record(header)?;
    for record in records {
        writer.write_record(record)?;
    }
    writer.flush()?;
    Ok(())
}

/// Writes `summary.csv`, `ttests.csv` and `anova.csv`.
pub fn write(stats: &Stats, out: &Path) -> anyhow::Result<()> {
    let summary = [
        "system",
        "n",
        "runs",
        "mean",
        "sd",
        "median",
        "min",
        "max",
        "ci95_low",
        "ci95_high",
        "peak_rss_kb",
        "timeouts",
        "server_mean",
    ];
    write_csv(
        &out.join("summary.csv"),
        summary,
        stats.summaries.iter().map(|s| {
            let times =
                [s.mean, s.sd, s.median, s.min, s.max, s.ci95.0, s.ci95.1].map(|v| cell(v, 4));
            let [mean, sd, median, min, max, low, high] = times;
            let peak = s.peak_rss_kb.map(|kb| kb.to_string()).unwrap_or_default();
            [
                s.system.clone(),
                s.n.to_string(),
                s.runs.to_string(),
                mean,
                sd,
                median,
                min,
                max,
                low,
                high,
                peak,
                s.timeouts.to_string(),
                cell(s.server_mean, 4),
            ]
        }),
    )?;
    let ttests = ["n", "system", "vs", "t", "df", "p", "cohens_d"];
    write_csv(
        &out.join("ttests.csv"),
        ttests,
        stats.ttests.iter().map(|t| {
            [
                t.n.to_string(),
                t.system.clone(),
                t.vs.clone(),
                cell(t.t, 6),
                cell(t.df, 6),
                format!("{:e}", t.p),
                cell(t.cohens_d, 6),
            ]
        }),
    )?;
    let anova = ["n", "f", "p", "eta_squared", "groups"];
    write_csv(
        &out.join("anova.csv"),
        anova,
        stats.anovas.iter().map(|a| {
            [
                a.n.to_string(),
                cell(a.f, 6),
                format!("{:e}", a.p),
                cell(a.eta_squared, 6),
                a.groups.to_string(),
            ]
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tolerance: f64) -> bool {
        (a - b).abs() <= tolerance * b.abs().max(1.0)
    }

    #[test]
    fn welch_matches_a_worked_example() {
        // Figures computed independently (Python: the formulas by hand, the p-value by
        // Simpson integration of the t density): t = -2.225512, df = 24.52463, p = 0.035485.
        let a = [19.8, 20.4, 19.6, 17.8, 18.5, 18.9, 18.3, 18.9, 19.5, 22.0];
        let b = [
            28.2, 26.6, 20.1, 23.3, 25.2, 22.1, 17.7, 27.6, 20.6, 13.7, 23.2, 17.5, 20.6, 18.0,
            23.9, 21.6, 24.3, 20.4, 23.9, 13.3,
        ];
        let (t, df, p) = welch(&a, &b).unwrap();
        assert!(close(t, -2.225_512, 1e-6), "{t}");
        assert!(close(df, 24.524_63, 1e-6), "{df}");
        assert!(close(p, 0.035_485, 1e-4), "{p}");
        assert_eq!(welch(&[1.0, 1.0], &[1.0, 1.0]), None);
    }

    #[test]
    fn anova_matches_a_worked_example() {
        // Three groups; by hand: grand mean 5, SSB = 3*(4+0+4) = 24, SSW = 2+2+2 = 6,
        // F = (24/2)/(6/6) = 12, η² = 24/30 = 0.8.
        let groups: [&[f64]; 3] = [&[2.0, 3.0, 4.0], &[4.0, 5.0, 6.0], &[6.0, 7.0, 8.0]];
        let (f, p, eta) = anova(&groups).unwrap();
        assert!(close(f, 12.0, 1e-12), "{f}");
        assert!(close(eta, 0.8, 1e-12), "{eta}");
        // For F(2, d) the upper tail is (1 + 2F/d)^(-d/2): (1 + 4)^(-3) = 0.008.
        assert!(close(p, 0.008, 1e-9), "{p}");
    }

    #[test]
    fn summaries_confidence_and_timeouts() {
        let row = |run, ms: Option<f64>| Row {
            system: "tessera".into(),
            n: 100,
            run,
            client_ms: ms,
            server_ms: ms,
            peak_rss_kb: Some(2048),
        };
        let rows = vec![
            row(1, Some(1.0)),
            row(2, Some(2.0)),
            row(3, Some(3.0)),
            row(4, None),
        ];
        let stats = compute(&rows);
        let s = stats.summary("tessera", 100).unwrap();
        assert_eq!((s.runs, s.timeouts, s.mean, s.median), (3, 1, 2.0, 2.0));
        assert!(close(s.sd, 1.0, 1e-12));
        // t(0.975, 2) = 4.302653; half-width 4.302653 / sqrt(3).
        assert!(
            close(s.ci95.1, 2.0 + 4.302_653 / 3f64.sqrt(), 1e-6),
            "{:?}",
            s.ci95
        );
        assert_eq!(s.peak_rss_kb, Some(2048));
    }
}
