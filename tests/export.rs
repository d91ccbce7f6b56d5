//! End-to-end tests of `vitrine export` and `vitrine unpublish`: the real binary, a real
//! redis-server, real files in temp dirs, and the real server reading what was exported.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use rand::rngs::Xoshiro256PlusPlus;
use rand::{RngExt, SeedableRng};
use serde_json::{json, Value};
use vitrine::render::xslt::{parse_document, Schema};
use vitrine::site::site_path;

use crate::support::*;

/// An empty sites folder, the stylesheets and a redis-server.
struct Env {
    fixture: Fixture,
    redis: Redis,
}

impl Env {
    /// Also puts the test at the lowest CPU priority (see [`low_priority`]).
    fn new() -> Env {
        low_priority();
        Env {
            fixture: Fixture::empty_sites(),
            redis: Redis::start(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.fixture.dir.path().join(name)
    }

    /// Writes `records` to `name` and exports them with the map (and `--json`).
    fn export(&self, name: &str, records: &[Value]) -> Run {
        let file = self.path(name);
        write_jsonl(&file, records);
        self.export_file(&file, &[])
    }

    fn export_file(&self, file: &Path, extra: &[&str]) -> Run {
        let sites = self.fixture.sites();
        let styles = self.fixture.stylesheets();
        let url = self.redis.url();
        let mut args = vec![
            "export",
            "--from",
            file.to_str().unwrap(),
            "--sites",
            sites.to_str().unwrap(),
            "--stylesheets",
            styles.to_str().unwrap(),
            "--redis",
            &url,
            "--json",
        ];
        args.extend_from_slice(extra);
        vitrine(&args)
    }

    fn server(&self) -> Server {
        let mut config = ServerConfig::new(&self.fixture);
        config.redis = Some(self.redis.url());
        Server::start(config)
    }

    fn site_file(&self, id: &str) -> PathBuf {
        self.fixture.sites().join(site_path(id))
    }

    /// `vitrine unpublish ID` on this environment's sites and Redis.
    fn unpublish(&self, id: &str) -> Run {
        let sites = self.fixture.sites();
        vitrine(&[
            "unpublish",
            id,
            "--sites",
            sites.to_str().unwrap(),
            "--redis",
            &self.redis.url(),
        ])
    }

    fn domain(&self, host: &str) -> Option<String> {
        self.redis.get(&format!("vitrine:domain:{host}"))
    }
}

fn without_domain(mut record: Value, domain: &str) -> Value {
    record["domains"]
        .as_array_mut()
        .unwrap()
        .retain(|d| d != domain);
    record
}

fn with_domain(mut record: Value, domain: &str) -> Value {
    record["domains"]
        .as_array_mut()
        .unwrap()
        .push(domain.into());
    record
}

fn ok(run: &Run) -> Value {
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    run.summary()
}

#[test]
fn hostile_text_round_trips_through_xml_and_html() {
    // CPU-heavy (exporter runs): keeps the timing-sensitive tests from running beside it.
    let _gate = shared();
    let env = Env::new();
    let hostile = "Tom & Jerry <b>bold</b> \"quoted\" 'single' ]]> <!-- c --> <?pi x?> \
                   &amp; </script><script>alert(1)</script> 🥐 עברית مرحبا";
    let mut r = sample_record("boulangerie-martin");
    r["identity"]["name"] = hostile.into();
    r["pages"][0]["title"] = hostile.into();
    r["pages"][0]["sections"][0]["blocks"] = json!([
        {"p": [hostile, " ", {"strong": hostile}, " ",
               {"a": hostile, "href": "https://example.com/?a=1&b=\"2\"<3>"}]}
    ]);
    ok(&env.export("hostile.jsonl", &[r]));

    // The XML holds exactly the text of the record, and matches the schema.
    let xml = std::fs::read(env.site_file("boulangerie-martin")).unwrap();
    let doc = parse_document(&xml, "site.xml").unwrap();
    Schema::site().unwrap().validate(&doc).unwrap();
    let root = doc.root().unwrap();
    assert_eq!(
        root.child("identity")
            .unwrap()
            .child("name")
            .unwrap()
            .text(),
        hostile
    );
    let page = root.child("pages").unwrap().child("page").unwrap();
    assert_eq!(page.attr("title").unwrap(), hostile);
    let p = page.child("section").unwrap().child("p").unwrap();
    assert_eq!(p.text(), format!("{hostile} {hostile} {hostile}"));
    assert_eq!(
        p.child("a").unwrap().attr("href").unwrap(),
        "https://example.com/?a=1&b=\"2\"<3>"
    );

    // The page shows the text as text.
    let server = env.server();
    let resp = server.get("boulangerie-martin.fr", "/");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let html = resp.text();
    assert!(
        html.contains("Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt;"),
        "{html}"
    );
    assert!(
        html.contains("]]&gt; &lt;!-- c --&gt; &lt;?pi x?&gt; &amp;amp;"),
        "{html}"
    );
    assert!(html.contains("🥐 עברית مرحبا"), "{html}");
    assert!(!html.contains("<b>bold</b>"), "{html}");
    assert!(!html.contains("<script>alert(1)"), "{html}");
    // In attributes, quotes are escaped (libxml2's HTML serializer leaves `<!--…-->` as is
    // inside a quoted attribute value, for server-side includes; the quotes keep it inert).
    assert!(
        html.contains("content=\"Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt; &quot;quoted&quot;"),
        "{html}"
    );
}

#[test]
fn export_reproduces_the_sample_sites_and_a_second_run_writes_nothing() {
    // CPU-heavy (exporter runs): keeps the timing-sensitive tests from running beside it.
    let _gate = shared();
    let env = Env::new();
    let records = repo().join("sample-sites/records.jsonl");
    let first = ok(&env.export_file(&records, &[]));
    assert_eq!(first["records"], 14);
    assert_eq!(first["written"], 14);
    assert!(first["domains_added"].as_u64().unwrap() >= 28, "{first}");
    // Byte for byte the committed sample XML.
    let committed = vitrine::site::list_site_files(&repo().join("sample-sites")).unwrap();
    assert_eq!(
        vitrine::site::list_site_files(&env.fixture.sites()).unwrap(),
        committed
    );
    let mut mtimes = Vec::new();
    for rel in &committed {
        let ours = env.fixture.sites().join(rel);
        assert!(
            std::fs::read(&ours).unwrap()
                == std::fs::read(repo().join("sample-sites").join(rel)).unwrap(),
            "{rel} differs from the committed sample"
        );
        mtimes.push(std::fs::metadata(&ours).unwrap().modified().unwrap());
    }
    std::thread::sleep(Duration::from_millis(20));
    let second = ok(&env.export_file(&records, &[]));
    assert_eq!(second["written"], 0, "{second}");
    assert_eq!(second["unchanged"], 14, "{second}");
    assert_eq!(second["domains_added"], 0, "{second}");
    assert_eq!(second["domains_removed"], 0, "{second}");
    for (rel, before) in committed.iter().zip(mtimes) {
        let now = std::fs::metadata(env.fixture.sites().join(rel))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(now, before, "{rel} was rewritten");
    }
    // Every domain of every sample site is served: the main one with its page, the others
    // with a 301 to it (the default policy; the samples' records set none).
    let server = env.server();
    for r in sample_records() {
        let domains = r["domains"].as_array().unwrap();
        let main = domains[0].as_str().unwrap();
        assert_eq!(server.get(main, "/").status, 200, "{main}");
        for d in &domains[1..] {
            let resp = server.get(d.as_str().unwrap(), "/contact?x=1");
            assert!(
                resp.is_moved_to(&format!("http://{main}/contact?x=1")),
                "{d}: {} {:?}",
                resp.status,
                resp.header("location")
            );
        }
    }
}

#[test]
fn a_domain_moves_between_sites_in_one_file_in_either_order() {
    // CPU-heavy (exporter runs): keeps the timing-sensitive tests from running beside it.
    let _gate = shared();
    let env = Env::new();
    let a = sample_record("boulangerie-martin");
    let b = sample_record("patisserie-dupont");
    let d = "boulangeriemartin.fr";
    ok(&env.export("base.jsonl", &[a.clone(), b.clone()]));
    assert_eq!(
        env.domain(d).as_deref(),
        Some("3c/boulangerie-martin/site.xml")
    );

    // B claims it on the line before A drops it.
    let s = ok(&env.export(
        "move1.jsonl",
        &[with_domain(b.clone(), d), without_domain(a.clone(), d)],
    ));
    assert_eq!(s["failed"], 0);
    assert_eq!(
        env.domain(d).as_deref(),
        Some("fd/patisserie-dupont/site.xml")
    );
    // An alias now, of the other site: sent to its main domain.
    let server = env.server();
    assert!(server
        .get(d, "/")
        .is_moved_to("http://xn--ptisserie-dupont-wmb.fr/"));

    // And back: A drops nothing and claims it first, B drops it on the next line.
    let s = ok(&env.export("move2.jsonl", &[a.clone(), b.clone()]));
    assert_eq!(s["domains_added"], 1, "{s}");
    assert_eq!(s["domains_removed"], 1, "{s}");
    assert_eq!(
        env.domain(d).as_deref(),
        Some("3c/boulangerie-martin/site.xml")
    );
    assert!(server
        .get(d, "/")
        .is_moved_to("http://boulangerie-martin.fr/"));
    // The per-site set follows.
    let members = env
        .redis
        .command(&["SMEMBERS", "vitrine:site:patisserie-dupont:domains"])
        .unwrap();
    assert!(!members.contains(d), "{members}");
}

#[test]
fn a_domain_of_another_site_is_not_stolen() {
    // CPU-heavy (exporter runs): keeps the timing-sensitive tests from running beside it.
    let _gate = shared();
    let env = Env::new();
    let a = sample_record("boulangerie-martin");
    let b = sample_record("patisserie-dupont");
    let d = "boulangeriemartin.fr";
    ok(&env.export("base.jsonl", &[a.clone(), b.clone()]));
    let b_before = std::fs::read(env.site_file("patisserie-dupont")).unwrap();

    let mut b2 = with_domain(b.clone(), d);
    b2["identity"]["slogan"] = "Nouveau slogan".into();
    let run = env.export("steal.jsonl", &[b2]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let s = run.summary();
    assert_eq!(s["failed"], 1);
    assert_eq!(s["failures"][0]["kind"], "conflict");
    for name in ["boulangerie-martin", "patisserie-dupont", d] {
        assert!(
            run.stderr.contains(name),
            "{name} not named: {}",
            run.stderr
        );
    }
    assert_eq!(
        env.domain(d).as_deref(),
        Some("3c/boulangerie-martin/site.xml")
    );
    // Nothing of B was written.
    assert_eq!(
        std::fs::read(env.site_file("patisserie-dupont")).unwrap(),
        b_before
    );

    // Two exporters racing for a free domain: exactly one gets it, whatever the timing.
    let free = "disputed.example.fr";
    let k = sample_record("kine-rousseau");
    let f = sample_record("fleurs-et-sens");
    write_jsonl(&env.path("k.jsonl"), &[with_domain(k, free)]);
    write_jsonl(&env.path("f.jsonl"), &[with_domain(f, free)]);
    let (rk, rf) = std::thread::scope(|s| {
        let k = s.spawn(|| env.export_file(&env.path("k.jsonl"), &[]));
        let f = s.spawn(|| env.export_file(&env.path("f.jsonl"), &[]));
        (k.join().unwrap(), f.join().unwrap())
    });
    let winners: Vec<&str> = [("kine-rousseau", &rk), ("fleurs-et-sens", &rf)]
        .iter()
        .filter(|(_, r)| r.code == Some(0))
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(winners.len(), 1, "{}\n{}", rk.stderr, rf.stderr);
    let owner = env.domain(free).unwrap();
    assert!(owner.contains(winners[0]), "{owner}");
    let loser = if winners[0] == "kine-rousseau" {
        &rf
    } else {
        &rk
    };
    assert!(loser.stderr.contains(winners[0]), "{}", loser.stderr);
}

#[test]
fn a_dropped_or_unpublished_domain_that_moved_to_another_site_stays_with_it() {
    // CPU-heavy (exporter runs): keeps the timing-sensitive tests from running beside it.
    let _gate = shared();
    let env = Env::new();
    let a = sample_record("boulangerie-martin");
    let (moved, kept) = ("ancien-fournil.fr", "fournil-martin.fr");
    ok(&env.export(
        "a.jsonl",
        &[with_domain(with_domain(a.clone(), moved), kept)],
    ));
    assert_eq!(
        env.domain(moved).as_deref(),
        Some("3c/boulangerie-martin/site.xml")
    );
    // An operator gives one of A's domains to another site by hand.
    let other = "47/garage-bernard/site.xml";
    env.redis.set(moved, other);

    // A's next export drops it: the claim script must leave it to its new owner.
    ok(&env.export("a2.jsonl", &[with_domain(a, kept)]));
    assert_eq!(env.domain(moved).as_deref(), Some(other));
    assert_eq!(
        env.domain(kept).as_deref(),
        Some("3c/boulangerie-martin/site.xml")
    );

    // The same through unpublish, whose release script ends like the claim script.
    env.redis.set(kept, other);
    let run = env.unpublish("boulangerie-martin");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(env.domain(moved).as_deref(), Some(other));
    assert_eq!(env.domain(kept).as_deref(), Some(other));
    assert_eq!(env.domain("boulangerie-martin.fr"), None);
}

#[test]
fn bad_records_are_reported_by_line_and_the_good_ones_published() {
    // CPU-heavy (exporter runs): keeps the timing-sensitive tests from running beside it.
    let _gate = shared();
    let env = Env::new();
    // A site already published, whose new record is broken: it must keep serving as it was.
    let published = sample_record("garage-bernard");
    ok(&env.export("before.jsonl", std::slice::from_ref(&published)));
    let before = std::fs::read(env.site_file("garage-bernard")).unwrap();

    let mut unknown_theme = published.clone();
    unknown_theme["theme"] = "baroque".into();
    let mut oversized = sample_record("kine-rousseau");
    oversized["identity"]["slogan"] = "x".repeat(301).into();
    let mut control = sample_record("fleurs-et-sens");
    control["pages"][0]["title"] = "Accueil\u{1b}[31m".into();
    let mut bad_domain = sample_record("electricite-fabre");
    bad_domain["domains"] = json!(["electricite-fabre.fr", "not a domain"]);
    let mut missing = sample_record("studio-lumiere");
    missing["contact"]
        .as_object_mut()
        .unwrap()
        .remove("address");
    let lines = [
        serde_json::to_string(&sample_record("boulangerie-martin")).unwrap(), // 1
        serde_json::to_string(&unknown_theme).unwrap(),                       // 2
        "{\"id\": \"truncated\", \"theme\": ".to_owned(),                     // 3
        serde_json::to_string(&sample_record("patisserie-dupont")).unwrap(),  // 4
        serde_json::to_string(&oversized).unwrap(),                           // 5
        serde_json::to_string(&control).unwrap(),                             // 6
        String::new(),                                                        // 7 (blank)
        serde_json::to_string(&bad_domain).unwrap(),                          // 8
        serde_json::to_string(&missing).unwrap(),                             // 9
        serde_json::to_string(&sample_record("salon-coiffure-lea")).unwrap(), // 10
    ];
    let file = env.path("mixed.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let run = env.export_file(&file, &[]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let s = run.summary();
    assert_eq!(s["records"], 9);
    assert_eq!(s["written"], 3, "{s}");
    assert_eq!(s["failed"], 6, "{s}");
    let failures: Vec<(u64, String, String)> = s["failures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["line"].as_u64().unwrap(),
                f["problems"][0]["path"].as_str().unwrap().to_owned(),
                f["problems"][0]["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let lines_and_paths: Vec<(u64, &str)> =
        failures.iter().map(|(l, p, _)| (*l, p.as_str())).collect();
    assert_eq!(
        lines_and_paths,
        [
            (2, "theme"),
            (3, "theme"),
            (5, "identity.slogan"),
            (6, "pages[0].title"),
            (8, "domains[1]"),
            (9, "contact"),
        ],
        "{failures:#?}"
    );
    assert!(failures[1].2.contains("JSON"), "{failures:?}");
    assert!(failures[2].2.contains("at most 300"), "{failures:?}");
    assert!(failures[3].2.contains("U+001B"), "{failures:?}");
    assert!(
        failures[5].2.contains("missing field `address`"),
        "{failures:?}"
    );
    // stderr tells the operator the same, line by line.
    assert!(
        run.stderr
            .contains("line 2 (garage-bernard): theme: theme \"baroque\""),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("line 9 (studio-lumiere): contact"),
        "{}",
        run.stderr
    );

    // The good ones are live; the broken update left the published site as it was.
    let server = env.server();
    for host in [
        "boulangerie-martin.fr",
        "xn--ptisserie-dupont-wmb.fr",
        "salon-coiffure-lea.fr",
    ] {
        assert_eq!(server.get(host, "/").status, 200, "{host}");
    }
    for host in [
        "kine-rousseau.fr",
        "fleurs-et-sens.fr",
        "electricite-fabre.fr",
    ] {
        assert_eq!(server.get(host, "/").status, 404, "{host}");
    }
    assert_eq!(
        std::fs::read(env.site_file("garage-bernard")).unwrap(),
        before
    );
    assert_eq!(server.get("garage-bernard.fr", "/").status, 200);
}

#[test]
fn unpublish_then_export_brings_the_site_back_with_its_media() {
    // CPU-heavy (exporter runs): keeps the timing-sensitive tests from running beside it.
    let _gate = shared();
    let env = Env::new();
    let a = sample_record("boulangerie-martin");
    ok(&env.export("a.jsonl", std::slice::from_ref(&a)));
    let dir = env.fixture.sites().join("3c/boulangerie-martin");
    copy_tree(
        &repo().join("sample-sites/3c/boulangerie-martin/media"),
        &dir.join("media"),
    );
    let server = env.server();
    assert_eq!(server.get("boulangerie-martin.fr", "/").status, 200);
    assert_eq!(
        server
            .get("boulangerie-martin.fr", "/media/four.jpg")
            .status,
        200
    );

    let sites = env.fixture.sites();
    let run = env.unpublish("boulangerie-martin");
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert!(run.stdout.contains("3 domains removed"), "{}", run.stdout);
    assert!(redis_keys(&env.redis, "vitrine:*").is_empty());
    assert!(!dir.exists());
    let archived: Vec<PathBuf> = std::fs::read_dir(sites.join(".archive/3c"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(archived.len(), 1);
    assert!(archived[0].join("site.xml").is_file());
    assert!(archived[0].join("media/four.jpg").is_file());
    for host in a["domains"].as_array().unwrap() {
        assert_eq!(
            server.get(host.as_str().unwrap(), "/").status,
            404,
            "{host}"
        );
    }

    let s = ok(&env.export("again.jsonl", &[a]));
    assert_eq!(s["written"], 1);
    assert_eq!(s["media_restored"], 1);
    assert_eq!(s["domains_added"], 3);
    // The server's cached "unknown host" answers are dropped by Redis's invalidation
    // messages, which arrive on their own connection a moment after the export's writes.
    wait_for(
        || {
            server
                .get("www.boulangerie-martin.fr", "/")
                .is_moved_to("http://boulangerie-martin.fr/")
        },
        "the re-exported site to be served",
    );
    wait_for(
        || {
            server
                .get("boulangerie-martin.fr", "/media/four.jpg")
                .status
                == 200
        },
        "the restored media to be served",
    );
    // Nothing was deleted: the archived XML is still there.
    assert!(archived[0].join("site.xml").is_file());
}

#[test]
fn watched_inbox_sends_files_to_done_and_failed() {
    // CPU-heavy (exporter runs): keeps the timing-sensitive tests from running beside it.
    let _gate = shared();
    let env = Env::new();
    let inbox = env.path("inbox");
    std::fs::create_dir(&inbox).unwrap();
    // A file already there at start.
    write_jsonl(
        &inbox.join("0-early.jsonl"),
        &[sample_record("kine-rousseau")],
    );
    let sites = env.fixture.sites();
    let styles = env.fixture.stylesheets();
    let child = vitrine_command()
        .args(["export", "--watch", inbox.to_str().unwrap(), "--sites"])
        .arg(&sites)
        .arg("--stylesheets")
        .arg(&styles)
        .args(["--redis", &env.redis.url(), "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();

    // The documented way: write under a temporary name, then rename.
    let tmp = inbox.join("good.jsonl.tmp");
    write_jsonl(&tmp, &[sample_record("boulangerie-martin")]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(tmp.exists(), "a temporary name is not taken");
    std::fs::rename(&tmp, inbox.join("good.jsonl")).unwrap();
    let mut bad = sample_record("patisserie-dupont");
    bad["lang"] = "French".into();
    write_jsonl(
        &inbox.join(".bad.jsonl"),
        &[sample_record("fleurs-et-sens"), bad],
    );
    std::fs::rename(inbox.join(".bad.jsonl"), inbox.join("bad.jsonl")).unwrap();

    let expected = [
        inbox.join("done/0-early.jsonl"),
        inbox.join("done/good.jsonl"),
        inbox.join("failed/bad.jsonl"),
        inbox.join("failed/bad.jsonl.errors.json"),
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !expected.iter().all(|p| p.exists()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    // SIGTERM stops the watch.
    // SAFETY: signalling our own child by its pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    for p in &expected {
        assert!(p.exists(), "{} missing; stderr: {stderr}", p.display());
    }
    assert!(out.status.success(), "{stderr}");
    let report: Value = serde_json::from_slice(&std::fs::read(&expected[3]).unwrap()).unwrap();
    assert_eq!(report["failed"], 1);
    assert_eq!(report["failures"][0]["line"], 2);
    assert_eq!(report["failures"][0]["problems"][0]["path"], "lang");
    // The good records of every file are published, the bad one is not.
    assert!(env.domain("kine-rousseau.fr").is_some());
    assert!(env.domain("boulangerie-martin.fr").is_some());
    assert!(env.domain("fleurs-et-sens.fr").is_some());
    assert!(env.domain("patisserie-dupont.fr").is_none());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().count(), 3, "{stdout}");
}

#[test]
fn a_read_only_sites_folder_fails_clearly_and_the_old_version_keeps_serving() {
    // CPU-heavy (exporter runs): keeps the timing-sensitive tests from running beside it.
    let _gate = shared();
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    let env = Env::new();
    let a = sample_record("boulangerie-martin");
    ok(&env.export("a.jsonl", std::slice::from_ref(&a)));
    let before = std::fs::read(env.site_file("boulangerie-martin")).unwrap();
    let mut a2 = a.clone();
    a2["identity"]["slogan"] = "Une nouvelle version".into();
    let file = env.path("a2.jsonl");
    write_jsonl(&file, &[a2]);

    let sites = env.fixture.sites();
    let styles = env.fixture.stylesheets();
    let mut cmd = vitrine_command();
    cmd.args(["export", "--from", file.to_str().unwrap(), "--sites"])
        .arg(&sites)
        .arg("--stylesheets")
        .arg(&styles);
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let chmod_tree = |mode_dirs: u32| {
        fn walk(p: &Path, mode: u32) {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
            for e in std::fs::read_dir(p).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_dir() {
                    walk(&e.path(), mode);
                }
            }
        }
        walk(&sites, mode_dirs);
    };
    if root {
        // Root writes anywhere: run the exporter as an unprivileged user, who may read the
        // fixture but not write the sites folder.
        for p in [env.fixture.dir.path(), file.as_path()] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        cmd.uid(65534).gid(65534);
    } else {
        chmod_tree(0o555);
    }
    let out = cmd.output().unwrap();
    if !root {
        chmod_tree(0o755);
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("Permission denied"), "{stderr}");
    assert!(stderr.contains("must be writable"), "{stderr}");
    assert!(
        stderr.contains("published version is untouched"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(env.site_file("boulangerie-martin")).unwrap(),
        before
    );
    let server = env.server();
    let resp = server.get("boulangerie-martin.fr", "/");
    assert_eq!(resp.status, 200);
    assert!(!resp.text().contains("Une nouvelle version"));
}

/// Every regular file under `dir`, by path relative to it, with its bytes.
fn files_under(dir: &Path) -> std::collections::BTreeMap<PathBuf, Vec<u8>> {
    fn walk(root: &Path, dir: &Path, out: &mut std::collections::BTreeMap<PathBuf, Vec<u8>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let kind = e.file_type().unwrap();
            if kind.is_dir() {
                walk(root, &e.path(), out);
            } else {
                let rel = e.path().strip_prefix(root).unwrap().to_owned();
                out.insert(rel, std::fs::read(e.path()).unwrap());
            }
        }
    }
    let mut out = std::collections::BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Every `site.xml` under `sites` parses and matches the schema; every domain of the map
/// points to one of them.
fn sites_whole_and_mapped(env: &Env) {
    let sites = env.fixture.sites();
    let schema = Schema::site().unwrap();
    for (path, bytes) in files_under(&sites) {
        if path.file_name().is_some_and(|n| n == "site.xml") {
            let doc = parse_document(&bytes, &path.display().to_string())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            schema
                .validate(&doc)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    }
    let keys = redis_keys(&env.redis, "vitrine:domain:*");
    assert!(!keys.is_empty());
    for key in keys {
        let target = env.redis.get(&key).unwrap();
        assert!(
            sites.join(&target).is_file(),
            "{key} -> {target}: no such file"
        );
    }
}

#[test]
fn a_full_disk_fails_clearly_and_the_old_version_keeps_serving() {
    // CPU-heavy (exporter runs): keeps the timing-sensitive tests from running beside it.
    let _gate = shared();
    let env = Env::new();
    // The sites folder on its own 2 MiB disk (the sample sites take about 60 KB).
    let disk = Tmpfs::mount(&env.fixture.sites(), 2 << 20);
    let records = sample_records();
    let s = ok(&env.export("v1.jsonl", &records));
    assert_eq!(s["written"], records.len() as u64);
    let published = files_under(&env.fixture.sites());
    assert_eq!(published.len(), records.len(), "{published:?}");
    let server = env.server();
    let page = server.get("boulangerie-martin.fr", "/");
    assert_eq!(page.status, 200, "{}", page.text());

    // A new version of the site, with one more domain, whose XML is far larger than the
    // space left once the disk is filled: the write fails part-way.
    let mut v2 = with_domain(
        sample_record("boulangerie-martin"),
        "nouveau.boulangerie-martin.fr",
    );
    v2["identity"]["slogan"] = "Une nouvelle version".into();
    let blocks = v2["pages"][0]["sections"][0]["blocks"]
        .as_array_mut()
        .unwrap();
    for i in 0..20 {
        blocks.push(json!({"p": [format!("Paragraphe {i} : {}", "pain au levain ".repeat(200))]}));
    }
    let new_xml = expected_xml(std::slice::from_ref(&v2), &env.fixture.stylesheets()).remove(0);
    let filler = disk.fill("filler", 8 << 10);
    let free = disk.free();
    assert!(
        free > 0 && new_xml.len() as u64 > 4 * free,
        "{free} bytes free for a {}-byte XML",
        new_xml.len()
    );

    let run = env.export("v2.jsonl", std::slice::from_ref(&v2));
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let s = run.summary();
    assert_eq!(
        (s["written"].clone(), s["failed"].clone()),
        (json!(0), json!(1))
    );
    let failure = &s["failures"][0];
    assert_eq!(failure["id"], "boulangerie-martin", "{s}");
    assert_eq!(failure["kind"], "file", "{s}");
    let reason = failure["problems"][0]["reason"].as_str().unwrap();
    for said in [
        "No space left on device",
        "disk full: free space",
        "export again",
        "published version is untouched",
    ] {
        assert!(reason.contains(said), "{said:?} not in {reason:?}");
    }
    // The operator sees it on stderr too, with the site named.
    assert!(
        run.stderr.contains("(boulangerie-martin)") && run.stderr.contains(reason),
        "{}",
        run.stderr
    );

    // Nothing half-published: the files are the ones of the first run, byte for byte (no
    // truncated site.xml, no temporary file left), the new domain is not in the map, and
    // every mapped domain points to a whole, valid site.
    let mut now = files_under(&env.fixture.sites());
    assert!(now.remove(Path::new("filler")).is_some());
    assert!(now == published, "{:?}", now.keys().collect::<Vec<_>>());
    assert_eq!(env.domain("nouveau.boulangerie-martin.fr"), None);
    sites_whole_and_mapped(&env);
    // The old version keeps serving, byte for byte.
    let again = server.get("boulangerie-martin.fr", "/");
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.body, page.body);

    // Space freed, the same export goes through and the new version is served.
    std::fs::remove_file(filler).unwrap();
    let s = ok(&env.export("v2.jsonl", std::slice::from_ref(&v2)));
    assert_eq!(
        (s["written"].clone(), s["failed"].clone()),
        (json!(1), json!(0))
    );
    assert_eq!(
        std::fs::read(env.site_file("boulangerie-martin")).unwrap(),
        new_xml
    );
    assert_eq!(
        env.domain("nouveau.boulangerie-martin.fr").as_deref(),
        Some(site_path("boulangerie-martin").as_str())
    );
    sites_whole_and_mapped(&env);
    let fresh = server.get("boulangerie-martin.fr", "/");
    assert_eq!(fresh.status, 200, "{}", fresh.text());
    assert!(fresh.text().contains("Une nouvelle version"));
    drop(server);
    drop(disk);
}

/// Sites for the crash test: sample records under new ids and domains, in two versions.
fn crash_records(n: usize, version: &str) -> Vec<Value> {
    let samples = sample_records();
    (0..n)
        .map(|i| {
            let mut r = samples[i % samples.len()].clone();
            let id = format!("crash-{i:03}");
            r["id"] = id.clone().into();
            r["domains"] = json!([format!("{id}.example.fr"), format!("www.{id}.example.fr")]);
            r["identity"]["slogan"] = format!("Version {version} of {id}").into();
            r
        })
        .collect()
}

fn expected_xml(records: &[Value], stylesheets: &Path) -> Vec<Vec<u8>> {
    let rules = vitrine::export::record::Rules::from_stylesheets(stylesheets).unwrap();
    records
        .iter()
        .map(|r| {
            let mut rec =
                vitrine::export::record::parse_line(serde_json::to_string(r).unwrap().as_bytes())
                    .unwrap();
            rec.check(&rules).unwrap();
            vitrine::export::xml::site_xml(&rec).unwrap()
        })
        .collect()
}

#[test]
fn sigkill_during_export_never_leaves_a_broken_site() {
    // CPU-heavy (exporter runs): keeps the timing-sensitive tests from running beside it.
    let _gate = shared();
    const SITES: usize = 300;
    let env = Env::new();
    let (va, vb) = (crash_records(SITES, "A"), crash_records(SITES, "B"));
    write_jsonl(&env.path("a.jsonl"), &va);
    write_jsonl(&env.path("b.jsonl"), &vb);
    let xa = expected_xml(&va, &env.fixture.stylesheets());
    let xb = expected_xml(&vb, &env.fixture.stylesheets());
    let started = Instant::now();
    let s = ok(&env.export_file(&env.path("a.jsonl"), &[]));
    assert_eq!(s["written"], SITES as u64);
    // Kill moments are drawn within the time a full run took here, so that most rounds are
    // cut short whatever the machine's speed or load.
    let full_run_ms = started.elapsed().as_millis() as u64;

    let seed = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
    eprintln!("crash test seed {seed}");
    let sites = env.fixture.sites();
    let styles = env.fixture.stylesheets();
    let url = env.redis.url();
    // Both versions of every site are schema-valid, so a file equal to one of them is too:
    // each round compares bytes instead of validating 300 files again (which would load the
    // machine while timing-sensitive tests run beside this one).
    let schema = Schema::site().unwrap();
    for xml in xa.iter().chain(&xb) {
        schema
            .validate(&parse_document(xml, "expected").unwrap())
            .unwrap();
    }
    let check = |round: usize| {
        // The publisher's view: exactly the 300 sites, nothing else looks like one.
        let listed = vitrine::site::list_site_files(&sites).unwrap();
        assert_eq!(listed.len(), SITES, "round {round}");
        let (mut a, mut b) = (0, 0);
        for (i, (xa, xb)) in xa.iter().zip(&xb).enumerate() {
            let id = format!("crash-{i:03}");
            let bytes = std::fs::read(sites.join(site_path(&id))).unwrap();
            if bytes == *xa {
                a += 1;
            } else if bytes == *xb {
                b += 1;
            } else {
                panic!(
                    "round {round}: {id} is neither version ({} bytes)",
                    bytes.len()
                );
            }
            for entry in std::fs::read_dir(sites.join(site_path(&id)).parent().unwrap()).unwrap() {
                let name = entry.unwrap().file_name().into_string().unwrap();
                assert!(
                    name == "site.xml"
                        || (name.starts_with(".site.xml.") && name.ends_with(".tmp")),
                    "round {round}: unexpected {name} in {id}"
                );
            }
        }
        // The map only names files that exist.
        for key in redis_keys(&env.redis, "vitrine:domain:*") {
            let value = env.redis.get(&key).unwrap();
            assert!(
                sites.join(&value).is_file(),
                "round {round}: {key} -> {value}"
            );
        }
        (a, b)
    };
    let mut killed_mid_run = 0;
    for round in 0..8 {
        let file = env.path(if round % 2 == 0 { "b.jsonl" } else { "a.jsonl" });
        let mut child = vitrine_command()
            .args(["export", "--from", file.to_str().unwrap(), "--sites"])
            .arg(&sites)
            .arg("--stylesheets")
            .arg(&styles)
            .args(["--redis", &url])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(
            rng.random_range(5..(full_run_ms * 6 / 10).max(10)),
        ));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap_or(()); // SIGKILL
        child.wait().unwrap();
        if !finished {
            killed_mid_run += 1;
        }
        let (a, b) = check(round);
        eprintln!(
            "round {round}: killed={} A={a} B={b} (full run {full_run_ms} ms)",
            !finished
        );
    }
    assert!(
        killed_mid_run >= 3,
        "the runs finished before the kill; lower the sleeps"
    );

    // A full run afterwards: everything on version B, no temporary file left anywhere.
    let s = ok(&env.export_file(&env.path("b.jsonl"), &[]));
    assert_eq!(s["failed"], 0);
    let (a, b) = check(99);
    assert_eq!((a, b), (0, SITES));
    for i in 0..SITES {
        let dir = sites.join(site_path(&format!("crash-{i:03}")));
        let names: Vec<_> = std::fs::read_dir(dir.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["site.xml"], "crash-{i:03}");
    }
    assert_eq!(
        redis_keys(&env.redis, "vitrine:domain:*").len(),
        2 * SITES,
        "every domain mapped"
    );
}

#[test]
fn within_one_input_the_first_line_keeps_a_shared_domain_and_a_site_has_one_line() {
    // CPU-heavy (exporter runs): keeps the timing-sensitive tests from running beside it.
    let _gate = shared();
    let env = Env::new();
    let shared = "shared.example.fr";
    let k = with_domain(sample_record("kine-rousseau"), shared);
    let f = with_domain(sample_record("fleurs-et-sens"), shared);
    let mut k_again = sample_record("kine-rousseau");
    k_again["identity"]["slogan"] = "Second line".into();
    let run = env.export("shared.jsonl", &[k, f, k_again]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let s = run.summary();
    assert_eq!(s["written"], 1, "{s}");
    assert_eq!(s["failures"][0]["line"], 2);
    assert_eq!(s["failures"][0]["kind"], "conflict");
    let reason = s["failures"][0]["problems"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains(shared) && reason.contains("kine-rousseau") && reason.contains("line 1"),
        "{reason}"
    );
    assert_eq!(s["failures"][1]["line"], 3);
    assert_eq!(s["failures"][1]["kind"], "duplicate");
    assert_eq!(
        env.domain(shared).as_deref(),
        Some("12/kine-rousseau/site.xml")
    );
    assert!(env.domain("fleurs-et-sens.fr").is_none());
    let xml = String::from_utf8(std::fs::read(env.site_file("kine-rousseau")).unwrap()).unwrap();
    assert!(!xml.contains("Second line"));
}
