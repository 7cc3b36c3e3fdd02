//! Cobblestone-256: C2SP chunked encryption v1 (<https://c2sp.org/chunked-encryption>)
//! instantiated with HKDF-Expand-SHA-512 and AES-256-GCM.
//!
//! Layout: `salt (24) || commitment (32) || chunk_0 || ... || chunk_n`, every chunk a
//! 16 KiB plaintext sealed with AES-256-GCM under the derived key and the base nonce XOR
//! the chunk counter; the final chunk is always shorter than 16 KiB (possibly empty),
//! which is what marks the end of the message.

use std::io::{self, Read, Write};

use aes_gcm::aead::{AeadInOut, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce, Tag};
use hmac::{Hmac, Mac};
use sha2::Sha512;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// Plaintext bytes per chunk.
pub const CHUNK_SIZE: usize = 16 * 1024;
/// AES-GCM tag length.
pub const TAG_SIZE: usize = 16;
/// Length of the random salt that starts every message.
pub const SALT_SIZE: usize = 24;
/// Length of the key commitment that follows the salt.
pub const COMMITMENT_SIZE: usize = 32;
/// Bytes before the first chunk: salt and commitment.
pub const PREFIX_SIZE: usize = SALT_SIZE + COMMITMENT_SIZE;
/// Input key length (AES-256).
pub const INPUT_KEY_SIZE: usize = 32;
/// AES-GCM nonce length.
pub const NONCE_SIZE: usize = 12;

const SEALED_CHUNK: usize = CHUNK_SIZE + TAG_SIZE;
/// The chunk counter must stay below 2^38 (C2SP: abort when it reaches it).
const MAX_CHUNKS: u64 = 1 << 38;
/// HKDF-Expand info prefix: "c2sp.org/chunked-encryption@v1+" || aead name || 0x00.
const INFO_PREFIX: &[u8] = b"c2sp.org/chunked-encryption@v1+AEAD_AES_256_GCM\0";

/// The per-message values derived from the input key, salt and context.
struct Derived {
    /// AEAD key (32) || base nonce (12) || commitment (32).
    okm: Zeroizing<[u8; 76]>,
}

impl Derived {
    fn new(input_key: &[u8; INPUT_KEY_SIZE], salt: &[u8; SALT_SIZE], context: &[u8]) -> Self {
        let mut okm = Zeroizing::new([0u8; 76]);
        hkdf_expand_sha512(input_key, &[INFO_PREFIX, salt, context], &mut okm[..]);
        Self { okm }
    }
    fn key(&self) -> &[u8] {
        &self.okm[..32]
    }
    fn base_nonce(&self) -> [u8; NONCE_SIZE] {
        let mut n = [0u8; NONCE_SIZE];
        n.copy_from_slice(&self.okm[32..44]);
        n
    }
    fn commitment(&self) -> &[u8] {
        &self.okm[44..]
    }
}

/// HKDF-Expand (RFC 5869 §2.3) with HMAC-SHA-512 and `prk` used as is.
///
/// Written out here because the `hkdf` crate's `from_prk` refuses a PRK shorter than the
/// hash output (64 bytes for SHA-512), while C2SP uses the 32-byte input key directly as
/// the PRK, as Go's `hkdf.Expand` allows. The Wycheproof vectors check this function.
fn hkdf_expand_sha512(prk: &[u8], info: &[&[u8]], okm: &mut [u8]) {
    let mut previous: Option<Zeroizing<[u8; 64]>> = None;
    for (counter, block) in (1u8..).zip(okm.chunks_mut(64)) {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = <Hmac<Sha512> as hmac::KeyInit>::new_from_slice(prk)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        if let Some(prev) = &previous {
            mac.update(&prev[..]);
        }
        for part in info {
            mac.update(part);
        }
        mac.update(&[counter]);
        let mut t = Zeroizing::new([0u8; 64]);
        t.copy_from_slice(&mac.finalize().into_bytes());
        block.copy_from_slice(&t[..block.len()]);
        previous = Some(t);
    }
}

/// The AEAD and the chunk counter of one message.
struct ChunkCipher {
    aead: Aes256Gcm,
    base_nonce: [u8; NONCE_SIZE],
    counter: u64,
}

impl ChunkCipher {
    fn new(key: &[u8], base_nonce: [u8; NONCE_SIZE]) -> Self {
        let aead = <Aes256Gcm as KeyInit>::new_from_slice(key)
            .unwrap_or_else(|_| unreachable!("the derived key is 32 bytes"));
        Self {
            aead,
            base_nonce,
            counter: 0,
        }
    }

