//! Where the key comes from: hidden prompts (three tries each), a 0600 key file, or a file
//! descriptor. Never argv, never the environment: both are readable through /proc.

use std::path::{Path, PathBuf};

use shared::cli::prompt::{Hidden, Tty};
use shared::{Credentials, Iv, Key, Passphrase};
use zeroize::Zeroizing;

use crate::failure::{Failure, Result};

/// Tries per entry before giving up.
const TRIES: usize = 3;

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
pub fn obtain(source: Source, tty: &mut shared::cli::error::Result<Tty>) -> Result<Credentials> {
    match source {
        Source::File(path) => {
            shared::cli::private_file::read_key_file(&path).map_err(|e| key_file_failure(&path, e))
        }
        Source::Fd(fd) => from_fd(fd),
        Source::Prompt => {
            // Echo stays off from the Key: prompt to the end of the IV: prompt.
            let mut hidden = hide(usable(tty)?)?;
            let key = ask(&mut hidden, "Key: ", "key", Key::parse)?;
            // The IV may already be waiting: pasted together with the key.
            let iv = ask(&mut hidden, "IV: ", "IV", Iv::parse)?;
            Ok(Credentials::KeyIv { key, iv })
        }
        Source::Passphrase => {
            let mut hidden = hide(usable(tty)?)?;
            ask_passphrase(&mut hidden).map(Credentials::Passphrase)
        }
    }
}

fn usable(tty: &mut shared::cli::error::Result<Tty>) -> Result<&mut Tty> {
    tty.as_mut().map_err(|e| {
        Failure::new(format!("no terminal to ask for the key on ({})", tty_reason(e)))
            .hint("over ssh, ask for a terminal with `ssh -t`; for automation use --key-file FILE (mode 0600) or --key-fd N")
    })
}

/// Why the terminal could not be opened, as `/dev/tty: <reason>`.
pub fn tty_reason(e: &shared::cli::Error) -> String {
    match e {
        shared::cli::Error::NoTerminal(io) => format!("/dev/tty: {io}"),
        other => other.to_string(),
    }
}

fn hide(tty: &mut Tty) -> Result<Hidden<'_>> {
    tty.hidden()
        .map_err(|e| Failure::new(format!("cannot use the terminal: {e}")))
}

fn key_file_failure(path: &Path, e: shared::cli::Error) -> Failure {
    use shared::cli::Error;
    match e {
        e @ Error::Unreadable { .. } => Failure::new(e.to_string())
            .hint("a key file holds `key = ...` and `iv = ...` lines and has mode 0600 (`hush keygen` writes one)"),
        Error::Format(e) => Failure::new(format!("bad key file: {e}")),
        // Its message already says what to run.
        e @ Error::Permissions { .. } => Failure::new(e.to_string()),
        e => Failure::new(e.to_string()).hint(format!(
            "a key file must be your own regular file, mode 0600: chmod 600 {}",
            path.display()
        )),
    }
}

/// Reads key file text from an inherited descriptor, then closes it so that the command
/// cannot read it again.
pub fn from_fd(fd: i32) -> Result<Credentials> {
    shared::cli::private_file::read_key_fd(fd).map_err(|e| match e {
        shared::cli::Error::Format(e) => Failure::new(format!("bad key: {e}")),
        e => Failure::new(e.to_string()).hint(format!(
            "open it for hush-run, e.g. `hush-run --key-fd {fd} -- CMD {fd}< key-file`"
        )),
    })
}

/// Asks for one secret until it parses, at most [`TRIES`] times. The entry is never shown,
/// not even in the explanation of what is wrong with it.
fn ask<T>(
    hidden: &mut Hidden<'_>,
    prompt: &str,
    what: &str,
    parse: fn(&str) -> shared::Result<T>,
) -> Result<T> {
    for attempt in 1..=TRIES {
        let entry = read_hidden(hidden, prompt)?;
        let problem = if entry.trim().is_empty() {
            format!("nothing entered: paste the {what} from `hush` on your laptop")
        } else {
            match parse(&entry) {
                Ok(value) => return Ok(value),
                Err(e) => e.to_string(),
            }
        };
        // After a bad entry, whatever else was pasted with it goes too.
        hidden.discard_pending();
        let retry = match TRIES - attempt {
            0 => String::new(),
            1 => " (1 try left)".to_owned(),
            n => format!(" ({n} tries left)"),
        };
        hidden.say(&format!("hush-run: {problem}{retry}\n"));
    }
    Err(Failure::new(format!("no valid {what} after {TRIES} tries")))
}

fn ask_passphrase(hidden: &mut Hidden<'_>) -> Result<Passphrase> {
    for attempt in 1..=TRIES {
        let first = read_hidden(hidden, "Passphrase: ")?;
        let problem = match Passphrase::new(first) {
            Err(e) => e.to_string(),
            Ok(passphrase) => {
                let again = read_hidden(hidden, "Passphrase (again): ")?;
                if again.as_bytes() == passphrase.expose() {
                    return Ok(passphrase);
                }
                "the passphrases do not match".to_owned()
            }
        };
        hidden.discard_pending();
        let left = TRIES - attempt;
        hidden.say(&format!(
            "hush-run: {problem}{}\n",
            if left > 0 { ", try again" } else { "" }
        ));
    }
    Err(Failure::new(format!("no passphrase after {TRIES} tries")))
}

fn read_hidden(hidden: &mut Hidden<'_>, prompt: &str) -> Result<Zeroizing<String>> {
    match hidden.ask(prompt) {
        Ok(Some(entry)) => Ok(entry),
        Ok(None) => Err(Failure::new("no key entered (end of input)")),
        Err(e) => Err(Failure::new(e.to_string())),
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
