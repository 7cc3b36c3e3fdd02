//! The sealed envelope v1: a short header naming the key mode, then a Cobblestone-256 body.
//!
//! ```text
//! "HUSH" | version 0x01 | mode | mode fields | Cobblestone-256 body
//! mode 0x01 key+IV:      no fields;              context = header || IV
//! mode 0x02 passphrase:  m_KiB u32 | t u32 | p u32 | salt[16] (big-endian);  context = header
//! mode 0x03 relay:       session id[8];          context = header || TH
//! mode 0x04 device:      sender key id[8] | n u8 | n × (recipient key id[8] | enc[32] |
//!                        wrapped key[32]);       context = header
//! ```
//! docs/FORMAT.md is the normative description.

use std::io::{self, Read, Write};

use argon2::{Algorithm, Argon2, Params, Version};
use zeroize::Zeroizing;

use crate::chunked::{self, Decryptor, Encryptor, INPUT_KEY_SIZE, Unlocked};
use crate::error::{Error, Result};
use crate::identity::{
    self, DeviceKeys, ENC_LEN, KEY_ID_LEN, KEY_LEN, KeyId, MAX_RECIPIENTS, Wrapped,
};
use crate::keys::{Credentials, fill_random};
use crate::relay::schedule::SESSION_ID_LEN;

/// The four bytes every sealed message starts with.
pub const MAGIC: &[u8; 4] = b"HUSH";
/// The envelope version this library writes and reads.
pub const VERSION: u8 = 1;
/// Mode byte of key+IV mode.
pub const MODE_KEY_IV: u8 = 0x01;
/// Mode byte of passphrase (Argon2id) mode.
pub const MODE_PASSPHRASE: u8 = 0x02;
/// Mode byte: the session of a relay pairing (docs/RELAY.md §6).
pub const MODE_RELAY: u8 = 0x03;
/// Mode byte: public-key mode for registered devices (HPKE auth mode).
pub const MODE_DEVICE: u8 = 0x04;
/// Argon2id salt length in passphrase mode.
pub const ARGON2_SALT_SIZE: usize = 16;

/// One recipient's stanza in device mode: key id, encapsulated key, wrapped input key.
const STANZA_LEN: usize = KEY_ID_LEN + ENC_LEN + KEY_LEN;

/// Argon2id cost parameters of passphrase mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Passes.
    pub t: u32,
    /// Lanes.
    pub p: u32,
}

impl Argon2Params {
    /// RFC 9106's second recommended option: 64 MiB, 3 passes, 4 lanes.
    pub const DEFAULT: Self = Self {
        m_kib: 64 * 1024,
        t: 3,
        p: 4,
    };
    /// The most a header may ask for; anything above is refused before allocating.
    pub const CAP: Self = Self {
        m_kib: 1024 * 1024,
        t: 16,
        p: 16,
    };

    fn check_cap(&self) -> Result<()> {
        let cap = Self::CAP;
        if self.m_kib > cap.m_kib || self.t > cap.t || self.p > cap.p {
            return Err(Error::ParamsOverCap(format!(
                "m={} KiB, t={}, p={}",
                self.m_kib, self.t, self.p
            )));
        }
        Ok(())
    }

    fn derive(&self, passphrase: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; INPUT_KEY_SIZE]>> {
        self.check_cap()?;
        let params = Params::new(self.m_kib, self.t, self.p, Some(INPUT_KEY_SIZE))
            .map_err(|e| Error::InvalidParams(e.to_string()))?;
        let mut out = Zeroizing::new([0u8; INPUT_KEY_SIZE]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into(passphrase, salt, &mut out[..])
            .map_err(|e| Error::InvalidParams(e.to_string()))?;
        Ok(out)
    }
}

/// Options for sealing.
#[derive(Debug, Clone, Copy)]
pub struct SealOptions {
    /// Argon2id parameters used in passphrase mode.
    pub argon2: Argon2Params,
}

impl Default for SealOptions {
    fn default() -> Self {
        Self {
            argon2: Argon2Params::DEFAULT,
        }
    }
}

/// A parsed header, kept as the exact bytes read (they are part of the context).
#[derive(Debug, Clone)]
pub struct Header {
    bytes: Vec<u8>,
    mode: Mode,
    /// Device mode's recipients, in header order.
    stanzas: Vec<Stanza>,
}

/// One recipient of a device-mode message.
#[derive(Debug, Clone)]
struct Stanza {
    recipient: KeyId,
    enc: [u8; ENC_LEN],
    wrapped: [u8; KEY_LEN],
}

/// The key mode of a message, with its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Key+IV.
    KeyIv,
    /// Passphrase, with Argon2id parameters and salt.
    Passphrase {
        /// Cost parameters.
        params: Argon2Params,
        /// Argon2id salt.
        salt: [u8; ARGON2_SALT_SIZE],
    },
    /// A relay pairing's session, named by its id.
    Relay {
        /// Which pairing sealed it.
        session_id: [u8; SESSION_ID_LEN],
    },
    /// Sealed by a registered server for registered devices (HPKE auth mode).
    Device {
        /// The key id of the identity that sealed it.
        sender: KeyId,
        /// How many devices it was sealed for.
        recipients: usize,
    },
}

