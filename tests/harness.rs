//! Small harness for the end-to-end suite: finds the built binaries, and the fixtures
//! both tools' tests use.

use std::path::{Path, PathBuf};

/// The folder holding the built `hush` and `hush-run` (`HUSH_BIN_DIR` overrides).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HUSH_BIN_DIR") {
        return PathBuf::from(dir);
    }
    // The test executable lives in target/<profile>/deps/.
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("no current exe: {e}"));
    exe.parent()
        .and_then(|d| d.parent())
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("odd test path {exe:?}"))
}

/// The path of a built binary, with a clear failure if it was not built.
pub fn bin(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} not built: run `cargo build --workspace --bins` first",
        path.display()
    );
    path
}

/// The files in a folder, sorted (for "nothing left behind" checks).
pub fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Argon2id parameters far below the real ones, so that passphrase tests take
/// milliseconds (the real parameters are exercised by the library's own tests).
pub fn fast_argon2() -> shared::SealOptions {
    shared::SealOptions {
        argon2: shared::Argon2Params {
            m_kib: 64,
            t: 1,
            p: 1,
        },
    }
}

/// Writes a 0600 key file holding `key` and `iv`, as `hush keygen` does; returns its path.
pub fn key_file(dir: &Path, name: &str, key: &shared::Key, iv: &shared::Iv) -> PathBuf {
    let path = dir.join(name);
    shared::cli::private_file::write_key_file(&path, key, iv, true)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}
