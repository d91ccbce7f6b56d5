//! The HTTP side of a replay: `--concurrency` workers, each owning one keep-alive HTTP/1.1
//! connection to the single target address, taking requests from a shared queue.
//!
//! A hand-rolled connection per worker rather than a pooled client: the number of sockets is
//! exactly the configured concurrency, a request waits for a free worker (and that wait is
//! measured) instead of a pool opening more connections, every request carries its own `Host`
//! whatever connection it travels on, and connection failures are classified precisely.
//!
//! The HTTP/1.1 exchange itself is a few lines over the socket (`httparse` reads the answer's
//! head and chunk sizes) rather than hyper's client: the replayer shares the machine with the
//! server it measures, and hyper's client connection is a second task fed through channels,
//! with a header map and buffers per request. Answers are read and counted, never kept.
//! Bodies: `Content-Length`, chunked, or up to the close; none for `HEAD`, 1xx, 204 and 304.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
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

/// Largest answer head accepted; more is an HTTP error.
const MAX_HEAD: usize = 64 * 1024;
/// Most header lines in an answer head.
const MAX_HEADERS: usize = 64;
/// Read buffer of a connection (grown only for a larger head).
const READ_BUF: usize = 16 * 1024;

/// Why an exchange failed.
enum Failure {
    /// Nothing came back on a connection that had already carried a request: the server
    /// may have closed it while idle (keep-alive race); worth one more try on a new one.
    Race,
    /// A real failure.
    Kind(ErrorKind),
}

impl From<ErrorKind> for Failure {
    fn from(kind: ErrorKind) -> Failure {
        Failure::Kind(kind)
    }
}

/// How the body of an answer ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

struct Connection {
    target: Arc<Target>,
    stream: Option<TcpStream>,
    /// Whether the open connection already carried a request: only then is a failure before
    /// any answer the keep-alive race (server closed it while idle) rather than a real error.
    used: bool,
    /// The request being sent.
    out: Vec<u8>,
    /// Bytes read and not consumed yet: `buf[start..end]`.
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Connection {
    fn new(target: Arc<Target>) -> Connection {
        Connection {
            target,
            stream: None,
            used: false,
            out: Vec::with_capacity(512),
            buf: vec![0; READ_BUF],
            start: 0,
            end: 0,
        }
    }

    async fn connect(&mut self) -> Result<(), ErrorKind> {
        self.stream = None;
        let stream = TcpStream::connect(self.target.addr)
            .await
            .map_err(|_| ErrorKind::Connect)?;
        // Requests are single small writes; Nagle would hold them back for nothing.
        let _ = stream.set_nodelay(true);
        self.stream = Some(stream);
        self.used = false;
        self.start = 0;
        self.end = 0;
        Ok(())
    }

    async fn exchange(&mut self, req: &Request) -> Result<Outcome, ErrorKind> {
        let mut retried = false;
        loop {
            if self.stream.is_none() {
                self.connect().await?;
            }
            let was_used = std::mem::replace(&mut self.used, true);
            match self.send_and_read(req).await {
                Ok((status, bytes, keep)) => {
                    if !keep {
                        self.stream = None;
                    }
                    return Ok(Outcome {
                        status,
                        bytes,
                        retried,
                    });
                }
                Err(failure) => {
                    self.stream = None;
                    match failure {
                        Failure::Race if was_used && !retried => retried = true,
                        Failure::Race => return Err(ErrorKind::Io),
                        Failure::Kind(kind) => return Err(kind),
                    }
                }
            }
        }
    }

    /// One request and its answer: (status, body bytes, whether the connection stays open).
    async fn send_and_read(&mut self, req: &Request) -> Result<(u16, u64, bool), Failure> {
        self.out.clear();
        self.out.extend_from_slice(req.method.as_str().as_bytes());
        self.out.push(b' ');
        let target = req.target.path_and_query().map_or("/", |p| p.as_str());
        self.out.extend_from_slice(target.as_bytes());
        self.out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
        self.out.extend_from_slice(req.host.as_bytes());
        self.out
            .extend_from_slice(b"\r\nUser-Agent: vitrine-replay\r\n\r\n");
        let Some(stream) = self.stream.as_mut() else {
            return Err(ErrorKind::Connect.into());
        };
        if stream.write_all(&self.out).await.is_err() {
            return Err(Failure::Race);
        }
        let head_only = req.method == hyper::Method::HEAD;
        loop {
            let (status, framing, keep) = self.read_head(head_only).await?;
            // An interim answer (100 Continue...) is followed by the real one.
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            let bytes = match framing {
                Framing::None => 0,
                Framing::Length(n) => {
                    self.skip(n).await?;
                    n
                }
                Framing::Chunked => self.skip_chunked().await?,
                Framing::UntilClose => self.skip_to_close().await?,
            };
            return Ok((status, bytes, keep && framing != Framing::UntilClose));
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at the end of the stream.
    async fn fill(&mut self) -> Result<usize, Failure> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() < MAX_HEAD + READ_BUF {
                self.buf.resize(self.buf.len() * 2, 0);
            } else {
                return Err(ErrorKind::Http.into());
            }
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(ErrorKind::Io.into());
        };
        match stream.read(&mut self.buf[self.end..]).await {
            Ok(n) => {
                self.end += n;
                Ok(n)
            }
            Err(_) => Err(ErrorKind::Io.into()),
        }
    }

    /// Reads more bytes into the buffer where more must come: the end of the stream is an
    /// I/O error.
    async fn fill_more(&mut self) -> Result<(), Failure> {
        match self.fill().await? {
            0 => Err(ErrorKind::Io.into()),
            _ => Ok(()),
        }
    }

    /// Reads and consumes an answer head: (status, framing of its body, keep-alive).
    async fn read_head(&mut self, head_only: bool) -> Result<(u16, Framing, bool), Failure> {
        let mut received = self.end > self.start;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            match resp.parse(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete(len)) => {
                    let status = resp.code.unwrap_or(0);
                    let framing = framing(&resp, head_only)?;
                    let keep = keep_alive(&resp);
                    self.start += len;
                    return Ok((status, framing, keep));
                }
                Ok(httparse::Status::Partial) if self.end - self.start > MAX_HEAD => {
                    return Err(ErrorKind::Http.into())
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => return Err(ErrorKind::Http.into()),
            }
            match self.fill().await {
                Ok(0) | Err(Failure::Kind(ErrorKind::Io)) if !received => {
                    return Err(Failure::Race)
                }
                Ok(0) => return Err(ErrorKind::Io.into()),
                Ok(_) => received = true,
                Err(e) => return Err(e),
            }
        }
    }

