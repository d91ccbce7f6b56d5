//! Vitrine library.
pub mod render;
