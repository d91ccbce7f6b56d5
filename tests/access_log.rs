//! The access log (`--access-log`): rotation by rename and SIGUSR1, nothing lost on
//! SIGTERM, a log the server wrote replayed against a second server, and the JSON format.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use serde_json::Value;
use vitrine::replay::access_log::{parse_line, LogFormat};

use crate::support::*;

/// The lines of a log file (none if it does not exist yet).
fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Waits until `path` has `n` lines (flushed within a second), and returns them.
fn wait_lines(path: &Path, n: usize) -> Vec<String> {
    wait_for(
        || lines(path).len() >= n,
        &format!("{n} lines in {}", path.display()),
    );
    lines(path)
}

/// `vitrine serve --access-log LOG` in a process of its own, so it can be signalled.
struct Served {
    child: Child,
    addr: SocketAddr,
    stderr: PathBuf,
}

impl Served {
    fn start(fixture: &Fixture, log: &Path) -> Served {
        let port = free_port();
        let stderr = fixture.dir.path().join("serve.stderr");
        let child = Command::new(vitrine_bin())
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--sites"])
            .arg(fixture.sites())
            .arg("--stylesheets")
            .arg(fixture.stylesheets())
            .args(["--render-threads", "2", "--no-watch", "--access-log"])
            .arg(log)
            .env_remove("VITRINE_REDIS")
            .env_remove("VITRINE_ACCESS_LOG")
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let served = Served {
            child,
            addr,
            stderr,
        };
        wait_for(
            || {
                try_get(addr, "x", "/healthz", Duration::from_secs(2))
                    .is_ok_and(|r| r.status == 200)
            },
            "the server to start",
        );
        served
    }

