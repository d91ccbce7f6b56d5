//! End-to-end tests of `vitrine serve`: the real server on a free port, a real redis-server,
//! real files in a temp copy of the sample sites and stylesheets.

use std::time::{Duration, Instant};

use crate::support::*;

#[test]
fn every_domain_and_page_of_every_sample_site_renders_through_redis() {
    let fixture = Fixture::new();
    let (_redis, server) = redis_server(&fixture);
    let sites = sample_sites(&fixture.sites());
    assert!(sites.len() >= 12, "expected at least 12 sample sites");
    let mut pages_seen = 0;
    for (rel, domains, pages) in &sites {
        let main = &domains[0];
        assert_eq!(server.get(&domains[1], "/robots.txt").status, 301);
        for domain in domains {
            let resp = server.get(domain, "/");
            if domain != main {
                assert!(
                    resp.is_moved_to(&format!("http://{main}/")),
                    "{domain} ({rel}): {} {:?}",
                    resp.status,
                    resp.header("location")
                );
                continue;
            }
            assert_eq!(resp.status, 200, "{domain} / ({rel}): {}", resp.text());
            assert!(resp.text().starts_with("<!DOCTYPE html>"), "{domain}");
            assert!(resp
                .header("content-type")
                .unwrap()
                .starts_with("text/html"));
        }
        for (i, page) in pages.iter().enumerate() {
            let path = if i == 0 {
                "/".to_owned()
            } else {
                format!("/{page}")
            };
            let resp = server.get(&domains[0], &path);
            assert_eq!(resp.status, 200, "{} {path}: {}", domains[0], resp.text());
            assert!(
                resp.text().contains("aria-current=\"page\""),
                "{} {path}: the current page is marked in the navigation",
                domains[0]
            );
            pages_seen += 1;
        }
    }
    assert!(pages_seen > sites.len(), "some sites have several pages");
}

#[test]
fn host_normalisation_reaches_the_same_site() {
    let fixture = Fixture::new();
    let (_redis, server) = redis_server(&fixture);
    let (domain, _, _) = main_domain(&fixture, "boulangerie-martin");
    let reference = server.get(&domain, "/").text();
    for variant in [
        domain.to_uppercase(),
        format!("{domain}:8080"),
        format!("{domain}."),
        format!("{}.:80", domain.to_uppercase()),
    ] {
        let resp = server.get(&variant, "/");
        assert_eq!(resp.status, 200, "{variant}");
        assert_eq!(resp.text(), reference, "{variant}");
    }
}

#[test]
fn idn_domain_in_unicode_and_punycode() {
    let fixture = Fixture::new();
    let (_redis, server) = redis_server(&fixture);
    let idn = sample_sites(&fixture.sites())
        .into_iter()
        .flat_map(|(_, d, _)| d)
        .find(|d| d.contains("xn--"))
        .expect("a sample site has an IDN domain");
    let (unicode, _) = idna::domain_to_unicode(&idn);
    let a = server.get(&idn, "/");
    assert_eq!(a.status, 200);
    let b = server.get(&unicode, "/");
    assert_eq!(b.status, 200, "raw UTF-8 Host {unicode}");
    assert_eq!(a.text(), b.text());
}

#[test]
fn unknown_host_and_unknown_page_are_404() {
    let fixture = Fixture::new();
    let (_redis, server) = redis_server(&fixture);
    let resp = server.get("nobody-here.example", "/");
    assert_eq!(resp.status, 404);
    assert!(resp.text().contains("No site here"));

    let (domain, rel, _) = main_domain(&fixture, "boulangerie-martin");
    let resp = server.get(&domain, "/no-such-page");
    assert_eq!(resp.status, 404);
    let xml = std::fs::read_to_string(fixture.sites().join(rel)).unwrap();
    let name = between(&xml, "<name>", "</name>");
    assert!(
        resp.text().contains(name),
        "the 404 page is rendered by the site's own theme"
    );
    for path in ["/a/b", "/ACCUEIL", "/%2e%2e/etc/passwd"] {
        assert_eq!(server.get(&domain, path).status, 404, "{path}");
    }
}

