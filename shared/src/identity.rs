//! Device identities (X25519) and the key encapsulation of the device mode (FORMAT.md §4,
//! mode 0x04): HPKE (RFC 9180) in *auth* mode with DHKEM(X25519, HKDF-SHA256), HKDF-SHA256
//! and the export-only AEAD. The exporter gives each recipient a mask that turns its
//! stanza's wrapped key into the message's input key, so one message serves several
//! recipients (one encapsulation each) and each of them knows which identity sealed it.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hpke::aead::ExportOnlyAead;
use hpke::kdf::HkdfSha256;
use hpke::kem::X25519HkdfSha256;
use hpke::{Deserializable, Kem as _, OpModeR, OpModeS, Serializable};
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// Bytes of an X25519 public or secret key.
pub const KEY_LEN: usize = 32;
/// Bytes of a key id in a header.
pub const KEY_ID_LEN: usize = 8;
/// Bytes of an encapsulated key (X25519: the ephemeral public key).
pub const ENC_LEN: usize = 32;
/// HPKE `info` of every device-mode encapsulation.
pub const HPKE_INFO: &[u8] = b"hush v1 device";
/// The exporter context whose output masks the input key.
pub const EXPORT_CONTEXT: &[u8] = b"hush v1 input key";
/// The most recipients one message may name.
pub const MAX_RECIPIENTS: usize = 16;
/// Domain separation of key ids and fingerprints.
const DIGEST_LABEL: &[u8] = b"hush device key v1\0";

/// One side's device credentials: its own identity and the peers it knows. Sealing, the
/// peers not forgotten are the recipients; opening, they are the senders it accepts.
#[derive(Clone, Debug)]
pub struct DeviceKeys {
    /// This side's identity.
    pub own: IdentitySecret,
    /// The other side's identities, by name.
    pub peers: Vec<Peer>,
}

/// A peer identity as one side remembers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// How this side calls it (a server's host name, a laptop's name given at pairing).
    pub name: String,
    /// Its public key.
    pub key: PublicIdentity,
    /// Forgotten peers stay listed so that their messages get a specific refusal.
    pub forgotten: bool,
}

impl DeviceKeys {
    /// The peer whose key has this id.
    pub fn peer(&self, id: &KeyId) -> Option<&Peer> {
        self.peers.iter().find(|p| p.key.key_id() == *id)
    }
}

/// The secret half of a long-term identity: a laptop's device identity or a server's.
/// Zeroized on drop, never printed.
pub struct IdentitySecret(Box<[u8; KEY_LEN]>);

impl IdentitySecret {
    /// A new identity from the OS random generator.
    pub fn generate() -> Result<Self> {
        let mut bytes = Box::new([0u8; KEY_LEN]);
        crate::keys::fill_random(&mut bytes[..])?;
        Ok(Self(bytes))
    }

    /// An identity from its 32 secret bytes (X25519 clamps them when used).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        let mut bytes = Zeroizing::new(bytes);
        let mut boxed = Box::new([0u8; KEY_LEN]);
        boxed.copy_from_slice(&bytes[..]);
        bytes.zeroize();
        Self(boxed)
    }

    /// Reads the base64 text of [`IdentitySecret::to_base64`].
    pub fn parse(text: &str) -> Result<Self> {
        let bytes = decode_key(text.trim(), "identity")?;
        Ok(Self::from_bytes(*bytes))
    }

    /// The secret bytes as standard base64 (for the server's identity file).
    pub fn to_base64(&self) -> Zeroizing<String> {
        Zeroizing::new(STANDARD.encode(&self.0[..]))
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// The public half.
    pub fn public(&self) -> PublicIdentity {
        let (_, pk) = self.keypair();
        let mut out = [0u8; KEY_LEN];
        out.copy_from_slice(&pk.to_bytes());
        PublicIdentity(out)
    }

    fn keypair(
        &self,
    ) -> (
        <X25519HkdfSha256 as hpke::Kem>::PrivateKey,
        <X25519HkdfSha256 as hpke::Kem>::PublicKey,
    ) {
        // Any 32 bytes are a valid X25519 secret (clamped on deserialisation): no error.
        let sk = <X25519HkdfSha256 as hpke::Kem>::PrivateKey::from_bytes(&self.0[..])
            .unwrap_or_else(|_| unreachable!("32 bytes are an X25519 secret"));
        let pk = X25519HkdfSha256::sk_to_pk(&sk);
        (sk, pk)
    }
}

impl Clone for IdentitySecret {
    fn clone(&self) -> Self {
        Self::from_bytes(*self.0)
    }
}

