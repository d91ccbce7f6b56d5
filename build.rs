//! Compiles the C side of the libxml2/libxslt binding (`src/render/xslt/c/*.c`) against the
//! system headers, so that struct fields and variadic callbacks are handled by a C compiler,
//! and tells the crate which library versions it is built against.
//!
//! Why this reruns on header changes: a libxml2/libxslt update can change the headers
//! without changing anything cargo watches by default, and an object compiled against the
//! old headers would stay in `target/`. Every header the C files include is watched, and so
//! are the pkg-config versions. Watching the headers alone is not enough: cargo compares
//! modification times with its last run, and dpkg installs files with the package's own
//! (older) times, so an upgrade looks like no change. dpkg rewrites its list of a package's
//! files at every install, upgrade or downgrade, so those lists are watched too.
//!
//! What it emits:
//! - `VITRINE_BUILT_LIBXML2` / `VITRINE_BUILT_LIBXSLT`: the versions as pkg-config reports
//!   them (`2.9.14`), compared at start-up with the libraries actually loaded;
//! - `cfg(vitrine_libxml2_const_error)`: libxml2 >= 2.12, whose structured error callbacks
//!   take `const xmlError *` (the only signature change the Rust side has to follow).

use std::path::{Path, PathBuf};

const C_FILES: &[&str] = &[
    "src/render/xslt/c/errors.c",
    "src/render/xslt/c/context.c",
    "src/render/xslt/c/loader.c",
    "src/render/xslt/c/stylesheet.c",
    "src/render/xslt/c/ns_intern.c",
    "src/render/xslt/c/html_facts.c",
    "src/render/xslt/c/xpath_fast.c",
    "src/render/xslt/c/versions.c",
];

/// Headers whose change must rebuild the C objects and the version facts.
const WATCHED_HEADERS: &[&str] = &[
    "libxml/xmlversion.h",
    "libxml/xmlerror.h",
    "libxml/tree.h",
    "libxml/xpath.h",
    "libxml/xpathInternals.h",
    "libxml/HTMLtree.h",
    "libxml/globals.h",
    "libxslt/xsltconfig.h",
    "libxslt/xsltInternals.h",
    "libxslt/transform.h",
    "libxslt/xslt.h",
];

#[path = "src/render/xslt/version_number.rs"]
mod version_number;
use version_number::number;

fn watch(include_paths: &[PathBuf]) {
    for header in WATCHED_HEADERS {
        let mut dirs: Vec<PathBuf> = include_paths.to_vec();
        // Debian puts xsltconfig.h under the multiarch folder, which pkg-config does not list.
        dirs.push(PathBuf::from("/usr/include"));
        if let Ok(arch) = std::env::var("DEB_HOST_MULTIARCH") {
            dirs.push(Path::new("/usr/include").join(arch));
        }
        dirs.push(PathBuf::from("/usr/include/x86_64-linux-gnu"));
        dirs.push(PathBuf::from("/usr/include/aarch64-linux-gnu"));
        for dir in dirs {
            let p = dir.join(header);
            if p.exists() {
                println!("cargo:rerun-if-changed={}", p.display());
            }
        }
    }
}

/// The development packages whose install, upgrade or downgrade must rebuild the C side.
const DEV_PACKAGES: &[&str] = &["libxml2-dev", "libxslt1-dev"];

/// dpkg's file list of each development package (`/var/lib/dpkg/info/PKG[:ARCH].list`),
/// rewritten by dpkg whenever the package is installed again in another version.
fn watch_dpkg() {
    let Ok(entries) = std::fs::read_dir("/var/lib/dpkg/info") else {
        return; // not a dpkg system: the headers' own times are all there is
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".list") else {
            continue;
        };
        let package = stem.split(':').next().unwrap_or(stem);
        if DEV_PACKAGES.contains(&package) {
            println!("cargo:rerun-if-changed={}", entry.path().display());
        }
    }
}

fn main() {
    watch_dpkg();
    for f in C_FILES {
        println!("cargo:rerun-if-changed={f}");
    }
    println!("cargo:rerun-if-changed=src/render/xslt/c/shim.h");
    println!("cargo:rerun-if-changed=src/render/xslt/version_number.rs");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo::rustc-check-cfg=cfg(vitrine_libxml2_const_error)");
    let xml = pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("libxml-2.0")
        .expect("libxml2 development files not found: install libxml2-dev and pkg-config");
    let xslt = pkg_config::Config::new()
        .cargo_metadata(false)
        .probe("libxslt")
        .expect("libxslt development files not found: install libxslt1-dev and pkg-config");
    println!("cargo:rustc-env=VITRINE_BUILT_LIBXML2={}", xml.version);
    println!("cargo:rustc-env=VITRINE_BUILT_LIBXSLT={}", xslt.version);
    if number(&xml.version) >= 21200 {
        println!("cargo:rustc-cfg=vitrine_libxml2_const_error");
    }
    let mut includes = xml.include_paths.clone();
    includes.extend(xslt.include_paths.iter().cloned());
    watch(&includes);

    let mut build = cc::Build::new();
    build
        .files(C_FILES)
        .include("src/render/xslt/c")
        .warnings(true);
    for dir in &includes {
        build.include(dir);
    }
    // Deprecation warnings of newer libxml2 (xmlXPathInit, htmlTagLookup...) are expected:
    // the calls are the public contract of the oldest supported version.
    build.flag_if_supported("-Wno-deprecated-declarations");
    build.compile("vitrine_xslt_shim");
}
