//! What an operator meets on the first day, run as the real binary: output piped into a
//! reader that stops early, commands that write files refusing to guess the sites folder,
//! `vitrine domains` options wherever they are typed, an import checked whole before any of
//! it is applied, and the start-up log naming the domains it serves.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use vitrine::site::site_path;

use crate::support::*;

/// Runs `vitrine ARGS` with stdout a pipe whose reader is closed before anything is written
/// (as `| head` that has had its lines, or `| true`); returns the exit code and stderr.
fn with_stdout_closed(args: &[&str]) -> (Option<i32>, String) {
    let mut child = vitrine_command()
        .args(args)
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_reader_that_stops_early_is_not_a_crash() {
    let fixture = Fixture::new();
    let (sites, styles) = (fixture.sites(), fixture.stylesheets());
    let data = ["--sites", s(&sites), "--stylesheets", s(&styles)];
    for json in [true, false] {
        let mut args = vec!["check"];
        args.extend(data);
        if json {
            args.push("--json");
        }
        let (code, stderr) = with_stdout_closed(&args);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(code, Some(0), "{args:?}: the clean samples pass: {stderr}");
    }

    // The export still does its work and exits with its own status: the records are
    // written, and a failing record still makes it 1.
    let records = fixture.dir.path().join("records.jsonl");
    let mut all = sample_records();
    write_jsonl(&records, &all);
    std::fs::remove_file(sites.join(site_path("boulangerie-martin"))).unwrap();
    let mut args = vec!["export", "--from", s(&records), "--json"];
    args.extend(data);
    let (code, stderr) = with_stdout_closed(&args);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, Some(0), "{stderr}");
    assert!(sites.join(site_path("boulangerie-martin")).is_file());

    all[0]["lang"] = "not a language".into();
    write_jsonl(&records, &all);
    let (code, stderr) = with_stdout_closed(&args);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, Some(1), "a failed record is still reported: {stderr}");

    let (code, stderr) = with_stdout_closed(&["doctor"]);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(matches!(code, Some(0 | 1)), "{code:?} {stderr}");

    let redis = redis_with_sample_map(&fixture);
    let (code, stderr) = with_stdout_closed(&["domains", "--redis", &redis.url(), "list"]);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(code, Some(0), "{stderr}");

    // Stderr may carry the start-up warning about the libraries' versions (a newer
    // libxml2 than the fast paths were proven on), but nothing about the pipe.
    let (code, stderr) = with_stdout_closed(&["render", "boulangerie-martin.fr"]);
    assert_eq!(code, Some(0), "render into a closed pipe: {stderr}");
    let lower = stderr.to_lowercase();
    assert!(
        !lower.contains("error") && !lower.contains("pipe") && !lower.contains("panicked"),
        "render into a closed pipe: {stderr}"
    );
}

