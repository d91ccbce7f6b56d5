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
    let plain = free_port();
    start_validated_on(plain, plain, extra)
}

/// A publisher on the plain port `plain`, with pebble validating HTTP-01 challenges against
/// the plain port `validated` (another publisher's, to show any of them answers).
fn start_validated_on(plain: u16, validated: u16, extra: &[&str]) -> Https {
    let fixture = Fixture::new();
    let redis = redis_with_sample_map(&fixture);
    let pebble = Pebble::start(validated);
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

/// The record's HTTPS policy, through the exporter and the schema to the server: a site that
/// opts in to HSTS gets the header on HTTPS only, its alias is sent to the main domain over
/// HTTPS in one hop, and a site that did not opt in gets no HSTS.
#[test]
fn the_records_https_policy_sets_hsts_and_sends_aliases_to_the_main_domain() {
    let h = start(&[]);
    let mut record = sample_record("plomberie-leroy");
    record["domains"] = serde_json::json!(["plombier-hsts.example", "www.plombier-hsts.example"]);
    record["https"] = serde_json::json!({"hsts_max_age": 31_536_000});
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
    for host in ["plombier-hsts.example", "www.plombier-hsts.example"] {
        wait_for(
            || {
                h.redis
                    .command(&["EXISTS", &format!("vitrine:cert:{host}")])
                    .unwrap()
                    .starts_with(":1")
            },
            "the certificates of the exported domains to be stored",
        );
    }
    let headers = h.fixture.dir.path().join("headers");
    let header_args = ["-D", headers.to_str().unwrap()];
    let head = || {
        std::fs::read_to_string(&headers)
            .unwrap()
            .to_ascii_lowercase()
    };

    let (status, _, _) = curl_https(
        &h.root,
        "plombier-hsts.example",
        h.port(),
        "/",
        &header_args,
    )
    .unwrap_or_else(|e| panic!("main domain over HTTPS: {e}"));
    assert_eq!(status, 200);
    assert!(
        head().contains("strict-transport-security: max-age=31536000\r\n"),
        "{}",
        head()
    );

    let (status, _, _) = curl_https(
        &h.root,
        "www.plombier-hsts.example",
        h.port(),
        "/tarifs?x=1",
        &header_args,
    )
    .unwrap_or_else(|e| panic!("alias over HTTPS: {e}"));
    assert_eq!(status, 301, "{}", head());
    let location = format!(
        "location: https://plombier-hsts.example:{}/tarifs?x=1\r\n",
        h.port()
    );
    assert!(head().contains(&location), "{}", head());

    // Plain HTTP never carries HSTS (a browser would ignore it there anyway).
    let plain = h.server.get("plombier-hsts.example", "/");
    assert_eq!(plain.status, 308);
    assert_eq!(plain.header("strict-transport-security"), None);

    // A site that did not opt in: no HSTS over HTTPS either.
    let (other, _, _) = main_domain(&h.fixture, "boulangerie-martin");
    let (status, _, _) = https_get_within(&h, &other, "/", &header_args, Duration::from_secs(30));
    assert_eq!(status, 200);
    assert!(!head().contains("strict-transport-security"), "{}", head());
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

/// `vitrine serve` as a process of its own (its log is read by the tests), with HTTPS.
struct Publisher {
    child: std::process::Child,
    log: PathBuf,
    https_port: u16,
}

impl Publisher {
    fn start(h: &Https, plain: u16, acme: bool) -> Publisher {
        let log = h.fixture.dir.path().join(format!("publisher-{plain}.log"));
        let mut cmd = std::process::Command::new(vitrine_bin());
        cmd.args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{plain}"),
            "--sites",
        ])
        .arg(h.fixture.sites())
        .arg("--stylesheets")
        .arg(h.fixture.stylesheets())
        .args(["--redis", &h.redis.url(), "--no-watch"])
        .args(https_args(&h.pebble, &h.key_file, acme, &[]))
        .env_remove("VITRINE_REDIS")
        .stderr(std::fs::File::create(&log).unwrap());
        let child = cmd.spawn().unwrap();
        let mut https_port = 0;
        wait_for(
            || {
                let text = std::fs::read_to_string(&log).unwrap_or_default();
                https_port = text
                    .split("HTTPS on 127.0.0.1:")
                    .nth(1)
                    .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                https_port != 0
            },
            "the second publisher to listen",
        );
        Publisher {
            child,
            log,
            https_port,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two publishers share one Redis: the one with ACME orders, the CA's HTTP-01 request is
/// answered by the other (pebble validates against the second one's plain listener), and
/// both serve the certificate. A foreign entry (another host's certificate copied under a
/// name) and a corrupt one are refused with a log line naming the entry.
#[test]
fn two_publishers_share_orders_challenges_and_certificates() {
    let (plain_a, plain_b) = (free_port(), free_port());
    // The CA validates against B while A orders.
    let h = start_validated_on(plain_a, plain_b, &[]);
    let b = Publisher::start(&h, plain_b, false);

    let (host, _, _) = main_domain(&h.fixture, "boulangerie-martin");
    let (status, body_a, _) = https_get_within(&h, &host, "/", &[], Duration::from_secs(30));
    assert_eq!(status, 200);
    let (status, body_b, _) = curl_https(&h.root, &host, b.https_port, "/", &[])
        .unwrap_or_else(|e| panic!("the second publisher does not serve the certificate: {e}"));
    assert_eq!((status, &body_b), (200, &body_a));
    assert!(
        h.pebble.log().contains("acme-challenge") || h.pebble.orders() >= 1,
        "{}",
        h.pebble.log()
    );

    let entry = h
        .redis
        .command(&["GET", &format!("vitrine:cert:{host}")])
        .unwrap();
    let json = entry.split_once("\r\n").unwrap().1.trim_end().to_owned();
    let (foreign, _, _) = main_domain(&h.fixture, "studio-lumiere");
    h.redis
        .command(&["SET", &format!("vitrine:cert:{foreign}"), &json])
        .unwrap();
    let (corrupt, _, _) = main_domain(&h.fixture, "kine-rousseau");
    h.redis
        .command(&[
            "SET",
            &format!("vitrine:cert:{corrupt}"),
            "not a certificate",
        ])
        .unwrap();
    for name in [&foreign, &corrupt] {
        let r = curl_https(&h.root, name, b.https_port, "/", &[]);
        assert!(
            r.is_err(),
            "{name} got a TLS session from a bad entry: {r:?}"
        );
    }
    wait_for(
        || {
            let log = b.log();
            log.contains(&format!(
                "certificate store entry refused: certificate entry of {foreign}"
            )) && log.contains(&format!(
                "certificate store entry refused: certificate entry of {corrupt}"
            ))
        },
        "a log line for each refused entry",
    );
    let log = b.log();
    assert!(log.contains("not this host"), "{log}");
}

/// A certificate past its renewal time is ordered again and the new one is served on the
/// next handshake (the renewal threshold is set beyond pebble's validity, so the first
/// certificate is due at once).
#[test]
fn a_certificate_due_for_renewal_is_replaced_and_served() {
    let h = start(&["--acme-renew-before", "400000000"]);
    let (host, _, _) = main_domain(&h.fixture, "boulangerie-martin");
    https_get_within(&h, &host, "/", &[], Duration::from_secs(30));
    let stored = || {
        let raw = h
            .redis
            .command(&["GET", &format!("vitrine:cert:{host}")])
            .unwrap();
        let json = raw.split_once("\r\n").unwrap().1.trim_end().to_owned();
        vitrine::tls::entry::CertEntry::parse(&host, &json)
            .unwrap()
            .chain_pem
    };
    let first = stored();
    wait_for(|| stored() != first, "a renewed certificate in the store");
    let renewed = stored();
    let leaf = |chain: &str| {
        chain
            .split("-----END CERTIFICATE-----")
            .next()
            .unwrap()
            .trim()
            .to_owned()
    };
    // What the handshake presented, with curl's own report of the chain.
    let out = std::process::Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "--cacert"])
        .arg(&h.root)
        .arg("--resolve")
        .arg(format!("{host}:{}:127.0.0.1", h.port()))
        .args(["-w", "%{certs}"])
        .arg(format!("https://{host}:{}/", h.port()))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let presented = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        presented.contains("BEGIN CERTIFICATE"),
        "curl shows the chain: {presented}"
    );
    let now = stored();
    assert!(
        presented.contains(&leaf(&now)[28..200]) || presented.contains(&leaf(&renewed)[28..200]),
        "the handshake presents a renewed certificate, not the first one"
    );
    assert!(
        !presented.contains(&leaf(&first)[28..200]),
        "still the first certificate"
    );
}