impl Drop for IdentitySecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for IdentitySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentitySecret(<redacted>)")
    }
}

/// The public half of an identity. Not secret.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicIdentity([u8; KEY_LEN]);

impl PublicIdentity {
    /// A public key from its bytes.
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Reads standard base64 (as in the tools' trust files).
    pub fn parse(text: &str) -> Result<Self> {
        Ok(Self(*decode_key(text.trim(), "public key")?))
    }

    /// The key bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Standard base64 of the key.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    fn digest(&self) -> [u8; 32] {
        Sha256::new()
            .chain_update(DIGEST_LABEL)
            .chain_update(self.0)
            .finalize()
            .into()
    }

    /// The short id that names this key in a header.
    pub fn key_id(&self) -> KeyId {
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&self.digest()[..KEY_ID_LEN]);
        KeyId(id)
    }

    /// What people compare: `SHA256:` and the unpadded base64 of the digest, as ssh shows
    /// host keys.
    pub fn fingerprint(&self) -> String {
        format!("SHA256:{}", STANDARD_NO_PAD.encode(self.digest()))
    }
}

impl std::fmt::Debug for PublicIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PublicIdentity({})", self.fingerprint())
    }
}

/// A key id: the first 8 bytes of the key's digest (FORMAT.md §4, mode 0x04).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

fn decode_key(text: &str, what: &'static str) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let bytes = Zeroizing::new(
        STANDARD
            .decode(text)
            .map_err(|_| Error::BadIdentityText(what))?,
    );
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    if bytes.len() != KEY_LEN {
        return Err(Error::BadIdentityText(what));
    }
    out.copy_from_slice(&bytes);
    Ok(out)
}

/// One recipient's stanza: the encapsulated key and the wrapped input key.
pub(crate) struct Wrapped {
    pub enc: [u8; ENC_LEN],
    pub wrapped: [u8; KEY_LEN],
}

/// Hands `input_key` to `recipient`, authenticated as `sender`. `ephemeral_ikm` is the
/// input of the ephemeral key pair (RFC 9180 DeriveKeyPair), 32 fresh random bytes.
pub(crate) fn wrap(
    sender: &IdentitySecret,
    recipient: &PublicIdentity,
    input_key: &[u8; KEY_LEN],
    ephemeral_ikm: &[u8; KEY_LEN],
) -> Result<Wrapped> {
    let pk_r = public_key(recipient)?;
    let (sk_s, pk_s) = sender.keypair();
    let mode = OpModeS::Auth((sk_s, pk_s));
    let (enc, ctx) = hpke::setup_sender_with_rng::<ExportOnlyAead, HkdfSha256, X25519HkdfSha256>(
        &mode,
        &pk_r,
        HPKE_INFO,
        &mut OneShot(Some(*ephemeral_ikm)),
    )
    // Only a low-order recipient key makes encapsulation fail.
    .map_err(|_| Error::BadIdentityText("public key"))?;
    let mut mask = Zeroizing::new([0u8; KEY_LEN]);
    ctx.export(EXPORT_CONTEXT, &mut mask[..])
        .map_err(|_| Error::BadIdentityText("public key"))?;
    let mut out = Wrapped {
        enc: [0u8; ENC_LEN],
        wrapped: [0u8; KEY_LEN],
    };
    out.enc.copy_from_slice(&enc.to_bytes());
    for (w, (k, m)) in out
        .wrapped
        .iter_mut()
        .zip(input_key.iter().zip(mask.iter()))
    {
        *w = k ^ m;
    }
    Ok(out)
}

/// The input key of a stanza sealed by `sender` for `me`. A wrong sender does not fail
/// here: it yields a different key, which the body's commitment then refuses.
pub(crate) fn unwrap(
    me: &IdentitySecret,
    sender: &PublicIdentity,
    stanza: &Wrapped,
) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let (sk_r, _) = me.keypair();
    let pk_s = public_key(sender)?;
    let enc = <X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(&stanza.enc)
        .map_err(|_| Error::Corrupted)?;
    // A low-order ephemeral key (all-zero shared secret) fails here: altered on the way.
    let ctx = hpke::setup_receiver::<ExportOnlyAead, HkdfSha256, X25519HkdfSha256>(
        &OpModeR::Auth(pk_s),
        &sk_r,
        &enc,
        HPKE_INFO,
    )
    .map_err(|_| Error::Corrupted)?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    ctx.export(EXPORT_CONTEXT, &mut key[..])
        .map_err(|_| Error::Corrupted)?;
    for (k, w) in key.iter_mut().zip(stanza.wrapped.iter()) {
        *k ^= w;
    }
    Ok(key)
}

