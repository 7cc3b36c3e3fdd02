//! Registered devices' files, in the tools' folder (`$XDG_CONFIG_HOME/hush/`, else
//! `~/.config/hush/`; created 0700), each private (0600, read with the key file rules):
//!
//! | file | tool | holds |
//! |---|---|---|
//! | `identity` | hush | the laptop's identity, sealed with a passphrase (armored, FORMAT.md passphrase mode) |
//! | `servers.toml` | hush | the servers it paired with (forgotten ones stay, marked) |
//! | `server-identity` | hush-run | the server's identity, in clear like an ssh host key |
//! | `devices.toml` | hush-run | the devices it seals for, with their relay mailboxes |
//!
//! A name already remembered with another key is refused loudly (like ssh's changed host
//! key): nothing is replaced until the user forgets the old entry.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::atomic::AtomicFile;
use super::relay_client::Token;
use super::{platform, private_file};
use crate::{Credentials, IdentitySecret, Metadata, Passphrase, Peer, PublicIdentity, SealOptions};

/// The laptop's identity file.
pub const IDENTITY: &str = "identity";
/// The laptop's list of servers.
pub const SERVERS: &str = "servers.toml";
/// The server's identity file.
pub const SERVER_IDENTITY: &str = "server-identity";
/// The server's list of devices.
pub const DEVICES: &str = "devices.toml";

/// What a sealed identity's plaintext starts with; the 32 secret bytes follow.
const IDENTITY_MAGIC: &[u8] = b"hush device identity v1\n";
/// The server identity file's one setting.
const SERVER_IDENTITY_NAME: &str = "identity";

/// Why a device file could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// Neither `XDG_CONFIG_HOME` nor `HOME` says where the folder is.
    #[error("cannot tell where to keep identities: set HOME (or XDG_CONFIG_HOME)")]
    NoFolder,
    /// The file failed the private-file checks, or could not be written.
    #[error(transparent)]
    File(#[from] super::Error),
    /// The passphrase does not open the laptop's identity.
    #[error("wrong passphrase for this device's identity ({path})")]
    WrongPassphrase {
        /// The identity file.
        path: PathBuf,
    },
    /// The file is not what it should be (another message, another mode, damaged).
    #[error("{path} is not a hush device identity: {why}")]
    NotAnIdentity {
        /// The file.
        path: PathBuf,
        /// What it is instead.
        why: String,
    },
    /// A list of peers that does not parse.
    #[error("{path}: {reason}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        reason: String,
    },
    /// A name already remembered with another key.
    #[error(
        "@@@ THE IDENTITY OF {name} HAS CHANGED @@@\n\
         {name} was paired on {paired} with {was};\n\
         it now presents {now}.\n\
         Someone may be impersonating it, or it was reinstalled. Nothing was remembered.\n\
         If you know why, run `{forget} {name}` and pair again"
    )]
    Changed {
        /// The peer's name.
        name: String,
        /// When the old key was paired.
        paired: String,
        /// The old key's fingerprint.
        was: String,
        /// The new key's fingerprint.
        now: String,
        /// The command that forgets it (`hush servers forget`, `hush-run devices forget`).
        forget: &'static str,
    },
    /// The same key is remembered under another name.
    #[error("that identity ({fingerprint}) is already remembered as {name}")]
    OtherName {
        /// The name it has.
        name: String,
        /// Its fingerprint.
        fingerprint: String,
    },
    /// No such peer.
    #[error("no {what} named {name} (known: {known})")]
    Unknown {
        /// "server" or "device".
        what: &'static str,
        /// The name asked for.
        name: String,
        /// The names there are.
        known: String,
    },
    /// A peer name that cannot be shown or stored safely.
    #[error(
        "invalid name {0:?}: use 1 to 64 letters, digits, '.', '-', '_' or '@', starting with a letter or digit"
    )]
    BadName(String),
}

/// The tools' folder: `$XDG_CONFIG_HOME/hush`, else `~/.config/hush`.
pub fn hush_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("hush"))
}

