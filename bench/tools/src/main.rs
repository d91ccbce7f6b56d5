//! The `vitrine-bench` binary: parse arguments, run a generator, map the outcome to an exit
//! status. Everything else is in the library.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Same allocator as the `vitrine` binary: the generators allocate a string per field, and
/// their timings in bench/README.md were taken with mimalloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Vitrine's benchmark generators: back-office records, page-view logs, latency plots.
#[derive(Debug, Parser)]
#[command(name = "vitrine-bench", version, about, propagate_version = true)]
struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
enum Command {
    /// Write a synthetic day of page views for a sites folder.
    GenLog(vitrine_bench::GenLogArgs),
    /// Write synthetic back-office records (JSON Lines) for `vitrine export`.
    GenCorpus(vitrine_bench::GenCorpusArgs),
    /// Draw the latency plot (SVG) of a `vitrine replay --json` report.
    Plot(vitrine_bench::PlotArgs),
    /// Fill a certificate store with certificates from a private CA.
    GenCerts(vitrine_bench::GenCertsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::GenLog(args) => vitrine_bench::gen_log(args),
        Command::GenCorpus(args) => vitrine_bench::gen_corpus(args),
        Command::Plot(args) => vitrine_bench::plot(args),
        Command::GenCerts(args) => vitrine_bench::gen_certs(args),
    };
    match result.map_err(anyhow::Error::from) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // `{:#}` as `vitrine` prints errors: the message, then its causes.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
