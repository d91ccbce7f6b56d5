//! The `vitrine` binary: parse arguments, set up logging, run a subcommand, map the outcome
//! to an exit status. Everything else is in the library.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};
use vitrine::cli::{Cli, Command};
use vitrine::cmd;

/// Rust's own allocations (site bytes, page buffers, hyper's and tokio's) go to mimalloc, like
/// libxml2's (see `render::xslt::init`): perf put glibc's malloc and free at about 2.5 % of the
/// server's CPU on light pages.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // libxml2/libxslt global set-up (in `engine`) must happen before any thread can use
    // them; the engine's report is also the long `--version`.
    let engine = vitrine::render::xslt::engine();
    // clap keeps `&'static str` versions; this one string lives as long as the process.
    let long_version: &'static str =
        Box::leak(format!("{}\n{}", env!("CARGO_PKG_VERSION"), engine.report()).into_boxed_str());
    let matches = Cli::command().long_version(long_version).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    vitrine::observe::init_logging();
    if matches!(cli.command, Command::Serve(_)) {
        engine.log();
    } else {
        engine.log_notes();
    }
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = cli.runtime_threads() {
        builder.worker_threads(n);
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            vitrine::errln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => cmd::serve::run(*args).await,
            Command::Domains(args) => cmd::domains::run(args).await,
            Command::Certs(args) => cmd::certs::run(args).await,
            Command::Replay(args) => cmd::replay::run(args).await,
            Command::Render(args) => cmd::render::run(args).await,
            Command::Check(args) => cmd::check::run(args).await,
            Command::Doctor => cmd::doctor::run(),
            Command::Export(args) => cmd::export::run(args).await,
            Command::Unpublish(args) => cmd::unpublish::run(args).await,
        }
    });
    match result {
        Ok(code) => code,
        Err(e) => {
            vitrine::errln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
