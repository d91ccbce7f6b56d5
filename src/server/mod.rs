//! The HTTP server: accept loop, connection limits, timeouts and graceful shutdown. The
//! request pipeline itself is in [`handler`]; the error -> status mapping in [`response`].
//!
//! Lifecycle: the caller binds the listener and passes it in with a shutdown future
//! ([`Server::run`]), so tests run on port 0 and stop the server through a channel. A
//! connection permit is taken *before* `accept`, so excess connections wait in the kernel
//! backlog instead of becoming tasks. hyper's header-read timeout only works with a timer
//! installed, so one is; idle connections (including ones that never send a byte, which
//! hyper would keep forever) are closed by [`conn`]. On shutdown, the connections already
//! queued in the kernel are accepted, then the listener is closed (new connections are
//! refused), in-flight requests finish, connections still open after the grace period
//! are dropped, and the access log writes the lines of every request answered.
//!
//! What a connection may hold is bounded too ([`budget`]): HTTP/2 streams, open files (per
//! connection and process-wide, within the descriptor limit), and time without progress
//! (`send_timeout`, enforced by [`conn`]).

pub mod budget;
pub mod conn;
pub mod files;
pub mod handler;
pub mod range;
pub mod response;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use conn::Phase;

use crate::fsx::Root;
use crate::observe::access_log::AccessLog;
use crate::observe::tally;
use crate::page::Pages;
use crate::tls::TlsFront;

/// Most bytes of a request head (request line and headers; HTTP/2: the decoded header
/// list). Beyond, HTTP/1 gets 431 and the connection is closed. Browsers send 1 to 4 KiB;
/// Caddy caps at 16 KiB and nginx at 4 buffers of 8 KiB. (hyper's `max_buf_size` is what
/// bounds the head: hyper-util's auto builder does not expose `max_header_size`.)
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Most header fields in a request; beyond, 431. Browsers send about 20.
pub const MAX_HEADERS: usize = 64;

/// Everything a request needs, shared by all connections.
pub struct AppState {
    /// The map, the sites, the themes and the render pool: pages.
    pub pages: Pages,
    /// The theme assets root (`STYLESHEETS/assets`).
    pub assets: Root,
    /// Whether media files with more than one hard link may be served (`--media-hardlinks`).
    pub media_hardlinks: bool,
    /// The HTTPS side, when there is one: plain requests for a host with a certificate are
    /// redirected there, and the plain listener answers ACME HTTP-01 challenges.
    pub https: Option<Https>,
    /// The access log (`--access-log`), if any.
    pub access_log: Option<AccessLog>,
}

/// What the plain listener needs to know of the HTTPS one.
pub struct Https {
    /// The handshakes and the certificate store.
    pub front: Arc<TlsFront>,
    /// The port redirects name (none in the URL when 443).
    pub port: u16,
}

/// Connection-level settings.
#[derive(Debug, Clone)]
pub struct ServerOptions {
    /// Most connections open at once (within the descriptor budget, see [`budget`]).
    pub max_connections: usize,
    /// Most media and asset responses open at once, process-wide.
    pub max_open_files: usize,
    /// Time allowed to receive a request's headers (slow clients are cut off), and the
    /// longest a connection stays open with no request in progress.
    pub header_read_timeout: Duration,
    /// Longest a response may go without the client taking any of its bytes.
    pub send_timeout: Duration,
    /// How long in-flight requests may run after shutdown starts.
    pub shutdown_grace: Duration,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_connections: 10_000,
            max_open_files: 8192,
            header_read_timeout: Duration::from_secs(10),
            send_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    tls: Option<(TcpListener, Arc<TlsFront>)>,
    state: Arc<AppState>,
    options: ServerOptions,
}

impl Server {
    /// Wraps a bound listener.
    pub fn new(listener: TcpListener, state: Arc<AppState>, options: ServerOptions) -> Server {
        Server {
            listener,
            tls: None,
            state,
            options,
        }
    }

