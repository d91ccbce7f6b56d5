//! Access-log parsing: the four line formats the replayer accepts, per-file format detection,
//! gzip detection by magic bytes, and the streaming reader that feeds the dispatcher.
//!
//! Formats (field lists as the servers define them):
//!
//! | name | definition |
//! |---|---|
//! | `common` | Apache `%h %l %u %t "%r" %>s %b` |
//! | `combined` | Apache `%h %l %u %t "%r" %>s %b "%{Referer}i" "%{User-Agent}i"` (also nginx's default `combined`) |
//! | `vhost_combined` | Apache `%v:%p %h %l %u %t "%r" %>s %O "%{Referer}i" "%{User-Agent}i"` |
//! | `nginx_host` | nginx [`NGINX_HOST_LOG_FORMAT`]: `combined` followed by `"$host"` |
//!
//! The parser is zero-copy: a line is split into at most [`MAX_FIELDS`] slices (bare words,
//! `[bracketed]` and `"quoted"` fields, where a quoted field may contain `\"`), and the field
//! shapes decide the format, so detection needs no regular expression. Lines are read one at a
//! time and sent in batches through a bounded channel: memory stays flat whatever the log size.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use flate2::bufread::MultiGzDecoder;
use hyper::header::HeaderValue;
use hyper::{Method, Uri};
use serde::Serialize;
use tokio::sync::mpsc;

use super::ReplayError;

/// The nginx `log_format` of the `nginx_host` format, which `vitrine-bench gen-log --format
/// nginx-host` writes: nginx's `combined` with the `Host` appended as a last quoted field, so
/// tools that only know `combined` still read the rest of the line.
pub const NGINX_HOST_LOG_FORMAT: &str = "log_format vhost_combined '$remote_addr - $remote_user \
     [$time_local] \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\" \
     \"$host\"';";

/// Most fields a line of a known format has; longer lines are rejected without further work.
pub const MAX_FIELDS: usize = 10;

/// Lines looked at to detect a file's format.
const DETECT_LINES: usize = 32;

/// An access-log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// Apache `common`: no referrer, user agent or host.
    Common,
    /// Apache/nginx `combined`: no host.
    Combined,
    /// Apache `vhost_combined`: `%v:%p` before `combined`.
    VhostCombined,
    /// nginx `combined` followed by `"$host"` (see [`NGINX_HOST_LOG_FORMAT`]).
    NginxHost,
}

impl LogFormat {
    /// Every format, most specific first: the order detection tries them in.
    pub const ALL: [LogFormat; 4] = [
        LogFormat::VhostCombined,
        LogFormat::NginxHost,
        LogFormat::Combined,
        LogFormat::Common,
    ];

    /// The name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::Common => "common",
            LogFormat::Combined => "combined",
            LogFormat::VhostCombined => "vhost_combined",
            LogFormat::NginxHost => "nginx_host",
        }
    }
}

/// Why a line was not parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// A `"` or `[` field is not closed, or is glued to the next field.
    #[error("unterminated or malformed quoted/bracketed field")]
    Unterminated,
    /// The field count or field kinds do not match the format.
    #[error("fields do not match the log format")]
    Shape,
    /// The `[time]` field is not `dd/Mon/yyyy:HH:MM:SS +zzzz`.
    #[error("invalid timestamp")]
    Time,
    /// The request field is not `METHOD TARGET [PROTOCOL]` (Apache logs `"-"` for requests
    /// that timed out before a request line arrived).
    #[error("invalid request line")]
    Request,
    /// The status is not a three-digit code.
    #[error("invalid status")]
    Status,
    /// The size field is neither `-` nor a number.
    #[error("invalid size")]
    Size,
    /// The request target cannot be sent (not `/...`, or invalid characters after escaping).
    #[error("invalid request target")]
    Target,
    /// The host field cannot be sent as a `Host` header.
    #[error("invalid host")]
    Host,
}

