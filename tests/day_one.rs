//! What an operator meets on the first day, run as the real binary: output piped into a
//! reader that stops early, commands that write files refusing to guess the sites folder,
//! `vitrine domains` options wherever they are typed, an import checked whole before any of
//! it is applied, and the start-up log naming the domains it serves.

use std::path::Path;
use std::process::Stdio;

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
}
