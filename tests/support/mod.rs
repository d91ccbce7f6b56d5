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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real redis-server, killed on drop.
pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Redis {
    pub fn start() -> Redis {
        let dir = tempfile::tempdir().unwrap();
        for _attempt in 0..5 {
            let port = free_port();
            let child = Command::new("redis-server")
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
                .arg(dir.path())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("redis-server not found: run the README test command, which installs it");
            let mut child = child;
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if redis_command(port, &["PING"]).is_ok_and(|r| r.contains("PONG")) {
                    return Redis {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken meanwhile: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("redis-server did not start");
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
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The publisher running in-process on its own runtime, stopped on drop.
pub struct Server {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
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
        }
    }
}

impl Server {
    pub fn start(config: ServerConfig) -> Server {
        use clap::Parser;
        let mut argv = vec![
            "vitrine".to_owned(),
            "serve".to_owned(),
            "--listen".to_owned(),
            "127.0.0.1:0".to_owned(),
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
        ];
        if let Some(url) = &config.redis {
            argv.push("--redis".to_owned());
            argv.push(url.clone());
        }
        if !config.watch {
            argv.push("--no-watch".to_owned());
        }
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
                    .send(Ok(prepared.server.local_addr().unwrap()))
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
        let addr = addr_rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap()
            .unwrap_or_else(|e| panic!("server did not start: {e}"));
        Server {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
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
        s.write_all(bytes).unwrap();
        let mut buf = Vec::new();
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
    fn parse(buf: &[u8]) -> HttpResponse {
        let split = buf
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP response: {:?}", String::from_utf8_lossy(buf)));
        let head = String::from_utf8_lossy(&buf[..split]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .unwrap()
            .split(' ')
            .nth(1)
            .unwrap()
            .parse()
            .unwrap();
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
        HttpResponse {
            status,
            headers,
            body,
        }
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
