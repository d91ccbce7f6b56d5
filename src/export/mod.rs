//! Export: back-office records (JSON Lines, one professional per line) become site XML files
//! on disk, with the domain map kept in step.
//!
//! * [`record`]: the record format and its rules (field paths in every error).
//! * [`xml`]: a checked record written as its site XML.

pub mod record;
pub mod xml;