/// `vitrine certs`: list and status show the certificate and its dates; revoke tells the CA
/// and empties the entry; renew queues a new order, which a publisher fulfils.
#[test]
fn the_certs_commands_list_revoke_and_renew() {
    let h = start(&["--acme-on-demand-wait", "0"]);
    let (host, _, _) = main_domain(&h.fixture, "boulangerie-martin");
    let url = h.redis.url();
    let run = vitrine(&["certs", "--redis", &url, "renew", &host]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("queued"), "{}", run.stdout);
    let cert_key = format!("vitrine:cert:{host}");
    let exists = || {
        h.redis
            .command(&["EXISTS", &cert_key])
            .unwrap()
            .starts_with(":1")
    };
    wait_for(exists, "the renewed (first) certificate");

    let list = vitrine(&["certs", "--redis", &url, "list"]);
    assert_eq!(list.code, Some(0), "{}", list.stderr);
    let line = list
        .stdout
        .lines()
        .find(|l| l.starts_with(&host))
        .unwrap_or_else(|| panic!("{host} not listed:\n{}", list.stdout));
    assert!(
        line.contains("valid until") && line.contains("renewal due"),
        "{line}"
    );
    let status = vitrine(&["certs", "--redis", &url, "status", &host]);
    assert!(
        status.stdout.contains("certificate: valid from"),
        "{}",
        status.stdout
    );
    assert!(
        status.stdout.contains("failed attempts in a row: 0"),
        "{}",
        status.stdout
    );

    // check --redis: the certified host passes, the other mapped hosts are reported.
    let sites = h.fixture.sites();
    let styles = h.fixture.stylesheets();
    let check = vitrine(&[
        "check",
        "--redis",
        &url,
        "--sites",
        sites.to_str().unwrap(),
        "--stylesheets",
        styles.to_str().unwrap(),
        "--json",
    ]);
    let report: serde_json::Value = serde_json::from_str(&check.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", check.stdout, check.stderr));
    let uncertified: Vec<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["kind"] == "no-certificate")
        .map(|p| p["host"].as_str().unwrap())
        .collect();
    let (other, _, _) = main_domain(&h.fixture, "studio-lumiere");
    assert!(uncertified.contains(&other.as_str()), "{uncertified:?}");
    assert!(!uncertified.contains(&host.as_str()), "{uncertified:?}");
    assert_eq!(check.code, Some(1), "problems make check exit 1");

    let dir = h.pebble.directory();
    let ca = h.pebble.directory_ca();
    let key = h.key_file.display().to_string();
    let revoke = vitrine(&[
        "certs",
        "--redis",
        &url,
        "--acme-directory",
        &dir,
        "--acme-directory-ca",
        ca.to_str().unwrap(),
        "--cert-key-file",
        &key,
        "revoke",
        &host,
    ]);
    assert_eq!(revoke.code, Some(0), "{}", revoke.stderr);
    assert!(!exists(), "the entry is gone after revoke");
    assert!(
        h.pebble.log().contains("revoke-cert"),
        "pebble saw no revocation:\n{}",
        h.pebble.log()
    );
    let refused = curl_https(&h.root, &host, h.port(), "/", &[]);
    assert!(
        refused.is_err(),
        "a revoked certificate is still served: {refused:?}"
    );
}

