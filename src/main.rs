//! Temporary command line of the `replay` branch: only the replay tooling is mounted here;
//! the lead's main.rs/cli.rs mounts `replay::args` at merge time.

use clap::{Parser, Subcommand};
use vitrine::replay::{self, GenLogArgs, ReplayArgs};

#[derive(Parser)]
#[command(name = "vitrine", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Replay access logs against a server and report throughput and latency.
    Replay(ReplayArgs),
    /// Benchmark tooling.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Write a synthetic day of page views for a sites folder.
    GenLog(GenLogArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Replay(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(replay::run(args))?;
        }
        Command::Bench {
            command: BenchCommand::GenLog(args),
        } => replay::gen_log(args)?,
    }
    Ok(())
}
