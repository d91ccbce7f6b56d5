//! The access log of `vitrine serve` (`--access-log PATH`): one line per request, in Apache's
//! `vhost_combined` or as JSON, written by a thread of its own.
//!
//! The request path never waits for the log. [`handle`](crate::server::handler::handle)
//! gathers an [`Entry`] (clones of the request's parts, no formatting) and offers it to a
//! bounded channel with `try_send`; when the writer is behind and the channel is full, the
//! line is dropped and counted ([`dropped`], and a WARN through [`tally::ACCESS_LOG_DROPPED`]).
//! The writer thread normalises the host, formats the line into a `BufWriter`, and flushes
//! at most [`FLUSH_EVERY`] after the first unflushed line, so a quiet server's lines show up
//! within a second and a busy one makes one write per 64 KiB.
//!
//! Two figures of the JSON format are known only deep in the pipeline: where the map answer
//! came from, and how long the render thread worked. They travel back in a task-local
//! [`Note`] that [`observe`] installs around the request and that the map
//! ([`note_origin`]) and the render pool ([`note_render`]) fill in, so no signature between
//! the handler and them changes.
//!
//! Rotation: [`AccessLog::reopen`] (on SIGUSR1) opens the path again, so after logrotate
//! renames the file, later lines go to a new one; [`AccessLog::close`] (end of
//! [`Server::run`](crate::server::Server::run)) writes every line already accepted and
//! flushes, so a SIGTERM loses none.

use std::cell::Cell;
use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use crossbeam_channel::{Receiver, Sender, TrySendError};
use hyper::header::HeaderValue;
use hyper::{Method, Uri, Version};
use serde::Serialize;

use super::tally;
use crate::replay::access_log::{civil_from_days, format_time};
use crate::site::Host;

/// Longest an accepted line waits in the writer's buffer before it is written out.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Lines that may wait for the writer: about 4 MB of entries, several seconds of a busy
/// server's traffic, so only a stuck disk (not a burst) makes lines drop.
pub const DEFAULT_CAPACITY: usize = 16_384;

/// Buffer of the writer: one write(2) per this many bytes under load.
const WRITE_BUFFER: usize = 64 * 1024;

/// Lines dropped since start-up because the writer was behind (or a write failed).
static DROPPED: AtomicU64 = AtomicU64::new(0);

/// Access-log lines lost since start-up: dropped because the buffer was full, or not
/// written because a write failed. For the metrics endpoint.
pub fn dropped() -> u64 {
    DROPPED.load(Ordering::Relaxed)
}

/// The line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Apache `vhost_combined`: `%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"`.
    #[value(name = "vhost_combined", alias = "vhost-combined")]
    VhostCombined,
    /// One JSON object per line: the same fields, plus the durations, the map answer's
    /// origin and the content coding.
    Json,
}

/// What the log keeps of the client's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientAddress {
    /// The whole address.
    Keep,
    /// The network only: IPv4 to /24 (`192.0.2.0`), IPv6 to /48; still an address, so
    /// GoAccess and the like read the line.
    Mask,
    /// None: `-`.
    Hide,
}

/// Where the lines go.
pub enum Target {
    /// Standard output (`--access-log -`).
    Stdout,
    /// A file, opened for appending, reopened by [`AccessLog::reopen`].
    File(PathBuf),
    /// Any writer (tests).
    Writer(Box<dyn Write + Send>),
}

impl Target {
    /// `-` is standard output, anything else a file.
    pub fn from_arg(path: &Path) -> Target {
        if path.as_os_str() == "-" {
            Target::Stdout
        } else {
            Target::File(path.to_owned())
        }
    }
}

/// How to write the log.
pub struct Options {
    /// Where.
    pub target: Target,
    /// In which format.
    pub format: Format,
    /// With how much of the client's address.
    pub client: ClientAddress,
    /// Lines that may wait for the writer before new ones are dropped.
    pub capacity: usize,
}

