//! What the server tells its operators: the log set-up ([`init_logging`]), repeated
//! events counted and logged once per interval ([`tally`]), and the access log
//! ([`access_log`]).
//!
//! A client can cause an event on every request (a connection reset for abuse, a refused
//! file); logging each one would let that client flood the log and spend the server's time
//! on it. So such events go to a [`tally::Tally`]: the request path only bumps a counter,
//! and a background task writes one line per kind and interval with the count and a few
//! examples.

pub mod access_log;
pub mod tally;

use std::io::IsTerminal;

use tracing::Level;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Libraries whose warnings are about one client (h2 logs one per connection it closes for
/// abuse, such as rapid resets): counted in [`tally::PROTOCOL`], not written one by one.
const CLIENT_NOISE: &[&str] = &["h2"];

fn is_client_noise(meta: &tracing::Metadata<'_>) -> bool {
    *meta.level() == Level::WARN
        && CLIENT_NOISE
            .iter()
            .any(|t| meta.target() == *t || meta.target().starts_with(&format!("{t}::")))
}

/// Logs to stderr at the level `VITRINE_LOG` says (default `info`), with the warnings of
/// the HTTP libraries about single clients folded into [`tally::PROTOCOL`].
pub fn init_logging() {
    let filter = EnvFilter::try_from_env("VITRINE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for a person at a terminal, not for journald or a log file.
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .with_filter(filter_fn(|meta| !is_client_noise(meta)));
    tracing_subscriber::registry()
        .with(filter)
        .with(fmt)
        .with(tally::CountLayer)
        .init();
}
