//! One module per subcommand: each validates its arguments, wires the library's components
//! together and reports to the operator. `anyhow` is used here and in `main` only.

pub mod domains;
pub mod export;
pub mod replay;
pub mod serve;
pub mod unpublish;
