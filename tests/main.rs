//! The integration test binary: real server, real redis-server, real files in temp dirs.

mod support;

mod replay;
mod serve;
mod xslt_hardening;
