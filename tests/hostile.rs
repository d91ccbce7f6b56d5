//! Clients that hold the server's resources instead of using them: HTTP/2 streams whose
//! flow-control window stays at zero, a reader that stops reading. The server runs as its
//! own process under a low descriptor limit, so that what it holds can be counted.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::support::*;

/// The descriptor limit the server runs under.
const NOFILE: u64 = 256;
/// Its `--send-timeout`, in seconds.
const SEND_TIMEOUT: u64 = 2;

/// `vitrine serve` in a process of its own, with `RLIMIT_NOFILE` at [`NOFILE`] (soft and
/// hard, so that it cannot raise it).
struct Served {
    child: Child,
    addr: SocketAddr,
    log: PathBuf,
}

impl Served {
    fn start(fixture: &Fixture) -> Served {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = fixture.dir.path().join("serve.log");
        let mut cmd = Command::new(vitrine_bin());
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--sites"])
            .arg(fixture.sites())
            .arg("--stylesheets")
            .arg(fixture.stylesheets())
            .args(["--render-threads", "2", "--no-watch"])
            .args(["--send-timeout", &SEND_TIMEOUT.to_string()])
            .env_remove("VITRINE_REDIS")
            .stderr(std::fs::File::create(&log).unwrap());
        // SAFETY: the closure runs in the forked child before exec and only calls
        // setrlimit, which is async-signal-safe, on a struct of its own stack.
        unsafe {
            cmd.pre_exec(|| {
                let lim = libc::rlimit {
                    rlim_cur: NOFILE,
                    rlim_max: NOFILE,
                };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let served = Served { child, addr, log };
        wait_for(
            || {
                try_get(addr, "x", "/healthz", Duration::from_secs(2))
                    .is_ok_and(|r| r.status == 200)
            },
            "the server to start",
        );
        served
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        between(&status, "VmRSS:", "kB").trim().parse().unwrap()
    }

    /// SIGTERM, then waits for the server to drain and exit 0.
    fn stop(&mut self) {
        // SAFETY: kill(2) on our own child, not reaped yet (only `stop` and drop wait).
        let rc = unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        assert_eq!(rc, 0);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the server exited with {status}");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// A header block for `GET http://host/path`, in HPACK without Huffman coding: indexed
/// `:method GET` and `:scheme http`, then `:path` and `:authority` as literals without
/// indexing (their names indexed).
fn get_block(host: &str, path: &str) -> Vec<u8> {
    assert!(host.len() < 127 && path.len() < 127);
    let mut b = vec![0x82, 0x86, 0x04, path.len() as u8];
    b.extend_from_slice(path.as_bytes());
    b.extend_from_slice(&[0x01, host.len() as u8]);
    b.extend_from_slice(host.as_bytes());
    b
}

/// Opens an HTTP/2 connection whose streams get a window of 0 (the client never lets the
/// server send a byte of any body) and requests `path` on `streams` streams.
fn zero_window_connection(addr: SocketAddr, host: &str, path: &str, streams: u32) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    // SETTINGS_INITIAL_WINDOW_SIZE (0x4) = 0.
    out.extend(frame(0x4, 0, 0, &[0x00, 0x04, 0, 0, 0, 0]));
    let block = get_block(host, path);
    for i in 0..streams {
        // HEADERS with END_STREAM | END_HEADERS.
        out.extend(frame(0x1, 0x1 | 0x4, 2 * i + 1, &block));
    }
    s.write_all(&out).unwrap();
    s
}

/// Reads what the server sent until it closes the connection; `true` if it did within
/// `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let end = Instant::now() + limit;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            // A reset is a close too.
            Err(_) => return true,
        }
    }
}

/// The zero-window attack of 40 connections x 128 streams on a media file, against a server
/// limited to 256 descriptors: it never runs out of them (no failed `accept`), its memory
/// stays bounded, a normal client keeps getting every page, and each attacking connection is
/// closed once the send timeout has passed with nothing taken.
#[test]
fn zero_window_streams_neither_exhaust_descriptors_nor_stop_other_clients() {
    let _alone = exclusive();
    let fixture = Fixture::new();
    let (domain, rel, _) = main_domain(&fixture, "boulangerie-martin");
    let media = fixture.sites().join(&rel).parent().unwrap().join("media");
    std::fs::create_dir_all(&media).unwrap();
    std::fs::write(media.join("vitrine.jpg"), vec![0xd8_u8; 1 << 20]).unwrap();
    let served = Served::start(&fixture);
    let log = served.log();
    assert!(
        log.contains("file descriptors: limit 256") && log.contains("open files"),
        "the budgets are logged at start-up:\n{log}"
    );
    let idle_rss = served.rss_kib();

    let started = Instant::now();
    let mut attackers: Vec<TcpStream> = (0..40)
        .map(|_| zero_window_connection(served.addr, &domain, "/media/vitrine.jpg", 128))
        .collect();
    let mut most_fds = 0;
    let mut most_rss = 0;
    let mut pages = 0;
    let mut media_ok = 0;
    while started.elapsed() < Duration::from_secs(SEND_TIMEOUT) {
        most_fds = most_fds.max(served.fds());
        most_rss = most_rss.max(served.rss_kib());
        let page = try_get(served.addr, &domain, "/", Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("a normal page request failed during the attack: {e}"));
        assert_eq!(page.status, 200, "a normal page during the attack");
        pages += 1;
        // The file budget may be spent by the attack: then 503 and a retry hint, never a
        // hang or a failed connection.
        let photo = try_get(
            served.addr,
            &domain,
            "/media/vitrine.jpg",
            Duration::from_secs(5),
        )
        .unwrap_or_else(|e| panic!("a normal media request failed during the attack: {e}"));
        match photo.status {
            200 => media_ok += 1,
            503 => assert!(
                photo.header("retry-after").is_some(),
                "503 without Retry-After"
            ),
            other => panic!("media during the attack: {other}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for (i, s) in attackers.iter_mut().enumerate() {
        assert!(
            closed_within(s, Duration::from_secs(4 * SEND_TIMEOUT + 5)),
            "attacking connection {i} still open {:?} after it started",
            started.elapsed()
        );
    }
    let photo = try_get(
        served.addr,
        &domain,
        "/media/vitrine.jpg",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(photo.status, 200, "media once the attackers are gone");
    assert_eq!(photo.body.len(), 1 << 20);

    let log = served.log();
    assert!(
        !log.contains("accept failed"),
        "the server ran out of descriptors:\n{log}"
    );
    assert!(
        log.contains("took no bytes"),
        "stalled responses are reported:\n{log}"
    );
    let grown = most_rss.saturating_sub(idle_rss);
    eprintln!(
        "attack: at most {most_fds} descriptors of {NOFILE}, RSS {idle_rss} KiB idle, +{grown} \
         KiB at most; {pages} pages and {media_ok} photos served meanwhile"
    );
    assert!(pages >= 5, "only {pages} normal pages during the attack");
    assert!(
        grown < 100 * 1024,
        "RSS grew by {grown} KiB under the attack"
    );
}

/// A reader that stops reading a large download is cut once the send timeout passes with
/// nothing taken; one that reads slowly but steadily gets the whole file.
#[test]
fn a_stalled_reader_is_cut_and_a_slow_one_is_not() {
    let _alone = exclusive();
    let fixture = Fixture::new();
    let (domain, rel, _) = main_domain(&fixture, "boulangerie-martin");
    let media = fixture.sites().join(&rel).parent().unwrap().join("media");
    std::fs::create_dir_all(&media).unwrap();
    // More than the socket buffers of both ends hold, so that a reader that stops stalls
    // the server's writes.
    let big = 64u64 << 20;
    let file = std::fs::File::create(media.join("film.mp4")).unwrap();
    file.set_len(big).unwrap();
    let steady = 16usize << 20;
    std::fs::write(media.join("clip.mp4"), vec![7u8; steady]).unwrap();
    let served = Served::start(&fixture);
    let request = |path: &str| {
        let mut s = TcpStream::connect(served.addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        s
    };

    let mut stalled = request("/media/film.mp4");
    std::thread::sleep(Duration::from_secs(3 * SEND_TIMEOUT));
    let mut got = Vec::new();
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let ended = stalled.read_to_end(&mut got);
    assert!(
        (got.len() as u64) < big,
        "the stalled reader got all {} bytes: it was never cut",
        got.len()
    );
    assert!(
        ended.is_ok()
            || ended
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "the server closed the stalled connection ({ended:?})"
    );

    // About 2.5 MiB/s: 16 MiB takes about 6 s, three send timeouts.
    let mut slow = request("/media/clip.mp4");
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut total = 0usize;
    let mut buf = vec![0u8; 256 * 1024];
    let began = Instant::now();
    loop {
        let n = slow.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        total += n;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        total > steady,
        "the steady reader got {total} bytes of {steady} (and headers) in {:?}",
        began.elapsed()
    );
    assert!(
        began.elapsed() > Duration::from_secs(2 * SEND_TIMEOUT),
        "the slow read took {:?}: not slow enough to test anything",
        began.elapsed()
    );
}

/// Rapid resets (a stream opened and cancelled at once, over and over) get each connection
/// closed by the HTTP/2 library, which warns once per connection: a client must not be able
/// to write the server's log, so those warnings become one line as they start and one
/// summary per interval.
#[test]
fn rapid_reset_floods_are_cut_and_logged_once_per_interval() {
    let fixture = Fixture::new();
    let (domain, _, _) = main_domain(&fixture, "boulangerie-martin");
    let mut served = Served::start(&fixture);
    let block = get_block(&domain, "/");
    let connections = 50;
    for _ in 0..connections {
        let mut s = TcpStream::connect(served.addr).unwrap();
        let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        out.extend(frame(0x4, 0, 0, &[]));
        for i in 0..200u32 {
            let id = 2 * i + 1;
            out.extend(frame(0x1, 0x1 | 0x4, id, &block));
            // RST_STREAM, CANCEL (0x8).
            out.extend(frame(0x3, 0, id, &[0, 0, 0, 0x8]));
        }
        // The server may close before reading everything: a broken pipe is expected.
        let _ = s.write_all(&out);
        assert!(
            closed_within(&mut s, Duration::from_secs(10)),
            "a rapid-reset connection was not closed"
        );
    }
    let page = try_get(served.addr, &domain, "/", Duration::from_secs(5)).unwrap();
    assert_eq!(page.status, 200, "normal clients are still served");
    served.stop();
    let log = served.log();
    let per_connection = log.lines().filter(|l| l.contains("reached limit")).count();
    assert!(
        per_connection <= 2,
        "{per_connection} log lines about resets for {connections} connections:\n{log}"
    );
    let summary = log
        .lines()
        .find(|l| l.contains("more HTTP/2 protocol errors") && l.contains("in the last"))
        .unwrap_or_else(|| panic!("no summary of the resets:\n{log}"));
    let more: usize = summary
        .split(" more HTTP/2")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in {summary:?}"));
    assert_eq!(more, connections - 1, "{summary}");
}
