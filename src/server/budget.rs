//! What one client and the whole process may hold: file descriptors split between
//! connections and open file responses, checked against the descriptor limit at start-up.
//!
//! Every connection holds one descriptor and every media or asset response one more until
//! its body is sent or abandoned. Left unbounded, a few HTTP/2 clients that open streams and
//! never read them take every descriptor, and then `accept` fails for everyone. So, at
//! start-up, the soft `RLIMIT_NOFILE` is raised to the hard one (as nginx's
//! `worker_rlimit_nofile` and Go's runtime do) and split: a reserve for the process's own
//! files (Redis, site files being read by the render threads, the watcher, the log), the
//! connections (`--max-connections`, lowered if it does not fit), and the open-file budget.
//! A file response beyond the budget gets 503 with `Retry-After`; a connection beyond its
//! limit waits in the kernel backlog (see [`super`]). The sum never exceeds the limit, so
//! `accept` never fails for lack of descriptors.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::response::ServeError;
use crate::observe::tally;

/// HTTP/2 streams one connection may have open at once. Browsers open up to about 100 for
/// a page (Chromium's and Firefox's default limit), which a mini-site never needs.
pub const MAX_STREAMS: u32 = 100;

/// File responses (media, assets) one connection may have open at once; further ones of the
/// same connection wait for one of these to finish (no descriptor is held meanwhile). A page
/// of photos fetched over HTTP/2 streams them through these few at a time.
pub const FILES_PER_CONNECTION: usize = 16;

/// Descriptors kept for the process itself, beyond one per render thread.
const RESERVE: u64 = 64;

/// Most open file responses by default, whatever the limit.
const DEFAULT_MAX_OPEN_FILES: u64 = 8192;

/// Errors of the descriptor budget.
#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    /// The limit leaves too little for connections and files.
    #[error(
        "the file descriptor limit is {limit}, too low to serve: at least {needed} are needed \
         ({reserve} for the process itself): raise it (ulimit -n, or LimitNOFILE= in the \
         systemd unit)"
    )]
    TooLow {
        /// The limit in force.
        limit: u64,
        /// The least that works.
        needed: u64,
        /// The process's own share.
        reserve: u64,
    },
}

/// The split of the descriptor limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budgets {
    /// The soft descriptor limit in force (after raising it).
    pub fd_limit: u64,
    /// What it was before raising it.
    pub fd_limit_before: u64,
    /// Connections open at once.
    pub connections: usize,
    /// Open file responses, process-wide.
    pub open_files: usize,
    /// Descriptors left for the process itself.
    pub reserve: u64,
    /// The connection limit asked for, when it had to be lowered.
    pub connections_lowered_from: Option<usize>,
}

impl Budgets {
    /// Splits `fd_limit` between the reserve (`RESERVE` plus `render_threads`),
    /// `max_connections` (lowered to three quarters of what is left if it does not fit)
    /// and open files (`max_open_files`, or what is left, up to 8192).
    pub fn split(
        fd_limit: u64,
        fd_limit_before: u64,
        max_connections: usize,
        max_open_files: Option<usize>,
        render_threads: usize,
    ) -> Result<Budgets, BudgetError> {
        let reserve = RESERVE + render_threads as u64;
        // Room for at least a few connections and files.
        let needed = reserve + 16;
        if fd_limit < needed {
            return Err(BudgetError::TooLow {
                limit: fd_limit,
                needed,
                reserve,
            });
        }
        let usable = fd_limit - reserve;
        let files_wanted = max_open_files.map(|n| n as u64);
        let conn_room = match files_wanted {
            Some(f) => usable.saturating_sub(f).max(usable / 4),
            None => usable * 3 / 4,
        };
        let connections = (max_connections.max(1) as u64).min(conn_room);
        let files_room = usable - connections;
        let open_files = match files_wanted {
            Some(f) => f.min(files_room),
            None => files_room.min(DEFAULT_MAX_OPEN_FILES),
        }
        .max(1);
        Ok(Budgets {
            fd_limit,
            fd_limit_before,
            connections: connections as usize,
            open_files: open_files as usize,
            reserve,
            connections_lowered_from: (connections < max_connections as u64)
                .then_some(max_connections),
        })
    }

    /// Raises the soft descriptor limit to the hard one, then splits it (see
    /// [`Budgets::split`]).
    pub fn from_process(
        max_connections: usize,
        max_open_files: Option<usize>,
        render_threads: usize,
    ) -> Result<Budgets, BudgetError> {
        let (before, now) = raise_fd_limit();
        Budgets::split(
            before.max(now),
            before,
            max_connections,
            max_open_files,
            render_threads,
        )
    }

