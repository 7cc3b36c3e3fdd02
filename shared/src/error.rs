//! The one error type of the library, with messages written for the person at the keyboard.

use std::io;
use std::path::PathBuf;

/// What kind of secret a parse error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    /// The 32-byte key.
    Key,
    /// The 12-byte IV.
    Iv,
}

impl std::fmt::Display for SecretKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SecretKind::Key => "key",
            SecretKind::Iv => "IV",
        })
    }
}

/// Everything that can go wrong in the library.
///
/// No variant carries secret bytes: messages may be shown and logged as they are.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- key material -------------------------------------------------------------------------
    /// A key or IV was not valid base64.
    #[error("the {kind} is not valid base64 (unexpected character at position {position})")]
    InvalidKeyText {
        /// Key or IV.
        kind: SecretKind,
        /// 1-based position of the first bad character, white space not counted.
        position: usize,
    },
    /// A key or IV decoded to the wrong number of bytes.
    #[error(
        "the {kind} has the wrong length: {got} bytes, expected {expected} bytes ({chars} base64 characters)"
    )]
    WrongKeyLength {
        /// Key or IV.
        kind: SecretKind,
        /// Bytes decoded.
        got: usize,
        /// Bytes expected.
        expected: usize,
        /// Base64 characters of a correct entry, padding included.
        chars: usize,
    },
    /// The user gave an IV where a key was expected, or the other way round.
    #[error("this looks like {found_article} {found}, not {wanted_article} {wanted}: were the key and IV swapped?", found_article = article(*found), wanted_article = article(*wanted))]
    SwappedKeyIv {
        /// What was asked for.
        wanted: SecretKind,
        /// What the entry looks like.
        found: SecretKind,
    },
    /// A passphrase was empty.
    #[error("the passphrase is empty")]
    EmptyPassphrase,

    // --- key files ----------------------------------------------------------------------------
    /// A key file does not follow the key file syntax.
    #[error("{path}, line {line}: {reason}")]
    KeyFileSyntax {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0 when the problem is the file as a whole).
        line: usize,
        /// What is wrong, without the line's text (it may hold a secret).
        reason: String,
    },

    // --- armor --------------------------------------------------------------------------------
    /// The input holds no BEGIN line.
    #[error("no sealed block found: expected a line '-----BEGIN HUSH SEALED MESSAGE-----'")]
    NoSealedBlock,
    /// The armored block has no END line: the paste was cut off.
    #[error(
        "the sealed block is cut off: its END line is missing (copy the whole block, BEGIN to END)"
    )]
    ArmorTruncated,
    /// A character that is neither base64 nor white space inside the block.
    #[error("the sealed block is damaged: {reason} at line {line} of the block")]
    InvalidBase64 {
        /// 1-based line within the block (counted from the BEGIN line).
        line: usize,
        /// What is wrong.
        reason: String,
    },

    // --- envelope -----------------------------------------------------------------------------
    /// The bytes do not start with the hush magic.
    #[error("this is not hush sealed data")]
    NotHushData,
    /// The envelope was written by a newer version of hush.
    #[error("unsupported format version {0} (this hush reads version 1): upgrade hush")]
    UnsupportedVersion(u8),
    /// The envelope uses a key mode this version does not know.
    #[error("unsupported key mode {0}: this message was sealed by a newer hush")]
    UnsupportedMode(u8),
    /// The message was sealed with a passphrase but a key was given, or the other way round.
    #[error("this message was sealed with {sealed_with}, but {given} was given")]
    ModeMismatch {
        /// How the message was sealed.
        sealed_with: &'static str,
        /// What the user supplied.
        given: &'static str,
    },
    /// The key commitment does not match: wrong key or IV (or passphrase).
    #[error(
        "wrong key or IV: this message was sealed with a different key (check the fingerprint)"
    )]
    WrongKey,
    /// A relay-session message sealed for another pairing (another code or receiver).
    #[error(
        "this message was sealed for another relay pairing (another code, or another receiver)"
    )]
    OtherPairing,
    /// A device-mode message without a stanza for this device's identity.
    #[error(
        "this message was sealed for other devices, not this one (hush-run --to names the devices it seals for)"
    )]
    NotForThisDevice,
    /// A device-mode message from a sender this device never paired with.
    #[error(
        "this message was sealed by a server this device never paired with (key id {0}); nothing was opened"
    )]
    UnknownSender(String),
    /// A device-mode message from a sender this device has forgotten.
    #[error(
        "this message was sealed by {0}, which this device has forgotten (hush servers forget); pair with it again to trust it"
    )]
    ForgottenSender(String),
    /// A device-mode message whose stanza does not verify under the sender it names.
    #[error(
        "this message does not verify as sealed by {0}: forged, or altered on the way; nothing was opened"
    )]
    SenderMismatch(String),
    /// Sealing for devices needs 1 to [`crate::identity::MAX_RECIPIENTS`] recipients; a
    /// header that names another count is malformed.
    #[error("a message for devices has 1 to 16 recipients, not {0}")]
    RecipientCount(usize),
    /// An identity's text form (a public or secret key in base64) is not valid.
    #[error("the {0} is not valid: expected 32 bytes as standard base64")]
    BadIdentityText(&'static str),
    /// The passphrase does not open the message.
    #[error("wrong passphrase")]
    WrongPassphrase,
    /// A chunk failed authentication. Whether plaintext before it was released depends on
    /// the reader (a streaming one releases the chunks that authenticated), so the message
    /// does not say: the caller, who knows, does.
    #[error("the sealed message is corrupted (authentication failed)")]
    Corrupted,
    /// The message ends before its final chunk.
    #[error("the sealed message is truncated: it ends before its final chunk")]
    Truncated,
    /// The message ends inside a chunk, and that last piece fails authentication.
    ///
    /// Cobblestone marks the final chunk only by being short, so a full chunk cut short
    /// and an altered final chunk fail alike; a cut is by far the likelier (a copy or
    /// download that stopped early), and either way nothing of the piece is released.
    #[error(
        "the sealed message is truncated: it ends inside a chunk (cut off, or its last chunk was altered)"
    )]
    TruncatedInChunk,
    /// Argon2id parameters in a header exceed the documented cap.
    #[error(
        "passphrase parameters too costly ({0}); refusing to allocate (the cap is m=1 GiB, t=16, p=16)"
    )]
    ParamsOverCap(String),
    /// Argon2id parameters that Argon2 itself refuses.
    #[error("invalid passphrase parameters ({0})")]
    InvalidParams(String),
    /// The decrypted content does not follow the payload layout.
    #[error("the opened content is malformed: {0}")]
    BadPayload(&'static str),
    /// The message is longer than Cobblestone-256 allows (2^38 chunks).
    #[error("message too long for the format (4 PiB at most)")]
    TooLong,

    /// An I/O error.
    #[error("{0}")]
    Io(#[from] io::Error),
}

fn article(kind: SecretKind) -> &'static str {
    match kind {
        SecretKind::Key => "a",
        SecretKind::Iv => "an",
    }
}

/// Result with the library's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps the error into an [`io::Error`] so that it can travel through `Read`/`Write`.
    pub(crate) fn into_io(self) -> io::Error {
        match self {
            Error::Io(e) => e,
            other => io::Error::other(other),
        }
    }

    /// Recovers a library error that travelled through an [`io::Error`].
    pub fn from_io(e: io::Error) -> Error {
        if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
            match e.into_inner().map(|inner| inner.downcast::<Error>()) {
                Some(Ok(err)) => *err,
                // Unreachable: checked just above; keep a sane fallback rather than panic.
                Some(Err(inner)) => Error::Io(io::Error::other(inner)),
                None => Error::Io(io::Error::other("unknown I/O error")),
            }
        } else {
            Error::Io(e)
        }
    }
}
