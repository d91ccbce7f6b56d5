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
