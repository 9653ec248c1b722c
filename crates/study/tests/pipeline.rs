//! The study end to end, small: `scripts/study.sh` on two sizes, three runs and three systems
//! (Tessera, axum, and Express on Node.js, which the script installs from npm), with the
//! binaries `cargo test` built. Then every file is checked: the CSV columns, the statistics
//! against an independent computation from `raw.csv` (plain formulas, and p-values and t
//! quantiles by numerical integration rather than the study's `statrs`), the plots as SVG
//! and PNG, and the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

const STUDY: &str = env!("CARGO_BIN_EXE_tessera-study");
const SYSTEMS: [&str; 3] = ["tessera", "axum", "express"];
const SIZES: [usize; 2] = [40, 100];
const RUNS: usize = 3;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/study is two levels down")
        .to_path_buf()
}

/// A CSV file as its header and rows of fields.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>());
    let header = lines.next().expect("a header");
    (header, lines.collect())
}

fn close(actual: f64, expected: f64, tolerance: f64, what: &str) {
    assert!(
        (actual - expected).abs() <= tolerance * expected.abs().max(1.0),
        "{what}: {actual} against {expected} computed independently"
    );
}

/// Simpson's rule on [a, b] with `steps` (even) intervals.
fn simpson(f: impl Fn(f64) -> f64, a: f64, b: f64, steps: usize) -> f64 {
    let h = (b - a) / steps as f64;
    let inner: f64 = (1..steps)
        .map(|i| f(a + i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 })
        .sum();
    (f(a) + inner + f(b)) * h / 3.0
}

/// P(T > t) for Student's t with `v` degrees of freedom: with x = √v·tan θ the density is
/// proportional to cos^(v-1) θ on (-π/2, π/2), a smooth integrand on a finite interval.
fn t_upper_tail(t: f64, v: f64) -> f64 {
    let density = |theta: f64| theta.cos().powf(v - 1.0);
    let half = std::f64::consts::FRAC_PI_2;
    let total = simpson(density, -half, half, 20_000);
    simpson(density, (t / v.sqrt()).atan(), half, 20_000) / total
}

/// The 0.975 quantile of Student's t by bisection on the tail.
fn t_quantile_975(v: f64) -> f64 {
    let (mut low, mut high) = (0.0, 100.0);
    for _ in 0..100 {
        let mid = (low + high) / 2.0;
        if t_upper_tail(mid, v) > 0.025 {
            low = mid;
        } else {
            high = mid;
        }
    }
    (low + high) / 2.0
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

fn variance(x: &[f64]) -> f64 {
    let m = mean(x);
    x.iter().map(|v| (v - m).powi(2)).sum::<f64>() / (x.len() - 1) as f64
}

/// An SVG chart with at least `marks` elements named `mark` (one per data point or bar) and
/// enough text for a caption, axis labels and a legend.
fn check_svg(path: &Path, mark: &str, marks: usize) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let document = roxmltree::Document::parse(&text)
        .unwrap_or_else(|e| panic!("{} is not XML: {e}", path.display()));
    assert_eq!(
        document.root_element().tag_name().name(),
        "svg",
        "{}",
        path.display()
    );
    let count = |name: &str| {
        document
            .descendants()
            .filter(|n| n.tag_name().name() == name)
            .count()
    };
    assert!(
        count(mark) >= marks,
        "{} has {} <{mark}> elements, not {marks}",
        path.display(),
        count(mark)
    );
    assert!(
        count("text") >= 8,
        "{} has only {} texts",
        path.display(),
        count("text")
    );
}

fn check_png(path: &Path) {
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    let mut pixels = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader
        .next_frame(&mut pixels)
        .unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
    assert_eq!((info.width, info.height), (1100, 680), "{}", path.display());
    // Not a blank canvas: many pixels differ from the first (white) one.
    let first = &pixels[..3];
    let inked = pixels.chunks(3).filter(|p| p != &first).count();
    assert!(
        inked > 5_000,
        "{} has only {inked} drawn pixels",
        path.display()
    );
}

