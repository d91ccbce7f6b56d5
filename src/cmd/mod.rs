//! One module per subcommand: each validates its arguments, wires the library's components
//! together and reports to the operator. `anyhow` is used here and in `main` only.

pub mod certs;
pub mod check;
pub mod doctor;
pub mod domains;
pub mod export;
pub mod out;
pub mod render;
pub mod replay;
pub mod serve;
pub mod unpublish;
