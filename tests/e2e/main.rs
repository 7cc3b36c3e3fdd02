//! End-to-end tests of the built binaries. One test binary, modules by tool.
#![allow(missing_docs)]

mod client;
mod devices;
mod relay;
mod server;
