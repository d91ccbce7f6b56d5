//! The integration test binary: real server, real redis-server, real files in temp dirs.

mod support;

mod faults;
mod http_edges;
mod replay;
mod serve;
