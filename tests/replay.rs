//! `vitrine replay` against an in-process HTTP server on 127.0.0.1 that records the method,
//! Host, path and arrival time of every request: fidelity of hosts and paths, rate accuracy,
//! pacing by recorded timestamps, behaviour when the server stalls, limits and error kinds.
//! (The latency plot of a report is `vitrine-bench plot`'s, tested in bench/tools.)

use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use vitrine::replay::{self, ReplayArgs, Report};

#[derive(Debug, Clone)]
struct Hit {
    method: String,
    host: String,
    path: String,
    at: Instant,
}

/// A server that answers every request with 200 "ok" (404 under `/missing`), sleeping
/// `stall` first when the path contains `stall`.
struct TestServer {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<Hit>>>,
    accept: tokio::task::JoinHandle<()>,
    /// Keeps the load tests of `faults` from running meanwhile (rates are timed here).
    _shared: Option<crate::support::Shared>,
}

impl TestServer {
    async fn start(stall: Duration) -> TestServer {
        let shared = tokio::task::block_in_place(crate::support::shared);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let accept = {
            let hits = hits.clone();
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        return;
                    };
                    let hits = hits.clone();
                    tokio::spawn(async move {
                        let service =
                            service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                                let hits = hits.clone();
                                async move {
                                    let at = Instant::now();
                                    let path = req.uri().to_string();
                                    let host = req
                                        .headers()
                                        .get(hyper::header::HOST)
                                        .map(|h| h.to_str().unwrap().to_owned())
                                        .unwrap_or_default();
                                    let stalls = path.contains("stall");
                                    let status = if path.starts_with("/missing") {
                                        404
                                    } else {
                                        200
                                    };
                                    hits.lock().unwrap().push(Hit {
                                        method: req.method().to_string(),
                                        host,
                                        path,
                                        at,
                                    });
                                    if stalls {
                                        tokio::time::sleep(stall).await;
                                    }
                                    let mut resp =
                                        hyper::Response::new(Full::new(Bytes::from_static(b"ok")));
                                    *resp.status_mut() =
                                        hyper::StatusCode::from_u16(status).unwrap();
                                    Ok::<_, Infallible>(resp)
                                }
                            });
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                }
            })
        };
        TestServer {
            addr,
            hits,
            accept,
            _shared: shared,
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: ReplayArgs,
}

fn args(list: &[&str]) -> ReplayArgs {
    let mut v = vec!["replay", "--quiet"];
    v.extend_from_slice(list);
    Cli::try_parse_from(v).unwrap().args
}

/// Runs a replay with a hard bound on its wall time.
async fn replay(list: &[&str]) -> Report {
    tokio::time::timeout(Duration::from_secs(10), replay::run(args(list)))
        .await
        .expect("replay finished in time")
        .expect("replay ran")
}

const T0: i64 = 1_773_140_400; // 10/Mar/2026:12:00:00 +0100

fn stamp(unix: i64) -> String {
    let mut s = String::new();
    replay::access_log::format_time(unix, 3600, &mut s);
    s
}