/// Why the access log cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    /// The file cannot be opened for appending.
    #[error(
        "cannot open the access log {path} for appending: {source} (create its folder and \
         let the server write there, or pass --access-log - for standard output)"
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Standard output cannot be duplicated.
    #[error("cannot write the access log to standard output: {0}")]
    Stdout(std::io::Error),
    /// The writer thread cannot be started.
    #[error("cannot start the access-log writer thread: {0}")]
    Thread(std::io::Error),
}

/// Where the map answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MapOrigin {
    /// The in-memory map built from the sites folder (no `--redis`).
    Memory,
    /// Redis, or the in-process cache of its answers (redis-rs does not say which).
    Redis,
    /// Redis did not answer: the host's last known answer (`--stale-for`).
    LastKnown,
}

/// What the pipeline tells the log about one request, beyond the request and response.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Note {
    /// Where the map answer came from, when the host was looked up.
    pub origin: Option<MapOrigin>,
    /// Time spent on a render thread (read, parse, transform, compress).
    pub render: Option<Duration>,
}

tokio::task_local! {
    static NOTE: Cell<Note>;
}

/// Runs `f` with a fresh [`Note`] for [`note_origin`] and [`note_render`] to fill in, and
/// returns it with `f`'s output.
pub async fn observe<F: Future>(f: F) -> (F::Output, Note) {
    NOTE.scope(Cell::new(Note::default()), async {
        let out = f.await;
        (out, NOTE.with(Cell::get))
    })
    .await
}

fn note(f: impl FnOnce(&mut Note)) {
    // Outside a request (`vitrine render`, `check`) there is no note, and nothing to tell.
    let _ = NOTE.try_with(|cell| {
        let mut n = cell.get();
        f(&mut n);
        cell.set(n);
    });
}

/// Tells the current request's log line where its map answer came from.
pub fn note_origin(origin: MapOrigin) {
    note(|n| n.origin = Some(origin));
}

/// Adds the time a render thread worked for the current request to its log line.
pub fn note_render(spent: Duration) {
    note(|n| n.render = Some(n.render.unwrap_or_default() + spent));
}

/// One request as the log sees it: gathered on the request path (clones of reference-counted
/// parts, no formatting), formatted by the writer thread.
#[derive(Debug, Clone)]
pub struct Entry {
    /// When the request arrived.
    pub time: SystemTime,
    /// From then until the response head was ready.
    pub elapsed: Duration,
    /// The single `Host` header (`None` when absent or repeated: the request got 400).
    pub host_header: Option<HeaderValue>,
    /// The client's address.
    pub client: Option<IpAddr>,
    /// The port of the listener the request came in on.
    pub port: u16,
    /// The method.
    pub method: Method,
    /// The request target (HTTP/2: with `:scheme` and `:authority`).
    pub uri: Uri,
    /// The protocol.
    pub version: Version,
    /// The response status.
    pub status: u16,
    /// Body bytes of the response (0 for HEAD and 304).
    pub bytes: u64,
    /// `Referer`.
    pub referer: Option<HeaderValue>,
    /// `User-Agent`.
    pub user_agent: Option<HeaderValue>,
    /// The response's `Content-Encoding`.
    pub coding: Option<HeaderValue>,
    /// What the pipeline noted.
    pub note: Note,
}

enum Control {
    Reopen,
    Close,
}

/// The access log: the request side of the channel, and the writer thread.
pub struct AccessLog {
    entries: Sender<Entry>,
    control: Sender<Control>,
    thread: Mutex<Option<JoinHandle<()>>>,
    capacity: usize,
}