impl Header {
    fn new(mode: Mode) -> Self {
        Self::with_stanzas(mode, Vec::new())
    }

    fn with_stanzas(mode: Mode, stanzas: Vec<Stanza>) -> Self {
        let mut bytes = Vec::with_capacity(6 + 28 + stanzas.len() * STANZA_LEN);
        bytes.extend_from_slice(MAGIC);
        bytes.push(VERSION);
        match &mode {
            Mode::KeyIv => bytes.push(MODE_KEY_IV),
            Mode::Passphrase { params, salt } => {
                bytes.push(MODE_PASSPHRASE);
                bytes.extend_from_slice(&params.m_kib.to_be_bytes());
                bytes.extend_from_slice(&params.t.to_be_bytes());
                bytes.extend_from_slice(&params.p.to_be_bytes());
                bytes.extend_from_slice(salt);
            }
            Mode::Relay { session_id } => {
                bytes.push(MODE_RELAY);
                bytes.extend_from_slice(session_id);
            }
            Mode::Device { sender, .. } => {
                bytes.push(MODE_DEVICE);
                bytes.extend_from_slice(&sender.0);
                // At most MAX_RECIPIENTS (16) stanzas: checked by every constructor.
                bytes.push(stanzas.len() as u8);
                for stanza in &stanzas {
                    bytes.extend_from_slice(&stanza.recipient.0);
                    bytes.extend_from_slice(&stanza.enc);
                    bytes.extend_from_slice(&stanza.wrapped);
                }
            }
        }
        Self {
            bytes,
            mode,
            stanzas,
        }
    }

    /// Reads and validates a header. Argon2id parameters over the cap are refused here,
    /// before any memory is allocated for them.
    pub fn read<R: Read>(r: &mut R) -> Result<Self> {
        let mut fixed = [0u8; 6];
        chunked::read_exact_or(r, &mut fixed, Error::Truncated)?;
        if &fixed[..4] != MAGIC {
            return Err(Error::NotHushData);
        }
        if fixed[4] != VERSION {
            return Err(Error::UnsupportedVersion(fixed[4]));
        }
        let mode = match fixed[5] {
            MODE_KEY_IV => Mode::KeyIv,
            MODE_PASSPHRASE => {
                let mut fields = [0u8; 12 + ARGON2_SALT_SIZE];
                chunked::read_exact_or(r, &mut fields, Error::Truncated)?;
                let be = |i: usize| {
                    u32::from_be_bytes([fields[i], fields[i + 1], fields[i + 2], fields[i + 3]])
                };
                let params = Argon2Params {
                    m_kib: be(0),
                    t: be(4),
                    p: be(8),
                };
                params.check_cap()?;
                let mut salt = [0u8; ARGON2_SALT_SIZE];
                salt.copy_from_slice(&fields[12..]);
                Mode::Passphrase { params, salt }
            }
            MODE_RELAY => {
                let mut session_id = [0u8; SESSION_ID_LEN];
                chunked::read_exact_or(r, &mut session_id, Error::Truncated)?;
                Mode::Relay { session_id }
            }
            MODE_DEVICE => return Self::read_device(r),
            other => return Err(Error::UnsupportedMode(other)),
        };
        let header = Self::new(mode);
        debug_assert_eq!(&header.bytes[..6], &fixed[..]);
        Ok(header)
    }

