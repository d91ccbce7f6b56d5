//! Latency plots of a replay (`vitrine-bench plot`): one SVG with the latency of each second
//! of the run (p50, p99, max), the answers and failures per second below it, and the latency
//! distribution of the whole run on the log "nines" scale.
//!
//! The plot is drawn from the JSON form of the [`Report`], so that a report in memory (a
//! replay run by a test or a program) and the same report saved by `vitrine replay --json`
//! (`bench/compare` keeps them) give the same picture. Drawing is `plotters`' (SVG backend
//! only); this module only chooses what to show.

use std::io::Read;
use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Deserialize;

use vitrine::replay::report::{ErrorCounts, Quantile, Report, SecondLatency, SCHEMA_VERSION};

use crate::BenchError;

/// Largest report `vitrine-bench plot` reads (a day at one-second resolution is about 10 MB).
const MAX_REPORT_BYTES: u64 = 64 << 20;
/// Size of the picture, pixels.
const SIZE: (u32, u32) = (1100, 1180);
/// Points a time series is drawn with at most: longer runs are drawn per slice of several
/// seconds, more points than pixels would only make the file bigger.
const MAX_POINTS: usize = 1000;
/// Series of at most this many points get a dot on each point, so that a second standing
/// alone (between two seconds without answers) is seen.
const DOTS_UP_TO: usize = 120;
const FONT: &str = "sans-serif";

/// The series of a plot. Colours are fixed so that plots of different runs compare at a
/// glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Series {
    /// Median latency of each second.
    P50,
    /// 99th percentile latency of each second.
    P99,
    /// Largest latency of each second.
    Max,
    /// Answers completed in each second.
    Answers,
    /// Failed requests in each second (drawn only when there are any).
    Failures,
    /// Latency distribution of the whole run.
    Latency,
    /// Service time distribution of the whole run (open loop only: in closed loop it is the
    /// latency).
    ServiceTime,
}

impl Series {
    /// Every series.
    pub const ALL: [Series; 7] = [
        Series::P50,
        Series::P99,
        Series::Max,
        Series::Answers,
        Series::Failures,
        Series::Latency,
        Series::ServiceTime,
    ];

    /// The legend text (the distributions add their max to it).
    pub fn label(self) -> &'static str {
        match self {
            Series::P50 => "p50",
            Series::P99 => "p99",
            Series::Max => "max",
            Series::Answers => "answers/s",
            Series::Failures => "failures/s",
            Series::Latency => "latency",
            Series::ServiceTime => "service time",
        }
    }

    /// The stroke colour as SVG writes it, `#RRGGBB`.
    pub fn svg_colour(self) -> String {
        let RGBColor(r, g, b) = self.colour();
        format!("#{r:02X}{g:02X}{b:02X}")
    }

    fn colour(self) -> RGBColor {
        match self {
            Series::P50 => RGBColor(0x1F, 0x77, 0xB4),
            Series::P99 => RGBColor(0xFF, 0x7F, 0x0E),
            Series::Max => RGBColor(0xD6, 0x27, 0x28),
            Series::Answers => RGBColor(0x2C, 0xA0, 0x2C),
            Series::Failures => RGBColor(0x94, 0x67, 0xBD),
            Series::Latency => RGBColor(0x08, 0x30, 0x6B),
            Series::ServiceTime => RGBColor(0x7F, 0x7F, 0x7F),
        }
    }
}

/// The fields of a JSON report a plot needs.
#[derive(Debug, Deserialize)]
struct Run {
    schema_version: u32,
    mode: String,
    target: String,
    concurrency: u64,
    speedup: Option<f64>,
    rate: Option<f64>,
    requests: u64,
    responses: u64,
    errors: ErrorCounts,
    duration_s: f64,
    throughput_per_second: Vec<u64>,
    errors_per_second: Vec<u64>,
    // Absent from reports written before they existed; `Run::check` says so.
    started_at: Option<String>,
    latency_per_second_ms: Option<Vec<Option<SecondLatency>>>,
    latency_distribution_ms: Option<Vec<Quantile>>,
    service_time_distribution_ms: Option<Vec<Quantile>>,
}

