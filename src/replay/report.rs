//! Measurements of a replay and the report made of them: HDR histograms (constant memory,
//! no sample dropped), status and error counts, per-second throughput and latency, schedule
//! lag, and the human and JSON renderings.
//!
//! Three times are kept per request, after wrk2: the *intended* send time (open loop only),
//! the *actual* send time (a worker picked the request up) and the completion time. Latency
//! from the intended time is what a user of the site would have seen under that load, whether
//! the delay came from the server or from waiting for a free connection; service time (from
//! the actual send) is what closed-loop tools report.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::access_log::ReadSummary;

/// Version of the JSON layout; bumped on incompatible changes only: fields added since
/// version 1 (`started_at`, `latency_per_second_ms`, `latency_distribution_ms`,
/// `service_time_distribution_ms`) leave it at 1, and a reader tells an older report by their
/// absence.
pub const SCHEMA_VERSION: u32 = 1;

/// Largest value a histogram tracks exactly, in microseconds (1 hour); larger values are
/// recorded as this value, which keeps memory fixed (about 180 KB per histogram).
const HIST_MAX_US: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIST_MAX_US, 3).expect("valid histogram bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1)
}

/// Kinds of failed requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The TCP connection or the HTTP handshake could not be made.
    Connect,
    /// No complete answer within `--timeout`.
    Timeout,
    /// The connection failed while sending or receiving.
    Io,
    /// The answer was not valid HTTP.
    Http,
}

/// Failed requests by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCounts {
    /// See [`ErrorKind::Connect`].
    pub connect: u64,
    /// See [`ErrorKind::Timeout`].
    pub timeout: u64,
    /// See [`ErrorKind::Io`].
    pub io: u64,
    /// See [`ErrorKind::Http`].
    pub http: u64,
}

impl ErrorCounts {
    /// All failed requests.
    pub fn total(&self) -> u64 {
        self.connect + self.timeout + self.io + self.http
    }

    fn add(&mut self, kind: ErrorKind) {
        match kind {
            ErrorKind::Connect => self.connect += 1,
            ErrorKind::Timeout => self.timeout += 1,
            ErrorKind::Io => self.io += 1,
            ErrorKind::Http => self.http += 1,
        }
    }
}

/// Counters read by the progress display while the run goes on.
#[derive(Debug, Default)]
pub struct Live {
    /// Requests handed to the workers.
    pub dispatched: AtomicU64,
    /// Requests answered.
    pub answered: AtomicU64,
    /// Requests failed.
    pub failed: AtomicU64,
    /// Largest lateness of the dispatcher so far, in microseconds.
    pub max_generator_lag_us: AtomicU64,
}

/// The three instants of one request.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// When the schedule wanted it sent (open loop).
    pub intended: Option<Instant>,
    /// When a worker started sending it.
    pub sent: Instant,
    /// When the answer was complete (or the request failed).
    pub done: Instant,
}

#[derive(Debug)]
struct Tally {
    start: Instant,
    latency: Histogram<u64>,
    service: Histogram<u64>,
    send_lag: Histogram<u64>,
    late: u64,
    status: BTreeMap<u16, u64>,
    bytes: u64,
    errors: ErrorCounts,
    retries: u64,
    per_second: Vec<u64>,
    errors_per_second: Vec<u64>,
    latency_per_second: PerSecondLatency,
    last_done: Option<Instant>,
}

impl Tally {
    fn common(&mut self, t: &Timing, late_threshold: Duration) -> usize {
        if let Some(intended) = t.intended {
            let lag = t.sent.saturating_duration_since(intended);
            self.send_lag.saturating_record(micros(lag));
            if lag > late_threshold {
                self.late += 1;
            }
        }
        self.last_done = self.last_done.max(Some(t.done));
        let second = t.done.saturating_duration_since(self.start).as_secs() as usize;
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, 0);
            self.errors_per_second.resize(second + 1, 0);
        }
        second
    }
}

/// Collects the measurements of all workers. A mutex is enough: it is held for well under a
/// microsecond per request, far below what one request costs the server.
#[derive(Debug)]
pub struct Recorder {
    late_threshold: Duration,
    tally: Mutex<Tally>,
    /// Counters for the progress display.
    pub live: Live,
}