/// A file of the tools' folder.
pub fn path_of(name: &str) -> Result<PathBuf, DeviceError> {
    hush_dir()
        .map(|d| d.join(name))
        .ok_or(DeviceError::NoFolder)
}

/// Writes `bytes` as a private file, creating the folder (0700) if needed.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DeviceError> {
    let dir = super::parent_dir(path);
    platform::create_private_dir(dir).map_err(|source| super::Error::CreateIn {
        dir: dir.to_owned(),
        source,
    })?;
    let mut file = AtomicFile::create(path)?;
    file.write_all(bytes)
        .map_err(|source| super::Error::Write {
            path: path.to_owned(),
            source,
        })?;
    Ok(file.commit()?)
}

/// Reads a private file; `None` if it does not exist.
fn read_private(path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>, DeviceError> {
    match private_file::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(super::Error::Unreadable { source, .. })
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Whether the laptop's identity exists (so hush asks for its passphrase, not a new one).
pub fn identity_exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// Opens the laptop's identity with its passphrase.
pub fn load_identity(path: &Path, passphrase: &Passphrase) -> Result<IdentitySecret, DeviceError> {
    let not = |why: String| DeviceError::NotAnIdentity {
        path: path.to_owned(),
        why,
    };
    let sealed = read_private(path)?.ok_or_else(|| super::Error::Unreadable {
        path: path.to_owned(),
        source: std::io::ErrorKind::NotFound.into(),
    })?;
    let creds = Credentials::Passphrase(passphrase.clone());
    let opened = crate::open(&sealed, std::slice::from_ref(&creds)).map_err(|e| match e {
        crate::Error::WrongPassphrase => DeviceError::WrongPassphrase {
            path: path.to_owned(),
        },
        crate::Error::ModeMismatch { sealed_with, .. } => {
            not(format!("it is sealed with {sealed_with}, not a passphrase"))
        }
        other => not(other.to_string()),
    })?;
    let secret = opened
        .stdout
        .strip_prefix(IDENTITY_MAGIC)
        .and_then(|rest| <[u8; 32]>::try_from(rest).ok())
        .ok_or_else(|| not("it holds another message".into()))?;
    Ok(IdentitySecret::from_bytes(secret))
}

/// Makes the laptop's identity and stores it sealed with `passphrase` (refuses to replace
/// an existing one).
pub fn create_identity(
    path: &Path,
    passphrase: &Passphrase,
    options: SealOptions,
) -> Result<IdentitySecret, DeviceError> {
    let identity = IdentitySecret::generate().map_err(super::Error::Format)?;
    let mut plain = Zeroizing::new(Vec::with_capacity(IDENTITY_MAGIC.len() + 32));
    plain.extend_from_slice(IDENTITY_MAGIC);
    plain.extend_from_slice(identity.expose());
    let sealed = crate::seal(
        &Credentials::Passphrase(passphrase.clone()),
        &Metadata::default(),
        &plain,
        true,
        options,
    )
    .map_err(super::Error::Format)?;
    if identity_exists(path) {
        return Err(super::Error::Exists {
            path: path.to_owned(),
        }
        .into());
    }
    write_private(path, &sealed)?;
    Ok(identity)
}

/// The server's identity, made on first use (like an ssh host key). `true` if just made.
pub fn server_identity(path: &Path) -> Result<(IdentitySecret, bool), DeviceError> {
    if let Some(bytes) = read_private(path)? {
        let not = |why: &str| DeviceError::NotAnIdentity {
            path: path.to_owned(),
            why: why.to_owned(),
        };
        let text = std::str::from_utf8(&bytes).map_err(|_| not("not a text file"))?;
        let mut found = None;
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            match line.split_once('=') {
                Some((name, value)) if name.trim() == SERVER_IDENTITY_NAME && found.is_none() => {
                    found = Some(
                        IdentitySecret::parse(value)
                            .map_err(|_| not("its identity line is not 32 bytes of base64"))?,
                    );
                }
                _ => return Err(not("expected one line `identity = BASE64` and comments")),
            }
        }
        return Ok((found.ok_or_else(|| not("no `identity = ` line"))?, false));
    }
    let identity = IdentitySecret::generate().map_err(super::Error::Format)?;
    let text = Zeroizing::new(format!(
        "# hush-run server identity: keep it secret (mode 0600). Fingerprint {}\n{} = {}\n",
        identity.public().fingerprint(),
        SERVER_IDENTITY_NAME,
        identity.to_base64().as_str()
    ));
    write_private(path, text.as_bytes())?;
    Ok((identity, true))
}

/// A laptop's relay mailbox (docs/RELAY.md §12): the server keeps it for a device (with
/// the drop token), the laptop for each server it gave it to (without: its own tokens
/// are derived from its identity, [`mailbox_keys`]).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Mailbox {
    /// The relay's URL.
    pub relay: String,
    /// The relay certificate's pin (`sha256:HEX`), if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
    /// The mailbox id.
    pub id: String,
    /// The token that lets a server drop messages in it (secret; empty on the laptop).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
}

