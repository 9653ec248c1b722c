//! The study's figures, each as SVG and PNG (plotters; the PNG's text in DejaVu Sans, from
//! Debian's `fonts-dejavu-core`):
//!
//! - `time-linear`: mean time per request against n, linear axes;
//! - `time-log`: the same on log-log axes (where the differences at small n show);
//! - `memory`: peak resident memory of each system's server, one panel per size;
//! - `ratio`: time of each Tessera row divided by each peer's, against n (below 1: Tessera
//!   is faster).
//!
//! A run stopped at the budget is drawn as a cross at the top of the time plots.

use std::path::Path;

use anyhow::{Context as _, anyhow};
use plotters::coord::Shift;
use plotters::coord::combinators::{LogCoord, WithKeyPoints};
use plotters::prelude::*;

use crate::stats::Stats;
use crate::systems::System;

const SIZE: (u32, u32) = (1100, 680);
const FONT_FILE: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

/// Each system's color, by its position in the study's list.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(23, 190, 207),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(0, 128, 128),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

fn color(system: &System) -> RGBColor {
    let index = crate::systems::ALL
        .iter()
        .position(|s| s.id == system.id)
        .unwrap_or(0);
    PALETTE[index % PALETTE.len()]
}

/// Registers the font every figure's text uses. Plotters measures text with it for SVG too.
fn register_font() -> anyhow::Result<()> {
    let bytes = std::fs::read(FONT_FILE).with_context(|| {
        format!("reading {FONT_FILE}: install Debian's fonts-dejavu-core (scripts/study.sh does)")
    })?;
    // Plotters keeps fonts for the life of the process.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{FONT_FILE} is not a font plotters can read"))
}

/// The log-scale axis of matrix sizes, labelled at the measured sizes only: a log axis's own
/// ticks crowd (900 and 1000 printed over each other).
fn sizes_axis(sizes: &[usize]) -> WithKeyPoints<LogCoord<f64>> {
    let (first, last) = (sizes[0] as f64, *sizes.last().expect("not empty") as f64);
    (first * 0.8..last * 1.25)
        .log_scale()
        .with_key_points(sizes.iter().map(|&n| n as f64).collect())
}

/// A log-scale value axis over `range`, labelled on the 1-2-5 sequence (…, 0.5, 1, 2, 5, 10, …),
/// or on every 1..9 × 10^k when the range is too narrow for three of those: plotters' own log
/// ticks fall on powers of ten only, so a range within one decade got a single label.
fn values_axis(range: std::ops::Range<f64>) -> WithKeyPoints<LogCoord<f64>> {
    let ticks = log_ticks(range.start, range.end);
    range.log_scale().with_key_points(ticks)
}

/// The tick values in `low..=high` (both positive) described at [`values_axis`].
fn log_ticks(low: f64, high: f64) -> Vec<f64> {
    let in_range = |steps: &[f64]| -> Vec<f64> {
        let (first, last) = (low.log10().floor() as i32, high.log10().ceil() as i32);
        (first..=last)
            .flat_map(|k| steps.iter().map(move |s| s * 10f64.powi(k)))
            .filter(|v| (low..=high).contains(v))
            .collect()
    };
    let coarse = in_range(&[1.0, 2.0, 5.0]);
    if coarse.len() >= 3 {
        coarse
    } else {
        in_range(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0])
    }
}

/// Draws every figure into `out` (`<name>.svg` and `<name>.png`).
pub fn draw(stats: &Stats, out: &Path) -> anyhow::Result<()> {
    static FONT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    FONT.get_or_init(|| register_font().map_err(|e| format!("{e:#}")))
        .clone()
        .map_err(anyhow::Error::msg)?;
    if stats.summaries.is_empty() {
        return Ok(());
    }
    macro_rules! both {
        ($name:expr, $draw:expr) => {{
            let svg = out.join(format!("{}.svg", $name));
            let area = SVGBackend::new(&svg, SIZE).into_drawing_area();
            $draw(&area).with_context(|| format!("drawing {}", svg.display()))?;
            area.present().map_err(|e| anyhow!("{e:?}"))?;
            let png = out.join(format!("{}.png", $name));
            let area = BitMapBackend::new(&png, SIZE).into_drawing_area();
            $draw(&area).with_context(|| format!("drawing {}", png.display()))?;
            area.present().map_err(|e| anyhow!("{e:?}"))?;
        }};
    }
    both!("time-linear", |area| time_chart(area, stats, false));
    both!("time-log", |area| time_chart(area, stats, true));
    both!("memory", |area| memory_chart(area, stats));
    both!("ratio", |area| ratio_chart(area, stats));
    Ok(())
}