#[test]
fn robots_sitemap_head_and_healthz() {
    let fixture = Fixture::new();
    let server = Server::start(ServerConfig::new(&fixture));
    let (domain, _, pages) = main_domain(&fixture, "boulangerie-martin");
    let robots = server.get(&domain, "/robots.txt");
    assert_eq!(robots.status, 200);
    assert!(robots
        .text()
        .contains(&format!("Sitemap: https://{domain}/sitemap.xml")));
    let sitemap = server.get(&domain, "/sitemap.xml");
    assert_eq!(sitemap.status, 200);
    assert!(sitemap.header("content-type").unwrap().contains("xml"));
    assert!(sitemap
        .text()
        .contains(&format!("<loc>https://{domain}/</loc>")));
    for page in &pages[1..] {
        assert!(sitemap
            .text()
            .contains(&format!("<loc>https://{domain}/{page}</loc>")));
    }
    let get = server.get(&domain, "/");
    let head = server.request("HEAD", &domain, "/", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("etag"), get.header("etag"));
    assert_eq!(head.header("content-type"), get.header("content-type"));
    assert_eq!(
        head.header("content-length"),
        Some(get.body.len().to_string().as_str())
    );
    assert_eq!(server.get("anything", "/healthz").status, 200);
    assert_eq!(server.request("POST", &domain, "/", &[]).status, 405);
}

#[test]
fn conditional_get_and_compression() {
    let fixture = Fixture::new();
    let server = Server::start(ServerConfig::new(&fixture));
    let (domain, _, _) = main_domain(&fixture, "boulangerie-martin");
    let first = server.get(&domain, "/");
    let etag = first.header("etag").unwrap().to_owned();
    assert!(etag.starts_with('"'), "strong ETag");
    let last_modified = first.header("last-modified").unwrap().to_owned();
    let again = server.request("GET", &domain, "/", &[("If-None-Match", &etag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let since = server.request(
        "GET",
        &domain,
        "/",
        &[("If-Modified-Since", &last_modified)],
    );
    assert_eq!(since.status, 304);
    let other = server.request("GET", &domain, "/", &[("If-None-Match", "\"nope\"")]);
    assert_eq!(other.status, 200);

    use std::io::Read;
    let gz = server.request("GET", &domain, "/", &[("Accept-Encoding", "gzip")]);
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("vary"), Some("Accept-Encoding"));
    assert_ne!(
        gz.header("etag"),
        Some(etag.as_str()),
        "each coding has its own ETag"
    );
    let mut html = String::new();
    flate2::read::GzDecoder::new(&gz.body[..])
        .read_to_string(&mut html)
        .unwrap();
    assert_eq!(html, first.text());
    let br = server.request("GET", &domain, "/", &[("Accept-Encoding", "gzip, br")]);
    assert_eq!(br.header("content-encoding"), Some("br"));
    let mut html = Vec::new();
    brotli::Decompressor::new(&br.body[..], 4096)
        .read_to_end(&mut html)
        .unwrap();
    assert_eq!(html, first.body);
}

#[test]
fn edited_xml_is_live_on_the_next_request() {
    let fixture = Fixture::new();
    let server = Server::start(ServerConfig::new(&fixture));
    let (domain, rel, _) = main_domain(&fixture, "boulangerie-martin");
    let before = server.get(&domain, "/");
    let path = fixture.sites().join(&rel);
    let xml = std::fs::read_to_string(&path).unwrap();
    let name = between(&xml, "<name>", "</name>").to_owned();
    let edited = xml.replacen(
        &format!("<name>{name}</name>"),
        "<name>Boulangerie Renommée</name>",
        1,
    );
    // Replace atomically, as the exporter does.
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, edited).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let after = server.get(&domain, "/");
    assert!(after.text().contains("Boulangerie Renommée"));
    assert_ne!(before.header("etag"), after.header("etag"));
    let old = server.request(
        "GET",
        &domain,
        "/",
        &[("If-None-Match", before.header("etag").unwrap())],
    );
    assert_eq!(old.status, 200, "an old ETag no longer matches");
}

#[test]
fn a_remap_in_redis_takes_effect_on_the_next_request() {
    let fixture = Fixture::new();
    let (redis, server) = redis_server(&fixture);
    let (domain, _, _) = main_domain(&fixture, "boulangerie-martin");
    let (_, other_rel, _) = main_domain(&fixture, "plomberie-leroy");
    let before = server.get(&domain, "/").text();
    // Through the operator command, as at 2 a.m.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["domains", "--redis", &redis.url(), "--sites"])
        .arg(fixture.sites())
        .args(["set", &domain.to_uppercase(), &other_rel])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let start = Instant::now();
    let after = server.get(&domain, "/").text();
    assert!(start.elapsed() < Duration::from_secs(1));
    assert_ne!(before, after);
    assert!(
        after.contains("Plomberie") || after.contains("plomberie"),
        "now serves the other site"
    );

    let get = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["domains", "--redis", &redis.url(), "get", &domain])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&get.stdout).trim(), other_rel);

    let rm = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["domains", "--redis", &redis.url(), "rm", &domain])
        .output()
        .unwrap();
    assert!(rm.status.success());
    assert_eq!(server.get(&domain, "/").status, 404);
}

