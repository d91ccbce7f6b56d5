//! `vitrine replay`: a thin wrapper over [`crate::replay`].

use std::process::ExitCode;

use crate::replay::{self, ReplayArgs};

/// Runs `vitrine replay`; the report is printed by the replayer itself.
pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    replay::run(args).await?;
    Ok(ExitCode::SUCCESS)
}
