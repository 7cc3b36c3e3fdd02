//! The key schedule of one pairing (docs/RELAY.md §5): the transcript hash TH binds the
//! nameplate, the room's nonce, the slot and both SPAKE2 messages; HKDF-SHA-256 over the
//! SPAKE2 key, salted with TH, gives the two confirmations, the receiver code and the
//! content key.

use std::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::CROCKFORD;
use super::code::Nameplate;

/// Bytes of the room nonce.
pub const NONCE_LEN: usize = 32;
/// Bytes of each confirmation.
pub const CONFIRM_LEN: usize = 32;
/// Bytes of the session id in an envelope of mode 0x03.
pub const SESSION_ID_LEN: usize = 8;

/// What the relay gave both sides for one slot: public values, bound into the transcript.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomContext {
    /// The code's public half.
    pub nameplate: Nameplate,
    /// The room's random nonce.
    pub nonce: [u8; NONCE_LEN],
    /// The receiver's slot (1..=8).
    pub slot: u8,
}

/// The transcript hash: everything both sides must agree on.
pub(crate) fn transcript(room: &RoomContext, pake_s: &[u8], pake_r: &[u8]) -> [u8; 32] {
    let nameplate = room.nameplate.to_string();
    let mut h = Sha256::new();
    h.update(b"hush-relay/1 transcript");
    h.update(len16(nameplate.as_bytes()));
    h.update(nameplate.as_bytes());
    h.update(room.nonce);
    h.update([room.slot]);
    for part in [pake_s, pake_r] {
        h.update(len16(part));
        h.update(part);
    }
    h.finalize().into()
}

fn len16(part: &[u8]) -> [u8; 2] {
    // Every part is short (a nameplate, a 33-byte SPAKE2 message): the cast cannot cut.
    u16::try_from(part.len()).unwrap_or(u16::MAX).to_be_bytes()
}

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length: this cannot fail.
    let mut mac = <HmacSha256 as hmac::KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The secrets derived from one SPAKE2 key (RFC 5869 HKDF-SHA-256, salt = TH).
pub(crate) struct Keys {
    pub(crate) transcript: [u8; 32],
    pub(crate) confirm_r: Zeroizing<[u8; CONFIRM_LEN]>,
    pub(crate) confirm_s: Zeroizing<[u8; CONFIRM_LEN]>,
    pub(crate) receiver_code: ReceiverCode,
    pub(crate) content_key: Zeroizing<[u8; 32]>,
}

impl Keys {
    pub(crate) fn derive(spake_key: &[u8], transcript: [u8; 32]) -> Self {
        let prk = Zeroizing::new(hmac(&transcript, &[spake_key]));
        // One block of HKDF-Expand: T(1) = HMAC(PRK, info || 0x01), enough for 32 bytes.
        let expand = |label: &[u8]| Zeroizing::new(hmac(&prk[..], &[label, &[1]]));
        let code = expand(b"hush-relay/1 receiver code");
        Self {
            transcript,
            confirm_r: expand(b"hush-relay/1 confirm-R"),
            confirm_s: expand(b"hush-relay/1 confirm-S"),
            receiver_code: ReceiverCode::from_bits(&code[..3]),
            content_key: expand(b"hush-relay/1 content key"),
        }
    }
}

/// The 4-character code both sides show, for the person at the sender to approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiverCode([u8; 4]);

impl ReceiverCode {
    /// The first 20 bits of `bits`, as 4 Crockford characters.
    fn from_bits(bits: &[u8]) -> Self {
        let value =
            (u32::from(bits[0]) << 12) | (u32::from(bits[1]) << 4) | (u32::from(bits[2]) >> 4);
        let mut out = [0u8; 4];
        for (i, c) in out.iter_mut().enumerate() {
            *c = CROCKFORD[((value >> (5 * (3 - i))) & 31) as usize];
        }
        Self(out)
    }
}

impl fmt::Display for ReceiverCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Crockford characters are ASCII.
        f.write_str(std::str::from_utf8(&self.0).unwrap_or("????"))
    }
}

/// A confirmed pairing: what the sealing (sender) or opening (receiver) needs.
#[derive(Clone)]
pub struct Session {
    /// The code to show and approve.
    pub receiver_code: ReceiverCode,
    /// The transcript hash (part of the envelope's context).
    pub transcript: [u8; 32],
    content_key: Zeroizing<[u8; 32]>,
}

