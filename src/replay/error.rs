//! The error type of the replay and log-generation tooling.
//!
//! Only failures that stop a run are errors: an unparsable log line, a timed-out request or a
//! 5xx answer are *measurements* and end up in the [`Report`](super::Report) instead.

use std::io;
use std::path::PathBuf;

/// Why `vitrine replay` or `vitrine bench gen-log` could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A log file, a site file or an output file could not be opened or created.
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Reading a log file failed part-way (truncated gzip stream, I/O error).
    #[error("cannot read {} after line {line}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The last line read successfully.
        line: u64,
        /// The cause.
        source: io::Error,
    },
    /// Writing the generated log failed.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file (`-` for standard output).
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// None of the first lines of a log file is in a known format.
    #[error(
        "{}: none of the first {lines} lines is in a known log format \
         (common, combined, vhost_combined, nginx host); force one with --format",
        path.display()
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
        /// How many lines were looked at.
        lines: u64,
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
    /// The `--target` URL is not `http://HOST:PORT` or does not resolve.
    #[error("invalid --target {url:?}: {reason}")]
    Target {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other invalid option value.
    #[error("invalid {option}: {reason}")]
    Argument {
        /// The option, e.g. `--rate`.
        option: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The log reader or the dispatcher thread panicked.
    #[error("replay task failed: {0}")]
    Task(String),
    /// A file given to `vitrine bench plot` is not a usable replay report.
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
}