impl AccessLog {
    /// Opens the target and starts the writer thread.
    pub fn start(options: Options) -> Result<AccessLog, AccessLogError> {
        let Options {
            target,
            format,
            client,
            capacity,
        } = options;
        let (out, path): (Box<dyn Write + Send>, _) = match target {
            Target::Stdout => {
                // A descriptor of its own: std's `Stdout` flushes at every newline, and
                // this thread does its own buffering.
                use std::os::fd::AsFd;
                let fd = std::io::stdout()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(AccessLogError::Stdout)?;
                (Box::new(File::from(fd)), None)
            }
            Target::File(path) => (Box::new(open(&path)?), Some(path)),
            Target::Writer(w) => (w, None),
        };
        let capacity = capacity.max(1);
        let (entries, entries_rx) = crossbeam_channel::bounded(capacity);
        let (control, control_rx) = crossbeam_channel::unbounded();
        let writer = Writer {
            out: BufWriter::with_capacity(WRITE_BUFFER, out),
            path,
            format,
            client,
            line: String::with_capacity(512),
        };
        let thread = std::thread::Builder::new()
            .name("access-log".into())
            .spawn(move || writer.run(&entries_rx, &control_rx))
            .map_err(AccessLogError::Thread)?;
        Ok(AccessLog {
            entries,
            control,
            thread: Mutex::new(Some(thread)),
            capacity,
        })
    }

    /// Offers a line to the writer; never waits. A line that does not fit is counted.
    pub fn record(&self, entry: Entry) {
        match self.entries.try_send(entry) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
                tally::ACCESS_LOG_DROPPED.hit_with(format_args!(
                    "access-log line dropped: the writer is {} lines behind (is the disk \
                     slow or full?); {} dropped since start-up",
                    self.capacity,
                    dropped()
                ));
            }
            Err(TrySendError::Disconnected(_)) => {
                DROPPED.fetch_add(1, Ordering::Relaxed);
                tally::ACCESS_LOG_DROPPED
                    .hit_with("access-log line dropped: the log is already closed");
            }
        }
    }

    /// Opens the file again by its path (after logrotate renamed it); lines already
    /// accepted go to the old file first. Nothing to do for standard output.
    pub fn reopen(&self) {
        let _ = self.control.send(Control::Reopen);
    }

    /// Writes every line already accepted, flushes, and ends the writer thread; later
    /// lines are dropped (and counted). Waits for the thread: call it off the reactor.
    pub fn close(&self) {
        let _ = self.control.send(Control::Close);
        let thread = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                tracing::error!("the access-log writer thread panicked; its last lines are lost");
            }
        }
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.close();
    }
}

fn open(path: &Path) -> Result<File, AccessLogError> {
    // 0640: the lines hold addresses and user agents, not for every local user to read.
    OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o640)
        .open(path)
        .map_err(|source| AccessLogError::Open {
            path: path.to_owned(),
            source,
        })
}

struct Writer {
    out: BufWriter<Box<dyn Write + Send>>,
    path: Option<PathBuf>,
    format: Format,
    client: ClientAddress,
    line: String,
}

impl Writer {
    fn run(mut self, entries: &Receiver<Entry>, control: &Receiver<Control>) {
        let mut unflushed_since: Option<Instant> = None;
        loop {
            let deadline = match unflushed_since {
                Some(t) => crossbeam_channel::at(t + FLUSH_EVERY),
                None => crossbeam_channel::never(),
            };
            // Control first: a line recorded after a reopen must reach the new file.
            crossbeam_channel::select_biased! {
                recv(control) -> what => match what {
                    Ok(Control::Reopen) => self.reopen(),
                    Ok(Control::Close) | Err(_) => {
                        while let Ok(entry) = entries.try_recv() {
                            self.write(&entry);
                        }
                        break;
                    }
                },
                recv(entries) -> entry => match entry {
                    Ok(entry) => {
                        self.write(&entry);
                        unflushed_since.get_or_insert_with(Instant::now);
                    }
                    Err(_) => break,
                },
                recv(deadline) -> _ => {}
            }
            if unflushed_since.is_some_and(|t| t.elapsed() >= FLUSH_EVERY) {
                self.flush();
                unflushed_since = None;
            }
        }
        self.flush();
    }

    fn write(&mut self, entry: &Entry) {
        self.line.clear();
        match self.format {
            Format::VhostCombined => vhost_combined(entry, self.client, &mut self.line),
            Format::Json => json(entry, self.client, &mut self.line),
        }
        self.line.push('\n');
        if let Err(e) = self.out.write_all(self.line.as_bytes()) {
            DROPPED.fetch_add(1, Ordering::Relaxed);
            tally::ACCESS_LOG_WRITE.hit_with(format_args!("cannot write the access log: {e}"));
        }
    }