impl Session {
    pub(crate) fn from_keys(keys: &Keys) -> Self {
        Self {
            receiver_code: keys.receiver_code,
            transcript: keys.transcript,
            content_key: keys.content_key.clone(),
        }
    }

    /// The envelope's session id: which pairing a sealed message belongs to.
    pub fn id(&self) -> [u8; SESSION_ID_LEN] {
        session_id(&self.transcript)
    }

    /// The Cobblestone-256 input key of mode 0x03.
    pub(crate) fn content_key(&self) -> &[u8; 32] {
        &self.content_key
    }
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("receiver_code", &self.receiver_code)
            .field("content_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// Every value of the key schedule, for the worked examples of docs/RELAY.md (hazmat:
/// tests only).
#[cfg(feature = "hazmat")]
pub struct Derived {
    /// TH.
    pub transcript: [u8; 32],
    /// confirm_R.
    pub confirm_r: [u8; CONFIRM_LEN],
    /// confirm_S.
    pub confirm_s: [u8; CONFIRM_LEN],
    /// The receiver code.
    pub receiver_code: ReceiverCode,
    /// The content key.
    pub content_key: [u8; 32],
    /// The session id.
    pub session_id: [u8; SESSION_ID_LEN],
}

/// The key schedule from a SPAKE2 key and the public values (hazmat: tests only).
#[cfg(feature = "hazmat")]
pub fn derive(spake_key: &[u8], room: &RoomContext, pake_s: &[u8], pake_r: &[u8]) -> Derived {
    let keys = Keys::derive(spake_key, transcript(room, pake_s, pake_r));
    Derived {
        transcript: keys.transcript,
        confirm_r: *keys.confirm_r,
        confirm_s: *keys.confirm_s,
        receiver_code: keys.receiver_code,
        content_key: *keys.content_key,
        session_id: session_id(&keys.transcript),
    }
}

/// `SHA-256("hush-relay/1 session id" || TH)[0..8]`.
pub(crate) fn session_id(transcript: &[u8; 32]) -> [u8; SESSION_ID_LEN] {
    let digest = Sha256::new()
        .chain_update(b"hush-relay/1 session id")
        .chain_update(transcript)
        .finalize();
    let mut id = [0u8; SESSION_ID_LEN];
    id.copy_from_slice(&digest[..SESSION_ID_LEN]);
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receiver_code_takes_the_first_20_bits() {
        assert_eq!(ReceiverCode::from_bits(&[0, 0, 0]).to_string(), "0000");
        assert_eq!(
            ReceiverCode::from_bits(&[0xff, 0xff, 0xf0]).to_string(),
            "ZZZZ"
        );
        // The low 4 bits of the third byte are not used.
        assert_eq!(
            ReceiverCode::from_bits(&[0x12, 0x34, 0x5f]),
            ReceiverCode::from_bits(&[0x12, 0x34, 0x50])
        );
        assert_eq!(
            ReceiverCode::from_bits(&[0x08, 0x42, 0x10]).to_string(),
            "1111"
        );
    }

    #[test]
    fn hkdf_expand_matches_rfc_5869_test_case_1() {
        // RFC 5869 A.1 (SHA-256): our one-block Extract-then-Expand must agree with it.
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0u8..=0x0c).collect();
        let info: Vec<u8> = (0xf0u8..=0xf9).collect();
        let prk = hmac(&salt, &[&ikm]);
        let okm = hmac(&prk, &[&info, &[1]]);
        assert_eq!(
            hex(&okm),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
        );
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn transcript_binds_every_part() {
        let room = RoomContext {
            nameplate: Nameplate::new(417).unwrap(),
            nonce: [7; 32],
            slot: 1,
        };
        let base = transcript(&room, b"s", b"r");
        let mut other = room.clone();
        other.slot = 2;
        assert_ne!(transcript(&other, b"s", b"r"), base);
        other = room.clone();
        other.nonce[0] ^= 1;
        assert_ne!(transcript(&other, b"s", b"r"), base);
        // Swapping the two messages changes it: a relay cannot reflect one side's message.
        assert_ne!(transcript(&room, b"r", b"s"), base);
        assert_ne!(transcript(&room, b"sr", b""), transcript(&room, b"s", b"r"));
    }
}
