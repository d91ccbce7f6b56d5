//! The error type of `vitrine replay`.
//!
//! Only failures that stop a run are errors: an unparsable log line, a timed-out request or a
//! 5xx answer are *measurements* and end up in the [`Report`](super::Report) instead.

use std::io;
use std::path::PathBuf;

/// Why `vitrine replay` could not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A log file could not be opened.
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
    /// The report could not be written to stdout (a reader that has gone is not this).
    #[error("cannot write the report to stdout: {0}")]
    Stdout(io::Error),
    /// The log reader or the dispatcher thread panicked.
    #[error("replay task failed: {0}")]
    Task(String),
}