    /// Consumes `n` body bytes.
    async fn skip(&mut self, mut n: u64) -> Result<(), Failure> {
        loop {
            let have = (self.end - self.start) as u64;
            let take = have.min(n);
            self.start += take as usize;
            n -= take;
            if n == 0 {
                return Ok(());
            }
            self.fill_more().await?;
        }
    }

    /// Consumes a chunked body and its trailers; returns the size of its data.
    async fn skip_chunked(&mut self) -> Result<u64, Failure> {
        let mut total = 0u64;
        loop {
            match httparse::parse_chunk_size(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete((len, 0))) => {
                    self.start += len;
                    self.skip_trailers().await?;
                    return Ok(total);
                }
                Ok(httparse::Status::Complete((len, size))) => {
                    self.start += len;
                    self.skip(size).await?;
                    self.expect_crlf().await?;
                    total += size;
                    continue;
                }
                Ok(httparse::Status::Partial) if self.end - self.start > 1024 => {
                    return Err(ErrorKind::Http.into())
                }
                Ok(httparse::Status::Partial) => {}
                Err(_) => return Err(ErrorKind::Http.into()),
            }
            self.fill_more().await?;
        }
    }

    /// Consumes the CRLF that ends a chunk's data.
    async fn expect_crlf(&mut self) -> Result<(), Failure> {
        while self.end - self.start < 2 {
            self.fill_more().await?;
        }
        if &self.buf[self.start..self.start + 2] != b"\r\n" {
            return Err(ErrorKind::Http.into());
        }
        self.start += 2;
        Ok(())
    }

    /// Consumes the trailer lines after the last chunk, up to the empty line.
    async fn skip_trailers(&mut self) -> Result<(), Failure> {
        loop {
            let pending = &self.buf[self.start..self.end];
            if let Some(i) = pending.windows(2).position(|w| w == b"\r\n") {
                self.start += i + 2;
                if i == 0 {
                    return Ok(());
                }
                continue;
            }
            if pending.len() > MAX_HEAD {
                return Err(ErrorKind::Http.into());
            }
            self.fill_more().await?;
        }
    }

    /// Consumes a body that ends with the connection; returns its size.
    async fn skip_to_close(&mut self) -> Result<u64, Failure> {
        let mut total = (self.end - self.start) as u64;
        self.start = self.end;
        loop {
            let n = self.fill().await?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
            self.start = self.end;
        }
    }
}

/// How the body of `resp` is delimited (RFC 9112, section 6.3).
fn framing(resp: &httparse::Response<'_, '_>, head_only: bool) -> Result<Framing, ErrorKind> {
    let status = resp.code.unwrap_or(0);
    if head_only || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::None);
    }
    let mut length = None;
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Chunked when it is the last coding; anything else runs to the close.
            let last = h.value.rsplit(|&b| b == b',').next().unwrap_or_default();
            return Ok(if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                Framing::Chunked
            } else {
                Framing::UntilClose
            });
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value.trim_ascii())
                .ok()
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(ErrorKind::Http)?;
            if length.is_some_and(|l| l != n) {
                return Err(ErrorKind::Http);
            }
            length = Some(n);
        }
    }
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

/// Whether the connection may carry another request after `resp`.
fn keep_alive(resp: &httparse::Response<'_, '_>) -> bool {
    let connection = |token: &[u8]| {
        resp.headers.iter().any(|h| {
            h.name.eq_ignore_ascii_case("connection")
                && h.value
                    .split(|&b| b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
        })
    };
    if resp.version == Some(0) {
        connection(b"keep-alive")
    } else {
        !connection(b"close")
    }
}

/// One connection's loop: connect, wait at `ready` until every worker has connected (so the
/// first requests do not pay for the handshakes), then send jobs until the queue closes.
pub async fn worker(target: Arc<Target>, jobs: JobQueue, rec: Arc<Recorder>, ready: Arc<Barrier>) {
    let mut conn = Connection::new(target.clone());
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
                conn.stream = None;
                rec.failed(&t, kind);
            }
            Err(_elapsed) => {
                // The connection may still deliver the late answer: never reuse it.
                conn.stream = None;
                rec.failed(&t, ErrorKind::Timeout);
            }
        }
    }
}
