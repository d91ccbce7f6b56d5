//! What the commands print. `println!` panics when stdout is a pipe whose reader has gone
//! (`vitrine check --json | head`): the process ignores SIGPIPE (Rust's runtime does, and
//! the server needs it to, for client sockets), so the write fails with EPIPE and the
//! macro turns that into a panic, exit status 101 and a backtrace. Here a reader that has
//! gone is not an error: the command finishes its work, stops printing and exits with its
//! own status, as `head` asked. Any other write error (a full disk behind `> FILE`) is
//! reported, since the output the operator wanted is lost.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

/// Set at the first EPIPE: later output would fail the same way.
static STDOUT_GONE: AtomicBool = AtomicBool::new(false);

/// Writes to stdout and flushes (so that an error is seen now, not lost at exit); a reader
/// that has gone is `Ok`.
pub fn bytes(data: &[u8]) -> std::io::Result<()> {
    if STDOUT_GONE.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(data).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() == ErrorKind::BrokenPipe => {
            STDOUT_GONE.store(true, Ordering::Relaxed);
            Ok(())
        }
        other => other,
    }
}

/// [`bytes()`] of formatted text.
pub fn text(args: fmt::Arguments<'_>) -> std::io::Result<()> {
    match args.as_str() {
        Some(s) => bytes(s.as_bytes()),
        None => bytes(args.to_string().as_bytes()),
    }
}

/// Writes to stderr, ignoring every error: with stderr gone there is nobody left to tell.
pub fn err(args: fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `println!` to stdout through [`text()`]: `anyhow::Result<()>`, never a panic.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::cmd::out::text(format_args!("{}\n", format_args!($($arg)*)))
            .map_err(|e| ::anyhow::anyhow!("cannot write to stdout: {e}"))
    };
}

/// `eprintln!` through [`err()`]: never a panic.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cmd::out::err(format_args!("{}\n", format_args!($($arg)*)))
    };
}
