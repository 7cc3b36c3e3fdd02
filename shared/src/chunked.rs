//! Cobblestone-256: C2SP chunked encryption v1 (<https://c2sp.org/chunked-encryption>)
//! instantiated with HKDF-Expand-SHA-512 and AES-256-GCM.
//!
//! Layout: `salt (24) || commitment (32) || chunk_0 || ... || chunk_n`, every chunk a
//! 16 KiB plaintext sealed with AES-256-GCM under the derived key and the base nonce XOR
//! the chunk counter; the final chunk is always shorter than 16 KiB (possibly empty),
//! which is what marks the end of the message.

use std::io::{self, Read, Write};

use hmac::{Hmac, Mac};
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, Tag, UnboundKey};
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

/// Chunks sealed or opened together: about 1 MiB of plaintext, enough for both cores to get
/// real work per batch, small enough that memory stays flat whatever the message size.
const BATCH_CHUNKS: usize = 64;
/// Chunks one core takes at a time within a batch. Fewer than twice this many are processed
/// on the calling thread, so a short message (the usual secret) never involves another.
const SHARE_CHUNKS: usize = 8;

/// The AEAD and the chunk counter of one message.
///
/// AES-256-GCM is ring's: it picks the CPU's AES-NI/VAES and PCLMULQDQ/VPCLMULQDQ code (or
/// the ARMv8 crypto extensions) at run time, with a constant-time fallback elsewhere, and is
/// several times faster than the `aes-gcm` crate on 16 KiB chunks (README, "Dependencies";
/// `cargo bench -p shared --bench aead`). A proptest (shared/tests/aead_differential.rs)
/// checks it against `aes-gcm` chunk for chunk.
///
/// Zeroization: ring's `LessSafeKey` keeps the expanded AES key schedule and the GHASH key
/// (H and its powers) inside itself and wipes neither on drop (ring has no `Zeroize` and
/// no `Drop` for keys), and its fields are private, so they cannot be wiped from here
/// without `unsafe`. What is ours is wiped: the derived key bytes live only in `Derived`'s
/// `Zeroizing` buffer and are passed by reference to `UnboundKey::new`, which copies
/// nothing but the schedule; the base nonce is wiped on drop. The key is one message's
/// derived key (never the user's key), boxed so that it is never moved around the stack,
/// and dropped as soon as the message is done.
struct ChunkCipher {
    aead: Box<LessSafeKey>,
    base_nonce: Zeroizing<[u8; NONCE_SIZE]>,
    counter: u64,
}

impl ChunkCipher {
    fn new(key: &[u8], base_nonce: [u8; NONCE_SIZE]) -> Self {
        let key = UnboundKey::new(&AES_256_GCM, key)
            .unwrap_or_else(|_| unreachable!("the derived key is 32 bytes"));
        Self {
            aead: Box::new(LessSafeKey::new(key)),
            base_nonce: Zeroizing::new(base_nonce),
            counter: 0,
        }
    }

    /// Takes the counters of the next `count` chunks; returns the first. The counter must
    /// stay below 2^38.
    fn reserve(&mut self, count: usize) -> Result<u64> {
        let first = self.counter;
        let next = first
            .checked_add(count as u64)
            .filter(|&n| n <= MAX_CHUNKS)
            .ok_or(Error::TooLong)?;
        self.counter = next;
        Ok(first)
    }

    /// A chunk's nonce: base nonce XOR the counter as a 96-bit big-endian integer.
    fn nonce(&self, counter: u64) -> Nonce {
        let mut nonce = *self.base_nonce;
        for (n, c) in nonce[4..].iter_mut().zip(counter.to_be_bytes()) {
            *n ^= c;
        }
        Nonce::assume_unique_for_key(nonce)
    }

    /// Encrypts `buf[..len]` in place and writes the tag after it.
    fn seal(&self, counter: u64, buf: &mut [u8], len: usize) -> Result<()> {
        let (body, rest) = buf.split_at_mut(len);
        let tag = self
            .aead
            .seal_in_place_separate_tag(self.nonce(counter), Aad::empty(), body)
            .map_err(|_| Error::TooLong)?;
        rest[..TAG_SIZE].copy_from_slice(tag.as_ref());
        Ok(())
    }