impl Run {
    fn of(report: &Report) -> Run {
        let json = serde_json::to_value(report).expect("a report serialises");
        serde_json::from_value(json).expect("a report has the fields of a plot")
    }

    /// Refuses a report this module cannot draw, saying why.
    fn check(&self) -> Result<(), String> {
        if self.schema_version != SCHEMA_VERSION {
            return Err(format!(
                "report schema_version {} is not the version {SCHEMA_VERSION} this vitrine reads",
                self.schema_version
            ));
        }
        if self.latency_per_second_ms.is_none() || self.latency_distribution_ms.is_none() {
            return Err(
                "the report has no latency_per_second_ms or latency_distribution_ms: \
                 it was written by an older vitrine; replay again with this one to plot it"
                    .into(),
            );
        }
        Ok(())
    }

    fn open(&self) -> bool {
        self.mode != "closed"
    }
}

/// Draws the plot of a report as an SVG document.
pub fn svg(report: &Report) -> Result<String, BenchError> {
    draw(&Run::of(report)).map_err(|e| BenchError::Plot(e.to_string()))
}

/// Draws the plot of a report into `path`.
pub fn write(report: &Report, path: &Path) -> Result<(), BenchError> {
    save(&svg(report)?, path)
}

/// `vitrine-bench plot REPORT -o FILE`: draws the plot of a report saved by
/// `vitrine replay --json`.
pub fn from_json(report: &Path, output: &Path) -> Result<(), BenchError> {
    let invalid = |reason: String| BenchError::Report {
        path: report.to_owned(),
        reason,
    };
    let file = std::fs::File::open(report).map_err(|source| BenchError::Open {
        path: report.to_owned(),
        source,
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_REPORT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| BenchError::Read {
            path: report.to_owned(),
            line: 0,
            source,
        })?;
    if bytes.len() as u64 > MAX_REPORT_BYTES {
        return Err(invalid(format!(
            "larger than {} MiB, not a replay report",
            MAX_REPORT_BYTES >> 20
        )));
    }
    let mut de = serde_json::Deserializer::from_slice(&bytes);
    let run: Run = serde_path_to_error::deserialize(&mut de)
        .map_err(|e| invalid(format!("not a `vitrine replay --json` report: {e}")))?;
    run.check().map_err(invalid)?;
    let svg = draw(&run).map_err(|e| BenchError::Plot(e.to_string()))?;
    save(&svg, output)
}

fn save(svg: &str, path: &Path) -> Result<(), BenchError> {
    std::fs::write(path, svg).map_err(|source| BenchError::Write {
        path: path.to_owned(),
        source,
    })
}

type Drawn = Result<(), Box<dyn std::error::Error>>;

fn draw(run: &Run) -> Result<String, Box<dyn std::error::Error>> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE)?;
        let (head, body) = root.split_vertically(74);
        title(&head, run)?;
        let (over_time, rest) = body.split_vertically(450);
        let (per_second, spectrum) = rest.split_vertically(230);
        let series = TimeSeries::of(run);
        latency_over_time(&over_time, run, &series)?;
        answers_over_time(&per_second, &series)?;
        distribution(&spectrum, run)?;
        root.present()?;
    }
    Ok(svg)
}

fn title(area: &DrawingArea<SVGBackend<'_>, Shift>, run: &Run) -> Drawn {
    let mode = match (run.mode.as_str(), run.rate, run.speedup) {
        ("rate", Some(r), _) => format!("fixed rate {r} req/s"),
        ("speedup", _, Some(f)) => format!("recorded timing x{f}"),
        ("closed", _, _) => "closed loop, as fast as possible".to_owned(),
        (other, _, _) => other.to_owned(),
    };
    let line1 = format!("vitrine replay: {mode}, {}", text(&run.target));
    let when = run.started_at.as_deref().map_or_else(
        || "start unknown".to_owned(),
        |s| text(&s.replacen('T', " ", 1).replacen('Z', " UTC", 1)),
    );
    let line2 = format!(
        "{when}  ·  {} requests, {} answered, {} failed  ·  {} connections  ·  {:.1} s",
        thousands(run.requests),
        thousands(run.responses),
        thousands(run.errors.total()),
        run.concurrency,
        run.duration_s
    );
    let big = TextStyle::from((FONT, 24).into_font().style(FontStyle::Bold));
    let small = TextStyle::from((FONT, 17).into_font());
    area.draw_text(&line1, &big, (20, 12))?;
    area.draw_text(&line2, &small, (20, 44))?;
    Ok(())
}

