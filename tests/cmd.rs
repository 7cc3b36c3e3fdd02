//! The command lines of `hush` and `hush-run` as data (trycmd): `--help` texts, usage errors,
//! and every error message with its exit code that can be produced without a terminal or a
//! clipboard. The cases are the `cmd/*.md` files; each runs in its `cmd/<name>.in/` folder
//! (a copy of it when a `cmd/<name>.out/` exists, whose files the results must match).
//!
//! After a deliberate change of a message: `TRYCMD=overwrite cargo test -p hush-tests --test
//! cmd`, then review the diff. `cmd/make-fixtures.py` explains and rewrites the fixtures.
#![allow(missing_docs)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use hush_tests::bin;

/// The folder of this crate (cargo runs the tests from it, but say it once).
fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Git keeps no permission bits: key and passphrase files get 0600 back, as the tools
/// demand, and the `group-readable*` ones 0640, to be refused.
fn restore_fixture_modes() {
    let cases = here().join("cmd");
    for dir in fs::read_dir(&cases).expect("tests/cmd") {
        let dir = dir.expect("tests/cmd entry").path();
        if dir.extension().is_none_or(|e| e != "in") {
            continue;
        }
        for file in fs::read_dir(&dir).expect("fixture folder") {
            let path = file.expect("fixture").path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let secret = name.ends_with(".key") || name.contains("pass");
            if !secret {
                continue;
            }
            let mode = if name.starts_with("group-readable") {
                0o640
            } else {
                0o600
            };
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
        }
    }
}

/// Whether this process has a controlling terminal that the binaries would find at /dev/tty.
fn has_terminal() -> bool {
    fs::File::open("/dev/tty").is_ok()
}

/// The cases of `no-tty.md` need a process without a controlling terminal (CI has none; a
/// `cargo test` typed in a terminal has one, and the binaries would wait at their prompts).
/// A new session has none. Returns whether the cases can run.
fn leave_terminal() -> bool {
    if !has_terminal() {
        return true;
    }
    // Fails only for a process group leader (a test binary started by hand from a shell).
    rustix::process::setsid().is_ok() && !has_terminal()
}

#[test]
fn cli_cases() {
    restore_fixture_modes();
    let no_tty = leave_terminal();
    let cases = trycmd::TestCases::new();
    cases
        .register_bin("hush", bin("hush"))
        .register_bin("hush-run", bin("hush-run"))
        // No case may reach a clipboard: without a display there is none.
        .env("DISPLAY", "")
        .env("WAYLAND_DISPLAY", "")
        // clap wraps `--help` to the terminal's width; make it the same everywhere.
        .env("COLUMNS", "100")
        .env("LC_ALL", "C")
        .case("cmd/*.md");
    if !no_tty {
        eprintln!("cmd/no-tty.md skipped: this process keeps a controlling terminal");
        cases.skip("cmd/no-tty.md");
    }
    cases.run();
}
