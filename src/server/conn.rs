//! One client connection, from accept to close: HTTP/1 or HTTP/2 (hyper-util's auto
//! builder), plus the two things hyper does not do for us.
//!
//! **Idle connections.** hyper's `header_read_timeout` only runs once HTTP/1 is parsing a
//! head. Before that, the auto builder reads up to 24 bytes to tell HTTP/1 from the HTTP/2
//! preface with *no* timeout, so a client that connects and sends nothing (or a slow partial
//! preface) would hold its connection slot forever; and HTTP/2 has no idle timeout at all.
//! So every connection with no request in progress is closed after the idle timeout (the
//! header timeout): before its first request, between keep-alive requests, on either
//! protocol. "In progress" lasts until the response body is sent or dropped, so a long
//! download is never cut for being idle.
//!
//! **Draining.** On shutdown, a connection that already served a request, or is serving one,
//! is shut down gracefully at once (HTTP/1: the current response completes, then close;
//! HTTP/2: GOAWAY, open streams complete). A connection that has not sent a request yet is
//! left its idle timeout to send one, and shut down once that request starts: it was
//! accepted before the listener closed, so its request is owed an answer. When the grace
//! period ends, whatever is still open is dropped.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpStream;
use tokio::sync::{watch, Notify, OwnedSemaphorePermit};
use tokio::time::Instant;

use super::response::Body;
use super::{handler, AppState};

/// Where the server is in its life; connections watch it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Serving.
    Running,
    /// Shutting down: finish what was accepted, take nothing new.
    Draining,
    /// The grace period is over: drop every connection now.
    Abort,
}

/// What a connection's requests tell its supervisor.
#[derive(Debug)]
struct Activity {
    /// Requests whose response is not yet fully sent.
    in_flight: AtomicUsize,
    /// Requests started on this connection.
    started: AtomicU64,
    /// When the connection last became idle (accept, or end of a response).
    idle_since: Mutex<Instant>,
    /// Notified when the first request starts.
    changed: Notify,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            in_flight: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            idle_since: Mutex::new(Instant::now()),
            changed: Notify::new(),
        }
    }

    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        // Only the first request changes what the connection loop decides (a draining
        // connection that had not sent one yet is shut down once it does); the idle timer
        // reads the activity when it fires.
        if self.started.fetch_add(1, Ordering::SeqCst) == 0 {
            self.changed.notify_one();
        }
        InFlight(self.clone())
    }

    /// When the connection counts as idle for too long; `None` while a request is in flight.
    fn idle_deadline(&self, timeout: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = *self.idle_since.lock().unwrap_or_else(|e| e.into_inner());
        Some(since + timeout)
    }
}

/// Held from the start of a request until its response body is finished or dropped.
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.idle_since.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A response body that keeps its request counted as in flight until it is done.
struct Tracked {
    inner: Body,
    _in_flight: InFlight,
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Serves one accepted connection until it closes, idles out or is aborted; the connection
/// slot (`permit`) is released when this returns.
pub async fn serve(
    stream: TcpStream,
    builder: Arc<auto::Builder<TokioExecutor>>,
    state: Arc<AppState>,
    idle_timeout: Duration,
    mut phase: watch::Receiver<Phase>,
    permit: OwnedSemaphorePermit,
) {
    let activity = Arc::new(Activity::new());
    let act = activity.clone();
    let service = service_fn(move |req| {
        let in_flight = act.begin();
        let state = state.clone();
        async move {
            let resp = handler::handle(state, req).await;
            Ok::<_, std::convert::Infallible>(resp.map(|inner| Tracked {
                inner,
                _in_flight: in_flight,
            }))
        }
    });
    let conn = builder
        .serve_connection(TokioIo::new(stream), service)
        .into_owned();
    tokio::pin!(conn);
    let mut draining = false;
    let mut shutting_down = false;
    // One timer for the connection's life, moved only when it fires: re-arming it around
    // every request cost two timer-wheel updates and two wake-ups of this loop per request.
    let timer = tokio::time::sleep(idle_timeout);
    tokio::pin!(timer);
    loop {
        if draining && !shutting_down && activity.started.load(Ordering::SeqCst) > 0 {
            conn.as_mut().graceful_shutdown();
            shutting_down = true;
        }
        tokio::select! {
            // The connection first: a request that has just arrived counts before the timer.
            biased;
            ended = conn.as_mut() => {
                if let Err(e) = ended {
                    tracing::debug!("connection ended with error: {e}");
                }
                break;
            }
            () = activity.changed.notified() => {}
            changed = phase.changed() => {
                let now = if changed.is_ok() { *phase.borrow_and_update() } else { Phase::Abort };
                match now {
                    Phase::Running => {}
                    Phase::Draining => draining = true,
                    Phase::Abort => break,
                }
            }
            () = &mut timer => {
                // Idle for the whole timeout: nothing is in progress, so the connection is
                // dropped rather than shut down politely (a half-sent head is what this is
                // for). Otherwise the timer moves to when that would be: the end of the
                // last request plus the timeout, or a full timeout from now while one runs.
                match activity.idle_deadline(idle_timeout) {
                    Some(deadline) if deadline <= Instant::now() => {
                        tracing::debug!("closing a connection idle for {idle_timeout:?}");
                        break;
                    }
                    Some(deadline) => timer.as_mut().reset(deadline),
                    None => timer.as_mut().reset(Instant::now() + idle_timeout),
                }
            }
        }
    }
    drop(permit);
}