/// The per-second series, sliced to at most [`MAX_POINTS`] points.
struct TimeSeries {
    /// Seconds per point.
    slice: usize,
    /// Seconds of the run.
    seconds: usize,
    /// (centre of the slice in seconds, latency), `None` where no answer completed.
    latency: Vec<(f64, Option<SecondLatency>)>,
    answers: Vec<(f64, f64)>,
    failures: Vec<(f64, f64)>,
}

impl TimeSeries {
    fn of(run: &Run) -> TimeSeries {
        let empty = Vec::new();
        let lat = run.latency_per_second_ms.as_ref().unwrap_or(&empty);
        let seconds = run
            .throughput_per_second
            .len()
            .max(run.errors_per_second.len())
            .max(lat.len());
        let slice = seconds.div_ceil(MAX_POINTS).max(1);
        let at = |i: usize| -> u64 { run.throughput_per_second.get(i).copied().unwrap_or(0) };
        let failed = |i: usize| -> u64 { run.errors_per_second.get(i).copied().unwrap_or(0) };
        let mut s = TimeSeries {
            slice,
            seconds,
            latency: Vec::new(),
            answers: Vec::new(),
            failures: Vec::new(),
        };
        for start in (0..seconds).step_by(slice) {
            let end = (start + slice).min(seconds);
            let x = (start + end) as f64 / 2.0;
            let n = (end - start) as f64;
            s.answers
                .push((x, (start..end).map(at).sum::<u64>() as f64 / n));
            s.failures
                .push((x, (start..end).map(failed).sum::<u64>() as f64 / n));
            // A slice shows the mean of its medians and the highest p99 and max, so that no
            // spike is hidden by the slicing.
            let present: Vec<SecondLatency> = (start..end)
                .filter_map(|i| lat.get(i).copied().flatten())
                .collect();
            let merged = (!present.is_empty()).then(|| SecondLatency {
                p50: present.iter().map(|p| p.p50).sum::<f64>() / present.len() as f64,
                p99: present.iter().map(|p| p.p99).fold(0.0, f64::max),
                max: present.iter().map(|p| p.max).fold(0.0, f64::max),
            });
            s.latency.push((x, merged));
        }
        s
    }

    fn x_desc(&self) -> String {
        if self.slice == 1 {
            "seconds into the run".to_owned()
        } else {
            format!(
                "seconds into the run (one point per {} s: mean p50, highest p99 and max)",
                self.slice
            )
        }
    }
}

fn latency_over_time(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    run: &Run,
    s: &TimeSeries,
) -> Drawn {
    let values = s
        .latency
        .iter()
        .filter_map(|(_, l)| *l)
        .flat_map(|l| [l.p50, l.p99, l.max]);
    let (lo, hi) = log_range(values);
    let caption = if run.open() {
        "Latency per second, from the intended send time (p50, p99, max)"
    } else {
        "Latency per second (closed loop: service time; p50, p99, max)"
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 19))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..s.seconds.max(1) as f64, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc(s.x_desc())
        .y_desc("latency, ms (log scale)")
        .x_label_formatter(&|x| number(*x))
        .y_label_formatter(&|y| number(*y))
        .draw()?;
    let mut labelled = false;
    for (series, pick) in [
        (
            Series::P50,
            (|l: &SecondLatency| l.p50) as fn(&SecondLatency) -> f64,
        ),
        (Series::P99, |l| l.p99),
        (Series::Max, |l| l.max),
    ] {
        let points: Vec<Option<(f64, f64)>> = s
            .latency
            .iter()
            .map(|(x, l)| l.as_ref().map(|l| (*x, pick(l).clamp(lo, hi))))
            .collect();
        labelled |= line(&mut chart, series, series.label().to_owned(), &points)?;
    }
    if labelled {
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    } else {
        no_data(area, "no request was answered")?;
    }
    Ok(())
}

