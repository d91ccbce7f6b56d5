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
//! **Stalled responses.** A response whose body hyper has not asked for more bytes for the
//! send timeout has made no progress: the client takes nothing (an HTTP/2 flow-control
//! window left at zero, a reader that stopped reading). Hyper asks for the next chunk only
//! once the previous one is on its way (HTTP/1: written to the socket; HTTP/2: within the
//! client's window), so a download that is slow but moving keeps asking. When every
//! response of a connection is stalled, the connection is closed; when only some are (one
//! HTTP/2 stream among working ones), their bodies are dropped at once, giving back their
//! file and memory, and the stream ends with an error (a reset) as soon as hyper polls it.
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
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::budget::FileBudget;
use super::response::Body;
use super::{handler, AppState};
use crate::observe::tally;

/// Whether a connection came through the TLS listener; every request carries it (as a
/// request extension), so the plain listener can send visitors to HTTPS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Secure(pub bool);

/// Who is at the other end, and which listener's port they reached; every request carries
/// it (as a request extension) for the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addresses {
    /// The client's address.
    pub peer: Option<std::net::SocketAddr>,
    /// The port of the listener.
    pub local_port: u16,
}

impl Addresses {
    /// The addresses of an accepted TCP connection.
    pub fn of(tcp: &TcpStream) -> Addresses {
        Addresses {
            peer: tcp.peer_addr().ok(),
            local_port: tcp.local_addr().map_or(0, |a| a.port()),
        }
    }
}

/// A TLS connection: its handshake (bounded by the idle timeout, like a request head), then
/// [`serve`]. A refused or failed handshake closes the connection and is counted.
pub async fn serve_tls(
    tcp: TcpStream,
    front: Arc<crate::tls::TlsFront>,
    builder: Arc<auto::Builder<TokioExecutor>>,
    state: Arc<AppState>,
    limits: ConnLimits,
    phase: watch::Receiver<Phase>,
    permit: OwnedSemaphorePermit,
) {
    // The on-demand wait for a first certificate comes on top of the usual bound.
    let bound = limits.idle_timeout + front.on_demand_wait();
    let addresses = Addresses::of(&tcp);
    match tokio::time::timeout(bound, front.accept(tcp)).await {
        Ok(Ok(tls)) => {
            let secure = (Secure(true), addresses);
            serve(tls, secure, builder, state, limits, phase, permit).await;
        }
        Ok(Err(e)) => tally::HANDSHAKES_REFUSED.hit_with(e),
        Err(_) => tally::HANDSHAKES_REFUSED
            .hit_with(format_args!("a TLS handshake took over {bound:?}: closed")),
    }
}

/// What bounds one connection, from the server's options.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    /// Longest a connection stays open with no request in progress.
    pub idle_timeout: Duration,
    /// Longest a response may go without the client taking any of its bytes.
    pub send_timeout: Duration,
    /// The process's open-file budget.
    pub open_files: Arc<Semaphore>,
}

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
    /// The responses being sent, for the stall check.
    sending: Mutex<Vec<Arc<Sending>>>,
    /// Origin of the [`Sending::progress_ms`] clocks.
    epoch: Instant,
}

/// One response being sent: when its body last gave hyper a frame, and the body itself,
/// which the supervisor can drop when it stalls.
struct Sending {
    /// Milliseconds since [`Activity::epoch`] of the last frame taken (or of the response).
    progress_ms: AtomicU64,
    body: Mutex<Option<Body>>,
}

impl std::fmt::Debug for Sending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sending")
            .field("progress_ms", &self.progress_ms)
            .finish_non_exhaustive()
    }
}

