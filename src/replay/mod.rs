//! Load replay: `vitrine replay` sends the requests of real or generated access logs to a
//! server and measures it. (The generators of benchmark inputs, and the plot of a `--json`
//! report, are the `vitrine-bench` tool's, in `bench/tools`.)
//!
//! This module owns the orchestration of a replay:
//!
//! ```text
//! reader thread ──batches (bounded)──▶ dispatcher thread ──jobs (bounded)──▶ N workers ──▶ target
//! access_log.rs                        schedule.rs                           client.rs (tokio)
//!                                                            all record into report.rs
//! ```
//!
//! The reader parses lines on a blocking thread; both channels are bounded (4,096 requests
//! read ahead, 16,384 queued for a free connection), so a log of any size replays in
//! constant memory. The dispatcher gives each request its absolute intended send time (open
//! loop), sleeps until then on its own thread, and hands the request to the first free
//! worker; it never waits for answers, so a stalled server makes latencies grow instead of
//! making the replay quietly send less. Its own lateness is measured too, so a replayer that
//! cannot keep up says so in the report.

pub mod access_log;
pub mod args;
pub mod client;
mod error;
pub mod report;
pub mod schedule;

use std::collections::VecDeque;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use hyper::header::HeaderValue;
use hyper::Uri;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::{mpsc, Barrier, Mutex};

pub use access_log::{LogFormat, Request};
pub use args::ReplayArgs;
pub use error::ReplayError;
pub use report::Report;
pub use schedule::Mode;

use client::{Job, Target};
use report::{GeneratorLag, Live, Recorder, RunInfo};
use schedule::Pacer;

/// Requests per reader→dispatcher message.
const BATCH: usize = 256;
/// Batches the reader may be ahead of the dispatcher.
const READ_AHEAD: usize = 16;
/// Jobs waiting for a free worker in open loop (about 4 MB); past this the dispatcher
/// blocks, which the report counts as "queue full".
pub(crate) const OPEN_QUEUE: usize = 16_384;

/// Replays the logs of `args` and returns the report, printing a progress bar on a terminal
/// and the report (text or `--json`) unless `--quiet`.
pub async fn run(args: ReplayArgs) -> Result<Report, ReplayError> {
    let mode = mode(&args)?;
    if args.concurrency == 0 {
        return Err(ReplayError::Argument {
            option: "--concurrency",
            reason: "must be at least 1".into(),
        });
    }
    let (addr, authority) = resolve_target(&args.target).await?;
    let default_host = match &args.host {
        Some(h) => h.as_str(),
        None => authority.as_str(),
    };
    let default_host = HeaderValue::from_str(default_host).map_err(|_| ReplayError::Argument {
        option: "--host",
        reason: format!("{default_host:?} is not a valid Host header"),
    })?;
    // Fail before connecting when a file is missing, not halfway through the replay.
    for path in &args.logs {
        access_log::open_log(path)?;
    }

    let read_opts = access_log::ReadOptions {
        files: args.logs.clone(),
        format: args.format,
        default_host,
        bad_lines_listed: args.list_bad_lines,
        batch: BATCH,
    };
    let (batch_tx, batch_rx) = mpsc::channel(READ_AHEAD);
    let reader = tokio::task::spawn_blocking(move || access_log::read_logs(&read_opts, &batch_tx));

    let queue = if mode.is_open() {
        OPEN_QUEUE.max(4 * args.concurrency)
    } else {
        args.concurrency
    };
    let (job_tx, job_rx) = mpsc::channel(queue);
    let jobs = Arc::new(Mutex::new(job_rx));
    let target = Arc::new(Target {
        addr,
        timeout: args.timeout,
    });
    let recorder = Arc::new(Recorder::new(args.late_threshold));
    let ready = Arc::new(Barrier::new(args.concurrency + 1));
    let workers: Vec<_> = (0..args.concurrency)
        .map(|_| {
            tokio::spawn(client::worker(
                target.clone(),
                jobs.clone(),
                recorder.clone(),
                ready.clone(),
            ))
        })
        .collect();
    ready.wait().await;
    let start = Instant::now();
    let started = SystemTime::now();
    recorder.begin(start);

    let progress = Progress::start(&args, recorder.clone());
    let limits = Limits {
        max_requests: args.max_requests,
        deadline: args.duration.map(|d| start + d),
    };
    let dispatcher = {
        let (recorder, threshold) = (recorder.clone(), args.late_threshold);
        tokio::task::spawn_blocking(move || {
            dispatch(
                mode,
                start,
                limits,
                batch_rx,
                job_tx,
                threshold,
                &recorder.live,
            )
        })
    };
    // The dispatcher drops both channels when it returns: the reader stops, and the workers
    // end once the queued jobs are done.
    let (dispatched, generator) = dispatcher
        .await
        .map_err(|e| ReplayError::Task(format!("dispatcher: {e}")))?;
    for w in workers {
        let _ = w.await;
    }
    progress.finish();
    let input = reader
        .await
        .map_err(|e| ReplayError::Task(format!("log reader: {e}")))??;

    let info = RunInfo {
        mode,
        target: args.target.clone(),
        concurrency: args.concurrency,
        timeout: args.timeout,
        requests: dispatched.count,
        start,
        started,
        out_of_order: dispatched.out_of_order,
        unspread: dispatched.unspread,
    };
    let report = report::build(info, &recorder, &generator, input);
    if !args.quiet {
        let text = if args.json {
            let mut json = serde_json::to_string_pretty(&report).expect("a report serialises");
            json.push('\n');
            json
        } else {
            report.to_string()
        };
        crate::cmd::out::bytes(text.as_bytes()).map_err(ReplayError::Stdout)?;
    }
    Ok(report)
}