fn answers_over_time(area: &DrawingArea<SVGBackend<'_>, Shift>, s: &TimeSeries) -> Drawn {
    let top = s
        .answers
        .iter()
        .chain(&s.failures)
        .map(|(_, v)| *v)
        .fold(0.0, f64::max);
    let mut chart = ChartBuilder::on(area)
        .caption("Answers and failures per second", (FONT, 19))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..s.seconds.max(1) as f64, 0f64..(top * 1.5).max(1.0))?;
    chart
        .configure_mesh()
        .x_desc(s.x_desc())
        .y_desc("per second")
        .x_label_formatter(&|x| number(*x))
        .y_label_formatter(&|y| number(*y))
        .draw()?;
    let some = |v: &[(f64, f64)]| v.iter().map(|p| Some(*p)).collect::<Vec<_>>();
    let mut labelled = line(
        &mut chart,
        Series::Answers,
        Series::Answers.label().to_owned(),
        &some(&s.answers),
    )?;
    if s.failures.iter().any(|(_, v)| *v > 0.0) {
        labelled |= line(
            &mut chart,
            Series::Failures,
            Series::Failures.label().to_owned(),
            &some(&s.failures),
        )?;
    }
    if labelled {
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    }
    Ok(())
}

fn distribution(area: &DrawingArea<SVGBackend<'_>, Shift>, run: &Run) -> Drawn {
    let empty = Vec::new();
    let latency = run.latency_distribution_ms.as_ref().unwrap_or(&empty);
    let service = match &run.service_time_distribution_ms {
        // In closed loop latency is the service time: one curve says it all.
        Some(s) if run.open() => s,
        _ => &empty,
    };
    let (lo, hi) = log_range(latency.iter().chain(service).map(|q| q.ms));
    // x is the number of nines: 0 for 0 %, 1 for 90 %, 2 for 99 %...
    let nines = |q: &Quantile| -(1.0 - q.percentile / 100.0).log10();
    let curve = |qs: &[Quantile]| -> Vec<Option<(f64, f64)>> {
        let mut last = 0.0;
        qs.iter()
            .map(|q| {
                // 100 % is one step past the last finite point.
                let x = if q.percentile < 100.0 {
                    nines(q).max(0.0)
                } else {
                    last + 0.1
                };
                last = x;
                Some((x, q.ms.clamp(lo, hi)))
            })
            .collect()
    };
    let (latency_pts, service_pts) = (curve(latency), curve(service));
    let x_end = latency_pts
        .iter()
        .chain(&service_pts)
        .flatten()
        .map(|p| p.0)
        .fold(1.0, f64::max);
    let caption = if run.open() {
        "Latency distribution of the whole run (latency from the intended send time)"
    } else {
        "Latency distribution of the whole run"
    };
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 19))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_end, (lo..hi).log_scale())?;
    chart
        .configure_mesh()
        .x_desc("percentile (log scale of nines)")
        .y_desc("ms (log scale)")
        .x_labels(x_end.ceil() as usize + 1)
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| number(*y))
        .draw()?;
    let mut labelled = false;
    for (series, qs, pts) in [
        (Series::Latency, latency, &latency_pts),
        (Series::ServiceTime, service, &service_pts),
    ] {
        if let Some(max) = qs.last() {
            let label = format!("{} (max {} ms)", series.label(), number(max.ms));
            labelled |= line(&mut chart, series, label, pts)?;
        }
    }
    if labelled {
        legend(&mut chart, SeriesLabelPosition::UpperLeft)?;
    } else {
        no_data(area, "no request was answered")?;
    }
    Ok(())
}

type Chart<'a, 'b, Y> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<plotters::coord::types::RangedCoordf64, Y>>;