    /// Decrypts a sealed chunk (body || tag) in place; returns the plaintext length.
    /// ring decrypts and authenticates in one pass and zeroes the decrypted bytes before it
    /// reports a bad tag, so a failed chunk leaves no plaintext behind (and the callers
    /// release only chunks that opened).
    fn open(&self, counter: u64, buf: &mut [u8]) -> Result<usize> {
        let len = buf.len().checked_sub(TAG_SIZE).ok_or(Error::Truncated)?;
        let (body, tag) = buf.split_at_mut(len);
        let tag = Tag::try_from(&tag[..]).map_err(|_| Error::Truncated)?;
        self.aead
            .open_in_place_separate_tag(self.nonce(counter), Aad::empty(), tag, body, 0..)
            .map_err(|_| Error::Corrupted)?;
        Ok(len)
    }
}

/// Runs `f` on every `SEALED_CHUNK`-sized slot of `slots` (with counter `first` + its
/// index), sharing the slots between the cores. Chunks do not depend on each other (each
/// has its own nonce), so they can be processed in any order; the error returned is that of
/// the first failing slot in order, with its index.
fn each_slot<F>(slots: &mut [u8], first: u64, f: &F) -> std::result::Result<(), (usize, Error)>
where
    F: Fn(u64, &mut [u8]) -> Result<()> + Sync,
{
    let count = slots.len() / SEALED_CHUNK;
    if count < 2 * SHARE_CHUNKS {
        for (i, slot) in slots.chunks_mut(SEALED_CHUNK).enumerate() {
            f(first + i as u64, slot).map_err(|e| (i, e))?;
        }
        return Ok(());
    }
    let half = count / 2;
    let (a, b) = slots.split_at_mut(half * SEALED_CHUNK);
    let (ra, rb) = rayon::join(
        || each_slot(a, first, f),
        || each_slot(b, first + half as u64, f),
    );
    ra?;
    rb.map_err(|(i, e)| (half + i, e))
}

/// A batch buffer that holds plaintext: zeroized on drop, as far as it was ever used.
/// It is allocated zeroed and whole up front (never reallocated, so no copy is left behind),
/// and only the used part is wiped, so a short message does not pay for a megabyte.
struct Batch {
    buf: Vec<u8>,
    used: usize,
}

impl Batch {
    fn new(len: usize) -> Self {
        Self {
            buf: vec![0u8; len],
            used: 0,
        }
    }

    /// The buffer up to `end`, which then counts as used.
    fn upto(&mut self, end: usize) -> &mut [u8] {
        self.used = self.used.max(end);
        &mut self.buf[..end]
    }

    fn wipe(&mut self) {
        self.buf[..self.used].zeroize();
        self.used = 0;
    }
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// Streaming encryption: an [`io::Write`] adapter. Call [`Encryptor::finish`] at the end,
/// which writes the final short chunk; dropping without it leaves a truncated message.
///
/// Plaintext is collected into a batch of chunk slots, each with room for its tag, so a
/// batch is sealed in place, on both cores, and written out in one call.
pub struct Encryptor<W: Write> {
    inner: W,
    cipher: ChunkCipher,
    batch: Batch,
    /// Full chunks in the batch.
    full: usize,
    /// Bytes in the chunk being filled (slot `full`).
    len: usize,
}

impl<W: Write> Encryptor<W> {
    /// Starts a message with a fresh random salt and writes salt and commitment.
    pub fn new(inner: W, input_key: &[u8; INPUT_KEY_SIZE], context: &[u8]) -> Result<Self> {
        let mut salt = [0u8; SALT_SIZE];
        crate::keys::fill_random(&mut salt)?;
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
            batch: Batch::new(BATCH_CHUNKS * SEALED_CHUNK),
            full: 0,
            len: 0,
        }
    }

    /// Counts the chunk being filled as full and moves to the next slot, sealing and
    /// writing out the batch when it has no slot left.
    fn next_slot(&mut self) -> Result<()> {
        self.full += 1;
        self.len = 0;
        if self.full == BATCH_CHUNKS {
            self.write_batch(false)?;
        }
        Ok(())
    }