    fn read_device<R: Read>(r: &mut R) -> Result<Self> {
        let mut fixed = [0u8; KEY_ID_LEN + 1];
        chunked::read_exact_or(r, &mut fixed, Error::Truncated)?;
        let mut sender = KeyId([0u8; KEY_ID_LEN]);
        sender.0.copy_from_slice(&fixed[..KEY_ID_LEN]);
        let count = usize::from(fixed[KEY_ID_LEN]);
        if !(1..=MAX_RECIPIENTS).contains(&count) {
            return Err(Error::RecipientCount(count));
        }
        let mut stanzas = Vec::with_capacity(count);
        for _ in 0..count {
            let mut raw = [0u8; STANZA_LEN];
            chunked::read_exact_or(r, &mut raw, Error::Truncated)?;
            let mut stanza = Stanza {
                recipient: KeyId([0u8; KEY_ID_LEN]),
                enc: [0u8; ENC_LEN],
                wrapped: [0u8; KEY_LEN],
            };
            stanza.recipient.0.copy_from_slice(&raw[..KEY_ID_LEN]);
            stanza
                .enc
                .copy_from_slice(&raw[KEY_ID_LEN..KEY_ID_LEN + ENC_LEN]);
            stanza.wrapped.copy_from_slice(&raw[KEY_ID_LEN + ENC_LEN..]);
            stanzas.push(stanza);
        }
        let mode = Mode::Device {
            sender,
            recipients: count,
        };
        Ok(Self::with_stanzas(mode, stanzas))
    }

    /// A device-mode header for `keys.peers` (those not forgotten), with a fresh input key.
    fn for_devices(keys: &DeviceKeys) -> Result<(Self, Zeroizing<[u8; INPUT_KEY_SIZE]>)> {
        let recipients: Vec<_> = keys.peers.iter().filter(|p| !p.forgotten).collect();
        if !(1..=MAX_RECIPIENTS).contains(&recipients.len()) {
            return Err(Error::RecipientCount(recipients.len()));
        }
        let mut input_key = Zeroizing::new([0u8; INPUT_KEY_SIZE]);
        fill_random(&mut input_key[..])?;
        let mut stanzas = Vec::with_capacity(recipients.len());
        for peer in recipients {
            let mut ikm = Zeroizing::new([0u8; KEY_LEN]);
            fill_random(&mut ikm[..])?;
            let Wrapped { enc, wrapped } = identity::wrap(&keys.own, &peer.key, &input_key, &ikm)?;
            stanzas.push(Stanza {
                recipient: peer.key.key_id(),
                enc,
                wrapped,
            });
        }
        let mode = Mode::Device {
            sender: keys.own.public().key_id(),
            recipients: stanzas.len(),
        };
        Ok((Self::with_stanzas(mode, stanzas), input_key))
    }

    /// Device mode: this device's stanza, opened with the key of the sender it names.
    fn device_key(&self, keys: &DeviceKeys, sender: &KeyId) -> Result<Zeroizing<[u8; KEY_LEN]>> {
        let me = keys.own.public().key_id();
        let stanza = self
            .stanzas
            .iter()
            .find(|s| s.recipient == me)
            .ok_or(Error::NotForThisDevice)?;
        let peer = keys
            .peer(sender)
            .ok_or_else(|| Error::UnknownSender(sender.to_string()))?;
        if peer.forgotten {
            return Err(Error::ForgottenSender(peer.name.clone()));
        }
        identity::unwrap(
            &keys.own,
            &peer.key,
            &Wrapped {
                enc: stanza.enc,
                wrapped: stanza.wrapped,
            },
        )
    }

    /// What a commitment mismatch means under these credentials.
    fn wrong_key(&self, creds: &Credentials) -> Error {
        match (&self.mode, creds) {
            (Mode::Passphrase { .. }, _) => Error::WrongPassphrase,
            (Mode::Device { sender, .. }, Credentials::Devices(keys)) => Error::SenderMismatch(
                keys.peer(sender)
                    .map_or_else(|| sender.to_string(), |p| p.name.clone()),
            ),
            _ => Error::WrongKey,
        }
    }