/// Draws a series as lines between consecutive present points (a `None` breaks the line), a
/// dot on each point of a short series, and its legend entry; false if it had no point.
fn line<Y>(
    chart: &mut Chart<'_, '_, Y>,
    series: Series,
    label: String,
    points: &[Option<(f64, f64)>],
) -> Result<bool, Box<dyn std::error::Error>>
where
    Y: Ranged<ValueType = f64>,
{
    let colour = series.colour();
    let style = colour.stroke_width(2);
    let mut labelled = false;
    for run in points.split(Option::is_none) {
        let run: Vec<(f64, f64)> = run.iter().flatten().copied().collect();
        if run.is_empty() {
            continue;
        }
        let drawn = chart.draw_series(LineSeries::new(run, style))?;
        if !labelled {
            drawn
                .label(label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
            labelled = true;
        }
    }
    if points.len() <= DOTS_UP_TO {
        chart.draw_series(
            points
                .iter()
                .flatten()
                .map(|p| Circle::new(*p, 3, colour.filled())),
        )?;
    }
    Ok(labelled)
}

fn legend<'a, 'b: 'a, Y>(chart: &mut Chart<'a, 'b, Y>, position: SeriesLabelPosition) -> Drawn
where
    Y: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

fn no_data(area: &DrawingArea<SVGBackend<'_>, Shift>, why: &str) -> Drawn {
    let (w, h) = area.dim_in_pixel();
    let style =
        TextStyle::from((FONT, 18).into_font()).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ));
    area.draw_text(why, &style, (w as i32 / 2, h as i32 / 2))?;
    Ok(())
}

/// Share of the height of a log chart left above the data for the legend (upper left).
const HEADROOM: f64 = 0.3;

/// A log axis range covering `values` (milliseconds): from the power of ten below the
/// smallest (so that the axis has a labelled decade), at least one decade, with [`HEADROOM`]
/// above the largest.
fn log_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, 0f64);
    for v in values.filter(|v| v.is_finite() && *v > 0.0) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if hi == 0.0 {
        return (0.1, 10.0);
    }
    // The histograms resolve one microsecond.
    let lo = 10f64.powf(lo.max(0.001).log10().floor()).log10();
    let hi = (hi * 1.1).log10().max(lo + 1.0);
    let top = hi + (hi - lo) * HEADROOM / (1.0 - HEADROOM);
    (10f64.powf(lo), 10f64.powf(top))
}

/// The percentile at `x` nines: 0 -> `0%`, 1 -> `90%`, 3 -> `99.9%`, 2.5 -> `99.684%`.
fn percentile_label(x: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-x));
    let decimals = x.ceil().max(0.0) as usize;
    let s = format!("{p:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s}%")
}