/// Every file beneath `dir` with its bytes, to see that nothing changed.
fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(snapshot(&path));
        } else {
            out.push((path.clone(), std::fs::read(&path).unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn export_and_unpublish_need_a_sites_folder_and_leave_the_samples_alone() {
    // A checkout: the samples under ./sample-sites, as in the repository.
    let repo_copy = tempfile::tempdir().unwrap();
    copy_tree(
        &repo().join("sample-sites"),
        &repo_copy.path().join("sample-sites"),
    );
    copy_tree(
        &repo().join("stylesheets"),
        &repo_copy.path().join("stylesheets"),
    );
    let samples = repo_copy.path().join("sample-sites");
    let before = snapshot(&samples);
    let mut record = sample_record("boulangerie-martin");
    record["identity"]["slogan"] = "Nouveau slogan".into();
    let records = repo_copy.path().join("x.jsonl");
    write_jsonl(&records, &[record]);

    for args in [
        vec!["export", "--from", s(&records)],
        vec!["unpublish", "boulangerie-martin"],
    ] {
        let out = vitrine_command()
            .args(&args)
            .current_dir(repo_copy.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("--sites DIR") && stderr.contains("VITRINE_SITES"),
            "{args:?}: {stderr}"
        );
        assert!(
            snapshot(&samples) == before,
            "{args:?} touched sample-sites"
        );
    }

    // Named explicitly, by option or variable, the samples are the folder written.
    let out = vitrine_command()
        .args(["export", "--from", s(&records), "--sites", "sample-sites"])
        .current_dir(repo_copy.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let site = samples.join(site_path("boulangerie-martin"));
    assert!(std::fs::read_to_string(&site)
        .unwrap()
        .contains("Nouveau slogan"));
    let out = vitrine_command()
        .args(["unpublish", "boulangerie-martin"])
        .env("VITRINE_SITES", &samples)
        .current_dir(repo_copy.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!site.exists());
}

/// Runs `vitrine domains ARGS` with `--redis` and `--sites` after the action, as typed last.
fn domains(redis: &Redis, sites: &Path, args: &[&str]) -> Run {
    let url = redis.url();
    let mut all = vec!["domains"];
    all.extend_from_slice(args);
    all.extend(["--redis", &url, "--sites", s(sites)]);
    vitrine(&all)
}

#[test]
fn a_domains_import_with_bad_lines_changes_nothing_and_names_every_one() {
    let fixture = Fixture::new();
    let redis = Redis::start();
    let (rel, _) = fixture.site("boulangerie-martin");
    let (other, _) = fixture.site("plomberie-leroy");
    let file = fixture.dir.path().join("domains.txt");
    std::fs::write(
        &file,
        format!(
            "# a comment, then a blank line\n\n\
             good-one.example {rel}\n\
             bad host! {rel}\n\
             bad_host!.example ../../etc/passwd\n\
             good-two.example {other}\n\
             GOOD-ONE.example {other}\n\
             not-yet.example 00/not-yet/site.xml\n\
             three fields here\n"
        ),
    )
    .unwrap();
    let run = domains(&redis, &fixture.sites(), &["import", s(&file)]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    assert!(
        redis_keys(&redis, "vitrine:domain:*").is_empty(),
        "nothing imported: {:?}",
        redis_keys(&redis, "vitrine:domain:*")
    );
    let err = &run.stderr;
    let shown = file.display().to_string();
    // Every bad line, each with every fault it has.
    for line in [4, 5, 7, 9] {
        assert!(
            err.contains(&format!("{shown}:{line}: ")),
            "line {line}: {err}"
        );
    }
    assert!(
        err.contains("\"bad_host!.example\" is not a valid host name"),
        "{err}"
    );
    assert!(err.contains("\"../../etc/passwd\" is not a path"), "{err}");
    assert!(
        err.contains("good-one.example is already on line 3"),
        "{err}"
    );
    assert!(
        err.contains("nothing was imported") && err.contains("--partial"),
        "{err}"
    );
    // A site file not there (yet) is a warning, as for `domains set`, not a refusal.
    assert!(
        err.contains(&format!(
            "{shown}:8: warning: 00/not-yet/site.xml does not exist"
        )),
        "{err}"
    );
    assert!(!err.contains(&format!("{shown}:3:")), "{err}");

    let run = domains(&redis, &fixture.sites(), &["import", "--partial", s(&file)]);
    assert_eq!(
        run.code,
        Some(1),
        "refused lines still fail: {}",
        run.stderr
    );
    assert!(
        run.stdout.contains("3 domains imported, 4 lines refused"),
        "{}",
        run.stdout
    );
    assert_eq!(
        redis.get("vitrine:domain:good-one.example"),
        Some(rel.clone())
    );
    assert_eq!(
        redis.get("vitrine:domain:good-two.example"),
        Some(other.clone())
    );
    assert_eq!(
        redis.get("vitrine:domain:not-yet.example").as_deref(),
        Some("00/not-yet/site.xml")
    );

    // A clean file goes through whole, options after the action included.
    std::fs::write(&file, format!("third.example {rel}\n")).unwrap();
    let run = domains(&redis, &fixture.sites(), &["import", s(&file)]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
    assert_eq!(redis.get("vitrine:domain:third.example"), Some(rel.clone()));
    let run = domains(&redis, &fixture.sites(), &["get", "THIRD.example"]);
    assert_eq!(run.stdout.trim(), rel, "{}", run.stderr);
    let url = redis.url();
    let run = vitrine(&["certs", "list", "--redis", &url]);
    assert_eq!(run.code, Some(0), "{}", run.stderr);
}

/// Starts `vitrine serve` on the fixture without Redis, with `VITRINE_LOG=level`, and
/// returns its log up to the line `until` accepts (or 20 s); the server is then killed.
fn startup_log(fixture: &Fixture, level: &str, mut until: impl FnMut(&str) -> bool) -> String {
    let mut child = vitrine_command()
        .args(["serve", "--listen", "127.0.0.1:0", "--no-watch", "--sites"])
        .arg(fixture.sites())
        .arg("--stylesheets")
        .arg(fixture.stylesheets())
        .env("VITRINE_LOG", level)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut log = String::new();
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        log.push_str(&line);
        log.push('\n');
        if until(&line) {
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    log
}

#[test]
fn the_startup_log_lists_the_domains_served_at_debug_level() {
    let fixture = Fixture::new();
    let mut expected = Vec::new();
    for (rel, domains, _) in sample_sites(&fixture.sites()) {
        for d in domains {
            expected.push(format!("domain {d} -> {rel}"));
        }
    }
    assert!(expected.len() > 20, "{expected:?}");
    let mut left = expected.clone();
    let log = startup_log(&fixture, "debug", |line| {
        left.retain(|e| !line.ends_with(e.as_str()));
        left.is_empty()
    });
    assert!(left.is_empty(), "not logged: {left:?}\n{log}");

    // At the default level, one line says how many, and how to see them.
    let log = startup_log(&fixture, "info", |line| line.contains("domains served"));
    assert!(
        log.contains(&format!(
            "{} domains served (VITRINE_LOG=debug lists them)",
            expected.len()
        )),
        "{log}"
    );
    assert!(!log.contains(&expected[0]), "{log}");
}

#[test]
fn an_export_lists_every_fault_of_a_record() {
    let fixture = Fixture::new();
    let mut record = sample_record("boulangerie-martin");
    record["theme"] = 3.into();
    record["lang"] = "xx_bad".into();
    record["contact"]["address"]["postcode"] = "!".into();
    let records = fixture.dir.path().join("records.jsonl");
    write_jsonl(&records, &[record]);
    let (sites, styles) = (fixture.sites(), fixture.stylesheets());
    let run = vitrine(&[
        "export",
        "--from",
        s(&records),
        "--sites",
        s(&sites),
        "--stylesheets",
        s(&styles),
        "--json",
    ]);
    assert_eq!(run.code, Some(1), "{}", run.stderr);
    let failures = &run.summary()["failures"];
    let problems = failures[0]["problems"].as_array().unwrap();
    let paths: Vec<&str> = problems
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["theme", "lang", "contact.address.postcode"],
        "{failures:#}"
    );
    for path in paths {
        assert!(
            run.stderr
                .contains(&format!("(boulangerie-martin): {path}: ")),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn the_deploy_files_name_real_settings_and_the_unit_verifies() {
    let help = vitrine(&["serve", "--help"]).stdout;
    let env = std::fs::read_to_string(repo().join("deploy/vitrine.env")).unwrap();
    let mut names = 0;
    for line in env.lines() {
        let line = line.trim_start_matches(['#', ' ']);
        let Some((name, _)) = line.split_once('=') else {
            continue;
        };
        if !name.starts_with("VITRINE_") || name == "VITRINE_LOG" {
            continue;
        }
        assert!(
            help.contains(&format!("[env: {name}=")),
            "deploy/vitrine.env sets {name}, which `vitrine serve` does not read"
        );
        names += 1;
    }
    assert!(names >= 4, "{env}");

    let unit = std::fs::read_to_string(repo().join("deploy/vitrine.service")).unwrap();
    for needed in [
        "ExecStart=/usr/local/bin/vitrine serve\n",
        "EnvironmentFile=/etc/vitrine/vitrine.env\n",
        "DynamicUser=yes\n",
        "ProtectSystem=strict\n",
        "NoNewPrivileges=yes\n",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n",
    ] {
        assert!(unit.contains(needed), "{needed}");
    }
    let Ok(found) = std::process::Command::new("systemd-analyze")
        .arg("--version")
        .output()
    else {
        eprintln!("skipped: systemd-analyze not installed, the unit is not verified");
        return;
    };
    assert!(found.status.success());
    // verify checks that ExecStart= is executable: the binary of this build stands in.
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("vitrine.service");
    let bin = vitrine_bin();
    std::fs::write(
        &copy,
        unit.replace("/usr/local/bin/vitrine", bin.to_str().unwrap()),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap();
    // Other units of the machine may draw warnings too; ours must draw none.
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    assert!(!said.contains("vitrine.service"), "{said}");
}
