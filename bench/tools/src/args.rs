//! Command-line arguments of `vitrine-bench gen-corpus`, `gen-log` and `plot`, as clap `Args`
//! structs the binary mounts as subcommands.

use std::path::PathBuf;

/// `vitrine-bench plot REPORT -o FILE.svg`: draw the latency plot of a report saved by
/// `vitrine replay --json`.
#[derive(Debug, Clone, clap::Args)]
pub struct PlotArgs {
    /// The JSON report (`vitrine replay ... --json > REPORT`).
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,

    /// The SVG file to write.
    #[arg(long, short = 'o', value_name = "FILE.svg")]
    pub output: PathBuf,
}

/// Output format of `vitrine-bench gen-log`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GenFormat {
    /// Apache `vhost_combined`.
    VhostCombined,
    /// nginx `combined` followed by `"$host"` (see `NGINX_HOST_LOG_FORMAT`).
    NginxHost,
}

/// `vitrine-bench gen-log SITES -o FILE`: write a synthetic day of page views for the sites
/// of a sites folder as an access log.
#[derive(Debug, Clone, clap::Args)]
pub struct GenLogArgs {
    /// Sites root folder (`SITES/<shard>/<site-id>/site.xml`).
    #[arg(value_name = "SITES")]
    pub sites: PathBuf,

    /// Output file; gzip-compressed when the name ends in `.gz`; `-` for standard output.
    #[arg(long, short = 'o')]
    pub output: PathBuf,

    /// Number of log lines (requests) over the day.
    #[arg(long, default_value_t = 1_000_000)]
    pub count: u64,

    /// Zipf exponent of site popularity.
    #[arg(long, default_value_t = 0.9)]
    pub zipf: f64,

    /// Zipf exponent of page popularity within a site (the home page is rank 1).
    #[arg(long, default_value_t = 1.0)]
    pub page_zipf: f64,

    /// Random seed: the same seed, sites and options give the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Log format.
    #[arg(long, value_enum, default_value = "vhost-combined")]
    pub format: GenFormat,

    /// Day of the log (local date, `YYYY-MM-DD`).
    #[arg(long, default_value = "2026-03-10")]
    pub date: String,

    /// UTC offset of the log's timestamps (`+0100`); the daily curve follows local time.
    #[arg(long, default_value = "+0100", allow_hyphen_values = true)]
    pub utc_offset: String,
}

/// `vitrine-bench gen-corpus -o FILE`: write synthetic back-office records (JSON Lines, one
/// professional per line) for `vitrine export` to turn into a benchmark corpus of sites.
#[derive(Debug, Clone, clap::Args)]
pub struct GenCorpusArgs {
    /// Output file; gzip-compressed when the name ends in `.gz`; `-` for standard output.
    #[arg(long, short = 'o')]
    pub output: PathBuf,

    /// Number of records (sites).
    #[arg(long, default_value_t = 70_000)]
    pub count: u64,

    /// Random seed: the same seed and count give the same file.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
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
        GenLog(GenLogArgs),
    }

    #[test]
    fn arguments_mount_as_subcommands() {
        let cli = Cli::try_parse_from([
            "vitrine-bench",
            "gen-log",
            "sites",
            "-o",
            "day.log.gz",
            "--utc-offset",
            "-0500",
        ])
        .unwrap();
        let Cmd::GenLog(g) = cli.cmd;
        assert_eq!(
            (g.count, g.zipf, g.format),
            (1_000_000, 0.9, GenFormat::VhostCombined)
        );
        assert_eq!(g.utc_offset, "-0500");
    }
}
