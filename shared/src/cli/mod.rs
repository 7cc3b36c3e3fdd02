//! What both binaries need around the library, written once (feature `cli`; only the
//! binaries and the test suite enable it, so the library proper stays free of terminals,
//! signals and process state).
//!
//! - [`stderr`]: notes and failures on stderr that never panic when stderr is gone;
//! - [`stdout`]: standard output that is cut back on failure when it is a regular file;
//! - [`failure`]: how a binary's typed error becomes `tool: message`, a hint and an exit code;
//! - [`signals`]: one signal thread per process; the terminal and unfinished files are put
//!   right before a signal ends the process;
//! - [`prompt`]: hidden prompts on /dev/tty (the console on Windows);
//! - `keyfile`: the key file's text (`key = ...`, `iv = ...`);
//! - [`private_file`]: opening key and passphrase files the way ssh does (owner, mode, no
//!   symlink, checked on the open descriptor) and writing them 0600;
//! - [`atomic`]: all-or-nothing output files;
//! - [`man`]: `--man`, the manual page from the clap definition;
//! - `relay_client` (feature `relay-client`): the blocking client of hush-relay/1 (pinned TLS, retries, long-polls);
//! - `config` (feature `relay-client`): the settings file (the relay and its pin);
//! - `devices` (feature `relay-client`): registered devices' identities and the lists of
//!   peers each side remembers;
//! - `relay_flow` (feature `relay-client`): the sender's and the receiver's pairing and delivery over it;
//! - `remember` (feature `relay-client`): the identities a pairing's two sides exchange to
//!   remember each other;
//! - [`hardening`]: no core dumps, no ptrace, secrets kept out of swap and dumps;
//! - `platform`: everything that differs between Unix and Windows, and nothing else.

pub mod atomic;
#[cfg(feature = "relay-client")]
pub mod config;
#[cfg(feature = "relay-client")]
pub mod devices;
pub mod error;
pub mod failure;
pub mod hardening;
pub(crate) mod keyfile;
pub mod man;
mod platform;
pub mod private_file;
pub mod prompt;
#[cfg(feature = "relay-client")]
pub mod relay_client;
#[cfg(feature = "relay-client")]
pub mod relay_flow;
#[cfg(feature = "relay-client")]
pub mod remember;
pub mod signals;
pub mod stderr;
pub mod stdout;

pub use error::Error;

use std::path::Path;

/// What both binaries do first, before any secret is read: harden the process (no core
/// dumps, no ptrace attach) and start the signal thread, so that a signal at any later
/// point restores the terminal and removes unfinished files. `program` names the tool in
/// the notes the signal thread writes.
pub fn init(program: &'static str) -> Result<(), Error> {
    hardening::harden_process().map_err(Error::Hardening)?;
    signals::install(program)
}

/// Lower-case hex, as the relay protocol writes ids and pins.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The folder a file is created in: its parent, or `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_of_a_bare_name_is_the_current_folder() {
        assert_eq!(parent_dir(Path::new("k")), Path::new("."));
        assert_eq!(parent_dir(Path::new("a/k")), Path::new("a"));
        assert_eq!(parent_dir(Path::new("/k")), Path::new("/"));
    }
}