    fn get(&self, host: &str, path: &str) -> u16 {
        try_get(self.addr, host, path, Duration::from_secs(10))
            .unwrap()
            .status
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child, not reaped yet (only `stop` and drop wait).
        let rc = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(rc, 0);
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sigusr1_reopens_a_renamed_log_and_sigterm_loses_no_line() {
    let fixture = Fixture::new();
    let (domain, _, pages) = main_domain(&fixture, "boulangerie-martin");
    let log = fixture.dir.path().join("access.log");
    let rotated = fixture.dir.path().join("access.log.1");
    let mut served = Served::start(&fixture, &log);

    assert_eq!(served.get(&domain, "/"), 200);
    assert_eq!(served.get(&domain, "/no-such-page"), 404);
    // The start-up probe was a `/healthz` line of its own.
    let before = wait_lines(&log, 3);

    // What logrotate does: rename, then signal.
    std::fs::rename(&log, &rotated).unwrap();
    served.signal(libc::SIGUSR1);
    wait_for(|| log.exists(), "the log to be opened again");
    assert_eq!(served.get(&domain, &format!("/{}", pages[1]),), 200);
    let after = wait_lines(&log, 1);
    assert_eq!(
        lines(&rotated),
        before,
        "nothing more went to the rotated file"
    );
    assert!(
        after[0].contains(&format!("\"GET /{} HTTP/1.1\" 200 ", pages[1])),
        "{after:?}"
    );
    assert!(served.stderr().contains("reopened"), "{}", served.stderr());

    // Requests answered just before SIGTERM are written on the way out, flush or not.
    for _ in 0..5 {
        assert_eq!(served.get(&domain, "/"), 200);
    }
    served.signal(libc::SIGTERM);
    let status = served.child.wait().unwrap();
    assert!(status.success(), "the server exited with {status}");
    let after = lines(&log);
    assert_eq!(after.len(), 6, "{after:?}");
    for line in &after {
        let l = parse_line(line, LogFormat::VhostCombined).unwrap();
        assert_eq!(l.host, Some(domain.as_str()));
        assert_eq!(l.client, "127.0.0.0", "masked by default");
    }
}

/// (host, method, target, status) of every line, counted.
fn requests_of(log: &[String]) -> BTreeMap<(String, String, String, u16), u64> {
    let mut out = BTreeMap::new();
    for line in log {
        let l =
            parse_line(line, LogFormat::VhostCombined).unwrap_or_else(|e| panic!("{e}: {line}"));
        let key = (
            l.host.unwrap_or("-").to_owned(),
            l.method.to_owned(),
            l.target.into_owned(),
            l.status,
        );
        *out.entry(key).or_default() += 1;
    }
    out
}

#[test]
fn a_log_the_server_wrote_replays_against_a_second_server_with_the_same_answers() {
    let fixture = Fixture::new();
    let first_log = fixture.dir.path().join("first.log");
    let second_log = fixture.dir.path().join("second.log");
    let start = |log: &Path| {
        let mut config = ServerConfig::new(&fixture);
        config.extra = vec!["--access-log".into(), log.display().to_string()];
        Server::start(config)
    };

    let first = start(&first_log);
    let sites = sample_sites(&fixture.sites());
    assert_eq!(sites.len(), 14);
    let mut expected = 0;
    for (_, domains, pages) in &sites {
        let host = &domains[0];
        assert_eq!(first.get(host, "/").status, 200);
        assert_eq!(
            first
                .get(host, &format!("/{}", pages[pages.len() - 1]))
                .status,
            200
        );
        assert_eq!(first.get(host, "/robots.txt").status, 200);
        expected += 3;
    }
    let (domain, _, _) = main_domain(&fixture, "salon-coiffure-lea");
    assert_eq!(first.get(&domain, "/no-such-page").status, 404);
    assert_eq!(first.get(&domain, "/media/salon.jpg").status, 200);
    assert_eq!(first.request("HEAD", &domain, "/", &[]).status, 200);
    assert_eq!(first.get("unknown-host.example", "/").status, 404);
    // An upper-case Host with a port is logged as the server normalised it.
    assert_eq!(
        first
            .get(&format!("{}:8080", domain.to_uppercase()), "/")
            .status,
        200
    );
    expected += 5;
    first.stop();
    let logged = lines(&first_log);
    assert_eq!(
        logged.len(),
        expected,
        "every request logged once, written at stop"
    );
    let want = requests_of(&logged);
    assert_eq!(want[&(domain.clone(), "GET".into(), "/".into(), 200)], 2);
    assert_eq!(want[&(domain.clone(), "HEAD".into(), "/".into(), 200)], 1);
    assert_eq!(
        want[&("unknown-host.example".into(), "GET".into(), "/".into(), 404)],
        1
    );

    let second = start(&second_log);
    let out = vitrine_output(&[
        "replay".as_ref(),
        first_log.as_os_str(),
        "--target".as_ref(),
        format!("http://{}", second.addr).as_ref(),
        "--json".as_ref(),
        "--concurrency".as_ref(),
        "4".as_ref(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    second.stop();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["input"]["files"][0]["format"], "vhost_combined");
    assert_eq!(report["input"]["bad_lines"], 0);
    assert_eq!(report["requests"], expected as u64);
    assert_eq!(report["errors"]["connect"], 0);
    let mut statuses: BTreeMap<String, u64> = BTreeMap::new();
    for (&(_, _, _, status), n) in &want {
        *statuses.entry(status.to_string()).or_default() += n;
    }
    let replayed: BTreeMap<String, u64> = serde_json::from_value(report["status"].clone()).unwrap();
    assert_eq!(replayed, statuses);
    // The second server saw the same requests, hosts and answers as the first.
    assert_eq!(requests_of(&lines(&second_log)), want);
}

#[test]
fn json_lines_tell_the_render_time_the_map_origin_and_the_coding() {
    let fixture = Fixture::new();
    let mut redis = redis_with_sample_map(&fixture);
    let log = fixture.dir.path().join("access.jsonl");
    let mut config = ServerConfig::new(&fixture);
    config.redis = Some(redis.url());
    config.extra = [
        "--access-log",
        log.to_str().unwrap(),
        "--access-log-format",
        "json",
        "--access-log-client-address",
        "keep",
        // Every lookup asks Redis, so that a dead Redis shows at once.
        "--map-cache-ttl",
        "0",
    ]
    .map(String::from)
    .to_vec();
    let server = Server::start(config);
    let port = server.addr.port();
    let (domain, _, _) = main_domain(&fixture, "boulangerie-martin");
    let page = server.request(
        "GET",
        &domain,
        "/",
        &[("Accept-Encoding", "br"), ("User-Agent", "tester \"1\"")],
    );
    assert_eq!(page.status, 200);
    assert_eq!(server.request("HEAD", &domain, "/", &[]).status, 200);
    redis.kill();
    assert_eq!(
        server.get(&domain, "/").status,
        200,
        "served from the last known answer"
    );
    assert_eq!(server.get("", "/").status, 400);
    server.stop();

    let lines: Vec<Value> = lines(&log)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    let first = &lines[0];
    assert_eq!(first["host"], domain.as_str());
    assert_eq!(first["client"], "127.0.0.1");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["target"], "/");
    assert_eq!(first["protocol"], "HTTP/1.1");
    assert_eq!(first["status"], 200);
    assert_eq!(first["bytes"], page.body.len() as u64);
    assert_eq!(first["user_agent"], "tester \"1\"");
    assert_eq!(first["referer"], Value::Null);
    assert_eq!(first["map"], "redis");
    assert_eq!(first["coding"], "br");
    let render = first["render_ms"].as_f64().unwrap();
    let total = first["duration_ms"].as_f64().unwrap();
    assert!(
        render > 0.0 && total >= render,
        "render {render} ms, total {total} ms"
    );
    assert!(first["time"].as_str().unwrap().ends_with('Z'));
    assert_eq!(first["port"], port);

    assert_eq!(
        (&lines[1]["method"], &lines[1]["bytes"]),
        (&"HEAD".into(), &0.into())
    );
    assert_eq!(lines[1]["coding"], Value::Null);
    assert_eq!(lines[2]["map"], "last_known");
    assert_eq!(
        (&lines[3]["status"], &lines[3]["host"], &lines[3]["map"]),
        (&400.into(), &Value::Null, &Value::Null),
        "a bad Host: no host, no lookup"
    );
    assert_eq!(lines[3]["render_ms"], Value::Null);
}