    /// Logs the split: one INFO line, and a WARN when the connection limit was lowered.
    pub fn log(&self) {
        let raised = if self.fd_limit > self.fd_limit_before {
            format!(" (raised from {})", self.fd_limit_before)
        } else {
            String::new()
        };
        tracing::info!(
            "file descriptors: limit {}{raised}; budget: {} connections, {} open files \
             ({FILES_PER_CONNECTION} per connection, {MAX_STREAMS} HTTP/2 streams per \
             connection), {} kept for the process",
            self.fd_limit,
            self.connections,
            self.open_files,
            self.reserve
        );
        if let Some(asked) = self.connections_lowered_from {
            tracing::warn!(
                "--max-connections {asked} does not fit in the descriptor limit of {}: serving \
                 at most {} connections; raise the limit (ulimit -n, LimitNOFILE=) to allow more",
                self.fd_limit,
                self.connections
            );
        }
    }
}

/// Sets the soft `RLIMIT_NOFILE` to the hard limit; returns (soft before, soft after).
fn raise_fd_limit() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer to a local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return (1024, 1024);
    }
    let before = lim.rlim_cur;
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads one rlimit through a valid pointer to a local.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return (before, raised.rlim_cur);
        }
    }
    (before, before)
}

/// The open-file budgets a file response draws on: the process's, shared by all
/// connections, and its connection's.
#[derive(Debug, Clone)]
pub struct FileBudget {
    process: Arc<Semaphore>,
    connection: Arc<Semaphore>,
    /// Longest a response waits for its connection's permit.
    wait: Duration,
}

/// Held by a file response until its body is finished or dropped.
#[derive(Debug)]
pub struct FilePermit {
    _process: OwnedSemaphorePermit,
    _connection: OwnedSemaphorePermit,
}

impl FileBudget {
    /// The budget of one new connection, drawing on `process`.
    pub fn for_connection(process: Arc<Semaphore>, wait: Duration) -> FileBudget {
        FileBudget {
            process,
            connection: Arc::new(Semaphore::new(FILES_PER_CONNECTION)),
            wait,
        }
    }

    /// A permit to open one file: waits (bounded) for the connection's share, then takes one
    /// of the process's at once or refuses with 503.
    pub async fn acquire(&self) -> Result<FilePermit, ServeError> {
        let connection =
            tokio::time::timeout(self.wait, self.connection.clone().acquire_owned()).await;
        let Ok(Ok(connection)) = connection else {
            return Err(ServeError::FilesBusy);
        };
        let Ok(process) = self.process.clone().try_acquire_owned() else {
            tally::FILE_BUDGET.hit_with(
                "a file response was refused with 503: the process's open-file budget is \
                 spent (raise the descriptor limit, or --max-open-files)",
            );
            return Err(ServeError::FilesBusy);
        };
        Ok(FilePermit {
            _process: process,
            _connection: connection,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_split_never_exceeds_the_limit() {
        for limit in [100u64, 256, 1024, 2048, 65_536, 1 << 20] {
            for conns in [1usize, 100, 10_000, 1_000_000] {
                for files in [None, Some(10), Some(100_000)] {
                    let b = Budgets::split(limit, limit, conns, files, 3).unwrap();
                    let total = b.connections as u64 + b.open_files as u64 + b.reserve;
                    assert!(total <= limit, "{b:?} is over {limit}");
                    assert!(b.connections >= 1 && b.open_files >= 1, "{b:?}");
                    assert!(b.connections <= conns);
                }
            }
        }
    }

    #[test]
    fn a_connection_limit_that_does_not_fit_is_lowered_and_said() {
        let b = Budgets::split(2048, 1024, 10_000, None, 3).unwrap();
        assert_eq!(b.reserve, 67);
        assert_eq!(b.connections, (2048 - 67) * 3 / 4);
        assert_eq!(b.open_files, 2048 - 67 - b.connections);
        assert_eq!(b.connections_lowered_from, Some(10_000));
        let roomy = Budgets::split(1 << 20, 1024, 10_000, None, 3).unwrap();
        assert_eq!(roomy.connections, 10_000);
        assert_eq!(roomy.open_files, 8192);
        assert_eq!(roomy.connections_lowered_from, None);
    }

    #[test]
    fn a_limit_below_the_reserve_is_refused_with_what_to_do() {
        let err = Budgets::split(50, 50, 100, None, 3).unwrap_err();
        assert!(err.to_string().contains("ulimit -n"), "{err}");
    }
}
