//! Where key material comes from for the subcommands: key files, a passphrase typed on the
//! terminal without echo, or a passphrase file, and the laptop's device identity (opened
//! with its own passphrase). Never argv, never the environment.

use std::path::Path;

use shared::cli::devices::{self, DeviceError, Mailbox, MailboxKeys, PeerKind, Peers};
use shared::cli::prompt::Tty;
use shared::cli::relay_client::pin_text;
use shared::cli::remember::{Offer, Reply};
use shared::{Credentials, DeviceKeys, IdentitySecret, Passphrase, SealOptions};

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
    ask_passphrase("a passphrase", "Passphrase: ", confirm)
}

/// Asks for a passphrase on the terminal, without echo; twice with `confirm`.
fn ask_passphrase(what: &'static str, prompt: &str, confirm: bool) -> Result<Passphrase, Failure> {
    let no_tty = |source| Failure::Prompt { what, source };
    // Echo stays off for both prompts, and comes back on a signal too.
    let mut tty = Tty::open().map_err(no_tty)?;
    let mut hidden = tty.hidden().map_err(no_tty)?;
    let mut ask = |prompt: &str| match hidden.ask(prompt) {
        Ok(Some(entry)) => Ok(entry),
        Ok(None) => Err(Failure::NoPassphrase),
        Err(e) => Err(no_tty(e)),
    };
    let first = ask(prompt)?;
    let again = format!("{} (again): ", prompt.trim_end().trim_end_matches(':'));
    if confirm && *ask(&again)? != *first {
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

/// Tries at the identity's passphrase prompt.
const IDENTITY_TRIES: usize = 3;

/// This laptop's device identity, open, and the servers it paired with.
pub struct Identity {
    /// The identity.
    pub own: IdentitySecret,
    /// `servers.toml`.
    pub servers: Peers,
}

impl Identity {
    /// Remembers the server of `offer` as `name` (servers.toml written, with its host name)
    /// and gives the answer that hands it this laptop's identity and its mailbox on `relay` (URL and pin: the relay of the
    /// pairing), with the mailbox's keys for registering it there. A name remembered with
    /// another identity is refused.
    pub fn remember(
        &mut self,
        name: &str,
        offer: &Offer,
        relay: (&str, Option<[u8; 32]>),
    ) -> Result<(Reply, MailboxKeys), DeviceError> {
        let (url, pin) = relay;
        let keys = devices::mailbox_keys(&self.own, url);
        let mailbox = Mailbox {
            relay: url.to_owned(),
            pin: pin.as_ref().map(pin_text),
            id: keys.id.clone(),
            token: String::new(),
        };
        self.servers
            .remember(name, &offer.identity, Some(mailbox.clone()))?;
        self.servers.note_host(name, &offer.host);
        self.servers.save()?;
        let reply = Reply::Accept {
            identity: self.own.public(),
            mailbox: Some(Mailbox {
                token: keys.drop.expose().to_owned(),
                ..mailbox
            }),
        };
        Ok((reply, keys))
    }

    /// The credentials that open messages sealed for this laptop by its servers.
    pub fn credentials(&self) -> Credentials {
        Credentials::Devices(DeviceKeys {
            own: self.own.clone(),
            peers: self.servers.to_peers(),
        })
    }
}

/// Opens this laptop's identity, with its passphrase from `passphrase_file` or asked on
/// the terminal (three tries). Without an identity yet: `None`, or with `create` a new one,
/// sealed with a new passphrase (asked twice).
pub fn identity(passphrase_file: Option<&Path>, create: bool) -> Result<Option<Identity>, Failure> {
    let path = devices::path_of(devices::IDENTITY)?;
    let own = if !devices::identity_exists(&path) {
        if !create {
            return Ok(None);
        }
        let passphrase = match passphrase_file {
            Some(file) => read_passphrase_file(file)?,
            None => {
                shared::note!(
                    "hush: this laptop has no identity yet; choose a passphrase for it (it is asked \
                     when hush starts)"
                );
                ask_passphrase(
                    "the identity's new passphrase",
                    "New passphrase for this laptop's identity: ",
                    true,
                )?
            }
        };
        let own = devices::create_identity(&path, &passphrase, SealOptions::default())?;
        shared::note!(
            "hush: made this laptop's identity {} ({})",
            own.public().fingerprint(),
            path.display()
        );
        own
    } else {
        open_identity(&path, passphrase_file)?
    };
    // Held for the session: the identity's own (boxed) bytes, not a copy.
    shared::cli::hardening::protect_secret(own.expose());
    Ok(Some(Identity {
        own,
        servers: Peers::load(PeerKind::Servers)?,
    }))
}

fn open_identity(path: &Path, passphrase_file: Option<&Path>) -> Result<IdentitySecret, Failure> {
    if let Some(file) = passphrase_file {
        return Ok(devices::load_identity(path, &read_passphrase_file(file)?)?);
    }
    for attempt in 1..=IDENTITY_TRIES {
        let passphrase = ask_passphrase(
            "the identity's passphrase",
            "Passphrase of this laptop's identity: ",
            false,
        )?;
        match devices::load_identity(path, &passphrase) {
            Err(devices::DeviceError::WrongPassphrase { .. }) if attempt < IDENTITY_TRIES => {
                shared::note!("hush: wrong passphrase, try again");
            }
            other => return Ok(other?),
        }
    }
    unreachable!("the last try returns")
}