/// Number of GET commands Redis has executed so far (`INFO commandstats`).
fn redis_gets(redis: &Redis) -> u64 {
    let info = redis.command(&["INFO", "commandstats"]).unwrap();
    info.lines()
        .find_map(|l| l.strip_prefix("cmdstat_get:calls="))
        .and_then(|rest| rest.split(',').next())
        .map(|n| n.parse().unwrap())
        .unwrap_or(0)
}

#[test]
fn hot_hosts_are_answered_from_the_map_cache_and_remaps_still_apply_at_once() {
    let fixture = Fixture::new();
    let (redis, server) = redis_server(&fixture);
    let (domain, _, _) = main_domain(&fixture, "boulangerie-martin");
    let (_, other_rel, _) = main_domain(&fixture, "plomberie-leroy");
    assert_eq!(server.get(&domain, "/").status, 200);
    let gets_before = redis_gets(&redis);
    for _ in 0..50 {
        assert_eq!(server.get(&domain, "/").status, 200);
    }
    let gets = redis_gets(&redis) - gets_before;
    assert!(
        gets < 10,
        "{gets} GETs reached Redis for 50 requests of a cached host"
    );
    // A write to the key makes Redis push an invalidation on the publisher's connection. It
    // travels apart from the writer's reply, so a request sent the instant the write returns
    // may still get the old answer; the push arrives within milliseconds (bench/visibility),
    // and the heartbeat bounds the wait at about 400 ms even if it were lost.
    redis.set(&domain, &other_rel);
    assert!(
        served_within(Duration::from_millis(450), || server
            .get(&domain, "/")
            .text()
            .contains("Plomberie")),
        "remap not applied from the cache within 450 ms"
    );
    // Unknown hosts are cached as unknown, and a new mapping reaches them too.
    assert_eq!(server.get("new-client.example", "/").status, 404);
    assert_eq!(server.get("new-client.example", "/").status, 404);
    redis.set("new-client.example", &other_rel);
    assert!(
        served_within(Duration::from_millis(450), || server
            .get("new-client.example", "/")
            .status
            == 200),
        "new domain not served within 450 ms"
    );
}