    /// The key mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The header bytes as written.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The Cobblestone-256 input key and context for these credentials.
    fn key_and_context(
        &self,
        creds: &Credentials,
    ) -> Result<(Zeroizing<[u8; INPUT_KEY_SIZE]>, Vec<u8>)> {
        match (&self.mode, creds) {
            (Mode::KeyIv, Credentials::KeyIv { key, iv }) => {
                let mut context = Vec::with_capacity(self.bytes.len() + iv.expose().len());
                context.extend_from_slice(&self.bytes);
                context.extend_from_slice(iv.expose());
                Ok((Zeroizing::new(*key.expose()), context))
            }
            (Mode::Passphrase { params, salt }, Credentials::Passphrase(p)) => {
                Ok((params.derive(p.expose(), salt)?, self.bytes.clone()))
            }
            (Mode::Relay { session_id }, Credentials::Relay(session)) => {
                if session.id() != *session_id {
                    return Err(Error::OtherPairing);
                }
                let mut context = Vec::with_capacity(self.bytes.len() + session.transcript.len());
                context.extend_from_slice(&self.bytes);
                context.extend_from_slice(&session.transcript);
                Ok((Zeroizing::new(*session.content_key()), context))
            }
            (Mode::Device { sender, .. }, Credentials::Devices(keys)) => {
                Ok((self.device_key(keys, sender)?, self.bytes.clone()))
            }
            (_, other) => Err(Error::ModeMismatch {
                sealed_with: match self.mode {
                    Mode::KeyIv => "a key and IV",
                    Mode::Passphrase { .. } => "a passphrase",
                    Mode::Relay { .. } => "a relay pairing",
                    Mode::Device { .. } => "a server's identity, for registered devices",
                },
                given: other.describe(),
            }),
        }
    }
}

/// Streaming sealing: an [`io::Write`] adapter that writes header and body to `inner`.
pub struct Sealer<W: Write> {
    body: Encryptor<W>,
}

impl<W: Write> Sealer<W> {
    /// Starts a message with explicit options.
    pub fn with_options(mut inner: W, creds: &Credentials, options: SealOptions) -> Result<Self> {
        let mode = match creds {
            Credentials::KeyIv { .. } => Mode::KeyIv,
            Credentials::Relay(session) => Mode::Relay {
                session_id: session.id(),
            },
            Credentials::Devices(keys) => {
                // The sender draws the input key; there is nothing to derive it from.
                let (header, input_key) = Header::for_devices(keys)?;
                inner.write_all(header.as_bytes())?;
                return Ok(Self {
                    body: Encryptor::new(inner, &input_key, header.as_bytes())?,
                });
            }
            Credentials::Passphrase(_) => {
                let mut salt = [0u8; ARGON2_SALT_SIZE];
                crate::keys::fill_random(&mut salt)?;
                Mode::Passphrase {
                    params: options.argon2,
                    salt,
                }
            }
        };
        let header = Header::new(mode);
        let (input_key, context) = header.key_and_context(creds)?;
        inner.write_all(header.as_bytes())?;
        Ok(Self {
            body: Encryptor::new(inner, &input_key, &context)?,
        })
    }

    /// Writes the final chunk and returns the inner writer.
    pub fn finish(self) -> Result<W> {
        self.body.finish()
    }
}

impl<W: Write> Write for Sealer<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.body.write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.body.write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.body.flush()
    }
}

/// Streaming opening: an [`io::Read`] adapter over binary sealed data that yields only
/// authenticated plaintext (see `chunked::Decryptor`).
pub struct Opener<R: Read> {
    body: Decryptor<R>,
    header: Header,
    index: usize,
}

impl<R: Read> Opener<R> {
    /// Reads the header and checks the key commitment against `creds`.
    #[cfg(test)]
    pub fn new(inner: R, creds: &Credentials) -> Result<Self> {
        Self::with_candidates(inner, std::slice::from_ref(creds))
    }

    /// Tries each candidate in turn (cheap for key+IV: one HKDF and a comparison) and opens
    /// with the first whose commitment matches; [`Opener::index`] tells which one.
    pub fn with_candidates(mut inner: R, candidates: &[Credentials]) -> Result<Self> {
        let header = Header::read(&mut inner)?;
        let (salt, commitment) = chunked::read_prefix(&mut inner)?;
        let mut first_error = None;
        for (index, creds) in candidates.iter().enumerate() {
            let attempt = header
                .key_and_context(creds)
                .and_then(|(key, context)| Unlocked::new(&key, &context, &salt, &commitment));
            match attempt {
                Ok(unlocked) => {
                    return Ok(Self {
                        body: Decryptor::new(inner, unlocked),
                        header,
                        index,
                    });
                }
                Err(e) => {
                    // A mode mismatch only matters if nothing else fits.
                    let e = match e {
                        Error::WrongKey => header.wrong_key(creds),
                        e => e,
                    };
                    match &first_error {
                        None | Some(Error::ModeMismatch { .. }) => first_error = Some(e),
                        _ => {}
                    }
                }
            }
        }
        Err(first_error.unwrap_or(Error::WrongKey))
    }