    /// The next chunk's nonce: base nonce XOR the counter as a 96-bit big-endian integer.
    fn next_nonce(&mut self) -> Result<Nonce<aes_gcm::aead::consts::U12>> {
        if self.counter >= MAX_CHUNKS {
            return Err(Error::TooLong);
        }
        let mut nonce = self.base_nonce;
        for (n, c) in nonce[4..].iter_mut().zip(self.counter.to_be_bytes()) {
            *n ^= c;
        }
        self.counter += 1;
        Ok(Nonce::from(nonce))
    }

    /// Encrypts `buf[..len]` in place and writes the tag after it.
    fn seal(&mut self, buf: &mut [u8], len: usize) -> Result<()> {
        let nonce = self.next_nonce()?;
        let (body, rest) = buf.split_at_mut(len);
        let tag = self
            .aead
            .encrypt_inout_detached(&nonce, b"", body.into())
            .map_err(|_| Error::TooLong)?;
        rest[..TAG_SIZE].copy_from_slice(&tag);
        Ok(())
    }

    /// Decrypts a sealed chunk (body || tag) in place; returns the plaintext length.
    fn open(&mut self, buf: &mut [u8]) -> Result<usize> {
        let nonce = self.next_nonce()?;
        let len = buf.len() - TAG_SIZE;
        let (body, tag) = buf.split_at_mut(len);
        let tag = Tag::try_from(&tag[..]).map_err(|_| Error::Truncated)?;
        self.aead
            .decrypt_inout_detached(&nonce, b"", body.into(), &tag)
            .map_err(|_| Error::Corrupted)?;
        Ok(len)
    }
}

/// Streaming encryption: an [`io::Write`] adapter. Call [`Encryptor::finish`] at the end,
/// which writes the final short chunk; dropping without it leaves a truncated message.
pub struct Encryptor<W: Write> {
    inner: W,
    cipher: ChunkCipher,
    buf: Zeroizing<Vec<u8>>,
    len: usize,
}

impl<W: Write> Encryptor<W> {
    /// Starts a message with a fresh random salt and writes salt and commitment.
    pub fn new(inner: W, input_key: &[u8; INPUT_KEY_SIZE], context: &[u8]) -> Result<Self> {
        let mut salt = [0u8; SALT_SIZE];
        getrandom::fill(&mut salt).map_err(|e| {
            Error::Io(io::Error::other(format!(
                "the system random generator failed: {e}"
            )))
        })?;
        Self::with_salt(inner, input_key, context, &salt)
    }

    /// As [`Encryptor::new`] with a given salt. The salt must never repeat for a key:
    /// this exists for test vectors only.
    #[doc(hidden)]
    pub fn with_salt(
        mut inner: W,
        input_key: &[u8; INPUT_KEY_SIZE],
        context: &[u8],
        salt: &[u8; SALT_SIZE],
    ) -> Result<Self> {
        let derived = Derived::new(input_key, salt, context);
        inner.write_all(salt)?;
        inner.write_all(derived.commitment())?;
        Ok(Self::raw(inner, derived.key(), derived.base_nonce()))
    }

    /// Raw mode (C2SP appendix): no salt, no commitment, the AEAD key and base nonce
    /// given directly. Hazmat, for deterministic test vectors only.
    #[doc(hidden)]
    pub fn raw(inner: W, aead_key: &[u8], base_nonce: [u8; NONCE_SIZE]) -> Self {
        Self {
            inner,
            cipher: ChunkCipher::new(aead_key, base_nonce),
            buf: Zeroizing::new(vec![0u8; SEALED_CHUNK]),
            len: 0,
        }
    }

    fn flush_chunk(&mut self) -> Result<()> {
        self.cipher.seal(&mut self.buf, self.len)?;
        self.inner.write_all(&self.buf[..self.len + TAG_SIZE])?;
        self.len = 0;
        Ok(())
    }