impl Recorder {
    /// A recorder counting requests sent more than `late_threshold` after their intended
    /// time as late.
    pub fn new(late_threshold: Duration) -> Self {
        Recorder {
            late_threshold,
            tally: Mutex::new(Tally {
                start: Instant::now(),
                latency: histogram(),
                service: histogram(),
                send_lag: histogram(),
                late: 0,
                status: BTreeMap::new(),
                bytes: 0,
                errors: ErrorCounts::default(),
                retries: 0,
                per_second: Vec::new(),
                errors_per_second: Vec::new(),
                latency_per_second: PerSecondLatency::new(),
                last_done: None,
            }),
            live: Live::default(),
        }
    }

    fn tally(&self) -> std::sync::MutexGuard<'_, Tally> {
        // A worker that panicked mid-update leaves counts that are still meaningful.
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Sets the start of the run (per-second buckets count from it).
    pub fn begin(&self, start: Instant) {
        self.tally().start = start;
    }

    /// Records an answered request.
    pub fn answered(&self, t: &Timing, status: u16, bytes: u64) {
        let mut tally = self.tally();
        let second = tally.common(t, self.late_threshold);
        tally.per_second[second] += 1;
        let from = t.intended.unwrap_or(t.sent);
        let latency = micros(t.done.saturating_duration_since(from));
        tally.latency.saturating_record(latency);
        tally.latency_per_second.record(second, latency);
        tally
            .service
            .saturating_record(micros(t.done.saturating_duration_since(t.sent)));
        *tally.status.entry(status).or_default() += 1;
        tally.bytes += bytes;
        drop(tally);
        self.live.answered.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a failed request.
    pub fn failed(&self, t: &Timing, kind: ErrorKind) {
        let mut tally = self.tally();
        let second = tally.common(t, self.late_threshold);
        tally.errors_per_second[second] += 1;
        tally.errors.add(kind);
        drop(tally);
        self.live.failed.fetch_add(1, Ordering::Relaxed);
    }

    /// Records that a request was re-sent on a fresh connection because the server had
    /// closed the idle keep-alive connection it was sent on.
    pub fn retried(&self) {
        self.tally().retries += 1;
    }
}

/// How late the dispatcher itself handed requests over compared with the schedule, not
/// counting the time it was blocked on a full queue: the replayer's own lateness. Blocking on
/// a full queue (the server is far behind) is counted apart.
#[derive(Debug)]
pub struct GeneratorLag {
    hist: Histogram<u64>,
    late: u64,
    threshold: Duration,
    queue_full: u64,
    blocked: Duration,
}

impl GeneratorLag {
    /// Counting dispatches later than `threshold` as late.
    pub fn new(threshold: Duration) -> Self {
        GeneratorLag {
            hist: histogram(),
            late: 0,
            threshold,
            queue_full: 0,
            blocked: Duration::ZERO,
        }
    }

    /// Records that the dispatcher found the queue full and waited `d` for room.
    pub fn blocked(&mut self, d: Duration) {
        self.queue_full += 1;
        self.blocked += d;
    }

    /// Records one dispatch, `lag` after its intended time.
    pub fn record(&mut self, lag: Duration, live: &Live) {
        let us = micros(lag);
        self.hist.saturating_record(us);
        if lag > self.threshold {
            self.late += 1;
        }
        live.max_generator_lag_us.fetch_max(us, Ordering::Relaxed);
    }
}

/// Percentiles of a histogram, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    /// Number of values.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p99_9: f64,
    /// Largest.
    pub max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Option<Percentiles> {
        if h.is_empty() {
            return None;
        }
        let ms = |us: u64| us as f64 / 1000.0;
        Some(Percentiles {
            count: h.len(),
            min: ms(h.min()),
            mean: h.mean() / 1000.0,
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p99_9: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        })
    }
}

/// Latency of the answers completed in one second of the run, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SecondLatency {
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest.
    pub max: f64,
}

impl SecondLatency {
    fn of(h: &Histogram<u64>) -> Option<SecondLatency> {
        Percentiles::of(h).map(|p| SecondLatency {
            p50: p.p50,
            p99: p.p99,
            max: p.max,
        })
    }
}

