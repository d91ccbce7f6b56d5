//! Hostile and odd requests as raw bytes over TCP, in the spirit of nginx-tests
//! `http_host.t` and `http_uri.t`: every one gets the right site or a clear 4xx, never a
//! 5xx or a dropped connection, and nothing outside the site's roots is ever sent.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::support::*;

/// What a request must get.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// The home page of this sample site (by site id).
    Site(&'static str),
    /// This status.
    Status(u16),
}
use Expect::{Site, Status};

fn request_with_host(host: &[u8]) -> Vec<u8> {
    let mut r = b"GET / HTTP/1.1\r\nHost: ".to_vec();
    r.extend_from_slice(host);
    r.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    r
}

fn labels(total: usize, label: usize) -> String {
    let mut name = String::new();
    while name.len() < total {
        if !name.is_empty() {
            name.push('.');
        }
        let left = total - name.len();
        name.push_str(&"a".repeat(label.min(left)));
    }
    name.push_str(".fr");
    name
}

#[test]
fn host_vectors_get_the_right_site_or_400() {
    let fixture = Fixture::new();
    let server = Server::start(ServerConfig::new(&fixture));
    let (martin, _, _) = main_domain(&fixture, "boulangerie-martin");
    assert_eq!(martin, "boulangerie-martin.fr");
    let (idn_rel, idn) = sample_sites(&fixture.sites())
        .into_iter()
        .find_map(|(rel, d, _)| Some((rel, d.into_iter().find(|d| d.contains("xn--"))?)))
        .expect("a sample site has an IDN domain");
    let idn_id: &'static str = idn_rel.split('/').nth(1).unwrap().to_owned().leak();
    let (unicode, _) = idna::domain_to_unicode(&idn);
    assert_ne!(unicode, idn);

    let name_253 = labels(250, 63); // 250 + ".fr"
    let name_254 = labels(251, 63);
    assert_eq!((name_253.len(), name_254.len()), (253, 254));
    let label_63 = format!("{}.fr", "a".repeat(63));
    let label_64 = format!("{}.fr", "a".repeat(64));

    let owned: Vec<(String, Vec<u8>, Expect)> = vec![
        // Empty and missing parts.
        ("empty".into(), b"".to_vec(), Status(400)),
        ("only spaces".into(), b"   ".to_vec(), Status(400)),
        ("only a dot".into(), b".".to_vec(), Status(400)),
        ("only a port".into(), b":80".to_vec(), Status(400)),
        // Not a host at all.
        (
            "userinfo".into(),
            b"user@boulangerie-martin.fr".to_vec(),
            Status(400),
        ),
        (
            "userinfo and password".into(),
            b"u:p@boulangerie-martin.fr".to_vec(),
            Status(400),
        ),
        (
            "path".into(),
            b"boulangerie-martin.fr/index".to_vec(),
            Status(400),
        ),
        (
            "path and port".into(),
            b"example.com/\\:552".to_vec(),
            Status(400),
        ),
        (
            "query".into(),
            b"boulangerie-martin.fr?x=1".to_vec(),
            Status(400),
        ),
        (
            "fragment".into(),
            b"boulangerie-martin.fr#x".to_vec(),
            Status(400),
        ),
        (
            "space inside".into(),
            b"boulangerie martin.fr".to_vec(),
            Status(400),
        ),
        (
            "tab inside".into(),
            b"boulangerie\tmartin.fr".to_vec(),
            Status(400),
        ),
        (
            "backslash".into(),
            b"boulangerie-martin.fr\\x".to_vec(),
            Status(400),
        ),
        (
            "control byte".into(),
            b"boulangerie\x02martin.fr".to_vec(),
            Status(400),
        ),
        (
            "underscore".into(),
            b"a_b.boulangerie-martin.fr".to_vec(),
            Status(400),
        ),
        ("leading hyphen".into(), b"-a.fr".to_vec(), Status(400)),
        // Lengths (RFC 1035).
        ("label of 63".into(), label_63.into_bytes(), Status(404)),
        ("label of 64".into(), label_64.into_bytes(), Status(400)),
        ("name of 253".into(), name_253.into_bytes(), Status(404)),
        ("name of 254".into(), name_254.into_bytes(), Status(400)),
        ("2 KiB".into(), vec![b'a'; 2048], Status(400)),
        // Dots.
        (
            "trailing dot".into(),
            b"boulangerie-martin.fr.".to_vec(),
            Site("boulangerie-martin"),
        ),
        (
            "trailing dot and port".into(),
            b"boulangerie-martin.fr.:8080".to_vec(),
            Site("boulangerie-martin"),
        ),
        (
            "two trailing dots".into(),
            b"boulangerie-martin.fr..".to_vec(),
            Status(400),
        ),
        (
            "leading dot".into(),
            b".boulangerie-martin.fr".to_vec(),
            Status(400),
        ),
        ("double dot".into(), b"..examp-LE.com".to_vec(), Status(400)),
        // Case and ports.
        (
            "uppercase".into(),
            b"BOULANGERIE-MARTIN.FR".to_vec(),
            Site("boulangerie-martin"),
        ),
        (
            "mixed case and port".into(),
            b"Boulangerie-Martin.Fr:8080".to_vec(),
            Site("boulangerie-martin"),
        ),
        (
            "empty port".into(),
            b"boulangerie-martin.fr:".to_vec(),
            Site("boulangerie-martin"),
        ),
        (
            "port 65535".into(),
            b"boulangerie-martin.fr:65535".to_vec(),
            Site("boulangerie-martin"),
        ),
        (
            "port 0".into(),
            b"boulangerie-martin.fr:0".to_vec(),
            Status(400),
        ),
        (
            "port 65536".into(),
            b"boulangerie-martin.fr:65536".to_vec(),
            Status(400),
        ),
        (
            "port of 30 digits".into(),
            format!("boulangerie-martin.fr:{}", "9".repeat(30)).into_bytes(),
            Status(400),
        ),
        (
            "port with letters".into(),
            b"boulangerie-martin.fr:8o".to_vec(),
            Status(400),
        ),
        (
            "dotted port".into(),
            b"boulangerie-martin.fr.:1.2".to_vec(),
            Status(400),
        ),
        (
            "two ports".into(),
            b"boulangerie-martin.fr:80:80".to_vec(),
            Status(400),
        ),
        // IP literals: valid, but no site is mapped to them.
        ("IPv4".into(), b"127.0.0.1".to_vec(), Status(404)),
        ("IPv4 in octal".into(), b"0177.0.0.1".to_vec(), Status(400)),
        ("IPv4 short form".into(), b"127.1".to_vec(), Status(400)),
        ("IPv6".into(), b"[::1]".to_vec(), Status(404)),
        ("IPv6 and port".into(), b"[::1]:8080".to_vec(), Status(404)),
        ("IPv6 unbracketed".into(), b"::1".to_vec(), Status(400)),
        ("IPv6 unclosed".into(), b"[::1".to_vec(), Status(400)),
        ("IPv6 and junk".into(), b"[::1]junk".to_vec(), Status(400)),
        (
            "IPv6 zone".into(),
            b"[fe80::1%25eth0]".to_vec(),
            Status(400),
        ),
        ("IPvFuture".into(), b"[v1.fe]".to_vec(), Status(400)),
        // Internationalised names: punycode and raw UTF-8 reach the same site.
        ("punycode".into(), idn.clone().into_bytes(), Site(idn_id)),
        (
            "punycode uppercase".into(),
            idn.to_uppercase().into_bytes(),
            Site(idn_id),
        ),
        ("UTF-8".into(), unicode.clone().into_bytes(), Site(idn_id)),
        (
            "UTF-8 uppercase".into(),
            unicode.to_uppercase().into_bytes(),
            Site(idn_id),
        ),
        (
            "UTF-8 and trailing dot".into(),
            format!("{unicode}.").into_bytes(),
            Site(idn_id),
        ),
        ("invalid punycode".into(), b"xn--a.fr".to_vec(), Status(400)),
        ("invalid UTF-8".into(), b"\xff\xfe.fr".to_vec(), Status(400)),
        (
            "overlong UTF-8 dot".into(),
            b"a\xc0\xaeb.fr".to_vec(),
            Status(400),
        ),
        (
            "fullwidth solidus".into(),
            "a\u{ff0f}b.fr".as_bytes().to_vec(),
            Status(400),
        ),
        (
            "ideographic full stop".into(),
            "boulangerie-martin\u{3002}fr".as_bytes().to_vec(),
            Site("boulangerie-martin"),
        ),
        (
            "lone UTF-8 lead byte".into(),
            b"caf\xc3.fr".to_vec(),
            Status(400),
        ),
    ];

    let reference = |id: &str| server.get(&main_domain(&fixture, id).0, "/");
    let mut failures = Vec::new();
    for (label, host, expect) in &owned {
        let resp = server.raw(&request_with_host(host));
        let ok = match expect {
            Status(s) => resp.status == *s,
            Site(id) => {
                let want = reference(id);
                resp.status == 200 && resp.body == want.body
            }
        };
        if !ok {
            failures.push(format!(
                "{label} ({:?}): got {} expected {expect:?}",
                String::from_utf8_lossy(host),
                resp.status
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn request_level_host_cases() {
    let fixture = Fixture::new();
    let server = Server::start(ServerConfig::new(&fixture));
    let home = server.get("boulangerie-martin.fr", "/").body;
    let cases: &[(&str, &[u8], Expect)] = &[
        ("missing Host", b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", Status(400)),
        ("HTTP/1.0 without Host", b"GET / HTTP/1.0\r\n\r\n", Status(400)),
        (
            "duplicate Host, same value",
            b"GET / HTTP/1.1\r\nHost: boulangerie-martin.fr\r\nHost: boulangerie-martin.fr\r\nConnection: close\r\n\r\n",
            Status(400),
        ),
        (
            "duplicate Host, other value",
            b"GET / HTTP/1.1\r\nHost: boulangerie-martin.fr\r\nhost: nobody.example\r\nConnection: close\r\n\r\n",
            Status(400),
        ),
        (
            "header name in odd case",
            b"GET / HTTP/1.1\r\nhOsT: boulangerie-martin.fr\r\nConnection: close\r\n\r\n",
            Site("boulangerie-martin"),
        ),
        (
            "spaces around the value",
            b"GET / HTTP/1.1\r\nHost:   boulangerie-martin.fr  \r\nConnection: close\r\n\r\n",
            Site("boulangerie-martin"),
        ),
        // RFC 9112 §3.2.2: the authority of an absolute-form target wins over Host.
        (
            "absolute form, other Host",
            b"GET http://boulangerie-martin.fr/ HTTP/1.1\r\nHost: nobody.example\r\nConnection: close\r\n\r\n",
            Site("boulangerie-martin"),
        ),
        (
            "absolute form of an unknown host, known Host",
            b"GET http://nobody.example/ HTTP/1.1\r\nHost: boulangerie-martin.fr\r\nConnection: close\r\n\r\n",
            Status(404),
        ),
        (
            "absolute form, uppercase and port",
            b"GET http://BOULANGERIE-MARTIN.FR:8080/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Site("boulangerie-martin"),
        ),
        (
            "absolute form without Host",
            b"GET http://boulangerie-martin.fr/ HTTP/1.1\r\nConnection: close\r\n\r\n",
            Site("boulangerie-martin"),
        ),
        (
            "absolute form with userinfo",
            b"GET http://user@boulangerie-martin.fr/ HTTP/1.1\r\nHost: boulangerie-martin.fr\r\nConnection: close\r\n\r\n",
            Status(400),
        ),
        (
            "absolute form with an invalid host",
            b"GET http://a_b.fr/ HTTP/1.1\r\nHost: boulangerie-martin.fr\r\nConnection: close\r\n\r\n",
            Status(400),
        ),
        (
            "NUL in the Host line",
            b"GET / HTTP/1.1\r\nHost: boulangerie-martin.fr\x00.evil\r\nConnection: close\r\n\r\n",
            Status(400),
        ),
        (
            "Host folded over two lines (obs-fold)",
            b"GET / HTTP/1.1\r\nHost: boulangerie-martin.fr\r\n .evil\r\nConnection: close\r\n\r\n",
            Status(400),
        ),
    ];
    for (label, raw, expect) in cases {
        let resp = server.raw(raw);
        match expect {
            Status(s) => assert_eq!(resp.status, *s, "{label}: {}", resp.text()),
            Site(_) => {
                assert_eq!(resp.status, 200, "{label}");
                assert_eq!(resp.body, home, "{label}");
            }
        }
    }
}

#[test]
fn path_vectors_never_leave_the_site_roots() {
    let fixture = Fixture::new();
    let server = Server::start(ServerConfig::new(&fixture));
    let (domain, rel, _) = main_domain(&fixture, "boulangerie-martin");
    std::fs::write(fixture.dir.path().join("secret.txt"), "TOP SECRET").unwrap();
    let site_dir = fixture.sites().join(&rel).parent().unwrap().to_owned();
    // Inside the site's folder but not in media/: not servable either.
    std::fs::write(site_dir.join("private.txt"), "PRIVATE MARKER").unwrap();
    let long_page = format!("/{}", "a".repeat(12_000));
    let deep_media = format!("/media/{}x.jpg", "a/".repeat(3_000));
    let very_long = format!("/{}", "a".repeat(20_000));
    let mut paths: Vec<String> = [
        "/../secret.txt",
        "/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/%2E%2E/%2E%2E/secret.txt",
        "/%252e%252e/%252e%252e/secret.txt",
        "/..%2f..%2f..%2fsecret.txt",
        "/..\\..\\..\\secret.txt",
        "/%5c..%5c..%5csecret.txt",
        "/x%00",
        "/%00",
        "/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt",
        "/%e0%80%ae%e0%80%ae/secret.txt",
        "//secret.txt",
        "///../../secret.txt",
        "/media/../private.txt",
        "/media/%2e%2e/private.txt",
        "/media/%2e%2e%2fprivate.txt",
        "/media/..%2fprivate.txt",
        "/media/..%5cprivate.txt",
        "/media/..\\private.txt",
        "/media/%252e%252e/private.txt",
        "/media/%c0%ae%c0%ae/private.txt",
        "/media/x%00.jpg",
        "/media/%00",
        "/media//private.txt",
        "/media/.%2e/site.xml",
        "/media/%2e%2e/site.xml",
        "/media/%2e%2e/%2e%2e/%2e%2e/%2e%2e/secret.txt",
        "/media/%2fetc%2fpasswd",
        "/media/%",
        "/media/%zz.jpg",
        "/assets/../classic.xsl",
        "/assets/%2e%2e/classic.xsl",
        "/assets/..%2fclassic.xsl",
        "/assets/%5c..%5cclassic.xsl",
        "/assets//etc/passwd",
        "/robots.txt/..",
        "/sitemap.xml%00",
        "/accueil%00.xsl",
        "/%2e",
        "/.",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    paths.extend([long_page, deep_media, very_long]);

    for path in &paths {
        let mut raw = b"GET ".to_vec();
        raw.extend_from_slice(path.as_bytes());
        raw.extend_from_slice(
            format!(" HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        let resp = server.raw(&raw);
        let text = resp.text();
        let shown: String = path.chars().take(60).collect();
        assert!(
            matches!(resp.status, 400 | 404 | 414 | 431),
            "{shown}: status {}",
            resp.status
        );
        for leak in [
            "TOP SECRET",
            "PRIVATE MARKER",
            "root:",
            "<?xml-stylesheet",
            "xsl:stylesheet",
        ] {
            assert!(!text.contains(leak), "{shown} leaked {leak:?}");
        }
    }
    // The defences above are not just "everything is 404": the real files are served.
    assert_eq!(server.get(&domain, "/").status, 200);
    let media = std::fs::read_dir(site_dir.join("media"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .file_name();
    let media = media.to_str().unwrap();
    assert_eq!(server.get(&domain, &format!("/media/{media}")).status, 200);
}

#[test]
fn header_size_and_count_are_capped() {
    let fixture = Fixture::new();
    let server = Server::start(ServerConfig::new(&fixture));
    let host = "boulangerie-martin.fr";
    let with_headers = |extra: &str| {
        server.raw(
            format!("GET / HTTP/1.1\r\nHost: {host}\r\n{extra}Connection: close\r\n\r\n")
                .as_bytes(),
        )
    };
    let many = |n: usize| (0..n).map(|i| format!("X-H{i}: v\r\n")).collect::<String>();
    assert_eq!(with_headers(&many(60)).status, 200, "60 headers are fine");
    assert_eq!(with_headers(&many(100)).status, 431, "100 headers");
    assert_eq!(with_headers(&many(5_000)).status, 431, "5,000 headers");
    let cookie = |n: usize| format!("Cookie: {}\r\n", "c".repeat(n));
    assert_eq!(
        with_headers(&cookie(12 * 1024)).status,
        200,
        "12 KiB cookie"
    );
    assert_eq!(
        with_headers(&cookie(17 * 1024)).status,
        431,
        "17 KiB cookie"
    );
    let start = Instant::now();
    assert_eq!(with_headers(&cookie(1 << 20)).status, 431, "1 MiB cookie");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn request_bodies_are_refused_without_being_read() {
    let fixture = Fixture::new();
    let server = Server::start(ServerConfig::new(&fixture));
    let host = "boulangerie-martin.fr";
    // A body, and a second request hidden in it: one 413, the hidden one is never run.
    let smuggle = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 48\r\n\r\nGET /robots.txt HTTP/1.1\r\nHost: {host}\r\n\r\n"
    );
    let resp = server.raw(smuggle.as_bytes());
    assert_eq!(resp.status, 413);
    assert_eq!(resp.header("connection"), Some("close"));
    assert!(!resp.text().contains("Sitemap:"), "the hidden request ran");
    let chunked = format!(
        "GET / HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    );
    assert_eq!(server.raw(chunked.as_bytes()).status, 413);
    // A gigabyte announced and never sent: refused at once, not awaited.
    let start = Instant::now();
    let head = format!("HEAD / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000000000\r\n\r\n");
    assert_eq!(server.raw(head.as_bytes()).status, 413);
    assert!(start.elapsed() < Duration::from_secs(2));
    let empty =
        format!("GET / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(
        server.raw(empty.as_bytes()).status,
        200,
        "an empty body is no body"
    );
    let post = format!("POST / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(server.raw(post.as_bytes()).status, 405);
}

#[test]
fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let fixture = Fixture::new();
    let mut config = ServerConfig::new(&fixture);
    config.max_connections = 4;
    let server = Server::start(config);
    let mut idle: Vec<TcpStream> = (0..4)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut fifth = TcpStream::connect(server.addr).unwrap();
    fifth
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    fifth
        .set_read_timeout(Some(Duration::from_millis(700)))
        .unwrap();
    let mut buf = [0u8; 64];
    let err = fifth.read(&mut buf).expect_err("answered beyond the cap");
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
        "{err}"
    );
    // One slot frees up: the waiting connection is served.
    drop(idle.pop());
    fifth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = Vec::new();
    fifth.read_to_end(&mut out).unwrap();
    assert!(out.starts_with(b"HTTP/1.1 200"), "{out:?}");
}

#[test]
fn idle_connections_are_closed_but_slow_downloads_are_not() {
    let fixture = Fixture::new();
    let (domain, rel, _) = main_domain(&fixture, "boulangerie-martin");
    let media = fixture.sites().join(&rel).parent().unwrap().join("media");
    let film = vec![7u8; 8 << 20];
    std::fs::write(media.join("film.mp4"), &film).unwrap();
    let mut config = ServerConfig::new(&fixture);
    config.header_timeout = 1;
    let server = Server::start(config);

    // A keep-alive connection left idle after one answer is closed after the timeout.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(format!("GET /robots.txt HTTP/1.1\r\nHost: {domain}\r\n\r\n").as_bytes())
        .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.read(&mut buf).unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    let idle = Instant::now();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    let lived = idle.elapsed();
    assert!(
        lived > Duration::from_millis(700) && lived < Duration::from_secs(3),
        "idle keep-alive connection closed after {lived:?}"
    );

    // A connection busy with requests for longer than the timeout stays open, and is closed
    // one timeout after its last answer (the timer fires mid-use and moves itself).
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let busy = Instant::now();
    while busy.elapsed() < Duration::from_millis(2500) {
        s.write_all(format!("GET /robots.txt HTTP/1.1\r\nHost: {domain}\r\n\r\n").as_bytes())
            .unwrap();
        let n = s.read(&mut buf).unwrap();
        assert!(
            buf[..n].starts_with(b"HTTP/1.1 200"),
            "closed while in use after {:?}",
            busy.elapsed()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    let idle = Instant::now();
    rest.clear();
    s.read_to_end(&mut rest).unwrap();
    let lived = idle.elapsed();
    assert!(
        lived > Duration::from_millis(400) && lived < Duration::from_secs(3),
        "busy connection closed {lived:?} after its last answer"
    );

    // A download read slowly for well over the timeout is in progress, never idle.
    let mut s = TcpStream::connect(server.addr).unwrap();
    s.write_all(
        format!("GET /media/film.mp4 HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let start = Instant::now();
    let mut got = Vec::new();
    let mut chunk = vec![0u8; 32 * 1024];
    loop {
        match s.read(&mut chunk).unwrap() {
            0 => break,
            n => got.extend_from_slice(&chunk[..n]),
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let head = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert_eq!(got.len() - head, film.len(), "the slow download was cut");
    assert!(
        start.elapsed() > Duration::from_secs(2),
        "the download was not slower than the timeout ({:?})",
        start.elapsed()
    );
}