/// One parsed line, borrowing from the line text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// `Host` from `%v` (port removed) or `$host`; `None` for formats without one.
    pub host: Option<&'a str>,
    /// `%h` / `$remote_addr`.
    pub client: &'a str,
    /// `%t` as Unix seconds (UTC).
    pub time: i64,
    /// Request method.
    pub method: &'a str,
    /// Request target, with the log's escapes undone and bytes that cannot travel in a
    /// request line percent-encoded.
    pub target: Cow<'a, str>,
    /// `HTTP/1.1`, or empty for an HTTP/0.9-style request line.
    pub protocol: &'a str,
    /// Response status.
    pub status: u16,
    /// Response size (`-` is 0).
    pub bytes: u64,
    /// Referrer as logged (still escaped); `None` in `common`.
    pub referer: Option<&'a str>,
    /// User agent as logged (still escaped); `None` in `common`.
    pub user_agent: Option<&'a str>,
}

#[derive(Debug, Clone, Copy)]
enum Field<'a> {
    Bare(&'a str),
    Bracket(&'a str),
    Quoted(&'a str),
}

fn split_fields<'a>(line: &'a str, out: &mut [Field<'a>; MAX_FIELDS]) -> Result<usize, LineError> {
    let b = line.as_bytes();
    let mut i = 0;
    let mut n = 0;
    loop {
        while i < b.len() && b[i] == b' ' {
            i += 1;
        }
        if i >= b.len() {
            return Ok(n);
        }
        if n == MAX_FIELDS {
            return Err(LineError::Shape);
        }
        let field = match b[i] {
            b'"' => {
                let start = i + 1;
                let mut j = start;
                loop {
                    match b.get(j) {
                        None => return Err(LineError::Unterminated),
                        Some(b'\\') => j += 2,
                        Some(b'"') => break,
                        Some(_) => j += 1,
                    }
                }
                i = j + 1;
                Field::Quoted(&line[start..j])
            }
            b'[' => {
                let start = i + 1;
                let j = start
                    + b[start..]
                        .iter()
                        .position(|&c| c == b']')
                        .ok_or(LineError::Unterminated)?;
                i = j + 1;
                if i < b.len() && b[i] != b' ' {
                    // `[2001:db8::1]:443`: an IPv6 literal with a port, not a timestamp.
                    while i < b.len() && b[i] != b' ' {
                        i += 1;
                    }
                    Field::Bare(&line[start - 1..i])
                } else {
                    Field::Bracket(&line[start..j])
                }
            }
            _ => {
                let start = i;
                while i < b.len() && b[i] != b' ' {
                    i += 1;
                }
                Field::Bare(&line[start..i])
            }
        };
        if i < b.len() && b[i] != b' ' {
            return Err(LineError::Unterminated);
        }
        out[n] = field;
        n += 1;
    }
}

/// Parses one line (without its line end) in the given format.
pub fn parse_line(line: &str, format: LogFormat) -> Result<LogLine<'_>, LineError> {
    let mut f = [Field::Bare(""); MAX_FIELDS];
    let n = split_fields(line, &mut f)?;
    let (host, rest) = match (format, n) {
        (LogFormat::Common, 7) | (LogFormat::Combined, 9) => (None, &f[..n]),
        (LogFormat::VhostCombined, 10) => match f[0] {
            Field::Bare(v) => (Some(strip_port(v)), &f[1..10]),
            _ => return Err(LineError::Shape),
        },
        (LogFormat::NginxHost, 10) => match f[9] {
            Field::Quoted(h) => (Some(h), &f[..9]),
            _ => return Err(LineError::Shape),
        },
        _ => return Err(LineError::Shape),
    };
    let (
        Field::Bare(client),
        Field::Bare(_ident),
        Field::Bare(_user),
        Field::Bracket(time),
        Field::Quoted(request),
        Field::Bare(status),
        Field::Bare(bytes),
    ) = (
        rest[0], rest[1], rest[2], rest[3], rest[4], rest[5], rest[6],
    )
    else {
        return Err(LineError::Shape);
    };
    let (referer, user_agent) = match rest.get(7..9) {
        Some(&[Field::Quoted(r), Field::Quoted(ua)]) => (Some(r), Some(ua)),
        Some(_) => return Err(LineError::Shape),
        None => (None, None),
    };
    let time = parse_time(time).ok_or(LineError::Time)?;
    let (method, target, protocol) = split_request(request)?;
    let status = parse_status(status)?;
    let bytes = match bytes {
        "-" => 0,
        b => b.parse().map_err(|_| LineError::Size)?,
    };
    Ok(LogLine {
        host: host.filter(|h| !h.is_empty() && *h != "-"),
        client,
        time,
        method,
        target: unescape_target(target),
        protocol,
        status,
        bytes,
        referer,
        user_agent,
    })
}

/// The first format of [`LogFormat::ALL`] that parses `line`.
pub fn detect_format(line: &str) -> Option<LogFormat> {
    LogFormat::ALL
        .into_iter()
        .find(|&f| parse_line(line, f).is_ok())
}

fn strip_port(v: &str) -> &str {
    match v.rsplit_once(':') {
        Some((host, port)) if !port.is_empty() && port.bytes().all(|c| c.is_ascii_digit()) => host,
        _ => v,
    }
}

fn parse_status(s: &str) -> Result<u16, LineError> {
    match s.as_bytes() {
        [a @ b'1'..=b'5', b @ b'0'..=b'9', c @ b'0'..=b'9'] => {
            Ok(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'))
        }
        _ => Err(LineError::Status),
    }
}

fn split_request(r: &str) -> Result<(&str, &str, &str), LineError> {
    let (method, rest) = r.split_once(' ').ok_or(LineError::Request)?;
    if method.is_empty() || !method.bytes().all(|c| c.is_ascii_uppercase()) {
        return Err(LineError::Request);
    }
    let (target, protocol) = match rest.rsplit_once(' ') {
        Some((t, p)) if p.starts_with("HTTP/") => (t, p),
        _ => (rest, ""),
    };
    if target.is_empty() || target.contains(' ') {
        return Err(LineError::Request);
    }
    Ok((method, target, protocol))
}

/// Undoes Apache (`\"`, `\\`, `\xhh`) and nginx (`\xHH`) escapes, and percent-encodes the bytes
/// that may not appear in a request line, which is what a client would have had to send.
fn unescape_target(raw: &str) -> Cow<'_, str> {
    if raw.bytes().all(uri_safe) {
        return Cow::Borrowed(raw);
    }
    let b = raw.as_bytes();
    let mut out = String::with_capacity(raw.len() + 8);
    let mut i = 0;
    while i < b.len() {
        let mut c = b[i];
        i += 1;
        if c == b'\\' && i < b.len() {
            if b[i] == b'x' {
                if let Some(v) = hex_pair(&b[i + 1..]) {
                    c = v;
                    i += 3;
                }
            } else if matches!(b[i], b'"' | b'\\') {
                c = b[i];
                i += 1;
            }
        }
        if uri_safe(c) {
            out.push(char::from(c));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(c >> 4)]));
            out.push(char::from(HEX[usize::from(c & 15)]));
        }
    }
    Cow::Owned(out)
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn hex_pair(b: &[u8]) -> Option<u8> {
    let d = |c: u8| (c as char).to_digit(16).map(|v| v as u8);
    Some(d(*b.first()?)? << 4 | d(*b.get(1)?)?)
}