fn mode(args: &ReplayArgs) -> Result<Mode, ReplayError> {
    let positive = |option, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(v)
        } else {
            Err(ReplayError::Argument {
                option,
                reason: format!("{v} is not a positive number"),
            })
        }
    };
    Ok(match (args.speedup, args.rate) {
        (Some(f), _) => Mode::Speedup(positive("--speedup", f)?),
        (None, Some(r)) => Mode::Rate(positive("--rate", r)?),
        (None, None) => Mode::Closed,
    })
}

/// `http://HOST[:PORT][/]` to a socket address and the `HOST:PORT` authority.
async fn resolve_target(url: &str) -> Result<(std::net::SocketAddr, String), ReplayError> {
    let bad = |reason: &str| ReplayError::Target {
        url: url.to_owned(),
        reason: reason.to_owned(),
    };
    let uri: Uri = url.parse().map_err(|_| bad("not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some(_) => return Err(bad("only http:// is supported")),
        None => return Err(bad("expected http://HOST:PORT")),
    }
    if uri.path_and_query().is_some_and(|p| p.as_str() != "/") {
        return Err(bad(
            "give only the address: each request keeps its logged path",
        ));
    }
    let authority = uri.authority().ok_or_else(|| bad("no host"))?;
    let port = authority.port_u16().unwrap_or(80);
    let host = authority.host();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let addr = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| bad(&e.to_string()))?
        .next()
        .ok_or_else(|| bad("the host name resolves to no address"))?;
    Ok((addr, authority.as_str().to_owned()))
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_requests: Option<u64>,
    deadline: Option<Instant>,
}

struct Dispatched {
    count: u64,
    out_of_order: u64,
    unspread: u64,
}

