//! `vitrine doctor`: what the rendering engine is on this machine. The libxml2 and libxslt
//! loaded and those the binary was built against, which fast paths are on and why the
//! others are off, and the start-up self-test's verdict. Exits 1 when the engine is not
//! the one the binary was built for (a rebuild is needed) or the self-test failed; pages
//! are still correct then, only slower.

use std::process::ExitCode;

use crate::render::xslt;

/// Runs `vitrine doctor`.
pub fn run() -> ExitCode {
    let engine = xslt::engine();
    print!("{}", engine.report());
    let degraded = engine.built != engine.loaded
        || engine.notes.iter().any(|n| n.contains("self-test failed"));
    if degraded {
        println!("verdict: degraded (see the notes above)");
        ExitCode::FAILURE
    } else {
        println!("verdict: ok");
        ExitCode::SUCCESS
    }
}
