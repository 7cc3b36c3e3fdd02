//! Key material: one type per kind of secret, each zeroized on drop and never printed.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result, SecretKind};

/// Length of a [`Key`] in bytes.
pub const KEY_LEN: usize = 32;
/// Length of an [`Iv`] in bytes.
pub const IV_LEN: usize = 12;

/// Base64 characters (padding included) of a 32-byte key.
const KEY_CHARS: usize = 44;
/// Base64 characters of a 12-byte IV (no padding needed).
const IV_CHARS: usize = 16;

macro_rules! secret_bytes {
    ($name:ident, $len:expr, $kind:expr, $doc:literal) => {
        #[doc = $doc]
        ///
        /// The bytes live on the heap (so moves do not leave copies behind), are zeroized on
        /// drop, and neither `Debug` nor any other formatting shows them.
        pub struct $name(Box<[u8; $len]>);

        impl $name {
            /// Fresh random bytes from the operating system's CSPRNG.
            pub fn generate() -> Result<Self> {
                let mut bytes = Box::new([0u8; $len]);
                fill_random(&mut bytes[..])?;
                Ok(Self(bytes))
            }

            /// Takes ownership of raw bytes.
            pub fn from_bytes(bytes: [u8; $len]) -> Self {
                let mut bytes = Zeroizing::new(bytes);
                let mut boxed = Box::new([0u8; $len]);
                boxed.copy_from_slice(&bytes[..]);
                bytes.zeroize();
                Self(boxed)
            }

            /// Parses the text form (standard or URL-safe base64, with or without padding;
            /// white space is ignored).
            pub fn parse(text: &str) -> Result<Self> {
                let bytes = decode_secret(text, $kind)?;
                let mut out = Box::new([0u8; $len]);
                out.copy_from_slice(&bytes);
                Ok(Self(out))
            }

            /// The text form: standard base64 with padding.
            pub fn to_base64(&self) -> Zeroizing<String> {
                Zeroizing::new(STANDARD.encode(&self.0[..]))
            }

            /// The raw bytes.
            pub fn expose(&self) -> &[u8; $len] {
                &self.0
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                self.0.zeroize();
            }
        }

        /// A second heap copy, wiped on drop like the first (for handing the secret to a
        /// worker thread); copied in place, so no copy is left on the stack.
        impl Clone for $name {
            fn clone(&self) -> Self {
                let mut bytes = Box::new([0u8; $len]);
                bytes.copy_from_slice(&self.0[..]);
                Self(bytes)
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(concat!(stringify!($name), "(<redacted>)"))
            }
        }
    };
}

secret_bytes!(Key, KEY_LEN, SecretKind::Key, "A 32-byte AES-256 key.");
secret_bytes!(
    Iv,
    IV_LEN,
    SecretKind::Iv,
    "A 12-byte IV. Hush binds it into the key derivation (it is never used as a GCM nonce directly)."
);

/// Decodes a key or IV, explaining what is wrong in terms the user can act on.
/// Fills `buf` from the OS random generator.
pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| {
        Error::Io(std::io::Error::other(format!(
            "the system random generator failed: {e}"
        )))
    })
}

fn decode_secret(text: &str, kind: SecretKind) -> Result<Zeroizing<Vec<u8>>> {
    let (expected, chars, other, other_len) = match kind {
        SecretKind::Key => (KEY_LEN, KEY_CHARS, SecretKind::Iv, IV_LEN),
        SecretKind::Iv => (IV_LEN, IV_CHARS, SecretKind::Key, KEY_LEN),
    };
    // Normalise: drop white space, map the URL-safe alphabet onto the standard one, drop
    // padding (accepted or not, it carries no information).
    let mut clean = Zeroizing::new(String::with_capacity(text.len()));
    for (i, c) in text
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .enumerate()
    {
        let c = match c {
            '-' => '+',
            '_' => '/',
            c if c.is_ascii_alphanumeric() || c == '+' || c == '/' || c == '=' => c,
            _ => {
                return Err(Error::InvalidKeyText {
                    kind,
                    position: i + 1,
                });
            }
        };
        clean.push(c);
    }
    let unpadded = clean.trim_end_matches('=');
    if let Some(pos) = unpadded.find('=') {
        return Err(Error::InvalidKeyText {
            kind,
            position: pos + 1,
        });
    }
    let bytes = Zeroizing::new(STANDARD_NO_PAD.decode(unpadded).map_err(|e| {
        let position = match e {
            base64::DecodeError::InvalidByte(i, _) => i + 1,
            base64::DecodeError::InvalidLastSymbol { offset, .. } => offset + 1,
            _ => unpadded.len(),
        };
        Error::InvalidKeyText { kind, position }
    })?);
    if bytes.len() == expected {
        Ok(bytes)
    } else if bytes.len() == other_len {
        Err(Error::SwappedKeyIv {
            wanted: kind,
            found: other,
        })
    } else {
        Err(Error::WrongKeyLength {
            kind,
            got: bytes.len(),
            expected,
            chars,
        })
    }
}

/// A passphrase for Argon2id mode. Zeroized on drop (clones too), never printed.
#[derive(Clone)]
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps a passphrase; an empty one is refused.
    pub fn new(text: Zeroizing<String>) -> Result<Self> {
        if text.is_empty() {
            return Err(Error::EmptyPassphrase);
        }
        Ok(Self(text))
    }

    /// The passphrase bytes (UTF-8, as typed: no normalisation).
    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Passphrase(<redacted>)")
    }
}

