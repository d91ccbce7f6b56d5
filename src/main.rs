//! Placeholder binary of the `replay` branch; the replay subcommands are mounted later.
fn main() {}
