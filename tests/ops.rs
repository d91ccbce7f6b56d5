//! The operator commands, run as the real binary against temp copies of the sample sites and
//! a real redis-server: `vitrine render HOST [PAGE]` and `render --all` produce the bytes the
//! running server sends; `vitrine check` finds each kind of problem and passes on clean data.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::Path;

use serde_json::Value;

use crate::support::*;

/// Runs `vitrine ARGS --sites S --stylesheets T [--redis URL]` on the fixture.
fn run(fixture: &Fixture, redis: Option<&Redis>, args: &[&str]) -> std::process::Output {
    let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
    argv.push("--sites".into());
    argv.push(fixture.sites().into());
    argv.push("--stylesheets".into());
    argv.push(fixture.stylesheets().into());
    if let Some(redis) = redis {
        argv.push("--redis".into());
        argv.push(redis.url().into());
    }
    let refs: Vec<&std::ffi::OsStr> = argv.iter().map(OsString::as_os_str).collect();
    vitrine_output(&refs)
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The server's path for a page: `/` for the first, `/<id>` for the others.
fn path_of(i: usize, page: &str) -> String {
    if i == 0 {
        "/".to_owned()
    } else {
        format!("/{page}")
    }
}

#[test]
fn render_prints_what_the_server_sends_for_every_page() {
    let fixture = Fixture::new();
    let (redis, server) = redis_server(&fixture);
    let mut compared = 0;
    for (rel, domains, pages) in sample_sites(&fixture.sites()) {
        // A secondary domain too: the server sends it to the main one, and `render` prints
        // the page the visitor lands on there.
        let main = &domains[0];
        for host in [main, domains.last().unwrap()] {
            for (i, page) in pages.iter().enumerate() {
                let mut served = server.get(host, &path_of(i, page));
                if host != main {
                    let to = format!("http://{main}{}", path_of(i, page));
                    assert!(served.is_moved_to(&to), "{host} {page}: {}", served.status);
                    served = server.get(main, &path_of(i, page));
                }
                assert_eq!(served.status, 200, "{host} {page}");
                assert!(served.header("content-encoding").is_none());
                let out = run(&fixture, Some(&redis), &["render", host, page]);
                assert!(
                    out.status.success(),
                    "{rel} {host} {page}: {}",
                    stderr(&out)
                );
                assert_eq!(
                    stderr(&out).contains(&format!("{host} is an alias of {main}")),
                    host != main,
                    "{}",
                    stderr(&out)
                );
                assert!(
                    out.stdout == served.body,
                    "{rel}: `vitrine render {host} {page}` differs from GET {}",
                    path_of(i, page)
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 60, "{compared} pages compared");

    // Default page = home; the host is normalised like a Host header (case, port, trailing
    // dot, Unicode IDN); the in-memory map (no --redis) resolves the same.
    let (domain, _, _) = main_domain(&fixture, "patisserie-dupont");
    let home = server.get(&domain, "/").body;
    let (unicode, _) = idna::domain_to_unicode(&domain);
    for host in [
        domain.clone(),
        format!("{}:8080", domain.to_uppercase()),
        format!("{domain}."),
        unicode,
    ] {
        let out = run(&fixture, Some(&redis), &["render", &host]);
        assert!(out.status.success(), "{host}: {}", stderr(&out));
        assert!(out.stdout == home, "render {host} is the home page");
        let out = run(&fixture, None, &["render", &host, "/"]);
        assert!(out.status.success(), "{host}: {}", stderr(&out));
        assert!(out.stdout == home, "render {host} / without Redis");
    }
}

#[test]
fn render_errors_say_which_map_and_which_pages() {
    let fixture = Fixture::new();
    let redis = redis_with_sample_map(&fixture);
    let out = run(&fixture, Some(&redis), &["render", "nowhere.example"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(
        err.contains(&format!("Redis map at {}", redis.url())),
        "{err}"
    );
    assert!(err.contains("vitrine domains set nowhere.example"), "{err}");

    let out = run(&fixture, None, &["render", "nowhere.example"]);
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(err.contains("in-memory map of"), "{err}");
    assert!(err.contains("<domain>nowhere.example</domain>"), "{err}");

    let (domain, rel, pages) = main_domain(&fixture, "boulangerie-martin");
    let out = run(&fixture, Some(&redis), &["render", &domain, "no-such-page"]);
    assert!(!out.status.success());
    assert!(
        out.stdout.is_empty(),
        "no page is printed for an unknown page"
    );
    let err = stderr(&out);
    assert!(
        err.contains(&rel) && err.contains("\"no-such-page\""),
        "{err}"
    );
    for page in &pages {
        assert!(err.contains(page.as_str()), "{page} listed: {err}");
    }

    let out = run(&fixture, None, &["render", "bad host!"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not a valid host name"));
}

/// Every regular file beneath `dir`, relative, sorted.
fn files_under(dir: &Path) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let ty = entry.file_type().unwrap();
        let name = entry.file_name().to_string_lossy().into_owned();
        if ty.is_dir() {
            for f in files_under(&entry.path()) {
                out.insert(format!("{name}/{f}"));
            }
        } else if ty.is_file() {
            out.insert(name);
        }
    }
    out
}

#[test]
fn render_all_writes_the_servers_bytes_and_a_hosts_map() {
    let fixture = Fixture::new();
    let (_redis, server) = redis_server(&fixture);
    let out_dir = fixture.dir.path().join("static");
    let out = run(
        &fixture,
        None,
        &[
            "render",
            "--all",
            "--out",
            out_dir.to_str().unwrap(),
            "--threads",
            "3",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let sites = sample_sites(&fixture.sites());
    let total_pages: usize = sites.iter().map(|(_, _, p)| p.len()).sum();
    let summary = stderr(&out);
    assert!(
        summary.contains(&format!(
            "exported {} sites ({} without failure), {total_pages} pages",
            sites.len(),
            sites.len()
        )),
        "{summary}"
    );
    assert!(summary.contains(" 0 failures"), "{summary}");

    let mut expected_files = BTreeSet::from(["hosts.map".to_owned()]);
    let mut expected_map = BTreeSet::new();
    for (rel, domains, pages) in &sites {
        let id = rel.split('/').nth(1).unwrap();
        let dir = out_dir.join(id);
        let home = server.get(&domains[0], "/");
        assert_eq!(std::fs::read(dir.join("index.html")).unwrap(), home.body);
        expected_files.insert(format!("{id}/index.html"));
        for (i, page) in pages.iter().enumerate() {
            let served = server.get(&domains[0], &path_of(i, page));
            assert_eq!(served.status, 200);
            let file = std::fs::read(dir.join(format!("{page}.html"))).unwrap();
            assert!(
                file == served.body,
                "{id}/{page}.html differs from the server"
            );
            expected_files.insert(format!("{id}/{page}.html"));
        }
        let not_found = server.get(&domains[0], "/404");
        assert_eq!(not_found.status, 404);
        assert!(std::fs::read(dir.join("404.html")).unwrap() == not_found.body);
        expected_files.insert(format!("{id}/404.html"));
        let media = fixture.sites().join(rel).parent().unwrap().join("media");
        if media.is_dir() {
            let link = std::fs::read_link(dir.join("media")).unwrap();
            assert_eq!(link.canonicalize().unwrap(), media.canonicalize().unwrap());
        }
        for d in domains {
            expected_map.insert(format!("{d} {id};"));
        }
    }
    assert_eq!(files_under(&out_dir), expected_files);
    let map_text = std::fs::read_to_string(out_dir.join("hosts.map")).unwrap();
    let map: BTreeSet<String> = map_text.lines().map(str::to_owned).collect();
    assert_eq!(map.len(), map_text.lines().count(), "no duplicate lines");
    assert_eq!(map, expected_map);

    // Never into a folder that already holds a tree.
    let again = run(
        &fixture,
        None,
        &["render", "--all", "--out", out_dir.to_str().unwrap()],
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("is not empty"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn render_all_reports_a_failing_site_and_exports_the_others() {
    let fixture = Fixture::new();
    let (_, rel, _) = main_domain(&fixture, "garage-bernard");
    edit(&fixture.sites().join(&rel), |x| {
        x.replacen("href=\"light.xsl\"", "href=\"gone.xsl\"", 1)
    });
    let out_dir = fixture.dir.path().join("static");
    let out = run(
        &fixture,
        None,
        &["render", "--all", "--out", out_dir.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("failed: {rel}")), "{err}");
    assert!(err.contains("\"gone\" does not exist"), "{err}");
    assert!(err.contains(" 1 failures"), "{err}");
    assert!(!out_dir.join("garage-bernard").exists());
    assert!(out_dir.join("boulangerie-martin/index.html").is_file());
}

// ------------------------------------------------------------------------------ check

fn edit(path: &Path, f: impl FnOnce(&str) -> String) {
    let text = std::fs::read_to_string(path).unwrap();
    let changed = f(&text);
    assert_ne!(
        changed,
        text,
        "the edit of {} changed nothing",
        path.display()
    );
    std::fs::write(path, changed).unwrap();
}

/// 1-based line of the first occurrence of `needle`.
fn line_of(path: &Path, needle: &str) -> u64 {
    let text = std::fs::read_to_string(path).unwrap();
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in {}", path.display()));
    text[..at].matches('\n').count() as u64 + 1
}

/// Runs `vitrine check --json`; returns the exit code and the report.
fn check(fixture: &Fixture, redis: Option<&Redis>) -> (i32, Value) {
    let out = run(fixture, redis, &["check", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            stderr(&out)
        )
    });
    (out.status.code().unwrap(), report)
}

/// The problems of a failed check, after asserting they are all of `kind`.
fn problems_of(fixture: &Fixture, redis: Option<&Redis>, kind: &str) -> Vec<Value> {
    let (code, report) = check(fixture, redis);
    assert_eq!(code, 1, "{report:#}");
    assert_eq!(report["ok"], false);
    let problems = report["problems"].as_array().unwrap().clone();
    assert!(!problems.is_empty());
    for p in &problems {
        assert_eq!(p["kind"], kind, "only {kind} problems expected: {report:#}");
        assert!(!p["fix"].as_str().unwrap().is_empty());
    }
    assert_eq!(
        report["summary"]["problems"].as_u64(),
        Some(problems.len() as u64)
    );
    problems
}

fn site_file(fixture: &Fixture, id: &str) -> (String, std::path::PathBuf) {
    let (_, rel, _) = main_domain(fixture, id);
    let path = fixture.sites().join(&rel);
    (rel, path)
}

#[test]
fn check_passes_on_the_clean_sample_sites_with_and_without_redis() {
    let fixture = Fixture::new();
    let redis = redis_with_sample_map(&fixture);
    for redis in [None, Some(&redis)] {
        let (code, report) = check(&fixture, redis);
        assert_eq!(code, 0, "{report:#}");
        assert_eq!(report["ok"], true);
        assert_eq!(report["problems"].as_array().unwrap().len(), 0);
        let sites = sample_sites(&fixture.sites());
        let s = &report["summary"];
        assert_eq!(s["themes"], 3);
        assert_eq!(s["sites"].as_u64(), Some(sites.len() as u64));
        let pages: usize = sites.iter().map(|(_, _, p)| p.len() + 1).sum();
        assert_eq!(
            s["renders"].as_u64(),
            Some(pages as u64),
            "every page + 404"
        );
        let domains: usize = sites.iter().map(|(_, d, _)| d.len()).sum();
        assert_eq!(s["domains"].as_u64(), Some(domains as u64));
        assert_eq!(s["map_entries"].as_u64(), redis.map(|_| domains as u64));
    }
    let human = run(&fixture, None, &["check"]);
    assert!(human.status.success());
    assert!(String::from_utf8_lossy(&human.stdout).contains("no problem"));
}

#[test]
fn check_reports_a_broken_stylesheet_with_the_imported_file_and_line() {
    let fixture = Fixture::new();
    let contact = fixture.stylesheets().join("common/contact.xsl");
    edit(&contact, |x| {
        x.replacen(
            "<xsl:value-of select=\"",
            "<xsl:value-of select=\"(((\"/><xsl:value-of select=\"",
            1,
        )
    });
    let line = line_of(&contact, "(((");
    let problems = problems_of(&fixture, None, "stylesheet");
    let themes: BTreeSet<&str> = problems
        .iter()
        .map(|p| p["theme"].as_str().unwrap())
        .collect();
    assert_eq!(themes, BTreeSet::from(["classic", "light", "modern"]));
    for p in &problems {
        assert!(
            p["file"]
                .as_str()
                .unwrap()
                .ends_with("stylesheets/common/contact.xsl"),
            "{p}"
        );
        assert_eq!(p["line"].as_u64(), Some(line), "{p}");
        assert!(p["message"]
            .as_str()
            .unwrap()
            .contains("sites use this theme"));
    }
}

#[test]
fn check_reports_xml_that_is_not_well_formed() {
    let fixture = Fixture::new();
    let (rel, path) = site_file(&fixture, "fleurs-et-sens");
    edit(&path, |x| x.replacen("</identity>", "</identiti>", 1));
    let line = line_of(&path, "</identiti>");
    let problems = problems_of(&fixture, None, "xml");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0]["site"], rel.as_str());
    assert_eq!(problems[0]["line"].as_u64(), Some(line));
    // The human report names file:line and the fix.
    let human = run(&fixture, None, &["check"]);
    assert_eq!(human.status.code(), Some(1));
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains(&format!("[xml] {}:{line}", path.display())),
        "{text}"
    );
    assert!(text.contains("fix: "), "{text}");
    assert!(text.contains("1 problems (1 xml)"), "{text}");
}

#[test]
fn check_reports_schema_invalid_xml_with_its_line() {
    let fixture = Fixture::new();
    let (rel, path) = site_file(&fixture, "kine-rousseau");
    edit(&path, |x| {
        x.replacen("<country code=\"FR\"", "<country code=\"France\"", 1)
    });
    let line = line_of(&path, "code=\"France\"");
    let problems = problems_of(&fixture, None, "schema");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0]["site"], rel.as_str());
    assert_eq!(problems[0]["line"].as_u64(), Some(line), "{}", problems[0]);
}

#[test]
fn check_reports_an_unknown_theme() {
    let fixture = Fixture::new();
    let (rel, path) = site_file(&fixture, "garage-bernard");
    edit(&path, |x| {
        x.replacen("href=\"light.xsl\"", "href=\"nosuch.xsl\"", 1)
    });
    let problems = problems_of(&fixture, None, "theme");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0]["site"], rel.as_str());
    assert!(problems[0]["message"]
        .as_str()
        .unwrap()
        .contains("\"nosuch\""));
}

#[test]
fn check_reports_every_page_that_fails_to_render() {
    let fixture = Fixture::new();
    // Compiles, but recurses until the transform's depth budget stops it.
    std::fs::write(
        fixture.stylesheets().join("loop.xsl"),
        "<xsl:stylesheet version=\"1.0\" xmlns:xsl=\"http://www.w3.org/1999/XSL/Transform\">\n\
         <xsl:template match=\"/\"><xsl:call-template name=\"again\"/></xsl:template>\n\
         <xsl:template name=\"again\">\n<xsl:call-template name=\"again\"/>\n</xsl:template>\n\
         </xsl:stylesheet>\n",
    )
    .unwrap();
    let (rel, path) = site_file(&fixture, "electricite-fabre");
    edit(&path, |x| {
        x.replacen("href=\"light.xsl\"", "href=\"loop.xsl\"", 1)
    });
    let (_, _, pages) = main_domain(&fixture, "electricite-fabre");
    let problems = problems_of(&fixture, None, "render");
    assert_eq!(
        problems.len(),
        pages.len() + 1,
        "every page and the 404 page"
    );
    let seen: BTreeSet<&str> = problems
        .iter()
        .map(|p| p["page"].as_str().unwrap())
        .collect();
    assert!(
        seen.contains("(home)") && seen.contains("(not found)"),
        "{seen:?}"
    );
    for p in &problems {
        assert_eq!(p["site"], rel.as_str());
        assert_eq!(p["theme"], "loop");
        assert!(p["file"].as_str().unwrap().ends_with("loop.xsl"), "{p}");
        assert!(p["line"].as_u64().is_some(), "{p}");
    }
}

#[test]
fn check_reports_a_map_entry_to_a_missing_file() {
    let fixture = Fixture::new();
    let redis = redis_with_sample_map(&fixture);
    redis.set("ghost.example", "00/ghost/site.xml");
    let problems = problems_of(&fixture, Some(&redis), "map-missing-file");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0]["host"], "ghost.example");
}

#[test]
fn check_reports_a_map_entry_to_a_file_not_declaring_the_host() {
    let fixture = Fixture::new();
    let redis = redis_with_sample_map(&fixture);
    let (rel, _) = site_file(&fixture, "boulangerie-martin");
    redis.set("pain.example", &rel);
    let problems = problems_of(&fixture, Some(&redis), "map-undeclared");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0]["host"], "pain.example");
    assert_eq!(problems[0]["site"], rel.as_str());
}