/// A short, non-secret, one-way identifier of a key+IV pair, such as `7F3A-91C2-0B4D`.
///
/// Both tools show it so the user can see that the right key was pasted. It is the first
/// 48 bits of SHA-256 over a domain-separation label, the key and the IV (docs/FORMAT.md).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Fingerprint([u8; 6]);

const FINGERPRINT_LABEL: &[u8] = b"hush fingerprint v1\0";

impl Fingerprint {
    /// The fingerprint of a key+IV pair.
    pub fn of(key: &Key, iv: &Iv) -> Self {
        let digest = Sha256::new()
            .chain_update(FINGERPRINT_LABEL)
            .chain_update(key.expose())
            .chain_update(iv.expose())
            .finalize();
        let mut out = [0u8; 6];
        out.copy_from_slice(&digest[..6]);
        Self(out)
    }
}

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = &self.0;
        write!(
            f,
            "{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

/// What seals and opens a message: a key+IV pair or a passphrase.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Key+IV mode.
    KeyIv {
        /// The key.
        key: Key,
        /// The IV.
        iv: Iv,
    },
    /// Passphrase (Argon2id) mode.
    Passphrase(Passphrase),
    /// The session of a relay pairing (mode 0x03, docs/RELAY.md §6).
    Relay(crate::relay::Session),
    /// A registered device's identity and the peers it knows (device mode, 0x04).
    Devices(crate::identity::DeviceKeys),
}

impl Credentials {
    /// A fresh random key+IV pair.
    pub fn generate() -> Result<Self> {
        Ok(Credentials::KeyIv {
            key: Key::generate()?,
            iv: Iv::generate()?,
        })
    }

    /// The fingerprint of a key+IV pair; `None` for a passphrase (a fingerprint of a
    /// passphrase would be an offline guessing oracle).
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        match self {
            Credentials::KeyIv { key, iv } => Some(Fingerprint::of(key, iv)),
            Credentials::Passphrase(_) | Credentials::Relay(_) | Credentials::Devices(_) => None,
        }
    }

    /// How the credentials are described in messages.
    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Credentials::KeyIv { .. } => "a key and IV",
            Credentials::Passphrase(_) => "a passphrase",
            Credentials::Relay(_) => "a relay pairing",
            Credentials::Devices(_) => "a device identity",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trips_through_text() {
        let key = Key::generate().unwrap();
        let text = key.to_base64();
        assert_eq!(text.len(), KEY_CHARS);
        assert_eq!(Key::parse(&text).unwrap().expose(), key.expose());
    }

    #[test]
    fn accepts_url_safe_unpadded_and_white_space() {
        let key = Key::from_bytes([0xfb; 32]);
        let std = key.to_base64();
        let url: String = std.replace('+', "-").replace('/', "_");
        let unpadded = url.trim_end_matches('=');
        let messy = format!("  {}\r\n {} \t", &unpadded[..20], &unpadded[20..]);
        assert_eq!(Key::parse(&messy).unwrap().expose(), key.expose());
    }

    #[test]
    fn swapped_key_and_iv_are_named() {
        let iv = Iv::generate().unwrap();
        let key = Key::generate().unwrap();
        let err = Key::parse(&iv.to_base64()).unwrap_err();
        assert!(matches!(
            err,
            Error::SwappedKeyIv {
                wanted: SecretKind::Key,
                found: SecretKind::Iv
            }
        ));
        assert_eq!(
            err.to_string(),
            "this looks like an IV, not a key: were the key and IV swapped?"
        );
        let err = Iv::parse(&key.to_base64()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "this looks like a key, not an IV: were the key and IV swapped?"
        );
    }

    #[test]
    fn wrong_length_says_what_was_expected() {
        let err = Key::parse("AAAA").unwrap_err();
        assert_eq!(
            err.to_string(),
            "the key has the wrong length: 3 bytes, expected 32 bytes (44 base64 characters)"
        );
    }

    #[test]
    fn invalid_characters_are_located_not_echoed() {
        let err = Key::parse("abc$def").unwrap_err();
        assert!(matches!(err, Error::InvalidKeyText { position: 4, .. }));
        assert!(!err.to_string().contains("abc"));
        // Padding in the middle is not base64 either.
        assert!(matches!(
            Iv::parse("AA==AAAAAAAAAAAAAA").unwrap_err(),
            Error::InvalidKeyText { .. }
        ));
    }

    #[test]
    fn debug_never_shows_bytes() {
        let key = Key::from_bytes([0x41; 32]);
        let iv = Iv::from_bytes([0x42; 12]);
        let shown = format!("{:?} {:?}", key, iv);
        assert!(!shown.contains("65") && !shown.contains("QUFB") && !shown.contains("0x41"));
        let creds = Credentials::KeyIv { key, iv };
        let shown = format!("{creds:?}");
        assert!(shown.contains("<redacted>") && !shown.contains("QUFB"));
        let p = Passphrase::new(Zeroizing::new("hunter2".into())).unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn fingerprint_is_stable_and_formatted() {
        let a = Fingerprint::of(&Key::from_bytes([0; 32]), &Iv::from_bytes([0; 12]));
        let b = Fingerprint::of(&Key::from_bytes([0; 32]), &Iv::from_bytes([1; 12]));
        assert_ne!(a, b);
        let text = a.to_string();
        assert_eq!(text.len(), 14);
        assert_eq!(text.as_bytes()[4], b'-');
        assert_eq!(text.as_bytes()[9], b'-');
    }
}
