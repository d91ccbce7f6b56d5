//! Export: back-office records (JSON Lines, one professional per line) become site XML files
//! on disk, with the domain map kept in step.
//!
//! * [`record`]: the record format and its rules (field paths in every error).
//! * [`xml`]: a checked record written as its site XML.
//! * [`files`]: atomic, durable replacement of site files; archive and restore.
//! * [`pipeline`]: one run over a stream of records, on worker threads, and the order of
//!   file and map updates.
//! * [`inbox`]: `--watch`: export the record files dropped in a folder.
//! * [`unpublish`]: a site's domains out of the map, then its folder to the archive.
//!
//! Redis is reached only through [`crate::map::redis::MapWriter`].

pub mod files;
pub mod inbox;
pub mod pipeline;
pub mod record;
pub mod unpublish;
pub mod xml;

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

pub use pipeline::{run, Input};
use record::FieldError;

/// What stops a whole run (record-level problems are [`Failure`]s in the [`Summary`]).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The sites folder is missing.
    #[error("sites folder {dir} does not exist: create it or fix --sites (VITRINE_SITES)")]
    Sites {
        /// The folder.
        dir: PathBuf,
    },
    /// The stylesheets folder cannot be listed (themes are checked against it).
    #[error("stylesheets folder {dir}: {cause}: fix --stylesheets (VITRINE_STYLESHEETS)")]
    Stylesheets {
        /// The folder.
        dir: PathBuf,
        /// The I/O error (named so, not `source`, because the message already shows it).
        cause: std::io::Error,
    },
    /// The embedded schema does not compile (a build problem).
    #[error("{0}")]
    Schema(String),
    /// The input could not be read to the end; records read so far were exported.
    #[error("reading {name}: {cause} (the records before the error were exported)")]
    Input {
        /// The input's name.
        name: String,
        /// The I/O error.
        cause: std::io::Error,
    },
    /// The domain map could not be reached at the start.
    #[error("{0}: is redis-server running? (--redis URL or VITRINE_REDIS; leave both unset to write files only)")]
    Map(crate::map::MapError),
}

impl From<crate::map::MapError> for ExportError {
    fn from(e: crate::map::MapError) -> Self {
        ExportError::Map(e)
    }
}

/// Settings of an export run.
#[derive(Debug, Clone)]
pub struct Options {
    /// Sites root.
    pub sites: PathBuf,
    /// Stylesheets folder (themes a record may name).
    pub stylesheets: PathBuf,
    /// Archive folder of unpublished sites (default `SITES/.archive`).
    pub archive: Option<PathBuf>,
    /// Redis URL of the domain map; `None`: files only.
    pub redis: Option<String>,
    /// Export only these site ids (all when empty).
    pub only: Vec<String>,
    /// Threads that parse, check, write and validate XML.
    pub build_threads: usize,
    /// Threads that write files (fsync-bound).
    pub write_threads: usize,
    /// Show a progress bar on stderr.
    pub progress: bool,
    /// Print each failure on stderr as it happens.
    pub print_failures: bool,
}

impl Options {
    /// Defaults for a sites and a stylesheets folder: files only, one builder per core,
    /// four writers per core, no progress bar, failures printed.
    pub fn new(sites: PathBuf, stylesheets: PathBuf) -> Options {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        Options {
            sites,
            stylesheets,
            archive: None,
            redis: None,
            only: Vec::new(),
            build_threads: cores,
            write_threads: cores * 4,
            progress: false,
            print_failures: true,
        }
    }
}

/// A record that was not published (or not completely: see `kind`).
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    /// Line of the record in the input (1-based).
    pub line: u64,
    /// Site id, when the record has a readable one.
    pub id: Option<String>,
    /// Stage: `record` (the record breaks the format or its rules), `duplicate`, `conflict`
    /// (a domain of another site), `xml`, `schema`, `file`, `map`.
    pub kind: &'static str,
    /// The problems, each with its field path when it concerns one field.
    pub problems: Vec<FieldError>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "line {}", self.line)?;
            if let Some(id) = &self.id {
                write!(f, " ({id})")?;
            }
            write!(f, ": {p}")?;
        }
        Ok(())
    }
}

/// What a run did.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// The input's name.
    pub input: String,
    /// Records read (non-blank lines).
    pub records: u64,
    /// Site files created or replaced.
    pub written: u64,
    /// Site files already up to date (not rewritten).
    pub unchanged: u64,
    /// Records left out by `--only`.
    pub skipped: u64,
    /// Records that failed.
    pub failed: u64,
    /// Sites brought back from the archive with their media.
    pub media_restored: u64,
    /// Domains added to the map.
    pub domains_added: u64,
    /// Domains removed from the map.
    pub domains_removed: u64,
    /// The map updated, or `None` when only files were written.
    pub map: Option<String>,
    /// Wall-clock time of the run.
    pub elapsed_ms: u64,
    /// The failures, in line order (at most 10,000).
    pub failures: Vec<Failure>,
    /// Failures beyond those listed.
    pub failures_omitted: u64,
    /// `--only` ids that no record of the input has.
    pub not_found: Vec<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.elapsed_ms as f64 / 1000.0;
        write!(
            f,
            "{}: {} records: {} written, {} unchanged, {} failed",
            self.input, self.records, self.written, self.unchanged, self.failed
        )?;
        if self.skipped > 0 {
            write!(f, ", {} skipped (--only)", self.skipped)?;
        }
        match &self.map {
            Some(url) => write!(
                f,
                "; map {url}: {} domains added, {} removed",
                self.domains_added, self.domains_removed
            )?,
            None => write!(f, "; files only, domain map NOT updated (no --redis)")?,
        }
        if self.media_restored > 0 {
            write!(
                f,
                "; {} sites restored from the archive",
                self.media_restored
            )?;
        }
        write!(f, "; {secs:.1} s")?;
        if secs > 0.0 && self.records > 0 {
            write!(f, " ({:.0} records/s)", self.records as f64 / secs)?;
        }
        if !self.not_found.is_empty() {
            write!(f, "; not in the input: {}", self.not_found.join(", "))?;
        }
        Ok(())
    }
}
