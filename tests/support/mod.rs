//! Test harness: a real `redis-server` on a free loopback port in its own temp dir, the
//! publisher started in-process on port 0, a raw HTTP/1.1 client (raw, so tests can send
//! malformed requests), and fixture copies of the sample sites and stylesheets.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub mod pebble;
pub use pebble::*;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Copies a directory tree.
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let dest = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).unwrap();
        }
    }
}

/// The text between the first `start` and the next `end` of `text`.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> &'a str {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} not found"))
        + start.len();
    let len = text[from..]
        .find(end)
        .unwrap_or_else(|| panic!("{end:?} not found"));
    &text[from..from + len]
}

/// A private copy of the sample sites and stylesheets.
pub struct Fixture {
    pub dir: tempfile::TempDir,
}

impl Fixture {
    pub fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        copy_tree(&repo().join("sample-sites"), &dir.path().join("sites"));
        copy_tree(&repo().join("stylesheets"), &dir.path().join("stylesheets"));
        Fixture { dir }
    }
    pub fn sites(&self) -> PathBuf {
        self.dir.path().join("sites")
    }
    pub fn stylesheets(&self) -> PathBuf {
        self.dir.path().join("stylesheets")
    }

    /// The site file (relative to the sites folder) and main domain of the sample site `id`.
    pub fn site(&self, id: &str) -> (String, String) {
        let rel = vitrine::site::list_site_files(&self.sites())
            .unwrap()
            .into_iter()
            .find(|rel| rel.contains(&format!("/{id}/")))
            .unwrap_or_else(|| panic!("sample site {id} missing"));
        let bytes = std::fs::read(self.sites().join(&rel)).unwrap();
        let doc = vitrine::render::xslt::parse_document(&bytes, &rel).unwrap();
        let domain = vitrine::render::Outline::of(&doc)
            .main_domain()
            .unwrap()
            .to_owned();
        (rel, domain)
    }

    /// Writes the theme `stylesheets/NAME.xsl` and points the sample site `id` at it (its
    /// `xml-stylesheet` processing instruction); returns the site's main domain.
    pub fn use_theme(&self, id: &str, name: &str, xsl: &str) -> String {
        std::fs::write(self.stylesheets().join(format!("{name}.xsl")), xsl).unwrap();
        let (rel, domain) = self.site(id);
        let path = self.sites().join(rel);
        let xml = std::fs::read_to_string(&path).unwrap();
        let start = xml.find("<?xml-stylesheet").unwrap();
        let end = start + xml[start..].find("?>").unwrap() + 2;
        let xml = format!(
            "{}<?xml-stylesheet type=\"text/xsl\" href=\"{name}.xsl\"?>{}",
            &xml[..start],
            &xml[end..]
        );
        std::fs::write(&path, xml).unwrap();
        domain
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real redis-server, killed on drop. Fault helpers: [`Redis::kill`], [`Redis::restart`]
/// (same port, same directory, so a `SAVE`d map comes back), [`Redis::pause`] and
/// [`Redis::resume`] (SIGSTOP/SIGCONT: the socket stays open, nothing answers).
pub struct Redis {
    child: Child,
    pub port: u16,
    dir: tempfile::TempDir,
}

fn spawn_redis(port: u16, dir: &Path) -> Child {
    Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args([
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "yes",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server not found: run the README test command, which installs it")
}

/// Waits until redis-server answers PING; false if it exited or did not answer in 5 s.
fn wait_for_redis(child: &mut Child, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if redis_command(port, &["PING"]).is_ok_and(|r| r.contains("PONG")) {
            return true;
        }
        if let Ok(Some(_)) = child.try_wait() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl Redis {
    pub fn start() -> Redis {
        let dir = tempfile::tempdir().unwrap();
        for _attempt in 0..5 {
            let port = free_port();
            let mut child = spawn_redis(port, dir.path());
            if wait_for_redis(&mut child, port) {
                return Redis { child, port, dir };
            }
            // Port taken meanwhile: try another.
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid, which has not been reaped (we only wait()
        // in kill() and drop, after which no signal is sent until restart() spawns anew).
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0, "kill({sig}) on redis-server");
    }

    /// SIGKILL, as a crash: connections are reset, nothing is saved.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts redis-server again on the same port and directory (after [`Redis::kill`]).
    pub fn restart(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut child = spawn_redis(self.port, self.dir.path());
            if wait_for_redis(&mut child, self.port) {
                self.child = child;
                return;
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGSTOP: the server keeps its sockets and answers nothing (a hung or paused Redis).
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT after [`Redis::pause`].
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Sends one command in RESP and returns the raw reply.
    pub fn command(&self, args: &[&str]) -> std::io::Result<String> {
        redis_command(self.port, args)
    }

    pub fn set(&self, host: &str, path: &str) {
        let key = format!("vitrine:domain:{host}");
        assert!(self
            .command(&["SET", &key, path])
            .unwrap()
            .starts_with("+OK"));
    }
}

/// Sends one command in RESP and returns the raw reply.
pub fn redis_command(port: u16, args: &[&str]) -> std::io::Result<String> {
    {
        let mut s = TcpStream::connect(("127.0.0.1", port))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        let mut req = format!("*{}\r\n", args.len());
        for a in args {
            req.push_str(&format!("${}\r\n{}\r\n", a.len(), a));
        }
        s.write_all(req.as_bytes())?;
        let mut buf = [0u8; 4096];
        let n = s.read(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // SIGKILL also ends a stopped process.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every sample site of a sites folder: (site file, declared domains, page ids).
pub fn sample_sites(sites: &Path) -> Vec<(String, Vec<String>, Vec<String>)> {
    vitrine::site::list_site_files(sites)
        .unwrap()
        .into_iter()
        .map(|rel| {
            let bytes = std::fs::read(sites.join(&rel)).unwrap();
            let doc = vitrine::render::xslt::parse_document(&bytes, &rel).unwrap();
            let outline = vitrine::render::Outline::of(&doc);
            (rel, outline.domains, outline.pages)
        })
        .collect()
}

/// A real Redis holding the map of every domain the fixture's sites declare.
pub fn redis_with_sample_map(fixture: &Fixture) -> Redis {
    let redis = Redis::start();
    for (rel, domains, _) in sample_sites(&fixture.sites()) {
        for d in domains {
            redis.set(&d, &rel);
        }
    }
    redis
}

/// A server backed by a real Redis holding the sample sites' map.
pub fn redis_server(fixture: &Fixture) -> (Redis, Server) {
    let redis = redis_with_sample_map(fixture);
    let mut config = ServerConfig::new(fixture);
    config.redis = Some(redis.url());
    (redis, Server::start(config))
}

/// (main domain, site file, page ids) of the sample site `id`.
pub fn main_domain(fixture: &Fixture, id: &str) -> (String, String, Vec<String>) {
    let (rel, domains, pages) = sample_sites(&fixture.sites())
        .into_iter()
        .find(|(rel, _, _)| rel.contains(&format!("/{id}/")))
        .unwrap_or_else(|| panic!("sample site {id} missing"));
    (domains[0].clone(), rel, pages)
}

/// Polls `cond` every 20 ms until it holds; panics after 10 s.
pub fn wait_for(mut cond: impl FnMut() -> bool, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}

/// Runs the `vitrine` binary with `args` (paths included) and returns its raw output.
pub fn vitrine_output(args: &[&std::ffi::OsStr]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(args)
        .env_remove("VITRINE_REDIS")
        .env_remove("VITRINE_SITES")
        .env_remove("VITRINE_STYLESHEETS")
        .env("VITRINE_LOG", "warn")
        .output()
        .expect("the vitrine binary runs")
}

/// The publisher running in-process on its own runtime, stopped on drop.
pub struct Server {
    pub addr: SocketAddr,
    /// The HTTPS listener, with `--listen-https`.
    pub https: Option<SocketAddr>,
    /// The server's shared state (themes, map, pool), for tests that watch reloads.
    pub state: std::sync::Arc<vitrine::server::AppState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _shared: Option<Shared>,
}

/// Timing-sensitive tests run alone: every in-process [`Server`] (and any test server that
/// calls [`shared`]) holds a shared hold on this gate while it runs, and [`exclusive`] waits until none runs and keeps new ones from
/// starting (except on its own thread) until it is dropped.
struct Gate {
    state: std::sync::Mutex<(usize, bool)>,
    changed: std::sync::Condvar,
}

static GATE: Gate = Gate {
    state: std::sync::Mutex::new((0, false)),
    changed: std::sync::Condvar::new(),
};

thread_local! {
    static EXCLUSIVE_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

fn gate_state() -> std::sync::MutexGuard<'static, (usize, bool)> {
    GATE.state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A shared hold on the gate of [`exclusive`]; see [`shared`].
pub struct Shared;

/// For test servers other than [`Server`]: holds the gate of [`exclusive`] shared until
/// dropped (`None` on the thread that holds it exclusively).
pub fn shared() -> Option<Shared> {
    Shared::take()
}

impl Shared {
    fn take() -> Option<Shared> {
        if EXCLUSIVE_HERE.with(|e| e.get()) {
            return None;
        }
        let mut st = gate_state();
        while st.1 {
            st = GATE.changed.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.0 += 1;
        Some(Shared)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        gate_state().0 -= 1;
        GATE.changed.notify_all();
    }
}

/// Held by a test that must not share the machine with other servers (see [`exclusive`]).
pub struct Exclusive(());

/// Waits until no other in-process server runs, and keeps new ones from starting until the
/// returned guard is dropped. Servers started on the calling thread are not held back.
pub fn exclusive() -> Exclusive {
    let mut st = gate_state();
    while st.1 {
        st = GATE.changed.wait(st).unwrap_or_else(|e| e.into_inner());
    }
    st.1 = true;
    while st.0 > 0 {
        st = GATE.changed.wait(st).unwrap_or_else(|e| e.into_inner());
    }
    EXCLUSIVE_HERE.with(|e| e.set(true));
    Exclusive(())
}

impl Drop for Exclusive {
    fn drop(&mut self) {
        EXCLUSIVE_HERE.with(|e| e.set(false));
        gate_state().1 = false;
        GATE.changed.notify_all();
    }
}

/// Raises this process's open-file limit to at least `want` (up to the hard limit) and
/// returns the soft limit now in force.
pub fn raise_fd_limit(want: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct we own.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur < want {
        lim.rlim_cur = want.min(lim.rlim_max);
        // SAFETY: setrlimit reads the rlimit we pass; a soft limit up to the hard one is
        // always allowed.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
    lim.rlim_cur
}

/// File descriptors open in this process now.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

pub struct ServerConfig {
    pub sites: PathBuf,
    pub stylesheets: PathBuf,
    pub redis: Option<String>,
    pub watch: bool,
    pub render_threads: usize,
    pub render_queue: usize,
    pub header_timeout: u64,
    pub shutdown_grace: u64,
    pub map_deadline_ms: u64,
    pub stale_for: u64,
    pub max_connections: usize,
    pub media_hardlinks: bool,
    /// The plain listener's address (default 127.0.0.1:0).
    pub listen: Option<String>,
    /// More `vitrine serve` arguments.
    pub extra: Vec<String>,
}

impl ServerConfig {
    pub fn new(fixture: &Fixture) -> ServerConfig {
        ServerConfig {
            sites: fixture.sites(),
            stylesheets: fixture.stylesheets(),
            redis: None,
            watch: false,
            render_threads: 2,
            render_queue: 64,
            header_timeout: 10,
            shutdown_grace: 5,
            map_deadline_ms: 250,
            stale_for: 3600,
            max_connections: 10_000,
            media_hardlinks: false,
            listen: None,
            extra: Vec::new(),
        }
    }
}

impl Server {
    pub fn start(config: ServerConfig) -> Server {
        use clap::Parser;
        let shared = Shared::take();
        let mut argv = vec![
            "vitrine".to_owned(),
            "serve".to_owned(),
            "--listen".to_owned(),
            config
                .listen
                .clone()
                .unwrap_or_else(|| "127.0.0.1:0".to_owned()),
            "--sites".to_owned(),
            config.sites.display().to_string(),
            "--stylesheets".to_owned(),
            config.stylesheets.display().to_string(),
            "--render-threads".to_owned(),
            config.render_threads.to_string(),
            "--render-queue".to_owned(),
            config.render_queue.to_string(),
            "--header-timeout".to_owned(),
            config.header_timeout.to_string(),
            "--shutdown-grace".to_owned(),
            config.shutdown_grace.to_string(),
            "--map-deadline-ms".to_owned(),
            config.map_deadline_ms.to_string(),
            "--stale-for".to_owned(),
            config.stale_for.to_string(),
            "--max-connections".to_owned(),
            config.max_connections.to_string(),
        ];
        if let Some(url) = &config.redis {
            argv.push("--redis".to_owned());
            argv.push(url.clone());
        }
        if !config.watch {
            argv.push("--no-watch".to_owned());
        }
        if config.media_hardlinks {
            argv.push("--media-hardlinks".to_owned());
        }
        argv.extend(config.extra.iter().cloned());
        let cli = vitrine::cli::Cli::try_parse_from(&argv).unwrap();
        let vitrine::cli::Command::Serve(args) = cli.command else {
            unreachable!()
        };
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        vitrine::render::xslt::init();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let prepared = match vitrine::cmd::serve::prepare(&args).await {
                    Ok(p) => p,
                    Err(e) => {
                        addr_tx.send(Err(format!("{e:#}"))).unwrap();
                        return;
                    }
                };
                addr_tx
                    .send(Ok((
                        prepared.server.local_addr().unwrap(),
                        prepared.server.tls_addr(),
                        prepared.state.clone(),
                    )))
                    .unwrap();
                let _watcher = prepared.watcher;
                prepared
                    .server
                    .run(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        let (addr, https, state) = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap()
            .unwrap_or_else(|e| panic!("server did not start: {e}"));
        Server {
            addr,
            https,
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
            _shared: shared,
        }
    }

    /// GET with a Host header.
    pub fn get(&self, host: &str, path: &str) -> HttpResponse {
        self.request("GET", host, path, &[])
    }

    pub fn request(
        &self,
        method: &str,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> HttpResponse {
        let mut raw = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
        for (k, v) in headers {
            raw.push_str(&format!("{k}: {v}\r\n"));
        }
        raw.push_str("\r\n");
        self.raw(raw.as_bytes())
    }

    /// Sends raw bytes and reads the whole response (the request must ask to close).
    pub fn raw(&self, bytes: &[u8]) -> HttpResponse {
        let mut s = TcpStream::connect(self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        // A server may answer (431, 413...) and close before it has read the whole request:
        // the rest of the write then fails with EPIPE or ECONNRESET, and the answer already
        // sent is still in this socket's receive queue, to be read like any other.
        if let Err(e) = s.write_all(bytes) {
            assert!(
                matches!(
                    e.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ),
                "writing the request: {e}"
            );
        }
        let mut buf = Vec::new();
        // read_to_end keeps what it read before an error (a reset after the answer).
        let _ = s.read_to_end(&mut buf);
        HttpResponse::parse(&buf)
    }

    /// Stops the server (as on SIGTERM) and waits for it.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// Whether this is the 301 an alias of a redirecting site answers, to `location`.
    pub fn is_moved_to(&self, location: &str) -> bool {
        self.status == 301 && self.header("location") == Some(location)
    }

    fn parse(buf: &[u8]) -> HttpResponse {
        HttpResponse::try_parse(buf)
            .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(buf)))
    }

    /// Parses a whole response; `None` if `buf` does not start with a status line and headers.
    pub fn try_parse(buf: &[u8]) -> Option<HttpResponse> {
        let split = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&buf[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let mut headers = HashMap::new();
        for line in lines {
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let mut body = buf[split + 4..].to_vec();
        if headers
            .get("transfer-encoding")
            .is_some_and(|v| v == "chunked")
        {
            body = dechunk(&body);
        }
        Some(HttpResponse {
            status,
            headers,
            body,
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = body.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&body[eol + 2..eol + 2 + size]);
        body = &body[eol + 2 + size + 2..];
    }
}

/// One GET on a fresh connection that never panics: for load loops, where a failure is a
/// result to count. `timeout` bounds connect, write and every read.
pub fn try_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
    timeout: Duration,
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    HttpResponse::try_parse(&buf).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{} bytes, not an HTTP response", buf.len()),
        )
    })
}

/// A TCP proxy in front of a server that can black-hole traffic the way a network partition
/// or a vanished peer does: [`BlackHoleProxy::black_hole`] freezes every connection open now
/// *for good* (bytes are swallowed, nothing is answered, nothing is closed), and connections
/// accepted until [`BlackHoleProxy::restore`] are frozen too. Only connections opened after
/// `restore` reach the server. A client that keeps using an old connection never recovers.
pub struct BlackHoleProxy {
    pub port: u16,
    state: std::sync::Arc<ProxyState>,
    accept: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct ProxyState {
    epoch: std::sync::atomic::AtomicU64,
    holed: std::sync::atomic::AtomicBool,
    stop: std::sync::atomic::AtomicBool,
    connections: std::sync::atomic::AtomicUsize,
}

/// Epoch of a connection accepted while black-holed: never the current one.
const FROZEN: u64 = u64::MAX;

impl BlackHoleProxy {
    /// Proxies a free loopback port to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> BlackHoleProxy {
        use std::sync::atomic::Ordering::SeqCst;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = std::sync::Arc::new(ProxyState::default());
        let st = state.clone();
        let accept = std::thread::spawn(move || {
            while !st.stop.load(SeqCst) {
                let client = match listener.accept() {
                    Ok((c, _)) => c,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    Err(_) => continue,
                };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                st.connections.fetch_add(1, SeqCst);
                let epoch = if st.holed.load(SeqCst) {
                    FROZEN
                } else {
                    st.epoch.load(SeqCst)
                };
                client.set_nonblocking(false).unwrap();
                for (from, to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    let st = st.clone();
                    std::thread::spawn(move || pump(from, to, epoch, &st));
                }
            }
        });
        BlackHoleProxy {
            port,
            state,
            accept: Some(accept),
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Freezes every connection open now, for good, and the ones accepted until `restore`.
    pub fn black_hole(&self) {
        use std::sync::atomic::Ordering::SeqCst;
        self.state.holed.store(true, SeqCst);
        self.state.epoch.fetch_add(1, SeqCst);
    }

    /// New connections reach the server again; frozen ones stay frozen.
    pub fn restore(&self) {
        self.state
            .holed
            .store(false, std::sync::atomic::Ordering::SeqCst);
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }
}

fn pump(mut from: TcpStream, mut to: TcpStream, epoch: u64, st: &ProxyState) {
    use std::sync::atomic::Ordering::SeqCst;
    from.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 16 * 1024];
    while !st.stop.load(SeqCst) {
        match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let alive = epoch == st.epoch.load(SeqCst) && !st.holed.load(SeqCst);
                if alive && to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
    // Frozen connections are never closed while the proxy runs: that is the point.
    let _ = to.shutdown(std::net::Shutdown::Both);
}

impl Drop for BlackHoleProxy {
    fn drop(&mut self) {
        self.state
            .stop
            .store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

// ---------------------------------------------------------------------------------------
// Exporter helpers
// ---------------------------------------------------------------------------------------

impl Fixture {
    /// The stylesheets and an empty sites folder (for exporter tests).
    pub fn empty_sites() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sites")).unwrap();
        copy_tree(&repo().join("stylesheets"), &dir.path().join("stylesheets"));
        Fixture { dir }
    }
}

/// The `vitrine` binary Cargo built for this test run.
pub fn vitrine_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vitrine"))
}

/// Lowers the calling test thread to the lowest CPU priority (nice 19). On Linux the nice
/// value is per thread and inherited by the threads and processes it starts, so a CPU-heavy
/// test that calls this first (its in-process server, its redis-server, the binaries it runs)
/// yields to the timing-sensitive tests running beside it in this binary.
///
/// With `--test-threads=1` tests run one after the other on the main thread, which nothing
/// runs beside and which later tests reuse: it is left alone.
pub fn low_priority() {
    if std::thread::current().name() == Some("main") {
        return;
    }
    // SAFETY: setpriority has no memory-safety preconditions; `who` 0 is the calling thread.
    let rc = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, 19) };
    assert_eq!(rc, 0, "setpriority: {}", std::io::Error::last_os_error());
}

/// A command running the `vitrine` binary at the lowest CPU priority (`nice -n 19`, which
/// execs it, so the pid is the binary's): exporter runs are CPU-heavy and must not starve the
/// timing-sensitive tests that run beside them in this binary.
pub fn vitrine_command() -> Command {
    let mut cmd = Command::new("nice");
    cmd.args(["-n", "19"]).arg(vitrine_bin());
    cmd.env_remove("VITRINE_REDIS")
        .env_remove("VITRINE_SITES")
        .env_remove("VITRINE_STYLESHEETS")
        .env_remove("VITRINE_ARCHIVE");
    cmd
}

/// The back-office records of the sample sites (`sample-sites/records.jsonl`).
pub fn sample_records() -> Vec<serde_json::Value> {
    std::fs::read_to_string(repo().join("sample-sites/records.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One sample record by site id.
pub fn sample_record(id: &str) -> serde_json::Value {
    sample_records()
        .into_iter()
        .find(|r| r["id"] == id)
        .unwrap_or_else(|| panic!("no sample record {id}"))
}

/// Writes records as JSON Lines.
pub fn write_jsonl(path: &Path, records: &[serde_json::Value]) {
    let mut text = String::new();
    for r in records {
        text.push_str(&serde_json::to_string(r).unwrap());
        text.push('\n');
    }
    std::fs::write(path, text).unwrap();
}

/// The output of one `vitrine` run.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// The `--json` summary printed on stdout.
    pub fn summary(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("no JSON summary ({e}): {}\n{}", self.stdout, self.stderr))
    }
}

/// Runs the `vitrine` binary with `args` and waits for it.
pub fn vitrine(args: &[&str]) -> Run {
    let out = vitrine_command().args(args).output().unwrap();
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Every key of a Redis, with its string value (`None` for non-string keys).
pub fn redis_keys(redis: &Redis, pattern: &str) -> Vec<String> {
    let mut s = TcpStream::connect(("127.0.0.1", redis.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let req = format!("*2\r\n$4\r\nKEYS\r\n${}\r\n{}\r\n", pattern.len(), pattern);
    s.write_all(req.as_bytes()).unwrap();
    let mut reader = std::io::BufReader::new(s);
    let mut line = String::new();
    std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
    let n: usize = line.trim_start_matches('*').trim().parse().unwrap();
    let mut keys = Vec::with_capacity(n);
    for _ in 0..n {
        line.clear();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        line.clear();
        std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        keys.push(line.trim_end().to_owned());
    }
    keys.sort();
    keys
}

impl Redis {
    /// GET of one key; `None` when absent.
    pub fn get(&self, key: &str) -> Option<String> {
        let reply = self.command(&["GET", key]).unwrap();
        if reply.starts_with("$-1") {
            None
        } else {
            Some(reply.split_once("\r\n")?.1.trim_end().to_owned())
        }
    }
}

// ---------------------------------------------------------------------------------------
// A small file system, to run out of space
// ---------------------------------------------------------------------------------------

/// A tmpfs of a fixed size mounted on a folder, unmounted on drop: a disk that fills up in
/// a test. Mounting needs root (or CAP_SYS_ADMIN), as on the CI machines; without it
/// [`Tmpfs::mount`] panics saying so, so that the test fails instead of passing untested.
pub struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `bytes` bytes on `dir` (an existing, empty folder).
    pub fn mount(dir: &Path, bytes: u64) -> Tmpfs {
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={bytes},mode=0755"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .unwrap_or_else(|e| panic!("cannot run mount: {e}"));
        assert!(
            out.status.success(),
            "mounting a {bytes}-byte tmpfs on {} failed: {}\nthis test needs root or \
             CAP_SYS_ADMIN (a container run with --privileged or --cap-add SYS_ADMIN) to put \
             the sites folder on a small file system and fill it",
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        Tmpfs {
            dir: dir.to_owned(),
        }
    }

    /// Bytes a non-root writer could still write (statvfs `f_bavail`).
    pub fn free(&self) -> u64 {
        use std::os::unix::ffi::OsStrExt;
        let path = std::ffi::CString::new(self.dir.as_os_str().as_bytes()).unwrap();
        let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
        // SAFETY: `path` is a NUL-terminated string and `st` is valid for one statvfs write.
        let rc = unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) };
        assert_eq!(rc, 0, "statvfs: {}", std::io::Error::last_os_error());
        // SAFETY: statvfs returned 0, so it filled `st`.
        let st = unsafe { st.assume_init() };
        // Both fields are u64 on 64-bit Linux but narrower on some 32-bit targets.
        #[allow(clippy::useless_conversion)]
        let free = u64::from(st.f_bavail) * u64::from(st.f_frsize);
        free
    }

    /// Writes `name` until the file system refuses (ENOSPC), then gives `leave` bytes back:
    /// the disk is full but for a few pages, so that the next big write fails part-way.
    /// Returns the filler's path.
    pub fn fill(&self, name: &str, leave: u64) -> PathBuf {
        let path = self.dir.join(name);
        let mut f = std::fs::File::create(&path).unwrap();
        let chunk = vec![0u8; 64 << 10];
        loop {
            match f.write(&chunk) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                Err(e) => panic!("filling {}: {e}", path.display()),
            }
        }
        let len = f.metadata().unwrap().len();
        f.set_len(len.saturating_sub(leave)).unwrap();
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // A lazy unmount if something still holds it, so the temp dir can go either way.
        let busy = !Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if busy {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Runs a measurement whose figures a neighbour on the shared machine can spoil (a burst of
/// CPU elsewhere delays one sleep by tens of milliseconds): up to `attempts` runs, passing on
/// the first whose figures all hold, failing with every run's reason otherwise. Correctness
/// (counts, order, content) is asserted inside the run and fails at once.
pub async fn measured<F, Fut>(attempts: usize, mut run: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let mut missed = Vec::new();
    for n in 1..=attempts {
        match run().await {
            Ok(()) => {
                if !missed.is_empty() {
                    eprintln!("passed on run {n}; earlier runs missed: {missed:?}");
                }
                return;
            }
            Err(why) => missed.push(why),
        }
    }
    panic!("every one of {attempts} runs missed its figures: {missed:#?}");
}

/// Inside a [`measured`] run: a figure that does not hold ends the run with its reason.
macro_rules! figure {
    ($cond:expr, $($why:tt)+) => {
        let holds: bool = $cond;
        if !holds {
            return Err(format!($($why)+));
        }
    };
}