/// A laptop's mailbox on one relay: its id, the owner's token (list, read, delete) and the
/// token it gives its servers (drop). Derived from the identity and the relay's URL, so
/// that nothing more is stored, and a relay that lost the mailbox gets the same one again.
pub struct MailboxKeys {
    /// 32 hex characters.
    pub id: String,
    /// The owner's bearer token.
    pub owner: Token,
    /// The drop token, given to remembered servers.
    pub drop: Token,
}

/// This device's mailbox keys on the relay at `relay_url` (HMAC-SHA-256 of the identity's
/// secret, one label per value).
pub fn mailbox_keys(identity: &IdentitySecret, relay_url: &str) -> MailboxKeys {
    use base64::Engine as _;
    use hmac::{Mac as _, digest::KeyInit as _};
    let derive = |label: &str| -> Zeroizing<[u8; 32]> {
        let mut mac = <hmac::Hmac<sha2::Sha256>>::new_from_slice(identity.expose())
            .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(relay_url.trim_end_matches('/').as_bytes());
        Zeroizing::new(mac.finalize().into_bytes().into())
    };
    let token =
        |label| Token::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*derive(label)));
    MailboxKeys {
        id: super::hex(&derive("hush mailbox id v1")[..16]),
        owner: token("hush mailbox owner v1"),
        drop: token("hush mailbox drop v1"),
    }
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("relay", &self.relay)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// One remembered peer.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// Its name.
    pub name: String,
    /// Its public key, standard base64.
    pub key: String,
    /// When it was paired, Unix seconds.
    pub paired: u64,
    /// When it was forgotten, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forgotten: Option<u64>,
    /// A server's host name, as it said at the pairing (a laptop's list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Where to deliver to it (a device's mailbox, on the server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mailbox: Option<Mailbox>,
}

impl PeerEntry {
    /// Its public key (checked when the file is read).
    pub fn public(&self) -> PublicIdentity {
        PublicIdentity::parse(&self.key).unwrap_or_else(|_| PublicIdentity::from_bytes([0; 32]))
    }
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct PeerFileText {
    #[serde(default)]
    peer: Vec<PeerEntry>,
}

/// Which list: the laptop's servers or the server's devices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerKind {
    /// `servers.toml` on a laptop.
    Servers,
    /// `devices.toml` on a server.
    Devices,
}

impl PeerKind {
    fn what(self) -> &'static str {
        match self {
            PeerKind::Servers => "server",
            PeerKind::Devices => "device",
        }
    }

    fn forget_command(self) -> &'static str {
        match self {
            PeerKind::Servers => "hush servers forget",
            PeerKind::Devices => "hush-run devices forget",
        }
    }

    fn file(self) -> &'static str {
        match self {
            PeerKind::Servers => SERVERS,
            PeerKind::Devices => DEVICES,
        }
    }
}