#[test]
fn check_reports_a_declared_domain_missing_from_the_map() {
    let fixture = Fixture::new();
    let redis = redis_with_sample_map(&fixture);
    let (domain, rel, _) = main_domain(&fixture, "studio-lumiere");
    assert!(redis
        .command(&["DEL", &format!("vitrine:domain:{domain}")])
        .unwrap()
        .starts_with(":1"));
    let problems = problems_of(&fixture, Some(&redis), "unmapped");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0]["host"], domain.as_str());
    assert_eq!(problems[0]["site"], rel.as_str());
}

#[test]
fn check_reports_a_domain_declared_by_two_sites() {
    let fixture = Fixture::new();
    let (domain, owner, _) = main_domain(&fixture, "boulangerie-martin");
    let (rel, path) = site_file(&fixture, "fleurs-et-sens");
    edit(&path, |x| {
        x.replacen(
            "</domains>",
            &format!("  <domain>{domain}</domain>\n  </domains>"),
            1,
        )
    });
    let problems = problems_of(&fixture, None, "duplicate-domain");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0]["host"], domain.as_str());
    let message = problems[0]["message"].as_str().unwrap();
    assert!(
        message.contains(&owner) && message.contains(&rel),
        "{message}"
    );
}

#[test]
fn check_reports_a_domain_mapped_to_another_site_and_bad_map_keys() {
    let fixture = Fixture::new();
    let redis = redis_with_sample_map(&fixture);
    let (domain, _, _) = main_domain(&fixture, "plomberie-leroy");
    let (other, _) = site_file(&fixture, "garage-bernard");
    redis.set(&domain, &other);
    let (code, report) = check(&fixture, Some(&redis));
    assert_eq!(code, 1);
    let kinds: BTreeSet<&str> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    // The entry points to a file that does not declare it, and the declaring site lost it.
    assert_eq!(
        kinds,
        BTreeSet::from(["map-undeclared", "mapped-elsewhere"])
    );

    let fixture = Fixture::new();
    let redis = redis_with_sample_map(&fixture);
    let (_, rel, _) = main_domain(&fixture, "plomberie-leroy");
    redis.set("Plomberie-Leroy.FR", &rel);
    redis.set("plomberie.example", "../etc/passwd");
    let problems = problems_of(&fixture, Some(&redis), "map-entry");
    let hosts: BTreeSet<&str> = problems
        .iter()
        .map(|p| p["host"].as_str().unwrap())
        .collect();
    assert_eq!(
        hosts,
        BTreeSet::from(["Plomberie-Leroy.FR", "plomberie.example"])
    );
}

