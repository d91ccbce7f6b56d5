//! Repeated events, counted on the request path and logged once per interval.
//!
//! [`Tally::hit_with`] logs the first event of an interval as it comes (so an operator
//! sees a fault at once), then only counts: one atomic increment, plus keeping the first
//! few distinct messages when their lock is free (never waiting for it). [`spawn_flusher`]
//! writes, every interval, one line per tally that saw more than that first event:
//! `<count> more <what> in the last 10s (e.g. <message>; <message>)`.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use tracing::field::{Field, Visit};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// How often tallies are written.
pub const INTERVAL: Duration = Duration::from_secs(10);

/// Most distinct example messages kept per interval.
const EXAMPLES: usize = 3;

/// Longest example message kept, in bytes.
const EXAMPLE_BYTES: usize = 300;

/// Connections the HTTP libraries closed or reset for a protocol fault of the client
/// (rapid resets, flow-control or framing violations).
pub static PROTOCOL: Tally =
    Tally::new("HTTP/2 protocol errors of clients (connections or streams closed)");
/// 5xx answers (render failures, overload, a broken map entry, a missing site file).
pub static SERVER_ERRORS: Tally = Tally::new("requests answered with a server error");
/// Media files refused for having several hard links.
pub static HARD_LINKS: Tally =
    Tally::new("media requests refused for a file with several hard links");
/// Responses abandoned because the client took none of their bytes within the send timeout.
pub static STALLED: Tally =
    Tally::new("responses abandoned: the client took no bytes within the send timeout");
/// Requests refused because the process-wide budget of open files was spent.
pub static FILE_BUDGET: Tally =
    Tally::new("file requests answered 503: the open-file budget is spent");

/// TLS handshakes refused (no SNI, a name not in the map, no certificate yet).
pub static HANDSHAKES_REFUSED: Tally = Tally::new("TLS handshakes refused");
/// Certificates ordered at a first handshake.
pub static ON_DEMAND: Tally = Tally::new("certificates ordered on demand at a first handshake");

/// Access-log lines dropped because the writer thread was behind (see
/// [`super::access_log::dropped`] for the count since start-up).
pub static ACCESS_LOG_DROPPED: Tally =
    Tally::new("access-log lines dropped: the log writer is behind");
/// Access-log writes that failed (disk full, file system gone).
pub static ACCESS_LOG_WRITE: Tally = Tally::new("access-log writes failed");

/// Every tally the flusher writes.
static ALL: [&Tally; 9] = [
    &PROTOCOL,
    &SERVER_ERRORS,
    &HARD_LINKS,
    &STALLED,
    &FILE_BUDGET,
    &HANDSHAKES_REFUSED,
    &ON_DEMAND,
    &ACCESS_LOG_DROPPED,
    &ACCESS_LOG_WRITE,
];

/// A count of one kind of event, and a few examples, since the last flush.
#[derive(Debug)]
pub struct Tally {
    what: &'static str,
    count: AtomicU64,
    examples: Mutex<Vec<String>>,
}

impl Tally {
    /// A tally of events described as `what` (a plural noun phrase).
    pub const fn new(what: &'static str) -> Tally {
        Tally {
            what,
            count: AtomicU64::new(0),
            examples: Mutex::new(Vec::new()),
        }
    }

    /// Counts one event; returns whether it is the first of the interval.
    fn hit(&self) -> bool {
        self.count.fetch_add(1, Ordering::Relaxed) == 0
    }

    /// Counts one event: the first of an interval is logged at once, at WARN; later ones
    /// keep `message` as an example, if it is new this interval and the examples are not
    /// being written or flushed right now.
    pub fn hit_with(&self, message: impl std::fmt::Display) {
        if self.hit() {
            tracing::warn!(
                "{message} (more {} in the next {INTERVAL:?} are counted, not logged each)",
                self.what
            );
            return;
        }
        let Ok(mut examples) = self.examples.try_lock() else {
            return;
        };
        if examples.len() >= EXAMPLES {
            return;
        }
        let mut text = message.to_string();
        if text.len() > EXAMPLE_BYTES {
            let mut end = EXAMPLE_BYTES;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text.truncate(end);
            text.push('…');
        }
        if !examples.contains(&text) {
            examples.push(text);
        }
    }

    /// Events counted since the last flush.
    pub fn pending(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Takes the count and examples of the interval: the line to log, if more events than
    /// the first (already logged) were seen.
    pub fn take(&self, interval: Duration) -> Option<String> {
        let n = self.count.swap(0, Ordering::Relaxed);
        let examples =
            std::mem::take(&mut *self.examples.lock().unwrap_or_else(|e| e.into_inner()));
        if n <= 1 {
            return None;
        }
        let mut line = format!("{} more {} in the last {interval:?}", n - 1, self.what);
        if !examples.is_empty() {
            let _ = write!(line, " (e.g. {})", examples.join("; "));
        }
        Some(line)
    }
}

/// Writes every tally's line each [`INTERVAL`], at WARN, until the runtime ends.
pub fn spawn_flusher() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            flush();
        }
    })
}

/// Writes the line of every tally that saw events since the last flush.
pub fn flush() {
    for tally in ALL {
        if let Some(line) = tally.take(INTERVAL) {
            tracing::warn!("{line}");
        }
    }
}

/// Counts the HTTP libraries' warnings about single clients into [`PROTOCOL`] (the log
/// layer itself leaves them out, see [`super::init_logging`]).
pub struct CountLayer;

impl<S: tracing::Subscriber> Layer<S> for CountLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if super::is_client_noise(event.metadata()) {
            let mut message = Message(String::new());
            event.record(&mut message);
            PROTOCOL.hit_with(format_args!("{}: {}", event.metadata().target(), message.0));
        }
    }
}

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_with_the_count_and_a_few_distinct_examples() {
        let t = Tally::new("things");
        assert_eq!(t.take(INTERVAL), None, "nothing seen, nothing logged");
        t.hit_with("logged at once");
        assert_eq!(t.take(INTERVAL), None, "a lone event was logged as it came");
        for i in 0..1001 {
            t.hit_with(format!("example {}", i % 5));
        }
        let line = t.take(Duration::from_secs(10)).unwrap();
        assert_eq!(
            line,
            "1000 more things in the last 10s (e.g. example 1; example 2; example 3)"
        );
        assert_eq!(t.pending(), 0);
        assert_eq!(t.take(INTERVAL), None, "the interval starts afresh");
    }

    #[test]
    fn long_examples_are_cut_on_a_character_boundary() {
        let t = Tally::new("things");
        t.hit_with("first");
        t.hit_with("é".repeat(400));
        let line = t.take(INTERVAL).unwrap();
        assert!(line.ends_with("…)"), "{line}");
        assert!(line.len() < 400, "{}", line.len());
    }
}
