//! Theme hot reload against the running server (in-process, real Redis map, real inotify):
//! a change in `common/*.xsl` reaches every theme importing it within a second, editor save
//! patterns work, and a broken change keeps the last good version while saying where it is.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::*;

/// A watching server over a real Redis map of the sample sites.
fn watching_server(fixture: &Fixture) -> (Redis, Server) {
    let redis = redis_with_sample_map(fixture);
    let mut config = ServerConfig::new(fixture);
    config.redis = Some(redis.url());
    config.watch = true;
    (redis, Server::start(config))
}

/// For each theme, the main domain of one French sample site using it.
fn one_site_per_theme(fixture: &Fixture) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (rel, domains, _) in sample_sites(&fixture.sites()) {
        let xml = std::fs::read_to_string(fixture.sites().join(&rel)).unwrap();
        let theme = between(&xml, "href=\"", ".xsl\"").to_owned();
        if xml.contains("lang=\"fr\"") && !out.iter().any(|(t, _)| *t == theme) {
            out.push((theme, domains[0].clone()));
        }
    }
    out.sort();
    assert_eq!(out.len(), 3, "three themes in the samples: {out:?}");
    out
}

/// Saves `text` to `path` the way most editors and deploy tools do: a temp file beside it,
/// then an atomic rename over it.
fn save_via_rename(path: &Path, text: &str) {
    let tmp = path.with_file_name(format!(
        ".{}.tmp",
        path.file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

#[test]
fn a_common_template_change_reaches_every_theme_within_a_second() {
    let fixture = Fixture::new();
    let (_redis, server) = watching_server(&fixture);
    let sites = one_site_per_theme(&fixture);
    let before: Vec<(String, String)> = sites
        .iter()
        .map(|(_, domain)| {
            let r = server.get(domain, "/");
            assert_eq!(r.status, 200);
            assert!(r.text().contains("Tous droits réservés."), "{domain}");
            (r.header("etag").unwrap().to_owned(), r.text())
        })
        .collect();

    let i18n = fixture.stylesheets().join("common/i18n.xsl");
    let text = std::fs::read_to_string(&i18n).unwrap();
    let changed = text.replacen("Tous droits réservés.", "Tous droits réservés (v2).", 1);
    let saved = Instant::now();
    save_via_rename(&i18n, &changed);
    let mut pending: Vec<usize> = (0..sites.len()).collect();
    while !pending.is_empty() {
        assert!(
            saved.elapsed() < Duration::from_secs(10),
            "themes {pending:?} never picked the change up"
        );
        pending.retain(|&i| !server.get(&sites[i].1, "/").text().contains("(v2)"));
        std::thread::sleep(Duration::from_millis(10));
    }
    let elapsed = saved.elapsed();
    assert!(
        elapsed <= Duration::from_secs(1),
        "the change took {elapsed:?} to be live on every theme (promise: within a second)"
    );
    for ((theme, domain), (etag, body)) in sites.iter().zip(&before) {
        let after = server.get(domain, "/");
        assert_eq!(after.status, 200);
        assert_ne!(
            after.header("etag"),
            Some(etag.as_str()),
            "{theme}: new ETag"
        );
        assert_eq!(
            after
                .text()
                .replacen("(v2)", "", 1)
                .replacen("réservés .", "réservés.", 1),
            *body,
            "{theme}: only the changed text differs"
        );
        // A client revalidating with the old ETag gets the new page, not 304.
        let revalidated = server.request("GET", domain, "/", &[("If-None-Match", etag)]);
        assert_eq!(revalidated.status, 200, "{theme}");
    }
}

#[test]
fn a_backup_and_rename_save_never_drops_the_theme() {
    let fixture = Fixture::new();
    let (_redis, server) = watching_server(&fixture);
    let (_, domain) = one_site_per_theme(&fixture)
        .into_iter()
        .find(|(t, _)| t == "classic")
        .unwrap();
    let theme = fixture.stylesheets().join("classic.xsl");
    let text = std::fs::read_to_string(&theme).unwrap();
    let changed = text.replacen(
        "</xsl:stylesheet>",
        "<xsl:template name=\"unused-v2\"/></xsl:stylesheet>",
        1,
    );
    let etag = server.get(&domain, "/").header("etag").unwrap().to_owned();

    // vim with `nobackupcopy`: rename the file to its backup, write a new one, drop the
    // backup. The pause stands for a slow editor or disk: longer than the watcher's debounce.
    let backup = theme.with_file_name("classic.xsl~");
    std::fs::rename(&theme, &backup).unwrap();
    let pause_end = Instant::now() + Duration::from_millis(250);
    let mut statuses = Vec::new();
    while Instant::now() < pause_end {
        statuses.push(server.get(&domain, "/").status);
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::write(&theme, &changed).unwrap();
    std::fs::remove_file(&backup).unwrap();
    wait_for(
        || {
            let r = server.get(&domain, "/");
            statuses.push(r.status);
            r.header("etag") != Some(etag.as_str())
        },
        "the new version of classic.xsl to be live",
    );
    assert!(statuses.len() > 5, "{statuses:?}");
    assert!(
        statuses.iter().all(|&s| s == 200),
        "every request during the save was served: {statuses:?}"
    );
    assert!(server.state.pages.themes.get("classic").is_some());
    assert!(server.state.pages.themes.failure("classic").is_none());
}

#[test]
fn a_broken_change_keeps_the_last_good_version_and_names_file_and_line() {
    let fixture = Fixture::new();
    let (_redis, server) = watching_server(&fixture);
    let sites = one_site_per_theme(&fixture);
    let before: Vec<_> = sites
        .iter()
        .map(|(_, d)| {
            let r = server.get(d, "/");
            (r.header("etag").unwrap().to_owned(), r.body)
        })
        .collect();
    let generation = server.state.pages.themes.generation();

    let contact = fixture.stylesheets().join("common/contact.xsl");
    let good = std::fs::read_to_string(&contact).unwrap();
    let broken = good.replacen(
        "<xsl:value-of select=\"",
        "<xsl:value-of select=\"count((\"/><xsl:value-of select=\"",
        1,
    );
    let line = broken[..broken.find("count((").unwrap()]
        .matches('\n')
        .count() as u32
        + 1;
    save_via_rename(&contact, &broken);
    // A reload's effects are all visible once the generation has moved.
    wait_for(
        || {
            server.state.pages.themes.generation() > generation
                && server.state.pages.themes.failures().len() == 3
        },
        "the three themes importing common/contact.xsl to fail",
    );
    for (theme, _) in &sites {
        let failure = server.state.pages.themes.failure(theme).unwrap();
        let at = failure.location.as_ref().expect("a location");
        assert!(
            Path::new(&at.file).ends_with("common/contact.xsl"),
            "{theme}: {failure}"
        );
        assert_eq!(at.line, Some(line), "{theme}: {failure}");
        assert!(failure.to_string().contains(&format!("contact.xsl:{line}")));
    }
    for ((theme, domain), (etag, body)) in sites.iter().zip(&before) {
        let r = server.get(domain, "/");
        assert_eq!(r.status, 200, "{theme} keeps serving");
        assert_eq!(
            r.header("etag"),
            Some(etag.as_str()),
            "{theme}: same version"
        );
        assert!(r.body == *body, "{theme}: same page");
    }

    // Fixed: the failures clear and the themes compile again (same bytes, same ETags).
    save_via_rename(&contact, &good);
    wait_for(
        || server.state.pages.themes.failures().is_empty(),
        "the fix to be compiled",
    );
    for ((theme, domain), (etag, _)) in sites.iter().zip(&before) {
        let r = server.get(domain, "/");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("etag"), Some(etag.as_str()), "{theme}");
    }
}
