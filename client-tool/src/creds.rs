//! Where key material comes from for the subcommands: key files, a passphrase typed on the
//! terminal without echo, or a passphrase file. Never argv, never the environment.

use std::fs;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use shared::{Credentials, Passphrase};
use zeroize::Zeroizing;

use crate::cli::CredentialArgs;
use crate::failure::{Failure, code};

/// Reads a key file, with key-file errors (exit code 8).
pub fn read_key_file(path: &Path) -> Result<Credentials, Failure> {
    shared::keyfile::read(path).map_err(|e| Failure::key_file(path, e))
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
    if out.is_empty() {
        return Err(Failure::usage(
            "no key given: use --key-file FILE, --passphrase or --passphrase-file FILE",
        )
        .hint("make a key file with `hush keygen --out FILE`"));
    }
    Ok(out)
}

fn prompt_passphrase(confirm: bool) -> Result<Passphrase, Failure> {
    let no_tty = |e: std::io::Error| {
        Failure::usage(format!("cannot ask for a passphrase: no terminal ({e})"))
            .hint("use --passphrase-file FILE when there is no terminal")
    };
    // rpassword reads /dev/tty with echo off, whatever stdin is.
    let first = Zeroizing::new(rpassword::prompt_password("Passphrase: ").map_err(no_tty)?);
    if confirm {
        let again =
            Zeroizing::new(rpassword::prompt_password("Passphrase (again): ").map_err(no_tty)?);
        if *first != *again {
            return Err(Failure::usage("the passphrases do not match"));
        }
    }
    Passphrase::new(first).map_err(Failure::from)
}

fn read_passphrase_file(path: &Path) -> Result<Passphrase, Failure> {
    let meta = fs::metadata(path).map_err(|e| Failure::key_file(path, e.into()))?;
    let mode = meta.permissions().mode() & 0o777;
    if meta.is_file() && mode & 0o077 != 0 {
        return Err(Failure::key_file(
            path,
            shared::Error::KeyFilePermissions {
                path: path.to_owned(),
                mode,
            },
        ));
    }
    let file = fs::File::open(path).map_err(|e| Failure::key_file(path, e.into()))?;
    let mut line = Zeroizing::new(String::new());
    BufReader::new(file)
        .read_line(&mut line)
        .map_err(|e| Failure::key_file(path, e.into()))?;
    let text = Zeroizing::new(line.trim_end_matches(['\n', '\r']).to_owned());
    Passphrase::new(text).map_err(|e| Failure::new(code::USAGE, format!("{}: {e}", path.display())))
}
