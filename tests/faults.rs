//! Fault injection under a steady stream of requests: Redis killed and restarted, paused,
//! or cut off behind a black-holing proxy, with the real server and a real redis-server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::support::*;

/// The map deadline of these tests; every request must end well within
/// [`REQUEST_BUDGET`], which is this plus the render and a wide margin for a loaded machine.
const DEADLINE_MS: u64 = 200;
const REQUEST_BUDGET: Duration = Duration::from_secs(2);
const UNKNOWN: &str = "nobody-here.example";
/// A ping is sent every heartbeat; detection may also wait for one that is in flight.
const HEARTBEAT_SLACK: Duration = Duration::from_millis(500);

/// One request of the load.
#[derive(Debug, Clone)]
struct Sample {
    host: String,
    start: Instant,
    took: Duration,
    /// Status and `Retry-After`, or the client error.
    outcome: Result<(u16, Option<String>), String>,
}

/// A few client threads requesting `hosts` round-robin, each request on a new connection.
struct Load {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    fn start(addr: SocketAddr, hosts: Vec<String>, clients: usize) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..clients)
            .map(|c| {
                let (stop, samples, hosts) = (stop.clone(), samples.clone(), hosts.clone());
                std::thread::spawn(move || {
                    let mut i = c;
                    while !stop.load(Ordering::Relaxed) {
                        let host = &hosts[i % hosts.len()];
                        i += 1;
                        let start = Instant::now();
                        let outcome = try_get(addr, host, "/", Duration::from_secs(10))
                            .map(|r| (r.status, r.header("retry-after").map(str::to_owned)))
                            .map_err(|e| e.to_string());
                        samples.lock().unwrap().push(Sample {
                            host: host.clone(),
                            start,
                            took: start.elapsed(),
                            outcome,
                        });
                        std::thread::sleep(Duration::from_millis(20));
                    }
                })
            })
            .collect();
        Load {
            stop,
            samples,
            threads,
        }
    }

    fn finish(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().unwrap();
        }
        Arc::try_unwrap(self.samples).unwrap().into_inner().unwrap()
    }
}

/// The assertions every fault scenario shares, over the whole run: every request got an
/// answer within the budget; known hosts always 200; the unknown host 404 (map up) or 503
/// with `Retry-After` (map down), nothing else. Returns the samples started in `outage`.
fn check_load(samples: &[Sample], outage: (Instant, Instant)) -> Vec<&Sample> {
    assert!(samples.len() > 50, "only {} requests", samples.len());
    for s in samples {
        let (status, retry) = s
            .outcome
            .as_ref()
            .unwrap_or_else(|e| panic!("request for {} failed: {e}", s.host));
        assert!(
            s.took < REQUEST_BUDGET,
            "request for {} took {:?}",
            s.host,
            s.took
        );
        if s.host == UNKNOWN {
            assert!(
                *status == 404 || (*status == 503 && retry.is_some()),
                "unknown host got {status} (Retry-After {retry:?})"
            );
        } else {
            assert_eq!(*status, 200, "known host {} during the fault", s.host);
        }
    }
    // The publisher keeps Redis's answers in process while Redis keeps answering its pings
    // (server-assisted client-side caching): an answer confirmed up to this long before the
    // fault may still be used, exactly as if the request had come that much earlier.
    let trusted = vitrine::map::redis::CACHE_TRUST + vitrine::map::redis::HEARTBEAT;
    let during: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.start > outage.0 + trusted && s.start + s.took < outage.1)
        .collect();
    let unknown: Vec<_> = during.iter().filter(|s| s.host == UNKNOWN).collect();
    let known = during.len() - unknown.len();
    assert!(
        known >= 10 && unknown.len() >= 3,
        "{known} known and {} unknown requests during the outage",
        unknown.len()
    );
    for s in &unknown {
        assert_eq!(
            s.outcome.as_ref().unwrap().0,
            503,
            "unknown host during the outage: the answer is unknown, not negative"
        );
    }
    during
}

