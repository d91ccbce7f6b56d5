//! Vitrine: publisher of professional mini-sites (temporary wiring on the `replay` branch;
//! the lead's lib.rs replaces it at merge time).

pub mod replay;
