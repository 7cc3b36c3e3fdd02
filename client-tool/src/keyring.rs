//! The keys of a TUI session: generated (or loaded) key+IV pairs with their fingerprints and
//! optional labels, plus at most one passphrase. The newest key is current unless the user
//! picks another. Opening tries them all and names the one that fitted.

use std::time::{SystemTime, UNIX_EPOCH};

use shared::{Credentials, Fingerprint, Passphrase, Summary};
use zeroize::Zeroizing;

/// What the screen may show about one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryInfo {
    /// 1-based number in the session.
    pub number: usize,
    /// Fingerprint (`None` for the passphrase).
    pub fingerprint: Option<Fingerprint>,
    /// The user's label (shown on screen: not secret).
    pub label: Option<String>,
    /// For a relay pairing's session: how it is named ("relay pairing K7MQ (code 417)").
    pub pairing: Option<String>,
}

impl EntryInfo {
    /// "key 2 7F3A-91C2-0B4D (vpn1)" or "passphrase".
    pub fn describe(&self) -> String {
        let mut s = match (self.fingerprint, &self.pairing) {
            (Some(fp), _) => format!("key #{} {fp}", self.number),
            (None, Some(pairing)) => pairing.clone(),
            (None, None) => "passphrase".to_owned(),
        };
        if let Some(l) = &self.label {
            s.push_str(&format!(" ({l})"));
        }
        s
    }
}

/// The session's keys. Credentials and their descriptions stay in step, index for index,
/// so that [`Keyring::candidates`] is a slice the library can try in order.
#[derive(Default)]
pub struct Keyring {
    creds: Vec<Credentials>,
    info: Vec<EntryInfo>,
    current: Option<usize>,
    next_number: usize,
}

impl Keyring {
    /// Adds a key+IV pair and makes it current; returns its description.
    pub fn add(&mut self, creds: Credentials, label: Option<String>) -> EntryInfo {
        self.next_number += 1;
        let info = EntryInfo {
            number: self.next_number,
            fingerprint: creds.fingerprint(),
            label,
            pairing: None,
        };
        // They live as long as the session: out of swap and core dumps.
        shared::cli::hardening::protect_credentials(&creds);
        // Keys go first: trying a key is cheap, a passphrase costs Argon2id (and relay
        // sessions only open their own mode).
        let at = self
            .creds
            .iter()
            .position(|c| !matches!(c, Credentials::KeyIv { .. }))
            .unwrap_or(self.creds.len());
        self.creds.insert(at, creds);
        self.info.insert(at, info.clone());
        self.current = Some(at);
        info
    }

    /// Generates a fresh key+IV pair and makes it current.
    pub fn generate(&mut self) -> shared::Result<EntryInfo> {
        Ok(self.add(Credentials::generate()?, None))
    }

    /// Sets (or replaces) the passphrase.
    pub fn set_passphrase(&mut self, passphrase: Passphrase) {
        if let Some(i) = self.passphrase_index() {
            self.creds.remove(i);
            self.info.remove(i);
        }
        let creds = Credentials::Passphrase(passphrase);
        shared::cli::hardening::protect_credentials(&creds);
        self.creds.push(creds);
        self.info.push(EntryInfo {
            number: 0,
            fingerprint: None,
            label: None,
            pairing: None,
        });
    }

    /// Holds a relay pairing's session until hush quits, so that the block hush-run prints
    /// when it cannot deliver (sealed for this session) opens when pasted. `name` is how the
    /// screen calls it.
    pub fn add_relay(&mut self, session: shared::relay::Session, name: String) {
        self.add_named(Credentials::Relay(session), name);
    }

    /// Holds this laptop's identity: it opens what remembered servers seal for it.
    pub fn add_identity(&mut self, creds: Credentials, name: String) {
        self.add_named(creds, name);
    }

    /// Adds credentials that are not a key (a session, the identity) after the keys and
    /// before the passphrase; `name` is how the screen calls them.
    fn add_named(&mut self, creds: Credentials, name: String) {
        shared::cli::hardening::protect_credentials(&creds);
        let at = self.passphrase_index().unwrap_or(self.creds.len());
        self.creds.insert(at, creds);
        self.info.insert(
            at,
            EntryInfo {
                number: 0,
                fingerprint: None,
                label: None,
                pairing: Some(name),
            },
        );
        // The current key keeps its place.
        if let Some(c) = self.current.as_mut()
            && *c >= at
        {
            *c += 1;
        }
    }

    /// Replaces the servers the identity accepts (one was remembered or forgotten).
    pub fn set_servers(&mut self, servers: Vec<shared::Peer>) {
        for creds in &mut self.creds {
            if let Credentials::Devices(keys) = creds {
                keys.peers = servers.clone();
            }
        }
    }

    /// Whether a passphrase is set.
    pub fn has_passphrase(&self) -> bool {
        self.passphrase_index().is_some()
    }

    fn passphrase_index(&self) -> Option<usize> {
        self.creds
            .iter()
            .position(|c| matches!(c, Credentials::Passphrase(_)))
    }

    /// Everything to try when opening, in order.
    pub fn candidates(&self) -> &[Credentials] {
        &self.creds
    }

    /// The description of candidate `index`.
    pub fn info(&self, index: usize) -> Option<&EntryInfo> {
        self.info.get(index)
    }