fn uri_safe(c: u8) -> bool {
    c > b' '
        && c < 0x7f
        && !matches!(
            c,
            b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
        )
}

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// Parses `10/Oct/2025:13:55:36 +0200` to Unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        b[r].iter().try_fold(0i64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
        })
    };
    let day = num(0..2)?;
    let month = MONTHS.iter().position(|m| m[..] == b[3..6])? as i64 + 1;
    let year = num(7..11)?;
    let (h, m, sec) = (num(12..14)?, num(15..17)?, num(18..20)?);
    if b[14] != b':' || b[17] != b':' || !(1..=31).contains(&day) || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    let sign = match b[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let offset = sign * (num(22..24)? * 3600 + num(24..26)? * 60);
    Some(days_from_civil(year, month, day) * 86_400 + h * 3600 + m * 60 + sec - offset)
}

/// Formats Unix seconds as `%d/%b/%Y:%H:%M:%S %z` in the given UTC offset (seconds).
pub fn format_time(unix: i64, offset_secs: i32, out: &mut String) {
    use std::fmt::Write;
    let local = unix + i64::from(offset_secs);
    let (y, mo, d) = civil_from_days(local.div_euclid(86_400));
    let s = local.rem_euclid(86_400);
    let sign = if offset_secs < 0 { '-' } else { '+' };
    let off = offset_secs.unsigned_abs() / 60;
    let month = std::str::from_utf8(MONTHS[(mo - 1) as usize]).unwrap_or("Jan");
    let _ = write!(
        out,
        "{d:02}/{month}/{y:04}:{:02}:{:02}:{:02} {sign}{:02}{:02}",
        s / 3600,
        s / 60 % 60,
        s % 60,
        off / 60,
        off % 60
    );
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Year, month and day of a number of days since 1970-01-01 (the inverse of
/// [`days_from_civil`]).
pub(crate) fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// A request ready to send: validated, owned, with its origin in the log.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET` or `HEAD`.
    pub method: Method,
    /// The `Host` header: the logged host, or the default host for formats without one.
    pub host: HeaderValue,
    /// Origin-form target (`/path?query`).
    pub target: Uri,
    /// Log timestamp, Unix seconds.
    pub time: i64,
    /// Index of the log file in the replay's file list.
    pub file: usize,
    /// Line number in that file, from 1.
    pub line: u64,
}

impl Request {
    /// Validates a parsed line for sending. `Ok(None)` for methods that are not replayed.
    pub fn from_line(
        l: &LogLine<'_>,
        default_host: &HeaderValue,
        file: usize,
        line: u64,
    ) -> Result<Option<Request>, LineError> {
        let method = match l.method {
            "GET" => Method::GET,
            "HEAD" => Method::HEAD,
            _ => return Ok(None),
        };
        let mut target: Uri = l.target.parse().map_err(|_| LineError::Target)?;
        if !l.target.starts_with('/') {
            // Only an absolute-form target (proxy logs) is accepted besides `/...`; the path
            // is what an origin server receives.
            if target.scheme().is_none() {
                return Err(LineError::Target);
            }
            let pq = target.path_and_query().map_or("/", |pq| pq.as_str());
            target = pq.parse().map_err(|_| LineError::Target)?;
        }
        let host = match l.host {
            Some(h) => HeaderValue::from_str(h).map_err(|_| LineError::Host)?,
            None => default_host.clone(),
        };
        Ok(Some(Request {
            method,
            host,
            target,
            time: l.time,
            file,
            line,
        }))
    }
}

/// What the reader did with one file.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileSummary {
    /// The path as given.
    pub path: String,
    /// The format used (detected or forced); `None` for an empty file.
    pub format: Option<LogFormat>,
    /// Whether the file was gzip-compressed.
    pub gzip: bool,
    /// Lines read (blank lines included).
    pub lines: u64,
    /// Lines turned into requests.
    pub requests: u64,
    /// Unparsable lines.
    pub bad_lines: u64,
    /// Parsed lines whose method is neither GET nor HEAD.
    pub skipped_methods: u64,
}