/// A list of remembered peers, read from and written back to its file.
#[derive(Debug)]
pub struct Peers {
    path: PathBuf,
    kind: PeerKind,
    /// The entries, in the order they were paired.
    pub entries: Vec<PeerEntry>,
}

impl Peers {
    /// Reads the list at its default place; no file is an empty list.
    pub fn load(kind: PeerKind) -> Result<Self, DeviceError> {
        Self::load_from(&path_of(kind.file())?, kind)
    }

    /// Reads the list at `path`.
    pub fn load_from(path: &Path, kind: PeerKind) -> Result<Self, DeviceError> {
        let syntax = |reason: String| DeviceError::Syntax {
            path: path.to_owned(),
            reason,
        };
        let entries = match read_private(path)? {
            None => Vec::new(),
            Some(bytes) => {
                let text = std::str::from_utf8(&bytes).map_err(|_| syntax("not UTF-8".into()))?;
                let parsed: PeerFileText = toml::from_str(text)
                    .map_err(|e| syntax(e.to_string().trim_end().replace('\n', " ")))?;
                for entry in &parsed.peer {
                    check_name(&entry.name)?;
                    PublicIdentity::parse(&entry.key)
                        .map_err(|e| syntax(format!("{}: {e}", entry.name)))?;
                }
                parsed.peer
            }
        };
        Ok(Self {
            path: path.to_owned(),
            kind,
            entries,
        })
    }

    /// Writes the list back (atomically, 0600).
    pub fn save(&self) -> Result<(), DeviceError> {
        let text = PeerFileText {
            peer: self.entries.clone(),
        };
        let body = toml::to_string(&text).map_err(|e| DeviceError::Syntax {
            path: self.path.clone(),
            reason: e.to_string(),
        })?;
        let header = match self.kind {
            PeerKind::Servers => {
                "# hush: the servers this laptop paired with (hush servers list|forget)\n"
            }
            PeerKind::Devices => {
                "# hush-run: the devices this server seals for (hush-run devices list|forget); keep it secret: it holds mailbox tokens\n"
            }
        };
        write_private(&self.path, format!("{header}{body}").as_bytes())
    }

    /// The entry named `name`, forgotten or not.
    pub fn get(&self, name: &str) -> Option<&PeerEntry> {
        self.entries.iter().find(|e| e.name == name)
    }

    /// Remembers `key` as `name` now, or refreshes the pairing time of the same key. A
    /// forgotten entry of that name is replaced; a live one with another key is refused
    /// loudly ([`DeviceError::Changed`]).
    pub fn remember(
        &mut self,
        name: &str,
        key: &PublicIdentity,
        mailbox: Option<Mailbox>,
    ) -> Result<(), DeviceError> {
        check_name(name)?;
        if let Some(other) = self
            .entries
            .iter()
            .find(|e| e.forgotten.is_none() && e.name != name && e.public() == *key)
        {
            return Err(DeviceError::OtherName {
                name: other.name.clone(),
                fingerprint: key.fingerprint(),
            });
        }
        let entry = PeerEntry {
            name: name.to_owned(),
            key: key.to_base64(),
            paired: now(),
            forgotten: None,
            host: None,
            mailbox,
        };
        match self.entries.iter_mut().find(|e| e.name == name) {
            Some(old) if old.forgotten.is_none() && old.public() != *key => {
                Err(DeviceError::Changed {
                    name: name.to_owned(),
                    paired: format_time(old.paired),
                    was: old.public().fingerprint(),
                    now: key.fingerprint(),
                    forget: self.kind.forget_command(),
                })
            }
            Some(old) => {
                *old = entry;
                Ok(())
            }
            None => {
                self.entries.push(entry);
                Ok(())
            }
        }
    }

