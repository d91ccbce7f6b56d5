//! A real ACME server for the certificate tests: Debian's `pebble` and
//! `pebble-challtestsrv` on free loopback ports in a temp dir, killed on drop.
//!
//! The challenge test server is only pebble's DNS: it answers every name with 127.0.0.1, so
//! pebble's HTTP-01 validation connects to the publisher's plain listener (`httpPort` of the
//! config), and validation is real (`PEBBLE_VA_ALWAYS_VALID` is never set). The Debian
//! package ships no certificate for pebble's own HTTPS, so one is made here with a throwaway
//! CA ([`Pebble::directory_ca`] is that CA, for `--acme-directory-ca`). Pebble's issuing root
//! is made anew at each start; [`Pebble::issuing_root`] fetches it from the management
//! listener (`/roots/0`), for clients that check what the publisher serves.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::free_port;

/// A running pebble and its DNS.
pub struct Pebble {
    pebble: Child,
    dns: Child,
    pub port: u16,
    pub management: u16,
    dir: tempfile::TempDir,
}

fn spawn_logged(cmd: &mut Command, log: &Path) -> Child {
    let file = std::fs::File::create(log).unwrap();
    cmd.stdout(file.try_clone().unwrap())
        .stderr(file)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?} (is the pebble package installed?): {e}"))
}

impl Pebble {
    /// Starts pebble validating HTTP-01 challenges on `http_port` of 127.0.0.1.
    pub fn start(http_port: u16) -> Pebble {
        let dir = tempfile::tempdir().unwrap();
        // The CA and certificate of pebble's own HTTPS (127.0.0.1 and localhost).
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::default();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "pebble test CA");
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).unwrap();
        std::fs::write(dir.path().join("cert.pem"), leaf.pem()).unwrap();
        std::fs::write(dir.path().join("key.pem"), leaf_key.serialize_pem()).unwrap();

        let (port, management, dns_port) = (free_port(), free_port(), free_port());
        let config = serde_json::json!({
            "pebble": {
                "listenAddress": format!("127.0.0.1:{port}"),
                "managementListenAddress": format!("127.0.0.1:{management}"),
                "certificate": dir.path().join("cert.pem"),
                "privateKey": dir.path().join("key.pem"),
                "httpPort": http_port,
                "tlsPort": free_port(),
                "ocspResponderURL": "",
                "externalAccountBindingRequired": false
            }
        });
        let config_path = dir.path().join("pebble.json");
        std::fs::write(&config_path, config.to_string()).unwrap();
        // The DNS flag was renamed (-dns01 in pebble 2.4, Debian 12; -dnsserver later, with a
        // DNS-over-HTTPS listener that is turned off here too).
        let help = Command::new("pebble-challtestsrv")
            .arg("-h")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
            .unwrap_or_default();
        let mut dns_cmd = Command::new("pebble-challtestsrv");
        if help.contains("-dnsserver") {
            dns_cmd.args(["-dnsserver", &format!("127.0.0.1:{dns_port}")]);
        } else {
            dns_cmd.args(["-dns01", &format!("127.0.0.1:{dns_port}")]);
        }
        if help.contains("-doh ") || help.contains("-doh\n") {
            dns_cmd.args(["-doh", ""]);
        }
        let dns = spawn_logged(
            dns_cmd.args([
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                &format!("127.0.0.1:{}", free_port()),
                "-defaultIPv4",
                "127.0.0.1",
                "-defaultIPv6",
                "",
            ]),
            &dir.path().join("challtestsrv.log"),
        );
        let pebble = spawn_logged(
            Command::new("pebble")
                .arg("-config")
                .arg(&config_path)
                .args(["-dnsserver", &format!("127.0.0.1:{dns_port}")])
                // No random waits before validating, no nonces rejected on purpose: the
                // tests are about Vitrine, not about its patience.
                .env("PEBBLE_VA_NOSLEEP", "1")
                .env("PEBBLE_WFE_NONCEREJECT", "0")
                .env("PEBBLE_AUTHZREUSE", "0"),
            &dir.path().join("pebble.log"),
        );
        let p = Pebble {
            pebble,
            dns,
            port,
            management,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err()
            || TcpStream::connect(("127.0.0.1", management)).is_err()
        {
            assert!(
                Instant::now() < deadline,
                "pebble did not start:\n{}",
                p.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut p = p;
        if let Ok(Some(status)) = p.dns.try_wait() {
            let log = std::fs::read_to_string(p.dir.path().join("challtestsrv.log"));
            panic!(
                "pebble-challtestsrv exited ({status}): {}",
                log.unwrap_or_default()
            );
        }
        p
    }

    /// The directory URL, for `--acme-directory`.
    pub fn directory(&self) -> String {
        format!("https://127.0.0.1:{}/dir", self.port)
    }

    /// The CA of pebble's own HTTPS, for `--acme-directory-ca`.
    pub fn directory_ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Pebble's issuing root (PEM), written to a file for clients.
    pub fn issuing_root(&self) -> PathBuf {
        let path = self.dir.path().join("root.pem");
        let out = Command::new("curl")
            .args(["-sSf", "--cacert"])
            .arg(self.directory_ca())
            .arg(format!("https://127.0.0.1:{}/roots/0", self.management))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "GET /roots/0: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(&path, &out.stdout).unwrap();
        path
    }

    /// What pebble logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("pebble.log")).unwrap_or_default()
    }

    /// Orders pebble has received (its log has one line per new-order request).
    pub fn orders(&self) -> usize {
        self.log()
            .lines()
            .filter(|l| l.contains("POST /order-plz"))
            .count()
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        for child in [&mut self.pebble, &mut self.dns] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `curl` over HTTPS to `host` at 127.0.0.1:`port`, trusting `root`: (status, body,
/// HTTP version), or curl's error.
pub fn curl_https(
    root: &Path,
    host: &str,
    port: u16,
    path: &str,
    extra: &[&str],
) -> Result<(u16, Vec<u8>, String), String> {
    let dir = tempfile::tempdir().unwrap();
    let body = dir.path().join("body");
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(root)
        .arg("--resolve")
        .arg(format!("{host}:{port}:127.0.0.1"))
        .args(["-o"])
        .arg(&body)
        .args(["-w", "%{http_code} %{http_version}"])
        .args(extra)
        .arg(format!("https://{host}:{port}{path}"))
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    let w = String::from_utf8_lossy(&out.stdout).into_owned();
    let (code, version) = w.split_once(' ').unwrap_or((&w, ""));
    Ok((
        code.parse().unwrap_or(0),
        std::fs::read(&body).unwrap_or_default(),
        version.to_owned(),
    ))
}
