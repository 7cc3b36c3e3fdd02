//! hush-run: placeholder until its issue lands.
fn main() {}
