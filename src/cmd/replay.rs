//! `vitrine replay`, `vitrine bench gen-log`, `vitrine bench gen-corpus` and
//! `vitrine bench plot`: thin wrappers over [`crate::replay`].

use std::process::ExitCode;

use crate::replay::{self, GenCorpusArgs, GenLogArgs, PlotArgs, ReplayArgs};

/// Runs `vitrine replay`; the report is printed by the replayer itself.
pub async fn run(args: ReplayArgs) -> anyhow::Result<ExitCode> {
    replay::run(args).await?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `vitrine bench gen-log` off the async reactor (it is CPU and file bound).
pub async fn gen_log(args: GenLogArgs) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || replay::gen_log(args)).await??;
    Ok(ExitCode::SUCCESS)
}

/// Runs `vitrine bench gen-corpus` off the async reactor (it is CPU and file bound).
pub async fn gen_corpus(args: GenCorpusArgs) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || replay::gen_corpus(args)).await??;
    Ok(ExitCode::SUCCESS)
}

/// Runs `vitrine bench plot` off the async reactor (it reads and writes files).
pub async fn plot(args: PlotArgs) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || replay::plot(args)).await??;
    Ok(ExitCode::SUCCESS)
}