    /// Forgets `name`. Servers stay listed as forgotten, so that their messages get a
    /// specific refusal; devices are removed with their mailbox credentials.
    pub fn forget(&mut self, name: &str) -> Result<PeerEntry, DeviceError> {
        let Some(at) = self
            .entries
            .iter()
            .position(|e| e.name == name && e.forgotten.is_none())
        else {
            return Err(self.unknown(name));
        };
        match self.kind {
            PeerKind::Servers => {
                let entry = &mut self.entries[at];
                entry.forgotten = Some(now());
                Ok(entry.clone())
            }
            PeerKind::Devices => Ok(self.entries.remove(at)),
        }
    }

    /// Records the host name a remembered server gave (shown by `list` when it is not
    /// the name the server is remembered by).
    pub fn note_host(&mut self, name: &str, host: &str) {
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.name == name && e.forgotten.is_none())
        {
            e.host = Some(host.chars().take(255).collect());
        }
    }

    /// The live entry named `name`.
    pub fn active(&self, name: &str) -> Result<&PeerEntry, DeviceError> {
        self.entries
            .iter()
            .find(|e| e.name == name && e.forgotten.is_none())
            .ok_or_else(|| self.unknown(name))
    }

    fn unknown(&self, name: &str) -> DeviceError {
        let known: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| e.forgotten.is_none())
            .map(|e| e.name.as_str())
            .collect();
        DeviceError::Unknown {
            what: self.kind.what(),
            name: name.to_owned(),
            known: if known.is_empty() {
                "none yet".to_owned()
            } else {
                known.join(", ")
            },
        }
    }

    /// The entries as the library's peers (forgotten ones included, marked).
    pub fn to_peers(&self) -> Vec<Peer> {
        self.entries
            .iter()
            .map(|e| Peer {
                name: e.name.clone(),
                key: e.public(),
                forgotten: e.forgotten.is_some(),
            })
            .collect()
    }

    /// One line per entry for `list`: name, fingerprint, when paired (and forgotten).
    pub fn listing(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            out.push_str(&format!(
                "{:<20} {}  paired {}",
                e.name,
                e.public().fingerprint(),
                format_time(e.paired)
            ));
            if let Some(host) = e.host.as_deref().filter(|h| *h != e.name) {
                let host: String = host.chars().filter(|c| !c.is_control()).take(64).collect();
                out.push_str(&format!("  host {host}"));
            }
            if let Some(t) = e.forgotten {
                out.push_str(&format!("  FORGOTTEN {}", format_time(t)));
            }
            if self.kind == PeerKind::Devices {
                out.push_str(match &e.mailbox {
                    Some(_) => "  mailbox",
                    None => "  no mailbox (--to prints the block)",
                });
            }
            out.push('\n');
        }
        out
    }
}

