//! Hush's library: key material, the sealed format and its armor.
//!
//! It knows nothing of terminals, clipboards or processes: the binaries `hush-run` and
//! `hush` bring those, with the one exception of [`cli`], the support module both binaries
//! share, behind the `cli` feature that only they enable. The byte-level contract is
//! docs/FORMAT.md.
//!
//! Layers, outside in:
//! - [`armor`]: text block around base64 (optional: binary sealed data is accepted too);
//! - `envelope`: header (magic, version, key mode) and the Cobblestone-256 body;
//! - `chunked`: Cobblestone-256, C2SP chunked encryption with HKDF-SHA-512 and AES-256-GCM;
//! - `payload`: the plaintext's records (metadata, stdout, stderr, exit status).

pub mod armor;
// Raw (hazmat) chunk encryption is for test vectors and the fuzzer only: the module is
// public only with the `hazmat` feature, which nothing but tests and fuzz/ enable.
#[cfg(feature = "hazmat")]
pub mod chunked;
#[cfg(not(feature = "hazmat"))]
pub(crate) mod chunked;
#[cfg(feature = "cli")]
pub mod cli;
pub(crate) mod envelope;
pub(crate) mod error;
pub mod identity;
pub(crate) mod keys;
pub(crate) mod offload;
pub(crate) mod payload;
pub mod relay;

use std::io::{self, Read, Write};

use zeroize::Zeroizing;

pub use envelope::{Argon2Params, Mode, SealOptions};
use envelope::{Opener, Sealer};
pub use error::{Error, Result, SecretKind};
pub use identity::{DeviceKeys, IdentitySecret, KeyId, Peer, PublicIdentity};
pub use keys::{Credentials, Fingerprint, Iv, Key, Passphrase};
pub use offload::Written;
use payload::PayloadWriter;
pub use payload::{Metadata, Stream, Summary};

/// Where sealed bytes go: as they are or armored, written on this thread or on a second
/// one (so that encryption and base64/output overlap).
pub enum SealedOutput<W: Write> {
    /// Raw sealed bytes.
    Binary(W),
    /// Armored text.
    Armored(armor::ArmorWriter<W>),
    /// Raw sealed bytes or armored text, encoded and written by a second thread.
    Offloaded(offload::OffloadWriter<W>),
}

impl<W: Write> SealedOutput<W> {
    /// Wraps `inner`; with `armored`, writes the BEGIN line now.
    pub fn new(inner: W, armored: bool) -> io::Result<Self> {
        Ok(if armored {
            SealedOutput::Armored(armor::ArmorWriter::new(inner)?)
        } else {
            SealedOutput::Binary(inner)
        })
    }

    /// Ends the armor (if any) and returns the inner writer, flushed.
    pub fn finish(self) -> io::Result<W> {
        let mut w = match self {
            SealedOutput::Binary(w) => w,
            SealedOutput::Armored(a) => a.finish()?,
            SealedOutput::Offloaded(o) => o.finish()?,
        };
        w.flush()?;
        Ok(w)
    }

    /// For an offloaded output, a handle on the count of bytes that reached `W`.
    pub fn written(&self) -> Option<offload::Written> {
        match self {
            SealedOutput::Offloaded(o) => Some(o.written()),
            _ => None,
        }
    }

    fn as_write(&mut self) -> &mut dyn Write {
        match self {
            SealedOutput::Binary(w) => w,
            SealedOutput::Armored(w) => w,
            SealedOutput::Offloaded(w) => w,
        }
    }
}

impl<W: Write + Send + 'static> SealedOutput<W> {
    /// As [`SealedOutput::new`], with the output (and the armor) produced on a second
    /// thread, lazily: nothing reaches `inner`, not even the BEGIN line, before the first
    /// full buffer (see [`offload::OffloadWriter`]).
    pub fn offloaded(inner: W, armored: bool) -> io::Result<Self> {
        Ok(SealedOutput::Offloaded(if armored {
            offload::OffloadWriter::armored(inner)?
        } else {
            offload::OffloadWriter::new(inner)?
        }))
    }
}

impl<W: Write> Write for SealedOutput<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.as_write().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.as_write().write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.as_write().flush()
    }
}

/// A message being sealed: payload records, sealed, optionally armored, into `W`.
pub struct SealWriter<W: Write> {
    payload: PayloadWriter<Sealer<SealedOutput<W>>>,
    written: Option<offload::Written>,
}

impl<W: Write> SealWriter<W> {
    /// Starts a message: writes the header (and BEGIN line) and the metadata record.
    pub fn new(
        inner: W,
        creds: &Credentials,
        meta: &Metadata,
        armored: bool,
        options: SealOptions,
    ) -> Result<Self> {
        Self::start(SealedOutput::new(inner, armored)?, creds, meta, options)
    }

    fn start(
        output: SealedOutput<W>,
        creds: &Credentials,
        meta: &Metadata,
        options: SealOptions,
    ) -> Result<Self> {
        let written = output.written();
        let sealer = Sealer::with_options(output, creds, options)?;
        Ok(Self {
            payload: PayloadWriter::new(sealer, meta)?,
            written,
        })
    }

    /// For a writer made by [`SealWriter::new_offloaded`], a handle on the count of bytes
    /// that reached the inner writer (armor included); it stays readable after the writer
    /// is finished or dropped. `None` for other writers.
    pub fn written(&self) -> Option<offload::Written> {
        self.written.clone()
    }