    /// Seals the full chunks of the batch (and, with `last`, the short final one after
    /// them) and writes them out.
    fn write_batch(&mut self, last: bool) -> Result<()> {
        let (full, len) = (self.full, self.len);
        let first = self.cipher.reserve(full + usize::from(last))?;
        let end = full * SEALED_CHUNK + if last { len + TAG_SIZE } else { 0 };
        let buf = self.batch.upto(end);
        let cipher = &self.cipher;
        let (slots, rest) = buf.split_at_mut(full * SEALED_CHUNK);
        each_slot(slots, first, &|counter, slot| {
            cipher.seal(counter, slot, CHUNK_SIZE)
        })
        .map_err(|(_, e)| e)?;
        if last {
            cipher.seal(first + full as u64, rest, len)?;
        }
        self.inner.write_all(buf)?;
        self.full = 0;
        self.len = 0;
        Ok(())
    }

    /// Writes the final (short, possibly empty) chunk and returns the inner writer.
    pub fn finish(mut self) -> Result<W> {
        if self.len == CHUNK_SIZE {
            // The final chunk must be short: a full chunk is a regular one, followed by an
            // empty final one.
            self.next_slot()?;
        }
        self.write_batch(true)?;
        self.batch.wipe();
        Ok(self.inner)
    }
}

