//! The error type of the generators and of the plot.
//!
//! The failures these tools share with `vitrine replay` (a file that cannot be opened or read,
//! an invalid option) are worded as [`vitrine::replay::ReplayError`] words them, so a
//! benchmark's log reads the same whichever tool stopped.

use std::io;
use std::path::PathBuf;

/// Why `vitrine-bench gen-corpus`, `gen-log` or `plot` could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// Making or storing a certificate failed (`gen-certs`).
    #[error("gen-certs: {0}")]
    Certs(String),
    /// A site file, a report or an output file could not be opened or created.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Reading a report failed part-way.
    #[error("cannot read {} after line {line}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The last line read successfully (0 for a file read whole).
        line: u64,
        /// The cause.
        source: io::Error,
    },
    /// Writing a generated file (records, log, plot) failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file (`-` for standard output).
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// A site.xml could not be read by the log generator.
    #[error("{}: invalid site XML at byte {position}: {reason}", path.display())]
    Site {
        /// The site file.
        path: PathBuf,
        /// Byte offset of the problem.
        position: u64,
        /// What the XML reader said.
        reason: String,
    },
    /// The sites folder holds no site with at least one domain and one page.
    #[error("no site with a domain and a page under {}", root.display())]
    NoSites {
        /// The sites root folder.
        root: PathBuf,
    },
    /// A file given to `vitrine-bench plot` is not a usable replay report.
    #[error("{}: {reason}", path.display())]
    Report {
        /// The report file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The plotting library failed to draw (a bug: the SVG is drawn in memory).
    #[error("cannot draw the latency plot: {0}")]
    Plot(String),
    /// Any other invalid option value.
    #[error("invalid {option}: {reason}")]
    Argument {
        /// The option, e.g. `--count`.
        option: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
}
