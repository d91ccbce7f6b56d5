//! The integration test binary: real server, real redis-server, real files in temp dirs.

mod support;

mod export;
mod replay;
mod serve;