/// A certificate obtained elsewhere is imported (its key sealed) and served from the next
/// handshake, without ACME; one that does not name the host is refused at import.
#[test]
fn an_imported_certificate_is_served_without_acme() {
    let fixture = Fixture::new();
    let redis = redis_with_sample_map(&fixture);
    let key = key_file(&fixture);
    let mut config = ServerConfig::new(&fixture);
    config.redis = Some(redis.url());
    config.extra = vec![
        "--listen-https".into(),
        "127.0.0.1:0".into(),
        "--cert-key-file".into(),
        key.display().to_string(),
    ];
    let server = Server::start(config);
    let (host, _, _) = main_domain(&fixture, "boulangerie-martin");

    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::default();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "operator's own CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let dir = fixture.dir.path();
    let write = |name: &str, text: String| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let root = write("ca.pem", ca.pem());
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec![host.clone()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let chain = write("chain.pem", leaf.pem());
    let leaf_key_file = write("leaf.key", leaf_key.serialize_pem());
    let other = rcgen::CertificateParams::new(vec!["elsewhere.example".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let other_chain = write("other.pem", other.pem());

    let url = redis.url();
    let import = |chain: &std::path::Path| {
        vitrine(&[
            "certs",
            "--redis",
            &url,
            "--cert-key-file",
            key.to_str().unwrap(),
            "import",
            &host,
            "--chain",
            chain.to_str().unwrap(),
            "--key",
            leaf_key_file.to_str().unwrap(),
        ])
    };
    let wrong = import(&other_chain);
    assert_ne!(wrong.code, Some(0));
    assert!(wrong.stderr.contains("not this host"), "{}", wrong.stderr);
    let run = import(&chain);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    let port = server.https.unwrap().port();
    let (status, body, _) = curl_https(&root, &host, port, "/", &[]).unwrap();
    assert_eq!(status, 200);
    assert!(!body.is_empty());
}

/// Renewal follows the CA's renewal information (ARI, RFC 9773) where its directory offers
/// it: the renewal scheduled in the store lies inside the window the CA suggests for that
/// very certificate (asked here with the certificate's own identifier), and the next
/// question to the CA is scheduled. A CA without it (pebble 2.4, Debian 12) gets the
/// renewal two thirds into the validity and no question.
#[test]
fn renewal_is_scheduled_in_the_window_the_ca_suggests() {
    let h = start(&[]);
    let (host, _, _) = main_domain(&h.fixture, "boulangerie-martin");
    https_get_within(&h, &host, "/", &[], Duration::from_secs(30));
    let raw = h
        .redis
        .command(&["GET", &format!("vitrine:cert:{host}")])
        .unwrap();
    let json = raw.split_once("\r\n").unwrap().1.trim_end().to_owned();
    let entry = vitrine::tls::entry::CertEntry::parse(&host, &json).unwrap();
    let score = |key: &str| -> Option<u64> {
        let reply = h.redis.command(&["ZSCORE", key, &host]).unwrap();
        let value = reply.lines().nth(1)?;
        Some(value.trim().parse::<f64>().unwrap() as u64)
    };

    let directory = std::process::Command::new("curl")
        .args(["-sSf", "--cacert"])
        .arg(h.pebble.directory_ca())
        .arg(h.pebble.directory())
        .output()
        .unwrap();
    assert!(directory.status.success());
    let directory: serde_json::Value = serde_json::from_slice(&directory.stdout).unwrap();
    let offered = directory["renewalInfo"].as_str();
    let wait_ari = || {
        if offered.is_some() {
            wait_for(
                || score("vitrine:acme:ari").is_some(),
                "the next question to the CA",
            );
        }
    };
    wait_ari();
    let status = vitrine(&["certs", "--redis", &h.redis.url(), "status", &host]);
    assert_eq!(status.code, Some(0), "{}", status.stderr);
    let expected = match offered {
        Some(_) => "renewal information: in the window the CA suggests, asked again",
        None => "renewal information: not offered by the CA",
    };
    assert!(
        status.stdout.contains(expected),
        "certs status says where the renewal comes from:\n{}",
        status.stdout
    );
    match offered {
        Some(url) => {
            let renew = score("vitrine:acme:renew").expect("a scheduled renewal");
            let (start, end) = suggested_window(url, &h.pebble.directory_ca(), &entry.chain_pem);
            eprintln!("ARI window {start}..{end} s, renewal at {renew} ms");
            assert!(
                (start * 1000..=end * 1000).contains(&renew),
                "the renewal ({renew} ms) lies in the CA's window ({start}..{end} s)"
            );
            let ask = score("vitrine:acme:ari").unwrap();
            let now_ms = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64;
            assert!(
                ask > now_ms && ask <= now_ms + 24 * 3600 * 1000,
                "asked again within a day: {ask}"
            );
        }
        None => {
            eprintln!("this pebble offers no renewal information");
            let two_thirds =
                (entry.not_before + (entry.not_after - entry.not_before) * 2 / 3) as u64;
            assert_eq!(score("vitrine:acme:renew"), Some(two_thirds * 1000));
            assert_eq!(score("vitrine:acme:ari"), None, "no CA to ask");
        }
    }
}

/// The CA's suggested renewal window (seconds since the epoch) for the leaf of `chain_pem`,
/// asked with its identifier as RFC 9773 §4.1 builds it: base64url of the authority key
/// identifier, a dot, base64url of the serial number's DER bytes.
fn suggested_window(url: &str, ca: &std::path::Path, chain_pem: &str) -> (u64, u64) {
    use base64::Engine as _;
    use rustls::pki_types::pem::PemObject as _;
    let leaf = rustls::pki_types::CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .next()
        .unwrap()
        .unwrap();
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).unwrap();
    let aki = cert
        .extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            x509_parser::extensions::ParsedExtension::AuthorityKeyIdentifier(aki) => {
                aki.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
        .expect("an authority key identifier");
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let id = format!("{}.{}", b64.encode(aki), b64.encode(cert.raw_serial()));
    let out = std::process::Command::new("curl")
        .args(["-sSf", "--cacert"])
        .arg(ca)
        .arg(format!("{}/{id}", url.trim_end_matches('/')))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "GET renewal info: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let at = |t: &serde_json::Value| -> u64 {
        let out = std::process::Command::new("date")
            .args(["-u", "+%s", "-d"])
            .arg(t.as_str().expect("an RFC 3339 time"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    let window = &info["suggestedWindow"];
    (at(&window["start"]), at(&window["end"]))
}
