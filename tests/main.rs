//! The integration test binary: real server, real redis-server, real files in temp dirs.

mod support;

mod ops;
mod reload;
mod replay;
mod serve;