/// An unparsable line, for the report.
#[derive(Debug, Clone, Serialize)]
pub struct BadLine {
    /// The file.
    pub file: String,
    /// Its line number, from 1.
    pub line: u64,
    /// Why it was not parsed.
    pub reason: String,
}

/// What the reader did with all the files.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReadSummary {
    /// One entry per file read (possibly partly: see `complete`).
    pub files: Vec<FileSummary>,
    /// Total unparsable lines.
    pub bad_lines: u64,
    /// The first unparsable lines, in reading order.
    pub bad_line_list: Vec<BadLine>,
    /// Total lines whose method was not replayed.
    pub skipped_methods: u64,
    /// Whether every line of every file was read (false when a limit stopped the run).
    pub complete: bool,
}

/// Options of [`read_logs`].
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// Files, read one after another.
    pub files: Vec<PathBuf>,
    /// Forced format; detected per file when `None`.
    pub format: Option<LogFormat>,
    /// `Host` for formats without a host field.
    pub default_host: HeaderValue,
    /// How many bad lines to list in the summary.
    pub bad_lines_listed: usize,
    /// Requests per channel message: amortises channel cost at high rates.
    pub batch: usize,
}

/// Opens a log, decompressing it when it starts with the gzip magic bytes (whatever its name).
pub fn open_log(path: &Path) -> Result<(Box<dyn BufRead + Send>, bool), ReplayError> {
    let open_err = |source| ReplayError::Open {
        path: path.to_owned(),
        source,
    };
    let mut r = BufReader::with_capacity(256 * 1024, File::open(path).map_err(open_err)?);
    let gzip = r.fill_buf().map_err(open_err)?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        (
            Box::new(BufReader::with_capacity(256 * 1024, MultiGzDecoder::new(r))),
            true,
        )
    } else {
        (Box::new(r), false)
    })
}

