//! hush end-to-end tests: subcommands with assert_cmd (`cli`), the TUI under Xvfb driven by
//! tmux with xclip reading the real X clipboard (`tui`).
// Test helpers: a failure here is a test failure.
#![allow(clippy::unwrap_used)]

mod cli;
pub(crate) mod desk;
mod relay;
mod tui;
mod tui_relay;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use assert_cmd::Command;
pub use hush_tests::{key_file, listing};

/// `hush` as a command, with no display (tests that want one set it).
pub fn hush() -> Command {
    let mut cmd = Command::new(hush_tests::bin("hush"));
    cmd.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    cmd
}

/// Writes a file with the given mode.
pub fn write_mode(path: &Path, data: &[u8], mode: u32) {
    fs::write(path, data).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}
