//! Where the key comes from: hidden prompts (three tries each), a 0600 key file, or a file
//! descriptor. Never argv, never the environment: both are readable through /proc.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use shared::{Credentials, Iv, Key, Passphrase};
use zeroize::Zeroizing;

use crate::failure::{Failure, Result};
use crate::tty::Tty;

/// Tries per entry before giving up.
const TRIES: usize = 3;
/// A key file is a few lines; anything much larger is not one.
const MAX_KEY_TEXT: usize = 64 * 1024;

/// How the user chose to give the key.
pub enum Source {
    /// Hidden prompts for key and IV.
    Prompt,
    /// Hidden prompts for a passphrase, twice.
    Passphrase,
    /// A key file.
    File(PathBuf),
    /// Key file text on a descriptor.
    Fd(i32),
}

/// Obtains the credentials. `tty` is the controlling terminal if one could be opened
/// (with the reason otherwise).
pub fn obtain(source: Source, tty: &mut io::Result<Tty>) -> Result<Credentials> {
    match source {
        Source::File(path) => shared::keyfile::read(&path).map_err(|e| key_file_failure(&path, e)),
        Source::Fd(fd) => from_fd(fd),
        Source::Prompt => {
            let tty = usable(tty)?;
            let key = ask(tty, "Key: ", "key", Key::parse, true)?;
            // The IV may already be waiting: pasted together with the key, with echo off.
            let iv = ask(tty, "IV: ", "IV", Iv::parse, false)?;
            Ok(Credentials::KeyIv { key, iv })
        }
        Source::Passphrase => ask_passphrase(usable(tty)?).map(Credentials::Passphrase),
    }
}

fn usable(tty: &mut io::Result<Tty>) -> Result<&mut Tty> {
    tty.as_mut().map_err(|e| {
        Failure::new(format!("no terminal to ask for the key on (/dev/tty: {e})"))
            .hint("over ssh, ask for a terminal with `ssh -t`; for automation use --key-file FILE (mode 0600) or --key-fd N")
    })
}

fn key_file_failure(path: &Path, e: shared::Error) -> Failure {
    match e {
        shared::Error::Io(io) => Failure::new(format!("cannot read the key file {}: {io}", path.display()))
            .hint("a key file holds `key = ...` and `iv = ...` lines and has mode 0600 (`hush keygen` writes one)"),
        e @ shared::Error::KeyFilePermissions { .. } => Failure::new(e.to_string()),
        e => Failure::new(format!("bad key file: {e}")),
    }
}

/// Reads key file text from an inherited descriptor, then closes it so that the command
/// cannot read it again.
#[allow(unsafe_code)]
pub fn from_fd(fd: i32) -> Result<Credentials> {
    let bad = |e: io::Error| {
        Failure::new(format!("cannot read the key from descriptor {fd}: {e}")).hint(format!(
            "open it for hush-run, e.g. `hush-run --key-fd {fd} -- CMD {fd}< key-file`"
        ))
    };
    // Check it is open before taking ownership, so that a wrong number is an error message
    // and not a descriptor of our own closed behind our back.
    // SAFETY: the descriptor is only used for this one fcntl call.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_getfd(borrowed).map_err(|e| bad(e.into()))?;
    // SAFETY: the user handed this descriptor (>= 3, checked by the CLI) to hush-run; nothing
    // else in this process opened or owns it, and it is dropped (closed) right after reading.
    let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
    let mut text = Zeroizing::new(Vec::with_capacity(MAX_KEY_TEXT));
    (&mut file)
        .take(MAX_KEY_TEXT as u64)
        .read_to_end(&mut text)
        .map_err(bad)?;
    drop(file);
    let text = std::str::from_utf8(&text).map_err(|_| {
        Failure::new(format!(
            "the key on descriptor {fd} is not text (expected a hush key file)"
        ))
    })?;
    let name = PathBuf::from(format!("descriptor {fd}"));
    shared::keyfile::parse(&name, text).map_err(|e| Failure::new(format!("bad key: {e}")))
}

/// Asks for one secret until it parses, at most [`TRIES`] times. The entry is never shown,
/// not even in the explanation of what is wrong with it.
fn ask<T>(
    tty: &mut Tty,
    prompt: &str,
    what: &str,
    parse: fn(&str) -> shared::Result<T>,
    discard_pending: bool,
) -> Result<T> {
    for attempt in 1..=TRIES {
        // After a bad entry, whatever else was pasted with it goes too.
        let entry = read_hidden(tty, prompt, discard_pending || attempt > 1)?;
        let problem = if entry.trim().is_empty() {
            format!("nothing entered: paste the {what} from `hush` on your laptop")
        } else {
            match parse(&entry) {
                Ok(value) => return Ok(value),
                Err(e) => e.to_string(),
            }
        };
        let left = TRIES - attempt;
        let retry = match left {
            0 => String::new(),
            1 => " (1 try left)".to_owned(),
            n => format!(" ({n} tries left)"),
        };
        tty.say(&format!("hush-run: {problem}{retry}\n"));
    }
    Err(Failure::new(format!("no valid {what} after {TRIES} tries")))
}

fn ask_passphrase(tty: &mut Tty) -> Result<Passphrase> {
    for attempt in 1..=TRIES {
        let first = read_hidden(tty, "Passphrase: ", true)?;
        let problem = match Passphrase::new(first) {
            Err(e) => e.to_string(),
            Ok(passphrase) => {
                let again = read_hidden(tty, "Passphrase (again): ", false)?;
                if again.as_bytes() == passphrase.expose() {
                    return Ok(passphrase);
                }
                "the passphrases do not match".to_owned()
            }
        };
        let left = TRIES - attempt;
        tty.say(&format!(
            "hush-run: {problem}{}\n",
            if left > 0 { ", try again" } else { "" }
        ));
    }
    Err(Failure::new(format!("no passphrase after {TRIES} tries")))
}

fn read_hidden(tty: &mut Tty, prompt: &str, discard_pending: bool) -> Result<Zeroizing<String>> {
    match tty.read_hidden(prompt, discard_pending) {
        Ok(Some(entry)) => Ok(entry),
        Ok(None) => Err(Failure::new("no key entered (end of input)")),
        Err(e) => Err(Failure::new(format!("cannot read from the terminal: {e}"))),
    }
}

/// Reads the key source named on the command line.
pub fn source(key_file: Option<PathBuf>, key_fd: Option<i32>, passphrase: bool) -> Source {
    match (key_file, key_fd, passphrase) {
        (Some(path), _, _) => Source::File(path),
        (_, Some(fd), _) => Source::Fd(fd),
        (_, _, true) => Source::Passphrase,
        _ => Source::Prompt,
    }
}

/// Whether the source needs the terminal.
pub fn needs_tty(source: &Source) -> bool {
    matches!(source, Source::Prompt | Source::Passphrase)
}
