//! The HTTP side of a replay: `--concurrency` workers, each owning one keep-alive HTTP/1.1
//! connection (hyper's low-level client over a tokio `TcpStream`) to the single target
//! address, taking requests from a shared queue.
//!
//! A hand-rolled connection per worker rather than a pooled client: the number of sockets is
//! exactly the configured concurrency, a request waits for a free worker (and that wait is
//! measured) instead of a pool opening more connections, every request carries its own `Host`
//! whatever connection it travels on, and connection failures are classified precisely.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderValue, HOST, USER_AGENT};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Barrier, Mutex};

use super::access_log::Request;
use super::report::{ErrorKind, Recorder, Timing};

/// A request and the time the schedule wants it sent.
#[derive(Debug)]
pub struct Job {
    /// What to send.
    pub req: Request,
    /// Intended send time (open loop).
    pub intended: Option<Instant>,
}

/// The queue workers take jobs from. Behind a mutex because tokio's channel has one
/// receiver; whoever holds the lock waits for the next job, the others wait in line (FIFO),
/// so an idle worker always gets the next request.
pub type JobQueue = Arc<Mutex<mpsc::Receiver<Job>>>;

/// Where and how to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// The server address.
    pub addr: SocketAddr,
    /// Limit for one request, from the actual send to the end of the body.
    pub timeout: Duration,
}

struct Outcome {
    status: u16,
    bytes: u64,
    retried: bool,
}

struct Connection {
    target: Arc<Target>,
    sender: Option<SendRequest<Empty<Bytes>>>,
    /// Whether the open connection already carried a request: only then is a failure before
    /// any answer the keep-alive race (server closed it while idle) rather than a real error.
    used: bool,
}

impl Connection {
    async fn connect(&mut self) -> Result<(), ErrorKind> {
        self.sender = None;
        let stream = TcpStream::connect(self.target.addr)
            .await
            .map_err(|_| ErrorKind::Connect)?;
        // Requests are single small writes; Nagle would hold them back for nothing.
        let _ = stream.set_nodelay(true);
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|_| ErrorKind::Connect)?;
        tokio::spawn(async move {
            // Its errors surface on the request that was using the connection.
            let _ = conn.await;
        });
        self.sender = Some(sender);
        self.used = false;
        Ok(())
    }

    async fn exchange(&mut self, req: &Request) -> Result<Outcome, ErrorKind> {
        let mut retried = false;
        loop {
            if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
                self.connect().await?;
            }
            let Some(sender) = self.sender.as_mut() else {
                return Err(ErrorKind::Connect);
            };
            let was_used = std::mem::replace(&mut self.used, true);
            let result = match sender.ready().await {
                Ok(()) => sender.send_request(http_request(req)).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let mut body = resp.into_body();
                    let mut bytes = 0u64;
                    while let Some(frame) = body.frame().await {
                        let frame = frame.map_err(|e| classify(&e))?;
                        if let Some(data) = frame.data_ref() {
                            bytes += data.len() as u64;
                        }
                    }
                    return Ok(Outcome {
                        status,
                        bytes,
                        retried,
                    });
                }
                Err(e) => {
                    self.sender = None;
                    let race = e.is_canceled() || e.is_incomplete_message() || e.is_closed();
                    if was_used && race && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(classify(&e));
                }
            }
        }
    }
}

fn http_request(req: &Request) -> hyper::Request<Empty<Bytes>> {
    let mut r = hyper::Request::new(Empty::new());
    *r.method_mut() = req.method.clone();
    *r.uri_mut() = req.target.clone();
    let h = r.headers_mut();
    h.insert(HOST, req.host.clone());
    h.insert(USER_AGENT, HeaderValue::from_static("vitrine-replay"));
    r
}

fn classify(e: &hyper::Error) -> ErrorKind {
    if e.is_parse() || e.is_parse_status() || e.is_parse_too_large() || e.is_user() {
        ErrorKind::Http
    } else if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Io
    }
}

/// One connection's loop: connect, wait at `ready` until every worker has connected (so the
/// first requests do not pay for the handshakes), then send jobs until the queue closes.
pub async fn worker(target: Arc<Target>, jobs: JobQueue, rec: Arc<Recorder>, ready: Arc<Barrier>) {
    let mut conn = Connection {
        target: target.clone(),
        sender: None,
        used: false,
    };
    // A failure here shows up again, and is counted, on the first request.
    let _ = conn.connect().await;
    ready.wait().await;
    loop {
        let next = { jobs.lock().await.recv().await };
        let Some(job) = next else { break };
        let sent = Instant::now();
        let result = tokio::time::timeout(target.timeout, conn.exchange(&job.req)).await;
        let t = Timing {
            intended: job.intended,
            sent,
            done: Instant::now(),
        };
        match result {
            Ok(Ok(out)) => {
                if out.retried {
                    rec.retried();
                }
                rec.answered(&t, out.status, out.bytes);
            }
            Ok(Err(kind)) => {
                conn.sender = None;
                rec.failed(&t, kind);
            }
            Err(_elapsed) => {
                // The connection may still deliver the late answer: never reuse it.
                conn.sender = None;
                rec.failed(&t, ErrorKind::Timeout);
            }
        }
    }
}