    /// The key+IV entries, oldest first, with whether each is current.
    pub fn keys(&self) -> impl Iterator<Item = (&EntryInfo, bool)> {
        self.info
            .iter()
            .enumerate()
            .filter(|(_, i)| i.fingerprint.is_some())
            .map(|(n, i)| (i, Some(n) == self.current))
    }

    /// Number of key+IV entries.
    pub fn key_count(&self) -> usize {
        self.info.iter().filter(|i| i.fingerprint.is_some()).count()
    }

    /// The current key's description.
    pub fn current(&self) -> Option<&EntryInfo> {
        self.current.and_then(|i| self.info.get(i))
    }

    /// Makes the previous (`-1`) or next (`+1`) key current.
    pub fn select(&mut self, step: isize) {
        let keys: Vec<usize> = self
            .info
            .iter()
            .enumerate()
            .filter(|(_, i)| i.fingerprint.is_some())
            .map(|(n, _)| n)
            .collect();
        let Some(pos) = self.current.and_then(|c| keys.iter().position(|&k| k == c)) else {
            return;
        };
        let new = (pos as isize + step).clamp(0, keys.len() as isize - 1) as usize;
        self.current = keys.get(new).copied();
    }

    /// Labels the current key.
    pub fn set_label(&mut self, label: Option<String>) -> Option<&EntryInfo> {
        let i = self.current?;
        let info = self.info.get_mut(i)?;
        info.label = label;
        Some(info)
    }

    /// The current key's key (`iv` false) or IV (`iv` true), as base64 text.
    pub fn current_secret(&self, iv_wanted: bool) -> Option<Zeroizing<String>> {
        match self.creds.get(self.current?)? {
            Credentials::KeyIv { key, iv } => Some(if iv_wanted {
                iv.to_base64()
            } else {
                key.to_base64()
            }),
            Credentials::Passphrase(_) | Credentials::Relay(_) | Credentials::Devices(_) => None,
        }
    }
}

/// For a message sealed in device mode with `creds`: the server that sealed it, by its
/// remembered name and fingerprint.
pub fn sealed_by(creds: &Credentials, mode: shared::Mode) -> Option<String> {
    match (creds, mode) {
        (Credentials::Devices(keys), shared::Mode::Device { sender, .. }) => {
            let peer = keys.peer(&sender)?;
            Some(format!(
                "{} ({})",
                sanitize(&peer.name, 64),
                peer.key.fingerprint()
            ))
        }
        _ => None,
    }
}

/// Makes text from a sealed message safe to draw: control characters (escape sequences a
/// hostile sender could use against the terminal) become `?`, and it is kept short.
pub fn sanitize(text: &str, max_chars: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max_chars)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if text.chars().count() > max_chars {
        out.push('…');
    }
    out
}

/// The metadata of an opened message in one line: command, host, user, age, exit status.
pub fn describe_summary(summary: &Summary) -> String {
    let meta = &summary.metadata;
    let mut parts = Vec::new();
    if let Some(c) = &meta.command {
        parts.push(format!("`{}`", sanitize(c, 60)));
    }
    match (&meta.user, &meta.host) {
        (Some(u), Some(h)) => parts.push(format!("{}@{}", sanitize(u, 32), sanitize(h, 64))),
        (None, Some(h)) => parts.push(format!("on {}", sanitize(h, 64))),
        (Some(u), None) => parts.push(format!("as {}", sanitize(u, 32))),
        (None, None) => {}
    }
    if let Some(t) = meta.time {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        parts.push(match now.checked_sub(t) {
            Some(s) if s < 120 => format!("{s} s ago"),
            Some(s) if s < 7200 => format!("{} min ago", s / 60),
            Some(s) if s < 172_800 => format!("{} h ago", s / 3600),
            Some(s) => format!("{} days ago", s / 86_400),
            None => "sealed in the future".to_owned(),
        });
    }
    if let Some(status) = summary.exit_status {
        parts.push(format!("exit {status}"));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_key_is_current_and_keys_precede_the_passphrase() {
        let mut ring = Keyring::default();
        assert!(ring.current().is_none());
        assert!(ring.current_secret(false).is_none());
        let a = ring.generate().unwrap();
        ring.set_passphrase(Passphrase::new(Zeroizing::new("pw".into())).unwrap());
        let b = ring.generate().unwrap();
        assert_eq!(ring.current(), Some(&b));
        assert_eq!(ring.candidates().len(), 3);
        assert!(matches!(ring.candidates()[2], Credentials::Passphrase(_)));
        assert_eq!(ring.key_count(), 2);
        ring.select(-1);
        assert_eq!(ring.current(), Some(&a));
        ring.select(-1);
        assert_eq!(ring.current(), Some(&a));
        ring.select(1);
        assert_eq!(ring.current(), Some(&b));
        assert_eq!(ring.current_secret(false).unwrap().len(), 44);
        assert_eq!(ring.current_secret(true).unwrap().len(), 16);
        ring.set_label(Some("vpn1".into()));
        assert!(ring.current().unwrap().describe().ends_with("(vpn1)"));
        assert_eq!(a.number, 1);
        assert_eq!(b.number, 2);
    }

    #[test]
    fn sanitize_removes_escape_sequences() {
        assert_eq!(sanitize("a\x1b[2Jb\n", 10), "a?[2Jb?");
        assert_eq!(sanitize("abcdef", 3), "abc…");
    }
}
