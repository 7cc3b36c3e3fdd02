//! Where the key comes from: hidden prompts (three tries each), a 0600 key file, or a file
//! descriptor. Never argv, never the environment: both are readable through /proc.

use std::path::Path;

use shared::cli::devices::{self, PeerKind, Peers};
use shared::cli::prompt::{Hidden, Tty};
use shared::{Credentials, DeviceKeys, IdentitySecret, Iv, Key, Passphrase, Peer};
use zeroize::Zeroizing;

use crate::failure::{Failure, Result, TRIES};
use crate::mailbox::Mailboxes;

/// Reads a key file.
pub fn from_file(path: &Path) -> Result<Credentials> {
    shared::cli::private_file::read_key_file(path).map_err(Failure::KeyFile)
}

/// This server's identity, made on first use (like an ssh host key), with a note then.
pub fn server_identity(quiet: bool) -> Result<IdentitySecret> {
    let path = devices::path_of(devices::SERVER_IDENTITY).map_err(Failure::Devices)?;
    let (identity, made) = devices::server_identity(&path).map_err(Failure::Devices)?;
    if made && !quiet {
        shared::note!(
            "hush-run: made this server's identity {} ({})",
            identity.public().fingerprint(),
            path.display()
        );
    }
    Ok(identity)
}

/// Sealing for remembered devices: this server's identity and the devices named, with
/// each one's relay mailbox (if it gave one).
pub fn for_devices(names: &[String], quiet: bool) -> Result<Mailboxes> {
    let known = Peers::load(PeerKind::Devices).map_err(Failure::Devices)?;
    let mut peers = Vec::with_capacity(names.len());
    let mut mailboxes = Vec::with_capacity(names.len());
    for name in names {
        let device = known.active(name).map_err(Failure::UnknownDevice)?;
        peers.push(Peer {
            name: name.clone(),
            key: device.public(),
            forgotten: false,
        });
        mailboxes.push((name.clone(), device.mailbox.clone()));
    }
    let creds = Credentials::Devices(DeviceKeys {
        own: server_identity(quiet)?,
        peers,
    });
    Ok(Mailboxes::new(creds, mailboxes))
}

/// Asks for the key and the IV, echo off from the `Key:` prompt to the end of the `IV:`
/// prompt. The IV may already be waiting: pasted together with the key.
pub fn ask_key(tty: &mut Tty) -> Result<Credentials> {
    let mut hidden = tty.hidden().map_err(Failure::Terminal)?;
    let key = ask(&mut hidden, "Key: ", "key", Key::parse)?;
    let iv = ask(&mut hidden, "IV: ", "IV", Iv::parse)?;
    Ok(Credentials::KeyIv { key, iv })
}

/// Asks for a passphrase, twice.
pub fn ask_passphrase(tty: &mut Tty) -> Result<Credentials> {
    let mut hidden = tty.hidden().map_err(Failure::Terminal)?;
    passphrase(&mut hidden).map(Credentials::Passphrase)
}

/// Reads key file text from an inherited descriptor, then closes it so that the command
/// cannot read it again.
pub fn from_fd(fd: i32) -> Result<Credentials> {
    shared::cli::private_file::read_key_fd(fd).map_err(|source| Failure::KeyFd { fd, source })
}

/// Asks for one secret until it parses, at most [`TRIES`] times. The entry is never shown,
/// not even in the explanation of what is wrong with it.
fn ask<T>(
    hidden: &mut Hidden<'_>,
    prompt: &str,
    what: &'static str,
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
    Err(Failure::NoValidEntry(what))
}

fn passphrase(hidden: &mut Hidden<'_>) -> Result<Passphrase> {
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
    Err(Failure::NoValidEntry("passphrase"))
}

fn read_hidden(hidden: &mut Hidden<'_>, prompt: &str) -> Result<Zeroizing<String>> {
    match hidden.ask(prompt) {
        Ok(Some(entry)) => Ok(entry),
        Ok(None) => Err(Failure::NoKeyEntered),
        Err(e) => Err(Failure::Terminal(e)),
    }
}
