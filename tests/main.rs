//! The integration test binary: real server, real redis-server, real files in temp dirs.

#[macro_use]
mod support;

mod access_log;
mod day_one;
mod engine;
mod export;
mod faults;
mod hostile;
mod http_edges;
mod ops;
mod reload;
mod replay;
mod serve;
mod tls;
mod xslt_hardening;