    fn flush(&mut self) {
        if let Err(e) = self.out.flush() {
            tally::ACCESS_LOG_WRITE.hit_with(format_args!("cannot write the access log: {e}"));
        }
    }

    fn reopen(&mut self) {
        let Some(path) = self.path.clone() else {
            return;
        };
        self.flush();
        match open(&path) {
            Ok(file) => {
                self.out = BufWriter::with_capacity(WRITE_BUFFER, Box::new(file));
                tracing::info!("access log {} reopened", path.display());
            }
            // The old file is still open and still written: nothing is lost meanwhile.
            Err(e) => tracing::error!("{e}; still writing to the file open before"),
        }
    }
}

/// The normalised host, as the server resolved it; `None` when the request had none valid.
fn host_of(entry: &Entry) -> Option<Host> {
    let lines: Vec<&[u8]> = entry.host_header.iter().map(|v| v.as_bytes()).collect();
    Host::from_request(entry.uri.authority().map(|a| a.as_str()), &lines).ok()
}

fn client_of(entry: &Entry, keep: ClientAddress) -> Option<IpAddr> {
    let ip = entry.client?.to_canonical();
    match keep {
        ClientAddress::Keep => Some(ip),
        ClientAddress::Hide => None,
        ClientAddress::Mask => Some(match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                IpAddr::from([a, b, c, 0])
            }
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::from([s[0], s[1], s[2], 0, 0, 0, 0, 0])
            }
        }),
    }
}

/// The target in origin form (`/path?query`): what HTTP/2 carries in `:path`, and what an
/// HTTP/1 absolute-form target names once its host is taken out (it is the line's first
/// field), so that every line replays the same way.
fn target_of(entry: &Entry) -> &str {
    entry.uri.path_and_query().map_or("/", |pq| pq.as_str())
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2.0",
        Version::HTTP_3 => "HTTP/3.0",
        _ => "HTTP/?",
    }
}

fn unix_seconds(t: SystemTime) -> (i64, u32) {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => (d.as_secs() as i64, d.subsec_millis()),
        Err(_) => (0, 0),
    }
}

/// Escapes `bytes` as Apache's `ap_escape_logitem` does: `"` and `\` get a backslash,
/// `\b \n \r \t \v` their C escapes, and every other byte that is not printable ASCII
/// (controls, DEL, and each byte of a non-ASCII character) `\xhh`.
pub fn escape_into(bytes: &[u8], out: &mut String) {
    for &b in bytes {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x08 => out.push_str("\\b"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x0b => out.push_str("\\v"),
            b' '..=b'~' => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
}

fn quoted_header(v: Option<&HeaderValue>, out: &mut String) {
    out.push('"');
    match v {
        Some(v) if !v.is_empty() => escape_into(v.as_bytes(), out),
        _ => out.push('-'),
    }
    out.push('"');
}

/// One `vhost_combined` line (without its newline):
/// `host:port client - - [time] "request" status bytes "referer" "user-agent"`. The size is
/// the response body's (`%B`), as served; a download the client cut short counts whole.
pub fn vhost_combined(entry: &Entry, keep: ClientAddress, out: &mut String) {
    match host_of(entry) {
        Some(host) => out.push_str(host.as_str()),
        None => out.push('-'),
    }
    let _ = write!(out, ":{} ", entry.port);
    match client_of(entry, keep) {
        Some(ip) => {
            let _ = write!(out, "{ip}");
        }
        None => out.push('-'),
    }
    out.push_str(" - - [");
    format_time(unix_seconds(entry.time).0, 0, out);
    out.push_str("] \"");
    escape_into(entry.method.as_str().as_bytes(), out);
    out.push(' ');
    escape_into(target_of(entry).as_bytes(), out);
    out.push(' ');
    out.push_str(protocol(entry.version));
    let _ = write!(out, "\" {} {} ", entry.status, entry.bytes);
    quoted_header(entry.referer.as_ref(), out);
    out.push(' ');
    quoted_header(entry.user_agent.as_ref(), out);
}

/// A header as JSON text: as is when it is UTF-8, else escaped as in `vhost_combined`.
fn header_text(v: Option<&HeaderValue>) -> Option<std::borrow::Cow<'_, str>> {
    let v = v?;
    Some(match std::str::from_utf8(v.as_bytes()) {
        Ok(s) => std::borrow::Cow::Borrowed(s),
        Err(_) => {
            let mut s = String::new();
            escape_into(v.as_bytes(), &mut s);
            std::borrow::Cow::Owned(s)
        }
    })
}

fn millis(d: Duration) -> f64 {
    d.as_micros() as f64 / 1000.0
}

#[derive(Serialize)]
struct JsonLine<'a> {
    time: String,
    host: Option<&'a str>,
    port: u16,
    client: Option<String>,
    method: &'a str,
    target: &'a str,
    protocol: &'static str,
    status: u16,
    bytes: u64,
    referer: Option<std::borrow::Cow<'a, str>>,
    user_agent: Option<std::borrow::Cow<'a, str>>,
    duration_ms: f64,
    render_ms: Option<f64>,
    map: Option<MapOrigin>,
    coding: Option<std::borrow::Cow<'a, str>>,
}

