//! Rendering: site XML + theme -> HTML.
pub mod xslt;