    /// Writes the final (short, possibly empty) chunk and returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        if self.len == CHUNK_SIZE {
            // The final chunk must be short: a full buffer goes out as a regular chunk,
            // followed by an empty final one.
            self.flush_chunk()?;
        }
        self.flush_chunk()?;
        self.buf.zeroize();
        Ok(self.inner)
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < data.len() {
            // A full buffer is never the final chunk (that one is always short), so it can
            // be sealed as soon as more data arrives.
            if self.len == CHUNK_SIZE {
                self.flush_chunk().map_err(Error::into_io)?;
            }
            let n = (CHUNK_SIZE - self.len).min(data.len() - written);
            self.buf[self.len..self.len + n].copy_from_slice(&data[written..written + n]);
            self.len += n;
            written += n;
        }
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Streaming decryption: an [`io::Read`] adapter that releases a chunk's plaintext only
/// after that chunk authenticated. A full chunk is released only once at least one more
/// byte is known to follow it, so a message cut at a chunk boundary releases nothing of
/// its last chunk. Once it fails, it keeps failing.
pub struct Decryptor<R: Read> {
    inner: R,
    cipher: ChunkCipher,
    /// Sealed bytes read ahead; `SEALED_CHUNK + 1` so that a full chunk is known not to be last.
    buf: Zeroizing<Vec<u8>>,
    filled: usize,
    /// Plaintext ready to hand out: `buf[out_pos..out_end]`.
    out_pos: usize,
    out_end: usize,
    state: State,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Reading,
    Done,
    Failed(FailKind),
}

/// A copyable record of the first failure, so that later reads fail the same way.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FailKind {
    Corrupted,
    Truncated,
    TooLong,
}

impl FailKind {
    fn error(self) -> Error {
        match self {
            FailKind::Corrupted => Error::Corrupted,
            FailKind::Truncated => Error::Truncated,
            FailKind::TooLong => Error::TooLong,
        }
    }
}

/// Reads the 24-byte salt and 32-byte commitment that start a message.
pub fn read_prefix<R: Read>(r: &mut R) -> Result<([u8; SALT_SIZE], [u8; COMMITMENT_SIZE])> {
    let mut prefix = [0u8; PREFIX_SIZE];
    read_exact_or(r, &mut prefix, Error::Truncated)?;
    let mut salt = [0u8; SALT_SIZE];
    let mut commitment = [0u8; COMMITMENT_SIZE];
    salt.copy_from_slice(&prefix[..SALT_SIZE]);
    commitment.copy_from_slice(&prefix[SALT_SIZE..]);
    Ok((salt, commitment))
}

/// `read_exact`, with a short read turned into `short` rather than a bare EOF error.
pub(crate) fn read_exact_or<R: Read>(r: &mut R, buf: &mut [u8], short: Error) -> Result<()> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => return Err(short),
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::from_io(e)),
        }
    }
    Ok(())
}

/// The key schedule of one message, checked against its commitment.
pub struct Unlocked {
    derived: Derived,
}

impl Unlocked {
    /// Derives the message key from the input key, salt and context, and checks it against
    /// the commitment (in constant time). A mismatch means a wrong key, IV or context.
    pub fn new(
        input_key: &[u8; INPUT_KEY_SIZE],
        context: &[u8],
        salt: &[u8; SALT_SIZE],
        commitment: &[u8; COMMITMENT_SIZE],
    ) -> Result<Self> {
        let derived = Derived::new(input_key, salt, context);
        if bool::from(derived.commitment().ct_eq(commitment)) {
            Ok(Self { derived })
        } else {
            Err(Error::WrongKey)
        }
    }
}

impl<R: Read> Decryptor<R> {
    /// Decrypts the chunks that follow the prefix, with a key checked by [`Unlocked::new`].
    pub fn new(inner: R, unlocked: Unlocked) -> Self {
        Self::raw(inner, unlocked.derived.key(), unlocked.derived.base_nonce())
    }

    /// Reads the prefix, checks the commitment, and decrypts the rest.
    pub fn open(mut inner: R, input_key: &[u8; INPUT_KEY_SIZE], context: &[u8]) -> Result<Self> {
        let (salt, commitment) = read_prefix(&mut inner)?;
        let unlocked = Unlocked::new(input_key, context, &salt, &commitment)?;
        Ok(Self::new(inner, unlocked))
    }

    /// Raw mode (C2SP appendix). Hazmat, for test vectors only.
    #[doc(hidden)]
    pub fn raw(inner: R, aead_key: &[u8], base_nonce: [u8; NONCE_SIZE]) -> Self {
        Self {
            inner,
            cipher: ChunkCipher::new(aead_key, base_nonce),
            buf: Zeroizing::new(vec![0u8; SEALED_CHUNK + 1]),
            filled: 0,
            out_pos: 0,
            out_end: 0,
            state: State::Reading,
        }
    }