/// Seconds whose histogram stays open. Answers are filed by their completion instant, which a
/// worker takes just before it locks the recorder, so an answer can reach the recorder a
/// little after one of the next second: the previous second is kept open until an answer of
/// the second after next arrives.
const OPEN_SECONDS: usize = 2;

/// Per-second latency in constant memory: the few seconds still open have a histogram each
/// (reused), and a second is reduced to its p50, p99 and max when it closes.
#[derive(Debug)]
struct PerSecondLatency {
    /// Seconds `0..closed.len()`, reduced; `None` for a second without answers.
    closed: Vec<Option<SecondLatency>>,
    /// Histograms of seconds `closed.len()..closed.len() + OPEN_SECONDS`, in that order.
    open: std::collections::VecDeque<Histogram<u64>>,
}

impl PerSecondLatency {
    fn new() -> Self {
        PerSecondLatency {
            closed: Vec::new(),
            open: (0..OPEN_SECONDS).map(|_| histogram()).collect(),
        }
    }

    /// Records a latency of `us` microseconds for an answer completed in `second`.
    fn record(&mut self, second: usize, us: u64) {
        while second >= self.closed.len() + OPEN_SECONDS {
            let mut h = self.open.pop_front().expect("OPEN_SECONDS histograms");
            self.closed.push(SecondLatency::of(&h));
            if !h.is_empty() {
                h.reset();
            }
            self.open.push_back(h);
        }
        match second.checked_sub(self.closed.len()) {
            Some(i) => self.open[i].saturating_record(us),
            // A worker held off for more than a second between completion and recording (not
            // seen in practice): its second is already reduced, only the max can still be
            // made exact; the percentiles of that second leave this one answer out.
            None => {
                let ms = us.min(HIST_MAX_US) as f64 / 1000.0;
                let s = self.closed[second].get_or_insert(SecondLatency {
                    p50: ms,
                    p99: ms,
                    max: ms,
                });
                s.max = s.max.max(ms);
            }
        }
    }

    /// Every second of the run so far, padded with `None` to `seconds`.
    fn reduce(&self, seconds: usize) -> Vec<Option<SecondLatency>> {
        let mut all = self.closed.clone();
        all.extend(self.open.iter().map(SecondLatency::of));
        // Open seconds past the last completion are not seconds of the run; seconds that had
        // only failures stay `None`.
        all.resize(seconds.max(self.closed.len()), None);
        all
    }
}

/// One point of a latency distribution: the value below which `percentile` % of the answers
/// fall.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quantile {
    /// 0 to 100.
    pub percentile: f64,
    /// Milliseconds.
    pub ms: f64,
}

/// Points per "nine" of the distribution (0 %, 90 %, 99 %, 99.9 %... are one nine apart).
const DISTRIBUTION_STEPS_PER_NINE: u32 = 10;
/// Nines the distribution goes to at most (99.99999999 %).
const DISTRIBUTION_MAX_NINES: u32 = 10;

/// The distribution of a histogram on the log "nines" scale: percentiles `100 (1 - 10^-x)`
/// for x = 0, 0.1, 0.2... while at least one value lies above (beyond, every percentile is
/// the max), then 100 % (the max). Empty for an empty histogram.
fn distribution(h: &Histogram<u64>) -> Vec<Quantile> {
    if h.is_empty() {
        return Vec::new();
    }
    let ms = |us: u64| us as f64 / 1000.0;
    let limit = (h.len() as f64).log10();
    let mut out: Vec<Quantile> = (0..=DISTRIBUTION_STEPS_PER_NINE * DISTRIBUTION_MAX_NINES)
        .map(|k| f64::from(k) / f64::from(DISTRIBUTION_STEPS_PER_NINE))
        .take_while(|&x| x < limit)
        .map(|x| {
            let q = 1.0 - 10f64.powf(-x);
            Quantile {
                // Rounded so that 90 % prints as 90, not 90.00000000000001.
                percentile: (q * 100.0 * 1e9).round() / 1e9,
                ms: ms(h.value_at_quantile(q)),
            }
        })
        .collect();
    out.push(Quantile {
        percentile: 100.0,
        ms: ms(h.max()),
    });
    out
}

