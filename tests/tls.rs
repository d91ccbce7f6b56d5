//! HTTPS with certificates from a real ACME server (pebble, HTTP-01 really validated
//! against the publisher's plain listener) and a real Redis as the shared store.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::support::*;

/// A publisher with HTTPS and ACME, its Redis and its ACME server.
struct Https {
    fixture: Fixture,
    redis: Redis,
    pebble: Pebble,
    server: Server,
    root: PathBuf,
    key_file: PathBuf,
}

impl Https {
    fn port(&self) -> u16 {
        self.server.https.expect("an HTTPS listener").port()
    }
}

/// The sealing key: 32 random bytes, readable by the owner only.
fn key_file(fixture: &Fixture) -> PathBuf {
    let path = fixture.dir.path().join("seal.key");
    let key: Vec<u8> = (0..32).map(|i| (i * 37 + 11) as u8).collect();
    std::fs::write(&path, key).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// The arguments that give a server HTTPS and ACME against `pebble`.
fn https_args(pebble: &Pebble, key: &std::path::Path, acme: bool, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--listen-https".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--cert-key-file".to_owned(),
        key.display().to_string(),
    ];
    if acme {
        args.extend([
            "--acme-directory".to_owned(),
            pebble.directory(),
            "--acme-directory-ca".to_owned(),
            pebble.directory_ca().display().to_string(),
        ]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn start(extra: &[&str]) -> Https {
    let fixture = Fixture::new();
    let redis = redis_with_sample_map(&fixture);
    let plain = free_port();
    let pebble = Pebble::start(plain);
    let key = key_file(&fixture);
    let mut config = ServerConfig::new(&fixture);
    config.redis = Some(redis.url());
    config.listen = Some(format!("127.0.0.1:{plain}"));
    config.extra = https_args(&pebble, &key, true, extra);
    let server = Server::start(config);
    let root = pebble.issuing_root();
    Https {
        fixture,
        redis,
        pebble,
        server,
        root,
        key_file: key,
    }
}

/// Retries a TLS request until it succeeds or `limit` passes.
fn https_get_within(
    h: &Https,
    host: &str,
    path: &str,
    extra: &[&str],
    limit: Duration,
) -> (u16, Vec<u8>, String) {
    let end = Instant::now() + limit;
    loop {
        match curl_https(&h.root, host, h.port(), path, extra) {
            Ok(ok) => return ok,
            Err(e) => {
                assert!(
                    Instant::now() < end,
                    "no HTTPS answer for {host} within {limit:?}: {e}\npebble log:\n{}",
                    h.pebble.log()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// The first handshake for a mapped host orders its certificate (on demand) and waits for
/// it; HTTPS then serves the very bytes plain HTTP served, over HTTP/1.1 and HTTP/2; plain
/// HTTP now sends the host to HTTPS; a name that is not in the map gets no certificate and
/// no order.
#[test]
fn a_first_handshake_orders_the_certificate_and_https_serves_the_same_page() {
    let h = start(&[]);
    let (host, _, _) = main_domain(&h.fixture, "boulangerie-martin");
    let plain = h.server.get(&host, "/");
    assert_eq!(plain.status, 200);

    let (status, body, version) =
        https_get_within(&h, &host, "/", &["--http1.1"], Duration::from_secs(30));
    assert_eq!(status, 200);
    assert_eq!(body, plain.body, "HTTPS serves the bytes plain HTTP served");
    assert_eq!(version, "1.1");
    let (status, body, version) = curl_https(&h.root, &host, h.port(), "/", &["--http2"]).unwrap();
    assert_eq!((status, version.as_str()), (200, "2"), "HTTP/2 by ALPN");
    assert_eq!(body, plain.body);

    let redirect = h.server.get(&host, "/tarifs?x=1");
    assert_eq!(
        redirect.status, 308,
        "plain HTTP goes to HTTPS once there is a certificate"
    );
    assert_eq!(
        redirect.header("location"),
        Some(format!("https://{host}:{}/tarifs?x=1", h.port()).as_str())
    );
    // Another site, without a certificate yet, is still served over plain HTTP.
    let (other, _, _) = main_domain(&h.fixture, "studio-lumiere");
    assert_eq!(h.server.get(&other, "/").status, 200);

    let orders = h.pebble.orders();
    assert!(orders >= 1, "pebble saw no order:\n{}", h.pebble.log());
    let refused = curl_https(&h.root, "nobody-here.example", h.port(), "/", &[]);
    assert!(
        refused.is_err(),
        "an unmapped name got a TLS session: {refused:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        h.pebble.orders(),
        orders,
        "no order for a name nobody mapped"
    );
    assert!(
        !redis_keys(&h.redis, "vitrine:*")
            .iter()
            .any(|k| k.contains("nobody-here")),
        "nothing stored or queued for it"
    );
}

/// A domain the exporter adds is ordered from the queue before anyone visits it: its
/// certificate is in the store with no handshake made, and the first handshake needs no
/// wait (on-demand ordering is off here).
#[test]
fn a_domain_added_by_the_exporter_gets_its_certificate_before_any_visit() {
    let h = start(&["--acme-on-demand-wait", "0"]);
    let mut record = sample_record("plomberie-leroy");
    record["domains"] = serde_json::json!(["plombier-neuf.example"]);
    let file = h.fixture.dir.path().join("records.jsonl");
    write_jsonl(&file, &[record]);
    let url = h.redis.url();
    let run = vitrine(&[
        "export",
        "--from",
        file.to_str().unwrap(),
        "--sites",
        h.fixture.sites().to_str().unwrap(),
        "--stylesheets",
        h.fixture.stylesheets().to_str().unwrap(),
        "--redis",
        &url,
    ]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    wait_for(
        || {
            h.redis
                .command(&["EXISTS", "vitrine:cert:plombier-neuf.example"])
                .unwrap()
                .starts_with(":1")
        },
        "the certificate of the exported domain to be stored",
    );
    let (status, _, _) = curl_https(&h.root, "plombier-neuf.example", h.port(), "/", &[])
        .unwrap_or_else(|e| panic!("first handshake: {e}"));
    assert_eq!(status, 200);
}

/// Private keys are sealed in Redis: neither the PEM nor the key's bytes appear in a dump of
/// the whole database.
#[test]
fn private_keys_do_not_appear_in_a_dump_of_the_store() {
    let h = start(&[]);
    let (host, _, _) = main_domain(&h.fixture, "boulangerie-martin");
    https_get_within(&h, &host, "/", &[], Duration::from_secs(30));
    let raw = h
        .redis
        .command(&["GET", &format!("vitrine:cert:{host}")])
        .unwrap();
    let json = raw.split_once("\r\n").unwrap().1.trim_end();
    let entry = vitrine::tls::entry::CertEntry::parse(&host, json).unwrap();
    let sealer = vitrine::tls::Sealer::from_file(&h.key_file).unwrap();
    let key_pem = sealer
        .open(&format!("vitrine:cert:{host}"), &entry.key_sealed)
        .unwrap();
    let key_pem = String::from_utf8(key_pem).unwrap();
    let key_body: String = key_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let dump = h.fixture.dir.path().join("dump.rdb");
    let url = h.redis.url();
    let port = url.rsplit(':').next().unwrap().trim_end_matches('/');
    let out = std::process::Command::new("redis-cli")
        .args(["-p", port])
        .arg("--rdb")
        .arg(&dump)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&dump).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains(&host),
        "the dump holds the store ({} bytes)",
        bytes.len()
    );
    assert!(
        !text.contains("PRIVATE KEY"),
        "a clear private key in the dump"
    );
    assert!(
        !text.contains(&key_body[..40]),
        "the private key's bytes are in the dump"
    );
}

/// While Redis is paused, a host whose certificate is in process keeps its handshakes.
#[test]
fn handshakes_survive_a_paused_redis_for_certificates_in_process() {
    let h = start(&[]);
    let (host, _, _) = main_domain(&h.fixture, "boulangerie-martin");
    https_get_within(&h, &host, "/", &[], Duration::from_secs(30));
    h.redis.pause();
    let during = curl_https(&h.root, &host, h.port(), "/", &[]);
    h.redis.resume();
    let (status, _, _) = during.unwrap_or_else(|e| panic!("handshake with Redis paused: {e}"));
    assert_eq!(status, 200);
}