/// Reads every file line by line and sends the requests in batches. Blocking: run it on a
/// blocking thread. Returns early, with `complete == false`, when the receiver is dropped.
pub fn read_logs(
    opts: &ReadOptions,
    tx: &mpsc::Sender<Vec<Request>>,
) -> Result<ReadSummary, ReplayError> {
    let mut sum = ReadSummary::default();
    let mut batch = Vec::with_capacity(opts.batch);
    for (index, path) in opts.files.iter().enumerate() {
        let mut reader = FileReader::new(opts, index, path, &mut sum)?;
        let go_on = reader.run(&mut batch, tx)?;
        if !go_on {
            return Ok(sum);
        }
    }
    if !batch.is_empty() && tx.blocking_send(batch).is_err() {
        return Ok(sum);
    }
    sum.complete = true;
    Ok(sum)
}

struct FileReader<'a> {
    opts: &'a ReadOptions,
    index: usize,
    path: &'a Path,
    input: Box<dyn BufRead + Send>,
    sum: &'a mut ReadSummary,
    file: FileSummary,
}

impl<'a> FileReader<'a> {
    fn new(
        opts: &'a ReadOptions,
        index: usize,
        path: &'a Path,
        sum: &'a mut ReadSummary,
    ) -> Result<Self, ReplayError> {
        let (input, gzip) = open_log(path)?;
        Ok(FileReader {
            opts,
            index,
            path,
            input,
            sum,
            file: FileSummary {
                path: path.display().to_string(),
                format: opts.format,
                gzip,
                ..FileSummary::default()
            },
        })
    }

    /// Reads the file; `Ok(false)` when the receiver is gone.
    fn run(
        &mut self,
        batch: &mut Vec<Request>,
        tx: &mpsc::Sender<Vec<Request>>,
    ) -> Result<bool, ReplayError> {
        let mut buf = Vec::with_capacity(1024);
        let mut pending: Vec<(u64, String)> = Vec::new();
        let mut go_on = true;
        while go_on {
            buf.clear();
            let n = self
                .input
                .read_until(b'\n', &mut buf)
                .map_err(|source| ReplayError::Read {
                    path: self.path.to_owned(),
                    line: self.file.lines,
                    source,
                })?;
            if n == 0 {
                break;
            }
            self.file.lines += 1;
            let number = self.file.lines;
            while matches!(buf.last(), Some(b'\n' | b'\r')) {
                buf.pop();
            }
            let text = String::from_utf8_lossy(&buf);
            let Some(format) = self.file.format else {
                pending.push((number, text.into_owned()));
                if pending.len() == DETECT_LINES {
                    self.file.format = Some(self.detect(&pending)?);
                    go_on = self.drain(&mut pending, batch, tx);
                }
                continue;
            };
            go_on = self.line(&text, format, number, batch, tx);
        }
        if self.file.format.is_none() && !pending.is_empty() {
            self.file.format = Some(self.detect(&pending)?);
            go_on = self.drain(&mut pending, batch, tx);
        }
        self.sum.files.push(std::mem::take(&mut self.file));
        Ok(go_on)
    }