fn public_key(key: &PublicIdentity) -> Result<<X25519HkdfSha256 as hpke::Kem>::PublicKey> {
    <X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(&key.0)
        .map_err(|_| Error::BadIdentityText("public key"))
}

/// An RNG that hands out one 32-byte value drawn beforehand (with its error handled) and
/// then refuses: hpke asks for exactly the ephemeral key's input, once.
struct OneShot(Option<[u8; KEY_LEN]>);

impl rand_core_hpke::TryRng for OneShot {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> std::result::Result<u32, Self::Error> {
        unreachable!("hpke draws the ephemeral key's input with fill_bytes")
    }
    fn try_next_u64(&mut self) -> std::result::Result<u64, Self::Error> {
        unreachable!("hpke draws the ephemeral key's input with fill_bytes")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> std::result::Result<(), Self::Error> {
        let mut ikm = self
            .0
            .take()
            .unwrap_or_else(|| unreachable!("hpke draws one ephemeral key per encapsulation"));
        assert_eq!(dst.len(), KEY_LEN, "an X25519 ephemeral key's input");
        dst.copy_from_slice(&ikm);
        ikm.zeroize();
        Ok(())
    }
}

impl rand_core_hpke::TryCryptoRng for OneShot {}

/// RFC 9180 hooks for the test vectors (hazmat): DeriveKeyPair, and SetupAuthS/SetupBaseS
/// with a given ephemeral input, returning `enc` and the exporter's output.
#[cfg(feature = "hazmat")]
pub mod hazmat {
    use super::*;

    /// RFC 9180 DeriveKeyPair for DHKEM(X25519, HKDF-SHA256): (skXm, pkXm).
    pub fn derive_key_pair(ikm: &[u8]) -> ([u8; 32], [u8; 32]) {
        let (sk, pk) = X25519HkdfSha256::derive_keypair(ikm);
        let mut out = ([0u8; 32], [0u8; 32]);
        out.0.copy_from_slice(&sk.to_bytes());
        out.1.copy_from_slice(&pk.to_bytes());
        out
    }

    /// SetupBaseS (no sender) or SetupAuthS, then Export(`context`, 32): (enc, exported).
    pub fn setup_and_export(
        sender: Option<&IdentitySecret>,
        recipient: &PublicIdentity,
        info: &[u8],
        ephemeral_ikm: &[u8; 32],
        context: &[u8],
    ) -> ([u8; 32], [u8; 32]) {
        let pk_r = public_key(recipient).expect("recipient key");
        let mode = match sender {
            Some(s) => OpModeS::Auth(s.keypair()),
            None => OpModeS::Base,
        };
        let (enc, ctx) =
            hpke::setup_sender_with_rng::<ExportOnlyAead, HkdfSha256, X25519HkdfSha256>(
                &mode,
                &pk_r,
                info,
                &mut OneShot(Some(*ephemeral_ikm)),
            )
            .expect("encapsulation");
        let mut out = ([0u8; 32], [0u8; 32]);
        out.0.copy_from_slice(&enc.to_bytes());
        ctx.export(context, &mut out.1).expect("export");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_and_unwrap_round_trip_and_bind_the_sender() {
        let server = IdentitySecret::generate().unwrap();
        let laptop = IdentitySecret::generate().unwrap();
        let other = IdentitySecret::generate().unwrap();
        let key = [7u8; 32];
        let w = wrap(&server, &laptop.public(), &key, &[9u8; 32]).unwrap();
        assert_eq!(*unwrap(&laptop, &server.public(), &w).unwrap(), key);
        // Another sender's key gives another input key, not an error: the commitment decides.
        assert_ne!(*unwrap(&laptop, &other.public(), &w).unwrap(), key);
        // Another recipient likewise.
        assert_ne!(*unwrap(&other, &server.public(), &w).unwrap(), key);
    }

    #[test]
    fn text_forms_and_redaction() {
        let s = IdentitySecret::from_bytes([0x40; 32]);
        assert_eq!(
            IdentitySecret::parse(&s.to_base64()).unwrap().expose(),
            s.expose()
        );
        assert_eq!(format!("{s:?}"), "IdentitySecret(<redacted>)");
        let p = s.public();
        assert_eq!(PublicIdentity::parse(&p.to_base64()).unwrap(), p);
        assert!(p.fingerprint().starts_with("SHA256:"));
        assert_eq!(p.fingerprint().len(), 7 + 43);
        assert_eq!(p.key_id().to_string().len(), 16);
        assert!(matches!(
            PublicIdentity::parse("AAAA"),
            Err(Error::BadIdentityText("public key"))
        ));
    }
}
