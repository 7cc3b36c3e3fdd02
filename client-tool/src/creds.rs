//! Where key material comes from for the subcommands: key files, a passphrase typed on the
//! terminal without echo, or a passphrase file. Never argv, never the environment.

use std::path::Path;

use shared::cli::prompt::Tty;
use shared::{Credentials, Passphrase};

use crate::cli::CredentialArgs;
use crate::failure::Failure;

/// Reads a key file, with key-file errors (exit code 8).
pub fn read_key_file(path: &Path) -> Result<Credentials, Failure> {
    shared::cli::private_file::read_key_file(path).map_err(Failure::key_file)
}

/// The candidates for opening: every key file, then the passphrase.
pub fn load(args: &CredentialArgs, confirm: bool) -> Result<Vec<Credentials>, Failure> {
    let mut out = Vec::new();
    for path in &args.key_files {
        out.push(read_key_file(path)?);
    }
    if args.passphrase {
        out.push(Credentials::Passphrase(prompt_passphrase(confirm)?));
    } else if let Some(path) = &args.passphrase_file {
        out.push(Credentials::Passphrase(read_passphrase_file(path)?));
    }
    for creds in &out {
        shared::cli::hardening::protect_credentials(creds);
    }
    if out.is_empty() {
        return Err(Failure::NoKey);
    }
    Ok(out)
}

fn prompt_passphrase(confirm: bool) -> Result<Passphrase, Failure> {
    let no_tty = |source| Failure::Prompt {
        what: "a passphrase",
        source,
    };
    // Echo stays off for both prompts, and comes back on a signal too.
    let mut tty = Tty::open().map_err(no_tty)?;
    let mut hidden = tty.hidden().map_err(no_tty)?;
    let mut ask = |prompt| match hidden.ask(prompt) {
        Ok(Some(entry)) => Ok(entry),
        Ok(None) => Err(Failure::NoPassphrase),
        Err(e) => Err(no_tty(e)),
    };
    let first = ask("Passphrase: ")?;
    if confirm && *ask("Passphrase (again): ")? != *first {
        return Err(Failure::PassphrasesDiffer);
    }
    Passphrase::new(first).map_err(Failure::from)
}

fn read_passphrase_file(path: &Path) -> Result<Passphrase, Failure> {
    shared::cli::private_file::read_passphrase_file(path).map_err(|e| match e {
        shared::cli::Error::Format(source) => Failure::PassphraseFile {
            path: path.to_owned(),
            source,
        },
        e => Failure::key_file(e),
    })
}