/// Names are shown on screens and in lists: short, printable, no spaces or controls.
pub fn check_name(name: &str) -> Result<(), DeviceError> {
    let ok = (1..=64).contains(&name.len())
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '@'));
    if ok {
        Ok(())
    } else {
        Err(DeviceError::BadName(name.chars().take(80).collect()))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `2026-11-27 11:49 UTC` (no time zone database needed, none consulted).
pub fn format_time(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn fast() -> SealOptions {
        SealOptions {
            argon2: crate::Argon2Params {
                m_kib: 64,
                t: 1,
                p: 1,
            },
        }
    }

    fn pass(s: &str) -> Passphrase {
        Passphrase::new(Zeroizing::new(s.into())).unwrap()
    }

    #[test]
    fn identity_round_trip_and_its_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(IDENTITY);
        let made = create_identity(&path, &pass("pw"), fast()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let folder = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(folder.permissions().mode() & 0o777, 0o700);
        assert_eq!(
            load_identity(&path, &pass("pw")).unwrap().expose(),
            made.expose()
        );
        assert!(matches!(
            load_identity(&path, &pass("nope")),
            Err(DeviceError::WrongPassphrase { .. })
        ));
        assert!(matches!(
            create_identity(&path, &pass("pw"), fast()),
            Err(DeviceError::File(super::super::Error::Exists { .. }))
        ));
        // Group-readable: refused with the fix.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = load_identity(&path, &pass("pw")).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        // A key+IV message in its place: wrong mode.
        let other = dir.path().join("other");
        let sealed = crate::seal(
            &Credentials::generate().unwrap(),
            &Metadata::default(),
            b"x",
            true,
            fast(),
        )
        .unwrap();
        write_private(&other, &sealed).unwrap();
        let err = load_identity(&other, &pass("pw")).unwrap_err();
        assert!(
            err.to_string()
                .contains("sealed with a key and IV, not a passphrase"),
            "{err}"
        );
        // A passphrase message that is not an identity.
        let sealed = crate::seal(
            &Credentials::Passphrase(pass("pw")),
            &Metadata::default(),
            b"hello",
            true,
            fast(),
        )
        .unwrap();
        write_private(&other, &sealed).unwrap();
        let err = load_identity(&other, &pass("pw")).unwrap_err();
        assert!(err.to_string().contains("another message"), "{err}");
    }

    #[test]
    fn server_identity_is_made_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SERVER_IDENTITY);
        let (first, made) = server_identity(&path).unwrap();
        assert!(made);
        let (again, made) = server_identity(&path).unwrap();
        assert!(!made);
        assert_eq!(first.expose(), again.expose());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(&first.public().fingerprint()));
        std::fs::write(&path, "identity = AAAA\n").unwrap();
        assert!(matches!(
            server_identity(&path),
            Err(DeviceError::NotAnIdentity { .. })
        ));
    }

    #[test]
    fn a_changed_key_is_refused_until_forgotten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SERVERS);
        let [a, b] = [(); 2].map(|_| IdentitySecret::generate().unwrap().public());
        let mut peers = Peers::load_from(&path, PeerKind::Servers).unwrap();
        peers.remember("vpn1", &a, None).unwrap();
        peers.save().unwrap();
        let mut peers = Peers::load_from(&path, PeerKind::Servers).unwrap();
        peers.remember("vpn1", &a, None).unwrap(); // the same key again: fine
        let err = peers.remember("vpn1", &b, None).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("THE IDENTITY OF vpn1 HAS CHANGED"), "{text}");
        assert!(text.contains(&a.fingerprint()) && text.contains(&b.fingerprint()));
        assert!(text.contains("hush servers forget vpn1"));
        assert!(matches!(
            peers.remember("other", &a, None),
            Err(DeviceError::OtherName { .. })
        ));
        peers.forget("vpn1").unwrap();
        assert!(peers.to_peers()[0].forgotten);
        assert!(peers.listing().contains("FORGOTTEN"));
        assert!(matches!(
            peers.forget("vpn1"),
            Err(DeviceError::Unknown { .. })
        ));
        peers.remember("vpn1", &b, None).unwrap();
        assert_eq!(peers.active("vpn1").unwrap().public(), b);
        assert!(matches!(
            peers.remember("bad name", &a, None),
            Err(DeviceError::BadName(_))
        ));
    }

    #[test]
    fn devices_are_removed_with_their_mailbox() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DEVICES);
        let key = IdentitySecret::generate().unwrap().public();
        let mut peers = Peers::load_from(&path, PeerKind::Devices).unwrap();
        let mailbox = Mailbox {
            relay: "https://127.0.0.1:1".into(),
            pin: None,
            id: "00".into(),
            token: "secret-token".into(),
        };
        peers.remember("laptop", &key, Some(mailbox)).unwrap();
        assert!(!format!("{peers:?}").contains("secret-token"));
        peers.save().unwrap();
        let mut peers = Peers::load_from(&path, PeerKind::Devices).unwrap();
        assert!(peers.entries[0].mailbox.is_some());
        peers.forget("laptop").unwrap();
        assert!(peers.entries.is_empty());
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(format_time(0), "1970-01-01 00:00 UTC");
        assert_eq!(format_time(1_767_225_600), "2026-01-01 00:00 UTC");
        assert_eq!(format_time(951_825_600 + 3_661), "2000-02-29 13:01 UTC");
    }
}