/// One JSON line (without its newline): the fields of `vhost_combined` (time in RFC 3339,
/// UTC, to the millisecond), plus `duration_ms` (request received to response head ready),
/// `render_ms` (time on a render thread), `map` (`memory`, `redis`, `last_known`) and
/// `coding` (`br`, `gzip`); `null` where there is none.
pub fn json(entry: &Entry, keep: ClientAddress, out: &mut String) {
    let (secs, ms) = unix_seconds(entry.time);
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    let time = format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    );
    let host = host_of(entry);
    let line = JsonLine {
        time,
        host: host.as_ref().map(Host::as_str),
        port: entry.port,
        client: client_of(entry, keep).map(|ip| ip.to_string()),
        method: entry.method.as_str(),
        target: target_of(entry),
        protocol: protocol(entry.version),
        status: entry.status,
        bytes: entry.bytes,
        referer: header_text(entry.referer.as_ref()),
        user_agent: header_text(entry.user_agent.as_ref()),
        duration_ms: millis(entry.elapsed),
        render_ms: entry.note.render.map(millis),
        map: entry.note.origin,
        coding: header_text(entry.coding.as_ref()),
    };
    // Serialising a struct of strings and numbers into a String cannot fail.
    if let Ok(text) = serde_json::to_string(&line) {
        out.push_str(&text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::access_log::{parse_line, LogFormat};
    use std::sync::{Arc, Condvar};

    fn entry() -> Entry {
        Entry {
            // 2026-12-02 17:40:31.250 UTC
            time: SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_233_231_250),
            elapsed: Duration::from_micros(1234),
            host_header: Some(HeaderValue::from_static("WWW.Boulangerie-Martin.fr:8080")),
            client: Some("203.0.113.77".parse().unwrap()),
            port: 8080,
            method: Method::GET,
            uri: "/horaires?x=1".parse().unwrap(),
            version: Version::HTTP_11,
            status: 200,
            bytes: 5120,
            referer: None,
            user_agent: Some(HeaderValue::from_static("curl/8.5.0")),
            coding: Some(HeaderValue::from_static("br")),
            note: Note {
                origin: Some(MapOrigin::Redis),
                render: Some(Duration::from_micros(870)),
            },
        }
    }

    fn line(e: &Entry, format: Format, keep: ClientAddress) -> String {
        let mut s = String::new();
        match format {
            Format::VhostCombined => vhost_combined(e, keep, &mut s),
            Format::Json => json(e, keep, &mut s),
        }
        s
    }

    #[test]
    fn vhost_combined_lines_are_apaches_and_the_replayer_reads_them() {
        let e = entry();
        let l = line(&e, Format::VhostCombined, ClientAddress::Keep);
        assert_eq!(
            l,
            "www.boulangerie-martin.fr:8080 203.0.113.77 - - [02/Dec/2026:17:40:31 +0000] \
             \"GET /horaires?x=1 HTTP/1.1\" 200 5120 \"-\" \"curl/8.5.0\""
        );
        let parsed = parse_line(&l, LogFormat::VhostCombined).unwrap();
        assert_eq!(parsed.host, Some("www.boulangerie-martin.fr"));
        assert_eq!((parsed.status, parsed.bytes), (200, 5120));
        assert_eq!(parsed.target, "/horaires?x=1");
        assert_eq!(parsed.time, 1_796_233_231);
        assert_eq!(
            crate::replay::access_log::detect_format(&l),
            Some(LogFormat::VhostCombined)
        );
    }

    #[test]
    fn quotes_controls_and_non_ascii_are_escaped_as_apache_does() {
        let mut e = entry();
        e.user_agent = Some(HeaderValue::from_bytes(b"a \"b\" \\ c\td\xc3\xa9").unwrap());
        e.referer = Some(HeaderValue::from_static("https://x.example/\"quoted\""));
        e.host_header = Some(HeaderValue::from_static("bad host"));
        e.client = None;
        let l = line(&e, Format::VhostCombined, ClientAddress::Keep);
        assert!(
            l.ends_with(r#" "https://x.example/\"quoted\"" "a \"b\" \\ c\td\xc3\xa9""#),
            "{l}"
        );
        assert!(
            l.starts_with("-:8080 - - - ["),
            "no valid host, no client: {l}"
        );
        let parsed = parse_line(&l, LogFormat::VhostCombined).unwrap();
        assert_eq!(parsed.host, None, "`-` is no host for the replayer");
        assert_eq!(parsed.user_agent, Some(r#"a \"b\" \\ c\td\xc3\xa9"#));

        let mut s = String::new();
        escape_into(b"\x08\x0b\n\r\x00\x1b\x7f", &mut s);
        assert_eq!(s, r"\b\v\n\r\x00\x1b\x7f");
    }

    #[test]
    fn client_addresses_are_kept_masked_or_hidden() {
        let mut e = entry();
        let client = |e: &Entry, k| {
            line(e, Format::VhostCombined, k)
                .split(' ')
                .nth(1)
                .unwrap()
                .to_owned()
        };
        assert_eq!(client(&e, ClientAddress::Keep), "203.0.113.77");
        assert_eq!(client(&e, ClientAddress::Mask), "203.0.113.0");
        assert_eq!(client(&e, ClientAddress::Hide), "-");
        e.client = Some("2001:db8:85a3:1234:5678:8a2e:370:7334".parse().unwrap());
        assert_eq!(client(&e, ClientAddress::Mask), "2001:db8:85a3::");
        e.client = Some("::ffff:198.51.100.9".parse().unwrap());
        assert_eq!(client(&e, ClientAddress::Keep), "198.51.100.9");
        assert_eq!(client(&e, ClientAddress::Mask), "198.51.100.0");
    }

    #[test]
    fn json_lines_have_the_same_fields_and_the_pipelines_figures() {
        let mut e = entry();
        e.version = Version::HTTP_2;
        e.uri = "https://www.boulangerie-martin.fr/horaires"
            .parse()
            .unwrap();
        e.host_header = None;
        let l = line(&e, Format::Json, ClientAddress::Mask);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "time": "2026-12-02T17:40:31.250Z",
                "host": "www.boulangerie-martin.fr",
                "port": 8080,
                "client": "203.0.113.0",
                "method": "GET",
                "target": "/horaires",
                "protocol": "HTTP/2.0",
                "status": 200,
                "bytes": 5120,
                "referer": null,
                "user_agent": "curl/8.5.0",
                "duration_ms": 1.234,
                "render_ms": 0.87,
                "map": "redis",
                "coding": "br",
            })
        );
        assert!(!l.contains('\n'));
    }

    #[tokio::test]
    async fn notes_reach_the_request_that_made_them_only() {
        note_origin(MapOrigin::Memory); // outside any request: ignored
        let ((), n) = observe(async {
            note_origin(MapOrigin::LastKnown);
            tokio::task::yield_now().await;
            note_render(Duration::from_millis(2));
            note_render(Duration::from_millis(1));
        })
        .await;
        assert_eq!(n.origin, Some(MapOrigin::LastKnown));
        assert_eq!(n.render, Some(Duration::from_millis(3)));
        let ((), n) = observe(async {}).await;
        assert_eq!(n, Note::default());
    }

    /// A writer that blocks until released, then keeps what it was given.
    /// Whether the writer is released, and what it was given.
    type Released = Mutex<(bool, Vec<u8>)>;

    #[derive(Clone, Default)]
    struct Stuck(Arc<(Released, Condvar)>);

    impl Write for Stuck {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (lock, cv) = &*self.0;
            let mut st = lock.lock().unwrap();
            while !st.0 {
                st = cv.wait(st).unwrap();
            }
            st.1.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Stuck {
        fn release(&self) {
            self.0 .0.lock().unwrap().0 = true;
            self.0 .1.notify_all();
        }
        fn text(&self) -> String {
            String::from_utf8(self.0 .0.lock().unwrap().1.clone()).unwrap()
        }
    }

    #[test]
    fn a_full_buffer_drops_and_counts_lines_instead_of_blocking() {
        let stuck = Stuck::default();
        let log = AccessLog::start(Options {
            target: Target::Writer(Box::new(stuck.clone())),
            format: Format::VhostCombined,
            client: ClientAddress::Hide,
            capacity: 4,
        })
        .unwrap();
        let offered = 10_000u64;
        let before = dropped();
        let started = Instant::now();
        for _ in 0..offered {
            log.record(entry());
        }
        let spent = started.elapsed();
        let lost = dropped() - before;
        // The writer takes lines into its 64 KiB buffer (about 600 of these), then blocks
        // on the stuck file; the channel holds 4 more; the rest is dropped, not waited for.
        assert!(spent < Duration::from_secs(2), "recording took {spent:?}");
        assert!(lost >= offered - 4 - 1000, "dropped {lost}");
        stuck.release();
        log.close();
        let written = stuck.text().lines().count() as u64;
        assert_eq!(written + lost, offered, "every line is written or counted");
        log.record(entry());
        assert_eq!(
            dropped() - before,
            lost + 1,
            "a closed log counts what it is given"
        );
    }

    #[test]
    fn lines_are_flushed_within_a_second_and_a_reopen_follows_a_rename() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = AccessLog::start(Options {
            target: Target::File(path.clone()),
            format: Format::VhostCombined,
            client: ClientAddress::Keep,
            capacity: 16,
        })
        .unwrap();
        log.record(entry());
        let deadline = Instant::now() + FLUSH_EVERY * 3;
        while std::fs::read_to_string(&path).unwrap().lines().count() < 1 {
            assert!(Instant::now() < deadline, "no flush within a second");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::fs::rename(&path, dir.path().join("access.log.1")).unwrap();
        log.record(entry());
        log.reopen();
        log.record(entry());
        log.close();
        let old = std::fs::read_to_string(dir.path().join("access.log.1")).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        // The line recorded before the reopen may still have been queued when it came
        // (then it goes to the new file too); the one after it always reaches the new file.
        let (old, new) = (old.lines().count(), new.lines().count());
        assert!(old >= 1 && new >= 1 && old + new == 3, "{old} + {new}");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode & 0o007, 0, "not world-readable: {mode:o}");
    }

    #[test]
    fn an_unwritable_path_says_what_to_do() {
        let e = AccessLog::start(Options {
            target: Target::File("/nonexistent-dir/access.log".into()),
            format: Format::Json,
            client: ClientAddress::Keep,
            capacity: 1,
        })
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.contains("/nonexistent-dir/access.log") && e.contains("--access-log -"),
            "{e}"
        );
    }
}
