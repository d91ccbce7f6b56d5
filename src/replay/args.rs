//! Command-line arguments of `vitrine replay`, as a clap `Args` struct the binary mounts as a
//! subcommand, and the duration syntax of its options.

use std::path::PathBuf;
use std::time::Duration;

use super::access_log::LogFormat;

/// `vitrine replay LOG... --target URL`: send the GET/HEAD requests of access logs to a
/// server, each with its logged Host and path, and report throughput and latency.
#[derive(Debug, Clone, clap::Args)]
pub struct ReplayArgs {
    /// Access logs (plain or gzip, detected by content), replayed one after another in the
    /// given order.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,

    /// Server to send to: `http://HOST:PORT`. Only the address is used; each request keeps
    /// the Host and path of its log line.
    #[arg(long, value_name = "URL")]
    pub target: String,

    /// Log format; detected per file from its first lines when absent.
    #[arg(long, value_enum)]
    pub format: Option<LogFormat>,

    /// Host header for lines of formats without a host (`common`, `combined`); defaults to
    /// the target's HOST:PORT.
    #[arg(long, value_name = "HOST")]
    pub host: Option<String>,

    /// Connections to the target. In closed loop each sends its next request when the
    /// previous one is answered; in open loop they bound the requests in flight, and time
    /// spent waiting for a free connection counts in the latency.
    #[arg(long, short = 'c', default_value_t = 64)]
    pub concurrency: usize,

    /// Threads driving the connections; default one per four cores (at least one). One
    /// thread sends tens of thousands of requests per second, and a replayer sharing the
    /// machine with the server it measures should take as little of it as it can.
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Open loop at the recorded timing divided by this factor (requests of one log second
    /// spread evenly over it).
    #[arg(long, conflicts_with = "rate")]
    pub speedup: Option<f64>,

    /// Open loop at this many requests per second, in log order. Without --rate and
    /// --speedup: closed loop, as fast as possible.
    #[arg(long, value_name = "REQ_PER_S")]
    pub rate: Option<f64>,

    /// Per-request timeout (e.g. `10s`, `500ms`); an expired request counts as a timeout error.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub timeout: Duration,

    /// Stop after dispatching this many requests.
    #[arg(long, value_name = "N")]
    pub max_requests: Option<u64>,

    /// Stop dispatching after this long (e.g. `30s`, `5m`).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,

    /// In open loop, a request sent (or dispatched) later than this after its intended time
    /// counts as late.
    #[arg(long, default_value = "10ms", value_parser = parse_duration)]
    pub late_threshold: Duration,

    /// How many unparsable lines to list (all are counted).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub list_bad_lines: usize,

    /// Print the report as JSON on standard output instead of the text summary.
    #[arg(long)]
    pub json: bool,

    /// Print nothing (no progress bar, no report); the caller uses the returned report.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl ReplayArgs {
    /// Runtime threads: the given number, else one per four cores (at least one). On 2 cores,
    /// two threads cost the server 4-6 % of its throughput, their idle worker waking to
    /// steal work from the busy one.
    pub fn threads(&self) -> usize {
        self.threads
            .unwrap_or_else(|| crate::page::default_threads() / 4)
            .max(1)
    }
}

/// Parses `1.5s`, `250ms`, `2m`, `1h`, `30us` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 10s, 500ms or 2m"))?;
    let secs = match unit.trim() {
        "" | "s" => v,
        "ms" => v / 1e3,
        "us" | "µs" => v / 1e6,
        "m" | "min" => v * 60.0,
        "h" => v * 3600.0,
        u => {
            return Err(format!(
                "unknown duration unit {u:?} (use us, ms, s, m or h)"
            ))
        }
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(subcommand)]
        cmd: Cmd,
    }

    #[derive(clap::Subcommand)]
    enum Cmd {
        Replay(ReplayArgs),
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("3d").is_err());
    }

    #[test]
    fn arguments_mount_as_subcommands() {
        let cli = Cli::try_parse_from([
            "vitrine",
            "replay",
            "a.log",
            "b.log.gz",
            "--target",
            "http://127.0.0.1:8080",
            "--rate",
            "5000",
            "--timeout",
            "2s",
            "--json",
        ])
        .unwrap();
        let Cmd::Replay(a) = cli.cmd;
        assert_eq!(a.logs.len(), 2);
        assert_eq!((a.rate, a.speedup, a.concurrency), (Some(5000.0), None, 64));
        assert_eq!(a.timeout, Duration::from_secs(2));
        assert!(a.json);
        assert!(a.threads() >= 1, "at least one thread by default");
        let cli = Cli::try_parse_from([
            "vitrine",
            "replay",
            "a.log",
            "--target",
            "http://x",
            "--threads",
            "3",
        ])
        .unwrap();
        let Cmd::Replay(a) = cli.cmd;
        assert_eq!(a.threads(), 3);
        assert!(Cli::try_parse_from([
            "vitrine",
            "replay",
            "a.log",
            "--target",
            "http://x",
            "--rate",
            "1",
            "--speedup",
            "2"
        ])
        .is_err());
    }
}