    fn detect(&self, lines: &[(u64, String)]) -> Result<LogFormat, ReplayError> {
        let score = |f: LogFormat| {
            lines
                .iter()
                .filter(|(_, l)| parse_line(l, f).is_ok())
                .count()
        };
        // Most specific format wins ties: a vhost_combined line is never also `common`, so
        // ties only happen between formats that both fail (score 0).
        let (best, count) = LogFormat::ALL.into_iter().map(|f| (f, score(f))).fold(
            (LogFormat::Common, 0),
            |acc, x| if x.1 > acc.1 { x } else { acc },
        );
        if count == 0 {
            let blank = lines.iter().all(|(_, l)| l.trim().is_empty());
            if !blank {
                return Err(ReplayError::UnknownFormat {
                    path: self.path.to_owned(),
                    lines: lines.len() as u64,
                });
            }
        }
        Ok(best)
    }

    fn drain(
        &mut self,
        pending: &mut Vec<(u64, String)>,
        batch: &mut Vec<Request>,
        tx: &mpsc::Sender<Vec<Request>>,
    ) -> bool {
        let format = self.file.format.unwrap_or(LogFormat::Common);
        for (number, text) in std::mem::take(pending) {
            if !self.line(&text, format, number, batch, tx) {
                return false;
            }
        }
        true
    }