/// Formats a wall-clock time as RFC 3339 UTC to the second (`2026-11-21T07:31:02Z`).
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (y, m, d) = super::access_log::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Open-loop schedule accounting.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduleReport {
    /// Actual send minus intended time: includes waiting for a free connection.
    pub send_lag_ms: Option<Percentiles>,
    /// The lateness counted as late (`--late-threshold`).
    pub late_threshold_ms: f64,
    /// Requests sent more than the threshold after their intended time.
    pub late_requests: u64,
    /// Dispatcher wake-up minus intended time: the replayer's own lateness.
    pub generator_lag_ms: Option<Percentiles>,
    /// Requests the dispatcher handed over more than the threshold late.
    pub generator_late: u64,
    /// Times the queue of requests waiting for a free connection was full, so that the
    /// dispatcher had to wait (the server was far behind).
    pub queue_full: u64,
    /// Total time the dispatcher waited on a full queue, seconds.
    pub queue_blocked_s: f64,
    /// Log lines stamped earlier than the line before them (replayed in the current second).
    pub out_of_order_lines: u64,
    /// Requests past the per-second spreading cap, sent at the end of their second.
    pub unspread: u64,
}

/// The outcome of a replay.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// See [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// `closed`, `rate` or `speedup`.
    pub mode: &'static str,
    /// The `--target` URL.
    pub target: String,
    /// Connections.
    pub concurrency: usize,
    /// `--speedup` factor.
    pub speedup: Option<f64>,
    /// `--rate`.
    pub rate: Option<f64>,
    /// Per-request timeout, seconds.
    pub timeout_s: f64,
    /// Requests handed to the workers.
    pub requests: u64,
    /// Requests answered (any status).
    pub responses: u64,
    /// Requests failed, by kind.
    pub errors: ErrorCounts,
    /// Requests re-sent once after the server closed an idle keep-alive connection.
    pub retries: u64,
    /// From the start of the run to the last completion, seconds.
    pub duration_s: f64,
    /// Answers per second over `duration_s`.
    pub throughput_rps: f64,
    /// Answers by status code.
    pub status: BTreeMap<u16, u64>,
    /// Response body bytes received.
    pub bytes: u64,
    /// Latency of answered requests: from the intended send time in open loop (free of
    /// coordinated omission), from the actual send in closed loop.
    pub latency_ms: Option<Percentiles>,
    /// Time from the actual send to the complete answer.
    pub service_time_ms: Option<Percentiles>,
    /// Schedule accounting (open loop only).
    pub schedule: Option<ScheduleReport>,
    /// Answers completed in each second of the run.
    pub throughput_per_second: Vec<u64>,
    /// Failures in each second of the run.
    pub errors_per_second: Vec<u64>,
    /// Latency (as in `latency_ms`) of the answers completed in each second of the run,
    /// aligned with `throughput_per_second`; `None` (JSON `null`) for a second without answers.
    pub latency_per_second_ms: Vec<Option<SecondLatency>>,
    /// Distribution of `latency_ms` over the whole run on the log "nines" scale (0 %, then ten
    /// points per nine up to where one answer is left above, then 100 %).
    pub latency_distribution_ms: Vec<Quantile>,
    /// Distribution of `service_time_ms`, as `latency_distribution_ms`.
    pub service_time_distribution_ms: Vec<Quantile>,
    /// Wall-clock start of the run, RFC 3339 UTC.
    pub started_at: String,
    /// What the log reader did.
    pub input: ReadSummary,
    /// Things the reader of the report must know before trusting the figures.
    pub warnings: Vec<String>,
}

/// Run parameters the report repeats.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// See [`Report::mode`].
    pub mode: super::schedule::Mode,
    /// See [`Report::target`].
    pub target: String,
    /// See [`Report::concurrency`].
    pub concurrency: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Requests dispatched.
    pub requests: u64,
    /// Start of the run.
    pub start: Instant,
    /// Start of the run, wall-clock.
    pub started: SystemTime,
    /// See [`ScheduleReport::out_of_order_lines`].
    pub out_of_order: u64,
    /// See [`ScheduleReport::unspread`].
    pub unspread: u64,
}