    /// Appends output of one stream.
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> Result<()> {
        Ok(self.payload.write(stream, data)?)
    }

    /// Ends the message (exit status record, final chunk, END line).
    pub fn finish(self, exit_status: Option<i32>) -> Result<W> {
        let sealer = self.payload.finish(exit_status)?;
        Ok(sealer.finish()?.finish()?)
    }
}

impl<W: Write + Send + 'static> SealWriter<W> {
    /// As [`SealWriter::new`], with the output (and the armor) produced on a second thread,
    /// so that encryption and base64/output overlap. Only sealed bytes go to that thread.
    ///
    /// Nothing reaches `inner` before the first full buffer of sealed bytes (256 KiB), so a
    /// message dropped early leaves nothing behind; dropped later (without
    /// [`SealWriter::finish`]), it is left unfinished (no final chunk, no END line), which
    /// no opener accepts, and nothing more is written once the drop returns. hush-run
    /// seals through this writer.
    pub fn new_offloaded(
        inner: W,
        creds: &Credentials,
        meta: &Metadata,
        armored: bool,
        options: SealOptions,
    ) -> Result<Self> {
        Self::start(
            SealedOutput::offloaded(inner, armored)?,
            creds,
            meta,
            options,
        )
    }
}

impl<W: Write> Write for SealWriter<W> {
    /// Writes stdout data.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.payload.write(Stream::Stdout, buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.payload.flush()
    }
}

/// Seals a whole plaintext as stdout of a message; returns the sealed bytes (armored text
/// with `armored`).
pub fn seal(
    creds: &Credentials,
    meta: &Metadata,
    plaintext: &[u8],
    armored: bool,
    options: SealOptions,
) -> Result<Vec<u8>> {
    let mut w = SealWriter::new(Vec::new(), creds, meta, armored, options)?;
    w.write(Stream::Stdout, plaintext)?;
    w.finish(None)
}

/// A whole opened message. Its buffers are zeroized on drop.
pub struct Opened {
    /// Metadata, exit status and sizes.
    pub summary: Summary,
    /// The stdout records, concatenated.
    pub stdout: Zeroizing<Vec<u8>>,
    /// The stderr records, concatenated.
    pub stderr: Zeroizing<Vec<u8>>,
    /// Which candidate credentials opened it.
    pub key_index: usize,
    /// The key mode it was sealed with.
    pub mode: Mode,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("summary", &self.summary)
            .field("key_index", &self.key_index)
            .finish_non_exhaustive()
    }
}

/// Opens a whole message, armored or binary, with the first candidate that fits.
///
/// Nothing is returned unless every chunk authenticated: the plaintext is collected in
/// buffers sized up front (so no reallocation leaves copies behind) and zeroized on error.
pub fn open(input: &[u8], candidates: &[Credentials]) -> Result<Opened> {
    let sealed = armor::SealedInput::new(input)?;
    let armored = !matches!(sealed, armor::SealedInput::Binary(_));
    let mut opener = Opener::with_candidates(sealed, candidates)?;
    // Plaintext is never longer than the sealed input.
    let mut plain = Zeroizing::new(Vec::with_capacity(input.len()));
    opener
        .read_to_end(&mut plain)
        .map_err(|e| diagnose(Error::from_io(e), armored))?;
    let mut stdout = Zeroizing::new(Vec::with_capacity(plain.len()));
    let mut stderr = Zeroizing::new(Vec::with_capacity(plain.len()));
    let summary = payload::demux(&plain[..], &mut *stdout, &mut *stderr)?;
    Ok(Opened {
        summary,
        stdout,
        stderr,
        key_index: opener.index(),
        mode: opener.header().mode(),
    })
}

/// Opens a message as a stream, writing stdout records to `stdout` and stderr records to
/// `stderr` as each chunk authenticates. Returns the summary, the candidate's index and the
/// key mode (in device mode, it names the sender).
/// Armor is decoded on a second thread, so that base64 and AES-GCM overlap.
///
/// A failure can come after some authenticated plaintext was written; callers that must
/// not release a partial message write to a temporary place and commit only on success.
pub fn open_stream<R: Read + Send + 'static>(
    input: R,
    candidates: &[Credentials],
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(Summary, usize, Mode)> {
    let (input, armored): (Box<dyn Read>, bool) = match armor::SealedInput::new(input)? {
        armor::SealedInput::Binary(binary) => (Box::new(binary), false),
        armored => (Box::new(offload::OffloadReader::new(armored)), true),
    };
    let opener = Opener::with_candidates(input, candidates)?;
    let (index, mode) = (opener.index(), opener.header().mode());
    let summary = payload::demux(opener, stdout, stderr).map_err(|e| diagnose(e, armored))?;
    Ok((summary, index, mode))
}

/// Names a body that ends inside a chunk for what it most likely is. Raw sealed bytes that
/// stop there were cut off (`head -c`, a download that stopped). Armored text reaches the
/// decryptor's end only at its END line, so the block was whole: what is missing or wrong
/// is inside it (lines lost or altered), which is damage, not a cut.
fn diagnose(e: Error, armored: bool) -> Error {
    match e {
        Error::TruncatedInChunk if armored => Error::Corrupted,
        e => e,
    }
}