/// A Redis-backed server whose last known answers include three sample sites.
struct Setup {
    fixture: Fixture,
    redis: Redis,
    server: Server,
    known: Vec<String>,
    /// A known host, and the name of another site it gets remapped to.
    remap: (String, String, String),
}

fn setup(redis_url: Option<String>, redis: Redis) -> Setup {
    let fixture = Fixture::new();
    for (rel, domains, _) in sample_sites(&fixture.sites()) {
        for d in domains {
            redis.set(&d, &rel);
        }
    }
    let mut config = ServerConfig::new(&fixture);
    config.redis = Some(redis_url.unwrap_or_else(|| redis.url()));
    config.map_deadline_ms = DEADLINE_MS;
    let server = Server::start(config);
    let known: Vec<String> = ["boulangerie-martin", "studio-lumiere", "kine-rousseau"]
        .iter()
        .map(|id| main_domain(&fixture, id).0)
        .collect();
    // The server learns answers from lookups: visit each known host once.
    for host in &known {
        assert_eq!(server.get(host, "/").status, 200, "{host}");
    }
    assert_eq!(server.get(UNKNOWN, "/").status, 404);
    let (_, other_rel, _) = main_domain(&fixture, "plomberie-leroy");
    let xml = std::fs::read_to_string(fixture.sites().join(&other_rel)).unwrap();
    let other_name = between(&xml, "<name>", "</name>").to_owned();
    let remap = (known[0].clone(), other_rel, other_name);
    Setup {
        fixture,
        redis,
        server,
        known,
        remap,
    }
}

impl Setup {
    fn hosts(&self) -> Vec<String> {
        let mut h = self.known.clone();
        h.push(UNKNOWN.to_owned());
        h
    }