/// Builds the report once every worker has finished.
pub fn build(
    info: RunInfo,
    recorder: &Recorder,
    generator: &GeneratorLag,
    input: ReadSummary,
) -> Report {
    let t = recorder.tally();
    let open = info.mode.is_open();
    let duration = t
        .last_done
        .map_or(Duration::ZERO, |d| d.saturating_duration_since(info.start));
    let responses: u64 = t.status.values().sum();
    let threshold_ms = recorder.late_threshold.as_secs_f64() * 1000.0;
    let schedule = open.then(|| ScheduleReport {
        send_lag_ms: Percentiles::of(&t.send_lag),
        late_threshold_ms: threshold_ms,
        late_requests: t.late,
        generator_lag_ms: Percentiles::of(&generator.hist),
        generator_late: generator.late,
        queue_full: generator.queue_full,
        queue_blocked_s: generator.blocked.as_secs_f64(),
        out_of_order_lines: info.out_of_order,
        unspread: info.unspread,
    });
    let (speedup, rate) = match info.mode {
        super::schedule::Mode::Speedup(f) => (Some(f), None),
        super::schedule::Mode::Rate(r) => (None, Some(r)),
        super::schedule::Mode::Closed => (None, None),
    };
    let mut report = Report {
        schema_version: SCHEMA_VERSION,
        mode: info.mode.name(),
        target: info.target,
        concurrency: info.concurrency,
        speedup,
        rate,
        timeout_s: info.timeout.as_secs_f64(),
        requests: info.requests,
        responses,
        errors: t.errors,
        retries: t.retries,
        duration_s: duration.as_secs_f64(),
        throughput_rps: if duration.is_zero() {
            0.0
        } else {
            responses as f64 / duration.as_secs_f64()
        },
        status: t.status.clone(),
        bytes: t.bytes,
        latency_ms: Percentiles::of(&t.latency),
        service_time_ms: Percentiles::of(&t.service),
        schedule,
        throughput_per_second: t.per_second.clone(),
        errors_per_second: t.errors_per_second.clone(),
        latency_per_second_ms: t.latency_per_second.reduce(t.per_second.len()),
        latency_distribution_ms: distribution(&t.latency),
        service_time_distribution_ms: distribution(&t.service),
        started_at: rfc3339(info.started),
        input,
        warnings: Vec::new(),
    };
    report.warnings = warnings(&report);
    report
}