#[test]
fn check_reports_what_the_schema_leaves_to_a_lint() {
    // A site in the wrong shard folder.
    let fixture = Fixture::new();
    let (rel, _) = site_file(&fixture, "fleurs-et-sens");
    let site_dir = fixture.sites().join(&rel).parent().unwrap().to_owned();
    let wrong = fixture.sites().join("00/fleurs-et-sens");
    std::fs::create_dir_all(wrong.parent().unwrap()).unwrap();
    std::fs::rename(&site_dir, &wrong).unwrap();
    let problems = problems_of(&fixture, None, "misplaced");
    assert_eq!(problems.len(), 1);
    assert!(problems[0]["message"].as_str().unwrap().contains(&rel));

    // Two pages with one id.
    let fixture = Fixture::new();
    let (_, path) = site_file(&fixture, "boulangerie-martin");
    edit(&path, |x| {
        x.replacen("id=\"la-maison\"", "id=\"nos-pains\"", 1)
    });
    let problems = problems_of(&fixture, None, "duplicate-page");
    assert_eq!(problems[0]["page"], "nos-pains");

    // A photo whose file is gone.
    let fixture = Fixture::new();
    let (_, path) = site_file(&fixture, "boulangerie-martin");
    let xml = std::fs::read_to_string(&path).unwrap();
    let src = between(&xml, "<photo src=\"", "\"").to_owned();
    std::fs::remove_file(path.parent().unwrap().join("media").join(&src)).unwrap();
    let problems = problems_of(&fixture, None, "missing-media");
    assert_eq!(problems.len(), 1);
    assert!(problems[0]["message"].as_str().unwrap().contains(&src));

    // A declared domain that the schema's pattern lets through but no Host can match.
    let fixture = Fixture::new();
    let (_, path) = site_file(&fixture, "kine-rousseau");
    edit(&path, |x| {
        x.replacen(
            "<domain>www.kine-rousseau.fr",
            "<domain>www..kine-rousseau.fr",
            1,
        )
    });
    let problems = problems_of(&fixture, None, "domain");
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0]["host"], "www..kine-rousseau.fr");
}