    /// Remaps the first known host (in Redis directly) and returns how long it took the
    /// server to show the other site.
    fn remap_and_wait(&self, limit: Duration) -> Duration {
        let (host, rel, name) = &self.remap;
        self.redis.set(host, rel);
        let start = Instant::now();
        loop {
            let resp = self.server.get(host, "/");
            if resp.status == 200 && resp.text().contains(name.as_str()) {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "the remap of {host} is not visible after {limit:?} (last status {})",
                resp.status
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn redis_killed_and_restarted_under_load() {
    let s = setup(None, Redis::start());
    // Persist the map, as a production Redis does, so the restart brings it back.
    assert!(s.redis.command(&["SAVE"]).unwrap().starts_with("+OK"));
    let load = Load::start(s.server.addr, s.hosts(), 3);
    std::thread::sleep(Duration::from_millis(300));

    let mut s = s;
    let killed = Instant::now();
    s.redis.kill();
    std::thread::sleep(Duration::from_secs(2));
    let restarting = Instant::now();
    s.redis.restart();
    // The server may still be between reconnection attempts: the remap, made right now,
    // must be live within a second anyway.
    let took = s.remap_and_wait(Duration::from_secs(1));
    let back_at = Instant::now();
    // Fresh answers again: the unknown host is a plain 404, not a 503.
    wait_for(
        || s.server.get(UNKNOWN, "/").status == 404,
        "a fresh negative answer",
    );
    std::thread::sleep(Duration::from_millis(300));
    let samples = load.finish();

    check_load(&samples, (killed, restarting));
    let after_back = samples
        .iter()
        .filter(|x| x.start > back_at + Duration::from_millis(100) && x.host == UNKNOWN)
        .count();
    assert!(after_back >= 1, "requests continued after the restart");
    assert_eq!(s.server.get("anything", "/healthz").status, 200);
    eprintln!(
        "remap visible {took:?} after the restart; {} requests",
        samples.len()
    );
}

/// Whether the server's map has found Redis down (outage mode: lookups are not sent).
fn known_down(server: &Server) -> bool {
    match &*server.state.pages.map {
        vitrine::map::DomainMap::Redis { map, .. } => map.known_down(),
        vitrine::map::DomainMap::Memory(_) => false,
    }
}

#[test]
fn redis_paused_then_resumed_under_load() {
    let s = setup(None, Redis::start());
    let load = Load::start(s.server.addr, s.hosts(), 3);
    std::thread::sleep(Duration::from_millis(300));

    let paused = Instant::now();
    s.redis.pause();
    wait_for(|| known_down(&s.server), "the outage to be detected");
    let detected = Instant::now();
    std::thread::sleep(Duration::from_secs(3));
    let resuming = Instant::now();
    s.redis.resume();
    let took = s.remap_and_wait(Duration::from_secs(1));
    wait_for(
        || s.server.get(UNKNOWN, "/").status == 404,
        "a fresh negative answer",
    );
    std::thread::sleep(Duration::from_millis(300));
    let samples = load.finish();

    check_load(&samples, (paused, resuming));
    // Once the outage is known, no request waits for Redis: known hosts get their last
    // known answer and unknown ones 503 without a lookup being sent. (A request is still
    // allowed its render; what it may not do is pay the lookup deadline.)
    let after: Vec<&Sample> = samples
        .iter()
        .filter(|x| x.start > detected && x.start + x.took < resuming)
        .collect();
    assert!(
        after.len() >= 20,
        "{} requests after detection",
        after.len()
    );
    let slowest = after.iter().map(|x| x.took).max().unwrap();
    assert!(
        slowest < Duration::from_millis(DEADLINE_MS),
        "a request waited {slowest:?} on a Redis known to be down"
    );
    assert!(
        detected - paused < Duration::from_millis(DEADLINE_MS) * 2 + HEARTBEAT_SLACK,
        "the outage took {:?} to be detected",
        detected - paused
    );
    // Connections replaced during the pause are closed, not leaked: once the queued
    // connects are accepted and see their end, only a handful remain.
    wait_for(
        || {
            let info = s.redis.command(&["INFO", "clients"]).unwrap();
            let n: usize = between(&info, "connected_clients:", "\r\n")
                .parse()
                .unwrap();
            n <= 3
        },
        "replaced connections to be closed",
    );
    eprintln!("remap visible {took:?} after SIGCONT; slowest request during the pause {slowest:?}");
}

#[test]
fn a_connection_black_holed_for_good_is_replaced() {
    let redis = Redis::start();
    let proxy = BlackHoleProxy::start(redis.port);
    let s = setup(Some(proxy.url()), redis);
    let load = Load::start(s.server.addr, s.hosts(), 3);
    std::thread::sleep(Duration::from_millis(300));

    let cut = Instant::now();
    proxy.black_hole();
    std::thread::sleep(Duration::from_secs(2));
    let restoring = Instant::now();
    let before = proxy.connections();
    proxy.restore();
    // The connection in use is frozen for good: redis-rs never reconnects after a
    // timeout, so only the server's replacement of the connection brings Redis back.
    let took = s.remap_and_wait(Duration::from_secs(3));
    let samples = load.finish();

    check_load(&samples, (cut, restoring));
    assert!(
        proxy.connections() > before,
        "a new connection was opened after the cut"
    );
    eprintln!("remap visible {took:?} after the network came back");
    drop(s.fixture);
}

/// Slow connections of the slowloris test: 800 dripping a head, 200 silent.
const SLOW_CONNECTIONS: usize = 1000;
const DRIPPERS: usize = 800;
const SILENT: usize = SLOW_CONNECTIONS - DRIPPERS;

/// What one slow connection saw.
struct Slow {
    connected: Instant,
    /// When the server closed it (EOF or reset), if it did within the test.
    closed: Option<Instant>,
}

/// Opens a connection, sends `drip` one byte every `every`, and waits for the server to
/// close it (at most `limit`).
async fn slow_client(
    addr: SocketAddr,
    drip: &'static [u8],
    every: Duration,
    limit: Duration,
) -> Slow {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = loop {
        match tokio::net::TcpStream::connect(addr).await {
            Ok(s) => break s,
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    };
    let connected = Instant::now();
    let (mut r, mut w) = stream.into_split();
    let mut sent = 0;
    let mut tick = tokio::time::interval(every);
    let mut buf = [0u8; 1024];
    let give_up = tokio::time::sleep(limit);
    tokio::pin!(give_up);
    loop {
        tokio::select! {
            n = r.read(&mut buf) => match n {
                Ok(0) | Err(_) => return Slow { connected, closed: Some(Instant::now()) },
                Ok(_) => {} // an error response before the close
            },
            _ = tick.tick(), if sent < drip.len() => {
                if w.write_all(&drip[sent..sent + 1]).await.is_err() {
                    return Slow { connected, closed: Some(Instant::now()) };
                }
                sent += 1;
            }
            () = &mut give_up => return Slow { connected, closed: None },
        }
    }
}

#[test]
fn slowloris_neither_slows_normal_clients_nor_keeps_its_connections() {
    const HEADER_TIMEOUT: u64 = 3;
    let _alone = exclusive();
    let limit = raise_fd_limit(8192);
    assert!(
        limit >= 2 * SLOW_CONNECTIONS as u64 + 200,
        "open-file limit {limit} too low for this test"
    );
    let fixture = Fixture::new();
    let mut config = ServerConfig::new(&fixture);
    config.header_timeout = HEADER_TIMEOUT;
    // The default connection cap must leave room for the attack and the normal client.
    assert!(config.max_connections > SLOW_CONNECTIONS + 10);
    let server = Server::start(config);
    let addr = server.addr;
    let host = main_domain(&fixture, "boulangerie-martin").0;
    assert_eq!(server.get(&host, "/").status, 200);
    // The normal client fetches one of the site's photos, each time on a new connection:
    // Host, map lookup, confined open, 10 KB of body, the whole path slowloris could slow
    // down. Pages are not used: their render (measured by the render benchmark) alone has a
    // p99 above 10 ms on a debug build on a busy 2-core machine, with or without the attack,
    // so the bound would measure the machine.
    let photo = format!(
        "/media/{}",
        std::fs::read_dir(fixture.sites().join("3c/boulangerie-martin/media"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .find(|n| n.ends_with(".jpg"))
            .unwrap()
    );
    assert_eq!(server.get(&host, &photo).status, 200);
    // Up to three rounds of attack; the latency bound must hold in one of them. A server
    // that slowloris starves fails every round; a machine shared with other jobs sometimes
    // has a p99 of several ms for a few seconds even without any attack, so the bound is
    // 10 ms or three times the baseline measured just before in the same round, whichever
    // is larger.
    let mut rounds = Vec::new();
    for _ in 0..3 {
        let (baseline, hist) = slowloris_round(addr, &host, &photo, HEADER_TIMEOUT);
        let p99 = Duration::from_micros(hist.value_at_quantile(0.99));
        eprintln!(
            "normal requests: {}; under slowloris: {}",
            summary(&baseline),
            summary(&hist)
        );
        rounds.push(format!(
            "without the attack {}, under it {}",
            summary(&baseline),
            summary(&hist)
        ));
        // The bound is relative to the round's own baseline where the machine itself is slow:
        // a starved server answers in seconds (the header timeout), far above either bound.
        let baseline_p99 = Duration::from_micros(baseline.value_at_quantile(0.99));
        if p99 < Duration::from_millis(10).max(3 * baseline_p99) {
            return;
        }
    }
    panic!(
        "p99 of normal requests under slowloris above both 10 ms and three times the \
         baseline p99 in every round:\n{}",
        rounds.join("\n")
    );
}

/// One round of attack: 800 connections dripping a never-ending head and 200 silent ones
/// while the normal client measures; checks that every slow connection is closed by the
/// header timeout and the server releases its sockets. Returns the normal client's
/// latencies without and under the attack.
fn slowloris_round(
    addr: SocketAddr,
    host: &str,
    photo: &str,
    header_timeout: u64,
) -> (hdrhistogram::Histogram<u64>, hdrhistogram::Histogram<u64>) {
    let baseline = measure(addr, host, photo, Duration::from_secs(1));
    let fds_before = open_fds();
    let attack = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // A head that never ends: one byte every 200 ms for much longer than the test.
    static DRIP: &[u8] = b"GET / HTTP/1.1\r\nHost: boulangerie-martin.fr\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let watch = Duration::from_secs(header_timeout + 4);
    let slow: Vec<_> = (0..DRIPPERS + SILENT)
        .map(|i| {
            let drip: &'static [u8] = if i < DRIPPERS { DRIP } else { b"" };
            attack.spawn(slow_client(addr, drip, Duration::from_millis(200), watch))
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));

    // Four seconds: the attack's ramp-up, its steady state, and the moment the server cuts
    // a thousand connections at once.
    let hist = measure(addr, host, photo, Duration::from_secs(4));
    let slow: Vec<Slow> = slow
        .into_iter()
        .map(|h| attack.block_on(h).unwrap())
        .collect();
    drop(attack);
    assert!(hist.len() >= 100, "{} normal requests", hist.len());

    // Every slow connection, dripping or silent, was closed by the header timeout.
    let timeout = Duration::from_secs(header_timeout);
    for (i, s) in slow.iter().enumerate() {
        let kind = if i < DRIPPERS { "dripping" } else { "silent" };
        let closed = s
            .closed
            .unwrap_or_else(|| panic!("a {kind} connection was still open after {watch:?}"));
        let lived = closed - s.connected;
        assert!(
            lived >= timeout - Duration::from_millis(300)
                && lived < timeout + Duration::from_secs(2),
            "a {kind} connection lived {lived:?} (header timeout {timeout:?})"
        );
    }
    // And the server let go of their sockets.
    wait_for(
        || open_fds() <= fds_before + 20,
        "the server to close the slow sockets",
    );
    (baseline, hist)
}

/// Sequential GETs of `path`, each on a new connection, for `during`: latency histogram
/// in microseconds. Every answer must be 200.
fn measure(
    addr: SocketAddr,
    host: &str,
    path: &str,
    during: Duration,
) -> hdrhistogram::Histogram<u64> {
    let mut hist = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    let start = Instant::now();
    while start.elapsed() < during {
        let t = Instant::now();
        let resp = try_get(addr, host, path, Duration::from_secs(5)).expect("normal request");
        hist.record(t.elapsed().as_micros() as u64).unwrap();
        assert_eq!(resp.status, 200, "{path}");
        std::thread::sleep(Duration::from_millis(5));
    }
    hist
}

fn summary(h: &hdrhistogram::Histogram<u64>) -> String {
    let q = |q: f64| Duration::from_micros(h.value_at_quantile(q));
    format!(
        "n={} p50={:?} p99={:?} max={:?}",
        h.len(),
        q(0.5),
        q(0.99),
        Duration::from_micros(h.max())
    )
}

/// How one request of the SIGTERM test ended.
#[derive(Debug)]
enum Ending {
    /// A whole response: status, and whether the body had the announced length.
    Complete(u16, bool),
    /// The connection was refused (the listener is closed).
    Refused,
    /// Connected, then no complete response (reset, early close).
    Broken(String),
}

/// One request on a new connection; `connected` is when connect() returned, if it did.
fn one_request(addr: SocketAddr, host: &str, path: &str) -> (Option<Instant>, Ending) {
    let mut s = match std::net::TcpStream::connect(addr) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
            return (None, Ending::Refused)
        }
        Err(e) => return (None, Ending::Broken(format!("connect: {e}"))),
    };
    let connected = Instant::now();
    let ending = (|| {
        use std::io::{Read, Write};
        s.set_read_timeout(Some(Duration::from_secs(15)))?;
        s.write_all(
            format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )?;
        let mut buf = Vec::new();
        s.read_to_end(&mut buf)?;
        Ok::<_, std::io::Error>(buf)
    })();
    let ending = match ending.map(|buf| HttpResponse::try_parse(&buf)) {
        Ok(Some(r)) => {
            let whole = r
                .header("content-length")
                .is_none_or(|n| n.parse::<usize>() == Ok(r.body.len()));
            Ending::Complete(r.status, whole)
        }
        Ok(None) => Ending::Broken("no HTTP response".into()),
        Err(e) => Ending::Broken(e.to_string()),
    };
    (Some(connected), ending)
}

#[test]
fn sigterm_under_load_finishes_every_accepted_request_and_exits_0() {
    const GRACE: u64 = 5;
    let _alone = exclusive();
    let fixture = Fixture::new();
    let (domain, rel, _) = main_domain(&fixture, "boulangerie-martin");
    let hosts = ["boulangerie-martin", "studio-lumiere", "plomberie-leroy"]
        .map(|id| main_domain(&fixture, id).0);
    // A download long enough to be in flight when the signal comes: 24 MiB read at about
    // 8 MiB/s, well beyond what the socket buffers hold.
    let media = fixture.sites().join(&rel).parent().unwrap().join("media");
    let big = vec![0x5a_u8; 24 << 20];
    std::fs::write(media.join("film.mp4"), &big).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = fixture.dir.path().join("serve.log");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--sites"])
        .arg(fixture.sites())
        .arg("--stylesheets")
        .arg(fixture.stylesheets())
        .args(["--shutdown-grace", &GRACE.to_string(), "--no-watch"])
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for(
        || {
            matches!(
                one_request(addr, "x", "/healthz").1,
                Ending::Complete(200, true)
            )
        },
        "the server to start",
    );

    // Six clients in a loop (pages and a photo), until their connections are refused.
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..6)
        .map(|c| {
            let stop = stop.clone();
            let host = hosts[c % hosts.len()].clone();
            std::thread::spawn(move || {
                let mut seen = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let path = if i % 3 == 2 { "/robots.txt" } else { "/" };
                    i += 1;
                    let (connected, ending) = one_request(addr, &host, path);
                    let refused = matches!(ending, Ending::Refused);
                    seen.push((Instant::now(), connected, ending));
                    if refused {
                        break;
                    }
                }
                seen
            })
        })
        .collect();
    let download = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(
            format!("GET /media/film.mp4 HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("download broken after {} bytes: {e}", got.len()),
            }
            std::thread::sleep(Duration::from_millis(8));
        }
        got
    });

    std::thread::sleep(Duration::from_millis(1000));
    let signalled = Instant::now();
    // SAFETY: sending a signal to our own child process, which has not been reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < Duration::from_secs(GRACE + 3),
            "still running {:?} after SIGTERM",
            signalled.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let exited = signalled.elapsed();
    stop.store(true, Ordering::Relaxed);
    let log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(status.success(), "exit status {status}; log:\n{log}");
    assert!(
        exited < Duration::from_secs(GRACE),
        "exited {exited:?} after SIGTERM, beyond the {GRACE} s drain deadline"
    );

    let got = download.join().unwrap();
    let head_end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(got.starts_with(b"HTTP/1.1 200"));
    assert_eq!(
        got.len() - head_end,
        big.len(),
        "the download in flight at SIGTERM was cut"
    );

    let (mut before, mut after_ok, mut refused, mut after_broken) = (0, 0, 0, 0);
    for c in clients {
        let seen = c.join().unwrap();
        assert!(
            matches!(seen.last(), Some((_, _, Ending::Refused))),
            "a client was never refused: {:?}",
            seen.last()
        );
        for (ended, connected, ending) in seen {
            match (connected, ending) {
                // Accepted before the signal: must be answered in full.
                (Some(at), ending) if at < signalled => {
                    assert!(
                        matches!(ending, Ending::Complete(200, true)),
                        "a request connected {:?} before SIGTERM ended {ending:?}; log:\n{log}",
                        signalled - at
                    );
                    before += 1;
                }
                (Some(_), Ending::Complete(200, true)) => after_ok += 1,
                (Some(_), Ending::Broken(why)) => {
                    after_broken += 1;
                    eprintln!("connected after SIGTERM, then: {why}");
                }
                (Some(_), ending) => panic!("after SIGTERM: {ending:?}"),
                (None, Ending::Refused) => {
                    assert!(ended > signalled, "refused before SIGTERM");
                    refused += 1;
                }
                (None, ending) => panic!("could not connect: {ending:?}"),
            }
        }
    }
    eprintln!(
        "SIGTERM: exited 0 after {exited:?}; {before} requests connected before it all \
         answered, after it {after_ok} answered, {after_broken} reset while the listener \
         closed, {refused} refused; 24 MiB download in flight completed"
    );
    assert!(before > 20, "only {before} requests before SIGTERM");
}

/// A map key of another Redis type is one broken entry, not an outage: its host gets 503 at
/// once, the other hosts keep being resolved by Redis (a remap is live), and no outage starts.
#[test]
fn a_map_entry_of_the_wrong_type_breaks_its_host_only() {
    let fixture = Fixture::new();
    let (redis, server) = redis_server(&fixture);
    let (good, _, _) = main_domain(&fixture, "boulangerie-martin");
    let (other, other_rel, _) = main_domain(&fixture, "plomberie-leroy");
    let key = format!("{}broken.example", vitrine::map::redis::KEY_PREFIX);
    assert!(redis
        .command(&["RPUSH", &key, "x"])
        .unwrap()
        .starts_with(':'));
    for _ in 0..20 {
        let resp = server.get("broken.example", "/");
        assert_eq!(resp.status, 503);
        assert_eq!(server.get(&good, "/").status, 200);
    }
    let vitrine::map::DomainMap::Redis { last_known, .. } = &*server.state.pages.map else {
        panic!("a Redis map");
    };
    assert!(!last_known.in_outage(), "one bad entry is not an outage");
    // Redis is still the one answering: a remap is live as soon as its invalidation
    // message reaches the server's cache.
    redis.set(&good, &other_rel);
    let other_page = server.get(&other, "/").text();
    wait_for(
        || server.get(&good, "/").text() == other_page,
        "the remap to be live",
    );
}

/// Redis's count of `GET` commands executed so far.
fn redis_gets(redis: &Redis) -> u64 {
    let stats = redis.command(&["INFO", "commandstats"]).unwrap();
    stats
        .split("cmdstat_get:calls=")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .map_or(0, |n| n.parse().unwrap())
}

/// A burst of lookups of a few hosts (5,120 HTTP/2 streams' worth, all at once) costs one
/// round trip per host, never reaches the bound on waiting lookups, and starts no outage.
#[test]
fn concurrent_lookups_of_a_host_share_one_round_trip() {
    use vitrine::map::{DomainMap, MapOptions};
    use vitrine::site::Host;
    let fixture = Fixture::new();
    let redis = redis_with_sample_map(&fixture);
    let hosts: Vec<Host> = ["boulangerie-martin", "studio-lumiere", "kine-rousseau"]
        .iter()
        .map(|id| Host::parse(main_domain(&fixture, id).0.as_bytes()).unwrap())
        .collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let options = MapOptions {
            cache: None,
            probe: true,
            ..MapOptions::once(Duration::from_millis(DEADLINE_MS))
        };
        let (map, _) = DomainMap::open(Some(&redis.url()), &fixture.sites(), options)
            .await
            .unwrap();
        let before = redis_gets(&redis);
        let burst = 5 * vitrine::map::redis::MAX_IN_FLIGHT;
        let lookups = (0..burst).map(|i| map.resolve(&hosts[i % hosts.len()]));
        let answers = futures_util::future::join_all(lookups).await;
        let sent = redis_gets(&redis) - before;
        for (i, answer) in answers.iter().enumerate() {
            assert!(
                matches!(answer, Ok(Some(_))),
                "lookup {i} of {}: {answer:?}",
                hosts[i % hosts.len()]
            );
        }
        assert_eq!(
            sent,
            hosts.len() as u64,
            "{burst} concurrent lookups of {} hosts sent {sent} GETs",
            hosts.len()
        );
        let DomainMap::Redis { last_known, .. } = &map else {
            panic!("a Redis map")
        };
        assert!(!last_known.in_outage(), "a burst is not an outage");
    });
}
