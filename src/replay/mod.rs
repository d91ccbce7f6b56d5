//! Load replay: reading access logs (this stage: the parser and the streaming reader).

pub mod access_log;
mod error;

pub use access_log::{LogFormat, Request};
pub use error::ReplayError;