    /// The header of the message.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// Which candidate opened it.
    pub fn index(&self) -> usize {
        self.index
    }
}

impl<R: Read> Read for Opener<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.body.read(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{Iv, Key, Passphrase};

    fn fast() -> SealOptions {
        SealOptions {
            argon2: Argon2Params {
                m_kib: 64,
                t: 1,
                p: 1,
            },
        }
    }

    fn seal(creds: &Credentials, msg: &[u8]) -> Vec<u8> {
        let mut s = Sealer::with_options(Vec::new(), creds, fast()).unwrap();
        s.write_all(msg).unwrap();
        s.finish().unwrap()
    }

    #[test]
    fn passphrase_round_trip_and_wrong_passphrase() {
        let p =
            |s: &str| Credentials::Passphrase(Passphrase::new(Zeroizing::new(s.into())).unwrap());
        let sealed = seal(&p("correct horse"), b"secret");
        let mut out = Vec::new();
        Opener::new(&sealed[..], &p("correct horse"))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"secret");
        assert!(matches!(
            Opener::new(&sealed[..], &p("wrong")),
            Err(Error::WrongPassphrase)
        ));
    }

    #[test]
    fn key_mode_mismatch_is_explained() {
        let creds = Credentials::KeyIv {
            key: Key::generate().unwrap(),
            iv: Iv::generate().unwrap(),
        };
        let sealed = seal(&creds, b"x");
        let p = Credentials::Passphrase(Passphrase::new(Zeroizing::new("x".into())).unwrap());
        let err = Opener::new(&sealed[..], &p).err().unwrap();
        assert_eq!(
            err.to_string(),
            "this message was sealed with a key and IV, but a passphrase was given"
        );
    }

    #[test]
    fn swapped_iv_is_a_wrong_key() {
        let key = Key::from_bytes([1; 32]);
        let sealed = seal(
            &Credentials::KeyIv {
                key,
                iv: Iv::from_bytes([2; 12]),
            },
            b"x",
        );
        let other = Credentials::KeyIv {
            key: Key::from_bytes([1; 32]),
            iv: Iv::from_bytes([3; 12]),
        };
        assert!(matches!(
            Opener::new(&sealed[..], &other),
            Err(Error::WrongKey)
        ));
    }

    #[test]
    fn hostile_parameters_are_refused_before_allocation() {
        let mut header = Header::new(Mode::Passphrase {
            params: Argon2Params {
                m_kib: u32::MAX,
                t: 1,
                p: 1,
            },
            salt: [0; 16],
        })
        .bytes;
        header.extend_from_slice(&[0u8; 200]);
        assert!(matches!(
            Header::read(&mut &header[..]),
            Err(Error::ParamsOverCap(_))
        ));
    }

    #[test]
    fn header_errors() {
        assert!(matches!(
            Header::read(&mut &b"HUS"[..]),
            Err(Error::Truncated)
        ));
        assert!(matches!(
            Header::read(&mut &b"NOPE\x01\x01"[..]),
            Err(Error::NotHushData)
        ));
        assert!(matches!(
            Header::read(&mut &b"HUSH\x02\x01"[..]),
            Err(Error::UnsupportedVersion(2))
        ));
        assert!(matches!(
            Header::read(&mut &b"HUSH\x01\x09"[..]),
            Err(Error::UnsupportedMode(9))
        ));
    }

    fn devices(
        own: &crate::IdentitySecret,
        peers: &[(&str, &crate::IdentitySecret)],
    ) -> Credentials {
        Credentials::Devices(DeviceKeys {
            own: own.clone(),
            peers: peers
                .iter()
                .map(|(name, s)| crate::Peer {
                    name: (*name).to_owned(),
                    key: s.public(),
                    forgotten: false,
                })
                .collect(),
        })
    }

    fn open_all(sealed: &[u8], creds: &Credentials) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        Opener::new(sealed, creds)?
            .read_to_end(&mut out)
            .map_err(Error::from_io)?;
        Ok(out)
    }

    #[test]
    fn device_mode_seals_once_for_several_laptops_and_names_the_sender() {
        use crate::IdentitySecret;
        let (vpn1, a, b) = (
            IdentitySecret::generate().unwrap(),
            IdentitySecret::generate().unwrap(),
            IdentitySecret::generate().unwrap(),
        );
        let sealed = seal(&devices(&vpn1, &[("a", &a), ("b", &b)]), b"secret");
        assert_eq!(sealed[5], MODE_DEVICE);
        assert_eq!(sealed[14], 2, "two stanzas");
        for laptop in [&a, &b] {
            let creds = devices(laptop, &[("vpn1", &vpn1)]);
            let opener = Opener::new(&sealed[..], &creds).unwrap();
            assert_eq!(
                opener.header().mode(),
                Mode::Device {
                    sender: vpn1.public().key_id(),
                    recipients: 2
                }
            );
            assert_eq!(open_all(&sealed, &creds).unwrap(), b"secret");
        }
    }

    #[test]
    fn device_mode_refusals_are_specific() {
        use crate::IdentitySecret;
        let [vpn1, db1, laptop, other] = [(); 4].map(|_| IdentitySecret::generate().unwrap());
        let sealed = seal(&devices(&vpn1, &[("laptop", &laptop)]), b"secret");
        // Sealed for another laptop.
        let err = open_all(&sealed, &devices(&other, &[("vpn1", &vpn1)])).unwrap_err();
        assert!(matches!(err, Error::NotForThisDevice), "{err}");
        // A sender this laptop never paired with.
        let err = open_all(&sealed, &devices(&laptop, &[("db1", &db1)])).unwrap_err();
        assert!(
            matches!(&err, Error::UnknownSender(id) if *id == vpn1.public().key_id().to_string()),
            "{err}"
        );
        // A sender it forgot.
        let mut creds = devices(&laptop, &[("vpn1", &vpn1)]);
        if let Credentials::Devices(k) = &mut creds {
            k.peers[0].forgotten = true;
        }
        let err = open_all(&sealed, &creds).unwrap_err();
        assert!(
            matches!(&err, Error::ForgottenSender(n) if n == "vpn1"),
            "{err}"
        );
        // The header names db1 (known) as the sender, but vpn1 sealed it.
        let mut swapped = sealed.clone();
        swapped[6..14].copy_from_slice(&db1.public().key_id().0);
        let creds = devices(&laptop, &[("vpn1", &vpn1), ("db1", &db1)]);
        let err = open_all(&swapped, &creds).unwrap_err();
        assert!(
            matches!(&err, Error::SenderMismatch(n) if n == "db1"),
            "{err}"
        );
        // Every byte of a stanza is bound: a changed wrapped key or enc fails too.
        for at in [15 + 8, 15 + 8 + 32, 15 + 71] {
            let mut bad = sealed.clone();
            bad[at] ^= 1;
            assert!(open_all(&bad, &creds).is_err(), "byte {at}");
        }
        assert_eq!(open_all(&sealed, &creds).unwrap(), b"secret");
    }

    #[test]
    fn device_mode_recipient_counts() {
        use crate::IdentitySecret;
        let me = IdentitySecret::generate().unwrap();
        let none = Credentials::Devices(DeviceKeys {
            own: me.clone(),
            peers: vec![],
        });
        assert!(matches!(
            Sealer::with_options(Vec::new(), &none, fast()),
            Err(Error::RecipientCount(0))
        ));
        let mut header = b"HUSH\x01\x04".to_vec();
        header.extend_from_slice(&[0u8; 8]);
        header.push(0);
        assert!(matches!(
            Header::read(&mut &header[..]),
            Err(Error::RecipientCount(0))
        ));
        *header.last_mut().unwrap() = 17;
        assert!(matches!(
            Header::read(&mut &header[..]),
            Err(Error::RecipientCount(17))
        ));
        *header.last_mut().unwrap() = 1;
        header.extend_from_slice(&[0u8; 71]);
        assert!(matches!(
            Header::read(&mut &header[..]),
            Err(Error::Truncated)
        ));
    }

    #[test]
    fn candidates_find_the_right_key() {
        let make = |b: u8| Credentials::KeyIv {
            key: Key::from_bytes([b; 32]),
            iv: Iv::from_bytes([b; 12]),
        };
        let sealed = seal(&make(3), b"x");
        let candidates = [make(1), make(2), make(3)];
        assert_eq!(
            Opener::with_candidates(&sealed[..], &candidates)
                .unwrap()
                .index(),
            2
        );
    }
}