/// Whether `ok` becomes true within `bound`, asking again every millisecond.
fn served_within(bound: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if ok() {
            return true;
        }
        if start.elapsed() > bound {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn media_with_range_and_traversal_attempts() {
    let fixture = Fixture::new();
    let server = Server::start(ServerConfig::new(&fixture));
    // Find a site with a video.
    let (rel, domains, _) = sample_sites(&fixture.sites())
        .into_iter()
        .find(|(rel, _, _)| {
            std::fs::read_to_string(fixture.sites().join(rel))
                .unwrap()
                .contains("<video")
        })
        .expect("a sample site has a video");
    let xml = std::fs::read_to_string(fixture.sites().join(&rel)).unwrap();
    let video = &xml[xml.find("<video").unwrap()..];
    let src = between(video, "src=\"", "\"").to_owned();
    let file = fixture
        .sites()
        .join(&rel)
        .parent()
        .unwrap()
        .join("media")
        .join(&src);
    let bytes = std::fs::read(&file).unwrap();
    let domain = &domains[0];
    let url = format!("/media/{src}");

    let full = server.get(domain, &url);
    assert_eq!(full.status, 200);
    assert_eq!(full.header("content-type"), Some("video/mp4"));
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    assert_eq!(full.body, bytes);

    let part = server.request("GET", domain, &url, &[("Range", "bytes=100-199")]);
    assert_eq!(part.status, 206);
    assert_eq!(part.body, &bytes[100..200]);
    assert_eq!(
        part.header("content-range"),
        Some(format!("bytes 100-199/{}", bytes.len()).as_str())
    );
    let tail = server.request("GET", domain, &url, &[("Range", "bytes=-10")]);
    assert_eq!(tail.body, &bytes[bytes.len() - 10..]);
    let etag = full.header("etag").unwrap();
    let if_range = server.request(
        "GET",
        domain,
        &url,
        &[("Range", "bytes=0-9"), ("If-Range", etag)],
    );
    assert_eq!(if_range.status, 206);
    let stale = server.request(
        "GET",
        domain,
        &url,
        &[("Range", "bytes=0-9"), ("If-Range", "\"old\"")],
    );
    assert_eq!(stale.status, 200, "a stale If-Range gets the whole file");
    let beyond = server.request(
        "GET",
        domain,
        &url,
        &[("Range", &format!("bytes={}-", bytes.len() + 10))],
    );
    assert_eq!(beyond.status, 416);

    // A file outside the site's media folder must never be served.
    std::fs::write(fixture.dir.path().join("secret.txt"), "TOP SECRET").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", file.parent().unwrap().join("passwd.txt")).unwrap();
    std::os::unix::fs::symlink(
        fixture.dir.path().join("secret.txt"),
        file.parent().unwrap().join("link.txt"),
    )
    .unwrap();
    for path in [
        "/media/../site.xml",
        "/media/%2e%2e/site.xml",
        "/media/..%2fsite.xml",
        "/media/%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
        "/media/%252e%252e/site.xml",
        "/media/..\\site.xml",
        "/media/%5c..%5csite.xml",
        "/media/x%00.jpg",
        "/media/%c0%ae%c0%ae/site.xml",
        "/media//etc/passwd",
        "/media/passwd.txt",
        "/media/link.txt",
        "/media/",
    ] {
        let resp = server.get(domain, path);
        assert_eq!(resp.status, 404, "{path}: {}", resp.text());
        assert!(
            !resp.text().contains("TOP SECRET") && !resp.text().contains("root:"),
            "{path}"
        );
    }
    let raw = server.raw(format!("GET /media/../../../secret.txt HTTP/1.1\r\nHost: {domain}\r\nConnection: close\r\n\r\n").as_bytes());
    assert!(!raw.text().contains("TOP SECRET"));
}

#[test]
fn theme_assets_are_served_to_every_mapped_site_only() {
    let fixture = Fixture::new();
    let server = Server::start(ServerConfig::new(&fixture));
    let (domain, _, _) = main_domain(&fixture, "boulangerie-martin");
    let html = server.get(&domain, "/").text();
    let css = html
        .split("href=\"/assets/")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("the page links its theme stylesheet");
    let resp = server.get(&domain, &format!("/assets/{css}"));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(server.get(&domain, "/assets/../classic.xsl").status, 404);
    assert_eq!(
        server.get(&domain, "/assets/%2e%2e/classic.xsl").status,
        404
    );
    // Only to mapped hosts: an unknown name or a bare address gets what `/` gets there.
    for host in ["unknown.example", "127.0.0.1", "[::1]"] {
        let resp = server.get(host, &format!("/assets/{css}"));
        assert_eq!(resp.status, server.get(host, "/").status, "{host}");
        assert_ne!(resp.status, 200, "{host}");
        assert_ne!(
            resp.header("content-type"),
            Some("text/css; charset=utf-8"),
            "{host}"
        );
    }
}

#[test]
fn a_hard_link_in_a_media_folder_is_not_served() {
    let fixture = Fixture::new();
    let (domain, rel, _) = main_domain(&fixture, "boulangerie-martin");
    let media = fixture.sites().join(&rel).parent().unwrap().join("media");
    // A file outside every root, on the same filesystem, hard-linked into the site's media.
    let secret = fixture.sites().parent().unwrap().join("secret.txt");
    std::fs::write(&secret, "TOP SECRET").unwrap();
    std::fs::hard_link(&secret, media.join("planted.txt")).unwrap();
    let photo = std::fs::read_dir(&media)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .find(|n| n.ends_with(".jpg"))
        .unwrap();
    let server = Server::start(ServerConfig::new(&fixture));
    let resp = server.get(&domain, "/media/planted.txt");
    assert_eq!(resp.status, 404);
    assert!(!resp.text().contains("TOP SECRET"));
    assert_eq!(server.get(&domain, &format!("/media/{photo}")).status, 200);
    drop(server);
    // An operator who needs hard links (a deduplicating deploy) allows them explicitly.
    let mut config = ServerConfig::new(&fixture);
    config.media_hardlinks = true;
    let server = Server::start(config);
    assert_eq!(
        server.get(&domain, "/media/planted.txt").text(),
        "TOP SECRET"
    );
}

#[test]
fn a_theme_change_changes_etags_and_a_broken_theme_keeps_the_last_good_one() {
    let fixture = Fixture::new();
    let mut config = ServerConfig::new(&fixture);
    config.watch = true;
    let server = Server::start(config);
    let (domain, rel, _) = main_domain(&fixture, "boulangerie-martin");
    let xml = std::fs::read_to_string(fixture.sites().join(&rel)).unwrap();
    let theme = between(&xml, "href=\"", ".xsl").to_owned();
    let theme_path = fixture.stylesheets().join(format!("{theme}.xsl"));
    let before = server.get(&domain, "/");
    let etag = before.header("etag").unwrap().to_owned();

    // A harmless change (a comment) saved the way editors do: temp file, then rename.
    let original = std::fs::read_to_string(&theme_path).unwrap();
    let changed = original.replacen("</xsl:stylesheet>", "<!-- v2 --></xsl:stylesheet>", 1);
    let tmp = fixture.stylesheets().join(format!(".{theme}.xsl.tmp"));
    std::fs::write(&tmp, &changed).unwrap();
    std::fs::rename(&tmp, &theme_path).unwrap();
    wait_for(
        || server.get(&domain, "/").header("etag") != Some(etag.as_str()),
        "the theme change to change the ETag",
    );
    let revalidate = server.request("GET", &domain, "/", &[("If-None-Match", &etag)]);
    assert_eq!(revalidate.status, 200, "the old ETag no longer validates");

    // A broken theme: not swapped in, pages keep rendering with the last good version.
    let good = server.get(&domain, "/");
    std::fs::write(&theme_path, "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\"><xsl:template match=\"/\"><xsl:value-of select=\"((\"/></xsl:template></xsl:stylesheet>").unwrap();
    wait_for(
        || server.state.pages.themes.failure(&theme).is_some(),
        "the broken theme to be refused",
    );
    let still = server.get(&domain, "/");
    assert_eq!(still.status, 200);
    assert_eq!(still.header("etag"), good.header("etag"));
    assert_eq!(still.text(), good.text());
}

const XSL_HEAD: &str = r#"<?xml version="1.0"?>
<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:exsl="http://exslt.org/common" extension-element-prefixes="exsl">
<xsl:output method="html"/>"#;

/// Points a sample site at a hostile theme and returns (server, domain).
fn with_hostile_theme(fixture: &Fixture, body: &str) -> (Server, String) {
    std::fs::write(
        fixture.stylesheets().join("hostile.xsl"),
        format!("{XSL_HEAD}{body}</xsl:stylesheet>"),
    )
    .unwrap();
    let (domain, rel, _) = main_domain(fixture, "boulangerie-martin");
    let path = fixture.sites().join(rel);
    let xml = std::fs::read_to_string(&path).unwrap();
    let start = xml.find("<?xml-stylesheet").unwrap();
    let end = start + xml[start..].find("?>").unwrap() + 2;
    let xml = format!(
        "{}<?xml-stylesheet type=\"text/xsl\" href=\"hostile.xsl\"?>{}",
        &xml[..start],
        &xml[end..]
    );
    std::fs::write(&path, xml).unwrap();
    (Server::start(ServerConfig::new(fixture)), domain)
}

#[test]
fn a_stylesheet_cannot_read_outside_the_roots_nor_reach_the_network() {
    let fixture = Fixture::new();
    // A listener standing for any network service: it must see no connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::fs::write(fixture.dir.path().join("secret.xml"), "<s>TOP SECRET</s>").unwrap();
    let (server, domain) = with_hostile_theme(
        &fixture,
        &format!(
            r#"<xsl:template match="/"><p><xsl:copy-of select="document('/etc/passwd')"/>|<xsl:copy-of select="document('file:///etc/hostname')"/>|<xsl:copy-of select="document('../../secret.xml')"/>|<xsl:copy-of select="document('{}')"/>|<xsl:copy-of select="document('http://127.0.0.1:{port}/x.xml')"/></p></xsl:template>"#,
            fixture.dir.path().join("secret.xml").display()
        ),
    );
    let resp = server.get(&domain, "/");
    let text = resp.text();
    assert!(!text.contains("root:"), "{text}");
    assert!(!text.contains("TOP SECRET"), "{text}");
    let hostname = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
    if !hostname.trim().is_empty() {
        assert!(!text.contains(hostname.trim()), "{text}");
    }
    assert!(
        matches!(listener.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "document('http://...') opened a connection"
    );
}

#[test]
fn a_stylesheet_cannot_write_files() {
    let fixture = Fixture::new();
    let target = fixture.dir.path().join("written-by-xslt.txt");
    let (server, domain) = with_hostile_theme(
        &fixture,
        &format!(
            r#"<xsl:template match="/"><exsl:document href="{}" method="text">pwned</exsl:document><xsl:document href="{}.2" method="text">pwned</xsl:document><p>ok</p></xsl:template>"#,
            target.display(),
            target.display()
        ),
    );
    let resp = server.get(&domain, "/");
    assert_ne!(resp.status, 200);
    assert!(!target.exists(), "exsl:document wrote a file");
    assert!(!target.with_extension("txt.2").exists());
}

#[test]
fn an_external_entity_in_site_xml_is_not_expanded() {
    let fixture = Fixture::new();
    let server = Server::start(ServerConfig::new(&fixture));
    let (domain, rel, _) = main_domain(&fixture, "boulangerie-martin");
    let path = fixture.sites().join(rel);
    let xml = std::fs::read_to_string(&path).unwrap();
    let root = xml.find("<site").unwrap();
    let evil = format!(
        "{}<!DOCTYPE site [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>\n{}",
        &xml[..root],
        xml[root..].replacen("<name>", "<name>&xxe;", 1)
    );
    std::fs::write(&path, evil).unwrap();
    let resp = server.get(&domain, "/");
    assert!(!resp.text().contains("root:"));
    assert_eq!(resp.status, 500, "a site XML with a DOCTYPE is refused");
}

#[test]
fn overload_sheds_with_503_and_retry_after() {
    let fixture = Fixture::new();
    let mut config = ServerConfig::new(&fixture);
    config.render_threads = 1;
    config.render_queue = 1;
    let server = std::sync::Arc::new(Server::start(config));
    let (domain, _, _) = main_domain(&fixture, "le-bistrot-des-halles");
    let handles: Vec<_> = (0..48)
        .map(|_| {
            let server = server.clone();
            let domain = domain.clone();
            std::thread::spawn(move || {
                let r = server.get(&domain, "/");
                (r.status, r.header("retry-after").map(str::to_owned))
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let ok = results.iter().filter(|(s, _)| *s == 200).count();
    let shed: Vec<_> = results.iter().filter(|(s, _)| *s == 503).collect();
    assert!(ok >= 1, "some requests are served");
    assert!(
        !shed.is_empty(),
        "48 concurrent renders with 1 thread and a queue of 1 must shed"
    );
    assert!(shed.iter().all(|(_, retry)| retry.as_deref() == Some("1")));
    assert_eq!(ok + shed.len(), results.len(), "{results:?}");
    // Once the burst is over, the server serves normally.
    assert_eq!(server.get(&domain, "/").status, 200);
}

#[test]
fn the_binary_serves_and_stops_cleanly_on_sigterm() {
    let fixture = Fixture::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vitrine"))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--sites"])
        .arg(fixture.sites())
        .arg("--stylesheets")
        .arg(fixture.stylesheets())
        .args(["--shutdown-grace", "3"])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let get = |path: &str| -> Option<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(addr).ok()?;
        s.write_all(
            format!(
                "GET {path} HTTP/1.1\r\nHost: boulangerie-martin.fr\r\nConnection: close\r\n\r\n"
            )
            .as_bytes(),
        )
        .ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out)
    };
    wait_for(
        || get("/healthz").is_some_and(|r| r.starts_with("HTTP/1.1 200")),
        "the server to start",
    );
    assert!(get("/").unwrap().starts_with("HTTP/1.1 200"));
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(8),
            "did not exit after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
    assert!(
        get("/").is_none(),
        "new connections are refused after shutdown"
    );
}
