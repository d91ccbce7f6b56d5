//! Vitrine's benchmark generators, kept out of the product: nothing here is deployed, and
//! what only they need (`rand`, `plotters`) stays out of the server's dependencies.
//!
//! This crate owns:
//!
//! * [`corpus`]: synthetic back-office records (`vitrine-bench gen-corpus`), which
//!   `vitrine export` turns into a benchmark corpus of sites;
//! * [`loggen`]: a synthetic day of page views for a sites folder, as an access log
//!   (`vitrine-bench gen-log`), which `vitrine replay` sends to a server;
//! * [`certs`]: a certificate store filled from a private CA (`vitrine-bench gen-certs`),
//!   for the start-up and handshake measurements of a publisher with 70,000 certificates;
//! * [`mod@plot`]: the latency plot (SVG) of a `vitrine replay --json` report
//!   (`vitrine-bench plot`).
//!
//! It uses only `vitrine`'s public API: the record types of [`vitrine::export::record`], host
//! normalisation, the log timestamps of [`vitrine::replay::access_log`] and the
//! [`vitrine::replay::Report`].

pub mod args;
pub mod certs;
pub mod corpus;
mod error;
pub mod loggen;
pub mod plot;

pub use args::{GenCorpusArgs, GenFormat, GenLogArgs, PlotArgs};
pub use certs::{gen_certs, GenCertsArgs};
pub use error::BenchError;

/// Runs `vitrine-bench gen-corpus`: writes synthetic back-office records.
pub fn gen_corpus(args: GenCorpusArgs) -> Result<(), BenchError> {
    corpus::generate(&args).map(|_| ())
}

/// Runs `vitrine-bench gen-log`: writes a synthetic access log (see [`loggen`]).
pub fn gen_log(args: GenLogArgs) -> Result<(), BenchError> {
    loggen::generate(&args).map(|_| ())
}

/// Runs `vitrine-bench plot`: draws the plot of a saved `--json` report.
pub fn plot(args: PlotArgs) -> Result<(), BenchError> {
    plot::from_json(&args.report, &args.output)
}