fn plot_error<E: std::fmt::Debug>(error: E) -> anyhow::Error {
    anyhow!("{error:?}")
}

/// Mean time against n for every system; crosses at the top for runs stopped at the budget.
fn time_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    stats: &Stats,
    log: bool,
) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(plot_error)?;
    let sizes = stats.sizes();
    let means: Vec<f64> = stats
        .summaries
        .iter()
        .map(|s| s.mean)
        .filter(|m| m.is_finite())
        .collect();
    let (low, high) = means
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &m| (lo.min(m), hi.max(m)));
    let (low, high) = if means.is_empty() {
        (0.1, 1.0)
    } else {
        (low, high)
    };
    let last = *sizes.last().expect("not empty") as f64;
    let caption = format!(
        "Time per request (client, mean of the runs){}",
        if log { ", log-log" } else { "" }
    );
    let mut builder = ChartBuilder::on(area);
    builder
        .caption(caption, ("sans-serif", 24))
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80);
    let systems = stats.systems();
    // The two charts differ only in their axes; the series are drawn by one closure.
    macro_rules! series {
        ($chart:expr, $top:expr) => {{
            let chart = &mut $chart;
            chart
                .configure_mesh()
                .x_desc("n (matrix size)")
                .y_desc("ms per request")
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| crate::report::ms(*y))
                .label_style(("sans-serif", 15))
                .draw()
                .map_err(plot_error)?;
            for system in &systems {
                let c = color(system);
                let points: Vec<(f64, f64)> = sizes
                    .iter()
                    .filter_map(|&n| stats.summary(system.id, n))
                    .filter(|s| s.mean.is_finite())
                    .map(|s| (s.n as f64, s.mean))
                    .collect();
                chart
                    .draw_series(LineSeries::new(points.clone(), c.stroke_width(2)))
                    .map_err(plot_error)?
                    .label(system.id)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(3))
                    });
                chart
                    .draw_series(points.iter().map(|&p| Circle::new(p, 4, c.filled())))
                    .map_err(plot_error)?;
                let stopped: Vec<(f64, f64)> = sizes
                    .iter()
                    .filter_map(|&n| stats.summary(system.id, n))
                    .filter(|s| s.timeouts > 0)
                    .map(|s| (s.n as f64, $top))
                    .collect();
                chart
                    .draw_series(stopped.iter().map(|&p| Cross::new(p, 7, c.stroke_width(3))))
                    .map_err(plot_error)?;
            }
            legend(chart, SeriesLabelPosition::UpperLeft, 15)?;
        }};
    }
    if log {
        let top = high * 3.0;
        let mut chart = builder
            .build_cartesian_2d(sizes_axis(&sizes), values_axis(low * 0.5..high * 4.0))
            .map_err(plot_error)?;
        series!(chart, top);
    } else {
        let top = high * 1.08;
        let mut chart = builder
            .build_cartesian_2d(0.0..last * 1.05, 0.0..high * 1.12)
            .map_err(plot_error)?;
        series!(chart, top);
    }
    area.draw(&Text::new(
        "× at the top: a run stopped at the budget (timeout)",
        (
            area.dim_in_pixel().0 as i32 - 420,
            area.dim_in_pixel().1 as i32 - 22,
        ),
        ("sans-serif", 14),
    ))
    .map_err(plot_error)?;
    Ok(())
}

/// Peak resident memory, one panel of horizontal bars per size.
fn memory_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    stats: &Stats,
) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(plot_error)?;
    let area = area
        .titled(
            "Peak resident memory of the server (process tree), MB",
            ("sans-serif", 24),
        )
        .map_err(plot_error)?;
    let sizes = stats.sizes();
    let systems = stats.systems();
    let columns = sizes.len().min(3);
    let panels = area.split_evenly((sizes.len().div_ceil(columns), columns));
    for (panel, &n) in panels.iter().zip(&sizes) {
        let bars: Vec<(usize, &System, f64)> = systems
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let kb = stats.summary(s.id, n)?.peak_rss_kb?;
                Some((i, *s, kb as f64 / 1024.0))
            })
            .collect();
        let most = bars.iter().map(|b| b.2).fold(1.0, f64::max);
        let mut chart = ChartBuilder::on(panel)
            .caption(format!("n = {n}"), ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(28)
            .y_label_area_size(110)
            .build_cartesian_2d(0.0..most * 1.15, 0.0..systems.len() as f64)
            .map_err(plot_error)?;
        let names: Vec<&str> = systems.iter().map(|s| s.id).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(systems.len() * 2 + 1)
            .y_label_formatter(&|y| {
                let slot = y - 0.5;
                let index = slot.round();
                if (slot - index).abs() < 1e-6 && index >= 0.0 {
                    names
                        .get(names.len() - 1 - index as usize)
                        .map_or(String::new(), |s| (*s).to_string())
                } else {
                    String::new()
                }
            })
            .label_style(("sans-serif", 13))
            .draw()
            .map_err(plot_error)?;
        chart
            .draw_series(bars.iter().map(|&(i, system, mb)| {
                let row = (systems.len() - 1 - i) as f64;
                Rectangle::new(
                    [(0.0, row + 0.15), (mb, row + 0.85)],
                    color(system).filled(),
                )
            }))
            .map_err(plot_error)?;
        chart
            .draw_series(bars.iter().map(|&(i, _, mb)| {
                let row = (systems.len() - 1 - i) as f64;
                Text::new(format!("{mb:.0}"), (mb, row + 0.7), ("sans-serif", 12))
            }))
            .map_err(plot_error)?;
    }
    Ok(())
}