    /// Adds the HTTPS listener, whose handshakes `front` runs.
    pub fn with_tls(mut self, listener: TcpListener, front: Arc<TlsFront>) -> Server {
        self.tls = Some((listener, front));
        self
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The HTTPS listener's address, if there is one.
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Serves until `shutdown` completes, then drains within the grace period.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let Server {
            listener,
            tls,
            state,
            options,
        } = self;
        let max = options
            .max_connections
            .clamp(1, Semaphore::MAX_PERMITS.min(u32::MAX as usize));
        let permits = Arc::new(Semaphore::new(max));
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(options.header_read_timeout)
            .max_buf_size(MAX_HEADER_BYTES)
            .max_headers(MAX_HEADERS);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(budget::MAX_STREAMS)
            .max_header_list_size(MAX_HEADER_BYTES as u32);
        let builder = Arc::new(builder);
        let (phase_tx, phase_rx) = watch::channel(Phase::Running);
        let limits = conn::ConnLimits {
            idle_timeout: options.header_read_timeout,
            send_timeout: options.send_timeout,
            open_files: Arc::new(Semaphore::new(
                options.max_open_files.clamp(1, Semaphore::MAX_PERMITS),
            )),
        };
        let spawn = |stream: TcpStream, permit| {
            let _ = stream.set_nodelay(true);
            let addresses = conn::Addresses::of(&stream);
            tokio::spawn(conn::serve(
                stream,
                (conn::Secure(false), addresses),
                builder.clone(),
                state.clone(),
                limits.clone(),
                phase_rx.clone(),
                permit,
            ));
        };
        let flusher = tally::spawn_flusher();
        // HTTPS: the same permits, limits and phases; handshakes run in the connection's
        // task, never in the accept loop.
        let tls_loop = tls.map(|(listener, front)| {
            let (permits, builder, state) = (permits.clone(), builder.clone(), state.clone());
            let (limits, phase_rx) = (limits.clone(), phase_rx.clone());
            tokio::spawn(async move {
                let mut backoff = Duration::from_millis(5);
                loop {
                    let permit = permits.clone().acquire_owned().await.expect("never closed");
                    match listener.accept().await {
                        Ok((tcp, _)) => {
                            backoff = Duration::from_millis(5);
                            let _ = tcp.set_nodelay(true);
                            tokio::spawn(conn::serve_tls(
                                tcp,
                                front.clone(),
                                builder.clone(),
                                state.clone(),
                                limits.clone(),
                                phase_rx.clone(),
                                permit,
                            ));
                        }
                        Err(e) => {
                            tracing::warn!("HTTPS accept failed: {e}; retrying in {backoff:?}");
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(1));
                        }
                    }
                }
            })
        });
        tokio::pin!(shutdown);
        let mut backoff = Duration::from_millis(5);

        loop {
            let permit = tokio::select! {
                p = permits.clone().acquire_owned() => p.expect("semaphore never closed"),
                () = &mut shutdown => break,
            };
            let (stream, _peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(conn) => {
                        backoff = Duration::from_millis(5);
                        conn
                    }
                    Err(e) => {
                        // EMFILE and friends: back off instead of spinning.
                        tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(1));
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            spawn(stream, permit);
        }

        // Clients whose connection the kernel completed before now have sent their request
        // already: closing the listener would reset them. Serve them, then close it, so
        // that only connections made from now on are refused.
        let mut late = 0usize;
        match listener.into_std() {
            Ok(listener) => {
                while let Ok(permit) = permits.clone().try_acquire_owned() {
                    // WouldBlock (the queue is empty) or any other error ends the loop.
                    let Ok((stream, _)) = listener.accept() else {
                        break;
                    };
                    let stream = stream
                        .set_nonblocking(true)
                        .and_then(|()| TcpStream::from_std(stream));
                    match stream {
                        Ok(stream) => {
                            spawn(stream, permit);
                            late += 1;
                        }
                        Err(e) => tracing::warn!("cannot serve a queued connection: {e}"),
                    }
                }
            }
            Err(e) => tracing::warn!("cannot take the queued connections: {e}"),
        }
        if let Some(task) = &tls_loop {
            // Closes the HTTPS listener: new TLS connections are refused from now on.
            task.abort();
        }
        let _ = phase_tx.send(Phase::Draining);
        tracing::info!("listener closed ({late} queued connections taken); draining");

        let all = u32::try_from(max).expect("MAX_PERMITS fits in u32");
        tokio::select! {
            _ = permits.acquire_many(all) => tracing::info!("all connections drained"),
            () = tokio::time::sleep(options.shutdown_grace) => {
                tracing::warn!(
                    "shutdown grace period of {:?} elapsed; dropping {} open connections",
                    options.shutdown_grace,
                    max - permits.available_permits()
                );
                let _ = phase_tx.send(Phase::Abort);
                // Let the connection tasks see it and close their sockets.
                let _ = tokio::time::timeout(Duration::from_secs(1), permits.acquire_many(all)).await;
            }
        }
        if state.access_log.is_some() {
            // Every request has been answered or dropped: write their lines before the
            // process exits (the writer joins a thread, so off the reactor).
            let state = state.clone();
            let closed = tokio::task::spawn_blocking(move || {
                if let Some(log) = &state.access_log {
                    log.close();
                }
            });
            let _ = closed.await;
        }
        flusher.abort();
        tally::flush();
        Ok(())
    }
}
