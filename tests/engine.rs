//! The rendering engine when the libraries change under a built binary: a libxslt other
//! than the one it was built against turns every fast path off, says so in the log and in
//! `vitrine doctor`, and the pages stay correct.

use std::process::Command;

use crate::support::*;

/// A library that, preloaded, makes the process see another libxslt version number: what a
/// distribution upgrade of libxslt under an already built binary looks like to Vitrine.
fn fake_libxslt_version(dir: &std::path::Path) -> std::path::PathBuf {
    let src = dir.join("fake.c");
    std::fs::write(&src, "const int xsltLibxsltVersion = 10199;\n").unwrap();
    let lib = dir.join("libfakexslt.so");
    let out = Command::new("cc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&lib)
        .arg(&src)
        .output()
        .expect("cc runs");
    assert!(out.status.success(), "{out:?}");
    lib
}

fn run(args: &[&str], preload: Option<&std::path::Path>) -> std::process::Output {
    let mut cmd = Command::new(vitrine_bin());
    cmd.args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("VITRINE_REDIS")
        .env_remove("VITRINE_SITES")
        .env_remove("VITRINE_STYLESHEETS")
        .env_remove("VITRINE_FAST_PATHS")
        .env("VITRINE_LOG", "warn")
        .env("NO_COLOR", "1");
    if let Some(lib) = preload {
        cmd.env("LD_PRELOAD", lib);
    }
    cmd.output().expect("the vitrine binary runs")
}

#[test]
fn a_different_libxslt_turns_the_fast_paths_off_and_pages_stay_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let lib = fake_libxslt_version(dir.path());

    let doctor = run(&["doctor"], None);
    let report = String::from_utf8_lossy(&doctor.stdout);
    assert!(doctor.status.success(), "{doctor:?}");
    assert!(report.contains("verdict: ok"), "{report}");

    let swapped = run(&["doctor"], Some(&lib));
    let report = String::from_utf8_lossy(&swapped.stdout);
    let log = String::from_utf8_lossy(&swapped.stderr);
    assert_eq!(swapped.status.code(), Some(1), "{swapped:?}");
    assert!(report.contains("libxslt 1.1.99"), "{report}");
    assert!(report.contains("fast paths on:    none"), "{report}");
    assert!(report.contains("verdict: degraded"), "{report}");
    assert!(
        log.contains("WARN")
            && log.contains("are not the ones this binary was built against")
            && log.contains("every fast path is off"),
        "one log line says what happened and what to do: {log}"
    );

    // The pages are the same bytes: the libraries' own code renders what the fast paths did.
    for (host, page) in [
        ("boulangerie-martin.fr", "/"),
        ("cabinet-moreau-avocats.fr", "/honoraires"),
        ("atelier-girard-architectes.fr", "/"),
    ] {
        let normal = run(&["render", host, page], None);
        let plain = run(&["render", host, page], Some(&lib));
        assert!(normal.status.success(), "{host}{page}: {normal:?}");
        assert!(plain.status.success(), "{host}{page}: {plain:?}");
        assert!(normal.stdout.len() > 1000, "{host}{page}");
        assert_eq!(
            String::from_utf8_lossy(&normal.stdout),
            String::from_utf8_lossy(&plain.stdout),
            "{host}{page}"
        );
    }
}

/// The ETag of a page names the engine that made its bytes: the same site file and theme
/// served by an engine with other fast paths (here all off) get another ETag, so a client
/// never revalidates bytes it does not have into a 304. The bytes themselves are the same.
#[test]
fn the_etag_changes_with_the_engine() {
    let fixture = Fixture::new();
    let fetch = |fast_paths_off: bool| -> (String, Vec<u8>) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut cmd = Command::new(vitrine_bin());
        cmd.args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--sites"])
            .arg(fixture.sites())
            .arg("--stylesheets")
            .arg(fixture.stylesheets())
            .env_remove("VITRINE_FAST_PATHS")
            .env_remove("VITRINE_REDIS")
            .stderr(std::process::Stdio::null());
        if fast_paths_off {
            cmd.env("VITRINE_FAST_PATHS", "off");
        }
        let mut child = cmd.spawn().unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let get = || -> Option<Vec<u8>> {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(addr).ok()?;
            s.write_all(
                b"GET / HTTP/1.1\r\nHost: boulangerie-martin.fr\r\nConnection: close\r\n\r\n",
            )
            .ok()?;
            let mut out = Vec::new();
            s.read_to_end(&mut out).ok()?;
            Some(out)
        };
        let mut answer = None;
        wait_for(
            || {
                answer = get().filter(|r| r.starts_with(b"HTTP/1.1 200"));
                answer.is_some()
            },
            "the server to answer",
        );
        let _ = child.kill();
        let _ = child.wait();
        let raw = answer.unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
        let etag = head
            .lines()
            .find_map(|l| l.strip_prefix("etag: "))
            .expect("an ETag")
            .to_owned();
        (etag, raw[split + 4..].to_vec())
    };
    let (fast_tag, fast_body) = fetch(false);
    let (plain_tag, plain_body) = fetch(true);
    let doctor = run(&["doctor"], None);
    if String::from_utf8_lossy(&doctor.stdout).contains("fast paths on:    none") {
        // Libraries where no fast path is proven: turning them off changes nothing.
        assert_eq!(fast_tag, plain_tag);
    } else {
        assert_ne!(fast_tag, plain_tag, "the engine is part of the validator");
    }
    // Where the fast paths are proven, the pages are the same; elsewhere both are plain.
    assert_eq!(
        String::from_utf8_lossy(&fast_body),
        String::from_utf8_lossy(&plain_body)
    );
}