impl<W: Write> Write for Encryptor<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut written = 0;
        while written < data.len() {
            // A full chunk is never the final one (that one is always short), so it can be
            // counted as such as soon as more data arrives.
            if self.len == CHUNK_SIZE {
                self.next_slot().map_err(Error::into_io)?;
            }
            let n = (CHUNK_SIZE - self.len).min(data.len() - written);
            let at = self.full * SEALED_CHUNK + self.len;
            self.batch.upto(at + n)[at..].copy_from_slice(&data[written..written + n]);
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
///
/// Chunks are read and opened a batch at a time, on both cores; the plaintext of the
/// chunks before a failing one is still released, as if they had been opened one by one.
pub struct Decryptor<R: Read> {
    inner: R,
    cipher: ChunkCipher,
    /// Sealed chunks read ahead: a batch and one byte, so that a full batch is known not to
    /// end the message. Chunks are opened in place.
    batch: Batch,
    filled: usize,
    /// Opened chunks ready to hand out: slots `slot..ready`, from `pos` inside `slot`.
    slot: usize,
    ready: usize,
    pos: usize,
    /// Plaintext length of slot `ready - 1` (the final chunk is short).
    last_len: usize,
    /// What happens once the opened chunks are handed out.
    after: State,
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
    TruncatedInChunk,
    TooLong,
}

impl FailKind {
    fn of(e: &Error) -> Self {
        match e {
            Error::Truncated => FailKind::Truncated,
            Error::TooLong => FailKind::TooLong,
            _ => FailKind::Corrupted,
        }
    }

    fn error(self) -> Error {
        match self {
            FailKind::Corrupted => Error::Corrupted,
            FailKind::Truncated => Error::Truncated,
            FailKind::TruncatedInChunk => Error::TruncatedInChunk,
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
    #[cfg(any(test, feature = "hazmat"))]
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
            batch: Batch::new(BATCH_CHUNKS * SEALED_CHUNK + 1),
            filled: 0,
            slot: 0,
            ready: 0,
            pos: 0,
            last_len: 0,
            after: State::Reading,
            state: State::Reading,
        }
    }

    /// Reads until the batch buffer is full or the input ends; returns whether it ended.
    fn fill(&mut self) -> io::Result<bool> {
        let want = self.batch.buf.len();
        while self.filled < want {
            let filled = self.filled;
            match self.inner.read(&mut self.batch.upto(want)[filled..]) {
                Ok(0) => return Ok(true),
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Reads and authenticates the next batch of chunks, and sets what is ready to hand out.
    fn next_batch(&mut self) -> io::Result<()> {
        // The byte read ahead after the previous batch starts this one.
        let ended = self.fill()?;
        let filled = self.filled;
        // More than a full batch is here: none of its chunks is the last. Otherwise the input
        // ends inside this batch: full chunks, then the final one, which must be short and
        // hold at least a tag (a full chunk with nothing after it means the final one is
        // missing).
        let (full, tail) = match (ended, filled / SEALED_CHUNK, filled % SEALED_CHUNK) {
            (false, _, _) => (BATCH_CHUNKS, None),
            // Ends on a whole chunk: that one is not released, the final one is missing.
            (true, whole, 0) if whole > 0 => (whole - 1, Some(SEALED_CHUNK)),
            (true, whole, rest) => (whole, Some(rest)),
        };
        let opens_tail = matches!(tail, Some(t) if (TAG_SIZE..SEALED_CHUNK).contains(&t));
        let (ready, last_len, after) = match self.cipher.reserve(full + usize::from(opens_tail)) {
            Err(e) => (0, 0, State::Failed(FailKind::of(&e))),
            Ok(first) => {
                let cipher = &self.cipher;
                let buf = &mut self.batch.buf[..filled];
                let (slots, rest) = buf.split_at_mut(full * SEALED_CHUNK);
                match each_slot(slots, first, &|counter, slot| {
                    cipher.open(counter, slot).map(|_| ())
                }) {
                    Err((failed, e)) => (failed, CHUNK_SIZE, State::Failed(FailKind::of(&e))),
                    Ok(()) => match tail {
                        None => (full, CHUNK_SIZE, State::Reading),
                        Some(_) if !opens_tail => {
                            (full, CHUNK_SIZE, State::Failed(FailKind::Truncated))
                        }
                        // The input ended inside this piece. A genuine final chunk that fails
                        // was altered; a full chunk cut short fails the same way, and is far
                        // likelier (a copy that stopped early), so it is named a cut. Either
                        // way it fails: no format rule is relaxed, only the diagnosis.
                        Some(_) => match cipher.open(first + full as u64, rest) {
                            Ok(n) => (full + 1, n, State::Done),
                            Err(_) => (full, CHUNK_SIZE, State::Failed(FailKind::TruncatedInChunk)),
                        },
                    },
                }
            }
        };
        if after != State::Reading {
            // Nothing after the released chunks may stay: what failed is not plaintext to
            // keep, and what is left of a finished message is nothing.
            let from = (ready * SEALED_CHUNK).min(filled);
            self.batch.buf[from..filled].zeroize();
        }
        self.slot = 0;
        self.pos = 0;
        self.ready = ready;
        self.last_len = last_len;
        self.after = after;
        Ok(())
    }

    /// Moves the byte read ahead after the handed-out batch to the front.
    fn keep_look_ahead(&mut self) {
        let used = self.ready * SEALED_CHUNK;
        let filled = self.filled;
        self.batch.buf.copy_within(used..filled, 0);
        self.filled = filled - used;
        self.ready = 0;
        self.slot = 0;
    }
}

impl<R: Read> Read for Decryptor<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            while self.slot < self.ready {
                let len = if self.slot + 1 == self.ready {
                    self.last_len
                } else {
                    CHUNK_SIZE
                };
                if self.pos < len {
                    let at = self.slot * SEALED_CHUNK + self.pos;
                    let n = (len - self.pos).min(out.len());
                    out[..n].copy_from_slice(&self.batch.buf[at..at + n]);
                    self.pos += n;
                    return Ok(n);
                }
                self.slot += 1;
                self.pos = 0;
            }
            match self.state {
                State::Done => return Ok(0),
                State::Failed(kind) => return Err(kind.error().into_io()),
                State::Reading if self.after != State::Reading => {
                    self.state = self.after;
                    self.batch.wipe();
                }
                State::Reading => {
                    if self.ready > 0 {
                        self.keep_look_ahead();
                    }
                    self.next_batch()?;
                }
            }
        }
    }
}

/// Whole-message decryption: returns the plaintext only if every chunk authenticated
/// (the buffer is sized up front and zeroized on failure). For test vectors.
#[cfg(any(test, feature = "hazmat"))]
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

    fn seal(msg: &[u8]) -> Vec<u8> {
        let mut enc = Encryptor::new(Vec::new(), &[9u8; 32], b"ctx").unwrap();
        enc.write_all(msg).unwrap();
        enc.finish().unwrap()
    }

    /// Reads everything a decryptor releases, 1000 bytes at a time, and its error.
    fn drain(sealed: &[u8]) -> (Vec<u8>, Option<io::Error>) {
        let mut dec = Decryptor::open(sealed, &[9u8; 32], b"ctx").unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 1000];
        loop {
            match dec.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => {
                    assert!(dec.read(&mut buf).is_err(), "a failure must stick");
                    return (out, Some(e));
                }
            }
        }
    }

    #[test]
    fn round_trip_at_batch_boundaries() {
        // Around the size where a batch is shared between cores, and around whole batches.
        let shared = 2 * SHARE_CHUNKS * CHUNK_SIZE;
        let batch = BATCH_CHUNKS * CHUNK_SIZE;
        for len in [
            shared - 1,
            shared,
            shared + 1,
            batch - 1,
            batch,
            batch + 1,
            2 * batch + CHUNK_SIZE,
            3 * batch + 12_345,
        ] {
            let msg: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
            let sealed = seal(&msg);
            assert_eq!(
                sealed.len(),
                PREFIX_SIZE + len + (len / CHUNK_SIZE + 1) * TAG_SIZE
            );
            let (out, err) = drain(&sealed);
            assert!(err.is_none(), "len {len}: {err:?}");
            assert!(out == msg, "len {len}: round trip differs");
        }
    }

    #[test]
    fn a_damaged_chunk_in_a_batch_releases_exactly_the_chunks_before_it() {
        let chunks = BATCH_CHUNKS + 40;
        let msg: Vec<u8> = (0..chunks * CHUNK_SIZE + 5)
            .map(|i| (i % 241) as u8)
            .collect();
        let sealed = seal(&msg);
        // In the first batch (both halves), in the second, and the final chunk (which,
        // short and at the end, cannot be told from a chunk cut short).
        for damaged in [3, BATCH_CHUNKS - 5, BATCH_CHUNKS + 17, chunks] {
            let mut bad = sealed.clone();
            bad[PREFIX_SIZE + damaged * SEALED_CHUNK + 7] ^= 1;
            let (out, err) = drain(&bad);
            assert_eq!(out.len(), damaged * CHUNK_SIZE, "chunk {damaged}");
            assert!(out == msg[..out.len()]);
            let err = Error::from_io(err.expect("must fail"));
            if damaged == chunks {
                assert!(matches!(err, Error::TruncatedInChunk), "{err:?}");
            } else {
                assert!(matches!(err, Error::Corrupted), "chunk {damaged}: {err:?}");
            }
        }
    }

    #[test]
    fn truncation_at_and_inside_a_batch_is_reported() {
        let msg = vec![0x5au8; 2 * BATCH_CHUNKS * CHUNK_SIZE + 100];
        let sealed = seal(&msg);
        for full in [BATCH_CHUNKS, BATCH_CHUNKS + 1, 2 * BATCH_CHUNKS] {
            // Cut after `full` whole chunks: nothing of the last of them may be released.
            let cut = &sealed[..PREFIX_SIZE + full * SEALED_CHUNK];
            let (out, err) = drain(cut);
            assert_eq!(out.len(), (full - 1) * CHUNK_SIZE, "cut after {full}");
            assert!(matches!(
                Error::from_io(err.expect("fail")),
                Error::Truncated
            ));
            // Cut inside the tag of the next chunk's first bytes.
            let cut = &sealed[..PREFIX_SIZE + full * SEALED_CHUNK + TAG_SIZE - 1];
            let (_, err) = drain(cut);
            assert!(matches!(
                Error::from_io(err.expect("fail")),
                Error::Truncated
            ));
            // Cut inside the next chunk, past its first tag's worth of bytes: a cut too,
            // after the chunks before it, all released.
            if full == 2 * BATCH_CHUNKS {
                continue; // the next chunk is the final one, 116 bytes long
            }
            let cut = &sealed[..PREFIX_SIZE + full * SEALED_CHUNK + 5000];
            let (out, err) = drain(cut);
            assert_eq!(out.len(), full * CHUNK_SIZE, "cut inside {full}");
            assert!(matches!(
                Error::from_io(err.expect("fail")),
                Error::TruncatedInChunk
            ));
        }
    }

    #[test]
    fn the_counter_limit_is_enforced() {
        let mut cipher = ChunkCipher::new(&[1u8; 32], [0u8; NONCE_SIZE]);
        cipher.counter = MAX_CHUNKS - 2;
        assert!(matches!(cipher.reserve(3), Err(Error::TooLong)));
        assert_eq!(cipher.reserve(2).unwrap(), MAX_CHUNKS - 2);
        assert!(matches!(cipher.reserve(1), Err(Error::TooLong)));
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