    /// Reads until the look-ahead buffer is full or the input ends; returns whether it ended.
    fn fill(&mut self) -> io::Result<bool> {
        while self.filled < self.buf.len() {
            match self.inner.read(&mut self.buf[self.filled..]) {
                Ok(0) => return Ok(true),
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Authenticates the next chunk into `buf[..out_end]`.
    fn next_chunk(&mut self) -> io::Result<()> {
        // The byte read ahead after the previous full chunk starts this one.
        let ended = self.fill()?;
        let result = if !ended {
            // More than a full sealed chunk is here: the first one is not the last.
            self.cipher
                .open(&mut self.buf[..SEALED_CHUNK])
                .map(|n| (n, false))
        } else if self.filled < TAG_SIZE || self.filled == SEALED_CHUNK {
            // Too short to hold a tag, or a full chunk with nothing after it: the final,
            // short chunk is missing.
            Err(Error::Truncated)
        } else {
            let filled = self.filled;
            self.cipher.open(&mut self.buf[..filled]).map(|n| (n, true))
        };
        match result {
            Ok((n, last)) => {
                self.out_pos = 0;
                self.out_end = n;
                if last {
                    self.filled = 0;
                    self.state = State::Done;
                } else {
                    // Keep the look-ahead byte for the next chunk; it is moved to the
                    // front once this chunk's plaintext has been handed out.
                    self.filled -= SEALED_CHUNK;
                }
                Ok(())
            }
            Err(e) => {
                self.state = State::Failed(match e {
                    Error::Truncated => FailKind::Truncated,
                    Error::TooLong => FailKind::TooLong,
                    _ => FailKind::Corrupted,
                });
                self.buf.zeroize();
                self.out_pos = 0;
                self.out_end = 0;
                Err(e.into_io())
            }
        }
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.out_pos < self.out_end {
                let n = (self.out_end - self.out_pos).min(out.len());
                out[..n].copy_from_slice(&self.buf[self.out_pos..self.out_pos + n]);
                self.out_pos += n;
                return Ok(n);
            }
            match self.state {
                State::Done => return Ok(0),
                State::Failed(kind) => return Err(kind.error().into_io()),
                State::Reading => {
                    if self.out_end > 0 || self.out_pos > 0 {
                        // Move the look-ahead byte(s) behind the consumed chunk to the front.
                        self.buf
                            .copy_within(SEALED_CHUNK..SEALED_CHUNK + self.filled, 0);
                        self.out_pos = 0;
                        self.out_end = 0;
                    }
                    self.next_chunk()?;
                }
            }
        }
    }
}

/// Whole-message decryption: returns the plaintext only if every chunk authenticated
/// (the buffer is sized up front and zeroized on failure).
pub fn decrypt_all(
    sealed: &[u8],
    input_key: &[u8; INPUT_KEY_SIZE],
    context: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let mut plain = Zeroizing::new(Vec::with_capacity(sealed.len()));
    Decryptor::open(sealed, input_key, context)?
        .read_to_end(&mut plain)
        .map_err(Error::from_io)?;
    Ok(plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_at_chunk_boundaries() {
        let key = [7u8; 32];
        for len in [
            0,
            1,
            CHUNK_SIZE - 1,
            CHUNK_SIZE,
            CHUNK_SIZE + 1,
            2 * CHUNK_SIZE,
            70_000,
        ] {
            let msg: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut enc = Encryptor::new(Vec::new(), &key, b"ctx").unwrap();
            enc.write_all(&msg).unwrap();
            let sealed = enc.finish().unwrap();
            assert_eq!(
                sealed.len(),
                PREFIX_SIZE + len + (len / CHUNK_SIZE + 1) * TAG_SIZE
            );
            let mut dec = Decryptor::open(&sealed[..], &key, b"ctx").unwrap();
            let mut out = Vec::new();
            dec.read_to_end(&mut out).unwrap();
            assert_eq!(out, msg);
        }
    }

    #[test]
    fn wrong_context_is_a_wrong_key() {
        let mut enc = Encryptor::new(Vec::new(), &[1; 32], b"a").unwrap();
        enc.write_all(b"x").unwrap();
        let sealed = enc.finish().unwrap();
        assert!(matches!(
            Decryptor::open(&sealed[..], &[1; 32], b"b"),
            Err(Error::WrongKey)
        ));
    }
}