impl Activity {
    fn new() -> Activity {
        Activity {
            in_flight: AtomicUsize::new(0),
            started: AtomicU64::new(0),
            idle_since: Mutex::new(Instant::now()),
            changed: Notify::new(),
            sending: Mutex::new(Vec::new()),
            epoch: Instant::now(),
        }
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn sending(&self) -> std::sync::MutexGuard<'_, Vec<Arc<Sending>>> {
        // Every update is one push or remove: a poisoned lock is still consistent.
        self.sending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops the bodies of the responses that took nothing for `timeout`. Returns `None`
    /// when every response being sent is stalled (the connection should close), else when
    /// to check again, if anything is being sent.
    fn check_stalls(&self, timeout: Duration) -> Option<Option<Instant>> {
        let now_ms = self.now_ms();
        let limit = timeout.as_millis() as u64;
        let mut stalled = Vec::new();
        let mut next: Option<u64> = None;
        let total = {
            let sending = self.sending();
            for s in sending.iter() {
                let at = s.progress_ms.load(Ordering::Relaxed);
                if now_ms.saturating_sub(at) >= limit {
                    stalled.push(s.clone());
                } else {
                    next = Some(next.map_or(at + limit, |n| n.min(at + limit)));
                }
            }
            sending.len()
        };
        if total > 0 && stalled.len() == total {
            return None;
        }
        for s in stalled {
            let body = s.body.lock().unwrap_or_else(|e| e.into_inner()).take();
            if body.is_some() {
                tally::STALLED.hit_with(format_args!(
                    "abandoned a response whose client took no bytes for {timeout:?} (other \
                     responses of its HTTP/2 connection still progress)"
                ));
            }
        }
        Some(next.map(|ms| self.epoch + Duration::from_millis(ms)))
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

/// A response body that keeps its request counted as in flight until it is done, and
/// tells the supervisor when it last made progress.
struct Tracked {
    sending: Arc<Sending>,
    in_flight: InFlight,
}

impl Tracked {
    fn new(body: Body, in_flight: InFlight) -> Tracked {
        let activity = &in_flight.0;
        let sending = Arc::new(Sending {
            progress_ms: AtomicU64::new(activity.now_ms()),
            body: Mutex::new(Some(body)),
        });
        activity.sending().push(sending.clone());
        Tracked { sending, in_flight }
    }

    fn body(&self) -> std::sync::MutexGuard<'_, Option<Body>> {
        // Only the supervisor's `take` contends, once per stalled response.
        self.sending.body.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        let mut sending = self.in_flight.0.sending();
        if let Some(i) = sending.iter().position(|s| Arc::ptr_eq(s, &self.sending)) {
            sending.swap_remove(i);
        }
    }
}

impl hyper::body::Body for Tracked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        let mut body = this.body();
        let Some(inner) = body.as_mut() else {
            // Abandoned by the supervisor: end the stream with an error (HTTP/2: a reset).
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client took no bytes within the send timeout",
            ))));
        };
        let polled = Pin::new(inner).poll_frame(cx);
        if polled.is_ready() {
            this.sending
                .progress_ms
                .store(this.in_flight.0.now_ms(), Ordering::Relaxed);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        // An abandoned body is not at its end: it still has an error to give.
        self.body().as_ref().is_some_and(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.body()
            .as_ref()
            .map_or_else(SizeHint::default, |b| b.size_hint())
    }
}

/// Serves one accepted connection until it closes, idles out or is aborted; the connection
/// slot (`permit`) is released when this returns.
pub async fn serve<S>(
    stream: S,
    (secure, addresses): (Secure, Addresses),
    builder: Arc<auto::Builder<TokioExecutor>>,
    state: Arc<AppState>,
    limits: ConnLimits,
    mut phase: watch::Receiver<Phase>,
    permit: OwnedSemaphorePermit,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let ConnLimits {
        idle_timeout,
        send_timeout,
        open_files,
    } = limits;
    let activity = Arc::new(Activity::new());
    let act = activity.clone();
    // A connection's file responses wait for one another at most as long as one of them
    // may stall.
    let files = FileBudget::for_connection(open_files, send_timeout);
    let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let in_flight = act.begin();
        req.extensions_mut().insert(files.clone());
        req.extensions_mut().insert(secure);
        req.extensions_mut().insert(addresses);
        let state = state.clone();
        async move {
            let resp = handler::handle(state, req).await;
            Ok::<_, std::convert::Infallible>(resp.map(|body| Tracked::new(body, in_flight)))
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
    // It fires at least once per send timeout, so that a response that stalls is noticed
    // between one and two send timeouts after its last progress.
    let timer = tokio::time::sleep(idle_timeout.min(send_timeout));
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
                // last request plus the timeout; while requests run, the next stall check
                // (or a full timeout from now if nothing is being sent yet).
                match activity.idle_deadline(idle_timeout) {
                    Some(deadline) if deadline <= Instant::now() => {
                        tracing::debug!("closing a connection idle for {idle_timeout:?}");
                        break;
                    }
                    Some(deadline) => timer
                        .as_mut()
                        .reset(deadline.min(Instant::now() + send_timeout)),
                    None => match activity.check_stalls(send_timeout) {
                        None => {
                            tally::STALLED.hit_with(format_args!(
                                "closed a connection whose client took no bytes of any \
                                 response for {send_timeout:?} (--send-timeout)"
                            ));
                            break;
                        }
                        Some(Some(check)) => timer.as_mut().reset(check.max(Instant::now())),
                        Some(None) => timer
                            .as_mut()
                            .reset(Instant::now() + idle_timeout.min(send_timeout)),
                    },
                }
            }
        }
    }
    drop(permit);
}