fn warnings(r: &Report) -> Vec<String> {
    let mut w = Vec::new();
    if r.mode == "closed" {
        w.push(
            "closed loop: latencies are service times; a slow server received fewer requests \
             instead of queueing them (coordinated omission). Use --rate or --speedup to \
             measure latency under a given load."
                .to_owned(),
        );
    }
    if let Some(s) = &r.schedule {
        let share = |n: u64| 100.0 * n as f64 / r.requests.max(1) as f64;
        if share(s.generator_late) > 1.0 {
            let max = s.generator_lag_ms.map_or(0.0, |p| p.max);
            w.push(format!(
                "the replayer itself fell behind its schedule: {} requests ({:.1}%) were \
                 dispatched more than {} ms late (max {max:.1} ms); this machine cannot \
                 generate the requested load, the offered load was lower than asked",
                s.generator_late,
                share(s.generator_late),
                s.late_threshold_ms
            ));
        } else if s.late_requests > 0 {
            w.push(format!(
                "{} requests ({:.1}%) waited more than {} ms for a free connection \
                 (--concurrency {}): the server did not keep up; that wait is included in \
                 the latency",
                s.late_requests,
                share(s.late_requests),
                s.late_threshold_ms,
                r.concurrency
            ));
        }
        if s.queue_full > 0 {
            w.push(format!(
                "the server fell so far behind that {} requests were queued for a free \
                 connection and the dispatcher waited {:.1} s for room; those requests left \
                 late, and their latency counts from their intended time",
                crate::replay::OPEN_QUEUE.max(4 * r.concurrency),
                s.queue_blocked_s
            ));
        }
        if s.unspread > 0 {
            w.push(format!(
                "{} requests of over-full log seconds were not spread within their second",
                s.unspread
            ));
        }
    }
    if r.errors.total() > 0 {
        w.push(format!("{} requests failed", r.errors.total()));
    }
    if r.input.bad_lines > 0 {
        let first = r
            .input
            .bad_line_list
            .first()
            .map(|b| format!(" (first: {}:{}: {})", b.file, b.line, b.reason))
            .unwrap_or_default();
        w.push(format!(
            "{} log lines could not be parsed{first}",
            r.input.bad_lines
        ));
    }
    w
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn write_percentiles(
    f: &mut fmt::Formatter<'_>,
    label: &str,
    p: &Option<Percentiles>,
) -> fmt::Result {
    match p {
        Some(p) => writeln!(
            f,
            "  {label:<14} p50 {:.3}  p90 {:.3}  p99 {:.3}  p99.9 {:.3}  max {:.3} ms  (mean {:.3}, n={})",
            p.p50, p.p90, p.p99, p.p99_9, p.max, p.mean, p.count
        ),
        None => writeln!(f, "  {label:<14} -"),
    }
}

/// A compact view of a per-second series: min, median, max and a sparkline.
fn per_second_line(series: &[u64]) -> String {
    if series.is_empty() {
        return "-".to_owned();
    }
    let mut sorted = series.to_vec();
    sorted.sort_unstable();
    let (min, med, max) = (
        sorted[0],
        sorted[sorted.len() / 2],
        sorted[sorted.len() - 1],
    );
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    // At most 60 columns: longer runs are averaged over equal slices.
    let cols = series.len().min(60);
    let spark: String = (0..cols)
        .map(|c| {
            let (a, b) = (
                c * series.len() / cols,
                ((c + 1) * series.len() / cols).max(c * series.len() / cols + 1),
            );
            let v = series[a..b].iter().sum::<u64>() as f64 / (b - a) as f64;
            let i = if max == 0 {
                0
            } else {
                (v / max as f64 * 7.0).round() as usize
            };
            BARS[i.min(7)]
        })
        .collect();
    format!(
        "min {min}  median {med}  max {max} over {} s  {spark}",
        series.len()
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match (self.speedup, self.rate) {
            (Some(x), _) => format!("recorded timing x{x}"),
            (_, Some(r)) => format!("fixed rate {r} req/s"),
            _ => "closed loop, as fast as possible".to_owned(),
        };
        writeln!(
            f,
            "replay against {} ({mode}, {} connections)",
            self.target, self.concurrency
        )?;
        for file in &self.input.files {
            writeln!(
                f,
                "  log            {} ({}{}): {} lines, {} requests, {} bad, {} not GET/HEAD",
                file.path,
                file.format.map_or("empty", |x| x.name()),
                if file.gzip { ", gzip" } else { "" },
                file.lines,
                file.requests,
                file.bad_lines,
                file.skipped_methods
            )?;
        }
        if !self.input.complete {
            writeln!(
                f,
                "  log            stopped before the end (--max-requests/--duration)"
            )?;
        }
        let e = &self.errors;
        writeln!(
            f,
            "  requests       {} sent, {} answered, {} failed (connect {}, timeout {}, io {}, http {}), {} retried",
            self.requests, self.responses, e.total(), e.connect, e.timeout, e.io, e.http, self.retries
        )?;
        writeln!(
            f,
            "  throughput     {:.1} req/s over {:.3} s",
            self.throughput_rps, self.duration_s
        )?;
        let status: Vec<String> = self
            .status
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        writeln!(f, "  status         {}", status.join(", "))?;
        writeln!(f, "  received       {} of bodies", human_bytes(self.bytes))?;
        let label = if self.schedule.is_some() {
            "latency*"
        } else {
            "latency"
        };
        write_percentiles(f, label, &self.latency_ms)?;
        write_percentiles(f, "service time", &self.service_time_ms)?;
        if let Some(s) = &self.schedule {
            writeln!(
                f,
                "  (* from the intended send time, free of coordinated omission)"
            )?;
            write_percentiles(f, "send lag", &s.send_lag_ms)?;
            write_percentiles(f, "generator lag", &s.generator_lag_ms)?;
            writeln!(
                f,
                "  late           {} requests sent, {} dispatched, more than {} ms late; {} out-of-order log lines",
                s.late_requests, s.generator_late, s.late_threshold_ms, s.out_of_order_lines
            )?;
            if s.queue_full > 0 {
                writeln!(
                    f,
                    "  queue full     {} times, dispatcher blocked {:.3} s in all",
                    s.queue_full, s.queue_blocked_s
                )?;
            }
        }
        writeln!(
            f,
            "  per second     {}",
            per_second_line(&self.throughput_per_second)
        )?;
        for b in &self.input.bad_line_list {
            writeln!(f, "  bad line       {}:{}: {}", b.file, b.line, b.reason)?;
        }
        for w in &self.warnings {
            writeln!(f, "  WARNING        {w}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::schedule::Mode;

    #[test]
    fn latency_is_measured_from_the_intended_time_in_open_loop() {
        let rec = Recorder::new(Duration::from_millis(10));
        let start = Instant::now();
        rec.begin(start);
        for i in 0..100u64 {
            let intended = start + Duration::from_millis(i);
            // The last ten waited 500 ms for a connection, then were served in 1 ms.
            let wait = if i >= 90 { 500 } else { 0 };
            let sent = intended + Duration::from_millis(wait);
            let t = Timing {
                intended: Some(intended),
                sent,
                done: sent + Duration::from_millis(1),
            };
            rec.answered(&t, 200, 10);
        }
        let t = Timing {
            intended: Some(start),
            sent: start,
            done: start + Duration::from_secs(1),
        };
        rec.failed(&t, ErrorKind::Timeout);
        let info = RunInfo {
            mode: Mode::Rate(1000.0),
            target: "http://127.0.0.1:1".into(),
            concurrency: 1,
            timeout: Duration::from_secs(1),
            requests: 101,
            start,
            started: SystemTime::UNIX_EPOCH,
            out_of_order: 0,
            unspread: 0,
        };
        let r = build(
            info,
            &rec,
            &GeneratorLag::new(Duration::from_millis(10)),
            ReadSummary::default(),
        );
        let lat = r.latency_ms.unwrap();
        let svc = r.service_time_ms.unwrap();
        assert!(lat.p99 > 490.0 && svc.p99 < 2.0, "{lat:?} {svc:?}");
        assert_eq!(r.schedule.as_ref().unwrap().late_requests, 10);
        assert_eq!((r.responses, r.errors.timeout, r.bytes), (100, 1, 1000));
        assert_eq!(r.throughput_per_second.iter().sum::<u64>(), 100);
        assert!(r.warnings.iter().any(|w| w.contains("waited more than")));
        let json: serde_json::Value =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(json["status"]["200"], 100);
        assert_eq!(json["errors"]["timeout"], 1);
        let text = r.to_string();
        assert!(
            text.contains("p99.9") && text.contains("service time"),
            "{text}"
        );
    }

    /// `a` equals `b` within the histograms' three significant digits.
    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= b * 1e-3
    }

    #[test]
    fn each_second_is_reduced_to_its_p50_p99_and_max_when_it_closes() {
        let mut s = PerSecondLatency::new();
        let ms = |v: u64| v * 1000;
        // Second 0: 1, 2, ... 100 ms, recorded in a shuffled order.
        for v in (1..=100).rev() {
            s.record(0, ms(v));
        }
        // Second 1: 98 answers in 500 ms and 2 in 2 s; three of them arrive after an answer
        // of second 2, which closes second 0 but leaves second 1 open.
        for _ in 0..97 {
            s.record(1, ms(500));
        }
        s.record(2, ms(7));
        s.record(1, ms(500));
        s.record(1, ms(2000));
        s.record(1, ms(2000));
        assert_eq!(s.closed.len(), 1, "second 0 closed, second 1 still open");
        // An answer of second 4 closes seconds 1 and 2; second 3 had none.
        s.record(4, ms(40));
        assert_eq!(s.closed.len(), 3);
        let all = s.reduce(6);
        assert_eq!(all.len(), 6);
        let s0 = all[0].unwrap();
        assert!(
            close(s0.p50, 50.0) && close(s0.p99, 99.0) && close(s0.max, 100.0),
            "{s0:?}"
        );
        let s1 = all[1].unwrap();
        assert!(
            close(s1.p50, 500.0) && close(s1.p99, 2000.0) && close(s1.max, 2000.0),
            "{s1:?}"
        );
        let s2 = all[2].unwrap();
        assert!(close(s2.p50, 7.0) && close(s2.max, 7.0), "{s2:?}");
        assert_eq!(all[3], None, "no answer in second 3");
        assert!(close(all[4].unwrap().max, 40.0));
        assert_eq!(all[5], None, "second 5 had only failures");
    }

    #[test]
    fn an_answer_recorded_after_its_second_closed_still_counts_in_its_max() {
        let mut s = PerSecondLatency::new();
        s.record(0, 10_000);
        s.record(5, 1_000);
        s.record(0, 900_000);
        s.record(2, 3_000);
        let all = s.reduce(6);
        let s0 = all[0].unwrap();
        assert!(close(s0.p50, 10.0) && close(s0.max, 900.0), "{s0:?}");
        assert_eq!(all[2].unwrap().max, 3.0);
        assert_eq!(all[1], None);
        assert!(close(all[5].unwrap().p99, 1.0));
    }

    #[test]
    fn the_report_has_latency_per_second_aligned_with_throughput() {
        let rec = Recorder::new(Duration::from_millis(10));
        let start = Instant::now();
        rec.begin(start);
        let answer = |intended_ms: u64, latency_ms: u64| {
            let intended = start + Duration::from_millis(intended_ms);
            let t = Timing {
                intended: Some(intended),
                // Sent late: latency counts from the intended time, not from here.
                sent: intended + Duration::from_millis(latency_ms / 2),
                done: intended + Duration::from_millis(latency_ms),
            };
            rec.answered(&t, 200, 1);
        };
        // Second 0: 100 answers of 10 ms; second 1: 99 of 20 ms and one of 300 ms.
        for i in 0..100 {
            answer(i * 5, 10);
        }
        for i in 0..99 {
            answer(1000 + i * 5, 20);
        }
        answer(1600, 300);
        // Second 2: only a failure.
        let at = start + Duration::from_millis(2500);
        let failed = Timing {
            intended: Some(at),
            sent: at,
            done: at + Duration::from_millis(1),
        };
        rec.failed(&failed, ErrorKind::Io);
        let info = RunInfo {
            mode: Mode::Rate(100.0),
            target: "http://127.0.0.1:1".into(),
            concurrency: 1,
            timeout: Duration::from_secs(1),
            requests: 201,
            start,
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_763_710_262),
            out_of_order: 0,
            unspread: 0,
        };
        let r = build(
            info,
            &rec,
            &GeneratorLag::new(Duration::from_millis(10)),
            ReadSummary::default(),
        );
        assert_eq!(r.throughput_per_second, [100, 100, 0]);
        assert_eq!(r.latency_per_second_ms.len(), 3);
        let s0 = r.latency_per_second_ms[0].unwrap();
        assert!(close(s0.p50, 10.0) && close(s0.p99, 10.0) && close(s0.max, 10.0));
        let s1 = r.latency_per_second_ms[1].unwrap();
        assert!(close(s1.p50, 20.0) && close(s1.p99, 20.0) && close(s1.max, 300.0));
        assert_eq!(r.latency_per_second_ms[2], None);
        assert_eq!(r.started_at, "2025-11-21T07:31:02Z");
        let d = &r.latency_distribution_ms;
        // 200 answers: ten points per nine for x = 0, 0.1... 2.3 (below log10(200) = 2.301),
        // then 100 %.
        assert_eq!(d.len(), 25, "{d:?}");
        assert_eq!(d[0].percentile, 0.0);
        assert!(close(d[0].ms, 10.0));
        assert_eq!(d[10].percentile, 90.0);
        assert_eq!(d[20].percentile, 99.0);
        assert!(close(d[20].ms, 20.0));
        assert_eq!(
            (d[24].percentile, d[24].ms),
            (100.0, r.latency_ms.unwrap().max)
        );
        assert!(close(d[24].ms, 300.0));
        assert!(d
            .windows(2)
            .all(|w| w[0].ms <= w[1].ms && w[0].percentile < w[1].percentile));
        let json: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(json["latency_per_second_ms"][1]["max"], s1.max);
        assert!(json["latency_per_second_ms"][2].is_null());
        assert_eq!(json["latency_distribution_ms"][10]["percentile"], 90.0);
        assert_eq!(json["schema_version"], 1);
    }

    #[test]
    fn sparkline_handles_long_and_empty_series() {
        assert_eq!(per_second_line(&[]), "-");
        let long: Vec<u64> = (0..1000).collect();
        let line = per_second_line(&long);
        assert!(
            line.starts_with("min 0  median 500  max 999 over 1000 s"),
            "{line}"
        );
        assert_eq!(line.chars().filter(|c| ('▁'..='█').contains(c)).count(), 60);
    }
}