/// A tick label: no trailing zeros, three significant digits below 100.
fn number(v: f64) -> String {
    let s = if v.abs() >= 100.0 || v == 0.0 {
        format!("{v:.0}")
    } else {
        let decimals = (2 - v.abs().log10().floor() as i32).max(0) as usize;
        format!("{v:.decimals$}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Text from a report file, made fit for SVG: control characters (not allowed in XML) are
/// replaced, length is bounded.
fn text(s: &str) -> String {
    s.chars()
        .take(200)
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report as `--json` writes it, with the per-second latency given.
    fn run(latency: &[Option<(f64, f64, f64)>], answers: &[u64]) -> Run {
        let per_second: Vec<serde_json::Value> = latency
            .iter()
            .map(|l| match l {
                Some((p50, p99, max)) => serde_json::json!({"p50": p50, "p99": p99, "max": max}),
                None => serde_json::Value::Null,
            })
            .collect();
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "mode": "rate", "rate": 100.0, "speedup": null,
            "target": "http://127.0.0.1:9", "concurrency": 4, "requests": 10, "responses": 9,
            "errors": {"connect": 0, "timeout": 1, "io": 0, "http": 0}, "duration_s": 5.0,
            "started_at": "2026-11-21T07:31:02Z",
            "throughput_per_second": answers,
            "errors_per_second": vec![0; answers.len()],
            "latency_per_second_ms": per_second,
            "latency_distribution_ms": [{"percentile": 0.0, "ms": 1.0},
                                        {"percentile": 90.0, "ms": 3.0},
                                        {"percentile": 100.0, "ms": 9.0}],
            "service_time_distribution_ms": [{"percentile": 0.0, "ms": 0.5},
                                             {"percentile": 100.0, "ms": 2.0}],
            "some_field_a_plot_ignores": true
        }))
        .unwrap()
    }

    /// The polylines drawn in `series`' colour, as their numbers of points.
    fn polylines(svg: &str, series: Series) -> Vec<usize> {
        let stroke = format!("stroke=\"{}\"", series.svg_colour());
        svg.lines()
            .filter(|l| l.starts_with("<polyline") && l.contains(&stroke))
            .map(|l| {
                let points = l.split("points=\"").nth(1).unwrap();
                points.split('"').next().unwrap().split_whitespace().count()
            })
            .collect()
    }

    #[test]
    fn a_second_without_answers_breaks_the_latency_lines() {
        let s = Some((1.0, 2.0, 4.0));
        let r = run(&[s, s, None, s, s, s], &[5, 5, 0, 5, 5, 5]);
        let svg = draw(&r).unwrap();
        // Two runs of seconds, then the legend's sample line.
        for series in [Series::P50, Series::P99, Series::Max] {
            assert_eq!(polylines(&svg, series), [2, 3, 2], "{series:?}");
        }
        // Answers have no gap: 0 is a value.
        assert_eq!(polylines(&svg, Series::Answers), [6, 2]);
        assert!(polylines(&svg, Series::Failures).is_empty());
        assert_eq!(polylines(&svg, Series::Latency), [3, 2]);
        assert_eq!(polylines(&svg, Series::ServiceTime), [2, 2]);
        for text in [
            "vitrine replay: fixed rate 100 req/s, http://127.0.0.1:9",
            "2026-11-21 07:31:02 UTC",
            "10 requests, 9 answered, 1 failed",
            "latency (max 9 ms)",
            "service time (max 2 ms)",
            ">\n90%\n<",
        ] {
            assert!(svg.contains(text), "{text} in\n{svg}");
        }
    }

    #[test]
    fn long_runs_are_sliced_without_hiding_a_spike() {
        let mut latency = vec![Some((1.0, 2.0, 3.0)); 2500];
        latency[1234] = Some((1.0, 2.0, 900.0));
        let s = TimeSeries::of(&run(&latency, &vec![7; 2500]));
        assert_eq!((s.slice, s.seconds, s.latency.len()), (3, 2500, 834));
        // Second 1234 is in the slice of seconds 1233..1236.
        let (x, spike) = s.latency[411];
        assert_eq!(x, 1234.5);
        assert_eq!(spike.unwrap().max, 900.0);
        assert_eq!(s.latency[410].1.unwrap().max, 3.0);
        // The last slice is seconds 2499..2500 alone.
        assert_eq!(s.latency[833].0, 2499.5);
        assert!(s.answers.iter().all(|&(_, a)| a == 7.0));
        assert!(s.x_desc().contains("one point per 3 s"));
    }

    #[test]
    fn an_older_report_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let old = dir.path().join("old.json");
        std::fs::write(
            &old,
            r#"{"schema_version": 1, "mode": "closed", "rate": null, "speedup": null,
                "target": "http://x", "concurrency": 1, "requests": 1, "responses": 1,
                "errors": {"connect": 0, "timeout": 0, "io": 0, "http": 0}, "duration_s": 1.0,
                "throughput_per_second": [1], "errors_per_second": [0]}"#,
        )
        .unwrap();
        let out = dir.path().join("plot.svg");
        let e = from_json(&old, &out).unwrap_err().to_string();
        assert!(e.contains("older vitrine"), "{e}");
        std::fs::write(&old, r#"{"schema_version": 1, "mode": 3}"#).unwrap();
        let e = from_json(&old, &out).unwrap_err().to_string();
        assert!(e.contains("mode") && e.contains("--json"), "{e}");
        assert!(!out.exists());
    }

    #[test]
    fn labels() {
        assert_eq!(percentile_label(0.0), "0%");
        assert_eq!(percentile_label(1.0), "90%");
        assert_eq!(percentile_label(3.0), "99.9%");
        assert_eq!(percentile_label(2.0), "99%");
        assert_eq!(percentile_label(2.5), "99.684%");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(number(1500.0), "1500");
        assert_eq!(number(2.0), "2");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(999), "999");
        assert_eq!(text("a\u{1}b"), "a\u{FFFD}b");
        let (lo, hi) = log_range([0.34, 27.0].into_iter());
        assert_eq!(lo, 0.1);
        // The data (up to 27 * 1.1) fill the lower 70 % of the log height.
        let share = (27.0f64 * 1.1 / lo).log10() / (hi / lo).log10();
        assert!((share - (1.0 - HEADROOM)).abs() < 1e-9, "{hi} {share}");
        assert_eq!(log_range(std::iter::empty()), (0.1, 10.0));
    }
}