fn vhost_line(host: &str, method: &str, path: &str, unix: i64) -> String {
    format!(
        "{host}:443 2a01:cb00:12:34::7 - - [{}] \"{method} {path} HTTP/1.1\" 200 512 \"-\" \"Mozilla/5.0 (X11; \\\"Linux\\\")\"\n",
        stamp(unix)
    )
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_arrives_with_the_host_and_path_of_its_own_line() {
    let server = TestServer::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let mut log = String::new();
    for i in 0..300 {
        let method = if i % 10 == 3 { "HEAD" } else { "GET" };
        log += &vhost_line(
            &format!("site{}.test", i % 13),
            method,
            &format!("/p/{i}?h={}", i % 13),
            T0 + i / 50,
        );
        if i == 100 {
            log += "this line is not a log line\n";
            log += &vhost_line("site0.test", "POST", "/form", T0);
        }
    }
    let path = write(dir.path(), "access.log", &log);
    let report = replay(&[path.to_str().unwrap(), "--target", &server.url(), "-c", "8"]).await;

    let hits = server.hits();
    assert_eq!(hits.len(), 300);
    assert_eq!(
        (report.requests, report.responses, report.errors.total()),
        (300, 300, 0)
    );
    let mut seen = vec![false; 300];
    for h in &hits {
        let i: usize = h.path[3..].split('?').next().unwrap().parse().unwrap();
        assert!(!seen[i], "line {i} replayed twice");
        seen[i] = true;
        assert_eq!(h.host, format!("site{}.test", i % 13), "host of line {i}");
        assert_eq!(h.path, format!("/p/{i}?h={}", i % 13));
        assert_eq!(h.method, if i % 10 == 3 { "HEAD" } else { "GET" });
    }
    assert_eq!(report.input.bad_lines, 1);
    assert_eq!(report.input.bad_line_list[0].line, 102);
    assert_eq!(report.input.skipped_methods, 1);
    assert_eq!(report.status.get(&200), Some(&300));
    assert_eq!(report.bytes, 270 * 2, "HEAD answers have no body");
    assert!(report.warnings.iter().any(|w| w.contains("closed loop")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_nginx_and_hostless_formats_replay_too() {
    let server = TestServer::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let mut nginx = String::new();
    for i in 0..20 {
        nginx += &format!(
            "2001:db8::{i:x} - - [{}] \"GET /n/{i} HTTP/2.0\" 200 10 \"-\" \"UA \\x22q\\x22\" \"n{i}.test\"\n",
            stamp(T0)
        );
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(nginx.as_bytes()).unwrap();
    // No .gz suffix: detected by its magic bytes.
    let gz = dir.path().join("nginx.log.1");
    std::fs::write(&gz, enc.finish().unwrap()).unwrap();
    let common = write(
        dir.path(),
        "common.log",
        &(0..5)
            .map(|i| {
                format!(
                    "192.0.2.{i} - - [{}] \"GET /c/{i} HTTP/1.0\" 200 10\n",
                    stamp(T0)
                )
            })
            .collect::<String>(),
    );
    let report = replay(&[
        gz.to_str().unwrap(),
        common.to_str().unwrap(),
        "--target",
        &server.url(),
        "--host",
        "fallback.test",
    ])
    .await;
    assert_eq!(report.responses, 25);
    let formats: Vec<_> = report
        .input
        .files
        .iter()
        .map(|f| (f.format.unwrap().name(), f.gzip))
        .collect();
    assert_eq!(formats, [("nginx_host", true), ("common", false)]);
    for h in server.hits() {
        let expect = match h.path.strip_prefix("/n/") {
            Some(i) => format!("n{i}.test"),
            None => "fallback.test".to_owned(),
        };
        assert_eq!(h.host, expect);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_rate_is_accurate() {
    // Rate and lateness are measured: no other test server may share the two cores.
    let _alone = tokio::task::block_in_place(crate::support::exclusive);
    crate::support::measured(3, fixed_rate_run).await;
}

async fn fixed_rate_run() -> Result<(), String> {
    let server = TestServer::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    // Timestamps are irrelevant at a fixed rate: all lines share one second.
    let log: String = (0..1000)
        .map(|i| vhost_line("r.test", "GET", &format!("/{i}"), T0))
        .collect();
    let path = write(dir.path(), "rate.log", &log);
    let report = replay(&[
        path.to_str().unwrap(),
        "--target",
        &server.url(),
        "--rate",
        "500",
    ])
    .await;

    let hits = server.hits();
    assert_eq!(hits.len(), 1000);
    let first = hits.iter().map(|h| h.at).min().unwrap();
    let last = hits.iter().map(|h| h.at).max().unwrap();
    let achieved = 999.0 / (last - first).as_secs_f64();
    figure!(
        (achieved / 500.0 - 1.0).abs() < 0.03,
        "achieved {achieved} req/s"
    );
    figure!(
        (report.throughput_rps / 500.0 - 1.0).abs() < 0.05,
        "reported {} req/s",
        report.throughput_rps
    );
    let s = report.schedule.as_ref().unwrap();
    figure!(s.generator_late < 10, "generator late {}", s.generator_late);
    // Evenly paced: no second of the run carries more than its share (no bursts).
    let busiest = *report.throughput_per_second.iter().max().unwrap();
    figure!(busiest <= 520, "bursts: {:?}", report.throughput_per_second);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recorded_timing_is_replayed_faster_by_the_speedup_factor() {
    // Rate and lateness are measured: no other test server may share the two cores.
    let _alone = tokio::task::block_in_place(crate::support::exclusive);
    crate::support::measured(3, speedup_run).await;
}

async fn speedup_run() -> Result<(), String> {
    let server = TestServer::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    // Ten log seconds with 1 to 4 requests each; the path says when it should arrive.
    let mut log = String::new();
    let mut total = 0;
    for sec in 0..10i64 {
        let n = sec % 4 + 1;
        for k in 0..n {
            log += &vhost_line("s.test", "GET", &format!("/s/{sec}/{k}/{n}"), T0 + sec);
            total += 1;
        }
    }
    let path = write(dir.path(), "timed.log", &log);
    let started = Instant::now();
    let report = replay(&[
        path.to_str().unwrap(),
        "--target",
        &server.url(),
        "--speedup",
        "10",
    ])
    .await;
    let wall = started.elapsed().as_secs_f64();
    assert_eq!(report.responses, total);
    figure!(
        (0.85..1.5).contains(&wall),
        "10 log seconds at x10 took {wall} s"
    );

    let hits = server.hits();
    let first = hits.iter().map(|h| h.at).min().unwrap();
    for h in &hits {
        let p: Vec<f64> = h.path[3..].split('/').map(|x| x.parse().unwrap()).collect();
        let expected = (p[0] + p[1] / p[2]) / 10.0;
        let actual = (h.at - first).as_secs_f64();
        figure!(
            (actual - expected).abs() < 0.03,
            "{}: arrived at {actual:.4} s, expected {expected:.4} s",
            h.path
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_server_makes_latency_grow_instead_of_thinning_requests() {
    // Rate and lateness are measured: no other test server may share the two cores.
    let _alone = tokio::task::block_in_place(crate::support::exclusive);
    crate::support::measured(3, stalled_server_run).await;
}

async fn stalled_server_run() -> Result<(), String> {
    let server = TestServer::start(Duration::from_millis(300)).await;
    let dir = tempfile::tempdir().unwrap();
    // 200 requests at 200/s over two connections; requests 50 and 51 stall both for 300 ms,
    // during which about 60 more requests are due.
    let log: String = (0..200)
        .map(|i| {
            let p = if i == 50 || i == 51 {
                format!("/stall/{i}")
            } else {
                format!("/{i}")
            };
            vhost_line("st.test", "GET", &p, T0)
        })
        .collect();
    let path = write(dir.path(), "stall.log", &log);
    let report = replay(&[
        path.to_str().unwrap(),
        "--target",
        &server.url(),
        "--rate",
        "200",
        "-c",
        "2",
    ])
    .await;

    assert_eq!(server.hits().len(), 200, "no request was dropped");
    assert_eq!((report.requests, report.responses), (200, 200));
    let latency = report.latency_ms.unwrap();
    let service = report.service_time_ms.unwrap();
    assert!(
        latency.p99 >= 250.0,
        "latency from intended time {latency:?}"
    );
    figure!(service.p90 < 50.0, "service time {service:?}");
    let s = report.schedule.as_ref().unwrap();
    assert!(s.late_requests >= 30, "{} requests late", s.late_requests);
    figure!(
        s.generator_late < 5,
        "the dispatcher kept its schedule: {}",
        s.generator_late
    );
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("free connection")),
        "{:?}",
        report.warnings
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_stop_the_replay() {
    let server = TestServer::start(Duration::ZERO).await;
    let dir = tempfile::tempdir().unwrap();
    let log: String = (0..5000)
        .map(|i| vhost_line("l.test", "GET", &format!("/{i}"), T0))
        .collect();
    let path = write(dir.path(), "limits.log", &log);
    let report = replay(&[
        path.to_str().unwrap(),
        "--target",
        &server.url(),
        "--max-requests",
        "50",
    ])
    .await;
    assert_eq!((report.requests, report.responses), (50, 50));
    assert!(!report.input.complete);
    let report = replay(&[
        path.to_str().unwrap(),
        "--target",
        &server.url(),
        "--rate",
        "100",
        "--duration",
        "300ms",
    ])
    .await;
    assert!((29..=31).contains(&report.requests), "{}", report.requests);
    assert_eq!(server.hits().len() as u64, 50 + report.requests);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let log: String = (0..6)
        .map(|i| vhost_line("e.test", "GET", &format!("/stall/{i}"), T0))
        .collect();
    let path = write(dir.path(), "errors.log", &log);
    // Nothing listens on a port that was just released.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let report = replay(&[
        path.to_str().unwrap(),
        "--target",
        &format!("http://{closed}"),
        "-c",
        "2",
    ])
    .await;
    assert_eq!((report.errors.connect, report.responses), (6, 0));

    let server = TestServer::start(Duration::from_secs(2)).await;
    let report = replay(&[
        path.to_str().unwrap(),
        "--target",
        &server.url(),
        "-c",
        "6",
        "--timeout",
        "100ms",
    ])
    .await;
    assert_eq!((report.errors.timeout, report.responses), (6, 0));
    assert_eq!(report.errors_per_second.iter().sum::<u64>(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_arguments_are_refused_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "a.log", &vhost_line("a.test", "GET", "/", T0));
    for (target, extra) in [
        ("https://127.0.0.1:1", "--rate=10"),
        ("http://127.0.0.1:1/some/path", "--rate=10"),
        ("http://127.0.0.1:1", "--rate=0"),
        ("http://127.0.0.1:1", "--concurrency=0"),
    ] {
        let r = replay::run(args(&[path.to_str().unwrap(), "--target", target, extra])).await;
        assert!(r.is_err(), "{target} {extra}");
    }
    let missing = dir.path().join("missing.log");
    let r = replay::run(args(&[
        missing.to_str().unwrap(),
        "--target",
        "http://127.0.0.1:1",
    ]))
    .await;
    assert!(matches!(r, Err(replay::ReplayError::Open { .. })));
    // `--plot` is not an option of `vitrine replay` (`vitrine-bench plot` draws a saved
    // report): a script asking for it gets a parse error, not a run without its picture.
    assert!(Cli::try_parse_from([
        "replay",
        path.to_str().unwrap(),
        "--target",
        "http://127.0.0.1:1",
        "--plot",
        "latency.svg",
    ])
    .is_err());
}

/// A server speaking raw HTTP/1.1 answers, each chosen by the request's path: every way an
/// answer's body can end, interim answers, and a connection closed while idle.
async fn raw_server() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut pending = Vec::new();
                loop {
                    let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                        let mut chunk = [0u8; 4096];
                        match stream.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&chunk[..n]),
                        }
                        continue;
                    };
                    let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                    pending.drain(..end + 4);
                    let line = head.lines().next().unwrap_or_default().to_owned();
                    let path = line.split(' ').nth(1).unwrap_or_default();
                    let (answer, close): (&[u8], bool) = match path {
                        "/chunked" => (
                            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
                            false,
                        ),
                        "/close" => (
                            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 4\r\n\r\nbye!",
                            true,
                        ),
                        "/until-close" => (b"HTTP/1.0 200 OK\r\n\r\nuntil close", true),
                        "/continue" => (
                            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
                            false,
                        ),
                        "/not-modified" => {
                            (b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n", false)
                        }
                        "/garbage" => (b"NOT HTTP AT ALL\r\n\r\n", true),
                        // Answered, then closed without saying so: the next request on this
                        // connection finds it closed (the keep-alive race).
                        "/idle-close" => (b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", true),
                        // HEAD: the length of the body a GET would get, and no body.
                        _ => (b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", false),
                    };
                    if stream.write_all(answer).await.is_err() || close {
                        return;
                    }
                }
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_read_however_their_bodies_end() {
    let (addr, server) = raw_server().await;
    let dir = tempfile::tempdir().unwrap();
    let lines = [
        ("GET", "/chunked"),
        ("GET", "/close"),
        ("GET", "/until-close"),
        ("GET", "/continue"),
        ("GET", "/not-modified"),
        ("HEAD", "/"),
        ("GET", "/chunked"),
    ];
    let log: String = lines
        .iter()
        .map(|(m, p)| vhost_line("raw.test", m, p, T0))
        .collect();
    let path = write(dir.path(), "raw.log", &log);
    let url = format!("http://{addr}");
    // One connection carries them all in turn, reconnecting after the closing ones.
    let report = replay(&[path.to_str().unwrap(), "--target", &url, "-c", "1"]).await;
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(report.responses, lines.len() as u64);
    assert_eq!(report.status.get(&200), Some(&6), "{:?}", report.status);
    assert_eq!(report.status.get(&304), Some(&1), "{:?}", report.status);
    // Decoded body bytes: 11 + 4 + 11 + 2 + 0 + 0 + 11.
    assert_eq!(report.bytes, 39);

    // A connection the server closed while idle is replaced, and the request sent again.
    let log: String = (0..4)
        .map(|_| vhost_line("raw.test", "GET", "/idle-close", T0))
        .collect();
    let path = write(dir.path(), "idle.log", &log);
    let report = replay(&[path.to_str().unwrap(), "--target", &url, "-c", "1"]).await;
    assert_eq!(report.errors.total(), 0, "{:?}", report.errors);
    assert_eq!(report.status.get(&404), Some(&4));
    assert!(report.retries >= 1, "{} retries", report.retries);

    // Not HTTP: counted as an HTTP error, not an answer.
    let path = write(
        dir.path(),
        "garbage.log",
        &vhost_line("raw.test", "GET", "/garbage", T0),
    );
    let report = replay(&[path.to_str().unwrap(), "--target", &url, "-c", "1"]).await;
    assert_eq!((report.errors.http, report.responses), (1, 0));
    server.abort();
}