    /// Handles one line; `false` when the receiver is gone.
    fn line(
        &mut self,
        text: &str,
        format: LogFormat,
        number: u64,
        batch: &mut Vec<Request>,
        tx: &mpsc::Sender<Vec<Request>>,
    ) -> bool {
        if text.trim().is_empty() {
            return true;
        }
        let parsed = parse_line(text, format)
            .and_then(|l| Request::from_line(&l, &self.opts.default_host, self.index, number));
        match parsed {
            Ok(Some(req)) => {
                self.file.requests += 1;
                batch.push(req);
                if batch.len() >= self.opts.batch {
                    let full = std::mem::replace(batch, Vec::with_capacity(self.opts.batch));
                    return tx.blocking_send(full).is_ok();
                }
            }
            Ok(None) => {
                self.file.skipped_methods += 1;
                self.sum.skipped_methods += 1;
            }
            Err(e) => {
                self.file.bad_lines += 1;
                self.sum.bad_lines += 1;
                if self.sum.bad_line_list.len() < self.opts.bad_lines_listed {
                    self.sum.bad_line_list.push(BadLine {
                        file: self.file.path.clone(),
                        line: number,
                        reason: e.to_string(),
                    });
                }
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const VHOST: &str = r#"www.boulangerie-martin.fr:443 203.0.113.9 - - [10/Oct/2025:13:55:36 +0200] "GET /tarifs?x=1 HTTP/1.1" 200 5120 "https://www.google.fr/" "Mozilla/5.0 (X11; Linux x86_64)""#;
    const COMBINED: &str = r#"203.0.113.9 - frank [10/Oct/2025:13:55:36 -0700] "HEAD / HTTP/1.0" 304 - "-" "curl/8.5.0""#;
    const COMMON: &str =
        r#"203.0.113.9 - - [10/Oct/2025:13:55:36 +0000] "GET /apache_pb.gif HTTP/1.0" 200 2326"#;
    const NGINX: &str = r#"2001:db8::1 - - [10/Oct/2025:13:55:36 +0200] "GET /media/four.jpg HTTP/2.0" 200 48213 "https://plombier.fr/" "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)" "plombier.fr""#;

    #[test]
    fn parses_each_format() {
        let l = parse_line(VHOST, LogFormat::VhostCombined).unwrap();
        assert_eq!(l.host, Some("www.boulangerie-martin.fr"));
        assert_eq!(l.client, "203.0.113.9");
        assert_eq!(
            (l.method, &*l.target, l.protocol),
            ("GET", "/tarifs?x=1", "HTTP/1.1")
        );
        assert_eq!((l.status, l.bytes), (200, 5120));
        assert_eq!(l.referer, Some("https://www.google.fr/"));
        assert_eq!(l.user_agent, Some("Mozilla/5.0 (X11; Linux x86_64)"));
        // 13:55:36 +0200 is 11:55:36 UTC.
        assert_eq!(l.time, 1_760_097_336);

        let l = parse_line(COMBINED, LogFormat::Combined).unwrap();
        assert_eq!(
            (l.host, l.method, l.status, l.bytes),
            (None, "HEAD", 304, 0)
        );
        assert_eq!(l.time, 1_760_097_336 + 9 * 3600);

        let l = parse_line(COMMON, LogFormat::Common).unwrap();
        assert_eq!(
            (l.referer, l.user_agent, &*l.target),
            (None, None, "/apache_pb.gif")
        );

        let l = parse_line(NGINX, LogFormat::NginxHost).unwrap();
        assert_eq!((l.host, l.client), (Some("plombier.fr"), "2001:db8::1"));
        assert_eq!(l.protocol, "HTTP/2.0");
    }

    #[test]
    fn detects_formats_and_refuses_the_wrong_one() {
        assert_eq!(detect_format(VHOST), Some(LogFormat::VhostCombined));
        assert_eq!(detect_format(COMBINED), Some(LogFormat::Combined));
        assert_eq!(detect_format(COMMON), Some(LogFormat::Common));
        assert_eq!(detect_format(NGINX), Some(LogFormat::NginxHost));
        assert_eq!(detect_format("hello world"), None);
        assert_eq!(
            parse_line(VHOST, LogFormat::NginxHost),
            Err(LineError::Shape)
        );
        assert_eq!(
            parse_line(COMMON, LogFormat::Combined),
            Err(LineError::Shape)
        );
    }

    #[test]
    fn escaped_quotes_in_user_agent_and_request() {
        let line = r#"h.fr:80 198.51.100.7 - - [01/Jan/2026:00:00:00 +0100] "GET /a\"b\\c\x7f HTTP/1.1" 200 1 "-" "Bot/1.0 (\"quoted\"; +https://x.example/)""#;
        let l = parse_line(line, LogFormat::VhostCombined).unwrap();
        assert_eq!(
            l.user_agent,
            Some(r#"Bot/1.0 (\"quoted\"; +https://x.example/)"#)
        );
        assert_eq!(&*l.target, "/a%22b%5Cc%7F");
        let nginx = r#"198.51.100.7 - - [01/Jan/2026:00:00:00 +0100] "GET /caf\xC3\xA9 HTTP/1.1" 200 1 "-" "A \x22B\x22" "h.fr""#;
        let l = parse_line(nginx, LogFormat::NginxHost).unwrap();
        assert_eq!(&*l.target, "/caf%C3%A9");
        assert_eq!(l.user_agent, Some(r#"A \x22B\x22"#));
    }

    #[test]
    fn ipv6_clients_and_hosts_with_ports() {
        let line = r#"[2001:db8::2]:8080 2a01:cb00:1234:5600::42 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#;
        let l = parse_line(line, LogFormat::VhostCombined).unwrap();
        assert_eq!(l.host, Some("[2001:db8::2]"));
        assert_eq!(l.client, "2a01:cb00:1234:5600::42");
        assert_eq!(strip_port("example.fr"), "example.fr");
    }

    #[test]
    fn bad_lines_say_why() {
        let cases = [
            (
                r#"h:80 1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "unterminated"#,
                LineError::Unterminated,
            ),
            (
                r#"h:80 1.2.3.4 - - [01/Foo/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-""#,
                LineError::Time,
            ),
            (
                r#"h:80 1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "-" 408 0 "-" "-""#,
                LineError::Request,
            ),
            (
                r#"h:80 1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 2000 1 "-" "-""#,
                LineError::Status,
            ),
            (
                r#"h:80 1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET / HTTP/1.1" 200 x "-" "-""#,
                LineError::Size,
            ),
            ("", LineError::Shape),
        ];
        for (line, err) in cases {
            assert_eq!(
                parse_line(line, LogFormat::VhostCombined),
                Err(err),
                "{line}"
            );
        }
        let l = parse_line(r#"h:80 1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET relative HTTP/1.1" 200 1 "-" "-""#, LogFormat::VhostCombined).unwrap();
        let host = HeaderValue::from_static("d");
        assert_eq!(
            Request::from_line(&l, &host, 0, 1).unwrap_err(),
            LineError::Target
        );
    }

    #[test]
    fn time_round_trip() {
        for unix in [0, 951_782_400, 1_760_097_336, 4_102_444_799] {
            for offset in [0, 3600, -25_200, 19_800] {
                let mut s = String::new();
                format_time(unix, offset, &mut s);
                assert_eq!(parse_time(&s), Some(unix), "{s}");
            }
        }
        assert_eq!(parse_time("29/Feb/2000:00:00:00 +0000"), Some(951_782_400));
    }

    #[test]
    fn only_get_and_head_become_requests() {
        let host = HeaderValue::from_static("default.test");
        let post = COMMON.replace("GET", "POST");
        let l = parse_line(&post, LogFormat::Common).unwrap();
        assert!(Request::from_line(&l, &host, 0, 1).unwrap().is_none());
        let l = parse_line(COMMON, LogFormat::Common).unwrap();
        let r = Request::from_line(&l, &host, 0, 1).unwrap().unwrap();
        assert_eq!(r.host, "default.test");
        let l = parse_line(r#"1.2.3.4 - - [01/Jan/2026:00:00:00 +0000] "GET http://proxy.example/p?q=1 HTTP/1.1" 200 1"#, LogFormat::Common).unwrap();
        let r = Request::from_line(&l, &host, 0, 1).unwrap().unwrap();
        assert_eq!(r.target, "/p?q=1");
    }

    fn read_all(path: &Path, format: Option<LogFormat>) -> (Vec<Request>, ReadSummary) {
        let (tx, mut rx) = mpsc::channel(1024);
        let opts = ReadOptions {
            files: vec![path.to_owned()],
            format,
            default_host: HeaderValue::from_static("default.test"),
            bad_lines_listed: 2,
            batch: 3,
        };
        let sum = read_logs(&opts, &tx).unwrap();
        drop(tx);
        let mut all = Vec::new();
        while let Ok(b) = rx.try_recv() {
            all.extend(b);
        }
        (all, sum)
    }

    #[test]
    fn reader_counts_bad_lines_with_numbers_and_reads_gzip_by_magic() {
        let dir = tempfile::tempdir().unwrap();
        let text = format!(
            "{VHOST}\ngarbage\n\n{VHOST}\r\nPOST\n{}\n{VHOST}\nlast bad",
            VHOST.replace("GET", "DELETE")
        );
        let plain = dir.path().join("access.log");
        std::fs::write(&plain, &text).unwrap();
        // Compressed, under a name that does not say so, in two gzip members (as logrotate
        // and `cat a.gz b.gz` produce).
        let gz = dir.path().join("access.log.1");
        let mut bytes = Vec::new();
        for part in [&text[..10], &text[10..]] {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            enc.write_all(part.as_bytes()).unwrap();
            bytes.extend(enc.finish().unwrap());
        }
        std::fs::write(&gz, bytes).unwrap();
        for path in [&plain, &gz] {
            let (reqs, sum) = read_all(path, None);
            assert_eq!(reqs.len(), 3);
            assert_eq!(reqs.iter().map(|r| r.line).collect::<Vec<_>>(), [1, 4, 7]);
            assert!(reqs.iter().all(|r| r.host == "www.boulangerie-martin.fr"));
            assert_eq!(sum.bad_lines, 3);
            assert_eq!(sum.skipped_methods, 1);
            let listed: Vec<u64> = sum.bad_line_list.iter().map(|b| b.line).collect();
            assert_eq!(listed, [2, 5]);
            assert_eq!(sum.files[0].format, Some(LogFormat::VhostCombined));
            assert_eq!(sum.files[0].gzip, path == &gz);
            assert_eq!(sum.files[0].lines, 8);
            assert!(sum.complete);
        }
    }

    #[test]
    fn unknown_format_is_an_error_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.log");
        std::fs::write(&path, "nothing\nto see\n").unwrap();
        let (tx, _rx) = mpsc::channel(4);
        let opts = ReadOptions {
            files: vec![path.clone()],
            format: None,
            default_host: HeaderValue::from_static("d"),
            bad_lines_listed: 10,
            batch: 10,
        };
        assert!(matches!(
            read_logs(&opts, &tx),
            Err(ReplayError::UnknownFormat { .. })
        ));
        let (reqs, sum) = read_all(&path, Some(LogFormat::Combined));
        assert!(reqs.is_empty());
        assert_eq!(sum.bad_lines, 2);
    }
}
