//! Vitrine library.
pub mod render;

// Temporary in the `edge` worktree; the lead wires these in main by hand.
pub mod fsx;
pub mod server {
    pub mod range;
}
pub mod site {
    pub mod host;
}