#[test]
fn the_study_runs_end_to_end_and_its_statistics_check_out() {
    let out = tempfile::tempdir().expect("tempdir");
    let bin_dir = Path::new(STUDY).parent().expect("the binaries' directory");
    let output = Command::new(root().join("scripts/study.sh"))
        .args([
            "--sizes",
            "40,100",
            "--runs",
            "3",
            "--systems",
            &SYSTEMS.join(","),
        ])
        .arg("--out")
        .arg(out.path())
        .env("STUDY_BIN_DIR", bin_dir)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .expect("run scripts/study.sh");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "scripts/study.sh failed:\n{log}");

    // raw.csv: every run of every cell, with its figures.
    let (header, raw) = read_csv(&out.path().join("raw.csv"));
    assert_eq!(
        header,
        [
            "system",
            "n",
            "run",
            "client_ms",
            "server_ms",
            "peak_rss_kb"
        ]
    );
    assert_eq!(raw.len(), SYSTEMS.len() * SIZES.len() * RUNS, "{log}");
    let mut times: BTreeMap<(String, usize), Vec<f64>> = BTreeMap::new();
    for row in &raw {
        let ms: f64 = row[3]
            .parse()
            .unwrap_or_else(|_| panic!("a timed run: {row:?}"));
        let server: f64 = row[4].parse().expect("server_ms");
        assert!(ms > 0.0 && server >= 0.0 && server < ms * 1.5, "{row:?}");
        assert!(
            row[5].parse::<u64>().expect("peak_rss_kb") > 1000,
            "{row:?}"
        );
        times
            .entry((row[0].clone(), row[1].parse().expect("n")))
            .or_default()
            .push(ms);
    }

    // summary.csv against the formulas.
    let (header, summary) = read_csv(&out.path().join("summary.csv"));
    assert_eq!(
        header[..11].join(","),
        "system,n,runs,mean,sd,median,min,max,ci95_low,ci95_high,peak_rss_kb"
    );
    assert_eq!(summary.len(), SYSTEMS.len() * SIZES.len());
    let quantile = t_quantile_975((RUNS - 1) as f64);
    close(quantile, 4.302_653, 1e-5, "t(0.975, 2), the textbook value");
    for row in &summary {
        let x = &times[&(row[0].clone(), row[1].parse().expect("n"))];
        let field = |i: usize| row[i].parse::<f64>().unwrap_or_else(|_| panic!("{row:?}"));
        let mut sorted = x.clone();
        sorted.sort_by(f64::total_cmp);
        let (m, sd) = (mean(x), variance(x).sqrt());
        let half = quantile * sd / (x.len() as f64).sqrt();
        let what = |name: &str| format!("{name} of {} at n = {}", row[0], row[1]);
        assert_eq!(row[2], RUNS.to_string());
        close(field(3), m, 1e-4, &what("mean"));
        close(field(4), sd, 1e-4, &what("sd"));
        close(field(5), sorted[1], 1e-4, &what("median"));
        close(field(6), sorted[0], 1e-4, &what("min"));
        close(field(7), sorted[2], 1e-4, &what("max"));
        close(field(8), m - half, 1e-4, &what("ci95_low"));
        close(field(9), m + half, 1e-4, &what("ci95_high"));
    }

    // ttests.csv: Welch's test of Tessera against each peer.
    let (header, ttests) = read_csv(&out.path().join("ttests.csv"));
    assert_eq!(&header[..6], ["n", "system", "vs", "t", "df", "p"]);
    assert_eq!(
        ttests.len(),
        SIZES.len() * 2,
        "tessera against axum and express at each size"
    );
    for row in &ttests {
        let n: usize = row[0].parse().expect("n");
        assert_eq!(row[1], "tessera");
        let (a, b) = (
            &times[&("tessera".to_string(), n)],
            &times[&(row[2].clone(), n)],
        );
        let (va, vb) = (variance(a) / a.len() as f64, variance(b) / b.len() as f64);
        let t = (mean(a) - mean(b)) / (va + vb).sqrt();
        let df =
            (va + vb).powi(2) / (va * va / (a.len() - 1) as f64 + vb * vb / (b.len() - 1) as f64);
        let p = 2.0 * t_upper_tail(t.abs(), df);
        let what = format!("tessera against {} at n = {n}", row[2]);
        close(row[3].parse().expect("t"), t, 1e-5, &format!("t, {what}"));
        close(
            row[4].parse().expect("df"),
            df,
            1e-5,
            &format!("df, {what}"),
        );
        close(row[5].parse().expect("p"), p, 1e-4, &format!("p, {what}"));
    }

    // anova.csv: one-way ANOVA over the three systems; with three groups F(2, d) has the
    // closed-form tail (1 + 2F/d)^(-d/2).
    let (header, anova) = read_csv(&out.path().join("anova.csv"));
    assert_eq!(&header[..3], ["n", "f", "p"]);
    assert_eq!(anova.len(), SIZES.len());
    for row in &anova {
        let n: usize = row[0].parse().expect("n");
        let groups: Vec<&Vec<f64>> = SYSTEMS
            .iter()
            .map(|s| &times[&(s.to_string(), n)])
            .collect();
        let all: Vec<f64> = groups.iter().flat_map(|g| g.iter().copied()).collect();
        let grand = mean(&all);
        let between: f64 = groups
            .iter()
            .map(|g| g.len() as f64 * (mean(g) - grand).powi(2))
            .sum();
        let within: f64 = groups
            .iter()
            .map(|g| variance(g) * (g.len() - 1) as f64)
            .sum();
        let (d1, d2) = (2.0, (all.len() - 3) as f64);
        let f = (between / d1) / (within / d2);
        let p = (1.0 + 2.0 * f / d2).powf(-d2 / 2.0);
        close(
            row[1].parse().expect("f"),
            f,
            1e-5,
            &format!("F at n = {n}"),
        );
        close(
            row[2].parse().expect("p"),
            p,
            1e-5,
            &format!("p at n = {n}"),
        );
    }

    // A marker per system and size on the time charts, a bar per system and size on the memory
    // chart, a marker per size on each Tessera / peer line of the ratio chart.
    let cells = SYSTEMS.len() * SIZES.len();
    for (name, mark, marks) in [
        ("time-linear", "circle", cells),
        ("time-log", "circle", cells),
        ("memory", "rect", cells),
        ("ratio", "circle", (SYSTEMS.len() - 1) * SIZES.len()),
    ] {
        check_svg(&out.path().join(format!("{name}.svg")), mark, marks);
        check_png(&out.path().join(format!("{name}.png")));
    }

    let report = std::fs::read_to_string(out.path().join("report.md")).expect("report.md");
    for needle in [
        "## Set-up",
        "## Where Tessera wins and where it loses",
        "Tessera's added time over axum at n = 100 under 0.1 ms: ",
        "| `express` |",
        "Express | 5.",
        "![time per request, log-log](time-log.png)",
    ] {
        assert!(
            report.contains(needle),
            "report.md lacks {needle:?}:\n{report}"
        );
    }
}
