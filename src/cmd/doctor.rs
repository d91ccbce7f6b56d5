//! `vitrine doctor`: what the rendering engine is on this machine. The libxml2 and libxslt
//! loaded and those the binary was built against, which fast paths are on and why the
//! others are off, and the start-up self-test's verdict. Exits 1 when the engine is not
//! the one the binary was built for (a rebuild is needed) or the self-test failed; pages
//! are still correct then, only slower.

use std::process::ExitCode;

use anyhow::Context;

use crate::render::xslt;

/// Runs `vitrine doctor`.
pub fn run() -> anyhow::Result<ExitCode> {
    let engine = xslt::engine();
    super::out::bytes(engine.report().as_bytes()).context("cannot write to stdout")?;
    let degraded = engine.built != engine.loaded
        || engine.notes.iter().any(|n| n.contains("self-test failed"));
    if degraded {
        crate::outln!("verdict: degraded (see the notes above)")?;
        Ok(ExitCode::FAILURE)
    } else {
        crate::outln!("verdict: ok")?;
        Ok(ExitCode::SUCCESS)
    }
}