/// A ratio series: its label, color, whether dashed (tessera-fast) and its points.
type RatioLine = (String, RGBColor, bool, Vec<(f64, f64)>);

/// Each Tessera row's mean time over each peer's, against n.
fn ratio_chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    stats: &Stats,
) -> anyhow::Result<()> {
    area.fill(&WHITE).map_err(plot_error)?;
    let sizes = stats.sizes();
    let systems = stats.systems();
    let mut lines: Vec<RatioLine> = Vec::new();
    for tessera in systems.iter().filter(|s| s.is_tessera()) {
        for peer in systems.iter().filter(|s| !s.is_tessera()) {
            let points: Vec<(f64, f64)> = sizes
                .iter()
                .filter_map(|&n| {
                    let (a, b) = (stats.summary(tessera.id, n)?, stats.summary(peer.id, n)?);
                    let ratio = a.mean / b.mean;
                    ratio.is_finite().then_some((n as f64, ratio))
                })
                .collect();
            if !points.is_empty() {
                let dashed = tessera.id != "tessera";
                lines.push((
                    format!("{} / {}", tessera.id, peer.id),
                    color(peer),
                    dashed,
                    points,
                ));
            }
        }
    }
    let ratios: Vec<f64> = lines.iter().flat_map(|l| l.3.iter().map(|p| p.1)).collect();
    let low = ratios.iter().copied().fold(1.0, f64::min);
    let high = ratios.iter().copied().fold(1.0, f64::max);
    let (first, last) = (sizes[0] as f64, *sizes.last().expect("not empty") as f64);
    let mut chart = ChartBuilder::on(area)
        .caption(
            "Tessera's time divided by each peer's (below 1: Tessera is faster)",
            ("sans-serif", 22),
        )
        .margin(20)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(sizes_axis(&sizes), values_axis(low * 0.5..high * 2.0))
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("n (matrix size)")
        .y_desc("time ratio (log)")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(plot_error)?;
    chart
        .draw_series(LineSeries::new(
            vec![(first * 0.8, 1.0), (last * 1.25, 1.0)],
            BLACK.stroke_width(1),
        ))
        .map_err(plot_error)?;
    for (label, c, dashed, points) in lines {
        let style = c.stroke_width(if dashed { 1 } else { 2 });
        chart
            .draw_series(LineSeries::new(points.clone(), style))
            .map_err(plot_error)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        if dashed {
            chart
                .draw_series(
                    points
                        .iter()
                        .map(|&p| TriangleMarker::new(p, 5, c.filled())),
                )
                .map_err(plot_error)?;
        } else {
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 4, c.filled())))
                .map_err(plot_error)?;
        }
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight, 13)
}

/// The chart's legend, boxed, at `position`.
fn legend<'a, DB, CT>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    font_size: u32,
) -> anyhow::Result<()>
where
    DB: DrawingBackend + 'a,
    CT: CoordTranslate,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", font_size))
        .draw()
        .map_err(plot_error)
}

#[cfg(test)]
mod tests {
    use super::log_ticks;

    fn close(a: &[f64], b: &[f64]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-9 * y)
    }

    #[test]
    fn a_wide_range_is_labelled_one_two_five() {
        let ticks = log_ticks(0.25, 12.0);
        assert!(close(&ticks, &[0.5, 1.0, 2.0, 5.0, 10.0]), "{ticks:?}");
    }

    #[test]
    fn a_range_within_a_decade_still_gets_several_labels() {
        // Means near 0.32 ms left the log chart with the single label 1.00.
        let ticks = log_ticks(0.16, 1.3);
        assert!(close(&ticks, &[0.2, 0.5, 1.0]), "{ticks:?}");
        let ticks = log_ticks(0.25, 0.95);
        assert!(
            close(&ticks, &[0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]),
            "{ticks:?}"
        );
    }
}