/// Pulls requests from the reader, schedules them and hands them to the workers at their
/// intended time; never waits for an answer. Runs on its own thread and sleeps with the OS
/// timer (tens of microseconds of slack) rather than tokio's, whose one-millisecond ticks
/// would add about half a millisecond to every latency measured from the intended time.
fn dispatch(
    mode: Mode,
    start: Instant,
    limits: Limits,
    mut batches: mpsc::Receiver<Vec<Request>>,
    jobs: mpsc::Sender<Job>,
    late_threshold: Duration,
    live: &Live,
) -> (Dispatched, GeneratorLag) {
    let mut generator = GeneratorLag::new(late_threshold);
    let mut pacer = Pacer::new(mode);
    let mut ready = VecDeque::new();
    let mut count = 0u64;
    let mut eof = false;
    let mut released = start;
    // On a full queue, wait for `refill` free places at once. In closed loop the queue is
    // always full, and waking for every place that frees cost a futex round trip per
    // request; half the queue at a time keeps the workers fed with one wake-up per
    // `concurrency / 2` requests. In open loop a full queue means the server stalls, and
    // the next job goes as soon as there is room, so the time blocked is measured per job.
    let refill = if mode.is_open() {
        1
    } else {
        (jobs.max_capacity() / 2).max(1)
    };
    let runtime = tokio::runtime::Handle::current();
    let mut places: Option<mpsc::PermitIterator<'_, Job>> = None;
    'run: while !eof {
        match batches.blocking_recv() {
            Some(batch) => {
                for r in batch {
                    pacer.push(r.time, r, &mut ready);
                }
            }
            None => {
                pacer.finish(&mut ready);
                eof = true;
            }
        }
        while let Some(s) = ready.pop_front() {
            if limits.max_requests.is_some_and(|m| count >= m) {
                break 'run;
            }
            let intended = s.offset.map(|o| start + o);
            match intended {
                Some(at) => {
                    if limits.deadline.is_some_and(|d| at >= d) {
                        break 'run;
                    }
                    let now = Instant::now();
                    if at > now {
                        std::thread::sleep(at - now);
                    }
                    // Time spent blocked on a full queue is the server's doing, not ours.
                    let due = at.max(released);
                    generator.record(Instant::now().saturating_duration_since(due), live);
                }
                None => {
                    if limits.deadline.is_some_and(|d| Instant::now() >= d) {
                        break 'run;
                    }
                }
            }
            let job = Job {
                req: s.item,
                intended,
            };
            if let Some(permit) = places.as_mut().and_then(|p| p.next()) {
                permit.send(job);
            } else {
                match jobs.try_send(job) {
                    Ok(()) => {}
                    Err(mpsc::error::TrySendError::Full(job)) => {
                        let blocked = Instant::now();
                        let Ok(mut free) = runtime.block_on(jobs.reserve_many(refill)) else {
                            break 'run;
                        };
                        if let Some(permit) = free.next() {
                            permit.send(job);
                        }
                        places = Some(free);
                        released = Instant::now();
                        if intended.is_some() {
                            generator.blocked(released - blocked);
                        }
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => break 'run,
                }
            }
            count += 1;
            live.dispatched.fetch_add(1, Ordering::Relaxed);
        }
    }
    let dispatched = Dispatched {
        count,
        out_of_order: pacer.out_of_order(),
        unspread: pacer.unspread(),
    };
    (dispatched, generator)
}

/// The progress bar: drawn on standard error when it is a terminal, hidden otherwise.
struct Progress {
    bar: ProgressBar,
    done: Arc<AtomicBool>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    fn start(args: &ReplayArgs, recorder: Arc<Recorder>) -> Progress {
        let done = Arc::new(AtomicBool::new(false));
        if args.quiet || !std::io::stderr().is_terminal() {
            return Progress {
                bar: ProgressBar::hidden(),
                done,
                ticker: None,
            };
        }
        let bar = match args.max_requests {
            Some(n) => {
                ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr_with_hz(5))
            }
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(5)),
        };
        let template = if args.max_requests.is_some() {
            "{elapsed_precise} {bar:30} {pos}/{len} answered, {msg}"
        } else {
            "{spinner} {elapsed_precise} {pos} answered, {msg}"
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            bar.set_style(style);
        }
        let ticker = {
            let (bar, done) = (bar.clone(), done.clone());
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(200));
                while !done.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let live = &recorder.live;
                    let answered = live.answered.load(Ordering::Relaxed);
                    let failed = live.failed.load(Ordering::Relaxed);
                    let sent = live.dispatched.load(Ordering::Relaxed);
                    let lag = live.max_generator_lag_us.load(Ordering::Relaxed) as f64 / 1000.0;
                    bar.set_position(answered);
                    let rate = answered as f64 / bar.elapsed().as_secs_f64().max(1e-3);
                    bar.set_message(format!(
                        "{rate:.0} req/s, {failed} failed, {} in flight or queued, \
                         generator lag max {lag:.1} ms",
                        sent.saturating_sub(answered + failed)
                    ));
                }
            })
        };
        Progress {
            bar,
            done,
            ticker: Some(ticker),
        }
    }

    fn finish(self) {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.ticker {
            t.abort();
        }
        self.bar.finish_and_clear();
    }
}
